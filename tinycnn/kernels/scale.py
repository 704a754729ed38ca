"""Each sample of a batch times its own factor: DropPath's mask product, forward and backward.

NumPy's broadcast product x * mask[:, None, None, None] runs on one thread; here the samples
are shared out among the threads, one pass, its output in reused memory.
Arrays in, arrays out; `scale_samples_reference` is the readable version, and the tests compare.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.launch import launch


def scale_samples_reference(x, scale):
    """x: (N, ...), scale: (N,) -> x[n] * scale[n] for each sample n."""
    return x * scale.reshape(-1, *([1] * (x.ndim - 1)))


@njit(cache=True, parallel=True)
def _scale_rows(x, scale, out):
    """out[n, i] = x[n, i] * scale[n]; x, out: (N, M), scale: (N,)."""
    for n in prange(x.shape[0]):
        s = scale[n]
        for i in range(x.shape[1]):
            out[n, i] = x[n, i] * s


def scale_samples(x, scale):
    """x: (N, ...), scale: (N,) of x's dtype -> x[n] * scale[n] (x's shape)."""
    out = reuse.empty(x.shape, x.dtype)
    rows = np.ascontiguousarray(x).reshape(x.shape[0], -1)  # (N, M)
    launch(_scale_rows, x.size, rows, np.ascontiguousarray(scale, dtype=x.dtype), out.reshape(x.shape[0], -1))
    return out
