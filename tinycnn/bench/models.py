"""`tinycnn bench models`: whole networks, tinycnn beside PyTorch, each as a user's script runs it.

Each library runs in a worker process of its own (tinycnn/bench/worker.py), started with the
user's environment minus the variables that tune speed, with the library's default settings
except the thread count (--threads, set through the library's API). tinycnn runs three times:
in a worker that imports numpy (and matplotlib) first, in one that imports tinycnn first, as the
`tinycnn` command does (the two should agree: `import tinycnn` changes nothing in the process),
and in one that imports numpy first and runs the model fused, `tinycnn.nn.utils.fusion.fuse(model,
example)`: for training (the ReLUs after BatchNorms applied in their pass) and for inference (the
eval fast path: BatchNorms folded, activations applied in the convolutions' pass). The
coordinator (this process) only sends requests and collects the times.

For each model (batch --batch, float32, 32x32 inputs), fresh workers:
- the median time of a training step (zero_grad, forward, cross-entropy, backward, SGD step with
  momentum 0.9 and weight decay 5e-4) and of an inference forward pass (eval mode, no_grad), for
  tinycnn (both import orders) and its PyTorch twin (`tinycnn.interop.to_torch(model)`, same
  weights), the timed calls interleaved across the workers (one call in one worker at a time, each
  after `gc.collect()` and a 0.25 s pause in its worker), after one warm-up call each;
- the ratio tinycnn/PyTorch for both import orders and the images per second;
- how far the ratios move from round to round (a round times every worker once, back to back):
  the median and quartiles of each round's ratio, and of numpy first / tinycnn first, the
  import orders compared. On a busy machine two identical workers' medians can differ by more
  than the 5% the import orders are held to; where the quartiles of numpy first / tinycnn first
  include 1, the run does not tell the two orders apart;
- the achieved GFLOP/s, 2 * MACs * batch * (3 for training, 1 for inference) / time, where MACs
  come from `tinycnn.summary` (convolutions and linear layers only), as a share of the machine's
  NumPy float32 matmul rate (a 2048x2048 GEMM, measured in a clean numpy-first worker);
- the peak memory of training: a fresh worker per library (tinycnn: numpy first) runs a warm-up
  step, then two steps, and reports the peak resident set size of the two (VmHWM, reset after the
  warm-up) minus its resident size before building the model, i.e. the model, optimizer state,
  caches and the step's activations and gradients.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time

import numpy as np

import tinycnn
import tinycnn.models
from tinycnn.bench.table import print_table
from tinycnn.bench.worker import is_speed_var
from tinycnn.bench.workers import LABELS, Worker, WorkerError, interleaved_samples
from tinycnn.nn.utils.fusion import fuse

MODELS = {  # benchmark name -> registered model
    "resnet20": "resnet20",
    "resnet56": "resnet56",
    "mobilenetv2": "mobilenet_v2_cifar",
    "densenet-bc-100": "densenet_bc_100_12",
    "efficientnet-b0": "efficientnet_b0_cifar",
}
# a script importing numpy first, one importing tinycnn first (as the `tinycnn` command does), and
# the first with its inference model fused (`fuse`)
TINYCNN_VARIANTS = ("numpy-first", "tinycnn-first", "fused")
SGD_ARGS = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)


def add_parser(subparsers):
    p = subparsers.add_parser("models", help="training step and inference of whole CIFAR networks vs PyTorch")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                   help="networks to time (default: all of " + ", ".join(MODELS) + ")")
    p.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads of each library, set in each worker through its API (default 2)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported (default 7)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory workers")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall: elapsed time (default); cpu: each worker's CPU time, robust to other "
                        "programs' load but meaningful only with --threads 1 (idle threads' spinning counts)")
    p.set_defaults(run=run)


# ---------------------------------------------------------------- the steps


def batch_data(batch: int, seed: int = 0):
    """Random float32 images (batch, 3, 32, 32) and int64 labels (batch,)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, batch)


