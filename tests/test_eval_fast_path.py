"""The eval fast path: a convolution's bias and the ReLU or ReLU6 after it applied in the pass
that writes its output (kernels/epilogue.py, the direct and depthwise kernels, `convolve(...,
activation=)`), and `fuse` building it for whole models (nn/utils/fusion.py `ConvAct2d`), the
ResNet join's ReLU in the pass of its residual addition."""
import numpy as np
import pytest

import tinycnn
from op_counter import OpCounter
from tinycnn import Tensor, nn
from tinycnn.gradcheck import gradcheck
from tinycnn.kernels.depthwise import Depthwise
from tinycnn.kernels.direct_conv import direct_conv_simple
from tinycnn.kernels.direct_path import Direct
from tinycnn.kernels.epilogue import epilogue
from tinycnn.nn import functional as F
from tinycnn.nn.utils.fusion import ConvAct2d, fuse
from tinycnn.ops.conv import conv_geometry, convolve

rng = np.random.default_rng(0)
CLAMPS = [None, (0.0, np.inf), (0.0, 6.0)]


def _clamped(y, bias, clamp):
    y = y if bias is None else y + bias.reshape(-1, 1, 1)
    return y if clamp is None else np.clip(y, *clamp)


# (x shape, weight shape, padding, dilation, groups): non-square, batch 1, grouped with padded
# blocks (3 output channels a group), small images stacked in a grid
@pytest.mark.parametrize("xs, ws, padding, dilation, groups", [
    ((2, 3, 7, 5), (8, 3, 3, 3), 1, 1, 1), ((1, 4, 6, 9), (6, 2, 3, 3), 1, 1, 2),
    ((5, 8, 4, 4), (8, 8, 3, 3), 2, 2, 1), ((3, 4, 8, 6), (4, 4, 1, 3), (0, 1), 1, 1)])
@pytest.mark.parametrize("clamp", CLAMPS)
def test_direct_forward_adds_bias_and_clamps_as_it_writes(xs, ws, padding, dilation, groups, clamp):
    x = rng.standard_normal(xs).astype(np.float32)
    w, b = rng.standard_normal(ws).astype(np.float32), rng.standard_normal(ws[0]).astype(np.float32)
    g = conv_geometry(ws[2:], 1, padding, dilation)
    got = Direct().forward(x, w, g, groups, bias=b, clamp=clamp)
    want = _clamped(direct_conv_simple(x.astype(np.float64), w.astype(np.float64), g, groups), b, clamp)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride, xs", [(1, (3, 4, 6, 5)), (2, (2, 4, 7, 8)), (1, (1, 4, 2, 2))])
@pytest.mark.parametrize("clamp", CLAMPS)
def test_depthwise_forward_adds_bias_and_clamps_as_it_writes(stride, xs, clamp):
    x = rng.standard_normal(xs)
    w, b = rng.standard_normal((8, 1, 3, 3)), rng.standard_normal(8)  # 2 filters a channel
    g = conv_geometry(3, stride, 1, 1)
    got = Depthwise().forward(x, w, g, 4, bias=b, clamp=clamp)
    want = F.conv2d(Tensor(x), Tensor(w), stride=stride, padding=1, groups=4, algorithm="im2col").numpy()
    np.testing.assert_allclose(got, _clamped(want, b, clamp), rtol=1e-12, atol=1e-12)


def test_nan_stays_nan_through_the_clamp():
    """As np.maximum and PyTorch's relu: a NaN is no value to clamp."""
    x = np.ones((1, 4, 5, 5), np.float32)
    x[0, 1, 2, 2] = np.nan
    w = np.ones((4, 4, 3, 3), np.float32)
    g = conv_geometry(3, 1, 1, 1)
    for out in (Direct().forward(x, w, g, 1, clamp=(0.0, 6.0)),
                Depthwise().forward(x, w[:, :1], g, 4, clamp=(0.0, 6.0)),
                epilogue(x.copy() * 9, None, (0.0, 6.0))):
        assert np.isnan(out).any() and np.nanmax(out) == 6.0


def test_epilogue_in_place_in_one_call():
    y = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    want = _clamped(y, b, (0.0, 6.0))
    assert epilogue(y, b, (0.0, 6.0)) is y
    np.testing.assert_allclose(y, want, rtol=1e-6)


# one layer a path: im2col (stride 2), pointwise, depthwise, direct
LAYERS = [((2, 4, 9, 7), (6, 4, 3, 3), 2, 1, 1), ((2, 8, 6, 6), (5, 8, 1, 1), 1, 0, 1),
          ((2, 6, 7, 7), (6, 1, 3, 3), 1, 1, 6), ((1, 5, 8, 6), (7, 5, 3, 3), 1, 1, 1)]


