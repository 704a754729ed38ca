"""Max and average pooling kernels on planes x: (P, H, W), P = N * C.

Window (i, j) of the output covers input rows i * sh - ph + a * dh (a < kh)
and columns j * sw - pw + b * dw (b < kw); positions outside the input are
padding (-inf for max, 0 for average). Each public kernel allocates its
output with NumPy (which asks for transparent huge pages; arrays allocated
inside Numba page-fault more, docs/PERFORMANCE.md) and runs a Numba loop `_...`
on it. Each has its readable NumPy reference below it (the tests compare
them); the references work a whole (P, oh, ow) slice at a time, one kernel
offset (a, b) per step.
"""
import numpy as np
from numba import njit

# ---------------------------------------------------------------- max pooling


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """x: (P, H, W) -> out (P, oh, ow) and argmax (P, oh, ow) int32.

    argmax holds the flat index y * W + x of the window's maximum in its plane:
    the first maximum in row-major window order (ties go to the earliest, as
    in PyTorch). Unlike PyTorch, a NaN is not propagated (it never compares
    greater).
    """
    xp = _padded(x, -np.inf, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)  # (P, Hp, Wp)
    out = np.empty((x.shape[0], oh, ow), x.dtype)
    argmax = np.empty((x.shape[0], oh, ow), np.int32)
    _max_pool2d_padded(xp, kh, kw, sh, sw, ph, pw, dh, dw, x.shape[2], out, argmax)
    return out, argmax


@njit(cache=True)
def _max_pool2d_padded(xp, kh, kw, sh, sw, ph, pw, dh, dw, width, out, argmax):
    """The max-pool loop on xp: (P, Hp, Wp), the input padded with -inf, so the
    inner loop has no bounds checks and its comparison compiles to a
    branch-free select, faster than checking bounds. Writes out and
    argmax (P, oh, ow); argmax in unpadded coordinates (input width `width`)."""
    n_planes, oh, ow = out.shape
    for p in range(n_planes):
        for i in range(oh):
            for j in range(ow):
                best = -np.inf
                best_y, best_x = i * sh, j * sw  # padded coordinates
                for a in range(kh):
                    y = i * sh + a * dh
                    for b in range(kw):
                        xx = j * sw + b * dw
                        v = xp[p, y, xx]
                        if v > best:
                            best = v
                            best_y, best_x = y, xx
                if best == -np.inf:  # an all -inf window: its first position inside the input
                    while best_y < ph:
                        best_y += dh
                    while best_x < pw:
                        best_x += dw
                out[p, i, j] = best
                argmax[p, i, j] = (best_y - ph) * width + (best_x - pw)


def max_pool2d_backward(grad, argmax, height, width):
    """grad, argmax: (P, oh, ow) -> dx (P, H, W): each window's gradient goes
    to its argmax (summed where windows overlap)."""
    dx = np.zeros((grad.shape[0], height * width), grad.dtype)
    _max_pool2d_scatter(grad, argmax, dx)
    return dx.reshape(grad.shape[0], height, width)


@njit(cache=True)
def _max_pool2d_scatter(grad, argmax, dx):
    """dx[p, argmax[p, i, j]] += grad[p, i, j]; dx: (P, H * W)."""
    n_planes, oh, ow = grad.shape
    for p in range(n_planes):
        for i in range(oh):
            for j in range(ow):
                dx[p, argmax[p, i, j]] += grad[p, i, j]


def _window_slices(a, b, kh_step, kw_step, sh, sw, oh, ow):
    """The (row, col) slices picking element (a, b) of every window from a padded plane."""
    rows = slice(a * kh_step, a * kh_step + (oh - 1) * sh + 1, sh)
    cols = slice(b * kw_step, b * kw_step + (ow - 1) * sw + 1, sw)
    return rows, cols