def tinycnn_steps(model, x, y, fused: bool = False):
    """(train_step, inference) closures for a tinycnn model on arrays x, y; `fused`: training on
    a copy fused for training and inference on one fused for eval (`fuse`), each made once,
    here, as a user does before training and after it."""
    tx, ty = tinycnn.Tensor(x), tinycnn.Tensor(y)
    trained = fuse(model.train(), tx[:1]) if fused else model
    opt = tinycnn.optim.SGD(trained.parameters(), **SGD_ARGS)
    evaluated = fuse(trained.eval(), tx[:1]) if fused else model

    def train_step():
        trained.train()
        opt.zero_grad()
        loss = tinycnn.nn.functional.cross_entropy(trained(tx), ty)
        loss.backward()
        opt.step()

    def inference():
        evaluated.eval()
        with tinycnn.no_grad():
            evaluated(tx)

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


def measure_memory(name: str, library: str, batch: int, threads: int) -> float | None:
    """Peak MiB of training `name` with `library` ("tinycnn" or "torch") in a fresh worker,
    or None if it failed (the error is printed)."""
    try:
        with Worker("torch" if library == "torch" else "numpy-first", threads) as worker:
            return worker.request("memory", model=name, batch=batch)["peak_mib"]
    except WorkerError as e:
        print(f"memory probe {name}/{library} failed: {e}", file=sys.stderr)
        return None


def matmul_rate(threads: int, clock: str) -> float:
    """The machine's NumPy float32 matmul GFLOP/s, in a clean numpy-first worker."""
    with Worker("numpy-first", threads) as worker:
        return worker.request("matmul", clock=clock)["gflops"]


def time_model(name: str, batch: int, repeats: int, threads: int, variants, clock: str = "wall") -> dict:
    """{"macs": per image, "workers": each variant's start report, "rounds": {(variant, phase):
    seconds of each round}, "times": their medians} of model `name`, one fresh worker per
    variant, the calls interleaved."""
    with contextlib.ExitStack() as stack:
        workers = {v: stack.enter_context(Worker(v, threads)) for v in variants}
        macs = [w.request("setup", model=name, batch=batch)["macs"] for w in workers.values()][0]
        samples = interleaved_samples(workers, ("train", "infer"), repeats, clock)
        rounds = {key: [a["seconds"] for a in answers] for key, answers in samples.items()}
        return {"macs": macs, "workers": {v: w.info for v, w in workers.items()}, "rounds": rounds,
                "times": {key: float(np.median(t)) for key, t in rounds.items()}}


# ---------------------------------------------------------------- the report


def load_line() -> str:
    """The machine's load average: timings are only trustworthy when it is below the core count."""
    one, five, fifteen = os.getloadavg()
    return f"load average (1/5/15 min): {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _ratio(a, b):
    return None if a is None or not b else a / b


def worker_line(info: dict) -> str:
    """How a worker started: its pid, what it imported before tinycnn, speed variables it found."""
    before = ", ".join(info["loaded_before_tinycnn"]) or "nothing"
    found = ", ".join(info["speed_env_at_start"]) or "none"
    return (f"    {LABELS[info['variant']]}: pid {info['pid']}, loaded before tinycnn: {before}; "
            f"speed variables in its environment: {found}")


def print_model(name: str, r: dict, batch: int, gemm: float):
    """The table of one model: a row per worker, ms, ratio to PyTorch, images/s, % of matmul."""
    times = r["times"]
    rows = []
    for v in r["workers"]:
        row = [LABELS[v]]
        for phase, passes in (("train", 3), ("infer", 1)):
            t, torch_t = times[v, phase], times.get(("torch", phase))
            gflops = 2 * r["macs"] * batch * passes / t / 1e9
            row += [t * 1e3, None if v == "torch" else _ratio(t, torch_t), batch / t, 100 * gflops / gemm]
        rows.append(row)
    print_table(["library", "train ms", "ratio", "img/s", "% matmul", "infer ms", "ratio", "img/s", "% matmul"],
                rows, f"{name}: {r['macs'] / 1e6:.1f} MMACs/img; training step (forward + backward + SGD step) "
                      f"and inference (eval, no_grad); ratio = tinycnn / PyTorch")