@pytest.mark.parametrize("xs, ws, stride, padding, groups", LAYERS)
@pytest.mark.parametrize("activation, op", [("relu", F.relu), ("relu6", F.relu6)])
def test_convolve_with_activation_matches_the_two_ops(xs, ws, stride, padding, groups, activation, op):
    x = Tensor(3 * rng.standard_normal(xs).astype(np.float32))
    w, b = Tensor(rng.standard_normal(ws).astype(np.float32)), Tensor(rng.standard_normal(ws[0]).astype(np.float32))
    g = conv_geometry(ws[2:], stride, padding, 1)
    with tinycnn.no_grad():
        want = op(F.conv2d(x, w, b, stride, padding, groups=groups)).numpy()
        fast = convolve(x, w, b, g, groups, activation=activation)
        after = op(fast)  # what the model applies next: passed through
    np.testing.assert_allclose(fast.numpy(), want, rtol=1e-5, atol=1e-5)
    assert after is not fast and after.data is fast.data and not hasattr(after, "_clamped")


def test_the_mark_does_not_outlive_a_new_array():
    """relu of a marked tensor passes it through only while it still holds the clamped array."""
    x, w = Tensor(rng.standard_normal((1, 3, 6, 6)).astype(np.float32)), Tensor(np.ones((4, 3, 3, 3), np.float32))
    with tinycnn.no_grad():
        y = convolve(x, w, None, conv_geometry(3, 1, 1, 1), 1, activation="relu")
        y.data = y.data - 100  # the tensor now holds other values
        assert (F.relu(y).numpy() == 0).all()
        z = convolve(x, w, None, conv_geometry(3, 1, 1, 1), 1, activation="relu6")
        assert F.relu(z).data is z.data  # [0, 6] lies within relu's [0, inf]
        assert F.relu6(convolve(x, w, None, conv_geometry(3, 1, 1, 1), 1, activation="relu")).numpy().max() <= 6


@pytest.mark.parametrize("xs, ws, stride, padding, groups", LAYERS)
def test_convolve_with_activation_gradients_in_float64(xs, ws, stride, padding, groups):
    """With gradients it is the convolution, then the activation op: its float64 gradients check."""
    x = Tensor(rng.standard_normal(xs), requires_grad=True)
    w, b = Tensor(rng.standard_normal(ws), requires_grad=True), Tensor(rng.standard_normal(ws[0]), requires_grad=True)
    g = conv_geometry(ws[2:], stride, padding, 1)
    assert gradcheck(lambda *t: convolve(*t, g, groups, activation="relu6"), (x, w, b), mode="random")


# ---------------------------------------------------------------- fuse() on whole models


def _randomise(model):
    """BatchNorm statistics and the classifier away from their initial values, so that folding shows."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = rng.normal(0, 0.3, m.num_features)
            m.running_var[...] = rng.uniform(0.3, 3, m.num_features)
            m.weight.data[...] = rng.normal(1, 0.3, m.num_features)
            m.bias.data[...] = rng.normal(0, 0.3, m.num_features)
        if isinstance(m, nn.Linear):
            m.weight.data[...] = rng.normal(0, 0.1, m.weight.shape)
    return model.eval()


def _ops(model, x):
    with OpCounter() as counter, tinycnn.no_grad():
        model(x)
    return counter.ops


@pytest.mark.parametrize("name, fused_acts", [("resnet20", 19), ("mobilenet_v2_cifar", 35), ("resnet14", 13)])
def test_fuse_applies_the_activations_in_the_convolutions(name, fused_acts):
    model = _randomise(tinycnn.models.create(name))
    x = tinycnn.tensor(rng.standard_normal((3, 3, 32, 32)).astype(np.float32))
    fused = fuse(model, x[:1])
    assert sum(isinstance(m, ConvAct2d) for m in fused.modules()) == fused_acts
    with tinycnn.no_grad():
        want, got = model(x).numpy(), fused(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    before, after = _ops(model, x), _ops(fused, x)
    acts = lambda ops: ops.get("ReLU", 0) + ops.get("ReLU6", 0)  # noqa: E731
    assert acts(before) - acts(after) == fused_acts  # each fused one costs no op of its own
    assert after.get("BatchNormEval", 0) == 0 < before["BatchNormEval"]  # every BatchNorm folded


@pytest.mark.parametrize("name", ["resnext20_8x4d", "wrn10_2", "mobilenet_v1_cifar_025", "efficientnet_cifar_tiny",
                                  "resnet20_stochastic_depth", "densenet_bc_28_12", "preact_resnet20"])
def test_fuse_keeps_the_eval_output_of_every_family(name):
    """Grouped 3x3s (ResNeXt), wide blocks, depthwise-separable stacks, SiLU and SE (EfficientNet:
    BatchNorms fold, no activation to fuse), DropPath, concatenations, pre-activation."""
    model = _randomise(tinycnn.models.create(name))
    x = tinycnn.tensor(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    fused = fuse(model, x[:1])
    with tinycnn.no_grad():
        want, got = model(x).numpy(), fused(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_fused_model_gradients_match_the_eval_graph_in_float64():
    """A fused model in eval mode with gradients on (saliency maps): the input gradient of the
    unfused eval graph."""
    model = _randomise(tinycnn.models.create("resnet8")).double()
    x = Tensor(rng.standard_normal((2, 3, 16, 16)))
    fused = fuse(model, x[:1])
    grads = []
    for m in (model, fused):
        xi = Tensor(x.numpy(), requires_grad=True)
        m(xi).sum().backward()
        grads.append(xi.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-9, atol=1e-12)


class _AddAfterReLU(nn.Module):
    """relu(bn(conv)) modified in place, then relu again: the second relu must still run."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn(self.conv(x)))
        y.data -= 1.0  # in place, on the array the convolution wrote
        return self.relu(y)


