"""The end of a convolution on the eval fast path: its bias added and its output clamped to
the range of the activation fused into it (ReLU: [0, inf], ReLU6: [0, 6]) before anything
reads it, so that neither costs a pass of its own. `clamp` and `passes` (the clamp's gradient
mask) serve the batch norm kernels' fused activation too.

The direct kernels do both in the pass that writes their output (`store` in their copy-out);
the other paths hand their fresh output to `epilogue`: one pass, in place.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels.launch import launch


@njit(inline="always")
def clamp(v, lo, hi):
    """v clamped to [lo, hi]; a NaN stays NaN (as in np.maximum and PyTorch's relu)."""
    if v < lo:
        v = lo
    if v > hi:
        v = hi
    return v


@njit(inline="always")
def passes(v, lo, hi, open_top):
    """Whether the clamp to [lo, hi] passes a gradient at its output v: lo < v < hi, or lo < v
    alone when open_top (hi is inf: ReLU's derivative at inf is 1, ReLU6's at 6 is 0). The
    kernels multiply the gradient by it rather than branch, which keeps their loops vectorised;
    so a NaN or inf gradient the clamp blocks stays NaN, where a branch would give 0."""
    return (lo < v) & ((v < hi) | open_top)


@njit(inline="always", fastmath={"contract"})
def store(src, dst, b, lo, hi):
    """dst = src + b, clamped to [lo, hi]. dst may be src."""
    for j in range(dst.size):
        dst[j] = clamp(src[j] + b, lo, hi)


@njit(cache=True, parallel=True, fastmath={"contract"})
def _epilogue(planes, bias, lo, hi):
    """planes: (N, C, H*W), in place; bias: (C,)."""
    C = planes.shape[1]
    for task in prange(planes.shape[0] * C):
        plane = planes[task // C, task % C]
        store(plane, plane, bias[task % C], lo, hi)


def store_args(bias, clamp, channels, dtype):
    """(bias, lo, hi) as the kernels take them: zeros for no bias, [-inf, inf] for no clamp."""
    b = np.zeros(channels, dtype) if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    lo, hi = (-np.inf, np.inf) if clamp is None else clamp
    return b, dtype.type(lo), dtype.type(hi)


def epilogue(out, bias=None, clamp=None):
    """out (N, C, H, W), a fresh contiguous array: + bias (C,), then clamped to
    clamp = (lo, hi), in place, in one pass."""
    if bias is None and clamp is None:
        return out
    N, C = out.shape[:2]
    launch(_epilogue, out.size, out.reshape(N, C, -1), *store_args(bias, clamp, C, out.dtype))
    return out
