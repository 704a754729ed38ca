"""kernels/register_tile.py: tiles of array entries held in registers (the direct forward's sums)."""
import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from tinycnn.kernels import register_tile as tile
from tinycnn.kernels.direct_layout import VECTOR


@njit
def _axpy_tiles(w, u, y, out):
    """out = w * u + y, tile by tile (sizes whole tiles)."""
    for p in range(0, out.size, tile.lanes(out)):
        tile.store(out, p, tile.fma(w, tile.load(u, p), tile.load(y, p)))


@njit
def _shifted_copy(a, i, out):
    """out[:lanes] = a[i : i + lanes] through a tile; the lane count."""
    tile.store(out, 0, tile.load(a, i))
    return tile.lanes(out)


@njit
def _zeros_into(out):
    tile.store(out, 0, tile.zeros(out))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_tile_holds_tile_bytes_of_its_dtype(dtype):
    a = np.arange(3 * tile.TILE_BYTES, dtype=dtype)
    out = np.full(tile.lanes_of(a.itemsize) + 3, -1, dtype=dtype)
    n = _shifted_copy(a, 5, out)
    assert n == tile.TILE_BYTES // a.itemsize == tile.lanes_of(a.itemsize)
    np.testing.assert_array_equal(out[:n], a[5 : 5 + n])  # an unaligned start
    np.testing.assert_array_equal(out[n:], -1)           # nothing past the tile written


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zeros(dtype):
    out = np.ones(tile.lanes_of(np.dtype(dtype).itemsize), dtype=dtype)
    _zeros_into(out)
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma_against_numpy(dtype):
    rng = np.random.default_rng(0)
    n = 4 * tile.lanes_of(np.dtype(dtype).itemsize)
    u, y = (rng.integers(-1000, 1000, n).astype(dtype) for _ in range(2))  # exact in any order
    out = np.empty(n, dtype=dtype)
    _axpy_tiles(dtype(3), u, y, out)
    np.testing.assert_array_equal(out, 3 * u + y)


def test_fma_rounds_once():
    """(1 + 2^-12)^2 - (1 + 2^-11) is 2^-24 exactly; rounding the product to float32 first gives 0."""
    n = tile.lanes_of(4)
    w = np.float32(1 + 2.0 ** -12)
    u = np.full(n, w, dtype=np.float32)
    y = np.full(n, -(1 + 2.0 ** -11), dtype=np.float32)
    out = np.empty(n, dtype=np.float32)
    _axpy_tiles(w, u, y, out)
    assert np.float32(w * w) + y[0] == 0  # the unfused sum
    np.testing.assert_array_equal(out, np.float32(2.0 ** -24))


def test_the_direct_layout_rounds_to_whole_tiles():
    assert VECTOR % tile.lanes_of(4) == 0 and VECTOR % tile.lanes_of(8) == 0


def test_wrong_arguments_are_typing_errors():
    @njit
    def load_2d(a):
        return tile.load(a, 0)

    @njit
    def mixed(a, b):
        return tile.fma(np.float64(1), tile.load(a, 0), tile.load(b, 0))

    with pytest.raises(TypingError, match="1-D float32 or float64 array"):
        load_2d(np.zeros((4, 64), dtype=np.float32))
    with pytest.raises(TypingError, match="two equal tiles"):
        mixed(np.zeros(64, dtype=np.float32), np.zeros(64, dtype=np.float64))
