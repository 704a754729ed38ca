"""2-D convolution: im2col + one (batched) matrix product, and its fast paths.

    x:      (N, C, H, W)
    weight: (C_out, C/G, kh, kw)         G = groups
    bias:   (C_out,)
    out:    (N, C_out, Ho, Wo)

    out[n, o, i, j] = bias[o] + sum_{c, a, b} weight[o, c, a, b] * x[n, g*C/G + c, i*sh + a*dh - ph, j*sw + b*dw - pw]

where g = o // (C_out/G) is the group of output channel o. Below, K = C/G*kh*kw (the rows
of one group's columns) and P = N*Ho*Wo (the output pixels). `Conv2dFunction` is the
reference: im2col copies every patch into a column, then the groups are the batch axis
of one matrix product (Chainer's grouped convolution). Three fast paths compute the same
formula for the layers where they are faster, each an object in `tinycnn/kernels/` with
its own rule, thresholds and forward, grad_input and grad_weight:

- `pointwise` (kernels/gemm.py): 1x1, stride 1, no padding: no im2col at all;
- `depthwise` (kernels/depthwise.py): one input channel per group;
- `direct` (kernels/direct_path.py, its kernels in direct_conv.py): kernels 3 wide at stride 1
  (and 3x3 at stride 2), few channels or wide images.

`conv_algorithm(...)` says which one a layer takes, and why; `conv2d(..., algorithm=...)`
forces one.
"""
import functools

import numpy as np

from tinycnn.kernels.blas import gemm
from tinycnn.kernels.depthwise import Depthwise
from tinycnn.kernels.direct_conv import input_grad_as_conv, input_grad_is_a_conv
from tinycnn.kernels.direct_path import Direct
from tinycnn.kernels.epilogue import epilogue
from tinycnn.kernels.geometry import ConvGeometry
from tinycnn.kernels.gemm import Pointwise, channels_first, col2im_input_grad, from_channels_first, scratch, weight_grad
from tinycnn.kernels.im2col import im2col
from tinycnn.ops.activation import CLAMPS, mark_clamped, relu, relu6
from tinycnn.ops.deferred import Deferred, may_defer
from tinycnn.tensor import Function, Tensor, is_grad_enabled

# The activations a convolution can apply in its own pass: their range, and their op.
ACTIVATIONS = {"relu": (CLAMPS["relu"], relu), "relu6": (CLAMPS["relu6"], relu6)}
FAST_PATHS = {path.name: path for path in (Depthwise(), Pointwise(), Direct())}  # in the order auto tries them
ALGORITHMS = ("im2col", *FAST_PATHS)

# ---------------------------------------------------------------- the reference


