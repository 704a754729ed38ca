"""`tinycnn bench profile MODEL`: where the time of one training step goes.

An `OpProfiler` is plugged into the autograd engine (`tinycnn.tensor.set_profiler`):
every op's forward and backward call is timed and added to its op type's
total. A convolution's backward is timed in two calls, one computing only
the input gradient (backward-input: GEMM + col2im) and one only the weight
gradient (backward-weight: im2col + GEMM), through the engine's
`needs_input_grad` flags; depthwise convolutions compute both gradients in
one fused pass and are timed as one. The rest of the step is measured too:
the optimizer step, and "autograd + Python bookkeeping", the forward and
backward time spent outside any op (module calls, Tensor and graph
creation, the topological sort, summing gradients, freeing buffers).
Memory allocation happens inside the ops (NumPy allocates their outputs), so
its cost is part of each op's time; what it costs is the page faults of
fresh memory. Every row counts its minor page faults (getrusage), and the
row "of which: fresh-memory page faults" prices them all at the cost of one
fault measured on this machine before profiling (`fault_seconds`).

The step shown is the median (by total time) of --repeats profiled steps.
"""
from __future__ import annotations

import gc
import mmap
import resource
import time
from collections import defaultdict

import numpy as np

import tinycnn
from tinycnn.tensor import set_profiler
from tinycnn.bench.models import MODELS, batch_data, build, load_line
from tinycnn.bench.table import print_table
from tinycnn.bench.timing import set_threads, settle

CATEGORY = {  # Function class name -> op type
    "Conv2dFunction": "conv",
    "FastConv2dFunction": "conv",
    "LinearFunction": "linear (fc)",
    "BatchNormTrain": "BatchNorm",
    "BatchNormEval": "BatchNorm",
    "MaxPool2d": "pooling",
    "AvgPool2d": "pooling",
    "GlobalAvgPool2d": "pooling",
    "AdaptiveAvgPool2d": "pooling",
    "CrossEntropy": "loss",
    "NLLLoss": "loss",
    "LogSoftmax": "loss",
    "MSELoss": "loss",
    **{name: "shape (reshape, slice, pad, cat)" for name in
       ("Reshape", "Permute", "Expand", "GetItem", "Cat", "Stack", "Pad", "ToDtype")},
}
ELEMENTWISE = "elementwise + activations"  # every other op: add, mul, relu, sigmoid, silu, ...


def add_parser(subparsers):
    p = subparsers.add_parser("profile", help="time per op type of one training step of a network")
    p.add_argument("model", choices=list(MODELS), help="the network")
    p.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--threads", type=int, default=2, help="threads for BLAS and Numba (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="profiled steps; the median one is shown (default 5)")
    p.add_argument("--by-function", action="store_true",
                   help="one row per Function class (Conv2dFunction, ReLU6, Mul, ...) instead of per op type")
    p.set_defaults(run=run)


class OpProfiler:
    """Seconds and calls per (op type, phase), from the engine's hook.
    by_function=True: per Function class name instead of per op type."""

    def __init__(self, by_function: bool = False):
        self.by_function = by_function
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self.faults = defaultdict(int)

    def _timed(self, fn, phase, call):
        """call(), its seconds and minor page faults added to the totals of fn's op type and phase
        (labelled after the call: a convolution picks its path in forward)."""
        f0, t0 = page_faults(), time.perf_counter()
        result = call()
        key = self._label(fn, phase)
        self.seconds[key] += time.perf_counter() - t0
        self.faults[key] += page_faults() - f0
        self.calls[key] += 1
        return result

    def forward(self, fn, arrays, constants):
        return self._timed(fn, "forward", lambda: fn.forward(*arrays, **constants))

    def backward(self, fn, grad):
        if self._label(fn, "") == "conv" and all(fn.needs_input_grad[:2]):
            return self._conv_backward(fn, grad)
        return self._timed(fn, "backward", lambda: fn.backward(grad))

    def _conv_backward(self, fn, grad):
        """The weight (and bias) gradient, then the input gradient, in two timed calls."""
        needs = fn.needs_input_grad
        fn.needs_input_grad = (False, *needs[1:])
        _, gw, *gb = self._timed(fn, "backward-weight", lambda: fn.backward(grad))
        fn.needs_input_grad = (True, False, *(False for _ in needs[2:]))
        gx = self._timed(fn, "backward-input", lambda: fn.backward(grad))[0]
        fn.needs_input_grad = needs
        return (gx, gw, *gb)

    def _label(self, fn, phase):
        name = type(fn).__name__
        if getattr(fn, "path", None) == "depthwise":  # a convolution's path
            category = "depthwise conv"
        elif name in ("Conv2dFunction", "FastConv2dFunction"):
            category = "conv"
        else:
            category = name if self.by_function else CATEGORY.get(name, ELEMENTWISE)
        return category if not phase else (category, phase)


