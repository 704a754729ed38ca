"""How many CPU threads tinycnn computes with.

Two thread pools do tinycnn's work: NumPy's BLAS (every matmul, hence every
convolution's GEMM) and Numba's (the im2col, depthwise, BatchNorm and
pooling kernels). `set_num_threads(n)` sets both; `get_num_threads()`
reads them back. The environment variable TINYCNN_NUM_THREADS is applied
when tinycnn is imported:

    TINYCNN_NUM_THREADS=2 python train.py
    >>> tinycnn.set_num_threads(2)

The BLAS is NumPy's bundled OpenBLAS (the pip wheels): its thread count is
set through its C API with ctypes, no extra dependency. Another BLAS (MKL,
Accelerate) is left alone and reported as None by `get_num_threads`.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numba
import numpy as np

ENV_VAR = "TINYCNN_NUM_THREADS"


# (setter, getter) symbol names: NumPy >= 2 wheels (scipy-openblas, 64-bit ints), older wheels
_OPENBLAS_SYMBOLS = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                     ("openblas_set_num_threads", "openblas_get_num_threads"))


def _openblas():
    """(set, get) C functions of NumPy's bundled OpenBLAS, or None."""
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in sorted(glob.glob(libs)):
        lib = ctypes.CDLL(path)
        for setter, getter in _OPENBLAS_SYMBOLS:
            if hasattr(lib, setter) and hasattr(lib, getter):
                getattr(lib, getter).restype = ctypes.c_int
                return getattr(lib, setter), getattr(lib, getter)
    return None


_BLAS = _openblas()


def set_num_threads(n: int):
    """Use n threads in NumPy's BLAS and in the Numba kernels (n >= 1; Numba
    is capped at the NUMBA_NUM_THREADS it started with, the core count by default)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
    if _BLAS is not None:
        _BLAS[0](ctypes.c_int(int(n)))


def get_num_threads() -> dict:
    """{"blas": threads of NumPy's OpenBLAS (None for another BLAS), "numba": Numba's}."""
    return {"blas": None if _BLAS is None else int(_BLAS[1]()), "numba": numba.get_num_threads()}


def apply_env():
    """Apply TINYCNN_NUM_THREADS if it is set (called by `import tinycnn`)."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{ENV_VAR}: expected a positive integer, got {value!r}") from None
    set_num_threads(n)