def round_ratios(r: dict, a: str, b: str, phase: str) -> str:
    """Worker a's time over worker b's in each round (the two calls lie seconds apart): their
    median and quartiles, as "median (q1-q3)". Where the quartiles of a / b include 1, the run
    does not tell the two workers' times apart."""
    q1, med, q3 = np.percentile(np.divide(r["rounds"][a, phase], r["rounds"][b, phase]), [25, 50, 75])
    return f"{med:.2f} ({q1:.2f}-{q3:.2f})"


def print_spread(name: str, r: dict):
    """How far each ratio of `print_model` moves from round to round, and the import orders
    compared round by round."""
    pairs = [("numpy-first", "tinycnn-first")]
    if ("torch", "train") in r["rounds"]:
        pairs = [(v, "torch") for v in TINYCNN_VARIANTS] + pairs
    rows = [[f"{LABELS[a]} / {LABELS[b]}", *(round_ratios(r, a, b, phase) for phase in ("train", "infer"))]
            for a, b in pairs]
    print_table(["ratio per round", "train", "infer"], rows,
                f"{name}: the ratios round by round, median (quartiles) of {len(r['rounds']['numpy-first', 'train'])} "
                "rounds; each round times every worker once, back to back")


def print_header(args, gemm: float, torch_note: str):
    removed = sorted(name for name in os.environ if is_speed_var(name))
    print(f"tinycnn bench models: batch {args.batch}, float32, 3x32x32, {args.threads} threads, "
          f"median of {args.repeats} runs, {args.clock} clock; NumPy float32 matmul (2048^3, own worker): "
          f"{gemm:.1f} GFLOP/s{torch_note}", flush=True)
    print(f"command: {args.command_line}", flush=True)
    print("each library in its own worker process, clean environment (removed here: "
          f"{', '.join(removed) or 'none'}), default settings except the thread count; calls interleaved", flush=True)
    print(load_line(), flush=True)
    print(flush=True)


def run(args) -> int:
    # find_spec, not an import: the coordinator stays free of torch (it times nothing itself)
    torch_installed = importlib.util.find_spec("torch") is not None
    with_torch = torch_installed and not args.no_torch
    missing = "skipped (--no-torch)" if torch_installed else "is not installed"
    torch_note = "" if with_torch else f"; PyTorch {missing}: tinycnn columns only"
    variants = TINYCNN_VARIANTS + (("torch",) if with_torch else ())
    t0 = time.perf_counter()
    try:
        gemm = matmul_rate(args.threads, args.clock)
        print_header(args, gemm, torch_note)
        results = {}
        for name in args.models:
            r = results[name] = time_model(name, args.batch, args.repeats, args.threads, variants, args.clock)
            print(f"  {name}: done ({time.perf_counter() - t0:.0f} s); workers:", flush=True)
            for info in r["workers"].values():
                print(worker_line(info), flush=True)
            print(flush=True)
            print_model(name, r, args.batch, gemm)
            print_spread(name, r)
    except WorkerError as e:
        print(f"tinycnn bench models: {e}", file=sys.stderr)
        return 1
    print_summary(results, with_torch)
    if not args.no_memory:
        mem = {name: (measure_memory(name, "tinycnn", args.batch, args.threads),
                      measure_memory(name, "torch", args.batch, args.threads) if with_torch else None)
               for name in results}
        rows = [[n, a, b, _ratio(a, b)] for n, (a, b) in mem.items()]
        print_table(["model", "tinycnn MiB", "torch MiB", "ratio"], rows,
                    "Peak memory of training (peak RSS above the RSS before the model; a fresh worker per library, "
                    "tinycnn: numpy first)")
    print(load_line(), flush=True)
    return 0


def print_summary(results: dict, with_torch: bool):
    """The ratios of all models in one table (tinycnn / PyTorch; below 1: tinycnn faster)."""
    if not with_torch:
        return
    rows = [[name, *(r["times"][v, phase] / r["times"]["torch", phase]
                     for phase in ("train", "infer") for v in TINYCNN_VARIANTS)]
            for name, r in results.items()]
    short = {"numpy-first": "numpy first", "tinycnn-first": "tinycnn first", "fused": "numpy first, fuse"}
    print_table(["model", *(f"{phase}, {short[v]}" for phase in ("train", "infer") for v in TINYCNN_VARIANTS)],
                rows, "Ratios tinycnn / PyTorch (below 1: tinycnn faster)")
