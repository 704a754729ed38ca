"""A 1x1 convolution summed in register tiles, for CPUs with AVX-512.

Axis letters: N images, C input channels, O output channels, P = H*W pixels.

    out[n, o, p] = sum_c w[o, c] * x[n, c, p]

The pointwise path's per-image GEMMs (`Pointwise`, kernels/gemm.py) hand these skinny products
to NumPy's BLAS, which packs both operands first and, on a CPU it does not know, runs narrower
kernels than the CPU has. Here a task is one image and 4 output channels; for each tile of
pixels (kernels/register_tile.py: 64 float32 with AVX-512) the 4 sums run over all C input
channels in registers: each x tile loaded feeds 4 multiply-adds, nothing is packed, and each
sum is stored once, with the bias and the clamp of a fused activation (the eval fast path).
The sums run over c in order, one rounding each (fma). The input gradient of a 1x1
convolution is a 1x1 convolution of the gradient with the transposed weight: the same kernel.

Only where the tiles fit (`fits`): AVX-512, no groups, and either a whole number of tiles of
pixels an image (32x32, 16x16, 8x8 images) or a tile of whole images: 4x4 images are copied four
side by side first (each channel's 4 planes one run of 64 pixels), and the output back; the
batch a multiple of the images a tile.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import register_tile as tile
from tinycnn.kernels import reuse
from tinycnn.kernels.conv_path import padded_to_blocks
from tinycnn.kernels.epilogue import store, store_args
from tinycnn.kernels.launch import launch

BLOCK = 4  # output channels a task sums at once (4 tiles of sums: 16 registers with AVX-512)


def _images_a_tile(P, dtype) -> int:
    """Images of P pixels that share a tile: 1 where each image is whole tiles, 0 where neither fits."""
    lanes = tile.lanes_of(np.dtype(dtype).itemsize)
    return 1 if P % lanes == 0 else (lanes // P if lanes % P == 0 else 0)


def fits(x_shape, dtype, groups) -> bool:
    """Whether `pointwise_tiles` computes a 1x1 convolution of x (N, C, H, W) of dtype."""
    dtype, (N, _, H, W) = np.dtype(dtype), x_shape
    if not (tile.AVX512 and groups == 1 and dtype in (np.float32, np.float64) and H * W > 0):
        return False
    k = _images_a_tile(H * W, dtype)
    return k > 0 and N % k == 0


def pointwise_tiles(x, weight, bias=None, clamp=None):
    """x: (N, C, H, W); weight: (O, C) -> (N, O, H, W), plus bias (O,), clamped to clamp =
    (lo, hi) if given. Only where `fits`."""
    N, C, H, W = x.shape
    O, P = weight.shape[0], H * W
    k = _images_a_tile(P, x.dtype)
    w = padded_to_blocks(weight, BLOCK, x.dtype)  # (O rounded up to BLOCK, C)
    x = np.ascontiguousarray(x)
    if k > 1:  # k images side by side: each channel's k planes one run of k*P pixels
        x = _copy(x.reshape(N // k, k, C, P).transpose(0, 2, 1, 3))            # (N/k, C, k, P)
    out = reuse.empty((N // k, O, k * P), x.dtype)
    fused = bias is not None or clamp is not None  # else the tiles are stored as they are
    launch(_pointwise, out.size * C, x.reshape(N // k, C, k * P), w, out, fused, *store_args(bias, clamp, O, x.dtype))
    if k > 1:  # back to one image after another
        out = _copy(out.reshape(N // k, O, k, P).transpose(0, 2, 1, 3))        # (N/k, k, O, P)
    return out.reshape(N, O, H, W)


def _copy(view):
    """A contiguous copy of the view, in reused memory."""
    out = reuse.empty(view.shape, view.dtype)
    out[...] = view
    return out


@njit(cache=True, parallel=True)
def _pointwise(x, w, out, fused, bias, lo, hi):
    """out (N, O, P) = w (O rounded up to BLOCK, C) @ x[n] (C, P) for every n, + bias and
    clamped to [lo, hi] if `fused`; P a whole number of tiles."""
    N, C, P = x.shape
    blocks = w.shape[0] // BLOCK
    for task in prange(N * blocks):
        n, o = task // blocks, task % blocks * BLOCK
        for p in range(0, P, tile.lanes(out[0, 0])):
            y0, y1, y2, y3 = tile.zeros(out[0, 0]), tile.zeros(out[0, 0]), tile.zeros(out[0, 0]), tile.zeros(out[0, 0])
            for c in range(C):
                u = tile.load(x[n, c], p)                                   # pixels p.. of channel c
                y0 = tile.fma(w[o, c], u, y0)
                y1 = tile.fma(w[o + 1, c], u, y1)
                y2 = tile.fma(w[o + 2, c], u, y2)
                y3 = tile.fma(w[o + 3, c], u, y3)
            _store_tile(out, n, o, p, y0, fused, bias, lo, hi)
            _store_tile(out, n, o + 1, p, y1, fused, bias, lo, hi)
            _store_tile(out, n, o + 2, p, y2, fused, bias, lo, hi)
            _store_tile(out, n, o + 3, p, y3, fused, bias, lo, hi)


@njit(inline="always", fastmath={"contract"})
def _store_tile(out, n, o, p, y, fused, bias, lo, hi):
    """out[n, o, p : p + lanes] = y, + bias[o] and clamped to [lo, hi] if `fused`; nothing for
    a padding channel o >= O."""
    if o < out.shape[1]:
        row = out[n, o]
        tile.store(row, p, y)
        if fused:
            end = p + tile.lanes(row)
            store(row[p:end], row[p:end], bias[o], lo, hi)  # in L1: the tile was just written
