"""Smoke tests of `tinycnn bench models` / `profile`, the profiler hook and the PyTorch twins (to_torch)."""
import importlib
import importlib.util
import mmap
import os
import re

import numpy as np
import pytest

import tinycnn
import tinycnn.models
from tinycnn.bench import main
from tinycnn.bench.models import MODELS, build, measure_memory
from tinycnn.bench.profile import OpProfiler
from tinycnn.bench.workers import Worker, WorkerError
from tinycnn.nn import functional as F

engine = importlib.import_module("tinycnn.tensor")  # the module (tinycnn.tensor is the function)


SPEED_ENV = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE", "TINYCNN_NUM_THREADS": "1",
             "TINYCNN_KEEP_FREED_MEMORY": "0", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
             "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _worker_lines(out: str) -> dict:
    """{label: (pid, loaded before tinycnn, speed variables)} from the report's worker lines."""
    line = r"^    (.+?): pid (\d+), loaded before tinycnn: (.+?); speed variables in its environment: (.+)$"
    found = re.findall(line, out, re.MULTILINE)
    return {label: (int(pid), before, env) for label, pid, before, env in found}


def test_models_runs_each_library_in_its_own_clean_process(capsys, monkeypatch):
    """Separate worker processes, numpy loaded before tinycnn in the numpy-first one, none of the
    speed variables of this process in any worker, and every ratio in the table."""
    for name, value in SPEED_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["models", "--models", "resnet20", "--batch", "2", "--repeats", "1", "--threads", "1",
                 "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "NumPy float32 matmul" in out and "command: tinycnn bench models --models resnet20" in out
    has_torch = importlib.util.find_spec("torch") is not None
    workers = _worker_lines(out)
    labels = ["tinycnn (numpy first)", "tinycnn (tinycnn first)", "tinycnn (numpy first, fuse)"] + (["PyTorch"] if has_torch else [])
    assert sorted(workers) == sorted(labels)
    pids = {pid for pid, _, _ in workers.values()}
    assert len(pids) == len(labels) and os.getpid() not in pids
    assert workers["tinycnn (numpy first)"][1].startswith("numpy")
    assert workers["tinycnn (tinycnn first)"][1] == "nothing"
    assert workers["tinycnn (numpy first, fuse)"][1].startswith("numpy")
    assert all(env == "none" for _, _, env in workers.values())
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines() if line.startswith(tuple(labels))}
    if not has_torch:
        assert "PyTorch is not installed" in out
        return
    assert workers["PyTorch"][1] == "numpy, torch"  # tinycnn comes after torch there, only for the twin
    for label in labels[:3]:  # train ms, ratio, img/s, % matmul, infer ms, ratio, ...
        cells = rows[label][3:]
        assert float(cells[1]) > 0 and float(cells[5]) > 0
    assert "Ratios tinycnn / PyTorch" in out
    assert "the ratios round by round" in out and "tinycnn (numpy first) / tinycnn (tinycnn first)" in out


