"""kernels/pad.py: constant padding in one parallel pass, against np.pad."""
import numpy as np
import pytest

from tinycnn.kernels.pad import constant_pad

rng = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pad_width, step", [
    ((128, 16, 32, 32), ((0, 0), (8, 8), (0, 0), (0, 0)), 2),   # option A shortcut, large: parallel
    ((1, 3, 5, 7), ((0, 0), (0, 2), (1, 0), (2, 3)), 1),          # batch 1, every spatial side, small: serial
    ((3, 2, 4, 6), ((1, 2), (0, 0), (0, 1), (1, 0)), 2),          # padding the batch axis too
    ((4, 5, 9, 3), ((0, 0), (0, 0), (0, 0), (0, 0)), 1),          # no padding: a copy
])
def test_constant_pad_matches_numpy(shape, pad_width, step, dtype):
    """The same array as np.pad, for a strided view (the shortcut's x[:, :, ::2, ::2]) and a
    contiguous input, a nonzero fill value, every axis padded somewhere."""
    x = rng.standard_normal(shape).astype(dtype)[:, :, ::step, ::step]
    out = constant_pad(x, pad_width, 0.25)
    want = np.pad(x, pad_width, constant_values=0.25)
    assert out.dtype == want.dtype and out.shape == want.shape
    np.testing.assert_array_equal(out, want)


def test_constant_pad_other_arrays_go_through_numpy():
    """3-D arrays and integer dtypes: np.pad's result, unchanged."""
    x = rng.integers(0, 9, (2, 3, 4))
    np.testing.assert_array_equal(constant_pad(x, ((0, 1), (2, 0), (1, 1)), 7), np.pad(x, ((0, 1), (2, 0), (1, 1)), constant_values=7))
    y = np.arange(24, dtype=np.int32).reshape(1, 2, 3, 4)
    out = constant_pad(y, ((0, 0), (1, 1), (0, 0), (0, 0)), 0)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.pad(y, ((0, 0), (1, 1), (0, 0), (0, 0))))
