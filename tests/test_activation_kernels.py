"""The fused activation kernels (tinycnn.kernels.activation) against their NumPy references."""
import numpy as np
import pytest

from tinycnn.kernels import activation as A

SHAPES = [(), (7,), (3, 5, 4, 2), (2, 33, 17, 9)]


def _values(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 5
    x.flat[: min(x.size, 6)] = [0.0, 6.0, -90.0, 90.0, 1e-3, 5.999][: min(x.size, 6)]  # kinks, saturation
    return np.asarray(x, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_references(shape, dtype):
    x, g = _values(shape, dtype), _values(shape, dtype, seed=1)
    relu, relu6 = np.maximum(x, 0), np.clip(x, 0, 6)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    with np.errstate(over="ignore"):  # the references' exp(-x) overflows to inf at x = -90: harmless
        pairs = [
            (A.relu_backward(g, relu), A.relu_backward_reference(g, relu)),
            (A.relu6_backward(g, relu6), A.relu6_backward_reference(g, relu6)),
            (A.silu(x), A.silu_reference(x)),
            (A.silu_backward(g, x), A.silu_backward_reference(g, x)),
        ]
    for fast, ref in pairs:
        assert fast.dtype == dtype and fast.shape == x.shape
        np.testing.assert_allclose(fast, ref, **tol)


def test_silu_no_overflow_for_huge_inputs():
    x = np.array([-1e4, -100.0, 100.0, 1e4], np.float32)
    with np.errstate(over="raise"):
        out, dx = A.silu(x), A.silu_backward(np.ones_like(x), x)
    assert np.isfinite(out).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(out, [0.0, 0.0, 100.0, 1e4], atol=1e-30)
    np.testing.assert_allclose(dx, [0.0, 0.0, 1.0, 1.0], atol=1e-30)


def test_non_contiguous_inputs():
    x = _values((4, 6, 5), np.float64)[:, ::2]  # a strided view
    g = _values((4, 3, 5), np.float64, seed=2)
    np.testing.assert_allclose(A.silu_backward(g, x), A.silu_backward_reference(g, x), rtol=1e-13)
    out = np.clip(x, 0, 6)
    np.testing.assert_array_equal(A.relu6_backward(g, out), A.relu6_backward_reference(g, out))
