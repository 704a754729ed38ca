"""nn.Conv2d: the convolution layer (its math lives in tinycnn.ops.conv)."""
import math

import numpy as np

from tinycnn.nn import init
from tinycnn.nn.module import Module, Parameter
from tinycnn.ops.conv import conv_algorithm, conv_geometry, convolve
from tinycnn.tensor import DEFAULT_DTYPE, Tensor


class Conv2d(Module):
    """2-D convolution.  x: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo).

    weight: (out_channels, in_channels / groups, kH, kW), bias: (out_channels,),
    initialised as in PyTorch: kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels/groups * kH * kW,
    and the same bound for the bias.
    groups=in_channels (and out_channels = k * in_channels) is a depthwise convolution.
    geometry: the checked `ConvGeometry` (kernel size, stride, padding, dilation) the forward
    uses, built once here; `layer.algorithm(input_shape)` says which path the forward takes.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, dtype=DEFAULT_DTYPE):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, int | np.integer) or v <= 0:
                raise ValueError(f"Conv2d: expected a positive int {name}, got {v!r}")
        if not isinstance(groups, int | np.integer) or groups <= 0:
            raise ValueError(f"Conv2d: expected a positive int groups, got {groups!r}")
        if in_channels % groups:
            raise ValueError(f"Conv2d: expected in_channels divisible by groups={groups}, got in_channels={in_channels}")
        if out_channels % groups:
            raise ValueError(f"Conv2d: expected out_channels divisible by groups={groups}, got out_channels={out_channels}")
        self.geometry = g = conv_geometry(kernel_size, stride, padding, dilation, "Conv2d")  # checked once, here
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding, self.dilation = (g.kh, g.kw), (g.sh, g.sw), (g.ph, g.pw), (g.dh, g.dw)
        self.groups = int(groups)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, *self.kernel_size), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return convolve(x, self.weight, self.bias, self.geometry, self.groups, where=self)

    def algorithm(self, input_shape) -> tuple[str, str]:
        """Which path this layer takes for an input of `input_shape` (N, C, H, W), and why
        (see `tinycnn.ops.conv.conv_algorithm`)."""
        return conv_algorithm(input_shape, self.weight.shape, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
