"""Convolution: F.conv2d and nn.Conv2d against a naive loop, gradient checks,
grouped conv = G separate convs, PyTorch as an oracle, and bad input."""
import math

import numpy as np
import pytest

import tinycnn
from tinycnn import Tensor, gradcheck, nn
from tinycnn.nn import functional as F

from conv_helpers import naive_conv2d, random_tensor as _t, rng, rng_fixed


# (x shape, weight shape, stride, padding, dilation, groups): every code path
# (im2col, 1x1 pointwise, depthwise kernels) and every odd case of the brief.
CASES = {
    "3x3 pad 1": ((1, 2, 4, 4), (3, 2, 3, 3), 1, 1, 1, 1),
    "stride 2": ((2, 2, 6, 5), (3, 2, 3, 3), 2, 1, 1, 1),
    "non-square all": ((2, 2, 7, 5), (3, 2, 3, 2), (2, 1), (1, 2), (1, 2), 1),
    "dilation 2": ((1, 2, 7, 7), (3, 2, 3, 3), 1, 2, 2, 1),
    "groups 2": ((2, 4, 5, 4), (6, 2, 3, 3), 1, 1, 1, 2),
    "groups 4": ((1, 4, 5, 5), (4, 1, 3, 3), 2, 1, 1, 4),
    "depthwise": ((2, 3, 5, 6), (3, 1, 3, 3), 1, 1, 1, 3),
    "depthwise stride 2 dilation 2": ((2, 3, 7, 6), (3, 1, 3, 3), 2, 2, 2, 3),
    "depthwise multiplier 2": ((2, 2, 5, 5), (4, 1, 3, 3), (1, 2), 1, 1, 2),
    "1x1 below 4x4 (im2col path)": ((2, 4, 3, 5), (3, 4, 1, 1), 1, 0, 1, 1),
    "1x1 groups 2 below 4x4": ((2, 4, 3, 3), (6, 2, 1, 1), 1, 0, 1, 2),
    "pointwise 1x1 (weight grad via copies)": ((2, 4, 4, 5), (3, 4, 1, 1), 1, 0, 1, 1),
    "pointwise 1x1 groups 2 (batched weight grad)": ((2, 4, 9, 8), (6, 2, 1, 1), 1, 0, 1, 2),
    "pointwise 1x1 more inputs than outputs (batched weight grad, input first)": ((2, 10, 8, 9), (4, 5, 1, 1), 1, 0, 1, 2),
    "pointwise 1x1 batch 1 dilation 2": ((1, 3, 8, 8), (5, 3, 1, 1), 1, 0, 2, 1),
    "1x1 stride 2": ((1, 3, 5, 5), (2, 3, 1, 1), 2, 0, 1, 1),
    "batch 1 non-square kernel no pad": ((1, 2, 4, 6), (2, 2, 2, 3), 1, 0, 1, 1),
}


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("name", list(CASES))
def test_conv2d_matches_naive_loops(name):
    xs, ws, stride, padding, dilation, groups = CASES[name]
    x, w, b = _t(xs), _t(ws), _t(ws[0])
    got = F.conv2d(x, w, b, stride, padding, dilation, groups).numpy()
    want = naive_conv2d(x.data, w.data, b.data, _pair(stride), _pair(padding), _pair(dilation), groups)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_conv2d_gradcheck_full(name):
    xs, ws, stride, padding, dilation, groups = CASES[name]
    x, w, b = _t(xs), _t(ws), _t(ws[0])
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b])


@pytest.mark.parametrize(
    "xs, ws, stride, padding, dilation, groups",
    [
        ((4, 8, 12, 10), (16, 8, 3, 3), 2, 1, 1, 1),
        ((3, 8, 11, 9), (8, 2, 3, 5), 1, (1, 2), 1, 4),
        ((3, 8, 10, 10), (16, 1, 3, 3), 1, 2, 2, 8),
        ((2, 16, 8, 8), (24, 16, 1, 1), 1, 0, 1, 1),
    ],
)
def test_conv2d_gradcheck_random_directions(xs, ws, stride, padding, dilation, groups):
    x, w, b = _t(xs), _t(ws), _t(ws[0])
    fn = lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    assert gradcheck(fn, [x, w, b], mode="random", n_directions=4)


