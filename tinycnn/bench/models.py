"""`tinycnn bench models`: whole networks, tinycnn beside PyTorch.

For each model (batch --batch, float32, 32x32 inputs, --threads threads):
- the median time of a training step (zero_grad, forward, cross-entropy,
  backward, SGD step with momentum 0.9 and weight decay 5e-4) and of an
  inference forward pass (eval mode, no_grad), tinycnn and its PyTorch twin
  (`tinycnn.interop.to_torch(model)`, same weights) interleaved, `gc.collect()` and a
  0.25 s pause before every timed call, after one warm-up call each;
- the ratio tinycnn/PyTorch and the images per second;
- the achieved GFLOP/s, 2 * MACs * batch * (3 for training, 1 for inference)
  / time, where MACs come from `tinycnn.summary` (convolutions and linear
  layers only), and that rate as a fraction of the machine's own NumPy
  float32 matmul rate (a 2048x2048 GEMM, measured in the same run);
- the peak memory of training: each library runs in a fresh subprocess
  (imports, model, a warm-up step, then two steps) and reports the peak
  resident set size of the two steps (VmHWM, reset after the warm-up) minus
  its resident size right after the imports,
  i.e. the model, optimizer state, caches and the step's activations and
  gradients.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

import tinycnn
import tinycnn.models
from tinycnn.bench.table import print_table
from tinycnn.bench.timing import median_times, set_threads, try_import_torch
from tinycnn.machine import matmul_gflops

MODELS = {  # benchmark name -> registered model
    "resnet20": "resnet20",
    "resnet56": "resnet56",
    "mobilenetv2": "mobilenet_v2_cifar",
    "densenet-bc-100": "densenet_bc_100_12",
    "efficientnet-b0": "efficientnet_b0_cifar",
}
SGD_ARGS = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)


def add_parser(subparsers):
    p = subparsers.add_parser("models", help="training step and inference of whole CIFAR networks vs PyTorch")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                   help="networks to time (default: all of " + ", ".join(MODELS) + ")")
    p.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--threads", type=int, default=2, help="threads for BLAS, Numba and PyTorch (default 2)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported (default 7)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall: elapsed time (default); cpu: the process's CPU time, robust to other "
                        "programs' load but meaningful only with --threads 1 (idle threads' spinning counts)")
    p.set_defaults(run=run)


# ---------------------------------------------------------------- the steps


def batch_data(batch: int, seed: int = 0):
    """Random float32 images (batch, 3, 32, 32) and int64 labels (batch,)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, batch)


def tinycnn_steps(model, x, y):
    """(train_step, inference) closures for a tinycnn model on arrays x, y."""
    opt = tinycnn.optim.SGD(model.parameters(), **SGD_ARGS)
    tx, ty = tinycnn.Tensor(x), tinycnn.Tensor(y)

    def train_step():
        model.train()
        opt.zero_grad()
        loss = tinycnn.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()

    def inference():
        model.eval()
        with tinycnn.no_grad():
            model(tx)

    return train_step, inference


def torch_steps(model, x, y, torch):
    """(train_step, inference) closures for a torch model on arrays x, y."""
    opt = torch.optim.SGD(model.parameters(), **SGD_ARGS)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def train_step():
        model.train()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()

    def inference():
        model.eval()
        with torch.no_grad():
            model(tx)

    return train_step, inference


def build(name: str):
    """The tinycnn model of benchmark `name`, seeded, in training mode."""
    tinycnn.manual_seed(0)
    return tinycnn.models.create(MODELS[name])


# ---------------------------------------------------------------- measurements


def macs_per_image(model) -> int:
    return tinycnn.summary(model, (3, 32, 32), print_table=False).total_macs


def memory_probe(name: str, library: str, batch: int, threads: int) -> dict:
    """Run in a fresh process: peak RSS of training `name` with `library`
    ("tinycnn" or "torch"), in MiB above the RSS right after the imports."""
    if library == "torch":
        import torch

        set_threads(threads)
    else:
        tinycnn.set_num_threads(threads)
    base = _status_kib("VmRSS")
    model = build(name)
    x, y = batch_data(batch)
    if library == "torch":
        from tinycnn.interop import to_torch

        tmodel = to_torch(model)
        del model
        step, _ = torch_steps(tmodel, x, y, torch)
    else:
        step, _ = tinycnn_steps(model, x, y)
    step()  # warm-up: JIT caches loaded, buffers allocated
    _reset_peak()
    for _ in range(2):
        step()
    return {"peak_mib": (_status_kib("VmHWM") - base) / 1024}


