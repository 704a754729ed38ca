"""Batch normalisation kernels, on a channel-major view x: (N, C, M).

M is the number of positions per channel and sample (H * W for images, L for
sequences, 1 for vectors). Each Numba kernel streams through memory in
storage order twice (a per-channel reduction, then an elementwise write);
the NumPy references below each kernel compute the same thing the readable
way, and the tests compare them.

Statistics are accumulated in float64 around a sample value of each channel
(the "shifted data" algorithm), so float32 inputs with a large mean lose no
precision in the variance.

Every kernel is parallel. The elementwise passes split the samples among the
threads, each output value computed alone; the reductions sum PARTS fixed runs
of samples apart and add the runs' sums in order: the same bits on any thread
count. A serial pass between two parallel convolutions would also let Numba's
idle threads fall asleep, and the next convolution would wait for them to wake.
Large outputs are
allocated by NumPy in the public wrappers, not inside Numba: NumPy asks the
kernel for transparent huge pages, Numba's allocator does not, and the page
faults of a fresh array would cost more than the kernel. The figures: docs/PERFORMANCE.md.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.epilogue import clamp, passes
from tinycnn.kernels.launch import launch

# reassociation lets LLVM vectorise the reductions; NaN/inf semantics are kept
_FASTMATH = {"reassoc", "contract"}
PARTS = 16  # runs of samples the reductions sum apart (fixed: the same bits on any thread count)


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _channel_sums(x, y, x_shift, y_shift, gate=None, lo=0.0, hi=0.0, open_top=False):
    """Per channel c, over the (N, M) axes, in float64:
        sum(y - y_shift)  and  sum((y - y_shift) * (x - x_shift)).
    x, y: (N, C, M); x_shift, y_shift: (C,) float64.
    Forward: y = x, shifts = a sample value (sums of x and of x^2, shifted);
    backward: y = grad, y_shift = 0, x_shift = mean (sum(grad), sum(grad * (x - mean))).
    gate (N, C, M): the output of a fused activation clamping to [lo, hi] (open_top: hi is
    inf); y counts only where the clamp passes a gradient (`epilogue.passes`). None: y counts
    everywhere (Numba compiles the two cases apart).
    The samples are summed in PARTS fixed runs, in parallel, and the runs' sums added in order:
    the same bits on any thread count.
    """
    n_batch, n_chan, m = x.shape
    parts = max(1, min(PARTS, n_batch))  # one (empty) run for an empty batch: zero sums
    s = np.zeros((parts, n_chan), np.float64)  # (parts, C) each run's sums
    sxy = np.zeros((parts, n_chan), np.float64)
    for part in prange(parts):
        for n in range(part * n_batch // parts, (part + 1) * n_batch // parts):
            for c in range(n_chan):
                kx, ky = x_shift[c], y_shift[c]
                a = 0.0
                b = 0.0
                for i in range(m):
                    v = y[n, c, i] if gate is None else y[n, c, i] * passes(gate[n, c, i], lo, hi, open_top)
                    d = np.float64(v) - ky
                    a += d
                    b += d * (np.float64(x[n, c, i]) - kx)
                s[part, c] += a
                sxy[part, c] += b
    return s.sum(axis=0), sxy.sum(axis=0)  # the runs' sums, first to last


@njit(cache=True, parallel=True)
def _affine3(x, y, scale_x, scale_y, offset, out, gate=None, lo=0.0, hi=0.0, open_top=False):
    """out[n, c, i] = x[n, c, i] * scale_x[c] + y[n, c, i] * scale_y[c] + offset[c], with y
    gated as in `_channel_sums`."""
    n_batch, n_chan, m = x.shape
    for n in prange(n_batch):
        for c in range(n_chan):
            a, b, o = scale_x[c], scale_y[c], offset[c]
            for i in range(m):
                v = y[n, c, i] if gate is None else y[n, c, i] * passes(gate[n, c, i], lo, hi, open_top)
                out[n, c, i] = x[n, c, i] * a + v * b + o


@njit(cache=True, parallel=True)
def _affine(x, scale, offset, out, lo, hi):
    """out[n, c, i] = x[n, c, i] * scale[c] + offset[c], clamped to [lo, hi] (a fused
    activation; -inf, inf for none)."""
    n_batch, n_chan, m = x.shape
    for n in prange(n_batch):
        for c in range(n_chan):
            a, b = scale[c], offset[c]
            for i in range(m):
                out[n, c, i] = clamp(x[n, c, i] * a + b, lo, hi)


def _bounds(clamp_range, dtype):
    """(lo, hi) in dtype: the fused activation's range, or (-inf, inf) for none."""
    lo, hi = (-np.inf, np.inf) if clamp_range is None else clamp_range
    return dtype.type(lo), dtype.type(hi)


# ---------------------------------------------------------------- training forward


