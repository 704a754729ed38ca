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
def _load_first(a):
    return tile.load(a, 0)


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
    with pytest.raises(TypingError, match="contiguous array"):
        _load_first(np.zeros(256, dtype=np.float32)[::2])


_BOTH_KERNELS = """
import sys
import numpy as np
from tinycnn.kernels import register_tile
from tinycnn.kernels.direct_path import Direct
from tinycnn.kernels.geometry import ConvGeometry
rng = np.random.default_rng(0)
outs = {"avx512": np.array(register_tile.AVX512)}
for i, (shape, c_out, stride, dtype) in enumerate([((3, 5, 9, 11), 6, 1, np.float32), ((2, 4, 16, 16), 8, 2, np.float32),
                                                   ((13, 3, 8, 8), 4, 1, np.float32), ((2, 3, 7, 6), 5, 1, np.float64)]):
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((c_out, shape[1], 3, 3)).astype(dtype)
    outs[str(i)] = Direct().forward(x, w, ConvGeometry(3, 3, stride, stride, 1, 1), 1)
np.savez(sys.argv[1], **outs)
"""


@pytest.mark.slow
@pytest.mark.skipif(not tile.AVX512, reason="this CPU has no AVX-512: its kernel is the streaming one, tested throughout")
def test_the_streaming_kernel_without_avx512_gives_the_tiles_bits(tmp_path):
    """Without AVX-512 the direct forward streams its sums through memory (`_accumulate_rows`);
    compiled here for this CPU less AVX-512 (NUMBA_CPU_FEATURES, in a process of its own), it must
    give the bits of the tile kernel this process runs: the same sums, in the same order."""
    import os
    import subprocess
    import sys

    import llvmlite.binding as llvm

    features = ",".join(("-" + f[1:]) if f.startswith("+avx512") else f
                        for f in llvm.get_host_cpu_features().flatten().split(","))
    env = dict(os.environ, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    for path, extra in (("rows.npz", env), ("tiles.npz", dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba2")))):
        subprocess.run([sys.executable, "-c", _BOTH_KERNELS, str(tmp_path / path)], env=extra, check=True)
    rows, tiles = np.load(tmp_path / "rows.npz"), np.load(tmp_path / "tiles.npz")
    assert not rows["avx512"] and tiles["avx512"]
    for key in ("0", "1", "2", "3"):
        np.testing.assert_array_equal(rows[key], tiles[key])
