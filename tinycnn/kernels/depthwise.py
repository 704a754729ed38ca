"""Direct depthwise convolution: groups == C_in, C_out = multiplier * C_in.

Each output channel o reads one input channel c = o // multiplier, so im2col
would copy every pixel kh*kw times to feed a matrix product with one row per
group. These kernels slide the kh x kw filter directly instead.

    x:      (N, C, H, W)
    weight: (C_out, kh, kw)          (PyTorch's (C_out, 1, kh, kw) without the 1)
    out:    (N, C_out, Ho, Wo)

    out[n, o, i, j] = sum_{a, b} weight[o, a, b] * x[n, o // m, i*sh + a*dh - ph, j*sw + b*dw - pw]

`depthwise_reference` is the readable NumPy version (one strided slice per
tap); tests compare the kernels with it and with the im2col path.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels.im2col import _valid_range, conv_output_size

_FAST = {"reassoc", "contract"}  # lets LLVM vectorise the sums; no change to NaN/inf handling


def depthwise_reference(x, weight, sh, sw, ph, pw, dh, dw):
    """x: (N, C, H, W), weight: (C_out, kh, kw) -> (N, C_out, Ho, Wo)."""
    N, C, H, W = x.shape
    C_out, kh, kw = weight.shape
    Ho = conv_output_size(H, kh, sh, ph, dh)
    Wo = conv_output_size(W, kw, sw, pw, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))                    # (N, C, H+2ph, W+2pw)
    xp = np.repeat(xp, C_out // C, axis=1)                                   # (N, C_out, ...)
    out = np.zeros((N, C_out, Ho, Wo), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            patch = xp[:, :, a * dh : a * dh + sh * Ho : sh, b * dw : b * dw + sw * Wo : sw]  # (N, C_out, Ho, Wo)
            out += weight[:, a, b][:, None, None] * patch
    return out


@njit(cache=True, parallel=True, fastmath=_FAST)
def _forward(x, weight, out, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    C_out, kh, kw = weight.shape
    m = C_out // C
    Ho, Wo = out.shape[2], out.shape[3]
    for no in prange(N * C_out):  # one output plane per task
        n, o = no // C_out, no % C_out
        c = o // m
        for i in range(Ho):
            for j in range(Wo):
                out[n, o, i, j] = 0
        for a in range(kh):
            y0 = a * dh - ph
            i_lo, i_hi = _valid_range(Ho, H, y0, sh)
            for b in range(kw):
                x0 = b * dw - pw
                j_lo, j_hi = _valid_range(Wo, W, x0, sw)
                w = weight[o, a, b]
                for i in range(i_lo, i_hi):
                    y = i * sh + y0
                    if sw == 1:
                        for j in range(j_lo, j_hi):
                            out[n, o, i, j] += w * x[n, c, y, j + x0]
                    else:
                        for j in range(j_lo, j_hi):
                            out[n, o, i, j] += w * x[n, c, y, j * sw + x0]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _backward_input(grad, weight, gx, sh, sw, ph, pw, dh, dw):
    N, C, H, W = gx.shape
    C_out, kh, kw = weight.shape
    m = C_out // C
    Ho, Wo = grad.shape[2], grad.shape[3]
    for nc in prange(N * C):  # one input plane per task: it gathers from its m output planes
        n, c = nc // C, nc % C
        for y in range(H):
            for xx in range(W):
                gx[n, c, y, xx] = 0
        for o in range(c * m, c * m + m):
            for a in range(kh):
                y0 = a * dh - ph
                i_lo, i_hi = _valid_range(Ho, H, y0, sh)
                for b in range(kw):
                    x0 = b * dw - pw
                    j_lo, j_hi = _valid_range(Wo, W, x0, sw)
                    w = weight[o, a, b]
                    for i in range(i_lo, i_hi):
                        y = i * sh + y0
                        if sw == 1:
                            for j in range(j_lo, j_hi):
                                gx[n, c, y, j + x0] += w * grad[n, o, i, j]
                        else:
                            for j in range(j_lo, j_hi):
                                gx[n, c, y, j * sw + x0] += w * grad[n, o, i, j]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _backward_weight(grad, x, gw, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    C_out, kh, kw = gw.shape
    m = C_out // C
    Ho, Wo = grad.shape[2], grad.shape[3]
    for o in prange(C_out):  # one filter per task: sums over the batch
        c = o // m
        for a in range(kh):
            for b in range(kw):
                gw[o, a, b] = 0
        for n in range(N):
            for a in range(kh):
                y0 = a * dh - ph
                i_lo, i_hi = _valid_range(Ho, H, y0, sh)
                for b in range(kw):
                    x0 = b * dw - pw
                    j_lo, j_hi = _valid_range(Wo, W, x0, sw)
                    acc = gw[o, a, b]  # the running sum, in the weight's dtype
                    for i in range(i_lo, i_hi):
                        y = i * sh + y0
                        if sw == 1:
                            for j in range(j_lo, j_hi):
                                acc += grad[n, o, i, j] * x[n, c, y, j + x0]
                        else:
                            for j in range(j_lo, j_hi):
                                acc += grad[n, o, i, j] * x[n, c, y, j * sw + x0]
                    gw[o, a, b] = acc


def depthwise_forward(x, weight, sh, sw, ph, pw, dh, dw):
    """x: (N, C, H, W), weight: (C_out, kh, kw) -> out: (N, C_out, Ho, Wo)."""
    N, C, H, W = x.shape
    C_out, kh, kw = weight.shape
    Ho = conv_output_size(H, kh, sh, ph, dh)
    Wo = conv_output_size(W, kw, sw, pw, dw)
    out = np.empty((N, C_out, Ho, Wo), dtype=x.dtype)
    _forward(np.ascontiguousarray(x), np.ascontiguousarray(weight), out, sh, sw, ph, pw, dh, dw)
    return out


def depthwise_backward_input(grad, weight, x_shape, sh, sw, ph, pw, dh, dw):
    """grad: (N, C_out, Ho, Wo), weight: (C_out, kh, kw) -> grad of x: x_shape (N, C, H, W)."""
    gx = np.empty(x_shape, dtype=grad.dtype)
    _backward_input(np.ascontiguousarray(grad), np.ascontiguousarray(weight), gx, sh, sw, ph, pw, dh, dw)
    return gx


def depthwise_backward_weight(grad, x, kh, kw, sh, sw, ph, pw, dh, dw):
    """grad: (N, C_out, Ho, Wo), x: (N, C, H, W) -> grad of weight: (C_out, kh, kw)."""
    gw = np.empty((grad.shape[1], kh, kw), dtype=grad.dtype)
    _backward_weight(np.ascontiguousarray(grad), np.ascontiguousarray(x), gw, sh, sw, ph, pw, dh, dw)
    return gw
