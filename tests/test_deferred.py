"""Deferred convolutions (ops/deferred.py): without gradients, inside a module's forward, an
eval-mode BatchNorm folds into the convolution before it, a ReLU or ReLU6 into its store, and a
ReLU into the residual sum before it; each tensor something reads gives its own values."""
import numpy as np
import pytest

import tinycnn
from tinycnn import Tensor, models, nn
from tinycnn.nn import functional as F
from tinycnn.kernels.scale import fold_batch_norm as kernel_fold
from tinycnn.kernels.scale import fold_batch_norm_reference
from tinycnn.nn.utils.fusion import fuse
from tinycnn.ops import deferred
from tinycnn.ops.deferred import Deferred, fold_batch_norm

rng = np.random.default_rng(0)


def _randomise_batch_norms(model, dtype=np.float32):
    """Running statistics and affine parameters far from (0, 1, 1, 0), so that folding shows."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean[...] = rng.normal(0, 0.2, c)
            m.running_var[...] = rng.uniform(0.5, 2.0, c)
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.normal(0, 0.2, c)
    return model.to(dtype) if dtype != np.float32 else model


def _outputs(model, x):
    """(no_grad output, output with gradients recorded: every op run as called)."""
    with tinycnn.no_grad():
        deferred = model(x).numpy()
    return deferred, model(x).numpy()


@pytest.mark.parametrize("name", ["resnet20", "mobilenet_v2_cifar", "resnext20_8x4d", "se_resnet20",
                                  "preact_resnet20", "efficientnet_cifar_tiny"])
def test_zoo_models_match_the_graph_and_fuse(name):
    model = _randomise_batch_norms(models.create(name).eval())
    x = Tensor(rng.standard_normal((3, 3, 32, 32)).astype(np.float32))
    deferred, eager = _outputs(model, x)
    np.testing.assert_allclose(deferred, eager, rtol=1e-5, atol=1e-5 * np.abs(eager).max())
    with tinycnn.no_grad():
        fused = fuse(model, x[:1])(x).numpy()
    np.testing.assert_array_equal(deferred, fused)  # the same folding as `fuse` ahead of time


def test_float64_to_rounding():
    model = _randomise_batch_norms(models.create("resnet20").eval(), np.float64)
    x = Tensor(rng.standard_normal((2, 3, 32, 32)))
    deferred, eager = _outputs(model, x)
    np.testing.assert_allclose(deferred, eager, rtol=1e-11, atol=1e-11)


class ConvBnAct(nn.Module):
    """Odd shapes: non-square, stride 2, groups, a bias, ReLU6."""

    def __init__(self, groups=2, stride=2, bias=True):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, stride=stride, padding=1, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


@pytest.mark.parametrize("groups, stride, bias, shape", [(2, 2, True, (1, 4, 7, 5)), (1, 1, False, (2, 4, 6, 9)),
                                                         (4, 1, True, (3, 4, 5, 5))])
def test_conv_bn_relu6_against_the_layers_apart(groups, stride, bias, shape):
    model = _randomise_batch_norms(ConvBnAct(groups, stride, bias).eval(), np.float64)
    x = Tensor(rng.standard_normal(shape) * 4)  # values above 6 and below 0
    deferred, eager = _outputs(model, x)
    want = np.clip(model.bn(model.conv(x)).numpy(), 0, 6)
    np.testing.assert_allclose(deferred, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(eager, want, rtol=1e-12, atol=1e-12)


def test_fold_batch_norm_is_the_affine_map():
    w, b = rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    mean, var, gamma, beta = rng.standard_normal(5), rng.uniform(0.5, 2, 5), rng.standard_normal(5), rng.standard_normal(5)
    fw, fb = fold_batch_norm(w, b, mean, var, 1e-5, gamma, beta)
    x = Tensor(rng.standard_normal((2, 3, 6, 6)))
    conv = F.conv2d(x, Tensor(w), Tensor(b), padding=1).numpy()
    want = (conv - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * gamma[:, None, None] + beta[:, None, None]
    got = F.conv2d(x, Tensor(fw), Tensor(fb), padding=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    fw, fb = fold_batch_norm(w.astype(np.float32), None, mean, var, 1e-5, None, None)  # no bias, affine=False
    assert fw.dtype == fb.dtype == np.float32
    np.testing.assert_allclose(fb, -mean / np.sqrt(var + 1e-5), rtol=1e-6)


@pytest.mark.parametrize("shape, dtype", [((64, 64, 3, 3), np.float32), ((6, 1, 3, 3), np.float64),
                                          ((5, 7, 1, 1), np.float32)])
def test_fold_kernel_gives_the_references_bits(shape, dtype):
    """Each product in float64, then one rounding to the weight's dtype, as the NumPy reference."""
    c = shape[0]
    w, b, mean, gamma, beta = (rng.standard_normal(s).astype(dtype) for s in (shape, c, c, c, c))
    var = rng.uniform(0.1, 3, c).astype(dtype)
    got = kernel_fold(w, b, mean, var, 1e-5, gamma, beta)
    want = fold_batch_norm_reference(w, b, mean, var, 1e-5, gamma, beta)
    for g, r in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_array_equal(g, r)