def page_faults() -> int:
    """Minor page faults of this process so far (each maps fresh memory on its first touch)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fault_seconds(mib: int = 64) -> float:
    """The cost of one page fault here: filling mib MiB of fresh memory (a new anonymous
    mapping, 4 KiB pages) minus filling it again."""
    fresh = np.frombuffer(mmap.mmap(-1, mib << 20), dtype=np.float32)
    f0, t0 = page_faults(), time.perf_counter()
    fresh.fill(1.0)
    t1, faults = time.perf_counter(), page_faults() - f0
    fresh.fill(2.0)
    t2 = time.perf_counter()
    return max(0.0, (t1 - t0) - (t2 - t1)) / max(1, faults)


def profile_step(model, x, y, opt, by_function: bool = False) -> dict:
    """One profiled training step: {"ops": {(type, phase): s}, "calls": ..., "faults": ..., phases in s}."""
    prof = OpProfiler(by_function)
    tx, ty = tinycnn.Tensor(x), tinycnn.Tensor(y)
    settle()
    set_profiler(prof)
    try:
        f0, t0 = page_faults(), time.perf_counter()
        opt.zero_grad()
        loss = tinycnn.nn.functional.cross_entropy(model(tx), ty)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3, f3 = time.perf_counter(), page_faults()
    finally:
        set_profiler(None)
    return {"ops": dict(prof.seconds), "calls": dict(prof.calls), "faults": dict(prof.faults),
            "forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2, "total": t3 - t0,
            "total faults": f3 - f0}


def unprofiled_step(model, x, y, opt) -> float:
    tx, ty = tinycnn.Tensor(x), tinycnn.Tensor(y)
    settle()
    t0 = time.perf_counter()
    opt.zero_grad()
    tinycnn.nn.functional.cross_entropy(model(tx), ty).backward()
    opt.step()
    return time.perf_counter() - t0


def profile_rows(step: dict, seconds_per_fault: float) -> list[list]:
    """Table rows [op type, phase, calls, ms, % of step, page faults], largest first, then the rest
    of the step and the estimated cost of its page faults (fresh memory)."""
    total = step["total"]
    rows = [[kind, phase, step["calls"][(kind, phase)], s * 1e3, 100 * s / total, step["faults"][(kind, phase)]]
            for (kind, phase), s in sorted(step["ops"].items(), key=lambda kv: -kv[1])]
    for phase in ("forward", "backward"):
        outside = step[phase] - sum(s for (_, p), s in step["ops"].items() if (p == "forward") == (phase == "forward"))
        rows.append(["autograd + Python bookkeeping", phase, None, outside * 1e3, 100 * outside / total, None])
    rows.append(["optimizer (SGD step)", "", None, step["optimizer"] * 1e3, 100 * step["optimizer"] / total, None])
    rows.append(["total step", "", None, total * 1e3, 100.0, step["total faults"]])
    alloc = step["total faults"] * seconds_per_fault
    rows.append(["of which: fresh-memory page faults (est.)", "", None, alloc * 1e3, 100 * alloc / total, None])
    return rows


def run(args) -> int:
    set_threads(args.threads)
    model = build(args.model)
    x, y = batch_data(args.batch)
    opt = tinycnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()
    per_fault = fault_seconds()
    unprofiled_step(model, x, y, opt)  # warm-up: JIT caches, scratch buffers
    plain = float(np.median([unprofiled_step(model, x, y, opt) for _ in range(args.repeats)]))
    steps = sorted((profile_step(model, x, y, opt, args.by_function) for _ in range(args.repeats)),
                   key=lambda s: s["total"])
    step = steps[len(steps) // 2]
    gc.collect()
    title = (f"tinycnn bench profile {args.model}: one training step, batch {args.batch}, float32, "
             f"{args.threads} threads (median of {args.repeats} profiled steps; "
             f"unprofiled step: {plain * 1e3:.1f} ms; one page fault: {per_fault * 1e6:.2f} us)")
    print_table(["op type", "phase", "calls", "ms", "% of step", "page faults"], profile_rows(step, per_fault),
                f"{title}\n{load_line()}")
    return 0
