"""Each sample of a batch times its own factor: DropPath's mask product, forward and backward;
and each output channel of a convolution's weight times a BatchNorm's scale (`fold_batch_norm`).

NumPy's broadcast product x * mask[:, None, None, None] runs on one thread; here the samples
are shared out among the threads, one pass, its output in reused memory.
Arrays in, arrays out; the `_reference` functions are the readable versions, and the tests compare.
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


def fold_batch_norm_reference(weight, bias, mean, var, eps, gamma, beta):
    """(W', b') of the convolution (weight (C, ...), bias (C,)) followed by an eval-mode
    BatchNorm (mean, var, gamma, beta: (C,)), in float64, returned in the weight's dtype:
    s = gamma / sqrt(var + eps), W' = W * s[c], b' = (bias - mean) * s + beta."""
    s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)                # (C,)
    folded_w = weight.astype(np.float64) * s.reshape(-1, *([1] * (weight.ndim - 1)))  # (C, ...)
    folded_b = (bias.astype(np.float64) - mean.astype(np.float64)) * s + beta.astype(np.float64)
    return folded_w.astype(weight.dtype), folded_b.astype(weight.dtype)


@njit(cache=True)
def _fold(w, bias, mean, var, eps, gamma, beta, w_out, b_out):
    """The reference's arithmetic one channel at a time, each step in float64 (no fused
    multiply-add): the same bits, without float64 copies of the weight. w, w_out: (C, M)."""
    for c in range(w.shape[0]):
        s = np.float64(gamma[c]) / np.sqrt(np.float64(var[c]) + eps)
        for i in range(w.shape[1]):
            w_out[c, i] = np.float64(w[c, i]) * s
        b_out[c] = (np.float64(bias[c]) - np.float64(mean[c])) * s + np.float64(beta[c])


def fold_batch_norm(weight, bias, mean, var, eps, gamma, beta):
    """`fold_batch_norm_reference` (all arrays, none None) in one serial pass: folding runs at
    every deferred convolution's call, on weights small enough for one thread."""
    c = weight.shape[0]
    w_out, b_out = np.empty(weight.shape, weight.dtype), np.empty(c, weight.dtype)
    _fold(np.ascontiguousarray(weight).reshape(c, -1), bias, mean, var, float(eps), gamma, beta,
          w_out.reshape(c, -1), b_out)
    return w_out, b_out
