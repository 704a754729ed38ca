"""Pre-activation ResNet: He, Zhang, Ren, Sun, "Identity Mappings in Deep
Residual Networks", ECCV 2016 (arXiv:1603.05027).

The residual branch starts with BN -> ReLU ("pre-activation", paper
Fig. 4e) and nothing follows the addition, so the shortcut path is a clean
identity from any block to any later one:

    x_{l+1} = x_l + F(x_l),   F = conv(relu(bn(conv(relu(bn(x_l))))))

Where the shape changes the shortcut is a 1x1 projection of the
*pre-activated* input (as the paper's code, resnet-pre-act.lua); the network
ends with BN -> ReLU -> global average pooling -> classifier.

CIFAR models (paper Table 2 / Table 3; 3 stages, 32x32 -> 16x16 -> 8x8):
    preact_resnet110   basic blocks, 16/32/64 channels, 18 per stage    1.7M
    preact_resnet164   bottlenecks, 64/128/256 out (16/32/64 inside)    1.7M
    preact_resnet1001  bottlenecks, same widths, 111 per stage          10.2M

ImageNet preact_resnet50: timm's `resnetv2_50` (BatchNorm, 7x7 stem + max
pool, stride on the 3x3) with its exact state_dict keys: stem.conv,
stages.{i}.blocks.{j}.norm1/conv1/norm2/conv2/norm3/conv3,
stages.{i}.blocks.0.downsample.conv, norm, head.fc (a 1x1 convolution on the
pooled features, i.e. a Linear layer stored as (classes, C, 1, 1));
25,549,352 parameters.

Options: `se=True, se_ratio=1/16` (an SE block on the residual branch),
`drop_path_rate` (stochastic depth, linear decay as in resnet.py) and, for
basic blocks, `dropout_rate` between the two convolutions (Wide ResNet).
"""
from __future__ import annotations

from collections import OrderedDict

from tinycnn import nn
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.resnet import conv1x1, conv3x3, drop_path, squeeze_excitation
from tinycnn.models.weight_init import init_weights_
from tinycnn.nn.drop_path import stochastic_depth_rates_per_stage
from tinycnn.nn import functional as F
from tinycnn.tensor import Tensor


class DownsampleConv(nn.Module):
    """Projection shortcut of a pre-activation block: a 1x1 (strided)
    convolution of the pre-activated input (no BN: the next block's norm1
    normalises the sum). (N, in_chs, H, W) -> (N, out_chs, H/stride, W/stride)."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1):
        super().__init__()
        self.conv = conv1x1(in_chs, out_chs, stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class PreActBasicBlock(nn.Module):
    """Pre-activation basic block (paper Fig. 4e; Wide ResNet's block with
    dropout_rate > 0):

        a = relu(norm1(x))
        out = conv2(dropout(relu(norm2(conv1(a))))) + shortcut

    shortcut = x, or downsample(a) where the shape changes.
    x: (N, in_chs, H, W) -> (N, out_chs, H / stride, W / stride).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, dropout_rate: float = 0.0, se: bool = False,
                 se_ratio: float = 1 / 16, drop_path_rate: float = 0.0):
        super().__init__()
        self.downsample = DownsampleConv(in_chs, out_chs, stride) if stride != 1 or in_chs != out_chs else None
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.conv1 = conv3x3(in_chs, out_chs, stride)
        self.norm2 = nn.BatchNorm2d(out_chs)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.conv2 = conv3x3(out_chs, out_chs)
        self.se = squeeze_excitation(out_chs, se, se_ratio)
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.norm1(x))  # the pre-activation, shared with a projection shortcut
        shortcut = x if self.downsample is None else self.downsample(a)
        out = self.conv1(a)
        out = self.conv2(self.dropout(F.relu(self.norm2(out))))
        return self.drop_path(self.se(out)) + shortcut


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck (paper Fig. 4e with the 1x1-3x3-1x1 block):

        a = relu(norm1(x))
        out = conv3(relu(norm3(conv2(relu(norm2(conv1(a))))))) + shortcut

    mid = out_chs * bottle_ratio channels inside; stride on the 3x3 conv.
    x: (N, in_chs, H, W) -> (N, out_chs, H / stride, W / stride).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, bottle_ratio: float = 0.25, se: bool = False,
                 se_ratio: float = 1 / 16, drop_path_rate: float = 0.0):
        super().__init__()
        mid = int(out_chs * bottle_ratio)
        self.downsample = DownsampleConv(in_chs, out_chs, stride) if stride != 1 or in_chs != out_chs else None
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.conv1 = conv1x1(in_chs, mid)
        self.norm2 = nn.BatchNorm2d(mid)
        self.conv2 = conv3x3(mid, mid, stride)
        self.norm3 = nn.BatchNorm2d(mid)
        self.conv3 = conv1x1(mid, out_chs)
        self.se = squeeze_excitation(out_chs, se, se_ratio)
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample(a)
        out = self.conv1(a)
        out = self.conv2(F.relu(self.norm2(out)))
        out = self.conv3(F.relu(self.norm3(out)))
        return self.drop_path(self.se(out)) + shortcut


