"""2-D convolution: im2col + one (batched) matrix product.

    x:      (N, C, H, W)
    weight: (C_out, C/G, kh, kw)         G = groups
    bias:   (C_out,)
    out:    (N, C_out, Ho, Wo)

    out[n, o, i, j] = bias[o] + sum_{c, a, b} weight[o, c, a, b] * x[n, g*C/G + c, i*sh + a*dh - ph, j*sw + b*dw - pw]

where g = o // (C_out/G) is the group of output channel o. Four paths, all
computing that formula:
- general: im2col, then out = W @ cols, with the groups as the batch axis of
  one batched matmul (Chainer's grouped convolution);
- direct (kernels 3 wide at stride 1, with few channels or on wide images:
  the 3x3 convolutions of CIFAR ResNets, WideResNets, ResNeXts and DenseNets;
  groups of a multiple of 4 channels): Numba kernels that read the input in place,
  for the output and both gradients (`kernels/direct_conv.py`); im2col's
  kh*kw copies of the input cost as much time as its GEMM;
- pointwise (1x1, stride 1, no padding, at least 4x4 pixels): no im2col and
  no copies: x[n] is already a (C, H*W) matrix, so out[n] = W @ x[n], one
  GEMM per image written straight into the (N, C_out, H, W) output (smaller
  images take the im2col path: N tiny GEMMs cost more than one big one);
- depthwise (G == C, one input channel per group): direct Numba kernels,
  faster than im2col because there is almost no arithmetic to amortise the
  copies (see `tinycnn bench layers`).
"""
import numpy as np

from tinycnn.kernels.depthwise import depthwise_backward, depthwise_forward
from tinycnn.kernels.direct_conv import BLOCK, direct_forward, direct_weight_grad
from tinycnn.kernels.im2col import col2im, conv_output_size, im2col
from tinycnn.tensor import Function, Tensor

# ---------------------------------------------------------------- scratch memory

_scratch_buffers: dict = {}


def _scratch(name: str, size: int, dtype) -> np.ndarray:
    """A reusable flat buffer of `size` elements (contents undefined).

    The column matrices are the largest arrays of a CNN (kh*kw times the
    input); allocating a fresh one per call costs a page fault per 4 KiB.
    They never outlive the forward or backward call that fills them, so one
    buffer per (name, dtype), grown when needed, serves every layer.
    """
    key = (name, np.dtype(dtype))
    buf = _scratch_buffers.get(key)
    if buf is None or buf.size < size:
        buf = _scratch_buffers[key] = np.empty(size, dtype=dtype)
    return buf[:size]


# ---------------------------------------------------------------- the Function