def test_conv2d_without_bias_and_frozen_inputs():
    x, w = _t((1, 2, 4, 3)), _t((2, 2, 3, 3))
    assert gradcheck(lambda x, w: F.conv2d(x, w, padding=1), [x, w])
    frozen_x = _t((2, 2, 5, 5), requires_grad=False)
    y = F.conv2d(frozen_x, w, padding=1)
    y.sum().backward()
    assert w.grad is not None and frozen_x.grad is None


@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_conv_equals_separate_convs(groups):
    x, w, b = _t((2, 8, 6, 6)), _t((12, 8 // groups, 3, 3)), _t(12)
    y = F.conv2d(x, w, b, padding=1, groups=groups)
    cin, cout = 8 // groups, 12 // groups
    parts = [
        F.conv2d(x[:, g * cin : (g + 1) * cin], w[g * cout : (g + 1) * cout], b[g * cout : (g + 1) * cout], padding=1)
        for g in range(groups)
    ]
    np.testing.assert_allclose(y.numpy(), np.concatenate([p.numpy() for p in parts], axis=1), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    grads = [t.grad.numpy().copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.zero_grad()
    tinycnn.cat(parts, dim=1).backward(g)
    for got, t in zip(grads, (x, w, b)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_float32_stays_float32():
    x, w = _t((2, 3, 6, 6), np.float32), _t((4, 3, 3, 3), np.float32)
    y = F.conv2d(x, w, padding=1)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32


# ---------------------------------------------------------------- nn.Conv2d


def test_module_shapes_init_and_repr():
    m = nn.Conv2d(4, 8, (3, 5), stride=2, padding=(1, 2), groups=2)
    assert m.weight.shape == (8, 2, 3, 5) and m.bias.shape == (8,) and m.weight.dtype == np.float32
    bound = 1 / math.sqrt(2 * 3 * 5)  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.weight.numpy()).max() > 0.8 * bound
    assert np.abs(m.bias.numpy()).max() <= bound
    assert m(tinycnn.randn(1, 4, 9, 9)).shape == (1, 8, 5, 5)
    assert repr(m) == "Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), groups=2)"
    no_bias = nn.Conv2d(3, 3, 1, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]


def test_module_gradcheck_float64():
    m = nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=1, groups=2).double()
    x = _t((1, 2, 5, 4))
    assert gradcheck(lambda x, *p: m(x), [x, *m.parameters()])


@pytest.mark.parametrize(
    "make, x_shape, match",
    [
        (lambda: nn.Conv2d(3, 8, 3), (2, 4, 8, 8), r"Conv2d\(3, 8.*expected input with 3 channels.*got 4 channels"),
        (lambda: nn.Conv2d(3, 8, 3), (3, 8, 8), r"Conv2d\(3, 8.*expected a 4-D input.*got shape \(3, 8, 8\)"),
        (lambda: nn.Conv2d(3, 8, 5), (1, 3, 3, 3), r"Conv2d\(3, 8.*kernel size \(5, 5\).*larger than the padded input \(3, 3\)"),
    ],
)
def test_module_bad_input(make, x_shape, match):
    with pytest.raises(ValueError, match=match):
        make()(tinycnn.randn(*x_shape))


def test_module_bad_dtype():
    with pytest.raises(TypeError, match=r"Conv2d\(3, 8.*expected a float32 or float64 input, got dtype int64"):
        nn.Conv2d(3, 8, 3)(Tensor(np.ones((1, 3, 8, 8), dtype=np.int64)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(in_channels=3, out_channels=6, kernel_size=3, groups=2), "in_channels divisible by groups=2, got in_channels=3"),
        (dict(in_channels=4, out_channels=6, kernel_size=3, groups=4), "out_channels divisible by groups=4, got out_channels=6"),
        (dict(in_channels=3, out_channels=6, kernel_size=3, stride=0), r"a positive stride, got \(0, 0\)"),
        (dict(in_channels=3, out_channels=6, kernel_size=3, dilation=(1, -1)), r"a positive dilation, got \(1, -1\)"),
        (dict(in_channels=3, out_channels=6, kernel_size=3, padding=-1), r"a non-negative padding, got \(-1, -1\)"),
    ],
)
def test_module_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match="Conv2d: expected " + match):
        nn.Conv2d(**kwargs)


def test_functional_bad_input():
    x = tinycnn.randn(2, 4, 6, 6)
    with pytest.raises(ValueError, match=r"conv2d: expected input with 6 channels .*groups=2.*got 4 channels"):
        F.conv2d(x, tinycnn.randn(4, 3, 3, 3), groups=2)
    with pytest.raises(TypeError, match="conv2d: input dtype float32 and weight dtype float64 differ"):
        F.conv2d(x, tinycnn.randn(4, 4, 3, 3, dtype=np.float64))
    with pytest.raises(ValueError, match=r"conv2d: expected a bias of shape \(4,\), got \(3,\)"):
        F.conv2d(x, tinycnn.randn(4, 4, 3, 3), tinycnn.randn(3))
    with pytest.raises(ValueError, match=r"conv2d: expected a positive stride, got \(1, 0\)"):
        F.conv2d(x, tinycnn.randn(4, 4, 3, 3), stride=(1, 0))


# ---------------------------------------------------------------- PyTorch oracle


@pytest.mark.torch
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("name", list(CASES))
def test_conv2d_matches_torch(name, dtype, tol):
    torch = pytest.importorskip("torch")
    xs, ws, stride, padding, dilation, groups = CASES[name]
    x, w, b = _t(xs, dtype), _t(ws, dtype), _t(ws[0], dtype)
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(g)
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    ty.backward(torch.tensor(g))
    for ours, theirs in ((y, ty), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad)):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.torch
