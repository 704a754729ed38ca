"""tinycnn's matrix products: NumPy's OpenBLAS at one thread, each large product split
into blocks over tinycnn's own threads.

Why not let OpenBLAS thread them itself? After every product OpenBLAS's idle threads
keep spinning on the cores for a long while, unless OPENBLAS_THREAD_TIMEOUT was set
before NumPy loaded (which a script importing NumPy first cannot do). In a CNN each
product is followed by Numba kernels, which then find the cores taken. So `gemm` asks
OpenBLAS for one thread, splits the product into one block per tinycnn thread and runs
the blocks side by side. The OpenBLAS setting is restored after each call: the user's own
NumPy products keep theirs.

The blocks run on Numba's pool, the threads of tinycnn's kernels (kernels/blas_pool.py):
run on threads of their own, they would share the cores with Numba's workers, which keep
spinning for a while after each kernel. Products that pool cannot describe (other dtypes,
other strides, another BLAS) run on a Python thread pool instead (NumPy releases the GIL
inside a product).

Axis letters: B batch (broadcast) axes, M rows of a, K the summed axis, N columns of b.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba
import numpy as np

from tinycnn.kernels import blas_pool, reuse

# A product below this many multiply-adds runs on the calling thread alone: handing a
# block to another thread costs tens of microseconds.
SPLIT_MIN_MACS = 1 << 22
_ALIGN = {"rows": 16, "cols": 64}  # block edges on multiples of these (whole SIMD tiles)

# (setter, getter) symbol names: NumPy >= 2 wheels (scipy-openblas, 64-bit ints), older wheels
_OPENBLAS_SYMBOLS = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                     ("openblas_set_num_threads", "openblas_get_num_threads"))


def _openblas():
    """(library, (set, get) C functions) of NumPy's bundled OpenBLAS, or (None, None) (another BLAS)."""
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in sorted(glob.glob(libs)):
        lib = ctypes.CDLL(path)
        for setter, getter in _OPENBLAS_SYMBOLS:
            if hasattr(lib, setter) and hasattr(lib, getter):
                getattr(lib, getter).restype = ctypes.c_int
                return lib, (getattr(lib, setter), getattr(lib, getter))
    return None, None


_LIBRARY, OPENBLAS = _openblas()
_POOL_RUNNERS = blas_pool.load(_LIBRARY)  # {dtype: runner of a product's blocks on Numba's pool}


def openblas_threads() -> int | None:
    """OpenBLAS's own thread count (what the user's NumPy products use), None for another BLAS."""
    return None if OPENBLAS is None else int(OPENBLAS[1]())


# ---------------------------------------------------------------- one OpenBLAS thread, while inside

_lock = threading.Lock()
_inside = 0      # calls of `gemm` running now (from any thread)
_saved = None    # OpenBLAS's thread count before the first of them


@contextlib.contextmanager
def _openblas_single_threaded():
    """OpenBLAS at one thread while any `gemm` runs; its own setting restored after the last.
    (openblas_set_num_threads_local is process-wide in OpenBLAS's pthreads build, so a
    counted global setting is the honest form.)"""
    global _inside, _saved
    with _lock:
        if _inside == 0 and OPENBLAS is not None:
            _saved = OPENBLAS[1]()
            if _saved != 1:
                OPENBLAS[0](1)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and OPENBLAS is not None and _saved != 1:
                OPENBLAS[0](_saved)


# ---------------------------------------------------------------- the split product

_pool = None


def _workers() -> ThreadPoolExecutor:
    """The threads that run all blocks but the first (the caller runs that one)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, numba.config.NUMBA_NUM_THREADS - 1), thread_name_prefix="tinycnn-gemm")
    return _pool


def _after_fork_in_child():
    """A forked child has none of the parent's threads: a fresh pool and lock on first use,
    and no blocks on Numba's pool (GNU OpenMP waits forever for the parent's workers)."""
    global _pool, _lock, _inside
    _pool, _lock, _inside = None, threading.Lock(), 0
    _POOL_RUNNERS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _edges(size: int, parts: int, align: int) -> list:
    """parts + 1 block edges over range(size), inner ones on multiples of `align`."""
    step = -(-size // parts)
    step = -(-step // align) * align if size >= parts * align else step
    return [min(i * step, size) for i in range(parts)] + [size]


def _blocks(a, b, out, parts: int) -> list:
    """[(a_block, b_block, out_block)]: the product cut along its largest axis.
    a: (B..., M, K), b: (B..., K, N), out: (B..., M, N)."""
    M, N = out.shape[-2:]
    if out.ndim > 2 and out.shape[0] >= parts:                  # whole matrices of the batch
        edges = _edges(out.shape[0], parts, 1)

        def take(x, lo, hi):  # x's own batch axis, unless it is broadcast along it
            return x[lo:hi] if x.ndim == out.ndim and x.shape[0] == out.shape[0] else x
        return [(take(a, lo, hi), take(b, lo, hi), out[lo:hi]) for lo, hi in zip(edges, edges[1:])]
    if N >= M:                                                  # columns of b and out
        edges = _edges(N, parts, _ALIGN["cols"])
        return [(a, b[..., lo:hi], out[..., lo:hi]) for lo, hi in zip(edges, edges[1:])]
    edges = _edges(M, parts, _ALIGN["rows"])                    # rows of a and out
    return [(a[..., lo:hi, :], b, out[..., lo:hi, :]) for lo, hi in zip(edges, edges[1:])]


def _on_numba_pool(a, b, out, blocks) -> bool:
    """Run the blocks on Numba's pool if `blas_pool` can describe them; whether it did."""
    runner = _POOL_RUNNERS.get(out.dtype)
    if runner is None or a.dtype != out.dtype or b.dtype != out.dtype:
        return False
    table = blas_pool.plan(blocks)
    if table is None:
        return False
    runner(*table)
    return True


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.matmul(a, b, out=out) for a: (B..., M, K), b: (B..., K, N) (2-D or more, batch
    axes broadcast), computed on tinycnn's threads with OpenBLAS at one thread each."""
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"gemm: expected a (..., M, K) and b (..., K, N), got shapes {a.shape} and {b.shape}")
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    if out is None:
        out = reuse.empty(shape, np.result_type(a, b))
    elif out.shape != shape:
        raise ValueError(f"gemm: out should have shape {shape} for a {a.shape} @ b {b.shape}, got {out.shape}")
    macs = out.size * a.shape[-1]
    parts = min(numba.get_num_threads(), max(1, macs // SPLIT_MIN_MACS))
    with _openblas_single_threaded():
        if parts == 1:
            return np.matmul(a, b, out=out)
        blocks = [block for block in _blocks(a, b, out, parts) if block[2].size]
        if _on_numba_pool(a, b, out, blocks):
            return out
        pending = [_workers().submit(np.matmul, *block[:2], out=block[2]) for block in blocks[1:]]
        try:
            np.matmul(*blocks[0][:2], out=blocks[0][2])
        finally:
            wait(pending)  # every block done before OpenBLAS gets its setting back
        for job in pending:
            job.result()
    return out
