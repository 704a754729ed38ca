"""Pooling layers, as in PyTorch: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d."""
from tinycnn.nn.module import Module
from tinycnn.ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d


class MaxPool2d(Module):
    """The maximum of each kernel_size window: (N, C, H, W) -> (N, C, oh, ow).

    kernel_size, stride (default: kernel_size), padding (counts as -inf, at most
    half the kernel), dilation: int or (int, int);
    oh = floor((H + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1
    (ceil with ceil_mode=True). The gradient goes to the first maximum of each
    window in row-major order (PyTorch's choice). return_indices=True: forward
    returns (output, int64 indices of the maxima, flat in each H x W plane).
    >>> MaxPool2d(3, stride=2, padding=1)(x)   # (N, C, 32, 32) -> (N, C, 16, 16)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation, self.ceil_mode = padding, dilation, ceil_mode
        self.return_indices = return_indices

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """The mean of each kernel_size window: (N, C, H, W) -> (N, C, oh, ow).

    kernel_size, stride (default: kernel_size), padding (counts as 0): int or
    (int, int). Each window sum is divided by divisor_override if given, else by
    the window size clipped to the padded input (count_include_pad=True, the
    default) or to the input alone (count_include_pad=False). Sizes as MaxPool2d.
    >>> AvgPool2d(2)(x)   # DenseNet's transition: (N, C, 32, 32) -> (N, C, 16, 16)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override
        )

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size: (N, C, H, W) -> (N, C, oh, ow).

    output_size: int or (oh, ow) (None keeps that input size). Bin i averages
    rows floor(i * H / oh) .. ceil((i + 1) * H / oh) - 1 (PyTorch's bins).
    AdaptiveAvgPool2d(1) is global average pooling (a fast path), the head of
    every ResNet/MobileNet/EfficientNet: (N, C, H, W) -> (N, C, 1, 1).
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