def test_models_without_torch_says_so(capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    assert main(["models", "--models", "resnet20", "--batch", "2", "--repeats", "1", "--threads", "1",
                 "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch is not installed: tinycnn columns only" in out
    assert "PyTorch:" not in out and "Ratios tinycnn / PyTorch" not in out


def test_layers_times_convolutions_in_workers(capsys):
    assert main(["layers", "--only", "resnet20", "--batch", "2", "--repeat", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "each in its own worker process" in out and "total, each layer x its count" in out
    assert "64->64 8x8 (x5)" in out


def test_a_failing_worker_gives_a_clear_error():
    """An unknown model, a dead worker and a silent one: errors that name the worker, not hangs."""
    with Worker("numpy-first", 1) as worker:
        with pytest.raises(WorkerError, match=r"(?s)tinycnn \(numpy first\).*failed on setup.*nope.*unknown model"):
            worker.request("setup", model="nope", batch=2)
        with pytest.raises(WorkerError, match="no answer to setup .* within 0.001 s"):
            worker.request("setup", model="resnet20", batch=2, timeout=0.001)
        worker.proc.kill()
        with pytest.raises(WorkerError, match=r"exited \(code -9\)"):
            while True:  # the late answer to the timed-out request may still be queued
                worker.request("time", phase="train", clock="wall", timeout=30)
    with pytest.raises(WorkerError, match="unknown worker variant 'jax'"):
        Worker("jax", 1)


def test_memory_probe_reports_a_positive_peak():
    mib = measure_memory("resnet20", "tinycnn", 2, 1)
    assert mib is not None and 0 < mib < 2000


def test_profile_prints_op_types(capsys):
    assert main(["profile", "resnet20", "--batch", "2", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("conv", "forward", "backward-input", "backward-weight", "BatchNorm", "optimizer (SGD step)",
                "autograd + Python bookkeeping", "total step", "page faults", "of which: fresh-memory page faults"):
        assert row in out
    assert engine._profiler is None  # switched off again


def test_page_faults_are_counted_and_priced():
    from tinycnn.bench.profile import fault_seconds, page_faults

    fresh = mmap.mmap(-1, 16 << 20)  # 16 MiB of memory never touched (a heap block might have been)
    f0 = page_faults()
    np.frombuffer(fresh, dtype=np.float32).fill(1.0)
    assert page_faults() > f0
    assert 0 <= fault_seconds(8) < 1e-3  # seconds per fault: microseconds, not milliseconds


def test_profile_by_function_names_the_functions(capsys):
    assert main(["profile", "mobilenetv2", "--batch", "2", "--repeats", "1", "--threads", "1", "--by-function"]) == 0
    out = capsys.readouterr().out
    for row in ("depthwise conv", "ReLU6", "BatchNormTrain", "Add", "total step"):
        assert row in out


def _grads(model, x, y, profiler=None):
    for p in model.parameters():
        p.grad = None
    tinycnn.manual_seed(0)  # the same dropout masks
    engine.set_profiler(profiler)
    try:
        F.cross_entropy(model(tinycnn.Tensor(x)), tinycnn.Tensor(y)).backward()
    finally:
        engine.set_profiler(None)
    return {name: p.grad.numpy().copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("name", ["resnet20", "mobilenetv2"])
def test_profiler_leaves_gradients_unchanged(name):
    """The profiler splits conv backward in two calls: the gradients must not change."""
    model = build(name)
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    y = np.array([1, 7])
    prof = OpProfiler()
    plain, profiled = _grads(model, x, y), _grads(model, x, y, prof)
    assert plain.keys() == profiled.keys()
    for key in plain:
        np.testing.assert_allclose(profiled[key], plain[key], rtol=1e-5, atol=1e-6, err_msg=key)
    kinds = {kind for kind, _ in prof.seconds}
    assert "conv" in kinds and "BatchNorm" in kinds
    if name == "mobilenetv2":  # the depthwise convolutions in rows of their own, both phases
        assert ("depthwise conv", "backward") in prof.seconds and ("depthwise conv", "forward") in prof.seconds
        assert prof.calls[("depthwise conv", "forward")] == 17  # MobileNetV2's 17 inverted residual blocks


@pytest.mark.torch
@pytest.mark.parametrize("name", list(MODELS))
def test_torch_twin_computes_the_same_logits(name):
    """The benchmark's PyTorch twin is tinycnn.interop.to_torch (tests/test_to_torch.py tests it on the zoo)."""
    torch = pytest.importorskip("torch")
    from tinycnn.interop import to_torch

    model = build(name).eval()
    tmodel = to_torch(model)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with tinycnn.no_grad():
        ours = model(tinycnn.Tensor(x)).numpy()
    with torch.no_grad():
        theirs = tmodel(torch.from_numpy(x)).numpy()
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours / scale, theirs / scale, atol=1e-5)


def test_round_ratios_pair_the_calls_of_each_round(capsys):
    """The spread table divides the two workers' times round by round, not median by median."""
    from tinycnn.bench.models import print_spread, round_ratios

    rounds = {("numpy-first", "train"): [1.0, 2.0, 4.0, 8.0, 16.0], ("tinycnn-first", "train"): [1.0, 1.0, 2.0, 4.0, 8.0],
              ("numpy-first", "infer"): [3.0, 3.0, 3.0, 3.0, 3.0], ("tinycnn-first", "infer"): [1.0, 2.0, 3.0, 4.0, 6.0]}
    r = {"rounds": rounds}
    assert round_ratios(r, "numpy-first", "tinycnn-first", "train") == "2.00 (2.00-2.00)"
    assert round_ratios(r, "numpy-first", "tinycnn-first", "infer") == "1.00 (0.75-1.50)"
    print_spread("resnet20", r)  # without PyTorch's worker: the import orders only
    out = capsys.readouterr().out
    assert "median (quartiles) of 5 rounds" in out
    assert "tinycnn (numpy first) / tinycnn (tinycnn first)  2.00 (2.00-2.00)  1.00 (0.75-1.50)" in out
    assert "PyTorch" not in out