def _reset_peak():
    """Set the peak RSS (VmHWM) to the current RSS, so warm-up transients (JIT) do not count."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _status_kib(field: str) -> int:
    """A kB field of /proc/self/status (VmRSS: resident now, VmHWM: peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_memory(name: str, library: str, batch: int, threads: int) -> float | None:
    """memory_probe in a subprocess; MiB, or None if it failed (the error is printed)."""
    code = ("import json, sys; from tinycnn.bench.models import memory_probe; "
            f"print(json.dumps(memory_probe({name!r}, {library!r}, {batch}, {threads})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"memory probe {name}/{library} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_model(name: str, batch: int, repeats: int, torch, clock=time.perf_counter) -> dict:
    """Median seconds {train, infer[, torch train, torch infer]} and MACs per image."""
    model = build(name)
    macs = macs_per_image(model)
    x, y = batch_data(batch)
    fns = dict(zip(("train", "infer"), tinycnn_steps(model, x, y)))
    if torch is not None:
        from tinycnn.interop import to_torch

        fns.update(zip(("torch train", "torch infer"), torch_steps(to_torch(model), x, y, torch)))
    med = median_times(fns, repeats, warmup=1, clock=clock)
    return {"macs": macs, **{k: v["total"] for k, v in med.items()}}


# ---------------------------------------------------------------- the report


def load_line() -> str:
    """The machine's load average: timings are only trustworthy when it is below the core count."""
    one, five, fifteen = os.getloadavg()
    return f"load average (1/5/15 min): {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _ratio(a, b):
    return None if a is None or not b else a / b


def run(args) -> int:
    set_threads(args.threads)
    torch = None if args.no_torch else try_import_torch()
    t0 = time.perf_counter()
    gemm = matmul_gflops(clock=CLOCKS[args.clock])
    print(f"tinycnn bench models: batch {args.batch}, float32, 3x32x32, {args.threads} threads, "
          f"median of {args.repeats} runs, {args.clock} clock; NumPy float32 matmul (2048^3): {gemm:.1f} GFLOP/s"
          + ("" if torch else "; PyTorch not installed: no PyTorch columns"), flush=True)
    print(load_line(), flush=True)
    print(f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}", flush=True)
    print(flush=True)
    results = {}
    for name in args.models:
        r = results[name] = time_model(name, args.batch, args.repeats, torch, CLOCKS[args.clock])
        if not args.no_memory:
            r["mem"] = measure_memory(name, "tinycnn", args.batch, args.threads)
            r["torch mem"] = measure_memory(name, "torch", args.batch, args.threads) if torch else None
        print(f"  {name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(load_line(), flush=True)
    print(flush=True)

    for phase, passes, title in (("train", 3, "Training step (forward + backward + SGD step)"),
                                 ("infer", 1, "Inference (eval, no_grad forward)")):
        rows = []
        for name, r in results.items():
            ours, theirs = r[phase], r.get(f"torch {phase}")
            gflops = 2 * r["macs"] * args.batch * passes / ours / 1e9
            rows.append([name, r["macs"] / 1e6, ours * 1e3, None if theirs is None else theirs * 1e3,
                         _ratio(ours, theirs), args.batch / ours, None if theirs is None else args.batch / theirs,
                         gflops, 100 * gflops / gemm])
        print_table(["model", "MMACs/img", "tinycnn ms", "torch ms", "ratio", "img/s", "torch img/s", "GFLOP/s",
                     "% matmul"], rows, title)
    if not args.no_memory:
        rows = [[name, r["mem"], r["torch mem"], _ratio(r["mem"], r["torch mem"])] for name, r in results.items()]
        print_table(["model", "tinycnn MiB", "torch MiB", "ratio"], rows,
                    "Peak memory of training (peak RSS above the RSS after imports, one process per library)")
    return 0
