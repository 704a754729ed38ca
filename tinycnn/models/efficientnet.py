"""EfficientNet: one baseline, scaled in depth, width and resolution together.

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019 (https://arxiv.org/abs/1905.11946).

Building block: MBConv, MobileNetV2's inverted residual with
squeeze-and-excitation and swish (SiLU), plus stochastic depth:

    x (C_in) -> [1x1 conv, expand t times -> BN -> SiLU]       (N, t*C_in, H, W)   block.0 (absent if t = 1)
             -> kxk depthwise conv, stride s -> BN -> SiLU      (N, t*C_in, H/s, W/s) block.1
             -> SE: x * sigmoid(fc2(SiLU(fc1(avgpool(x)))))     fc1: t*C_in -> C_in/4  block.2
             -> 1x1 conv (linear) -> BN                        (N, C_out, H/s, W/s) block.3
             (+ x, with the branch dropped per sample (stochastic depth), when s = 1 and C_in = C_out)

EfficientNet-B0 (paper Table 1), 224x224 input:

    stage  operator            t  k  s  C_in  C_out  layers   resolution
    1      conv3x3             -  3  2  3     32     1        224 -> 112    features.0
    2      MBConv1             1  3  1  32    16     1        112           features.1
    3      MBConv6             6  3  2  16    24     2        112 -> 56     features.2
    4      MBConv6             6  5  2  24    40     2        56 -> 28      features.3
    5      MBConv6             6  3  2  40    80     3        28 -> 14      features.4
    6      MBConv6             6  5  1  80    112    3        14            features.5
    7      MBConv6             6  5  2  112   192    4        14 -> 7       features.6
    8      MBConv6             6  3  1  192   320    1        7             features.7
    9      conv1x1, pool, FC   -  1  1  320   1280   1        7             features.8, classifier.1

Compound scaling (paper Section 3.3): with phi the compound coefficient,
depth d = alpha^phi, width w = beta^phi, resolution r = gamma^phi, where
alpha = 1.2, beta = 1.1, gamma = 1.15 satisfy alpha * beta^2 * gamma^2 ~ 2,
so FLOPs grow about 2^phi. Channels c -> c * w rounded to a multiple of 8
(`make_divisible`), layers n -> ceil(n * d).

B0-B7 use the published coefficients (width, depth, resolution, dropout),
which were tuned per model rather than computed from phi:

    b0 (1.0, 1.0, 224, 0.2)   b1 (1.0, 1.1, 240, 0.2)   b2 (1.1, 1.2, 260, 0.3)   b3 (1.2, 1.4, 300, 0.3)
    b4 (1.4, 1.8, 380, 0.4)   b5 (1.6, 2.2, 456, 0.4)   b6 (1.8, 2.6, 528, 0.5)   b7 (2.0, 3.1, 600, 0.5)

The module layout and state_dict keys are torchvision's (features.0.0,
features.N.M.block.K..., features.8, classifier.1), with the same parameter
counts (b0 5,288,548 ... b7 66,347,960) and, for b5-b7, torchvision's
BatchNorm eps=1e-3, momentum=0.01. The resolution is not a layer: it is
recorded as `model.input_size = (3, R, R)` (use it with `tinycnn.summary`).
"""
from __future__ import annotations

import math
from functools import partial

from tinycnn import nn
from tinycnn.models.mobilenet_v2 import ConvBNActivation
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.rounding import make_divisible
from tinycnn.models.weight_init import init_weights_
from tinycnn.nn.drop_path import stochastic_depth_rates_per_stage
from tinycnn.tensor import Tensor

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # depth, width, resolution bases (paper Eq. 3)

# (expand ratio t, kernel k, stride s, in channels, out channels, layers n) per stage, paper Table 1
B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
             (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))
# CIFAR: the stem and the first stride-2 stage (C_out 24) keep stride 1: 32x32 -> 4x4 (total stride 8)
B0_CIFAR_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 1, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                   (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))

