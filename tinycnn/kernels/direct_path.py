"""The direct path of the convolution: the kernels of kernels/direct_conv.py, (1) forward,
(2) for the weight gradient, (3) for the input gradient, for kernels 3 wide at stride 1
(3x3 at stride 2: (4) forward and (2); col2im's input gradient).

`ops.conv` picks this path for a layer when `Direct.cannot` and `Direct.slower` say nothing
against it. Groups whose output channels are no whole blocks of 4 are padded with zero
channels. The kernels take the images as they lie and stack the planes they read themselves.
"""
import numba
import numpy as np

from tinycnn.kernels import reuse
from tinycnn.kernels.conv_path import ConvPath, padded_to_blocks
from tinycnn.kernels.direct_conv import (
    BLOCK,
    CHUNKS,
    _forward,
    _round_up,
    _weight_grad,
    input_grad_as_conv,
    input_grad_is_a_conv,
)
from tinycnn.kernels.direct_layout import padded_width_layout, tap_table
from tinycnn.kernels.epilogue import epilogue, store_args
from tinycnn.kernels.gemm import channels_first, col2im_input_grad
from tinycnn.kernels.launch import launch


def _whole_blocks(a, axis, groups):
    """a with each group's channels along `axis` padded with zero channels to whole blocks of
    BLOCK, so that no block of output channels straddles two groups."""
    n = a.shape[axis] // groups
    n4 = _round_up(n, BLOCK)
    split = a.shape[:axis] + (groups, n) + a.shape[axis + 1:]
    out = np.zeros(a.shape[:axis] + (groups, n4) + a.shape[axis + 1:], dtype=a.dtype)
    out[(slice(None),) * (axis + 1) + (slice(0, n),)] = a.reshape(split)
    return out.reshape(a.shape[:axis] + (groups * n4,) + a.shape[axis + 1:])


