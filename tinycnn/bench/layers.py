"""`tinycnn bench layers`: the convolutions of a CIFAR ResNet-20 and a CIFAR
MobileNetV2, timed layer by layer beside PyTorch, and the Numba kernels
beside their NumPy references.

For each distinct conv shape (batch --batch, float32, --threads threads):
tinycnn's forward and forward+backward median times, PyTorch's, and the
ratio tinycnn/PyTorch; then the totals over each network's layers (each
shape weighted by how often the network uses it). Each library runs in a
worker process of its own (tinycnn importing numpy first, as most scripts do;
see tinycnn/bench/worker.py), the timed calls interleaved across the workers,
with `gc.collect()` and a 0.25 s pause before every one. The kernels and
bn-pool tables still time in this process.

Other benchmarks add their rows with `time_layer_pair` and `print_rows`.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys

import numpy as np

import tinycnn
from tinycnn.bench import norm_pool
from tinycnn.bench.table import layer_row, print_table
from tinycnn.bench.timing import fwd_bwd_medians, fwd_bwd_step, median_times, set_threads, try_import_torch
from tinycnn.bench.workers import Worker, WorkerError, interleaved
from tinycnn.kernels import depthwise, im2col
from tinycnn.kernels.geometry import ConvGeometry
from tinycnn.ops.conv import conv2d

# (label, times used in the network, C_in, C_out, H=W, kernel, stride, groups)
RESNET20_3X3 = [
    ("stem 3->16 32x32", 1, 3, 16, 32, 3, 1, 1),
    ("16->16 32x32", 6, 16, 16, 32, 3, 1, 1),
    ("16->32 32x32 s2", 1, 16, 32, 32, 3, 2, 1),
    ("32->32 16x16", 5, 32, 32, 16, 3, 1, 1),
    ("32->64 16x16 s2", 1, 32, 64, 16, 3, 2, 1),
    ("64->64 8x8", 5, 64, 64, 8, 3, 1, 1),
]
MOBILENETV2_DEPTHWISE = [
    (f"dw {c} {h}x{h}{' s2' if s == 2 else ''}", n, c, c, h, 3, s, c)
    for c, h, s, n in [(32, 32, 1, 1), (96, 32, 1, 1), (144, 32, 1, 1), (144, 32, 2, 1), (192, 16, 1, 2),
                       (192, 16, 2, 1), (384, 8, 1, 4), (576, 8, 1, 2), (576, 8, 2, 1), (960, 4, 1, 3)]
]
MOBILENETV2_POINTWISE = [("stem 3->32 32x32 (3x3)", 1, 3, 32, 32, 3, 1, 1)] + [
    (f"1x1 {ci}->{co} {h}x{h}", n, ci, co, h, 1, 1, 1)
    for ci, co, h, n in [(32, 16, 32, 1), (16, 96, 32, 1), (96, 24, 32, 1), (24, 144, 32, 2), (144, 24, 32, 1),
                         (144, 32, 16, 1), (32, 192, 16, 3), (192, 32, 16, 2), (192, 64, 8, 1), (64, 384, 8, 4),
                         (384, 64, 8, 3), (384, 96, 8, 1), (96, 576, 8, 3), (576, 96, 8, 2), (576, 160, 4, 1),
                         (160, 960, 4, 3), (960, 160, 4, 2), (960, 320, 4, 1), (320, 1280, 4, 1)]
]
SETS = {
    "resnet20": ("ResNet-20 3x3 convolutions", RESNET20_3X3),
    "mbv2-dw": ("MobileNetV2 (CIFAR) 3x3 depthwise convolutions", MOBILENETV2_DEPTHWISE),
    "mbv2-1x1": ("MobileNetV2 (CIFAR) 1x1 convolutions and stem", MOBILENETV2_POINTWISE),
}
HEADERS = ["layer", "x", "fwd ms", "torch fwd", "ratio", "fwd+bwd ms", "torch f+b", "ratio"]


def add_parser(subparsers):
    p = subparsers.add_parser("layers", help="conv layers of ResNet-20 and MobileNetV2 vs PyTorch; Numba vs NumPy kernels")
    p.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--threads", type=int, default=2, help="threads for BLAS, Numba and PyTorch (default 2)")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per measurement; the median is reported (default 7)")
    p.add_argument("--only", nargs="+", choices=[*SETS, "kernels", "bn-pool"], default=None,
                   help="the tables to print (default: all of " + ", ".join([*SETS, "kernels", "bn-pool"]) + ")")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch columns")
    p.set_defaults(run=run)


def run(args) -> int:
    # find_spec, not an import: torch loads here only for the in-process tables (bn-pool)
    torch_installed = importlib.util.find_spec("torch") is not None
    with_torch = torch_installed and not args.no_torch
    missing = "skipped (--no-torch)" if torch_installed else "not installed"
    print(f"tinycnn bench layers: batch {args.batch}, float32, {args.threads} threads, median of {args.repeat} runs"
          + ("" if with_torch else f"; PyTorch {missing}: no PyTorch columns"), flush=True)
    print(f"command: {args.command_line}", flush=True)
    print("conv tables: tinycnn (numpy first) and PyTorch each in its own worker process, clean environment, "
          "calls interleaved; kernels and bn-pool tables: both in this process", flush=True)
    print(flush=True)
    names = args.only or [*SETS, "kernels", "bn-pool"]
    if {"kernels", "bn-pool"} & set(names):
        set_threads(args.threads)
    for name in names:
        if name == "bn-pool":
            print_rows(norm_pool.TITLE, HEADERS, norm_pool.rows(args.batch, try_import_torch() if with_torch else None,
                                                                args.repeat))
        elif name == "kernels":
            print_rows("Numba kernels vs their NumPy references (ms)", ["kernel", "shape", "NumPy ms", "Numba ms", "speed-up"],
                       kernel_rows(args.batch, args.repeat))
        else:
            try:
                print_rows(SETS[name][0], HEADERS, conv_rows(SETS[name][1], args, with_torch))
            except WorkerError as e:
                print(f"tinycnn bench layers: {e}", file=sys.stderr)
                return 1
    return 0


def conv_rows(layers, args, with_torch: bool) -> list:
    """The rows of a conv table and their total (each layer x its count), one worker per library."""
    variants = ("numpy-first", "torch") if with_torch else ("numpy-first",)
    rows, totals = [], np.zeros(4)
    with contextlib.ExitStack() as stack:
        workers = {v: stack.enter_context(Worker(v, args.threads)) for v in variants}
        for label, count, c_in, c_out, h, k, s, g in layers:
            for w in workers.values():
                w.request("setup_layer", batch=args.batch, c_in=c_in, c_out=c_out, h=h, k=k, stride=s, groups=g,
                          first=c_in == 3)
            m = interleaved(workers, ("layer",), args.repeat)
            ours, theirs = m["numpy-first", "layer"], m.get(("torch", "layer"), {})
            t = {"fwd": ours["fwd"], "fb": ours["fb"],
                 **({"torch fwd": theirs["fwd"], "torch fb": theirs["fb"]} if theirs else {})}
            rows.append(layer_row(f"{label} (x{count})", (args.batch, c_in, h, h), t))
            totals += count * np.array([t["fwd"], t.get("torch fwd", np.nan), t["fb"], t.get("torch fb", np.nan)])
    total = dict(zip(["fwd", "torch fwd", "fb", "torch fb"], totals))
    if not with_torch:
        total = {"fwd": total["fwd"], "fb": total["fb"]}
    rows.append(layer_row("total, each layer x its count", "", total))
    return rows


def print_rows(title, headers, rows):
    print_table(headers, rows, title)


def conv_step(library: str, batch, c_in, c_out, h, k, stride, groups, first=False, algorithm=None):
    """A `fwd_bwd_step` of one bias-free conv in `library` ("tinycnn" or "torch"), on inputs and
    weights that are the same for both (seed 0). first=True: the input needs no gradient (a
    network's first layer); algorithm: tinycnn's path (None: its own choice)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c_in, h, h)).astype(np.float32)
    w = (rng.standard_normal((c_out, c_in // groups, k, k)) * 0.1).astype(np.float32)
    ho = (h + 2 * (k // 2) - k) // stride + 1
    g = rng.standard_normal((batch, c_out, ho, ho)).astype(np.float32)
    if library == "tinycnn":
        tx, tw = tinycnn.Tensor(x, requires_grad=not first), tinycnn.Tensor(w, requires_grad=True)
        return fwd_bwd_step(lambda: conv2d(tx, tw, None, stride, k // 2, 1, groups, algorithm), g, (tx, tw))
    import torch

    px, pw = torch.from_numpy(x).requires_grad_(not first), torch.from_numpy(w).requires_grad_()
    return fwd_bwd_step(lambda: torch.nn.functional.conv2d(px, pw, None, stride, k // 2, 1, groups),
                        torch.from_numpy(g), (px, pw))


def time_layer_pair(batch, c_in, c_out, h, k, stride, groups, torch, repeat, first=False, algorithm=None):
    """Median forward and forward+backward seconds of one bias-free conv (`conv_step`), tinycnn
    and (if `torch`) PyTorch interleaved in this process. Returns {fwd, fb[, torch fwd, torch fb]}."""
    shape = (batch, c_in, c_out, h, k, stride, groups, first)
    theirs = None if torch is None else conv_step("torch", *shape)
    return fwd_bwd_medians(conv_step("tinycnn", *shape, algorithm), theirs, repeat)


def kernel_rows(batch, repeat) -> list:
    """NumPy reference vs Numba for im2col/col2im and the depthwise kernels, and
    the direct kernels (3x3 and depthwise) vs the im2col path on the same layer."""
    rng = np.random.default_rng(0)
    rows = []
    for c, h in [(16, 32), (32, 16), (64, 8)]:  # ResNet-20's 3x3 layers
        general = time_layer_pair(batch, c, c, h, 3, 1, 1, None, repeat, algorithm="im2col")
        direct = time_layer_pair(batch, c, c, h, 3, 1, 1, None, repeat, algorithm="direct")
        rows.append(["3x3 fwd+bwd: im2col path vs direct", f"{batch}x{c}x{h}x{h}", general["fb"] * 1e3,
                     direct["fb"] * 1e3, general["fb"] / direct["fb"]])
    for c, h in [(16, 32), (64, 8)]:
        x = rng.standard_normal((batch, c, h, h)).astype(np.float32)
        geom = ConvGeometry(kh=3, kw=3, ph=1, pw=1)
        cols = im2col.im2col(x, geom)
        buf = np.empty(cols.size, np.float32)
        shape = f"{batch}x{c}x{h}x{h} 3x3"
        t = median_times({
            "ref": lambda: im2col.im2col_reference(x, geom),
            "numba": lambda: im2col.im2col(x, geom, out=buf),
        }, repeat)
        rows.append(["im2col", shape, *_speedup(t)])
        t = median_times({
            "ref": lambda: im2col.col2im_reference(cols, x.shape, geom),
            "numba": lambda: im2col.col2im(cols, x.shape, geom),
        }, repeat)
        rows.append(["col2im", shape, *_speedup(t)])
    for c, h, s in [(144, 32, 1), (576, 8, 1), (144, 32, 2)]:
        x = rng.standard_normal((batch, c, h, h)).astype(np.float32)
        w = rng.standard_normal((c, 3, 3)).astype(np.float32)
        w4, path = w.reshape(c, 1, 3, 3), depthwise.Depthwise()  # PyTorch's weight shape, for the path object
        geom = ConvGeometry(kh=3, kw=3, sh=s, sw=s, ph=1, pw=1)
        g = depthwise.depthwise_forward(x, w, geom)
        shape = f"{batch}x{c}x{h}x{h} s{s}"
        pairs = {
            "depthwise forward": (lambda: depthwise.depthwise_reference(x, w, geom),
                                  lambda: depthwise.depthwise_forward(x, w, geom)),
            "depthwise backward-input": (lambda: depthwise.depthwise_backward_input_reference(g, w, x.shape, geom),
                                         lambda: path.grad_input(g, w4, x.shape, geom, c)),
            "depthwise backward-weight": (lambda: depthwise.depthwise_backward_weight_reference(g, x, geom),
                                          lambda: path.grad_weight(g, x, geom, c)),
        }
        for name, (ref, fast) in pairs.items():
            rows.append([name, shape, *_speedup(median_times({"ref": ref, "numba": fast}, repeat))])
        general = time_layer_pair(batch, c, c, h, 3, s, c, None, repeat, algorithm="im2col")
        direct = time_layer_pair(batch, c, c, h, 3, s, c, None, repeat)
        rows.append(["depthwise fwd+bwd: im2col path vs direct", shape, general["fb"] * 1e3, direct["fb"] * 1e3,
                     general["fb"] / direct["fb"]])
    return rows


def _speedup(t) -> list:
    ref, numba = t["ref"]["total"], t["numba"]["total"]
    return [ref * 1e3, numba * 1e3, ref / numba]
