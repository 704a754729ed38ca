"""Pooling ops: max, average, adaptive average and global average pooling.

All take x: (N, C, H, W). Max and average pooling run Numba kernels on the
(N * C, H, W) planes (tinycnn/kernels/pooling.py, with NumPy references).
"""
import numpy as np

from tinycnn.kernels.pooling import (
    avg_pool2d_backward,
    avg_pool2d_divisors,
    avg_pool2d_forward,
    global_avg_pool2d as global_avg_pool2d_kernel,
    max_pool2d_backward,
    max_pool2d_forward,
)
from tinycnn.tensor import Function, Tensor


def _pair(value, name, fn):
    """int or (int, int) -> (int, int), for kernel_size, stride, padding, dilation."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) for v in pair):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_4d(x, fn):
    if x.ndim != 4:
        raise ValueError(f"{fn}: expected a 4-D input (N, C, H, W), got {x.ndim}-D input of shape {x.shape}")


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """Output length of a pooling window sliding over `size` positions (PyTorch's rule:
    with ceil_mode the last window must start inside the input or its left padding)."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, fn):
    """Validate the arguments; return kernel, stride, padding, dilation pairs and (oh, ow)."""
    _check_4d(x, fn)
    k = _pair(kernel_size, "kernel_size", fn)
    s = k if stride is None or (isinstance(stride, list | tuple) and not stride) else _pair(stride, "stride", fn)
    p = _pair(padding, "padding", fn)
    d = _pair(dilation, "dilation", fn)
    for name, pair, low in (("kernel_size", k, 1), ("stride", s, 1), ("dilation", d, 1), ("padding", p, 0)):
        if min(pair) < low:
            raise ValueError(f"{fn}: {name} must be {'positive' if low else 'non-negative'}, got {pair}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{fn}: padding {p} should be at most half of the kernel size {k}")
    out = tuple(pool_output_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(x.shape[2:], k, s, p, d))
    if min(out) < 1:
        raise ValueError(
            f"{fn}: input of shape {x.shape} is too small for kernel_size {k}, dilation {d}, padding {p} "
            f"(output would be {out[0]}x{out[1]})"
        )
    return k, s, p, d, out


