"""Linear (F.linear), Identity and Flatten: gradient checks, PyTorch oracle, bad input."""
import math

import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import gradcheck, nn


def _t(*shape, seed=0):
    return tinycnn.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("x_shape", [(3, 4), (1, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_full(x_shape, bias):
    x, w, b = _t(*x_shape), _t(3, 4, seed=1), _t(3, seed=2)
    if bias:
        assert gradcheck(lambda x, w, b: F.linear(x, w, b), [x, w, b])
    else:
        assert gradcheck(lambda x, w: F.linear(x, w), [x, w])


def test_linear_module_gradcheck_random_larger():
    layer = nn.Linear(64, 48).double()
    for p in layer.parameters():
        p.requires_grad_(True)
    x = _t(16, 64)
    assert gradcheck(lambda x, *params: layer(x), [x, *layer.parameters()], mode="random", n_directions=4)


@pytest.mark.torch
@pytest.mark.parametrize("x_shape", [(5, 7), (2, 3, 7), (1, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(x_shape, bias):
    torch = pytest.importorskip("torch")
    x, w, b = _t(*x_shape), _t(6, 7, seed=1), _t(6, seed=2)
    g = np.random.default_rng(3).standard_normal(x_shape[:-1] + (6,))
    out = F.linear(x, w, b if bias else None)
    out.backward(g)
    tx, tw, tb = (torch.tensor(t.data, requires_grad=True) for t in (x, w, b))
    t_out = torch.nn.functional.linear(tx, tw, tb if bias else None)
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, ref in [(x, tx), (w, tw)] + ([(b, tb)] if bias else []):
        np.testing.assert_allclose(ours.grad.data, ref.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_init_bounds_as_pytorch():
    """kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in)) for weight and bias."""
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    assert layer.weight.shape == (300, 400) and layer.bias.shape == (300,)
    assert layer.weight.dtype == np.float32
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.99 * bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert np.abs(layer.bias.data).max() <= bound and layer.bias.data.std() > 0.4 * bound


def test_linear_float32_forward_and_shapes():
    layer = nn.Linear(4, 2, bias=False)
    assert layer.bias is None and list(dict(layer.named_parameters())) == ["weight"]
    out = layer(tinycnn.randn(3, 5, 4))
    assert out.shape == (3, 5, 2) and out.dtype == np.float32


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: nn.Linear(4, 2)(tinycnn.randn(3, 5)), r"linear: expected input \(\*, 4\).*got input shape \(3, 5\)"),
        (lambda: nn.Linear(4, 2)(tinycnn.randn(3, 4, dtype=np.float64)), "input dtype float64 differs from weight"),
        (lambda: F.linear(tinycnn.randn(3, 4), tinycnn.randn(4)), "weight must be 2-D"),
        (lambda: F.linear(tinycnn.randn(3, 4), tinycnn.randn(2, 4), tinycnn.randn(3)), r"expected bias shape \(2,\)"),
        (lambda: nn.Linear(-1, 2), "in_features must be a non-negative int"),
    ],
)
def test_linear_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_identity_and_flatten():
    x = tinycnn.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused="ok")(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(2)(x).shape == (2, 3, 20)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_flatten_gradcheck():
    x = _t(2, 3, 2)
    assert gradcheck(lambda x: nn.Flatten()(x) * tinycnn.tensor(np.arange(6.0)), [x])


def test_linear_frozen_weight_and_constant_input():
    layer = nn.Linear(3, 2)
    layer.weight.requires_grad_(False)
    x = tinycnn.randn(4, 3, requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad is None and layer.bias.grad.shape == (2,) and x.grad.shape == (4, 3)
    layer.weight.requires_grad_(True)
    x = tinycnn.randn(4, 3)  # a data batch: no gradient wanted
    layer(x).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(layer.weight.grad.data, np.ones((2, 1)) * x.data.sum(axis=0), rtol=1e-6)