class TwoReaders(nn.Module):
    """The convolution's output read by the BatchNorm and by the caller."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return F.relu(self.bn(y)), y


def test_a_tensor_read_by_two_ops_gives_each_its_values():
    model = _randomise_batch_norms(TwoReaders().eval(), np.float64)
    x = Tensor(rng.standard_normal((2, 3, 5, 6)))
    with tinycnn.no_grad():
        out, y = model(x)
    conv = F.conv2d(x, model.conv.weight, model.conv.bias, padding=1).numpy()
    np.testing.assert_allclose(y.numpy(), conv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), np.maximum(model.bn(Tensor(conv)).numpy(), 0), rtol=1e-12, atol=1e-12)


def test_outputs_are_computed_when_the_outermost_call_returns():
    """The caller, and a hook that kept a layer's output, get the values of the input as it was
    during the call, even if it changes afterwards."""
    model = _randomise_batch_norms(ConvBnAct(1, 1).eval(), np.float64)
    kept = []
    model.conv.register_forward_hook(lambda m, args, out: kept.append(out))
    data = rng.standard_normal((2, 4, 5, 5))
    x = Tensor(data.copy())
    with tinycnn.no_grad():
        out = model(x)
    want_conv = F.conv2d(x, model.conv.weight, model.conv.bias, padding=1).numpy()
    want = _outputs(model, x)[1]
    x.data[...] = 0  # the caller reuses its buffer
    kept_conv, = kept[:1]
    assert isinstance(out, Deferred) and isinstance(kept_conv, Deferred)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kept_conv.numpy(), want_conv, rtol=1e-12, atol=1e-12)


def test_nothing_is_deferred_outside_a_module_with_gradients_or_when_disabled(monkeypatch):
    conv = nn.Conv2d(3, 4, 3, padding=1)
    x = Tensor(rng.standard_normal((1, 3, 4, 4)).astype(np.float32))
    with tinycnn.no_grad():
        assert type(F.conv2d(x, conv.weight, conv.bias, padding=1)) is Tensor
        assert isinstance(conv(x), Deferred)
        monkeypatch.setattr(deferred, "enabled", False)
        assert type(conv(x)) is Tensor
        monkeypatch.undo()
    y = ConvBnAct(1, 1)(Tensor(rng.standard_normal((1, 4, 4, 4)).astype(np.float32)))
    assert type(y) is Tensor and y.requires_grad  # the graph is recorded, op by op


def test_batch_norm_after_a_relu_or_in_training_mode_does_not_fold():
    conv, bn = nn.Conv2d(3, 4, 3, padding=1).double(), nn.BatchNorm2d(4).double()
    _randomise_batch_norms(bn.eval(), np.float64)
    x = Tensor(rng.standard_normal((3, 3, 5, 5)))
    relu_first = nn.Sequential(conv, nn.ReLU(), bn)
    for model in (relu_first, nn.Sequential(conv, bn.train())):
        with tinycnn.no_grad():
            got = model(Tensor(x.numpy().copy())).numpy()
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-12, atol=1e-12)


def test_residual_sum_and_relu():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)) + x) + x[:, :1]  # the last sum broadcasts: an op

    model = _randomise_batch_norms(Residual().eval(), np.float64)
    x = Tensor(rng.standard_normal((2, 4, 5, 3)))
    deferred, eager = _outputs(model, x)
    np.testing.assert_allclose(deferred, eager, rtol=1e-12, atol=1e-12)


def test_an_error_inside_a_forward_leaves_deferral_as_it_was():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with tinycnn.no_grad(), pytest.raises(RuntimeError, match="boom"):
        nn.Sequential(nn.Conv2d(3, 3, 1), Broken())(Tensor(np.ones((1, 3, 2, 2), np.float32)))
    conv = nn.Conv2d(3, 4, 3, padding=1)
    with tinycnn.no_grad():
        assert type(F.conv2d(Tensor(np.ones((1, 3, 4, 4), np.float32)), conv.weight)) is Tensor  # depth back at 0


def test_shape_and_dtype_without_computing():
    model = ConvBnAct(2, 2).eval()
    shapes = []
    model.bn.register_forward_hook(lambda m, args, out: shapes.append((args[0].shape, args[0].dtype, args[0].ndim)))
    with tinycnn.no_grad():
        model(Tensor(np.ones((2, 4, 7, 5), np.float32)))
    assert shapes == [((2, 8, 4, 3), np.float32, 4)]
