"""The sum of two arrays of one shape in one parallel pass: the residual join of every ResNet.

NumPy's np.add runs on one thread, and a ResNet adds a whole feature map at each of its blocks.
On the eval fast path the same pass also clamps the sum to the range of the ReLU (or ReLU6)
that alone reads it, which then costs no pass of its own (nn/utils/fusion.py).
Arrays in, arrays out; the sum is NumPy's, bit for bit (one addition per element).
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.epilogue import clamp as _clamp
from tinycnn.kernels.launch import launch


@njit(cache=True, parallel=True)
def _add(a, b, out, lo, hi):
    for i in prange(a.size):
        out[i] = _clamp(a[i] + b[i], lo, hi)


def add(a, b, clamp=None):
    """a + b (NumPy's broadcasting and type promotion), in reused memory; one parallel pass when
    both are C-contiguous float arrays of one shape and dtype. clamp = (lo, hi): the sum clamped
    to [lo, hi] in the same pass (a NaN stays NaN)."""
    same = isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
    if not (same and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous and b.flags.c_contiguous):
        out = reuse.apply(np.add, a, b)
        return out if clamp is None else np.clip(out, *clamp, out=out)
    out = reuse.empty(a.shape, a.dtype)
    lo, hi = (-np.inf, np.inf) if clamp is None else clamp
    launch(_add, a.size, a.reshape(-1), b.reshape(-1), out.reshape(-1), a.dtype.type(lo), a.dtype.type(hi))
    return out
