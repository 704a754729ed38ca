"""One benchmark worker process: `python tinycnn/bench/worker.py VARIANT THREADS`.

The coordinator (tinycnn/bench/workers.py) starts one per library and import order, with a
clean environment, so that each library runs as in a user's own script:
- "numpy-first": imports numpy and matplotlib (if installed) before tinycnn, as the lessons,
  the tests and most notebooks do;
- "tinycnn-first": imports tinycnn before anything else, as the `tinycnn` command does;
- "fused": numpy first, the model fused as a user asks for it, `tinycnn.nn.utils.fusion.fuse(model,
  example)`, once after it is built: for training (ReLUs applied in the BatchNorms' pass) and for
  inference (BatchNorms folded, activations applied in the convolutions' own pass);
- "torch": imports torch (and numpy, for the inputs) first. It imports tinycnn afterwards, only to
  build the PyTorch twin (`tinycnn.interop.to_torch`, same weights): the twin's classes are made
  at run time and cannot be loaded without tinycnn. `import tinycnn` changes nothing
  process-wide, and Numba is loaded but runs no kernel, so its thread pool never starts.
Each library keeps its default settings except the thread count, set at run time through its
API (`tinycnn.set_num_threads`, `torch.set_num_threads`).

Protocol: one JSON line per request on stdin, {"op": ..., "args": {...}}, one JSON line per
answer on stdout; a failed request answers {"error": traceback}. The first line, sent unasked,
describes the worker (pid, import order, speed variables found at start). The file imports only
the standard library at the top, so running it by path leaves the import order to `main`.
"""
import gc
import json
import os
import sys
import time
import traceback

# Variables that change a library's speed; a user's script does not have them (SPEED_ENV_PREFIX
# covers tinycnn's own, TINYCNN_NUM_THREADS).
SPEED_ENV = ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
             "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SPEED_ENV_PREFIX = "TINYCNN_"
NOT_SPEED_ENV = ("TINYCNN_DATA",)  # where the datasets live: kept
VARIANTS = ("numpy-first", "tinycnn-first", "fused", "torch")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def is_speed_var(name: str) -> bool:
    return name in SPEED_ENV or (name.startswith(SPEED_ENV_PREFIX) and name not in NOT_SPEED_ENV)


def import_libraries(variant: str, threads: int) -> dict:
    """Import in the variant's order and set the thread count; what was loaded before tinycnn."""
    if variant in ("numpy-first", "fused"):
        import numpy  # noqa: F401
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            pass
    elif variant == "torch":
        import torch
        import numpy  # noqa: F401

        torch.set_num_threads(threads)
    elif variant != "tinycnn-first":
        raise ValueError(f"unknown worker variant {variant!r} (one of {', '.join(VARIANTS)})")
    before = [m for m in ("numpy", "matplotlib", "torch") if m in sys.modules]
    import tinycnn

    if variant != "torch":
        tinycnn.set_num_threads(threads)
    return {"loaded_before_tinycnn": before}


class Server:
    """The requests a worker answers; `steps` holds the model of the last `setup`."""

    def __init__(self, variant: str):
        self.variant = variant
        self.steps = {}

    def setup(self, model: str, batch: int) -> dict:
        """Build benchmark model `model` (seeded) and its train/infer closures on a fixed batch."""
        from tinycnn.bench import models

        self.steps = {}
        gc.collect()
        train, infer, macs = self._build(models, model, batch)
        self.steps = {"train": train, "infer": infer}
        return {"macs": macs}

    def _build(self, models, name, batch):
        if name not in models.MODELS:
            raise ValueError(f"unknown model {name!r} (one of {', '.join(models.MODELS)})")
        x, y = models.batch_data(batch)
        model = models.build(name)
        if self.variant != "torch":
            return (*models.tinycnn_steps(model, x, y, fused=self.variant == "fused"), models.macs_per_image(model))
        import torch

        from tinycnn.interop import to_torch

        return (*models.torch_steps(to_torch(model), x, y, torch), None)

    def setup_layer(self, batch: int, c_in: int, c_out: int, h: int, k: int, stride: int, groups: int,
                    first: bool) -> dict:
        """One bias-free convolution (tinycnn.bench.layers.conv_step), timed as phase "layer"."""
        from tinycnn.bench.layers import conv_step

        library = "torch" if self.variant == "torch" else "tinycnn"
        self.steps = {"layer": conv_step(library, batch, c_in, c_out, h, k, stride, groups, first)}
        return {}

    def time(self, phase: str, clock: str) -> dict:
        """Seconds of one call of `phase` ("train", "infer" or "layer"), after garbage collection
        and a pause that lets the previous call's BLAS and OpenMP threads go idle; with the
        phases a step times itself (a layer's fwd and fb)."""
        if phase not in self.steps:
            raise RuntimeError(f"no {phase!r} step: call setup first")
        fn, now = self.steps[phase], CLOCKS[clock]
        gc.collect()
        time.sleep(0.25)
        start = now()
        result = fn()
        return {"seconds": now() - start, **(result if isinstance(result, dict) else {})}

    def matmul(self, clock: str) -> dict:
        from tinycnn.machine import matmul_gflops

        return {"gflops": matmul_gflops(clock=CLOCKS[clock])}

    def memory(self, model: str, batch: int) -> dict:
        """Peak RSS of two training steps of `model` (after a warm-up step, which loads the JIT
        caches and allocates the buffers), in MiB above the RSS before the model was built."""
        from tinycnn.bench import models

        base = _status_kib("VmRSS")
        train, _, _ = self._build(models, model, batch)
        train()
        _reset_peak()
        for _ in range(2):
            train()
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


def main(variant: str, threads: int):
    # The answers get a private copy of stdout; fd 1 goes to stderr, so that a library's print
    # cannot break the protocol (the coordinator shows stderr when a worker fails).
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    start_env = sorted(name for name in os.environ if is_speed_var(name))
    info = {"pid": os.getpid(), "variant": variant, "speed_env_at_start": start_env}
    try:
        info.update(import_libraries(variant, threads))
    except Exception:
        channel.write(json.dumps({"error": traceback.format_exc()}) + "\n")
        return
    channel.write(json.dumps(info) + "\n")
    server = Server(variant)
    ops = {"setup": server.setup, "setup_layer": server.setup_layer, "time": server.time, "matmul": server.matmul,
           "memory": server.memory}
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer = ops[request["op"]](**request.get("args", {}))
        except Exception:
            answer = {"error": traceback.format_exc()}
        channel.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    # Run by path, Python puts this file's folder first on sys.path, where profile.py would shadow
    # the standard library's module: use the repository (or site-packages) root instead.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1], int(sys.argv[2]))