class _BNReadTwice(nn.Module):
    """The BatchNorm's output is read by the ReLU and by the addition: the ReLU stays an op."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return F.relu(y) + y


@pytest.mark.parametrize("cls, fused_acts", [(_AddAfterReLU, 1), (_BNReadTwice, 0)])
def test_fuse_keeps_the_function_of_models_that_reuse_arrays(cls, fused_acts):
    model = _randomise(cls())
    x = Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    fused = fuse(model, x[:1])
    assert sum(isinstance(m, ConvAct2d) for m in fused.modules()) == fused_acts
    with tinycnn.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_conv_act_keeps_the_convolution_state_dict_and_says_its_activation():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    fused = ConvAct2d(conv, "relu6")
    assert fused.state_dict().keys() == conv.state_dict().keys()
    assert "activation='relu6'" in repr(fused)
    with pytest.raises(ValueError, match="expected an activation in"):
        ConvAct2d(conv, "gelu")


class _ResidualJoin(nn.Module):
    """act(bn(conv(x)) + x), a ResNet block's join; with `second_reader` the sum is read twice."""

    def __init__(self, activation=nn.ReLU, second_reader=False):
        super().__init__()
        self.conv, self.bn, self.act = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), activation()
        self.second_reader = second_reader

    def forward(self, x):
        s = self.bn(self.conv(x)) + x
        return self.act(s) * 2 + s if self.second_reader else self.act(s)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.ReLU6])
def test_the_residual_addition_applies_the_activation_that_alone_reads_its_sum(activation):
    model = _randomise(_ResidualJoin(activation))
    x = Tensor(rng.standard_normal((2, 4, 9, 7)).astype(np.float32) * 4)
    fused = fuse(model, x[:1])
    assert isinstance(fused.conv, ConvAct2d) and fused.conv.after_add
    assert "after_add=True" in repr(fused.conv)
    ops = _ops(fused, x)
    assert activation.__name__ not in ops and "Add" not in ops  # both in the addition's pass
    with tinycnn.no_grad():
        want, got = model(x).numpy(), fused(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert got.min() >= 0 and (activation is nn.ReLU or got.max() <= 6)


def test_a_sum_read_twice_keeps_its_own_activation():
    model = _randomise(_ResidualJoin(second_reader=True))
    x = Tensor(rng.standard_normal((2, 4, 9, 7)).astype(np.float32))
    fused = fuse(model, x[:1])
    assert type(fused.conv) is nn.Conv2d  # the BatchNorm folded, the activation left to the model
    with tinycnn.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_the_residual_join_with_gradients_is_the_models_ops():
    """Eval mode with gradients wanted: no mark, the addition and the ReLU are ops of the graph."""
    model = _randomise(_ResidualJoin()).double()
    fused = fuse(model, tinycnn.zeros(1, 4, 9, 7, dtype=np.float64))
    x_np = rng.standard_normal((2, 4, 9, 7))
    grads = []
    for m in (model, fused):
        x = Tensor(x_np, requires_grad=True)
        out = m(x)
        (out * out).sum().backward()
        grads.append((out.numpy(), x.grad.numpy()))
    for want, got in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_the_residual_join_leaves_a_hooked_output_and_later_additions_alone():
    """A forward hook may keep the convolution's output: then nothing is marked. Without one,
    only the first addition that reads the output clamps its sum (the mark is used up)."""
    model = _randomise(_ResidualJoin())
    x = Tensor(rng.standard_normal((2, 4, 9, 7)).astype(np.float32) * 4)
    fused = fuse(model, x[:1])
    kept = []
    handle = fused.conv.register_forward_hook(lambda mod, args, out: kept.append(out))
    with tinycnn.no_grad():
        want = model(x).numpy()
        np.testing.assert_allclose(fused(x).numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
        np.testing.assert_array_equal((kept[0] + x).numpy(), kept[0].numpy() + x.numpy())  # not clamped
        handle.remove()
        out = fused.conv(x)
        first, second = out + x, out + x
    np.testing.assert_array_equal(first.numpy(), np.maximum(out.numpy() + x.numpy(), 0))
    np.testing.assert_array_equal(second.numpy(), out.numpy() + x.numpy())