class PreActStage(nn.Module):
    """`depth` blocks; the first one changes stride/width. Holds them as
    `self.blocks` (timm's key `stages.{i}.blocks.{j}`)."""

    def __init__(self, block, in_chs: int, out_chs: int, depth: int, stride: int, drop_path_rates: list[float],
                 **block_kwargs):
        super().__init__()
        self.blocks = nn.Sequential(*[
            block(in_chs if j == 0 else out_chs, out_chs, stride if j == 0 else 1,
                  drop_path_rate=drop_path_rates[j], **block_kwargs)
            for j in range(depth)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class ClassifierHead(nn.Module):
    """Global average pooling, then a 1x1 convolution with bias as the
    classifier (timm's `head.fc`; the same as a Linear layer).
    (N, C, H, W) -> (N, num_classes)."""

    def __init__(self, in_chs: int, num_classes: int):
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Conv2d(in_chs, num_classes, kernel_size=1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.global_pool(x)).flatten(1)  # (N, num_classes, 1, 1) -> (N, num_classes)


class PreActResNet(nn.Module):
    """Pre-activation ResNet (ResNet v2), timm's `ResNetV2` structure.

    stem -> stages (channels[i] outputs, strides 1, 2, 2, ...) -> norm + ReLU
    -> head. stem="cifar": one 3x3 conv (stem_chs), for 32x32 inputs;
    stem="imagenet": 7x7/2 conv + 3x3/2 max pool.
    x: (N, 3, H, W) -> logits (N, num_classes).

    block: PreActBasicBlock or PreActBottleneck; layers: blocks per stage;
    block_kwargs: dropout_rate (basic) or bottle_ratio (bottleneck).
    """

    def __init__(self, block, layers: list[int], channels: list[int], num_classes: int = 10, stem: str = "cifar",
                 stem_chs: int = 16, se: bool = False, se_ratio: float = 1 / 16, drop_path_rate: float = 0.0,
                 **block_kwargs):
        super().__init__()
        if len(layers) != len(channels):
            raise ValueError(f"PreActResNet: {len(layers)} stage depths for {len(channels)} stage widths")
        if stem == "cifar":
            self.stem = nn.Sequential(OrderedDict(conv=conv3x3(3, stem_chs)))
        elif stem == "imagenet":
            self.stem = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(3, stem_chs, kernel_size=7, stride=2, padding=3, bias=False),
                pool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            ))
        else:
            raise ValueError(f"PreActResNet: stem must be 'cifar' or 'imagenet', got {stem!r}")
        rates = stochastic_depth_rates_per_stage(drop_path_rate, layers)
        stages, in_chs = [], stem_chs
        for i, (depth, out_chs) in enumerate(zip(layers, channels, strict=True)):
            stages.append(PreActStage(block, in_chs, out_chs, depth, 1 if i == 0 else 2, rates[i],
                                      se=se, se_ratio=se_ratio, **block_kwargs))
            in_chs = out_chs
        self.stages = nn.Sequential(*stages)
        self.norm = nn.BatchNorm2d(in_chs)
        self.head = ClassifierHead(in_chs, num_classes)
        init_weights_(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))  # (N, channels[-1], H / 2^(stages-1) [/4 imagenet], ...)
        return self.head(F.relu(self.norm(x)))  # (N, num_classes)


def cifar_preact_resnet(depth: int, bottleneck: bool, num_classes: int = 10, **kwargs) -> PreActResNet:
    """The paper's CIFAR pre-act ResNets: basic blocks, 6n + 2 layers,
    16/32/64 channels; or bottlenecks, 9n + 2 layers, 64/128/256 channels."""
    per_block = 3 if bottleneck else 2
    if (depth - 2) % (3 * per_block) != 0:
        raise ValueError(f"cifar_preact_resnet: depth must be {3 * per_block}n + 2, got {depth}")
    n = (depth - 2) // (3 * per_block)
    if bottleneck:
        return PreActResNet(PreActBottleneck, [n] * 3, [64, 128, 256], num_classes, **kwargs)
    return PreActResNet(PreActBasicBlock, [n] * 3, [16, 32, 64], num_classes, **kwargs)


@register_model
def preact_resnet110(num_classes: int = 10, **kwargs) -> PreActResNet:
    """Pre-act ResNet-110 (basic blocks, n = 18): 1.7M parameters, 6.37% CIFAR-10 error."""
    return cifar_preact_resnet(110, False, num_classes, **kwargs)


@register_model
def preact_resnet164(num_classes: int = 10, **kwargs) -> PreActResNet:
    """Pre-act ResNet-164 (bottlenecks, n = 18): 1.7M parameters, 5.46% CIFAR-10 error."""
    return cifar_preact_resnet(164, True, num_classes, **kwargs)


@register_model
def preact_resnet1001(num_classes: int = 10, **kwargs) -> PreActResNet:
    """Pre-act ResNet-1001 (bottlenecks, n = 111): 10.2M parameters, 4.92% CIFAR-10 error."""
    return cifar_preact_resnet(1001, True, num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def preact_resnet50(num_classes: int = 1000, **kwargs) -> PreActResNet:
    """ImageNet pre-act ResNet-50, timm's `resnetv2_50` (keys and 25,549,352 parameters)."""
    return PreActResNet(PreActBottleneck, [3, 4, 6, 3], [256, 512, 1024, 2048], num_classes, stem="imagenet",
                        stem_chs=64, **kwargs)
