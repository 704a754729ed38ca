"""SqueezeExcitation / SEModule: layouts, gradient checks, excitation values, PyTorch as oracle."""
import numpy as np
import pytest

import tinycnn
from tinycnn import gradcheck, nn
from tinycnn.nn.squeeze_excitation import SEModule, SqueezeExcitation


def _x(*shape, seed=0):
    return tinycnn.Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)


def test_state_dict_layouts():
    conv = SqueezeExcitation(32, 8)
    assert {k: v.shape for k, v in conv.state_dict().items()} == {
        "fc1.weight": (8, 32, 1, 1), "fc1.bias": (8,), "fc2.weight": (32, 8, 1, 1), "fc2.bias": (32,)
    }
    linear = SqueezeExcitation(32, reduction=4, use_conv=False)
    assert {k: v.shape for k, v in linear.state_dict().items()} == {
        "fc1.weight": (8, 32), "fc1.bias": (8,), "fc2.weight": (32, 8), "fc2.bias": (32,)
    }
    assert list(SqueezeExcitation(32, 8, bias=False).state_dict()) == ["fc1.weight", "fc2.weight"]


def test_squeeze_width_rules():
    assert SqueezeExcitation(64).squeeze_channels == 4  # SENet: C // r with r = 16
    assert SqueezeExcitation(8).squeeze_channels == 1
    # timm's make_divisible(C * rd_ratio, 8, round_limit=0)
    assert SEModule(64).squeeze_channels == 8
    assert SEModule(256).squeeze_channels == 16
    assert SEModule(100, rd_ratio=0.25).squeeze_channels == 24
    assert SEModule(64, rd_channels=5).squeeze_channels == 5


@pytest.mark.parametrize("use_conv", [True, False])
def test_gradcheck_full(use_conv):
    se = SqueezeExcitation(4, 2, use_conv=use_conv).double()
    assert gradcheck(lambda x, *params: se(x), [_x(2, 4, 3, 2), *se.parameters()])


def test_gradcheck_random_directions_silu_and_hardsigmoid():
    se = SqueezeExcitation(12, 3, activation=nn.SiLU, scale_activation=nn.Hardsigmoid).double()
    assert gradcheck(lambda x, *params: se(x), [_x(3, 12, 5, 4), *se.parameters()], mode="random")


def test_last_excitation_holds_the_channel_gates():
    se = SqueezeExcitation(6, 3)
    x = tinycnn.randn(2, 6, 4, 5)
    assert se.last_excitation is None
    y = se(x)
    s = se.last_excitation
    assert s.shape == (2, 6) and np.all((s > 0) & (s < 1))
    np.testing.assert_allclose(y.data, x.data * s[:, :, None, None], rtol=1e-6)
    se(tinycnn.randn(1, 6, 4, 5))
    assert se.last_excitation.shape == (1, 6)


def test_float32_and_batch_one():
    se = SqueezeExcitation(5, 2, use_conv=False)
    y = se(tinycnn.randn(1, 5, 3, 7))
    assert y.shape == (1, 5, 3, 7) and y.dtype == np.float32


def test_bad_input():
    se = SqueezeExcitation(6, 3)
    with pytest.raises(ValueError, match=r"SqueezeExcitation\(6\): expected input \(N, 6, H, W\), got shape \(2, 5, 4, 4\)"):
        se(tinycnn.randn(2, 5, 4, 4))
    with pytest.raises(ValueError, match="SqueezeExcitation"):
        se(tinycnn.randn(6, 4, 4))
    with pytest.raises(ValueError, match="must be positive"):
        SqueezeExcitation(6, 0)


@pytest.mark.torch
@pytest.mark.parametrize("use_conv", [True, False])
def test_matches_torch(use_conv):
    """Against torchvision.ops.SqueezeExcitation's forward with SiLU (EfficientNet),
    written out in torch ops (torchvision itself is not a dependency)."""
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    se = SqueezeExcitation(8, 2, activation=nn.SiLU, use_conv=use_conv).double()
    p = {k: torch.tensor(v.reshape(v.shape[0], -1, 1, 1) if k.endswith("weight") else v, requires_grad=True)
         for k, v in se.state_dict().items()}
    x_np = np.random.default_rng(1).normal(size=(3, 8, 5, 4))
    x, tx = tinycnn.Tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    scale = tF.adaptive_avg_pool2d(tx, 1)
    scale = tF.conv2d(tF.silu(tF.conv2d(scale, p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"])
    ty = tx * torch.sigmoid(scale)
    y = se(x)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(2).normal(size=y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, param in se.named_parameters():
        np.testing.assert_allclose(param.grad.data.reshape(p[name].shape), p[name].grad.numpy(), rtol=1e-10, atol=1e-12)
