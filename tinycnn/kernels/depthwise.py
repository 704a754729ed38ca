"""Direct depthwise convolution: groups == C_in, C_out = multiplier * C_in.

Each output channel o reads one input channel c = o // multiplier, so im2col
would copy every pixel kh*kw times to feed a matrix product with one row per
group. These kernels slide the kh x kw filter directly instead.

    x:      (N, C, H, W)
    weight: (C_out, kh, kw)          (PyTorch's (C_out, 1, kh, kw) without the 1)
    out:    (N, C_out, Ho, Wo)

    out[n, o, i, j] = sum_{a, b} weight[o, a, b] * x[n, o // m, i*sh + a*dh - ph, j*sw + b*dw - pw]

The `*_reference` functions are the readable NumPy versions (one strided
slice per tap); tests compare the kernels with them.
"""
import numba
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.conv_path import ConvPath
from tinycnn.kernels.epilogue import store, store_args
from tinycnn.kernels.geometry import ConvGeometry, phase_range, phase_taps
from tinycnn.kernels.launch import launch

_FAST = {"reassoc", "contract"}  # lets LLVM vectorise the sums; no change to NaN/inf handling


def depthwise_reference(x, weight, geometry: ConvGeometry):
    """x: (N, C, H, W), weight: (C_out, kh, kw) -> (N, C_out, Ho, Wo)."""
    N, C, H, W = x.shape
    C_out, kh, kw = weight.shape
    _, _, sh, sw, ph, pw, dh, dw = geometry
    Ho, Wo = geometry.output_size(H, W)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))                    # (N, C, H+2ph, W+2pw)
    xp = np.repeat(xp, C_out // C, axis=1)                                   # (N, C_out, ...)
    out = np.zeros((N, C_out, Ho, Wo), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            patch = xp[:, :, a * dh : a * dh + sh * Ho : sh, b * dw : b * dw + sw * Wo : sw]  # (N, C_out, Ho, Wo)
            out += weight[:, a, b][:, None, None] * patch
    return out


def depthwise_backward_input_reference(grad, weight, x_shape, geometry: ConvGeometry):
    """grad: (N, C_out, Ho, Wo), weight: (C_out, kh, kw) -> grad of x: (N, C, H, W).
    Each tap sends w * grad back to the pixels it read."""
    N, C, H, W = x_shape
    C_out, kh, kw = weight.shape
    _, _, sh, sw, ph, pw, dh, dw = geometry
    Ho, Wo = grad.shape[2:]
    gxp = np.zeros((N, C_out, H + 2 * ph, W + 2 * pw), dtype=grad.dtype)  # one plane per output channel
    for a in range(kh):
        for b in range(kw):
            gxp[:, :, a * dh : a * dh + sh * Ho : sh, b * dw : b * dw + sw * Wo : sw] += weight[:, a, b][:, None, None] * grad
    gxp = gxp.reshape(N, C, C_out // C, H + 2 * ph, W + 2 * pw).sum(axis=2)  # (N, C, H+2ph, W+2pw)
    return gxp[:, :, ph : ph + H, pw : pw + W]


def depthwise_backward_weight_reference(grad, x, geometry: ConvGeometry):
    """grad: (N, C_out, Ho, Wo), x: (N, C, H, W) -> grad of weight: (C_out, kh, kw)."""
    C_out, (Ho, Wo) = grad.shape[1], grad.shape[2:]
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    xp = np.repeat(xp, C_out // x.shape[1], axis=1)                          # (N, C_out, H+2ph, W+2pw)
    gw = np.empty((C_out, kh, kw), dtype=grad.dtype)
    for a in range(kh):
        for b in range(kw):
            patch = xp[:, :, a * dh : a * dh + sh * Ho : sh, b * dw : b * dw + sw * Wo : sw]  # (N, C_out, Ho, Wo)
            gw[:, a, b] = np.sum(grad * patch, axis=(0, 2, 3))
    return gw


# The kernels copy each input plane into a zero-bordered buffer xp of (H + 2ph) x (W + 2pw) pixels,
# stored flat with row length Wp = W + 2pw, so that the inner loops need no bounds checks.
#
# Stride 1 (`_forward_phases`, `_backward_stride1`) uses the padded-width layout of
# kernels/direct_conv.py: a "wide" output of rows of Wp pixels (the last Wp - Wo of each row thrown
# away), so that output pixel p reads xp[p + a*dh*Wp + b*dw] for tap (a, b) -- every tap is ONE
# contiguous loop, which LLVM vectorises. Small maps would make short loops, so k images of a
# channel are stacked into one tall buffer (each with its own padding rows). The input gradient is
# gathered, not scattered: the gradient plane, with zero margins, is read at p - a*dh*Wp - b*dw (a
# correlation with the flipped kernel), so it has the same loop.
# Stride 2 forward (`_forward_phases`, which serves stride 1 too): output pixel (i, j) reads every
# other row and column, which no shift of one plane gives; split into its 4 phase planes xp[2u + r,
# 2v + s], tap (a, b) reads phase (a*dh % 2, b*dw % 2) shifted by (a*dh // 2, b*dw // 2): a
# contiguous loop again (the direct kernels' formula (4)). Other strides, and the backward at stride
# 2, go plane by plane, row by row. Work is split into n_chunks contiguous ranges of tasks (planes
# or stacks), each with its own buffers (and, for the weight gradient, its own partial sums).
#
# Every inner loop indexes a slice (a view) with its own loop counter: `src = xp[off : off + L]; ...
# src[k]`, not `xp[k + off]`. Numba wraps negative indices around, and LLVM cannot prove k + off >=
# 0, so that check stayed in the loop and stopped it from being vectorised (docs/PERFORMANCE.md).
# Planes go into and out of the buffers as 2-D slice copies for the same reason.

# Stride 1 and 2: images are stacked until a buffer holds this many pixels, so that small maps make
# loops long enough to vectorise; more would stack 16x16 maps too, which then got slower
# (docs/PERFORMANCE.md).
MIN_STACK = 256


@njit(cache=True, inline="always")
def _add_taps(dst, src, off, step, w, L):
    """dst[p] += sum_b w[b] * src[off + b*step + p] for p < L: the taps of one kernel row
    (step < 0: the flipped taps of the input gradient). One loop per tap: in the input gradient,
    three taps a loop were not faster (docs/PERFORMANCE.md); the forward's are (`_add_3taps`)."""
    for b in range(w.shape[0]):
        _add_tap(dst, src[off + b * step : off + b * step + L], w[b])


@njit(cache=True, inline="always")
def _add_tap(dst, src, w0):
    """dst[p] += w0 * src[p] for p < src.size: one tap over the wide output."""
    for p in range(src.size):
        dst[p] += w0 * src[p]


@njit(cache=True, inline="always")
def _add_3taps(dst, s0, s1, s2, w):
    """dst[p] += w[0] * s0[p], then w[1] * s1[p], then w[2] * s2[p]: three `_add_tap`s in one pass."""
    w0, w1, w2 = w[0], w[1], w[2]
    for p in range(dst.size):
        dst[p] = dst[p] + w0 * s0[p] + w1 * s1[p] + w2 * s2[p]


@njit(cache=True, inline="always")
def _tap(xp, taps, a, b, plane, L):
    """The L values of the stacked phase planes xp (each `plane` long) that tap (a, b) reads."""
    off = taps[a, b, 0] * plane + taps[a, b, 1]
    return xp[off : off + L]


@njit(cache=True, inline="always")
def _load_phases(planes, src, first, count, channel, top, left, sh, sw):
    """planes: (P, k, S, T) buffers, P = sh*sw phases. Buffer (r*sw + s, i), i < count, gets
    phase (r, s) of the plane src[first + i, channel]: row u, column v hold
    src[.., sh*u + r - top, sw*v + s - left] where that lies in the image (the border keeps what
    it had: zeros); buffers i >= count are zeroed. Stride 1: the plane at rows top.., columns
    left.., which must fit in S x T."""
    H, W = src.shape[2], src.shape[3]
    S, T = planes.shape[2], planes.shape[3]
    for phase in range(sh * sw):
        r, s = phase // sw, phase % sw
        (u0, u1), (v0, v1) = phase_range(H, S, top, sh, r), phase_range(W, T, left, sw, s)  # inside the image
        i0, j0 = sh * u0 + r - top, sw * v0 + s - left
        for i in range(planes.shape[1]):
            if i >= count:
                planes[phase, i] = 0
            elif sh == sw == 1:  # the whole image, a contiguous source: the fastest copy
                planes[phase, i, top : top + H, left : left + W] = src[first + i, channel]
            else:
                planes[phase, i, u0:u1, v0:v1] = src[first + i, channel, i0 : i0 + sh * (u1 - u0) : sh,
                                                     j0 : j0 + sw * (v1 - v0) : sw]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _forward_phases(x, weight, out, taps, sh, sw, ph, pw, k, S, T, n_chunks, bias, lo, hi):
    """Stride 1 or 2, k images of a channel per buffer, each tap one contiguous loop over the
    wide output (`_phase_layout`). x: (N, C, H, W), weight: (C_out, kh, kw), out: (N, C_out,
    Ho, Wo) + bias (C_out,), clamped to [lo, hi] as it is written."""
    N, C = x.shape[0], x.shape[1]
    C_out, kh, kw = weight.shape
    m, P = C_out // C, sh * sw
    Ho, Wo = out.shape[2], out.shape[3]
    stacks = -(-N // k)
    L = ((k - 1) * S + Ho) * T  # the wide output of a stack, whole rows
    plane = k * S * T  # one phase plane of a stack, flat
    for t in prange(n_chunks):
        xp = np.zeros(P * plane + T, dtype=x.dtype)  # the phase planes of k images (+ slack)
        planes = xp[: P * plane].reshape(P, k, S, T)
        wide = np.empty(L, dtype=x.dtype)
        for task in range(t * stacks * C // n_chunks, (t + 1) * stacks * C // n_chunks):
            g, c = task // C, task % C
            count = min(k, N - g * k)  # images in this stack
            _load_phases(planes, x, g * k, count, c, ph, pw, sh, sw)
            for o in range(c * m, c * m + m):
                wide[:] = 0
                for a in range(kh):
                    for b in range(0, kw - 2, 3):  # three taps a pass: one load and store of `wide` per 3 multiply-adds
                        _add_3taps(wide, _tap(xp, taps, a, b, plane, L), _tap(xp, taps, a, b + 1, plane, L),
                                   _tap(xp, taps, a, b + 2, plane, L), weight[o, a, b : b + 3])
                    for b in range(kw - kw % 3, kw):
                        _add_tap(wide, _tap(xp, taps, a, b, plane, L), weight[o, a, b])
                for s in range(count):
                    for i in range(Ho):
                        store(wide[(s * S + i) * T : (s * S + i) * T + Wo], out[g * k + s, o, i], bias[o], lo, hi)


@njit(cache=True, parallel=True, fastmath=_FAST)
def _backward_stride1(grad, x, weight, gx, gw_parts, need_x, need_w, C, H, W, ph, pw, dh, dw, k):
    """Both gradients of the stride-1 kernel, k images a stack; gw_parts: (n_chunks, C_out, kh, kw).
    x is read only if need_w, gx written only if need_x (otherwise they may be dummies)."""
    N = grad.shape[0]
    C_out, kh, kw = weight.shape
    m = C_out // C
    Ho, Wo = grad.shape[2], grad.shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    stacks = -(-N // k)
    L = ((k - 1) * Hp + Ho) * Wp  # wide output of a stack
    Lx = k * Hp * Wp  # padded input planes of a stack
    M = (kh - 1) * dh * Wp + (kw - 1) * dw  # zero margin before the gradient: the flipped taps read back that far
    n_chunks = gw_parts.shape[0]
    for t in prange(n_chunks):
        xp = np.zeros(Lx + (kw - 1) * dw + 1, dtype=x.dtype)
        planes = xp[:Lx].reshape(k, Hp, Wp)
        gxp = np.empty(Lx, dtype=x.dtype)
        gbuf = np.zeros(M + Lx, dtype=x.dtype)  # margin, then the stack's wide gradient, zeros past Wo
        gwide = gbuf[M : M + Lx].reshape(k, Hp, Wp)
        gw = gw_parts[t]
        gw[:] = 0
        for task in range(t * stacks * C // n_chunks, (t + 1) * stacks * C // n_chunks):
            g, c = task // C, task % C
            count = min(k, N - g * k)
            if need_w:
                _load_phases(planes.reshape(1, k, Hp, Wp), x, g * k, count, c, ph, pw, 1, 1)
            if need_x:
                gxp[:] = 0
            for o in range(c * m, c * m + m):
                _load_phases(gwide.reshape(1, k, Hp, Wp), grad, g * k, count, o, 0, 0, 1, 1)  # zeros past Wo stay zero
                gL = gbuf[M : M + L]
                for a in range(kh):
                    if need_x:  # gx[q] = sum_{a, b} w[a, b] * g[q - a*dh*Wp - b*dw]
                        _add_taps(gxp, gbuf, M - a * dh * Wp, -dw, weight[o, a], Lx)
                    if need_w:  # d out / d w[o, a, b] = the pixels tap (a, b) read
                        for b in range(kw):
                            src = xp[a * dh * Wp + b * dw : a * dh * Wp + b * dw + L]
                            acc = gw[o, a, b]
                            for p in range(L):
                                acc += gL[p] * src[p]
                            gw[o, a, b] = acc
            if need_x:
                for s in range(count):
                    gx[g * k + s, c] = gxp[s * Hp * Wp : (s + 1) * Hp * Wp].reshape(Hp, Wp)[ph : ph + H, pw : pw + W]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _forward(x, weight, out, sh, sw, ph, pw, dh, dw, n_chunks, bias, lo, hi):
    """Strides other than 1 and 2, one plane at a time, one output row at a time; + bias
    (C_out,), clamped to [lo, hi]."""
    N, C, H, W = x.shape
    C_out, kh, kw = weight.shape
    m = C_out // C
    Ho, Wo = out.shape[2], out.shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    for t in prange(n_chunks):
        xp = np.zeros(Hp * Wp, dtype=x.dtype)  # padded input plane
        for task in range(t * N * C // n_chunks, (t + 1) * N * C // n_chunks):
            n, c = task // C, task % C
            xp[: Hp * Wp].reshape(Hp, Wp)[ph : ph + H, pw : pw + W] = x[n, c]  # slice copies: vectorised
            for o in range(c * m, c * m + m):
                for i in range(Ho):
                    row = out[n, o, i]  # (Wo,)
                    row[:] = 0
                    for a in range(kh):
                        for b in range(kw):
                            w, base = weight[o, a, b], (i * sh + a * dh) * Wp + b * dw
                            src = xp[base : base + Wo * sw : sw]  # (Wo,)
                            for j in range(Wo):
                                row[j] += w * src[j]
                    store(row, row, bias[o], lo, hi)


@njit(cache=True, parallel=True, fastmath=_FAST)
def _backward(grad, x, weight, gx, gw_parts, need_x, need_w, C, H, W, sh, sw, ph, pw, dh, dw):
    """Both gradients in one pass over grad, any stride; gw_parts: (n_chunks, C_out, kh, kw) partial sums.
    x is read only if need_w, gx written only if need_x (otherwise they may be dummies)."""
    N = grad.shape[0]
    C_out, kh, kw = weight.shape
    m = C_out // C
    Ho, Wo = grad.shape[2], grad.shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    n_chunks = gw_parts.shape[0]
    for t in prange(n_chunks):
        xp = np.zeros(Hp * Wp, dtype=x.dtype)   # padded input plane
        gxp = np.zeros(Hp * Wp, dtype=x.dtype)  # padded input-gradient plane
        gw = gw_parts[t]
        gw[:] = 0
        for task in range(t * N * C // n_chunks, (t + 1) * N * C // n_chunks):
            n, c = task // C, task % C
            if need_w:
                xp[: Hp * Wp].reshape(Hp, Wp)[ph : ph + H, pw : pw + W] = x[n, c]
            if need_x:
                gxp[:] = 0
            for o in range(c * m, c * m + m):
                for a in range(kh):
                    for b in range(kw):
                        w = weight[o, a, b]
                        acc = gw[o, a, b]
                        for i in range(Ho):
                            g = grad[n, o, i]  # (Wo,)
                            base = (i * sh + a * dh) * Wp + b * dw
                            dst, src = gxp[base : base + Wo * sw : sw], xp[base : base + Wo * sw : sw]  # (Wo,)
                            for j in range(Wo):
                                dst[j] += w * g[j]
                                acc += g[j] * src[j]
                        gw[o, a, b] = acc
            if need_x:
                gx[n, c] = gxp[: Hp * Wp].reshape(Hp, Wp)[ph : ph + H, pw : pw + W]


def _n_chunks(tasks: int) -> int:
    """Four ranges of planes per thread: balances the load, keeps the partial sums few."""
    return max(1, min(tasks, 4 * numba.get_num_threads()))


def _stack(N, plane) -> int:
    """Images per buffer of the stride-1 and -2 kernels: enough for MIN_STACK pixels, `plane`
    pixels an image (and phase)."""
    return max(1, min(N, -(-MIN_STACK // plane)))


def _phase_layout(geometry: ConvGeometry, Ho, Wo):
    """(S, T, taps) of `_forward_phases`: each phase plane of an image is S x T, the rows and
    columns of its outputs and as many more as the taps reach past them (stride 1: the padded
    plane); tap (a, b) reads phase taps[a, b, 0] at taps[a, b, 1] + the output's flat position."""
    kh, kw, sh, sw, _, _, dh, dw = geometry
    S, T = Ho + (kh - 1) * dh // sh, Wo + (kw - 1) * dw // sw
    return S, T, phase_taps(kh, kw, sh, sw, dh, dw, T)


def depthwise_forward(x, weight, geometry: ConvGeometry, bias=None, clamp=None):
    """x: (N, C, H, W), weight: (C_out, kh, kw) -> out: (N, C_out, Ho, Wo), plus bias (C_out,)
    and clamped to clamp = (lo, hi) if given, in the pass that writes it."""
    N, C, H, W = x.shape
    C_out, kh, kw = weight.shape
    _, _, sh, sw, ph, pw, dh, dw = geometry
    Ho, Wo = geometry.output_size(H, W)
    out = reuse.empty((N, C_out, Ho, Wo), x.dtype)
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    end = store_args(bias, clamp, C_out, x.dtype)  # (bias, lo, hi) of the rows as they are stored
    if sh == sw == 1 or (sh, sw) == (2, 2):
        S, T, taps = _phase_layout(geometry, Ho, Wo)
        k = _stack(N, S * T)
        launch(_forward_phases, out.size * kh * kw, x, weight, out, taps, sh, sw, ph, pw, k, S, T,
               _n_chunks(-(-N // k) * C), *end)
    else:
        launch(_forward, out.size * kh * kw, x, weight, out, sh, sw, ph, pw, dh, dw, _n_chunks(N * C), *end)
    return out


def depthwise_backward(grad, x_or_shape, weight, need_x, need_w, geometry: ConvGeometry):
    """grad: (N, C_out, Ho, Wo), x: (N, C, H, W) (only its shape if need_w is False),
    weight: (C_out, kh, kw) -> (grad of x (N, C, H, W) or None, grad of weight
    (C_out, kh, kw) or None), both in one pass over grad."""
    shape = x_or_shape if isinstance(x_or_shape, tuple) else x_or_shape.shape
    N, C, H, W = shape
    _, _, sh, sw, ph, pw, dh, dw = geometry
    dummy = np.empty((1, 1, 1, 1), dtype=grad.dtype)
    x = np.ascontiguousarray(x_or_shape) if need_w else dummy
    gx = reuse.empty(shape, grad.dtype) if need_x else dummy
    grad, weight = np.ascontiguousarray(grad), np.ascontiguousarray(weight)
    if sh == sw == 1:
        k = _stack(N, (H + 2 * ph) * (W + 2 * pw))
        parts = np.empty((_n_chunks(-(-N // k) * C), *weight.shape), dtype=grad.dtype)
        launch(_backward_stride1, grad.size * weight[0].size, grad, x, weight, gx, parts,
               need_x, need_w, C, H, W, ph, pw, dh, dw, k)
    else:
        parts = np.empty((_n_chunks(N * C), *weight.shape), dtype=grad.dtype)
        launch(_backward, grad.size * weight[0].size, grad, x, weight, gx, parts,
               need_x, need_w, C, H, W, sh, sw, ph, pw, dh, dw)
    return (gx if need_x else None), (parts.sum(axis=0) if need_w else None)



class Depthwise(ConvPath):
    """The depthwise path of the convolution (`ops.conv` picks it): with one input channel per
    group, im2col would copy every pixel kh*kw times to feed a matrix product of one row per
    group; these kernels slide each filter over its plane instead. PyTorch's weight
    (C_out, 1, kh, kw) is the kernels' (C_out, kh, kw)."""

    name = "depthwise"
    why = "one input channel per group: Numba kernels slide each filter over its plane, no im2col copies"
    fuses_epilogue = True  # forward(..., bias=, clamp=) adds and clamps in the pass that writes

    def cannot(self, x_shape, weight_shape, geometry, groups):
        """Why this path cannot compute the layer (None: it can)."""
        if groups != x_shape[1]:
            return f"groups={groups} differs from the {x_shape[1]} input channels (not one channel per group)"
        return None

    def slower(self, x_shape, weight_shape, geometry, groups):
        """Why the automatic choice leaves the layer to another path (None: it takes it)."""
        return "a single channel is an ordinary convolution" if x_shape[1] == 1 else None

    def forward(self, x, weight, geometry, groups, bias=None, clamp=None):
        return depthwise_forward(x, weight.reshape(weight.shape[0], geometry.kh, geometry.kw), geometry, bias, clamp)

    def grad_input(self, grad, weight, x_shape, geometry, groups):
        return self.backward(grad, tuple(x_shape), weight, geometry, groups, True, False)[0]

    def grad_weight(self, grad, x, geometry, groups):
        weight = np.zeros((grad.shape[1], 1, geometry.kh, geometry.kw), dtype=grad.dtype)  # not read: gives the shape
        return self.backward(grad, x, weight, geometry, groups, False, True)[1]

    def backward(self, grad, x, weight, geometry, groups, need_x, need_w):
        """Both gradients in one pass over grad."""
        C_out, kh, kw = weight.shape[0], geometry.kh, geometry.kw
        gx, gw = depthwise_backward(grad, x, weight.reshape(C_out, kh, kw), need_x, need_w, geometry)
        return gx, None if gw is None else gw.reshape(weight.shape)
