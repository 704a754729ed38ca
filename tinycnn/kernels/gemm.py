"""What the convolution's matrix products share: scratch memory, channels-first copies,
the orientation of the weight-gradient product, and the 1x1 path that needs no im2col.

Axis letters: N images, C input channels, C_out output channels, G groups, H x W pixels
in, Ho x Wo out, P = N*Ho*Wo output pixels (the columns of im2col's matrix).
"""
import numpy as np

from tinycnn.kernels import pointwise_tiles, reuse
from tinycnn.kernels.blas import gemm
from tinycnn.kernels.conv_path import ConvPath
from tinycnn.kernels.epilogue import epilogue
from tinycnn.kernels.im2col import col2im

# ---------------------------------------------------------------- scratch memory

_scratch_buffers: dict = {}


def scratch(name: str, size: int, dtype) -> np.ndarray:
    """A reusable flat buffer of `size` elements (contents undefined).

    The column matrices are the largest arrays of a CNN (kh*kw times the input);
    allocating a fresh one per call costs a page fault per 4 KiB. They never outlive
    the forward or backward call that fills them, so one buffer per (name, dtype),
    grown when needed, serves every layer.
    """
    key = (name, np.dtype(dtype))
    buf = _scratch_buffers.get(key)
    if buf is None or buf.size < size:
        buf = _scratch_buffers[key] = np.empty(size, dtype=dtype)
    return buf[:size]


def channels_first(a, name):
    """(N, C, H, W) -> (C, N, H, W) contiguous, in the scratch buffer `name`."""
    N, C, H, W = a.shape
    out = scratch(name, a.size, a.dtype).reshape(C, N, H, W)
    np.copyto(out, a.transpose(1, 0, 2, 3))
    return out


def from_channels_first(a, bias=None):
    """(C, N, H, W) scratch view -> a new (N, C, H, W) array, plus bias (C,) if given (the
    copy adds it). Always a copy: with N == 1 np.ascontiguousarray would return the scratch
    memory itself, which the next convolution overwrites while the result may still be in use."""
    C, N, H, W = a.shape
    out = reuse.empty((N, C, H, W), a.dtype)
    if bias is None:
        np.copyto(out, a.transpose(1, 0, 2, 3))
    else:
        np.add(a.transpose(1, 0, 2, 3), bias.reshape(C, 1, 1), out=out)
    return out


def weight_grad(gT, cols):
    """gT @ cols^T, summed over all P columns: (G, C_out/G, K) from gT: (G, C_out/G, P) and
    cols: (G, K, P).

    Computed as (cols @ gT^T)^T when K >= C_out/G: OpenBLAS is much slower when the first
    operand has fewer rows than the second (a short, very long reduction), so the taller
    one goes first.
    """
    if cols.shape[1] >= gT.shape[1]:
        return gemm(cols, gT.transpose(0, 2, 1)).transpose(0, 2, 1)  # (G, K, C_out/G) -> (G, C_out/G, K)
    return gemm(gT, cols.transpose(0, 2, 1))                        # (G, C_out/G, K)


def col2im_input_grad(gT, weight, x_shape, geometry):
    """dX = col2im(W^T @ dY): the input gradient of any convolution, in the columns' scratch
    memory. gT: (G, C_out/G, P) the output gradient channels first; weight: (C_out, C/G, kh, kw)
    -> (N, C, H, W) = x_shape."""
    G, K = gT.shape[0], weight[0].size
    cols = scratch("cols", G * K * gT.shape[2], gT.dtype).reshape(G, K, -1)  # (G, K, P)
    gemm(weight.reshape(G, -1, K).transpose(0, 2, 1), gT, out=cols)
    return col2im(cols.reshape(G * K, -1), x_shape, geometry)                # (N, C, H, W)


# ---------------------------------------------------------------- the 1x1 path

# Per-image GEMMs beat one big GEMM plus two transposing copies from 4x4 images up; below,
# N tiny GEMMs lose (docs/PERFORMANCE.md).
POINTWISE_MIN_PIXELS = 16
# The weight gradient as N per-image products summed (no copies, but an (N, C_out, C) temporary)
# wins from 8x8 images up; smaller images are copied channels-first for one GEMM.
BATCHED_WEIGHT_GRAD_MIN_PIXELS = 64


