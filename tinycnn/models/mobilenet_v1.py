"""MobileNet (v1): a plain stack of depthwise separable convolutions.

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications", 2017 (https://arxiv.org/abs/1704.04861).

A standard KxK conv from M to N channels on a DxD map costs K*K*M*N*D*D
mult-adds. Factored into a depthwise KxK conv (one filter per channel,
K*K*M*D*D) and a pointwise 1x1 conv (M*N*D*D) it costs 1/N + 1/K^2 as much:
8-9x less for K = 3.

    block = conv_dw 3x3 (groups=M, stride s) -> BN -> ReLU -> conv_pw 1x1 (M -> N) -> BN -> ReLU

Body (paper Table 1; "dw/s" = the depthwise stride), 224x224 input:

    conv 3x3/2, 32                    -> 112x112x32
    dw/1, pw 64                       -> 112x112x64      stage blocks.0 (1 block)
    dw/2, pw 128;  dw/1, pw 128       -> 56x56x128       blocks.1 (2)
    dw/2, pw 256;  dw/1, pw 256       -> 28x28x256       blocks.2 (2)
    dw/2, pw 512;  5 x (dw/1, pw 512) -> 14x14x512       blocks.3 (6)
    dw/2, pw 1024; dw/1, pw 1024      -> 7x7x1024        blocks.4 (2)
    global average pool, FC 1000, softmax

1.0 MobileNet-224: 4.2M parameters, 569M mult-adds (paper Table 8).

Two hyper-parameters trade accuracy for cost (paper Section 3.3-3.4):
- width multiplier alpha (`width_mult`): every layer has alpha * N channels
  (rounded to a multiple of 8, as in the TensorFlow/timm implementations);
  cost and parameters fall roughly as alpha^2.
- resolution multiplier rho (`resolution_mult`): the input is rho * 224
  pixels wide (224, 192, 160, 128); cost falls as rho^2, parameters are
  unchanged. The network is resolution-agnostic (global pooling), so rho
  is not a layer: it is recorded as `model.input_size = (3, R, R)`, the
  input size to feed to `tinycnn.summary` and to resize training images to.

The state_dict keys are timm's `mobilenetv1_100` (conv_stem, bn1,
blocks.i.j.conv_dw/bn1/conv_pw/bn2, classifier). timm uses ReLU6 where the
paper uses ReLU: `mobilenetv1_100` (timm's name) is the model with ReLU6, timm's exact
function; `mobilenet_v1` keeps the paper's ReLU.
"""
from __future__ import annotations

from tinycnn import nn
from tinycnn.models.weight_init import init_weights_
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.rounding import make_divisible
from tinycnn.tensor import Tensor

# (out_channels, stride of the first block, number of blocks) per stage, paper Table 1
IMAGENET_STAGES = ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 2, 6), (1024, 2, 2))
# CIFAR: the stem and the first stride-2 stage keep stride 1: 32x32 -> 4x4 (total stride 8)
CIFAR_STAGES = ((64, 1, 1), (128, 1, 2), (256, 2, 2), (512, 2, 6), (1024, 2, 2))


class DepthwiseSeparableConv(nn.Module):
    """Depthwise 3x3 conv (stride) -> BN -> act -> pointwise 1x1 conv -> BN -> act.

    x: (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, activation=nn.ReLU):
        super().__init__()
        self.conv_dw = nn.Conv2d(in_channels, in_channels, 3, stride, padding=1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.act1 = activation()
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = activation()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act1(self.bn1(self.conv_dw(x)))     # (N, C_in, H/s, W/s): each channel filtered alone
        return self.act2(self.bn2(self.conv_pw(x)))  # (N, C_out, H/s, W/s): channels mixed by a 1x1 conv


class StandardConv(nn.Module):
    """A standard 3x3 conv (stride) -> BN -> act in a DepthwiseSeparableConv's place: the paper's
    "Conv MobileNet" (Table 4), the same layout without the factorisation.

    x: (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, activation=nn.ReLU):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = activation()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))  # (N, C_out, H/s, W/s): space and channels mixed at once


class MobileNetV1(nn.Module):
    """MobileNet v1 with timm's layout.

    width_mult: alpha. resolution_mult: rho (sets `input_size`, see the module
    docstring). stages: (out_channels, stride, blocks) per stage.
    stem_stride: 2 for ImageNet, 1 for CIFAR. activation: module class (the
    paper: ReLU; timm: ReLU6). dropout: before the classifier (paper: none).
    base_resolution: 224 (ImageNet) or 32 (CIFAR), the size rho multiplies.
    block: DepthwiseSeparableConv, or StandardConv for the paper's "Conv MobileNet".

    x: (N, 3, H, W) -> logits (N, num_classes).
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, resolution_mult: float = 1.0,
                 stages=IMAGENET_STAGES, stem_stride: int = 2, activation=nn.ReLU, dropout: float = 0.0,
                 base_resolution: int = 224, block=DepthwiseSeparableConv):
        super().__init__()
        if width_mult <= 0 or resolution_mult <= 0:
            raise ValueError(f"MobileNetV1: width_mult and resolution_mult must be positive, "
                             f"got {width_mult} and {resolution_mult}")
        resolution = round(base_resolution * resolution_mult)
        self.input_size = (3, resolution, resolution)
        channels = make_divisible(32 * width_mult)
        self.conv_stem = nn.Conv2d(3, channels, 3, stem_stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = activation()
        self.blocks = nn.Sequential()
        for out_channels, stride, num_blocks in stages:
            out_channels = make_divisible(out_channels * width_mult)
            stage = nn.Sequential()
            for i in range(num_blocks):
                stage.append(block(channels, out_channels, stride if i == 0 else 1, activation))
                channels = out_channels
            self.blocks.append(stage)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)
        self.num_features = channels

        init_weights_(self, linear="normal")

    def forward(self, x: Tensor) -> Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))   # (N, 32a, H/2, W/2)
        x = self.blocks(x)                           # (N, 1024a, H/32, W/32)
        x = self.global_pool(x).flatten(1)           # (N, 1024a)
        return self.classifier(self.dropout(x))      # (N, num_classes)


@register_model(input_size=IMAGENET_INPUT)
def mobilenet_v1(num_classes: int = 1000, width_mult: float = 1.0, resolution_mult: float = 1.0,
                 **kwargs) -> MobileNetV1:
    """alpha MobileNet-(rho * 224) for ImageNet; 1.0 MobileNet-224 has 4,231,976
    params (timm's mobilenetv1_100) and 569M MACs."""
    return MobileNetV1(num_classes, width_mult, resolution_mult, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def mobilenetv1_100(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    """timm's `mobilenetv1_100` under its name: 1.0 MobileNet-224 with ReLU6 where the paper
    (and our `mobilenet_v1`) has ReLU, so timm's weights give timm's logits."""
    return MobileNetV1(num_classes, activation=kwargs.pop("activation", nn.ReLU6), **kwargs)


@register_model
def mobilenet_v1_cifar(num_classes: int = 10, width_mult: float = 1.0, resolution_mult: float = 1.0,
                       **kwargs) -> MobileNetV1:
    """MobileNet v1 for 32x32 inputs: stem stride 1 and the 128-channel stage
    at stride 1 (CIFAR_STAGES), so the last map is 4x4 instead of 1x1."""
    return MobileNetV1(num_classes, width_mult, resolution_mult, stages=CIFAR_STAGES, stem_stride=1,
                       base_resolution=32, **kwargs)
