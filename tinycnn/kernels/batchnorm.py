"""Batch normalisation kernels, on a channel-major view x: (N, C, M).

M is the number of positions per channel and sample (H * W for images, L for
sequences, 1 for vectors). Each Numba kernel streams through memory in
storage order twice (a per-channel reduction, then an elementwise write);
the NumPy references below each kernel compute the same thing the readable
way, and the tests compare them.

Statistics are accumulated in float64 around a sample value of each channel
(the "shifted data" algorithm), so float32 inputs with a large mean lose no
precision in the variance.

The kernels are serial: they are memory-bound, and `parallel=True` gained
nothing. Their large outputs are allocated by NumPy in the public wrappers,
not inside Numba: NumPy asks the kernel for transparent huge pages, Numba's
allocator does not, and the page faults of a fresh array would cost more
than the kernel. The figures: docs/PERFORMANCE.md.
"""
import numpy as np
from numba import njit

from tinycnn.kernels import reuse

# reassociation lets LLVM vectorise the reductions; NaN/inf semantics are kept
_FASTMATH = {"reassoc", "contract"}


@njit(cache=True, fastmath=_FASTMATH)
def _channel_sums(x, y, x_shift, y_shift):
    """Per channel c, over the (N, M) axes, in float64:
        sum(y - y_shift)  and  sum((y - y_shift) * (x - x_shift)).
    x, y: (N, C, M); x_shift, y_shift: (C,) float64.
    Forward: y = x, shifts = a sample value (sums of x and of x^2, shifted);
    backward: y = grad, y_shift = 0, x_shift = mean (sum(grad), sum(grad * (x - mean))).
    """
    n_batch, n_chan, m = x.shape
    s = np.zeros(n_chan, np.float64)
    sxy = np.zeros(n_chan, np.float64)
    for n in range(n_batch):
        for c in range(n_chan):
            kx, ky = x_shift[c], y_shift[c]
            a = 0.0
            b = 0.0
            for i in range(m):
                d = np.float64(y[n, c, i]) - ky
                a += d
                b += d * (np.float64(x[n, c, i]) - kx)
            s[c] += a
            sxy[c] += b
    return s, sxy


@njit(cache=True)
def _affine3(x, y, scale_x, scale_y, offset, out):
    """out[n, c, i] = x[n, c, i] * scale_x[c] + y[n, c, i] * scale_y[c] + offset[c]."""
    n_batch, n_chan, m = x.shape
    for n in range(n_batch):
        for c in range(n_chan):
            a, b, o = scale_x[c], scale_y[c], offset[c]
            for i in range(m):
                out[n, c, i] = x[n, c, i] * a + y[n, c, i] * b + o


@njit(cache=True)
def _affine(x, scale, offset, out):
    """out[n, c, i] = x[n, c, i] * scale[c] + offset[c]."""
    n_batch, n_chan, m = x.shape
    for n in range(n_batch):
        for c in range(n_chan):
            a, b = scale[c], offset[c]
            for i in range(m):
                out[n, c, i] = x[n, c, i] * a + b


# ---------------------------------------------------------------- training forward


def batch_norm_train_forward(x, weight, bias, eps):
    """Normalise with the batch statistics of each channel.

    x: (N, C, M) contiguous; weight, bias: (C,).
    Returns out (N, C, M) of x's dtype, mean (C,) and biased var (C,) in float64.
    """
    count = x.shape[0] * x.shape[2]
    shift = x[0, :, 0].astype(np.float64)  # (C,) a sample value per channel
    s, ss = _channel_sums(x, x, shift, shift)  # sum(x - shift), sum((x - shift)^2)
    mu = s / count
    mean = shift + mu
    var = np.maximum(ss / count - mu * mu, 0.0)
    scale = weight / np.sqrt(var + eps)  # out = x * scale + offset
    offset = bias - mean * scale
    out = reuse.empty_like(x)
    _affine(x, scale.astype(x.dtype), offset.astype(x.dtype), out)
    return out, mean, var


