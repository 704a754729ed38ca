"""The sum of two arrays of one shape in one parallel pass: the residual join of every ResNet.

NumPy's np.add runs on one thread, and a ResNet adds a whole feature map at each of its blocks.
Arrays in, arrays out; the sum is NumPy's, bit for bit (one addition per element).
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.launch import launch


@njit(cache=True, parallel=True)
def _add(a, b, out):
    for i in prange(a.size):
        out[i] = a[i] + b[i]


def add(a, b):
    """a + b (NumPy's broadcasting and type promotion), in reused memory; one parallel pass when
    both are C-contiguous float arrays of one shape and dtype."""
    same = isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
    if not (same and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous and b.flags.c_contiguous):
        return reuse.apply(np.add, a, b)
    out = reuse.empty(a.shape, a.dtype)
    launch(_add, a.size, a.reshape(-1), b.reshape(-1), out.reshape(-1))
    return out
