"""Constant padding of a batch of images in one parallel pass: the zero channels of a ResNet's
option-A shortcut (`F.pad` of the stride-2 view of its input), and any other `F.pad` of a 4-D
float array.

NumPy's np.pad copies on one thread, and the shortcut's input is a strided view (every other
row and column), so the copy reads twice the bytes it writes. Arrays in, arrays out; the result
is np.pad's, bit for bit (a copy and a fill).
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.launch import launch


@njit(cache=True, parallel=True)
def _pad4(x, out, n0, c0, h0, w0, value):
    """out[n] = value, then x where the padding puts it: x[n - n0] at channels c0.., rows h0..,
    columns w0... x: (N, C, H, W), any strides; out: the padded (N', C', H', W')."""
    N, C, H, W = x.shape
    for n in prange(out.shape[0]):
        out[n] = value
        if n0 <= n < n0 + N:
            out[n, c0 : c0 + C, h0 : h0 + H, w0 : w0 + W] = x[n - n0]


def constant_pad(x, pad_width, value):
    """np.pad(x, pad_width, constant_values=value): pad_width ((before, after), ...) per axis, no
    negative entries. A 4-D float32/float64 array in one parallel pass, in reused memory;
    anything else through np.pad."""
    if x.ndim != 4 or x.dtype not in (np.float32, np.float64):
        return np.pad(x, pad_width, constant_values=value)
    out = reuse.empty(tuple(n + b + a for n, (b, a) in zip(x.shape, pad_width)), x.dtype)
    launch(_pad4, out.size, x, out, *(b for b, _ in pad_width), x.dtype.type(value))
    return out