def batch_norm_train_forward(x, weight, bias, eps, clamp_range=None):
    """Normalise with the batch statistics of each channel.

    x: (N, C, M) contiguous; weight, bias: (C,); clamp_range: (lo, hi) of an activation
    applied in the same pass (ReLU: (0, inf)), or None.
    Returns out (N, C, M) of x's dtype, mean (C,) and biased var (C,) in float64.
    """
    count = x.shape[0] * x.shape[2]
    shift = x[0, :, 0].astype(np.float64)  # (C,) a sample value per channel
    s, ss = launch(_channel_sums, x.size, x, x, shift, shift)  # sum(x - shift), sum((x - shift)^2)
    mu = s / count
    mean = shift + mu
    var = np.maximum(ss / count - mu * mu, 0.0)
    scale = weight / np.sqrt(var + eps)  # out = x * scale + offset
    offset = bias - mean * scale
    out = reuse.empty_like(x)
    launch(_affine, x.size, x, scale.astype(x.dtype), offset.astype(x.dtype), out, *_bounds(clamp_range, x.dtype))
    return out, mean, var


def batch_norm_train_forward_reference(x, weight, bias, eps):
    """NumPy reference of `batch_norm_train_forward`."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)  # (C,)
    var = x.var(axis=(0, 2), dtype=np.float64)  # (C,) biased
    x_hat = (x - mean[:, None]) / np.sqrt(var[:, None] + eps)  # (N, C, M)
    out = weight[:, None] * x_hat + bias[:, None]
    return out.astype(x.dtype), mean, var


# ---------------------------------------------------------------- affine (eval) forward


def batch_norm_affine(x, scale, offset, clamp_range=None):
    """out = x * scale + offset per channel, clamped to clamp_range = (lo, hi) if given;
    x: (N, C, M), scale, offset: (C,) of x's dtype. The eval-mode forward."""
    out = reuse.empty_like(x)
    launch(_affine, x.size, x, scale, offset, out, *_bounds(clamp_range, x.dtype))
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
    dbias, sum_g_xc = launch(_channel_sums, x.size, x, grad, mean.astype(np.float64), np.zeros(x.shape[1]))
    dx = reuse.empty_like(x)
    launch(_affine, x.size, grad, scale, np.zeros_like(scale), dx, *_bounds(None, x.dtype))
    return dx, sum_g_xc * inv_std, dbias


def batch_norm_eval_backward_reference(x, grad, mean, inv_std, scale):
    """NumPy reference of `batch_norm_eval_backward`."""
    x_hat = (x - mean[:, None]) * inv_std[:, None]  # (N, C, M)
    dweight = (grad * x_hat).sum(axis=(0, 2), dtype=np.float64)  # (C,)
    return grad * scale[:, None], dweight, grad.sum(axis=(0, 2), dtype=np.float64)


# ---------------------------------------------------------------- training backward


def batch_norm_backward(x, grad, mean, inv_std, weight, out=None, clamp_range=None):
    """The fused backward of training-mode batch norm.

    x, grad: (N, C, M); mean, inv_std: (C,) float64; weight: (C,). With a fused activation,
    out (N, C, M) is the forward's clamped output and clamp_range its (lo, hi): grad counts
    only where the clamp passes it (the activation's backward, in the same passes).
    With x_hat = (x - mean) * inv_std and P = N * M values per channel:
        dbeta  = sum(grad)
        dgamma = sum(grad * x_hat)
        dx     = weight * inv_std / P * (P * grad - dbeta - x_hat * dgamma)
    which is affine in (x, grad) per channel: dx = a * x + k * grad + b.
    Returns dx (N, C, M) of x's dtype, dgamma and dbeta (C,) float64.
    """
    count = x.shape[0] * x.shape[2]
    gate = (out, *_bounds(clamp_range, x.dtype), clamp_range[1] == np.inf) if clamp_range is not None else ()
    dbeta, sum_g_xc = launch(_channel_sums, x.size, x, grad, mean, np.zeros_like(mean), *gate)  # sum(grad), sum(grad * (x - mean))
    dgamma = sum_g_xc * inv_std
    k = weight * inv_std
    a = -k * inv_std * dgamma / count
    b = -k * dbeta / count - a * mean
    dx = reuse.empty_like(x)
    launch(_affine3, x.size, x, grad, a.astype(x.dtype), k.astype(x.dtype), b.astype(x.dtype), dx, *gate)
    return dx, dgamma, dbeta


def batch_norm_backward_reference(x, grad, mean, inv_std, weight):
    """NumPy reference of `batch_norm_backward`, written as the formula."""
    count = x.shape[0] * x.shape[2]
    x_hat = (x - mean[:, None]) * inv_std[:, None]  # (N, C, M)
    dbeta = grad.sum(axis=(0, 2), dtype=np.float64)  # (C,)
    dgamma = (grad * x_hat).sum(axis=(0, 2), dtype=np.float64)  # (C,)
    dx = (weight * inv_std)[:, None] / count * (count * grad - dbeta[:, None] - x_hat * dgamma[:, None])
    return dx.astype(x.dtype), dgamma, dbeta
