"""How many CPU threads tinycnn computes with, as `torch.set_num_threads` /
`torch.get_num_threads`.

tinycnn's work runs on one set of n threads, Numba's pool: the Numba kernels (im2col,
depthwise, BatchNorm, pooling), and the matrix products split into n blocks, each an
OpenBLAS call at one thread made from one of the pool's workers (`tinycnn.kernels.blas`).
n defaults to the number of cores; `set_num_threads(n)` changes it, and so does the
environment variable TINYCNN_NUM_THREADS when tinycnn is imported:

    TINYCNN_NUM_THREADS=1 python train.py
    >>> tinycnn.set_num_threads(1)

Neither touches the thread count of the user's own NumPy products.
"""
from __future__ import annotations

import os

import numba
import numpy as np

ENV_VAR = "TINYCNN_NUM_THREADS"


def set_num_threads(n: int):
    """Compute on n threads (n >= 1; capped at the NUMBA_NUM_THREADS Numba started with,
    the core count by default)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))


def get_num_threads() -> int:
    """The number of threads tinycnn computes with."""
    return numba.get_num_threads()


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
