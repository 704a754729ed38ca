"""MobileNetV2: inverted residuals with linear bottlenecks.

Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and
Linear Bottlenecks", CVPR 2018 (https://arxiv.org/abs/1801.04381).

A ResNet bottleneck goes wide -> narrow -> wide; the inverted residual goes
narrow -> wide -> narrow, with the shortcut between the narrow ends:

    x (C_in) -> 1x1 conv, expand t times -> BN -> ReLU6        (N, t*C_in, H, W)
             -> 3x3 depthwise conv, stride s -> BN -> ReLU6    (N, t*C_in, H/s, W/s)
             -> 1x1 conv (linear bottleneck, no ReLU) -> BN    (N, C_out, H/s, W/s)
             (+ x when s = 1 and C_in = C_out)

The projection has no nonlinearity: a ReLU in the narrow space would destroy
information (paper Section 3.2).

Body (paper Table 2: t expansion, c channels, n repeats, s stride of the first):

    input      operator        t   c     n  s
    224^2x3    conv2d 3x3      -   32    1  2      features.0
    112^2x32   bottleneck      1   16    1  1      features.1
    112^2x16   bottleneck      6   24    2  2      features.2-3
    56^2x24    bottleneck      6   32    3  2      features.4-6
    28^2x32    bottleneck      6   64    4  2      features.7-10
    14^2x64    bottleneck      6   96    3  1      features.11-13
    14^2x96    bottleneck      6   160   3  2      features.14-16
    7^2x160    bottleneck      6   320   1  1      features.17
    7^2x320    conv2d 1x1      -   1280  1  1      features.18
    7^2x1280   avgpool 7x7, dropout 0.2, linear (classifier.1)

width_mult scales every layer's channels, rounded to a multiple of 8
(`make_divisible`); the last 1x1 conv keeps 1280 channels for width_mult < 1.
MobileNetV2 1.0-224: 3.4M params and 300M MACs in the paper; 3,504,872
params exactly, as torchvision's mobilenet_v2, whose module layout and
state_dict keys these are (features.N.conv.K...).

CIFAR variant (`mobilenet_v2_cifar`, as commonly done for 32x32 inputs):
the stem and the first stride-2 stage (c = 24) use stride 1, so the total
stride is 8 and the last feature map is 4x4 instead of 1x1.
"""
from __future__ import annotations

from collections.abc import Sequence

from tinycnn import nn
from tinycnn.models.weight_init import init_weights_
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.rounding import make_divisible
from tinycnn.tensor import Tensor

# (t, c, n, s) per stage, paper Table 2
IMAGENET_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                    (6, 320, 1, 1))
CIFAR_SETTING = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                 (6, 320, 1, 1))


class ConvBNActivation(nn.Sequential):
    """Conv2d (no bias, 'same' padding) -> BatchNorm2d [-> activation]:
    torchvision's Conv2dNormActivation, children named 0, 1, 2.

    x: (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    activation: a module class, or None for a linear conv + BN.
    norm_layer: callable(num_features) making the norm (default BatchNorm2d; e.g. one with another eps).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, activation=nn.ReLU6, norm_layer=None):
        padding = (kernel_size - 1) // 2
        norm_layer = norm_layer or nn.BatchNorm2d
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False),
                  norm_layer(out_channels)]
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """Expand (1x1, t times) -> depthwise 3x3 (stride) -> project (1x1, linear),
    plus the identity shortcut when stride == 1 and in == out channels.

    x: (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: float):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        hidden = int(round(in_channels * expand_ratio))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(ConvBNActivation(in_channels, hidden, kernel_size=1))            # expand
        layers += [ConvBNActivation(hidden, hidden, stride=stride, groups=hidden),           # depthwise
                   nn.Conv2d(hidden, out_channels, 1, bias=False),                           # linear
                   nn.BatchNorm2d(out_channels)]                                             # bottleneck
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 with torchvision's layout.

    width_mult: channel multiplier. inverted_residual_setting: (t, c, n, s)
    rows. stem_stride: 2 (ImageNet) or 1 (CIFAR). dropout: before the classifier.

    x: (N, 3, H, W) -> logits (N, num_classes).
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 inverted_residual_setting: Sequence[tuple] = IMAGENET_SETTING, stem_stride: int = 2,
                 dropout: float = 0.2, round_nearest: int = 8):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"MobileNetV2: width_mult must be positive, got {width_mult}")
        channels = make_divisible(32 * width_mult, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [ConvBNActivation(3, channels, stride=stem_stride)]
        for t, c, n, s in inverted_residual_setting:
            out_channels = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t))
                channels = out_channels
        features.append(ConvBNActivation(channels, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))

        init_weights_(self, linear="normal")  # torchvision's initialisation

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)                # (N, 1280, H/32, W/32)
        x = self.avgpool(x).flatten(1)      # (N, 1280)
        return self.classifier(x)           # (N, num_classes)


@register_model(input_size=IMAGENET_INPUT)
def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, **kwargs) -> MobileNetV2:
    """MobileNetV2 for ImageNet, torchvision's twin: 3,504,872 params (1.0, 1000 classes), 300M MACs at 224."""
    return MobileNetV2(num_classes, width_mult, **kwargs)


@register_model
def mobilenet_v2_cifar(num_classes: int = 10, width_mult: float = 1.0, **kwargs) -> MobileNetV2:
    """MobileNetV2 for 32x32 inputs: stem and the c = 24 stage at stride 1 (total stride 8, last map 4x4)."""
    return MobileNetV2(num_classes, width_mult, CIFAR_SETTING, stem_stride=1, **kwargs)
