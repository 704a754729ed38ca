"""Smoke tests of `tinycnn bench models` / `profile`, the profiler hook and the PyTorch twins (to_torch)."""
import importlib
import mmap

import numpy as np
import pytest

import tinycnn
import tinycnn.models
from tinycnn.bench import main
from tinycnn.bench.models import MODELS, build, measure_memory
from tinycnn.bench.profile import OpProfiler
from tinycnn.nn import functional as F

engine = importlib.import_module("tinycnn.tensor")  # the module (tinycnn.tensor is the function)


def test_models_prints_tables(capsys):
    assert main(["models", "--models", "resnet20", "--batch", "2", "--repeats", "1", "--threads", "1",
                 "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "NumPy float32 matmul" in out
    for title in ("Training step", "Inference"):
        assert title in out
    assert out.count("resnet20") >= 2


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