def _padded(x, value, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """x: (P, H, W) padded with `value` by (ph, pw) on every side, and more at
    the bottom/right when ceil_mode windows reach further."""
    n_planes, height, width = x.shape
    hp = max(height + 2 * ph, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(width + 2 * pw, (ow - 1) * sw + (kw - 1) * dw + 1)
    xp = np.full((n_planes, hp, wp), value, dtype=x.dtype)
    xp[:, ph : ph + height, pw : pw + width] = x
    return xp


def max_pool2d_forward_reference(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """NumPy reference of `max_pool2d_forward` (for finite inputs)."""
    n_planes, height, width = x.shape
    xp = _padded(x, -np.inf, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)  # (P, Hp, Wp)
    flat_index = _padded(np.arange(height * width).reshape(1, height, width), -1, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)[0]
    out = np.full((n_planes, oh, ow), -np.inf, dtype=x.dtype)
    argmax = np.zeros((n_planes, oh, ow), dtype=np.int32)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window_slices(a, b, dh, dw, sh, sw, oh, ow)
            candidate = xp[:, rows, cols]  # (P, oh, ow): element (a, b) of every window
            better = candidate > out  # strict: a tie keeps the earlier element
            out = np.where(better, candidate, out)
            argmax = np.where(better, flat_index[rows, cols], argmax)
    return out, argmax


def max_pool2d_backward_reference(grad, argmax, height, width):
    """NumPy reference of `max_pool2d_backward`."""
    n_planes = grad.shape[0]
    dx = np.zeros((n_planes, height * width), grad.dtype)
    planes = np.arange(n_planes)[:, None]  # (P, 1)
    np.add.at(dx, (planes, argmax.reshape(n_planes, -1)), grad.reshape(n_planes, -1))
    return dx.reshape(n_planes, height, width)


# ---------------------------------------------------------------- average pooling


def avg_pool2d_divisors(height, width, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, divisor_override):
    """(oh, ow) array of what each window's sum is divided by (PyTorch's rule):
    divisor_override if > 0, else the window's size clipped to the padded input
    (count_include_pad) or to the input itself. Computed per axis."""
    if divisor_override > 0:
        return np.full((oh, ow), float(divisor_override))

    def sizes(n_out, size, k, s, pad):
        start = np.arange(n_out) * s - pad  # (n_out,)
        end = np.minimum(start + k, size + pad)
        if count_include_pad:
            return end - start
        return np.minimum(end, size) - np.maximum(start, 0)

    return np.outer(sizes(oh, height, kh, sh, ph), sizes(ow, width, kw, sw, pw)).astype(np.float64)


def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, inv_divisor):
    """x: (P, H, W) -> (P, oh, ow): each window's sum (padding counts as 0)
    times inv_divisor (oh, ow) = 1 / avg_pool2d_divisors(...)."""
    out = np.empty((x.shape[0], *inv_divisor.shape), x.dtype)
    _avg_pool2d_sum(x, kh, kw, sh, sw, ph, pw, inv_divisor, out)
    return out


@njit(cache=True)
def _avg_pool2d_sum(x, kh, kw, sh, sw, ph, pw, inv_divisor, out):
    n_planes, height, width = x.shape
    oh, ow = inv_divisor.shape
    for p in range(n_planes):
        for i in range(oh):
            y0 = max(i * sh - ph, 0)
            y1 = min(i * sh - ph + kh, height)
            for j in range(ow):
                x0 = max(j * sw - pw, 0)
                x1 = min(j * sw - pw + kw, width)
                s = 0.0
                for y in range(y0, y1):
                    for xx in range(x0, x1):
                        s += x[p, y, xx]
                out[p, i, j] = s * inv_divisor[i, j]


def avg_pool2d_backward(grad, height, width, kh, kw, sh, sw, ph, pw, inv_divisor):
    """grad: (P, oh, ow) -> dx (P, H, W): each window spreads
    grad * inv_divisor over its input positions."""
    dx = np.zeros((grad.shape[0], height, width), grad.dtype)
    _avg_pool2d_spread(grad, kh, kw, sh, sw, ph, pw, inv_divisor, dx)
    return dx


@njit(cache=True)
def _avg_pool2d_spread(grad, kh, kw, sh, sw, ph, pw, inv_divisor, dx):
    n_planes, oh, ow = grad.shape
    height, width = dx.shape[1], dx.shape[2]
    for p in range(n_planes):
        for i in range(oh):
            y0 = max(i * sh - ph, 0)
            y1 = min(i * sh - ph + kh, height)
            for j in range(ow):
                x0 = max(j * sw - pw, 0)
                x1 = min(j * sw - pw + kw, width)
                g = grad[p, i, j] * inv_divisor[i, j]
                for y in range(y0, y1):
                    for xx in range(x0, x1):
                        dx[p, y, xx] += g


def avg_pool2d_forward_reference(x, kh, kw, sh, sw, ph, pw, inv_divisor):
    """NumPy reference of `avg_pool2d_forward`."""
    n_planes, height, width = x.shape
    oh, ow = inv_divisor.shape
    xp = _padded(x, 0, kh, kw, sh, sw, ph, pw, 1, 1, oh, ow)  # (P, Hp, Wp)
    total = np.zeros((n_planes, oh, ow), dtype=np.float64)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window_slices(a, b, 1, 1, sh, sw, oh, ow)
            total += xp[:, rows, cols]  # element (a, b) of every window
    return (total * inv_divisor).astype(x.dtype)


def avg_pool2d_backward_reference(grad, height, width, kh, kw, sh, sw, ph, pw, inv_divisor):
    """NumPy reference of `avg_pool2d_backward`."""
    n_planes, oh, ow = grad.shape
    g = grad * inv_divisor  # (P, oh, ow)
    dxp = _padded(np.zeros((n_planes, height, width), grad.dtype), 0, kh, kw, sh, sw, ph, pw, 1, 1, oh, ow)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window_slices(a, b, 1, 1, sh, sw, oh, ow)
            dxp[:, rows, cols] += g
    return dxp[:, ph : ph + height, pw : pw + width]


# ---------------------------------------------------------------- global average pooling


def global_avg_pool2d(x):
    """x: (P, H, W) -> (P,), the mean of each plane (float64 accumulation).
    Faster than NumPy's mean for the small planes of a network's head
    (e.g. 4x4), where NumPy pays per-row overhead (docs/PERFORMANCE.md)."""
    out = np.empty(x.shape[0], x.dtype)
    _plane_means(x.reshape(x.shape[0], -1), out)
    return out


@njit(cache=True, fastmath={"reassoc", "contract"})
def _plane_means(x2, out):
    n_planes, m = x2.shape
    for p in range(n_planes):
        s = 0.0
        for i in range(m):
            s += x2[p, i]
        out[p] = s / m


def global_avg_pool2d_reference(x):
    """NumPy reference of `global_avg_pool2d`."""
    return x.mean(axis=(1, 2))

