"""Pooling: Numba kernels vs NumPy references, gradient checks, PyTorch as oracle."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import gradcheck, nn
from tinycnn.kernels import pooling as K
from tinycnn.ops.pooling import pool_output_size


def _distinct(*shape, dtype=np.float64, requires_grad=True, seed=0):
    """Values a random permutation of 0..n-1 (scaled): no max-pool ties, so the
    max is differentiable everywhere a finite difference looks."""
    n = int(np.prod(shape))
    data = np.random.default_rng(seed).permutation(n).reshape(shape) / n - 0.5
    return tinycnn.Tensor(data.astype(dtype), requires_grad=requires_grad)


# ---------------------------------------------------------------- kernels vs references

# (kernel, stride, padding, dilation, ceil_mode)
GEOMETRIES = [
    ((3, 3), (2, 2), (1, 1), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 3), (2, 1), (1, 0), (1, 1), True),
    ((3, 2), (1, 2), (1, 1), (2, 1), False),
    ((2, 2), (3, 3), (0, 0), (1, 1), True),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_max_pool_kernels_match_reference(geometry, dtype):
    k, s, p, d, ceil_mode = geometry
    x = _distinct(6, 9, 7, dtype=dtype).data
    oh, ow = (pool_output_size(n, *args, ceil_mode) for n, *args in zip(x.shape[1:], k, s, p, d))
    out, argmax = K.max_pool2d_forward(x, *k, *s, *p, *d, oh, ow)
    ref_out, ref_argmax = K.max_pool2d_forward_reference(x, *k, *s, *p, *d, oh, ow)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(argmax, ref_argmax)
    g = np.random.default_rng(1).normal(size=out.shape).astype(dtype)
    np.testing.assert_allclose(K.max_pool2d_backward(g, argmax, 9, 7), K.max_pool2d_backward_reference(g, argmax, 9, 7))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", [g for g in GEOMETRIES if g[3] == (1, 1)])
@pytest.mark.parametrize("count_include_pad, divisor_override", [(True, 0), (False, 0), (True, 5)])
def test_avg_pool_kernels_match_reference(geometry, dtype, count_include_pad, divisor_override):
    k, s, p, _, ceil_mode = geometry
    x = _distinct(6, 9, 7, dtype=dtype).data
    oh, ow = (pool_output_size(n, kk, ss, pp, 1, ceil_mode) for n, kk, ss, pp in zip(x.shape[1:], k, s, p))
    args = (*k, *s, *p, 1.0 / K.avg_pool2d_divisors(9, 7, *k, *s, *p, oh, ow, count_include_pad, divisor_override))
    out = K.avg_pool2d_forward(x, *args)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, K.avg_pool2d_forward_reference(x, *args), rtol=tol, atol=tol)
    g = np.random.default_rng(1).normal(size=out.shape).astype(dtype)
    np.testing.assert_allclose(
        K.avg_pool2d_backward(g, 9, 7, *args), K.avg_pool2d_backward_reference(g, 9, 7, *args), rtol=tol, atol=tol
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_kernel_matches_reference(dtype):
    x = _distinct(6, 4, 3, dtype=dtype).data
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(K.global_avg_pool2d(x), K.global_avg_pool2d_reference(x), rtol=tol, atol=tol)


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    x = tinycnn.Tensor(np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [3.0, 3.0, 3.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    # windows: (0,0) -> x[0,1]; (0,1) -> x[0,1]; (1,0) -> x[1,0]; (1,1) -> x[1,2]
    np.testing.assert_array_equal(x.grad.data[0, 0], [[0, 2, 0], [1, 0, 1], [0, 0, 0]])


def test_max_pool_padding_counts_as_minus_infinity():
    x = tinycnn.Tensor(-np.ones((1, 1, 2, 2)) - np.arange(4).reshape(1, 1, 2, 2))
    np.testing.assert_array_equal(F.max_pool2d(x, 3, stride=1, padding=1).data, np.full((1, 1, 2, 2), -1.0))


# ---------------------------------------------------------------- gradient checks


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 0), "ceil_mode": True},
        {"kernel_size": 2, "stride": 1, "dilation": 2},
    ],
)
def test_max_pool_gradcheck_full(kwargs):
    assert gradcheck(lambda x: F.max_pool2d(x, **kwargs), [_distinct(1, 2, 5, 4)])


def test_max_pool_gradcheck_random_directions():
    assert gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1), [_distinct(3, 4, 11, 9)], mode="random")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True},
        {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 0), "divisor_override": 4},
    ],
)
def test_avg_pool_gradcheck_full(kwargs):
    assert gradcheck(lambda x: F.avg_pool2d(x, **kwargs), [_distinct(1, 2, 5, 4)])


@pytest.mark.parametrize("output_size", [1, 2, (3, 2), (None, 3)])
def test_adaptive_avg_pool_gradcheck_full(output_size):
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, output_size), [_distinct(2, 2, 5, 4)])


def test_pool_modules_gradcheck_random_directions():
    x = _distinct(2, 3, 10, 7)
    for layer in (nn.AvgPool2d(3, 2, 1), nn.AdaptiveAvgPool2d((3, 4)), nn.AdaptiveAvgPool2d(1)):
        assert gradcheck(layer, [x], mode="random")


# ---------------------------------------------------------------- shapes, dtypes, errors


def test_modules_shapes_and_dtype():
    x = tinycnn.randn(2, 3, 32, 30)
    assert nn.MaxPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 16, 15)
    assert nn.AvgPool2d(2)(x).shape == (2, 3, 16, 15)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d(4)):
        assert layer(x).dtype == np.float32
    np.testing.assert_allclose(F.global_avg_pool2d(x).data[..., 0, 0], x.data.mean(axis=(2, 3)), rtol=1e-6)


def test_bad_arguments():
    x = tinycnn.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match=r"max_pool2d: expected a 4-D input \(N, C, H, W\), got 3-D"):
        F.max_pool2d(tinycnn.randn(2, 5, 5), 2)
    with pytest.raises(ValueError, match="max_pool2d: stride must be positive"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="avg_pool2d: kernel_size must be positive"):
        F.avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        F.avg_pool2d(x, 6)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        nn.MaxPool2d((2, 2, 2))(x)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be positive"):
        F.adaptive_avg_pool2d(x, 0)


# ---------------------------------------------------------------- PyTorch as oracle


def _compare(torch, ours_fn, torch_fn, x_np):
    x = tinycnn.Tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    y, ty = ours_fn(x), torch_fn(tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(2).normal(size=y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


POOL_CASES = [
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1)},
    {"kernel_size": 2},
    {"kernel_size": 2, "stride": 3, "ceil_mode": True},
]


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", POOL_CASES + [{"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}])
def test_max_pool_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    x = _distinct(2, 3, 9, 8).data
    _compare(torch, lambda t: F.max_pool2d(t, **kwargs), lambda t: torch.nn.functional.max_pool2d(t, **kwargs), x)
    _compare(torch, nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), x[:1])


@pytest.mark.torch
def test_max_pool_return_indices_match_torch():
    torch = pytest.importorskip("torch")
    x = _distinct(2, 3, 9, 8).data
    out, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(tinycnn.Tensor(x))
    t_out, t_idx = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(out.data, t_out.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.data, t_idx.numpy())


@pytest.mark.torch
def test_max_pool_ties_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 3, (2, 2, 7, 6)).astype(np.float64)  # many ties
    _compare(torch, nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), x)


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_matches_torch(kwargs, count_include_pad):
    torch = pytest.importorskip("torch")
    kwargs = {**kwargs, "count_include_pad": count_include_pad}
    x = _distinct(2, 3, 9, 8).data
    _compare(torch, lambda t: F.avg_pool2d(t, **kwargs), lambda t: torch.nn.functional.avg_pool2d(t, **kwargs), x)
    _compare(torch, nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), x[:1])


@pytest.mark.torch
def test_avg_pool_divisor_override_matches_torch():
    torch = pytest.importorskip("torch")
    kwargs = {"kernel_size": 3, "stride": 2, "padding": 1, "divisor_override": 7}
    _compare(torch, nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), _distinct(2, 2, 7, 6).data)


@pytest.mark.torch
@pytest.mark.parametrize("output_size", [1, (1, 1), 2, (3, 4), (4, 3), (5, None), (9, 8)])
def test_adaptive_avg_pool_matches_torch(output_size):
    torch = pytest.importorskip("torch")
    x = _distinct(2, 3, 9, 8).data
    _compare(torch, nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size), x)
