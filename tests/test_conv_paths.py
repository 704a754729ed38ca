"""Choosing the convolution path: F.conv_algorithm names the path a layer takes
and why, a forced algorithm runs that path (or says why it cannot), and each
path object's forward and gradients match the general im2col reference.

Split from test_conv.py (the convolution against naive loops, gradient checks, PyTorch).
"""
import numpy as np
import pytest

from tinycnn import Tensor, nn
from tinycnn.nn import functional as F

from conv_helpers import random_tensor as _t, rng_fixed


# ---------------------------------------------------------------- choosing the path

# (x shape, weight shape, stride, padding, groups, the path auto takes, a reason word)
PATH_CASES = [
    ((2, 4, 6, 5), (8, 1, 3, 3), 1, 1, 4, "depthwise", "one input channel per group"),
    ((2, 4, 5, 5), (6, 4, 1, 1), 1, 0, 1, "pointwise", "1x1"),
    ((3, 4, 5, 17), (5, 4, 3, 3), 1, 1, 1, "direct", "3-wide"),
    ((2, 4, 3, 3), (6, 4, 1, 1), 1, 0, 1, "im2col", "below 16 pixels"),
    ((2, 4, 7, 7), (6, 4, 3, 3), 2, 1, 1, "im2col", "outputs 4 wide"),
    ((2, 4, 16, 17), (6, 4, 3, 3), 2, 1, 1, "direct", "3x3 at stride 2"),
    ((2, 4, 16, 16), (6, 4, 3, 3), 3, 1, 1, "im2col", "stride (3, 3)"),
    ((1, 256, 3, 3), (129, 256, 3, 3), 1, 1, 1, "im2col", "im2col's GEMM is faster"),
    ((2, 4, 5, 7), (6, 2, 3, 3), 1, 1, 2, "direct", "few channels per group"),
]


@pytest.mark.parametrize("xs, ws, stride, padding, groups, path, why", PATH_CASES)
def test_conv_algorithm_names_the_path_forward_takes_and_why(xs, ws, stride, padding, groups, path, why):
    name, reason = F.conv_algorithm(xs, ws, stride=stride, padding=padding, groups=groups)
    assert name == path and why in reason
    y = F.conv2d(_t(xs), _t(ws), stride=stride, padding=padding, groups=groups)
    assert y._ctx.path == path


def test_layer_algorithm_matches_conv_algorithm():
    layer = nn.Conv2d(16, 16, 3, padding=1)
    assert layer.algorithm((8, 16, 32, 32)) == F.conv_algorithm((8, 16, 32, 32), (16, 16, 3, 3), padding=1)
    assert layer.algorithm((8, 16, 32, 32))[0] == "direct"
    assert nn.Conv2d(16, 16, 1).algorithm((8, 16, 2, 2))[0] == "im2col"


