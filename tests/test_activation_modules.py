"""Activation modules: each is its functional op, same values and gradients as torch.nn."""
import numpy as np
import pytest

import tinycnn
from tinycnn import gradcheck, nn

MODULES = [
    ("ReLU", {}),
    ("ReLU6", {}),
    ("LeakyReLU", {"negative_slope": 0.2}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("SiLU", {}),
    ("Hardsigmoid", {}),
    ("Hardswish", {}),
    ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": -1}),
]


def _x():
    """Values spread over [-8, 8] but away from the kinks at 0, +-3 and 6."""
    x = np.random.default_rng(0).uniform(-8, 8, (4, 5))
    for kink in (0.0, 3.0, -3.0, 6.0):
        x = np.where(np.abs(x - kink) < 0.05, kink + 0.1, x)
    return x


@pytest.mark.parametrize("name,kwargs", MODULES)
def test_gradcheck(name, kwargs):
    module = getattr(nn, name)(**kwargs)
    x = tinycnn.tensor(_x(), requires_grad=True)
    assert gradcheck(module, [x])


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", MODULES)
def test_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    x = tinycnn.tensor(_x(), requires_grad=True)
    g = np.random.default_rng(1).standard_normal(x.shape)
    out = getattr(nn, name)(**kwargs)(x)
    out.backward(g)
    tx = torch.tensor(_x(), requires_grad=True)
    t_out = getattr(torch.nn, name)(**kwargs)(tx)
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    # torch's hardsigmoid backward multiplies by 1/6 rounded to float32, even for float64
    rtol = 1e-7 if name == "Hardsigmoid" else 1e-12
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=rtol, atol=1e-14)


def test_repr_and_arguments():
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    with pytest.raises(TypeError):
        nn.Softmax()  # dim is required (PyTorch's implicit dim is deprecated)


def test_inplace_flag_gives_the_same_result():
    x = tinycnn.tensor(_x())
    np.testing.assert_array_equal(nn.ReLU(inplace=True)(x).data, nn.ReLU()(x).data)
    assert (x.data < 0).any()  # the input was not modified