def _planes(x):
    """(N, C, H, W) -> contiguous (N * C, H, W)."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x).reshape(n * c, h, w)


class MaxPool2d(Function):
    """x: (N, C, H, W) -> (N, C, oh, ow), the maximum of each window;
    the gradient goes to the first maximal element of each window."""

    def forward(self, x, kernel, stride, padding, dilation, out_size):
        out, argmax = max_pool2d_forward(_planes(x), *kernel, *stride, *padding, *dilation, *out_size)
        self.save_for_backward(argmax)  # (N * C, oh, ow) flat index of each window's maximum
        self.x_shape = x.shape
        return out.reshape(*x.shape[:2], *out_size)

    def backward(self, grad):
        (argmax,) = self.saved_tensors
        n, c, h, w = self.x_shape
        dx = max_pool2d_backward(_planes(grad), argmax, h, w)  # (N * C, H, W)
        return dx.reshape(self.x_shape)


class AvgPool2d(Function):
    """x: (N, C, H, W) -> (N, C, oh, ow), the mean of each window."""

    def forward(self, x, kernel, stride, padding, out_size, count_include_pad, divisor_override):
        n, c, h, w = self.x_shape = x.shape
        divisors = avg_pool2d_divisors(h, w, *kernel, *stride, *padding, *out_size, count_include_pad, divisor_override)
        self.args = (*kernel, *stride, *padding, 1.0 / divisors)  # inv_divisor: (oh, ow)
        return avg_pool2d_forward(_planes(x), *self.args).reshape(n, c, *out_size)

    def backward(self, grad):
        n, c, h, w = self.x_shape
        return avg_pool2d_backward(_planes(grad), h, w, *self.args).reshape(self.x_shape)


class GlobalAvgPool2d(Function):
    """x: (N, C, H, W) -> (N, C, 1, 1), the mean over H and W."""

    def forward(self, x):
        n, c, h, w = self.x_shape = x.shape
        return global_avg_pool2d_kernel(_planes(x)).reshape(n, c, 1, 1)

    def backward(self, grad):
        n, c, h, w = self.x_shape
        return np.broadcast_to(grad / (h * w), self.x_shape)


def _adaptive_matrix(n_in, n_out, dtype):
    """(n_out, n_in) averaging matrix of PyTorch's adaptive bins:
    bin i covers [floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out))."""
    matrix = np.zeros((n_out, n_in), dtype=dtype)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class AdaptiveAvgPool2d(Function):
    """x: (N, C, H, W) -> (N, C, oh, ow): out = A_h @ x @ A_w^T with the
    bin-averaging matrices A_h (oh, H) and A_w (ow, W); the backward is
    dx = A_h^T @ grad @ A_w."""

    def forward(self, x, out_size):
        self.a_h = _adaptive_matrix(x.shape[2], out_size[0], x.dtype)  # (oh, H)
        self.a_w = _adaptive_matrix(x.shape[3], out_size[1], x.dtype)  # (ow, W)
        return self.a_h @ (x @ self.a_w.T)  # (N, C, H, ow) -> (N, C, oh, ow)

    def backward(self, grad):
        return self.a_h.T @ (grad @ self.a_w)  # (N, C, oh, W) -> (N, C, H, W)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling, as `torch.nn.functional.max_pool2d`.

    input: (N, C, H, W); kernel_size, stride (default: kernel_size), padding,
    dilation: int or (int, int). Padding counts as -inf.
    Returns (N, C, oh, ow) with oh = floor((H + 2p - d(k - 1) - 1) / s) + 1
    (ceil instead of floor with ceil_mode=True); with return_indices=True also
    the int64 (N, C, oh, ow) flat index y * W + x of each maximum in its plane
    (found by a second pass of the kernel).
    """
    k, s, p, d, out_size = _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    out = MaxPool2d.apply(input, kernel=k, stride=s, padding=p, dilation=d, out_size=out_size)
    if not return_indices:
        return out
    _, argmax = max_pool2d_forward(_planes(input.data), *k, *s, *p, *d, *out_size)
    return out, Tensor(argmax.astype(np.int64).reshape(out.shape))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Average pooling, as `torch.nn.functional.avg_pool2d`.

    input: (N, C, H, W); kernel_size, stride (default: kernel_size), padding: int or (int, int).
    Padding counts as 0. Each window sum is divided by divisor_override if given,
    else by the window's size clipped to the padded input (count_include_pad=True)
    or to the input itself (count_include_pad=False).
    Returns (N, C, oh, ow), sizes as for max_pool2d.
    """
    k, s, p, _, out = _pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"avg_pool2d: divisor_override must be positive, got {divisor_override}")
    return AvgPool2d.apply(
        input, kernel=k, stride=s, padding=p, out_size=out, count_include_pad=bool(count_include_pad),
        divisor_override=int(divisor_override or 0),
    )


def global_avg_pool2d(input):
    """Global average pooling: input (N, C, H, W) -> (N, C, 1, 1), the mean over H and W."""
    _check_4d(input, "global_avg_pool2d")
    return GlobalAvgPool2d.apply(input)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling, as `torch.nn.functional.adaptive_avg_pool2d`.

    input: (N, C, H, W); output_size: int or (oh, ow) (None keeps that input size).
    Output bin i averages input positions floor(i * H / oh) .. ceil((i + 1) * H / oh) - 1.
    Returns (N, C, oh, ow); output_size 1 is global average pooling.
    """
    _check_4d(input, "adaptive_avg_pool2d")
    size = (output_size, output_size) if output_size is None or isinstance(output_size, int | np.integer) else tuple(output_size)
    if len(size) != 2:
        raise TypeError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    size = tuple(int(n if o is None else o) for o, n in zip(size, input.shape[2:]))
    if min(size) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size!r}")
    if size == (1, 1):
        return GlobalAvgPool2d.apply(input)
    return AdaptiveAvgPool2d.apply(input, out_size=size)