def _im2col_conv(x, weight, geometry, groups, *bias):
    """x: (N, C, H, W), weight: (C_out, C/G, kh, kw) -> (N, C_out, Ho, Wo) (+ bias)."""
    N, C, H, W = x.shape
    C_out, Cg, kh, kw = weight.shape
    G, (Ho, Wo) = groups, geometry.output_size(H, W)
    K, P = Cg * kh * kw, N * Ho * Wo
    cols = im2col(x, geometry, out=scratch("cols", G * K * P, x.dtype))    # (C*kh*kw, N*Ho*Wo)
    y = scratch("y", C_out * P, x.dtype).reshape(G, C_out // G, P)
    gemm(weight.reshape(G, C_out // G, K), cols.reshape(G, K, P), out=y)   # (G, C_out/G, N*Ho*Wo)
    return from_channels_first(y.reshape(C_out, N, Ho, Wo), *bias)          # (N, C_out, Ho, Wo)


class Conv2dFunction(Function):
    """The convolution as im2col + one matrix product per group: the reference."""

    path = "im2col"

    def forward(self, x, weight, *bias, geometry, groups):
        self.geometry, self.groups, self.has_bias = geometry, groups, bool(bias)
        x = np.ascontiguousarray(x)
        self.save_for_backward(x, weight)
        return _im2col_conv(x, weight, geometry, groups, *bias)

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_w = self.needs_input_grad[:2]
        C_out, Cg, kh, kw = weight.shape
        G, K = self.groups, Cg * kh * kw
        gT = channels_first(grad, "gT").reshape(G, C_out // G, -1)          # (G, C_out/G, P)
        cols = scratch("cols", G * K * gT.shape[2], x.dtype)                 # room for (G, K, P) columns
        gx = gw = None
        if need_w:  # dW = dY @ cols^T, the columns recomputed rather than kept alive since forward
            gw = weight_grad(gT, im2col(x, self.geometry, out=cols).reshape(G, K, -1))  # (G, C_out/G, K)
            gw = gw.reshape(weight.shape)                                     # (C_out, C/G, kh, kw)
        if need_x and input_grad_is_a_conv(self.geometry):  # a convolution of dY: streams better than col2im
            gx = _im2col_conv(grad, *input_grad_as_conv(weight, self.geometry, G), G)  # (N, C, H, W)
        elif need_x:  # dX = col2im(W^T @ dY), in the columns' memory (used up)
            gx = col2im_input_grad(gT, weight, x.shape, self.geometry)       # (N, C, H, W)
        return (gx, gw, grad.sum(axis=(0, 2, 3))) if self.has_bias else (gx, gw)


class FastConv2dFunction(Function):
    """The same convolution through a fast path (`FAST_PATHS`)."""

    def forward(self, x, weight, *bias, geometry, groups, path):
        self.geometry, self.groups, self.has_bias = geometry, groups, bool(bias)
        self.path, self.fast = path.name, path
        x = np.ascontiguousarray(x)
        self.save_for_backward(x, weight)
        if bias and getattr(path, "fuses_epilogue", False):
            return path.forward(x, weight, geometry, groups, bias=bias[0])     # (N, C_out, Ho, Wo)
        out = path.forward(x, weight, geometry, groups)                      # (N, C_out, Ho, Wo)
        if bias:
            out += bias[0].reshape(-1, 1, 1)
        return out

    def backward(self, grad):
        x, weight = self.saved_tensors
        grad = np.ascontiguousarray(grad)                                    # (N, C_out, Ho, Wo)
        gx, gw = self.fast.backward(grad, x, weight, self.geometry, self.groups, *self.needs_input_grad[:2])
        return (gx, gw, grad.sum(axis=(0, 2, 3))) if self.has_bias else (gx, gw)


# ---------------------------------------------------------------- choosing the path


@functools.lru_cache(maxsize=4096)
def _choose(x_shape, weight_shape, geometry, groups):
    """(name, reason): the first fast path that can take the layer and is faster there, else im2col."""
    declined = []
    for path in FAST_PATHS.values():
        reason = path.cannot(x_shape, weight_shape, geometry, groups) or path.slower(x_shape, weight_shape, geometry, groups)
        if reason is None:
            return path.name, path.why
        declined.append(f"not {path.name}: {reason}")
    return "im2col", "; ".join(declined)


def _path(x_shape, weight_shape, geometry, groups, algorithm, where):
    """The fast path object for the layer, or None for im2col; `algorithm` None chooses."""
    if algorithm is None:
        return FAST_PATHS.get(_choose(x_shape, weight_shape, geometry, groups)[0])
    if algorithm == "im2col":
        return None
    path = FAST_PATHS.get(algorithm)
    if path is None:
        raise ValueError(f"{where}: expected algorithm None or one of {ALGORITHMS}, got {algorithm!r}")
    reason = path.cannot(x_shape, weight_shape, geometry, groups)
    if reason is not None:
        raise ValueError(f"{where}: algorithm={algorithm!r} cannot take this layer: {reason}")
    return path


def conv_algorithm(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """Which path `conv2d` takes for these shapes, and why: ("im2col" | "pointwise" |
    "depthwise" | "direct", a sentence).

    >>> conv_algorithm((128, 16, 32, 32), (16, 16, 3, 3), padding=1)[0]
    'direct'
    """
    where = "conv_algorithm"
    input_shape, weight_shape = tuple(input_shape), tuple(weight_shape)
    if len(weight_shape) != 4:
        raise ValueError(f"{where}: expected a 4-D weight shape (C_out, C_in/groups, kH, kW), got {weight_shape}")
    geometry = conv_geometry(weight_shape[2:], stride, padding, dilation, where)
    _check_groups(groups, where)
    _check_shapes(input_shape, weight_shape, geometry, groups, where)
    return _choose(input_shape, weight_shape, geometry, int(groups))


# ---------------------------------------------------------------- checks, once


def _pair(v, what, where):
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    if isinstance(v, tuple | list) and len(v) == 2 and all(isinstance(e, int | np.integer) for e in v):
        return int(v[0]), int(v[1])
    raise TypeError(f"{where}: expected {what} as an int or a pair of ints, got {v!r}")


def conv_geometry(kernel_size, stride, padding, dilation, where="conv2d") -> ConvGeometry:
    """Check PyTorch-style arguments (each an int or an (h, w) pair) and return the geometry."""
    kernel = _pair(kernel_size, "kernel_size", where)
    stride = _pair(stride, "stride", where)
    padding = _pair(padding, "padding", where)
    dilation = _pair(dilation, "dilation", where)
    if min(stride) <= 0:
        raise ValueError(f"{where}: expected a positive stride, got {stride}")
    if min(dilation) <= 0:
        raise ValueError(f"{where}: expected a positive dilation, got {dilation}")
    if min(padding) < 0:
        raise ValueError(f"{where}: expected a non-negative padding, got {padding}")
    if min(kernel) <= 0:
        raise ValueError(f"{where}: expected a positive kernel size, got {kernel}")
    return ConvGeometry(*kernel, *stride, *padding, *dilation)


def _check_groups(groups, where):
    if not isinstance(groups, int | np.integer) or groups <= 0:
        raise ValueError(f"{where}: expected a positive integer groups, got {groups!r}")


def _check_shapes(x_shape, weight_shape, geometry, groups, where):
    if len(x_shape) != 4:
        raise ValueError(f"{where}: expected a 4-D input (N, C, H, W), got shape {x_shape}")
    C_out, Cg, kh, kw = weight_shape
    if x_shape[1] != Cg * groups:
        raise ValueError(
            f"{where}: expected input with {Cg * groups} channels (weight {weight_shape}, groups={groups}), "
            f"got {x_shape[1]} channels (input shape {x_shape})"
        )
    if C_out % groups:
        raise ValueError(f"{where}: expected out_channels divisible by groups={groups}, got {C_out}")
    _, _, _, _, ph, pw, dh, dw = geometry
    if x_shape[2] + 2 * ph < dh * (kh - 1) + 1 or x_shape[3] + 2 * pw < dw * (kw - 1) + 1:
        raise ValueError(
            f"{where}: kernel size {(kh, kw)} (dilation {(dh, dw)}) is larger than the padded input "
            f"{(x_shape[2] + 2 * ph, x_shape[3] + 2 * pw)} (input shape {x_shape}, padding {(ph, pw)})"
        )


def _check_input(x, weight, bias, geometry, groups, where):
    """The checks that depend on the input (each call); the hyper-parameters were checked once."""
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{where}: expected a float32 or float64 input, got dtype {x.dtype}")
    if weight.dtype != x.dtype:
        raise TypeError(f"{where}: input dtype {x.dtype} and weight dtype {weight.dtype} differ")
    _check_shapes(x.shape, weight.shape, geometry, groups, where)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"{where}: expected a bias of shape ({weight.shape[0]},), got {tuple(bias.shape)}")


# ---------------------------------------------------------------- the functions


def convolve(x, weight, bias, geometry: ConvGeometry, groups: int, algorithm=None, where="conv2d",
             activation=None) -> Tensor:
    """The convolution of a checked geometry (nn.Conv2d's, built once): checks the input,
    picks the path (or takes `algorithm`) and records the op. `where` names the caller in
    error messages (formatted only on an error). `activation` ("relu", "relu6"): applied to
    the output; where no gradient is wanted, in the pass that writes it (`_eval_forward`)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    _check_input(x, weight, bias, geometry, groups, where)
    extra = () if bias is None else (bias,)
    path = _path(x.shape, weight.shape, geometry, groups, algorithm, where)
    if activation is not None and not any(is_grad_enabled() and t.requires_grad for t in (x, weight, *extra)):
        return _eval_forward(x, weight, bias, geometry, groups, path, activation)
    if activation is None and may_defer(x, weight, bias):  # an eval-mode BatchNorm may fold into it
        N, _, H, W = x.shape
        compute = functools.partial(_forward_arrays, np.ascontiguousarray(x.data), geometry=geometry, groups=groups,
                                    path=path)
        return Deferred((N, weight.shape[0], *geometry.output_size(H, W)), x.dtype, compute, weight=weight.data,
                        bias=None if bias is None else bias.data, clamp=None)
    if path is None:
        out = Conv2dFunction.apply(x, weight, *extra, geometry=geometry, groups=groups)
    else:
        out = FastConv2dFunction.apply(x, weight, *extra, geometry=geometry, groups=groups, path=path)
    return out if activation is None else ACTIVATIONS[activation][1](out)


def _eval_forward(x, weight, bias, geometry, groups, path, activation) -> Tensor:
    """The eval fast path: no graph; bias and activation in the pass that writes the output
    (the direct kernels) or in one pass over the fresh output (`epilogue`). The result is
    marked as clamped, so that the activation op the model applies next passes it through."""
    clamp, _ = ACTIVATIONS[activation]
    out = _forward_arrays(np.ascontiguousarray(x.data), weight.data, None if bias is None else bias.data, clamp,
                          geometry=geometry, groups=groups, path=path)
    return mark_clamped(Tensor(out, _raw=True), *clamp)


def _forward_arrays(x, weight, bias, clamp, *, geometry, groups, path):
    """The convolution of arrays, no graph: + bias (or None), clamped to clamp = (lo, hi) (or
    None) in the pass that writes the output (the direct kernels) or in one pass over the fresh
    output (`epilogue`). With neither, the bits of `FastConv2dFunction`'s forward."""
    if path is None:
        return epilogue(_im2col_conv(x, weight, geometry, groups, *(() if bias is None else (bias,))), None, clamp)
    if getattr(path, "fuses_epilogue", False):
        return path.forward(x, weight, geometry, groups, bias=bias, clamp=clamp)
    return epilogue(path.forward(x, weight, geometry, groups), bias, clamp)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm=None):
    """2-D convolution (PyTorch's `F.conv2d`).

    input: (N, C, H, W); weight: (C_out, C/groups, kH, kW); bias: (C_out,) or None.
    stride, padding, dilation: int or (h, w) pair. Returns (N, C_out, Ho, Wo) with
    Ho = (H + 2*padding - dilation*(kH-1) - 1) // stride + 1 (and Wo alike).
    algorithm: None picks the path (see `conv_algorithm`); "im2col", "pointwise",
    "depthwise" or "direct" forces one (ValueError if it cannot take the layer).
    """
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (C_out, C_in/groups, kH, kW), got shape {tuple(weight.shape)}")
    geometry = conv_geometry(weight.shape[2:], stride, padding, dilation, "conv2d")
    _check_groups(groups, "conv2d")
    return convolve(input, weight, bias, geometry, int(groups), algorithm, "conv2d")