# (width, depth, resolution, dropout), paper / reference implementation
COEFFICIENTS = {
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
}


def scale_channels(channels: int, width_mult: float, exact: bool = False) -> int:
    """c * w rounded to a multiple of 8 (paper), or to the nearest integer (exact)."""
    return max(1, int(channels * width_mult + 0.5)) if exact else make_divisible(channels * width_mult, 8)


def scale_depth(num_layers: int, depth_mult: float, exact: bool = False) -> int:
    """ceil(n * d) (paper), or n * d rounded to the nearest integer (exact)."""
    return max(1, int(num_layers * depth_mult + 0.5)) if exact else int(math.ceil(num_layers * depth_mult))


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation (torchvision layout:
    `block` = [expand], depthwise, SE, project; `stochastic_depth` on the branch).

    x: (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    squeeze_channels: SE bottleneck width (C_in / 4 in EfficientNet).
    drop_path_rate: probability of dropping the residual branch of a sample in training.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float, kernel_size: int, stride: int,
                 squeeze_channels: int, drop_path_rate: float = 0.0, norm_layer=None,
                 exact: bool = False):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MBConv: stride must be 1 or 2, got {stride}")
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = scale_channels(in_channels, expand_ratio, exact)
        layers = []
        if hidden != in_channels:
            layers.append(ConvBNActivation(in_channels, hidden, 1, activation=nn.SiLU, norm_layer=norm_layer))
        layers += [
            ConvBNActivation(hidden, hidden, kernel_size, stride, groups=hidden, activation=nn.SiLU,
                             norm_layer=norm_layer),
            nn.SqueezeExcitation(hidden, squeeze_channels, activation=nn.SiLU),
            ConvBNActivation(hidden, out_channels, 1, activation=None, norm_layer=norm_layer),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = nn.DropPath(drop_path_rate)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet(nn.Module):
    """EfficientNet scaled from B0 by width_mult w and depth_mult d.

    stages: B0's (t, k, s, C_in, C_out, n) rows before scaling. resolution:
    the input size (sets `input_size`; the network itself accepts any size).
    dropout: before the classifier. drop_path_rate: stochastic depth, the drop
    probability grows linearly over the blocks from 0 to drop_path_rate
    (torchvision's rule: rate * block_index / num_blocks). stem_stride: 2
    (ImageNet) or 1 (CIFAR). norm_layer: callable(num_features) making the norm
    (default BatchNorm2d).
    exact: round scaled channels/depths to the nearest integer instead of
    the paper's multiples of 8 and ceil (for comparing FLOPs with 2^phi).

    x: (N, 3, H, W) -> logits (N, num_classes).
    """

    def __init__(self, width_mult: float = 1.0, depth_mult: float = 1.0, resolution: int = 224,
                 dropout: float = 0.2, num_classes: int = 1000, drop_path_rate: float = 0.2,
                 stages=B0_STAGES, stem_stride: int = 2, norm_layer=None, exact: bool = False):
        super().__init__()
        if width_mult <= 0 or depth_mult <= 0:
            raise ValueError(f"EfficientNet: width_mult and depth_mult must be positive, "
                             f"got {width_mult} and {depth_mult}")
        self.input_size = (3, resolution, resolution)
        rows = [(t, k, s, scale_channels(c_in, width_mult, exact), scale_channels(c_out, width_mult, exact),
                 scale_depth(n, depth_mult, exact)) for t, k, s, c_in, c_out, n in stages]
        rates = stochastic_depth_rates_per_stage(drop_path_rate, [row[-1] for row in rows], first_block=0)

        features = [ConvBNActivation(3, rows[0][3], 3, stem_stride, activation=nn.SiLU, norm_layer=norm_layer)]
        for (t, k, s, c_in, c_out, n), stage_rates in zip(rows, rates, strict=True):
            stage = []
            for i in range(n):
                stage.append(MBConv(c_in if i == 0 else c_out, c_out, t, k, s if i == 0 else 1,
                                    squeeze_channels=max(1, (c_in if i == 0 else c_out) // 4),
                                    drop_path_rate=stage_rates[i], norm_layer=norm_layer, exact=exact))
            features.append(nn.Sequential(*stage))
        last_channels = 4 * rows[-1][4]
        features.append(ConvBNActivation(rows[-1][4], last_channels, 1, activation=nn.SiLU, norm_layer=norm_layer))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channels, num_classes))

        init_weights_(self, zero_conv_bias=True, linear="uniform")  # torchvision's initialisation

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)               # (N, 1280w, H/32, W/32)
        x = self.avgpool(x).flatten(1)     # (N, 1280w)
        return self.classifier(x)          # (N, num_classes)


