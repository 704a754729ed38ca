"""The blocks of a split matrix product, run on Numba's thread pool.

tinycnn's kernels run on Numba's OpenMP pool, whose idle workers keep spinning for a while
after each kernel. Products run on other threads would share the cores with them; so the
blocks of a product run on the same pool: one `prange` over the blocks, each block's 2-D
products a call of OpenBLAS's cblas_?gemm (NumPy's bundled OpenBLAS, 64-bit integers),
reached through ctypes. Each block is the same OpenBLAS call np.matmul makes for it.

A product is described as rows of a table, one row per 2-D product:
    (transa, transb, M, N, K, lda, ldb, ldc, address of a, of b, of out)
with CBLAS's row-major convention; `block_starts` says which rows each block owns.
`plan` returns None for what it does not describe (strides that are not one of the two
BLAS layouts, an empty product, a matrix-vector product, which np.matmul gives to gemv):
the caller then uses np.matmul, as for other dtypes and another BLAS.
"""
from __future__ import annotations

import ctypes

import numpy as np
from numba import njit, prange

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (float32 symbol, float64 symbol) in NumPy >= 2's scipy-openblas wheels
_SYMBOLS = ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_")


def _cblas(lib, name: str, real):
    """The C function `name` of lib, or None. Addresses are passed as 64-bit integers
    (the x86-64 and AArch64 calling conventions pass pointers and int64 alike)."""
    if lib is None or not hasattr(lib, name):
        return None
    f = getattr(lib, name)
    i, n = ctypes.c_int, ctypes.c_int64
    f.argtypes = [i, i, i, n, n, n, real, n, n, n, n, real, n, n]
    f.restype = None
    return f


def load(lib):
    """{dtype: the njit runner of its blocks} for NumPy's OpenBLAS library `lib` (a CDLL or None)."""
    runners = {}
    for dtype, name, real in zip((np.float32, np.float64), _SYMBOLS, (ctypes.c_float, ctypes.c_double)):
        f = _cblas(lib, name, real)
        if f is not None and ctypes.sizeof(ctypes.c_void_p) == 8:
            runners[np.dtype(dtype)] = _make_runner(f, dtype)
    return runners


def _make_runner(gemm_c, dtype):
    one, zero = dtype(1.0), dtype(0.0)

    @njit(parallel=True)
    def run(table, block_starts):
        """table: (rows, 11) int64 as described above; block_starts: (blocks + 1,) int64."""
        for j in prange(block_starts.shape[0] - 1):
            for r in range(block_starts[j], block_starts[j + 1]):
                t = table[r]
                gemm_c(_ROW_MAJOR, t[0], t[1], t[2], t[3], t[4], one, t[8], t[5], t[9], t[6], zero, t[10], t[7])
    return run


def _operand(x: np.ndarray, rows: int, cols: int):
    """(trans, leading dimension) of a 2-D operand as CBLAS reads it, or None."""
    item = x.itemsize
    s_r, s_c = x.strides[-2] // item, x.strides[-1] // item
    if x.strides[-1] % item or x.strides[-2] % item:
        return None
    if s_c == 1 or cols == 1:
        ld = s_r if rows > 1 else cols
        return (_NO_TRANS, ld) if ld >= max(1, cols) else None
    if s_r == 1 or rows == 1:
        ld = s_c if cols > 1 else rows
        return (_TRANS, ld) if ld >= max(1, rows) else None
    return None


def _rows(a, b, out):
    """The table rows of one block (a: (B..., M, K), b: (B..., K, N), out: (B..., M, N)), or None."""
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    la, lb = _operand(a, M, K), _operand(b, K, N)
    if la is None or lb is None or (out.strides[-1] != out.itemsize and N > 1):
        return None
    ldc = out.strides[-2] // out.itemsize if M > 1 else N
    if ldc < max(1, N) or out.strides[-2] % out.itemsize:
        return None
    batch = out.shape[:-2]
    addresses = [_addresses(np.broadcast_to(x, batch + x.shape[-2:]), batch) for x in (a, b, out)]
    rows = np.empty((addresses[0].size, 11), np.int64)
    rows[:, :8] = (la[0], lb[0], M, N, K, la[1], lb[1], ldc)
    rows[:, 8], rows[:, 9], rows[:, 10] = addresses
    return rows


def _addresses(x: np.ndarray, batch: tuple) -> np.ndarray:
    """(prod(batch),) int64: the address of each matrix x[index], the batch axes in C order
    (strides may be 0 or negative)."""
    offsets = np.zeros(batch, np.int64)
    for axis, (n, stride) in enumerate(zip(batch, x.strides)):
        offsets += (np.arange(n, dtype=np.int64) * stride).reshape((n,) + (1,) * (len(batch) - axis - 1))
    return x.ctypes.data + offsets.reshape(-1)


def plan(blocks: list):
    """(table, block_starts) for [(a, b, out)] blocks of one dtype, or None."""
    tables = []
    for a, b, out in blocks:
        if min(a.shape[-2:] + b.shape[-1:]) == 0 or min(out.shape[-2:]) == 1:  # (np.matmul: gemv)
            return None
        rows = _rows(a, b, out)
        if rows is None:
            return None
        tables.append(rows)
    starts = np.concatenate(([0], np.cumsum([len(t) for t in tables]))).astype(np.int64)
    return np.concatenate(tables), starts