def _drop_padding(a, axis, groups, n):
    """The inverse of _whole_blocks: each group's first n channels along `axis`, contiguous."""
    padded = a.reshape(a.shape[:axis] + (groups, a.shape[axis] // groups) + a.shape[axis + 1:])
    kept = np.ascontiguousarray(padded[(slice(None),) * (axis + 1) + (slice(0, n),)])
    return kept.reshape(a.shape[:axis] + (groups * n,) + a.shape[axis + 1:])


# The kernels run at a steady fraction of the machine's peak, less their junk positions (4x4
# images: about 25 computed per 16 outputs), while im2col's GEMM gains with the channel count:
# the direct path takes few channels, or any channel count on wide images (crossovers measured
# in docs/PERFORMANCE.md).
MAX_CHANNEL_PRODUCT = 128 * 256  # C_in * C_out / groups
ANY_CHANNELS_FROM_WIDTH = 32
# At stride 2 the kernels read four phase planes, and im2col's copies are a quarter as many:
# the direct path wins on fewer channels, and not on 4x4 outputs.
STRIDED_MAX_CHANNEL_PRODUCT = 64 * 128
STRIDED_MIN_OUTPUT_WIDTH = 8
# The forward's tasks are planes; with fewer than this many per thread (a small batch, or many
# small images a plane), each plane's output blocks are shared among tasks (which each stack
# the plane again), so that the threads get about equal work.
TASKS_PER_THREAD = 2


class Direct(ConvPath):
    """The direct path of the convolution (`ops.conv` picks it): (1) forward, (2) for the
    weight gradient, (3) for the input gradient."""

    name = "direct"
    why = ("a 3-wide kernel at stride 1 (or 3x3 at stride 2), few channels per group or a wide image: Numba "
           "kernels read the padded input (its phase planes at stride 2) in place, no im2col copies")
    fuses_epilogue = True  # forward(..., bias=, clamp=) adds and clamps in the pass that writes

    def cannot(self, x_shape, weight_shape, geometry, groups):
        """Why this path cannot compute the layer (None: it can)."""
        if geometry.kw != 3:
            return f"a {geometry.kh}x{geometry.kw} kernel, not 3 wide"
        if _stride(geometry) != (1, 1) and (_stride(geometry) != (2, 2) or (geometry.dh, geometry.dw) != (1, 1)):
            return f"stride {_stride(geometry)} (dilation {(geometry.dh, geometry.dw)}), not 1, nor 2 undilated"
        if _stride(geometry) == (1, 1) and not input_grad_is_a_conv(geometry):
            return f"padding {(geometry.ph, geometry.pw)} beyond the kernel's reach: the input gradient is no convolution"
        return None

    def slower(self, x_shape, weight_shape, geometry, groups):
        """Why the automatic choice leaves the layer to another path (None: it takes it)."""
        product, W = x_shape[1] * weight_shape[0] // groups, x_shape[3]
        if _stride(geometry) != (1, 1):
            Wo = geometry.output_size(x_shape[2], W)[1]
            if product <= STRIDED_MAX_CHANNEL_PRODUCT and Wo >= STRIDED_MIN_OUTPUT_WIDTH:
                return None
            return (f"stride 2 with C_in*C_out/groups = {product} (direct up to {STRIDED_MAX_CHANNEL_PRODUCT}) "
                    f"and outputs {Wo} wide (direct from {STRIDED_MIN_OUTPUT_WIDTH}): im2col's GEMM is faster")
        if product <= MAX_CHANNEL_PRODUCT or W >= ANY_CHANNELS_FROM_WIDTH:
            return None
        return (f"C_in*C_out/groups = {product} > {MAX_CHANNEL_PRODUCT} on images {W} < {ANY_CHANNELS_FROM_WIDTH} "
                "wide: im2col's GEMM is faster")

    def forward(self, x, weight, geometry, groups, bias=None, clamp=None):
        """(1). x: (N, C, H, W); weight: (C_out, C/G, kh, 3) -> (N, C_out, Ho, Wo), plus bias
        (C_out,) and clamped to clamp = (lo, hi) if given, in the pass that writes the output."""
        if groups > 1 and weight.shape[0] // groups % BLOCK:
            out = self.forward(x, _whole_blocks(weight, 0, groups), geometry, groups)  # (N, G*C_out4/G, Ho, Wo)
            return epilogue(_drop_padding(out, 1, groups, weight.shape[0] // groups), bias, clamp)  # (N, C_out, Ho, Wo)
        N, C, H, W = x.shape
        lay = padded_width_layout(N, H, W, geometry)
        w, per_group = _blocked_weight(weight, groups)
        M, blocks = -(-N // lay.k), w.shape[0] // BLOCK
        parts = min(blocks, -(-TASKS_PER_THREAD * numba.get_num_threads() // M))  # tasks per plane
        out = reuse.empty((N, weight.shape[0], lay.Ho, lay.Wo), x.dtype)
        launch(_forward, M * weight.shape[0] * C // groups * geometry.kh * lay.L, np.ascontiguousarray(x), w,
               out, lay.k, lay.kx, lay.S, lay.T, lay.Wq, lay.Hq, lay.L, tap_table(lay, geometry), geometry.ph,
               geometry.pw, *_stride(geometry), per_group, parts, *store_args(bias, clamp, weight.shape[0], x.dtype))
        return out

    def grad_weight(self, grad, x, geometry, groups):
        """(2). grad: (N, C_out, Ho, Wo); x: (N, C, H, W) -> (C_out, C/G, kh, 3)."""
        if groups > 1 and grad.shape[1] // groups % BLOCK:
            gw = self.grad_weight(_whole_blocks(grad, 1, groups), x, geometry, groups)  # (G*C_out4/G, C/G, kh, 3)
            return _drop_padding(gw, 0, groups, grad.shape[1] // groups)               # (C_out, C/G, kh, 3)
        N, C, H, W = x.shape
        C_out, lay = grad.shape[1], padded_width_layout(N, H, W, geometry)
        M = -(-N // lay.k)
        parts = np.empty((min(CHUNKS, M), _round_up(C_out, BLOCK), C // groups, geometry.kh, 3), dtype=x.dtype)
        per_group = C_out // groups if groups > 1 else parts.shape[1]
        launch(_weight_grad, M * parts.shape[1] * C // groups * geometry.kh * lay.L, np.ascontiguousarray(x),
               np.ascontiguousarray(grad), parts, lay.k, lay.kx, lay.S, lay.T, lay.Wq, lay.Hq, lay.L,
               tap_table(lay, geometry), geometry.ph, geometry.pw, *_stride(geometry), per_group)
        return parts.sum(axis=0)[:C_out]

    def grad_input(self, grad, weight, x_shape, geometry, groups):
        """(3) at stride 1; at stride 2 the input gradient is no stride-1 convolution: col2im's.
        grad: (N, C_out, Ho, Wo) -> (N, C, H, W) = x_shape."""
        if _stride(geometry) == (1, 1):
            return self.forward(grad, *input_grad_as_conv(weight, geometry, groups), groups)
        gT = channels_first(grad, "gT").reshape(groups, grad.shape[1] // groups, -1)  # (G, C_out/G, P)
        return col2im_input_grad(gT, weight, x_shape, geometry)



def _blocked_weight(weight, groups):
    """(weight with its output channels padded with zeros to whole blocks of BLOCK, output
    channels per group as the kernels take it: the padded count without groups)."""
    w = padded_to_blocks(weight, BLOCK)
    return w, (weight.shape[0] // groups if groups > 1 else w.shape[0])


def _stride(geometry):
    return geometry.sh, geometry.sw