def batch_norm_train_forward_reference(x, weight, bias, eps):
    """NumPy reference of `batch_norm_train_forward`."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)  # (C,)
    var = x.var(axis=(0, 2), dtype=np.float64)  # (C,) biased
    x_hat = (x - mean[:, None]) / np.sqrt(var[:, None] + eps)  # (N, C, M)
    out = weight[:, None] * x_hat + bias[:, None]
    return out.astype(x.dtype), mean, var


# ---------------------------------------------------------------- affine (eval) forward


def batch_norm_affine(x, scale, offset):
    """out = x * scale + offset per channel; x: (N, C, M), scale, offset: (C,)
    of x's dtype. The eval-mode forward."""
    out = reuse.empty_like(x)
    _affine(x, scale, offset, out)
    return out


def batch_norm_affine_reference(x, scale, offset):
    """NumPy reference of `batch_norm_affine`."""
    return x * scale[:, None] + offset[:, None]


def batch_norm_eval_backward(x, grad, mean, inv_std, scale):
    """The backward of the eval-mode affine map out = x * scale + offset, with
    scale = weight * inv_std and offset = bias - mean * scale (fixed statistics).

    x, grad: (N, C, M); mean, inv_std: (C,) float64; scale: (C,) of x's dtype.
    Returns dx = grad * scale (N, C, M), dweight = sum(grad * x_hat) and
    dbias = sum(grad) (C,) float64, with x_hat = (x - mean) * inv_std.
    """
    dbias, sum_g_xc = _channel_sums(x, grad, mean.astype(np.float64), np.zeros(x.shape[1]))
    dx = reuse.empty_like(x)
    _affine(grad, scale, np.zeros_like(scale), dx)
    return dx, sum_g_xc * inv_std, dbias


def batch_norm_eval_backward_reference(x, grad, mean, inv_std, scale):
    """NumPy reference of `batch_norm_eval_backward`."""
    x_hat = (x - mean[:, None]) * inv_std[:, None]  # (N, C, M)
    dweight = (grad * x_hat).sum(axis=(0, 2), dtype=np.float64)  # (C,)
    return grad * scale[:, None], dweight, grad.sum(axis=(0, 2), dtype=np.float64)


# ---------------------------------------------------------------- training backward


def batch_norm_backward(x, grad, mean, inv_std, weight):
    """The fused backward of training-mode batch norm.

    x, grad: (N, C, M); mean, inv_std: (C,) float64; weight: (C,).
    With x_hat = (x - mean) * inv_std and P = N * M values per channel:
        dbeta  = sum(grad)
        dgamma = sum(grad * x_hat)
        dx     = weight * inv_std / P * (P * grad - dbeta - x_hat * dgamma)
    which is affine in (x, grad) per channel: dx = a * x + k * grad + b.
    Returns dx (N, C, M) of x's dtype, dgamma and dbeta (C,) float64.
    """
    count = x.shape[0] * x.shape[2]
    dbeta, sum_g_xc = _channel_sums(x, grad, mean, np.zeros_like(mean))  # sum(grad), sum(grad * (x - mean))
    dgamma = sum_g_xc * inv_std
    k = weight * inv_std
    a = -k * inv_std * dgamma / count
    b = -k * dbeta / count - a * mean
    dx = reuse.empty_like(x)
    _affine3(x, grad, a.astype(x.dtype), k.astype(x.dtype), b.astype(x.dtype), dx)
    return dx, dgamma, dbeta


def batch_norm_backward_reference(x, grad, mean, inv_std, weight):
    """NumPy reference of `batch_norm_backward`, written as the formula."""
    count = x.shape[0] * x.shape[2]
    x_hat = (x - mean[:, None]) * inv_std[:, None]  # (N, C, M)
    dbeta = grad.sum(axis=(0, 2), dtype=np.float64)  # (C,)
    dgamma = (grad * x_hat).sum(axis=(0, 2), dtype=np.float64)  # (C,)
    dx = (weight * inv_std)[:, None] / count * (count * grad - dbeta[:, None] - x_hat * dgamma[:, None])
    return dx.astype(x.dtype), dgamma, dbeta