def efficientnet(phi: float, num_classes: int = 1000, dropout: float = 0.2, exact: bool = False,
                 **kwargs) -> EfficientNet:
    """EfficientNet for compound coefficient phi, straight from the scaling rule:
    depth d = 1.2^phi, width w = 1.1^phi, resolution round(224 * 1.15^phi).

    exact=False rounds like the paper (channels to multiples of 8, layers up);
    exact=True rounds to the nearest integer, so measured MACs follow
    (alpha * beta^2 * gamma^2)^phi ~ 1.92^phi ~ 2^phi as closely as integer
    layer counts allow. The published B1-B7 coefficients (COEFFICIENTS) do
    not follow this formula exactly: phi = 1 gives B2's width and depth
    (1.1, 1.2; the same 9.1M parameters) at 258 px instead of 260, phi = 2
    gives B3's (1.21 -> 1.2, 1.44 -> 1.4) at 296 px instead of 300.
    """
    return EfficientNet(BETA ** phi, ALPHA ** phi, round(224 * GAMMA ** phi), dropout, num_classes,
                        exact=exact, **kwargs)


def _tf_ported_bn():
    """BatchNorm of torchvision's b5-b7 (weights ported from TensorFlow)."""
    return partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


def _efficientnet_b(name: str, num_classes: int, **kwargs) -> EfficientNet:
    width, depth, resolution, dropout = COEFFICIENTS[name]
    if name in ("b5", "b6", "b7"):
        kwargs.setdefault("norm_layer", _tf_ported_bn())
    kwargs.setdefault("dropout", dropout)
    return EfficientNet(width, depth, resolution, num_classes=num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b0(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B0 (1.0, 1.0, 224, 0.2): 5,288,548 params with 1000 classes (torchvision)."""
    return _efficientnet_b("b0", num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b1(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B1 (1.0, 1.1, 240, 0.2): 7,794,184 params (torchvision)."""
    return _efficientnet_b("b1", num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b2(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B2 (1.1, 1.2, 260, 0.3): 9,109,994 params (torchvision)."""
    return _efficientnet_b("b2", num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b3(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B3 (1.2, 1.4, 300, 0.3): 12,233,232 params (torchvision)."""
    return _efficientnet_b("b3", num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b4(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B4 (1.4, 1.8, 380, 0.4): 19,341,616 params (torchvision)."""
    return _efficientnet_b("b4", num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b5(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B5 (1.6, 2.2, 456, 0.4): 30,389,784 params (torchvision)."""
    return _efficientnet_b("b5", num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b6(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B6 (1.8, 2.6, 528, 0.5): 43,040,704 params (torchvision)."""
    return _efficientnet_b("b6", num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def efficientnet_b7(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B7 (2.0, 3.1, 600, 0.5): 66,347,960 params (torchvision)."""
    return _efficientnet_b("b7", num_classes, **kwargs)


@register_model
def efficientnet_b0_cifar(num_classes: int = 10, **kwargs) -> EfficientNet:
    """EfficientNet-B0 for 32x32 inputs: stem and the C_out = 24 stage at stride 1
    (total stride 8, last map 4x4)."""
    kwargs.setdefault("resolution", 32)
    return EfficientNet(1.0, 1.0, num_classes=num_classes, stages=B0_CIFAR_STAGES, stem_stride=1, **kwargs)