class Conv2d(Function):
    """The convolution; see the module docstring for the shapes and the paths.

    algorithm: "auto" picks the path; "im2col" forces the general one (the
    benchmark and the tests use it to compare the paths).
    """

    def forward(self, x, weight, *bias, stride, padding, dilation, groups, algorithm="auto"):
        (sh, sw), (ph, pw), (dh, dw), G = stride, padding, dilation, groups
        N, C, H, W = x.shape
        C_out, Cg, kh, kw = weight.shape
        Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
        self.geometry = (kh, kw, sh, sw, ph, pw, dh, dw)
        self.groups, self.has_bias = G, bool(bias)
        self.path = self._choose_path(weight, x.shape) if algorithm == "auto" else algorithm
        x = np.ascontiguousarray(x)
        self.save_for_backward(x, weight)

        if self.path == "depthwise":
            out = depthwise_forward(x, weight.reshape(C_out, kh, kw), sh, sw, ph, pw, dh, dw)  # (N, C_out, Ho, Wo)
        elif self.path == "direct":
            out = direct_forward(x, weight, ph, pw, dh, dw, G)               # (N, C_out, Ho, Wo)
        elif self.path == "pointwise":
            out = np.matmul(weight.reshape(G, C_out // G, Cg),              # (G, C_out/G, C/G)
                            x.reshape(N, G, Cg, H * W))                     # (N, G, C/G, H*W)
            out = out.reshape(N, C_out, H, W)                                # (N, G, C_out/G, H*W) -> (N, C_out, H, W)
        else:
            P = N * Ho * Wo
            cols = im2col(x, *self.geometry, out=_scratch("cols", C * kh * kw * P, x.dtype))  # (C*kh*kw, N*Ho*Wo)
            cols = cols.reshape(G, Cg * kh * kw, P)                      # (G, C/G*kh*kw, N*Ho*Wo)
            w = weight.reshape(G, C_out // G, Cg * kh * kw)              # (G, C_out/G, C/G*kh*kw)
            y = _scratch("y", C_out * P, x.dtype).reshape(G, C_out // G, P)
            np.matmul(w, cols, out=y)                                    # (G, C_out/G, N*Ho*Wo)
            y = y.reshape(C_out, N, Ho, Wo).transpose(1, 0, 2, 3)        # (N, C_out, Ho, Wo) view
            out = np.empty((N, C_out, Ho, Wo), dtype=x.dtype)
            if bias:
                np.add(y, bias[0].reshape(C_out, 1, 1), out=out)         # the transposing copy adds the bias
                return out
            np.copyto(out, y)
        if bias:
            out += bias[0].reshape(C_out, 1, 1)
        return out

    def backward(self, grad):
        x, weight = self.saved_tensors
        kh, kw, sh, sw, ph, pw, dh, dw = self.geometry
        N, C, H, W = x.shape
        C_out, Cg, _, _ = weight.shape
        G = self.groups
        need_x, need_w = self.needs_input_grad[:2]
        grad = np.ascontiguousarray(grad)                                # (N, C_out, Ho, Wo)
        Ho, Wo = grad.shape[2:]
        gx = gw = None

        if self.path == "depthwise":  # both gradients in one pass
            gx, gw = depthwise_backward(grad, x, weight.reshape(C_out, kh, kw), need_x, need_w, sh, sw, ph, pw, dh, dw)
            gw = None if gw is None else gw.reshape(weight.shape)
        elif self.path == "pointwise":
            gx, gw = _pointwise_backward(grad, x, weight, G, need_x, need_w)
        elif self.path == "direct":
            if need_w:
                gw = direct_weight_grad(grad, x, kh, ph, pw, dh, dw, G)     # (C_out, C/G, kh, 3)
            if need_x:  # a stride-1 convolution of grad with the flipped weight, in/out swapped per group
                w_t = weight.reshape(G, C_out // G, Cg, kh, kw)[..., ::-1, ::-1]  # (G, C_out/G, C/G, kh, 3)
                w_t = w_t.transpose(0, 2, 1, 3, 4).reshape(C, C_out // G, kh, kw)   # (C, C_out/G, kh, 3)
                gx = direct_forward(grad, w_t, dh * (kh - 1) - ph, dw * (kw - 1) - pw, dh, dw, G)  # (N, C, H, W)
        else:
            P = N * Ho * Wo
            gT = _channels_first(grad, "gT").reshape(G, C_out // G, P)  # (G, C_out/G, N*Ho*Wo)
            w = weight.reshape(G, C_out // G, Cg * kh * kw)              # (G, C_out/G, C/G*kh*kw)
            buf = _scratch("cols", C * kh * kw * P, x.dtype)
            if need_w:  # recompute the columns rather than keep kh*kw copies of x alive
                cols = im2col(x, *self.geometry, out=buf)                # (C*kh*kw, N*Ho*Wo)
                cols = cols.reshape(G, Cg * kh * kw, P)                  # (G, C/G*kh*kw, N*Ho*Wo)
                gw = _weight_grad(gT, cols).reshape(weight.shape)         # (C_out, C/G, kh, kw)
            if need_x and _input_grad_is_a_conv(self.geometry):
                gx = _input_grad_as_conv(grad, weight, G, self.geometry, x.shape)  # (N, C, H, W)
            elif need_x:
                gcols = buf.reshape(G, Cg * kh * kw, P)                  # the columns are used up: reuse their memory
                np.matmul(w.transpose(0, 2, 1), gT, out=gcols)           # (G, C/G*kh*kw, N*Ho*Wo)
                gx = col2im(gcols.reshape(C * kh * kw, P), x.shape, *self.geometry)  # (N, C, H, W)
        if not self.has_bias:
            return gx, gw
        return gx, gw, grad.sum(axis=(0, 2, 3))                          # (C_out,)

    def _choose_path(self, weight, x_shape):
        """"depthwise" (one input channel per group), "pointwise" (1x1, stride 1, no padding,
        >= POINTWISE_MIN_PIXELS per image), "direct" (kernel (kh, 3), stride 1, groups of 4k channels,
        padding at most the kernel's reach so the input gradient is a convolution too; few channels
        or wide images) or "im2col"."""
        kh, kw, sh, sw, ph, pw, dh, dw = self.geometry
        C, H, W = x_shape[1:]
        if self.groups == C and weight.shape[1] == 1 and C > 1:
            return "depthwise"
        if (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0) and H * W >= POINTWISE_MIN_PIXELS:
            return "pointwise"
        if kw == 3 and _input_grad_is_a_conv(self.geometry) and _direct_fits(self.groups, C, weight.shape[0], W):
            return "direct"
        return "im2col"


# The direct kernels run at a steady fraction of the machine's peak, less their junk columns
# (4x4 images: 36 padded pixels computed for 16); im2col's GEMM gains with the channel count.
# Training step of one 3x3 convolution, 2 threads, direct vs im2col (ms): 32->32 8x8 (N 128)
# 7.7 vs 24.4; 64->128 4x4 17.2 vs 24.4; 128->256 8x8 139 vs 146; 192->192 8x8 156 vs 150;
# 256->256 8x8 272 vs 241; 512->512 4x4 470 vs 238; 512->512 7x7 (N 32) 295 vs 174;
# 160->160 32x32 (N 64) 573 vs 711; 64->64 56x56 (N 32) 163 vs 277.
DIRECT_MAX_CHANNEL_PRODUCT = 128 * 256  # C_in * C_out / groups
DIRECT_ANY_CHANNELS_FROM_WIDTH = 32
# Per-image GEMMs beat one big GEMM plus two transposing copies from 4x4 images up (MobileNetV2's
# 1x1 shapes, batch 128, 1 thread: 1.3-1.8x faster forward); below, N tiny GEMMs lose 2x.
POINTWISE_MIN_PIXELS = 16
# The weight gradient as N per-image products summed (no copies, but an (N, C_out, C) temporary)
# wins from 8x8 images up; smaller images transpose x and grad channels-first for one GEMM.
BATCHED_WEIGHT_GRAD_MIN_PIXELS = 64


def _direct_fits(G, C, C_out, W) -> bool:
    """Whether the direct kernels take a 3-wide stride-1 layer: its groups split into whole blocks
    of BLOCK (4) output channels, in the convolution (C_out/G) and in its input gradient (C/G),
    and it has few channels per group or wide images (the measurements above)."""
    if G > 1 and (C_out // G % BLOCK or C // G % BLOCK):
        return False
    return C * C_out // G <= DIRECT_MAX_CHANNEL_PRODUCT or W >= DIRECT_ANY_CHANNELS_FROM_WIDTH


def _pointwise_backward(grad, x, weight, G, need_x, need_w):
    """Both gradients of the pointwise path. grad: (N, C_out, H, W), x: (N, C, H, W),
    weight: (C_out, C/G, 1, 1) -> (dx: (N, C, H, W) or None, dweight: (C_out, C/G, 1, 1) or None)."""
    N, C, H, W = x.shape
    C_out, Cg = weight.shape[:2]
    P = H * W
    g = grad.reshape(N, G, C_out // G, P)                                # (N, G, C_out/G, H*W)
    w = weight.reshape(G, C_out // G, Cg)                                # (G, C_out/G, C/G)
    gx = gw = None
    if need_x:
        gx = np.matmul(w.transpose(0, 2, 1), g).reshape(x.shape)         # (N, G, C/G, H*W) -> (N, C, H, W)
    if need_w and P >= BATCHED_WEIGHT_GRAD_MIN_PIXELS:
        xs = x.reshape(N, G, Cg, P)                                      # (N, G, C/G, H*W)
        gw = np.matmul(g, xs.transpose(0, 1, 3, 2)).sum(axis=0)          # (N, G, C_out/G, C/G) -> (G, C_out/G, C/G)
    elif need_w:
        gT = _channels_first(grad, "gT").reshape(G, C_out // G, N * P)   # (G, C_out/G, N*H*W)
        cols = _channels_first(x, "cols").reshape(G, Cg, N * P)          # (G, C/G, N*H*W)
        gw = _weight_grad(gT, cols)                                      # (G, C_out/G, C/G)
    return gx, None if gw is None else gw.reshape(weight.shape)


def _weight_grad(gT, cols):
    """gT @ cols^T, summed over all N*Ho*Wo columns: (G, C_out/G, K) from
    gT: (G, C_out/G, P) and cols: (G, K, P).

    Computed as (cols @ gT^T)^T when K >= C_out/G: OpenBLAS is up to 10x slower
    when the first operand has fewer rows than the second (a short, very long
    reduction), so the taller one goes first.
    """
    if cols.shape[1] >= gT.shape[1]:
        return np.matmul(cols, gT.transpose(0, 2, 1)).transpose(0, 2, 1)  # (G, K, C_out/G) -> (G, C_out/G, K)
    return np.matmul(gT, cols.transpose(0, 2, 1))                        # (G, C_out/G, K)


def _input_grad_is_a_conv(geometry) -> bool:
    """Stride 1 and padding <= dilation*(k-1): the input gradient is itself a convolution."""
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    return sh == sw == 1 and ph <= dh * (kh - 1) and pw <= dw * (kw - 1)


def _input_grad_as_conv(grad, weight, G, geometry, x_shape):
    """dL/dx of a stride-1 convolution = the convolution of grad with the flipped,
    in/out-transposed weight and padding d*(k-1) - p ("full" correlation):
    im2col(grad) + GEMM, which streams memory better than GEMM + col2im.

    grad: (N, C_out, Ho, Wo); weight: (C_out, C/G, kh, kw) -> (N, C, H, W) = x_shape."""
    kh, kw, _, _, ph, pw, dh, dw = geometry
    N, C_out = grad.shape[:2]
    Cg, (H, W) = weight.shape[1], x_shape[2:]
    P = N * H * W
    w = weight.reshape(G, C_out // G, Cg, kh, kw)[..., ::-1, ::-1]      # flipped taps
    w = w.transpose(0, 2, 1, 3, 4).reshape(G, Cg, C_out // G * kh * kw)  # (G, C/G, C_out/G*kh*kw)
    q = (kh, kw, 1, 1, dh * (kh - 1) - ph, dw * (kw - 1) - pw, dh, dw)
    cols = im2col(grad, *q, out=_scratch("cols", C_out * kh * kw * P, grad.dtype))  # (C_out*kh*kw, N*H*W)
    y = _scratch("y", G * Cg * P, grad.dtype).reshape(G, Cg, P)
    np.matmul(w, cols.reshape(G, C_out // G * kh * kw, P), out=y)    # (G, C/G, N*H*W)
    return _from_channels_first(y.reshape(G * Cg, N, H, W))          # (N, C, H, W)


def _from_channels_first(a):
    """(C, N, H, W) scratch view -> a new (N, C, H, W) array. Always a copy: with N == 1
    np.ascontiguousarray would return the scratch memory itself, which the next
    convolution overwrites while the gradient may still wait to be summed."""
    C, N, H, W = a.shape
    out = np.empty((N, C, H, W), dtype=a.dtype)
    np.copyto(out, a.transpose(1, 0, 2, 3))
    return out


def _channels_first(a, name):
    """(N, C, H, W) -> (C, N, H, W) contiguous, in a scratch buffer."""
    N, C, H, W = a.shape
    out = _scratch(name, a.size, a.dtype).reshape(C, N, H, W)
    np.copyto(out, a.transpose(1, 0, 2, 3))
    return out


# ---------------------------------------------------------------- the function


def _pair(v, what, where):
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    if isinstance(v, tuple | list) and len(v) == 2 and all(isinstance(e, int | np.integer) for e in v):
        return int(v[0]), int(v[1])
    raise TypeError(f"{where}: expected {what} as an int or a pair of ints, got {v!r}")


def conv2d_args(kernel_hw, stride, padding, dilation, groups, where):
    """Check and normalise the hyper-parameters; returns (stride, padding, dilation) as pairs."""
    stride = _pair(stride, "stride", where)
    padding = _pair(padding, "padding", where)
    dilation = _pair(dilation, "dilation", where)
    if min(stride) <= 0:
        raise ValueError(f"{where}: expected a positive stride, got {stride}")
    if min(dilation) <= 0:
        raise ValueError(f"{where}: expected a positive dilation, got {dilation}")
    if min(padding) < 0:
        raise ValueError(f"{where}: expected a non-negative padding, got {padding}")
    if not isinstance(groups, int | np.integer) or groups <= 0:
        raise ValueError(f"{where}: expected a positive integer groups, got {groups!r}")
    if min(kernel_hw) <= 0:
        raise ValueError(f"{where}: expected a positive kernel size, got {tuple(kernel_hw)}")
    return stride, padding, dilation


def _check_input(x, weight, bias, stride, padding, dilation, groups, where):
    if x.ndim != 4:
        raise ValueError(f"{where}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{where}: expected a float32 or float64 input, got dtype {x.dtype}")
    if weight.ndim != 4:
        raise ValueError(f"{where}: expected a 4-D weight (C_out, C_in/groups, kH, kW), got shape {tuple(weight.shape)}")
    if weight.dtype != x.dtype:
        raise TypeError(f"{where}: input dtype {x.dtype} and weight dtype {weight.dtype} differ")
    C_out, Cg, kh, kw = weight.shape
    if x.shape[1] != Cg * groups:
        raise ValueError(
            f"{where}: expected input with {Cg * groups} channels (weight {tuple(weight.shape)}, groups={groups}), "
            f"got {x.shape[1]} channels (input shape {tuple(x.shape)})"
        )
    if C_out % groups:
        raise ValueError(f"{where}: expected out_channels divisible by groups={groups}, got {C_out}")
    if bias is not None and tuple(bias.shape) != (C_out,):
        raise ValueError(f"{where}: expected a bias of shape ({C_out},), got {tuple(bias.shape)}")
    for axis, k, s, p, d in ((2, kh, stride[0], padding[0], dilation[0]), (3, kw, stride[1], padding[1], dilation[1])):
        if x.shape[axis] + 2 * p < d * (k - 1) + 1:
            raise ValueError(
                f"{where}: kernel size {(kh, kw)} (dilation {dilation}) is larger than the padded input "
                f"{tuple(n + 2 * q for n, q in zip(x.shape[2:], padding))} (input shape {tuple(x.shape)}, padding {padding})"
            )


def _conv2d(x, weight, bias, stride, padding, dilation, groups, where):
    x = x if isinstance(x, Tensor) else Tensor(x)
    stride, padding, dilation = conv2d_args(weight.shape[2:], stride, padding, dilation, groups, where)
    _check_input(x, weight, bias, stride, padding, dilation, groups, where)
    extra = () if bias is None else (bias,)
    return Conv2d.apply(x, weight, *extra, stride=stride, padding=padding, dilation=dilation, groups=int(groups))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (PyTorch's `F.conv2d`).

    input: (N, C, H, W); weight: (C_out, C/groups, kH, kW); bias: (C_out,) or None.
    stride, padding, dilation: int or (h, w) pair. Returns (N, C_out, Ho, Wo) with
    Ho = (H + 2*padding - dilation*(kH-1) - 1) // stride + 1 (and Wo alike).
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, "conv2d")