@pytest.mark.parametrize("algorithm, xs, ws, groups", [
    ("pointwise", (2, 4, 3, 3), (6, 4, 1, 1), 1),      # auto: im2col (small images)
    ("direct", (1, 256, 3, 3), (129, 256, 3, 3), 1),   # auto: im2col (many channels)
    ("depthwise", (2, 1, 5, 5), (2, 1, 3, 3), 1),      # auto: direct (one channel)
    ("im2col", (3, 4, 5, 17), (5, 4, 3, 3), 1),        # auto: direct
])
def test_forced_algorithm_runs_that_path_and_matches_the_reference(algorithm, xs, ws, groups):
    padding = ws[2] // 2
    results = []
    for forced in (algorithm, "im2col"):
        x, w, b = (Tensor(rng_fixed(s), requires_grad=True) for s in (xs, ws, ws[:1]))
        y = F.conv2d(x, w, b, padding=padding, groups=groups, algorithm=forced)
        assert y._ctx.path == forced
        y.backward(np.cos(np.arange(y.numpy().size)).reshape(y.shape))
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm, xs, ws, kwargs, match", [
    ("direct", (1, 2, 6, 6), (2, 2, 5, 5), dict(padding=2), r"algorithm='direct' cannot take this layer: a 5x5 kernel"),
    ("direct", (1, 2, 6, 6), (2, 2, 3, 3), dict(stride=3), r"algorithm='direct' cannot.*stride \(3, 3\).*not 1, nor 2"),
    ("direct", (1, 2, 6, 6), (2, 2, 3, 3), dict(padding=3), r"algorithm='direct' cannot.*padding \(3, 3\) beyond the kernel's reach"),
    ("pointwise", (1, 2, 6, 6), (2, 2, 3, 3), {}, r"algorithm='pointwise' cannot.*a 3x3 kernel, not 1x1"),
    ("pointwise", (1, 2, 6, 6), (2, 2, 1, 1), dict(padding=1), r"algorithm='pointwise' cannot.*padding \(1, 1\), not 0"),
    ("depthwise", (1, 4, 6, 6), (4, 2, 3, 3), dict(groups=2), r"algorithm='depthwise' cannot.*groups=2 differs from the 4 input"),
    ("winograd", (1, 2, 6, 6), (2, 2, 3, 3), {}, r"expected algorithm None or one of .*'direct'.*got 'winograd'"),
])
def test_forced_algorithm_that_cannot_take_the_layer(algorithm, xs, ws, kwargs, match):
    with pytest.raises(ValueError, match="conv2d: " + match):
        F.conv2d(_t(xs), _t(ws), algorithm=algorithm, **kwargs)


def test_conv_algorithm_bad_input():
    with pytest.raises(ValueError, match=r"conv_algorithm: expected a 4-D input \(N, C, H, W\), got shape \(3, 8, 8\)"):
        F.conv_algorithm((3, 8, 8), (8, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv_algorithm: expected input with 6 channels.*got 4"):
        F.conv_algorithm((1, 4, 8, 8), (8, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv_algorithm: expected a 4-D weight shape"):
        F.conv_algorithm((1, 4, 8, 8), (8, 4, 3))
    with pytest.raises(ValueError, match=r"conv_algorithm: expected a positive stride, got \(0, 0\)"):
        F.conv_algorithm((1, 4, 8, 8), (8, 4, 3, 3), stride=0)
    with pytest.raises(ValueError, match=r"conv_algorithm: kernel size \(5, 5\).*larger than the padded input \(3, 3\)"):
        F.conv_algorithm((1, 4, 3, 3), (8, 4, 5, 5))


@pytest.mark.parametrize("algorithm, xs, ws, padding, groups", [
    ("pointwise", (2, 4, 5, 5), (6, 2, 1, 1), 0, 2),
    ("depthwise", (2, 3, 7, 6), (6, 1, 3, 3), 1, 3),
    ("direct", (3, 8, 5, 9), (8, 4, 3, 3), 1, 2),
])
def test_path_objects_forward_and_each_gradient_match_the_reference(algorithm, xs, ws, padding, groups):
    """Each fast path's forward, grad_input and grad_weight, called on their own, against the
    im2col reference (Conv2dFunction) on the same layer."""
    from tinycnn.ops.conv import FAST_PATHS, conv_geometry

    path, geometry = FAST_PATHS[algorithm], conv_geometry(ws[2:], 1, padding, 1)
    x, w = Tensor(rng_fixed(xs), requires_grad=True), Tensor(rng_fixed(ws), requires_grad=True)
    y = F.conv2d(x, w, padding=padding, groups=groups, algorithm="im2col")
    g = np.cos(np.arange(y.numpy().size)).reshape(y.shape)
    y.backward(g)
    np.testing.assert_allclose(path.forward(x.numpy(), w.numpy(), geometry, groups), y.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(path.grad_input(g, w.numpy(), xs, geometry, groups), x.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(path.grad_weight(g, x.numpy(), geometry, groups), w.grad.numpy(), rtol=1e-12, atol=1e-12)
