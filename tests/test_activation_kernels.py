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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES + [(64, 32, 32, 16)])  # the last: large enough to run on every thread
def test_clamp_is_numpys_relu_and_relu6_bit_for_bit(shape, dtype):
    x = _values(shape, dtype)
    np.testing.assert_array_equal(A.clamped(x, 0.0, np.inf), np.maximum(x, 0))
    np.testing.assert_array_equal(A.clamped(x, 0.0, 6.0), np.clip(x, 0, 6))
    assert A.clamped(x, 0.0, 6.0).dtype == dtype


def test_clamp_keeps_nan_and_saturates_inf():
    x = np.array([np.nan, np.inf, -np.inf, -0.5, 3.0, 7.0], np.float32)
    np.testing.assert_array_equal(A.clamped(x, 0.0, np.inf), [np.nan, np.inf, 0, 0, 3, 7])
    np.testing.assert_array_equal(A.clamped(x, 0.0, 6.0), [np.nan, 6, 0, 0, 3, 6])
    np.testing.assert_array_equal(A.clamped(x[::2], 0.0, 6.0), [np.nan, 0, 3])  # a strided view


def test_add_kernel_is_numpys_sum_and_falls_back_for_broadcasting():
    from tinycnn.kernels.add import add
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        a, b = (rng.standard_normal((64, 16, 32, 32)).astype(dtype) for _ in range(2))
        np.testing.assert_array_equal(add(a, b), a + b)
    a = rng.standard_normal((4, 3, 5)).astype(np.float32)
    for b in (a[0], a[:, ::2].copy().repeat(2, axis=1)[:, :3], np.float32(2.5), a.astype(np.float64), a[:, ::-1]):
        np.testing.assert_array_equal(add(a, b), a + b)
        assert add(a, b).dtype == (a + b).dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_kernel_clamps_the_sum_as_np_clip(dtype):
    """The eval fast path's residual join: the sum and its ReLU (ReLU6) in one pass."""
    from tinycnn.kernels.add import add
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((8, 16, 9, 7)).astype(dtype) * 5 for _ in range(2))
    a.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    for lo, hi in [(0.0, np.inf), (0.0, 6.0)]:
        with np.errstate(invalid="ignore"):
            want = np.clip(a + b, lo, hi)
        np.testing.assert_array_equal(add(a, b, (lo, hi)), want)
        np.testing.assert_array_equal(add(a, b[0], (lo, hi)), np.clip(a + b[0], lo, hi))  # broadcast: NumPy's
    assert np.isnan(add(a, b, (0.0, 6.0)).flat[0])


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


def test_float32_exp_is_accurate_to_two_ulps():
    """kernels/exp32.py's vectorisable exp against float64 np.exp, on 10^6 points of [-87, 0]
    (and the clamp below -87)."""
    from numba import njit

    from tinycnn.kernels.exp32 import exp_nonpositive

    @njit
    def exp_all(t, out):
        for i in range(t.size):
            out[i] = exp_nonpositive(t[i])

    t = np.concatenate([-np.linspace(0, 87, 1_000_001), [-1e-30, -87.5, -1e4]]).astype(np.float32)
    got = np.empty_like(t)
    exp_all(t, got)
    want = np.exp(t.astype(np.float64))
    ok = t >= -87
    assert got.dtype == np.float32
    assert np.max(np.abs(got[ok] - want[ok]) / want[ok]) < 2 * np.finfo(np.float32).eps
    assert np.all(got[~ok] == np.float32(np.exp(-87.0)))


def test_float32_silu_matches_float64_over_its_range():
    x = np.linspace(-100, 100, 400_001).astype(np.float32)
    g = np.cos(np.arange(x.size)).astype(np.float32)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(A.silu(x), A.silu_reference(x64), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(A.silu_backward(g, x), A.silu_backward_reference(g.astype(np.float64), x64),
                               rtol=1e-6, atol=1e-6)
