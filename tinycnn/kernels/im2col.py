"""im2col and col2im: turn a convolution into one matrix product.

Layout (chosen because it makes every GEMM of the convolution one large
BLAS call, with the grouped case a reshape to (G, ...)):

    x:    (N, C, H, W)
    cols: (C * kh * kw, N * Ho * Wo)   row (c, a, b), column (n, i, j)

    cols[(c, a, b), (n, i, j)] = x[n, c, i*sh + a*dh - ph, j*sw + b*dw - pw]   (0 outside x)

`col2im` is the adjoint of `im2col` (the input gradient): it adds every
column entry back to the pixel it was copied from.

Two versions of each: the readable NumPy reference (`im2col_reference`,
`col2im_reference`) and the Numba kernels (`im2col`, `col2im`) that the
convolution uses. Tests check that they agree.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import reuse
from tinycnn.kernels.geometry import ConvGeometry
from tinycnn.kernels.launch import launch


# ---------------------------------------------------------------- NumPy reference


def im2col_reference(x, geometry: ConvGeometry):
    """x: (N, C, H, W) -> cols: (C*kh*kw, N*Ho*Wo). One strided slice per kernel tap."""
    N, C, H, W = x.shape
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    Ho, Wo = geometry.output_size(H, W)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))                 # (N, C, H+2ph, W+2pw)
    cols = np.empty((C, kh, kw, N, Ho, Wo), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            patch = xp[:, :, a * dh : a * dh + sh * Ho : sh, b * dw : b * dw + sw * Wo : sw]  # (N, C, Ho, Wo)
            cols[:, a, b] = patch.transpose(1, 0, 2, 3)                       # (C, N, Ho, Wo)
    return cols.reshape(C * kh * kw, N * Ho * Wo)


def col2im_reference(cols, x_shape, geometry: ConvGeometry):
    """cols: (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), summing overlapping taps."""
    N, C, H, W = x_shape
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    Ho, Wo = geometry.output_size(H, W)
    cols = cols.reshape(C, kh, kw, N, Ho, Wo)
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            xp[:, :, a * dh : a * dh + sh * Ho : sh, b * dw : b * dw + sw * Wo : sw] += cols[:, a, b].transpose(1, 0, 2, 3)
    return xp[:, :, ph : ph + H, pw : pw + W]


# ---------------------------------------------------------------- Numba kernels


@njit(cache=True, inline="always")
def _valid_range(out_len, in_len, offset, stride):
    """Output indices i with 0 <= i*stride + offset < in_len, as [lo, hi)."""
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    hi = (in_len - offset + stride - 1) // stride
    if hi > out_len:
        hi = out_len
    if hi < lo:
        hi = lo
    return lo, hi


@njit(cache=True, parallel=True)
def _im2col(x, cols, kh, kw, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    Ho, Wo = cols.shape[4], cols.shape[5]
    for cn in prange(C * N):  # one (channel, image) pair per task: its kh*kw rows are disjoint
        c, n = cn // N, cn % N
        plane = x[n, c]  # (H, W); 1-D row views below keep the index arithmetic simple
        for a in range(kh):
            for b in range(kw):
                y0, x0 = a * dh - ph, b * dw - pw
                block = cols[c, a, b, n]  # (Ho, Wo)
                for i in range(Ho):
                    y = i * sh + y0
                    row = block[i]
                    if y < 0 or y >= H:  # a padding row
                        for j in range(Wo):
                            row[j] = 0
                        continue
                    src = plane[y]
                    for j in range(Wo):
                        xx = j * sw + x0
                        row[j] = src[xx] if 0 <= xx < W else 0


@njit(cache=True, parallel=True)
def _col2im(cols, x, kh, kw, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    Ho, Wo = cols.shape[4], cols.shape[5]
    for cn in prange(C * N):  # each task owns the pixel plane x[n, c]
        c, n = cn // N, cn % N
        plane = x[n, c]
        plane[:, :] = 0
        for a in range(kh):
            y0 = a * dh - ph
            i_lo, i_hi = _valid_range(Ho, H, y0, sh)
            for b in range(kw):
                x0 = b * dw - pw
                j_lo, j_hi = _valid_range(Wo, W, x0, sw)
                if j_hi <= j_lo:
                    continue
                for i in range(i_lo, i_hi):
                    # views indexed by the loop counter: no negative-index check in the loop, so it vectorises
                    src = cols[c, a, b, n, i, j_lo:j_hi]
                    dst = plane[i * sh + y0, j_lo * sw + x0 : (j_hi - 1) * sw + x0 + 1 : sw]
                    for j in range(j_hi - j_lo):
                        dst[j] += src[j]


def im2col(x, geometry: ConvGeometry, out=None):
    """Numba im2col. x: (N, C, H, W) C-contiguous -> cols: (C*kh*kw, N*Ho*Wo).

    `out`, if given, is a buffer of at least C*kh*kw*N*Ho*Wo elements to write into.
    """
    N, C, H, W = x.shape
    kh, kw = geometry.kh, geometry.kw
    Ho, Wo = geometry.output_size(H, W)
    size = C * kh * kw * N * Ho * Wo
    cols = np.empty(size, dtype=x.dtype) if out is None else out[:size]
    cols6 = cols.reshape(C, kh, kw, N, Ho, Wo)
    launch(_im2col, size, np.ascontiguousarray(x), cols6, *geometry)
    return cols.reshape(C * kh * kw, N * Ho * Wo)


def col2im(cols, x_shape, geometry: ConvGeometry):
    """Numba col2im. cols: (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), summing overlapping taps."""
    N, C, H, W = x_shape
    Ho, Wo = geometry.output_size(H, W)
    x = reuse.empty(x_shape, cols.dtype)
    cols6 = np.ascontiguousarray(cols).reshape(C, geometry.kh, geometry.kw, N, Ho, Wo)
    launch(_col2im, cols.size, cols6, x, *geometry)
    return x