def test_module_matches_torch_with_copied_weights():
    torch = pytest.importorskip("torch")
    m = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2)
    tm = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2)
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in m.state_dict().items()})
    x = rng.standard_normal((4, 8, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(m(Tensor(x)).numpy(), tm(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("xs, ws, groups, padding, path", [
    ((2, 4, 6, 5), (8, 1, 3, 3), 4, 1, "depthwise"),
    ((2, 4, 5, 5), (6, 4, 1, 1), 1, 0, "pointwise"),   # weight gradient through channels-first copies
    ((3, 4, 8, 9), (6, 2, 1, 1), 2, 0, "pointwise"),   # batched per-image weight gradient
    ((3, 10, 8, 9), (4, 5, 1, 1), 2, 0, "pointwise"),  # the same, the input's channels first (more of them)
    ((2, 4, 3, 3), (6, 4, 1, 1), 1, 0, "im2col"),      # 1x1 on images below 4x4 pixels
    ((3, 4, 5, 17), (5, 4, 3, 3), 1, 1, "direct"),     # 3x3 stride 1
    ((2, 4, 5, 7), (6, 2, 3, 3), 2, 1, "direct"),      # 3x3 stride 1, groups of 2 and 3 channels (padded to 4)
    ((2, 8, 5, 7), (8, 4, 3, 3), 2, 1, "direct"),      # 3x3 stride 1, groups of 4 channels
    ((1, 256, 3, 3), (129, 256, 3, 3), 1, 1, "im2col"),  # 3x3 stride 1, many channels, small images
    ((1, 256, 3, 32), (129, 256, 3, 3), 1, 1, "direct"),  # ... on images 32 wide
])
def test_fast_paths_agree_with_im2col_path(xs, ws, groups, padding, path):
    """The depthwise kernels, the per-image 1x1 GEMMs and the direct 3-wide kernels compute what
    the general im2col path computes."""
    results = []
    for algorithm in ("auto", "im2col"):
        x, w = Tensor(rng_fixed(xs), requires_grad=True), Tensor(rng_fixed(ws), requires_grad=True)
        y = F.conv2d(x, w, padding=padding, groups=groups, algorithm=None if algorithm == "auto" else algorithm)
        assert y._ctx.path == (path if algorithm == "auto" else "im2col")
        y.backward(np.cos(np.arange(y.numpy().size)).reshape(y.shape))
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy()])
    for auto, general in zip(*results):
        np.testing.assert_allclose(auto, general, rtol=1e-12, atol=1e-12)



@pytest.mark.parametrize("kernel, padding", [(1, 0), (3, 1)])
def test_batch_of_one_gradient_survives_later_convolutions(kernel, padding):
    """A gradient that waits in the engine (h feeds two convs) must not live in the
    scratch memory the next convolution's backward reuses (N == 1 made the
    channels-first copy a no-op view)."""
    x = _t((1, 4, 5, 5))
    ws = [_t((4, 4, kernel, kernel)) for _ in range(3)]

    def loss(x, w1, w2, w3):
        h = F.conv2d(x, w1, padding=padding)
        a, b = F.conv2d(h, w2, padding=padding), F.conv2d(F.relu(h) * 1.0, w3, padding=padding)
        return (a * a).sum() + (b * b).sum()

    assert gradcheck(loss, [x, *ws], mode="random", n_directions=3)