class Pointwise(ConvPath):
    """The pointwise path of the convolution (`ops.conv` picks it): a 1x1 kernel at stride 1
    without padding needs no im2col, since x[n] is already a (C, H*W) matrix: out[n] = W @ x[n],
    one GEMM per image (per group) written straight into the (N, C_out, H, W) output; with
    AVX-512 and no groups, summed in register tiles instead where the pixels fill whole tiles
    (`pointwise_tiles.fits`: 8x8 images and larger, or 4x4 images four to a tile)."""

    name = "pointwise"
    why = ("a 1x1 kernel, stride 1, no padding: x[n] is already a (C, H*W) matrix, one GEMM per image "
           "(or register tiles with AVX-512), no copies")
    fuses_epilogue = True  # forward(..., bias=, clamp=): in the tiles' stores, else one pass after the GEMMs

    def cannot(self, x_shape, weight_shape, geometry, groups):
        """Why this path cannot compute the layer (None: it can)."""
        kh, kw, sh, sw, ph, pw = geometry[:6]
        if (kh, kw) != (1, 1):
            return f"a {kh}x{kw} kernel, not 1x1"
        if (sh, sw) != (1, 1):
            return f"stride {(sh, sw)}, not 1"
        if (ph, pw) != (0, 0):
            return f"padding {(ph, pw)}, not 0"
        return None

    def slower(self, x_shape, weight_shape, geometry, groups):
        """Why the automatic choice leaves the layer to another path (None: it takes it)."""
        H, W = x_shape[2:]
        if H * W >= POINTWISE_MIN_PIXELS:
            return None
        return f"{H}x{W} images, below {POINTWISE_MIN_PIXELS} pixels: N tiny GEMMs cost more than one"

    def forward(self, x, weight, geometry, groups, bias=None, clamp=None):
        """x: (N, C, H, W); weight: (C_out, C/G, 1, 1) -> (N, C_out, H, W), plus bias (C_out,)
        and clamped to clamp = (lo, hi) if given."""
        N, C, H, W = x.shape
        C_out, Cg, G = weight.shape[0], weight.shape[1], groups
        if pointwise_tiles.fits(x.shape, x.dtype, groups):
            return pointwise_tiles.pointwise_tiles(x, weight.reshape(C_out, C), bias, clamp)
        out = gemm(weight.reshape(G, C_out // G, Cg),                       # (G, C_out/G, C/G)
                   x.reshape(N, G, Cg, H * W))                              # (N, G, C/G, H*W)
        return epilogue(out.reshape(N, C_out, H, W), bias, clamp)           # (N, G, C_out/G, H*W) -> (N, C_out, H, W)

    def grad_input(self, grad, weight, x_shape, geometry, groups):
        """grad: (N, C_out, H, W) -> (N, C, H, W) = x_shape."""
        N, C_out, H, W = grad.shape
        G, Cg = groups, weight.shape[1]
        if pointwise_tiles.fits(grad.shape, grad.dtype, groups):  # a 1x1 convolution with the transposed weight
            return pointwise_tiles.pointwise_tiles(grad, weight.reshape(C_out, Cg).T)
        w = weight.reshape(G, C_out // G, Cg)                                # (G, C_out/G, C/G)
        g = grad.reshape(N, G, C_out // G, H * W)                            # (N, G, C_out/G, H*W)
        return gemm(w.transpose(0, 2, 1), g).reshape(x_shape)                # (N, G, C/G, H*W) -> (N, C, H, W)

    def grad_weight(self, grad, x, geometry, groups):
        """grad: (N, C_out, H, W); x: (N, C, H, W) -> (C_out, C/G, 1, 1)."""
        N, C, H, W = x.shape
        C_out, G, Cg, P = grad.shape[1], groups, C // groups, H * W
        if P >= BATCHED_WEIGHT_GRAD_MIN_PIXELS:
            g = grad.reshape(N, G, C_out // G, P)                            # (N, G, C_out/G, H*W)
            xs = x.reshape(N, G, Cg, P)                                      # (N, G, C/G, H*W)
            if Cg > C_out // G:  # the taller operand first, as in `weight_grad`
                gw = gemm(xs, g.transpose(0, 1, 3, 2)).sum(axis=0)           # (N, G, C/G, C_out/G) -> (G, C/G, C_out/G)
                gw = gw.transpose(0, 2, 1)                                   # (G, C_out/G, C/G)
            else:
                gw = gemm(g, xs.transpose(0, 1, 3, 2)).sum(axis=0)           # (N, G, C_out/G, C/G) -> (G, C_out/G, C/G)
        else:
            gT = channels_first(grad, "gT").reshape(G, C_out // G, N * P)   # (G, C_out/G, N*H*W)
            cols = channels_first(x, "cols").reshape(G, Cg, N * P)          # (G, C/G, N*H*W)
            gw = weight_grad(gT, cols)                                       # (G, C_out/G, C/G)
        return gw.reshape(C_out, Cg, 1, 1)
