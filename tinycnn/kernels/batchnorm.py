"""Batch normalisation kernels, on a channel-major view x: (N, C, M).

M is the number of positions per channel and sample (H * W for images, L for
sequences, 1 for vectors). The Numba kernels make two passes per channel (a
reduction, then an elementwise write) while the channel's data is still in
cache; the NumPy references below each kernel compute the same thing in the
readable way and the tests compare them.

Statistics are accumulated in float64 around a sample value of the channel
(the "shifted data" algorithm), so float32 inputs with a large mean lose no
precision in the variance.

The kernels are serial: they are memory-bound, and `parallel=True` measured
several times slower on the shared 2-core machine (thread start-up and
contention cost more than the second core gains).
"""
import numpy as np
from numba import njit

# reassociation lets LLVM vectorise the reductions; NaN/inf semantics are kept
_FASTMATH = {"reassoc", "contract"}


# ---------------------------------------------------------------- training forward


@njit(cache=True, fastmath=_FASTMATH)
def batch_norm_train_forward(x, weight, bias, eps):
    """Normalise with the batch statistics of each channel.

    x: (N, C, M); weight, bias: (C,) of x's dtype.
    Returns out (N, C, M), mean (C,) and biased var (C,) in float64.
    """
    n_batch, n_chan, m = x.shape
    count = n_batch * m
    out = np.empty_like(x)
    mean = np.empty(n_chan, np.float64)
    var = np.empty(n_chan, np.float64)
    for c in range(n_chan):
        shift = np.float64(x[0, c, 0])
        s = 0.0
        ss = 0.0
        for n in range(n_batch):
            for i in range(m):
                d = np.float64(x[n, c, i]) - shift
                s += d
                ss += d * d
        mu = s / count
        mean[c] = shift + mu
        var[c] = max(ss / count - mu * mu, 0.0)
        scale = weight[c] / np.sqrt(var[c] + eps)  # out = x * scale + offset
        a = x.dtype.type(scale)
        b = x.dtype.type(bias[c] - mean[c] * scale)
        for n in range(n_batch):
            for i in range(m):
                out[n, c, i] = x[n, c, i] * a + b
    return out, mean, var


def batch_norm_train_forward_reference(x, weight, bias, eps):
    """NumPy reference of `batch_norm_train_forward`."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)  # (C,)
    var = x.var(axis=(0, 2), dtype=np.float64)  # (C,) biased
    x_hat = (x - mean[:, None]) / np.sqrt(var[:, None] + eps)  # (N, C, M)
    out = weight[:, None] * x_hat + bias[:, None]
    return out.astype(x.dtype), mean, var


# ---------------------------------------------------------------- affine (eval) forward


@njit(cache=True)
def batch_norm_affine(x, scale, offset):
    """out[n, c, i] = x[n, c, i] * scale[c] + offset[c].

    x: (N, C, M); scale, offset: (C,) of x's dtype. The eval-mode forward.
    """
    n_batch, n_chan, m = x.shape
    out = np.empty_like(x)
    for nc in range(n_batch * n_chan):
        n, c = nc // n_chan, nc % n_chan
        a, b = scale[c], offset[c]
        for i in range(m):
            out[n, c, i] = x[n, c, i] * a + b
    return out


def batch_norm_affine_reference(x, scale, offset):
    """NumPy reference of `batch_norm_affine`."""
    return x * scale[:, None] + offset[:, None]


# ---------------------------------------------------------------- training backward


@njit(cache=True, fastmath=_FASTMATH)
def batch_norm_backward(x, grad, mean, inv_std, weight):
    """The fused backward of training-mode batch norm.

    x, grad: (N, C, M); mean, inv_std: (C,) float64; weight: (C,).
    With x_hat = (x - mean) * inv_std and P = N * M values per channel:
        dbeta  = sum(grad)
        dgamma = sum(grad * x_hat)
        dx     = weight * inv_std / P * (P * grad - dbeta - x_hat * dgamma)
    which is affine in (grad, x): dx = k * grad + a * x + b per channel.
    Returns dx (N, C, M) of x's dtype, dgamma and dbeta (C,) float64.
    """
    n_batch, n_chan, m = x.shape
    count = n_batch * m
    dx = np.empty_like(x)
    dgamma = np.empty(n_chan, np.float64)
    dbeta = np.empty(n_chan, np.float64)
    for c in range(n_chan):
        mu = mean[c]
        s = 0.0
        sx = 0.0
        for n in range(n_batch):
            for i in range(m):
                g = np.float64(grad[n, c, i])
                s += g
                sx += g * (np.float64(x[n, c, i]) - mu)
        dbeta[c] = s
        dgamma[c] = sx * inv_std[c]
        k = weight[c] * inv_std[c]
        a = -k * inv_std[c] * dgamma[c] / count
        b = -k * s / count - a * mu
        kt, at, bt = x.dtype.type(k), x.dtype.type(a), x.dtype.type(b)
        for n in range(n_batch):
            for i in range(m):
                dx[n, c, i] = kt * grad[n, c, i] + at * x[n, c, i] + bt
    return dx, dgamma, dbeta


def batch_norm_backward_reference(x, grad, mean, inv_std, weight):
    """NumPy reference of `batch_norm_backward`, written as the formula."""
    count = x.shape[0] * x.shape[2]
    x_hat = (x - mean[:, None]) * inv_std[:, None]  # (N, C, M)
    dbeta = grad.sum(axis=(0, 2), dtype=np.float64)  # (C,)
    dgamma = (grad * x_hat).sum(axis=(0, 2), dtype=np.float64)  # (C,)
    dx = (weight * inv_std)[:, None] / count * (count * grad - dbeta[:, None] - x_hat * dgamma[:, None])
    return dx.astype(x.dtype), dgamma, dbeta
