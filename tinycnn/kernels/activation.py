"""Fused elementwise kernels for the activations of the CNNs (ReLU, ReLU6, SiLU).

NumPy evaluates `grad * ((x > 0) & (x < 6))` as four passes over memory
with three temporaries; on the (N, 6C, H, W) maps of MobileNetV2 that costs
more than the depthwise convolution next to it. Each kernel here is one
pass, shared out among the threads (NumPy's np.maximum and np.clip run on
one, and slower than a copy). Arrays in, arrays out (any shape,
C-contiguous; float32 or float64).

Every kernel has its readable NumPy reference beside it (`*_reference`);
tests check that they agree.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.epilogue import clamp
from tinycnn.kernels.exp32 import ONE, exp_nonpositive
from tinycnn.kernels.launch import launch

# ---------------------------------------------------------------- NumPy references


def relu_backward_reference(grad, out):
    """d relu: grad where out > 0, else 0 (out = relu(x): out > 0 exactly where x > 0)."""
    return grad * (out > 0)


def relu6_backward_reference(grad, out):
    """d relu6: grad where 0 < out < 6, else 0 (out = relu6(x), the same mask as 0 < x < 6)."""
    return grad * ((out > 0) & (out < 6))


def silu_reference(x):
    """x * sigmoid(x)."""
    return x / (1 + np.exp(-x))


def silu_backward_reference(grad, x):
    """d silu = s (1 + x (1 - s)), s = sigmoid(x)."""
    s = 1 / (1 + np.exp(-x))
    return grad * (s * (1 + x * (1 - s)))


# ---------------------------------------------------------------- Numba kernels


@njit(cache=True, parallel=True)
def _clamp(x, out, lo, hi):
    for i in prange(x.size):
        out[i] = clamp(x[i], lo, hi)


@njit(cache=True, parallel=True)
def _relu_backward(g, out, dx):
    for i in prange(g.size):
        dx[i] = g[i] if out[i] > 0 else 0


@njit(cache=True, parallel=True)
def _relu6_backward(g, out, dx):
    for i in prange(g.size):
        dx[i] = g[i] if out[i] > 0 and out[i] < 6 else 0


@njit(cache=True, inline="always")
def _sigmoid(v, one):
    """1 / (1 + e^-v) without overflow: e^-|v| never exceeds 1. `one` is 1 in
    v's dtype, so that float32 stays float32 (a Python 1 would promote to float64)."""
    e = np.exp(-abs(v))
    return one / (one + e) if v >= 0 else e / (one + e)


@njit(cache=True, inline="always")
def _sigmoid32(v):
    """float32 sigmoid with the vectorisable exp of kernels/exp32.py (no branch: a select)."""
    e = exp_nonpositive(-abs(v))
    s = ONE / (ONE + e)
    return s if v >= 0 else e * s


@njit(cache=True, parallel=True)
def _silu(x, out, one):
    for i in prange(x.size):
        out[i] = x[i] * _sigmoid(x[i], one)


@njit(cache=True, parallel=True)
def _silu_backward(g, x, dx, one):
    for i in prange(x.size):
        s = _sigmoid(x[i], one)
        dx[i] = g[i] * (s * (one + x[i] * (one - s)))


# float32 versions: exp32 lets the loops vectorise, where libm's expf is called one value at a
# time (docs/PERFORMANCE.md). float64 keeps np.exp (gradient checks, references).
@njit(cache=True, parallel=True, fastmath={"contract"})
def _silu32(x, out):
    for i in prange(x.size):
        out[i] = x[i] * _sigmoid32(x[i])


@njit(cache=True, parallel=True, fastmath={"contract"})
def _silu32_backward(g, x, dx):
    for i in prange(x.size):
        s = _sigmoid32(x[i])
        dx[i] = g[i] * (s * (ONE + x[i] * (ONE - s)))


def _flat(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def _unary(kernel, x, *constants):
    out = reuse.empty(x.shape, x.dtype)
    launch(kernel, x.size, _flat(x, x.dtype), out.reshape(-1), *constants)
    return out


def _binary(kernel, grad, saved, *constants):
    """dx = kernel(grad, saved), both flattened to saved's dtype; dx has saved's shape."""
    dx = reuse.empty(saved.shape, saved.dtype)
    launch(kernel, saved.size, _flat(grad, saved.dtype), _flat(saved, saved.dtype), dx.reshape(-1), *constants)
    return dx


def clamped(x, lo, hi):
    """x: any shape, float32 or float64 -> x clamped to [lo, hi] (ReLU: [0, inf], ReLU6: [0, 6]),
    as np.clip: a NaN stays NaN."""
    return _unary(_clamp, x, x.dtype.type(lo), x.dtype.type(hi))


def relu_backward(grad, out):
    """grad, out: same shape -> grad where out > 0, else 0."""
    return _binary(_relu_backward, grad, out)


def relu6_backward(grad, out):
    """grad, out: same shape -> grad where 0 < out < 6, else 0."""
    return _binary(_relu6_backward, grad, out)


def silu(x):
    """x: any shape -> x * sigmoid(x)."""
    if x.dtype == np.float32:
        return _unary(_silu32, x)
    return _unary(_silu, x, x.dtype.type(1))


def silu_backward(grad, x):
    """grad, x: same shape -> grad * s (1 + x (1 - s)), s = sigmoid(x)."""
    if x.dtype == np.float32:
        return _binary(_silu32_backward, grad, x)
    return _binary(_silu_backward, grad, x, x.dtype.type(1))
