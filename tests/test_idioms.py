"""PyTorch's idioms of a training script, under PyTorch's names: devices, lazy
`tinycnn.models`, argmax/argmin, grad-mode switches, randperm/Generator, load's map_location."""
import subprocess
import sys

import numpy as np
import pytest

import tinycnn
from tinycnn import nn


def test_models_load_on_first_use_and_not_with_import():
    code = ("import sys, tinycnn; assert 'tinycnn.models' not in sys.modules; "
            "m = tinycnn.models.create('resnet20'); print(type(m).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "CifarResNet"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tinycnn.nope  # noqa: B018


def test_to_cpu_changes_nothing_and_to_dtype_casts():
    model = nn.Linear(3, 2)
    assert model.to("cpu") is model and model.cpu() is model and model.to(tinycnn.device("cpu")) is model
    assert model.to("cpu", np.float64).weight.dtype == np.float64
    assert model.to(dtype=np.float32).weight.dtype == np.float32
    x = tinycnn.randn(2, 3)
    assert x.to("cpu") is x and x.cpu() is x and x.to(device="cpu:0") is x
    assert x.to(np.float64).dtype == np.float64 and x.to(x.double()).dtype == np.float64
    assert str(x.device) == "cpu" and x.device == tinycnn.device("cpu") and not x.is_cuda
    assert tinycnn.cuda.is_available() is False and tinycnn.cuda.device_count() == 0


@pytest.mark.parametrize("where", ["cuda", "cuda:1", "mps", 0])
def test_to_another_device_says_cpu_only_and_names_it(where):
    expected = "cuda:0" if where == 0 else where
    for target in (nn.Linear(2, 2), tinycnn.randn(2)):
        with pytest.raises(RuntimeError, match=f"CPU only; expected device 'cpu', got '{expected}'"):
            target.to(where)
    with pytest.raises(RuntimeError, match="expected one of .* got 'gpu'"):
        tinycnn.device("gpu")


def test_to_dtype_keeps_the_graph():
    x = tinycnn.randn(3, requires_grad=True)
    x.to(np.float64).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3, np.float32))


@pytest.mark.torch
def test_argmax_argmin_as_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((3, 4, 5))
    for name in ("argmax", "argmin"):
        for kwargs in ({}, {"dim": 1}, {"dim": -1, "keepdim": True}):
            ours = getattr(tinycnn, name)(tinycnn.tensor(a), **kwargs)
            theirs = getattr(torch, name)(torch.from_numpy(a), **kwargs)
            assert ours.dtype == np.int64
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
            np.testing.assert_array_equal(getattr(tinycnn.tensor(a), name)(**kwargs).numpy(), theirs.numpy())


def test_grad_mode_switches():
    assert tinycnn.is_grad_enabled()
    with tinycnn.set_grad_enabled(False):
        assert not tinycnn.is_grad_enabled()
    assert tinycnn.is_grad_enabled()
    tinycnn.set_grad_enabled(False)
    assert not tinycnn.is_grad_enabled()
    tinycnn.set_grad_enabled(True)
    with tinycnn.inference_mode():
        assert not (tinycnn.randn(2, requires_grad=True) * 2).requires_grad
    with tinycnn.inference_mode(False):
        assert tinycnn.is_grad_enabled()

    @tinycnn.inference_mode()
    def f():
        return tinycnn.is_grad_enabled()

    assert f() is False and tinycnn.is_grad_enabled()


def test_randperm_and_seeded_generator():
    a = tinycnn.randperm(10, generator=tinycnn.Generator().manual_seed(3))
    b = tinycnn.randperm(10, generator=tinycnn.Generator().manual_seed(3))
    assert a.dtype == np.int64 and sorted(a.tolist()) == list(range(10))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="got -1"):
        tinycnn.randperm(-1)


def test_load_accepts_map_location_cpu(tmp_path):
    path = tmp_path / "w.npz"
    tinycnn.save({"w": np.arange(3)}, path)
    np.testing.assert_array_equal(tinycnn.load(path, map_location="cpu")["w"], np.arange(3))
    np.testing.assert_array_equal(tinycnn.load(path, map_location=tinycnn.device("cpu"))["w"], np.arange(3))
    with pytest.raises(RuntimeError, match="got 'cuda'"):
        tinycnn.load(path, map_location="cuda")
