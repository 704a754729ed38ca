"""Squeeze-and-excitation (Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018).

An SE block reweights the channels of a feature map x: (N, C, H, W):
    squeeze     z = mean of x over H, W                        (N, C)
    excitation  s = gate(fc2(activation(fc1(z))))               (N, C), in (0, 1)
                fc1: C -> S = C / r (the bottleneck), fc2: S -> C
    scale       out = x * s, channel by channel                 (N, C, H, W)

The FC layers are 1x1 convolutions on the (N, C, 1, 1) pooled map
(use_conv=True: torchvision's and timm's layout, weights (S, C, 1, 1)) or
Linear layers on (N, C) (use_conv=False: the paper's FC layers, weights
(S, C)). The state_dict keys are fc1.weight, fc1.bias, fc2.weight, fc2.bias
in every form, as in torchvision.ops.SqueezeExcitation and timm's SEModule.
"""
import numpy as np

from tinycnn.nn.activation import ReLU, Sigmoid
from tinycnn.nn.conv import Conv2d
from tinycnn.nn.linear import Linear
from tinycnn.nn.module import Module
from tinycnn.nn.pooling import AdaptiveAvgPool2d


class SqueezeExcitation(Module):
    """SE block: x (N, C, H, W) -> x * s with s (N, C, 1, 1) in (0, 1).

    input_channels: C.
    squeeze_channels: S, the bottleneck width; default max(1, C // reduction).
    reduction: the paper's ratio r (used only when squeeze_channels is None).
    activation: module class between fc1 and fc2 (ReLU; EfficientNet uses SiLU).
    scale_activation: the gate (Sigmoid; MobileNetV3 uses Hardsigmoid).
    use_conv: fc1/fc2 as 1x1 Conv2d (True, torchvision/timm) or Linear (False).
    bias: whether fc1 and fc2 have biases.

    After each forward, `last_excitation` holds the gate values s as an (N, C)
    NumPy array (a view of the values just computed: storing it costs nothing),
    for visualising which channels the block emphasises.
    >>> se = SqueezeExcitation(64, 16)                           # torchvision's call
    >>> se = SqueezeExcitation(96, 4, activation=nn.SiLU)        # EfficientNet-B0
    >>> y = se(x); se.last_excitation.shape                      # (N, 64)
    """

    def __init__(self, input_channels, squeeze_channels=None, reduction=16, activation=ReLU,
                 scale_activation=Sigmoid, use_conv=True, bias=True):
        super().__init__()
        if squeeze_channels is None:
            squeeze_channels = max(1, input_channels // reduction)
        if input_channels <= 0 or squeeze_channels <= 0:
            raise ValueError(
                f"SqueezeExcitation: input_channels and squeeze_channels must be positive, "
                f"got {input_channels} and {squeeze_channels}"
            )
        self.input_channels, self.squeeze_channels, self.use_conv = input_channels, squeeze_channels, use_conv
        self.avgpool = AdaptiveAvgPool2d(1)
        if use_conv:
            self.fc1 = Conv2d(input_channels, squeeze_channels, 1, bias=bias)
            self.fc2 = Conv2d(squeeze_channels, input_channels, 1, bias=bias)
        else:
            self.fc1 = Linear(input_channels, squeeze_channels, bias=bias)
            self.fc2 = Linear(squeeze_channels, input_channels, bias=bias)
        self.activation = activation()
        self.scale_activation = scale_activation()
        self.last_excitation: np.ndarray | None = None

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.input_channels:
            raise ValueError(
                f"SqueezeExcitation({self.input_channels}): expected input (N, {self.input_channels}, H, W), "
                f"got shape {x.shape}"
            )
        n, c = x.shape[:2]
        z = self.avgpool(x)  # squeeze: (N, C, 1, 1)
        if not self.use_conv:
            z = z.reshape(n, c)  # (N, C) for the Linear layers
        s = self.scale_activation(self.fc2(self.activation(self.fc1(z))))  # excitation: (N, C[, 1, 1])
        self.last_excitation = s.data.reshape(n, c)
        return x * s.reshape(n, c, 1, 1)  # scale: (N, C, H, W)

    def extra_repr(self):
        return f"{self.input_channels}, {self.squeeze_channels}" + ("" if self.use_conv else ", use_conv=False")


class SEModule(SqueezeExcitation):
    """timm's SEModule signature (timm/layers/squeeze_excite.py): the bottleneck
    width is channels * rd_ratio rounded to the nearest multiple of rd_divisor
    (at least rd_divisor), unless rd_channels is given. Same keys as above.

    channels: C; act_layer, gate_layer: module classes (ReLU, Sigmoid).
    """

    def __init__(self, channels, rd_ratio=1 / 16, rd_channels=None, rd_divisor=8, bias=True,
                 act_layer=ReLU, gate_layer=Sigmoid):
        if not rd_channels:
            rd_channels = max(rd_divisor, int(channels * rd_ratio + rd_divisor / 2) // rd_divisor * rd_divisor)
        super().__init__(channels, rd_channels, activation=act_layer, scale_activation=gate_layer, bias=bias)
