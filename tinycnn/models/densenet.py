"""DenseNet: every layer sees the feature maps of all layers before it.

Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017 (https://arxiv.org/abs/1608.06993).

Inside a dense block, layer l receives the concatenation of the block input
and the outputs of layers 1..l-1, and adds k new channels (the growth rate):

    x_l = H_l([x_0, x_1, ..., x_{l-1}])        channels: c_0 + l * k

    H_l     = BN -> ReLU -> Conv3x3(k)                       (DenseNet)
    H_l (B) = BN -> ReLU -> Conv1x1(4k) -> BN -> ReLU -> Conv3x3(k)   (bottleneck)

Between blocks a transition layer BN -> ReLU -> Conv1x1 -> AvgPool2x2 halves
the resolution and (C, compression theta) keeps floor(theta * m) of the m
channels. DenseNet-BC uses both B and C (theta = 0.5).

    model                 | blocks x layers | k  | stem             | params
    DenseNet (L=40)       | 3 x 12          | 12 | 3x3 conv, 16 ch  | 1.0M  (CIFAR, paper Table 2)
    DenseNet-BC (L=100)   | 3 x 16          | 12 | 3x3 conv, 2k ch  | 0.8M  (CIFAR, paper Table 2)
    DenseNet-121          | 6, 12, 24, 16   | 32 | 7x7/2 conv + maxpool, 2k ch | 7,978,856 (ImageNet, Table 1)

The module names and state_dict keys are torchvision's (features.conv0,
features.denseblock1.denselayer1.norm1/conv1/norm2/conv2,
features.transition1.norm/conv, features.norm5, classifier), so
torchvision's densenet121 weights load unchanged. A layer without bottleneck
has only the norm2/relu2/conv2 (3x3) part.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import tinycnn
from tinycnn import nn
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.weight_init import init_weights_
from tinycnn.tensor import Tensor


class DenseLayer(nn.Module):
    """H_l: [BN -> ReLU -> Conv1x1(bn_size * k)] -> BN -> ReLU -> Conv3x3(k) [-> Dropout].

    in_channels: c_0 + l * k (all earlier feature maps, concatenated).
    forward(features): list of (N, C_i, H, W) with sum C_i = in_channels -> (N, k, H, W).
    """

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0,
                 bottleneck: bool = True):
        super().__init__()
        width = in_channels
        if bottleneck:
            width = bn_size * growth_rate
            self.norm1 = nn.BatchNorm2d(in_channels)
            self.relu1 = nn.ReLU()
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)
        self.dropout = nn.Dropout(drop_rate)
        self.bottleneck = bottleneck

    def forward(self, features: list[Tensor]) -> Tensor:
        x = tinycnn.cat(features, dim=1)                      # (N, c_0 + l*k, H, W)
        if self.bottleneck:
            x = self.conv1(self.relu1(self.norm1(x)))         # (N, bn_size*k, H, W)
        return self.dropout(self.conv2(self.relu2(self.norm2(x))))  # (N, k, H, W)


class DenseBlock(nn.Module):
    """`num_layers` dense layers named denselayer1, denselayer2, ...

    x: (N, C, H, W) -> (N, C + num_layers * k, H, W), the concatenation
    [x, x_1, ..., x_L] of the input and every layer's k new channels.
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int = 4,
                 drop_rate: float = 0.0, bottleneck: bool = True):
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate, bottleneck)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.children():
            features.append(layer(features))
        return tinycnn.cat(features, dim=1)


class Transition(nn.Sequential):
    """BN -> ReLU -> Conv1x1(out_channels) -> AvgPool2x2 between dense blocks.

    x: (N, C_in, H, W) -> (N, out_channels, H/2, W/2).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(in_channels)),
            ("relu", nn.ReLU()),
            ("conv", nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)),
            ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """DenseNet with torchvision's layout.

    growth_rate: k, channels each layer adds. block_config: layers per dense
    block. num_init_features: channels of the stem convolution.
    bn_size: the bottleneck has bn_size * k channels (B). compression: theta,
    a transition keeps floor(theta * m) channels (C; 1.0 = no compression).
    bottleneck: use the 1x1 bottleneck conv (B). drop_rate: dropout after each
    dense layer (the paper uses 0.2 on CIFAR without augmentation).
    stem: "imagenet" (7x7/2 conv, BN, ReLU, 3x3/2 max-pool: /4) or "cifar"
    (one 3x3 conv, stride 1).

    x: (N, 3, H, W) -> logits (N, num_classes).
    """

    def __init__(self, growth_rate: int = 32, block_config: tuple[int, ...] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, compression: float = 0.5,
                 bottleneck: bool = True, drop_rate: float = 0.0, num_classes: int = 1000,
                 stem: str = "imagenet"):
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"DenseNet: compression (theta) must be in (0, 1], got {compression}")
        if stem == "imagenet":
            self.features = nn.Sequential(OrderedDict([
                ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU()),
                ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ]))
        elif stem == "cifar":
            self.features = nn.Sequential(OrderedDict([
                ("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, padding=1, bias=False)),
            ]))
        else:
            raise ValueError(f"DenseNet: stem must be 'imagenet' or 'cifar', got {stem!r}")

        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate, bottleneck)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                out_channels = math.floor(compression * channels)
                self.features.add_module(f"transition{i + 1}", Transition(channels, out_channels))
                channels = out_channels
        self.features.add_module(f"norm{len(block_config) + 1}", nn.BatchNorm2d(channels))
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

        init_weights_(self, conv_fan="fan_in", linear="zero_bias")  # torchvision's initialisation

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.features(x))        # (N, C, H', W')
        x = self.avgpool(x).flatten(1)         # (N, C)
        return self.classifier(x)              # (N, num_classes)


def densenet_cifar(depth: int, growth_rate: int = 12, bottleneck: bool = False, compression: float = 1.0,
                   num_classes: int = 10, drop_rate: float = 0.0) -> DenseNet:
    """The paper's CIFAR DenseNets: 3 dense blocks of equal size on 32x32,
    16x16, 8x8 maps. Depth L counts the stem conv, the transitions' convs
    (2) and the classifier: each layer has 1 conv, (L - 4) / 3 per block; a
    bottleneck layer has 2 convs, (L - 4) / 6 per block. The stem has 16
    channels, 2k for DenseNet-BC.
    """
    convs_per_layer = 2 if bottleneck else 1
    if depth < 4 or (depth - 4) % (3 * convs_per_layer):
        raise ValueError(f"densenet_cifar: depth must be 3 * {convs_per_layer} * n + 4, got {depth}")
    n = (depth - 4) // (3 * convs_per_layer)
    stem_channels = 2 * growth_rate if bottleneck and compression < 1 else 16
    return DenseNet(growth_rate, (n, n, n), stem_channels, compression=compression, bottleneck=bottleneck,
                    drop_rate=drop_rate, num_classes=num_classes, stem="cifar")


@register_model
def densenet40_12(num_classes: int = 10, growth_rate: int = 12, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet (L=40, k=12) for CIFAR: 3 x 12 plain layers, no compression; 1.0M params."""
    return densenet_cifar(40, growth_rate, num_classes=num_classes, drop_rate=drop_rate)


@register_model
def densenet_bc_100_12(num_classes: int = 10, growth_rate: int = 12, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-BC (L=100, k=12) for CIFAR: 3 x 16 bottleneck layers, theta = 0.5; 0.8M params."""
    return densenet_cifar(100, growth_rate, bottleneck=True, compression=0.5, num_classes=num_classes,
                          drop_rate=drop_rate)


@register_model(input_size=IMAGENET_INPUT)
def densenet121(num_classes: int = 1000, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-121 (BC, k=32) for ImageNet, torchvision's twin: 7,978,856 params with 1000 classes."""
    return DenseNet(32, (6, 12, 24, 16), 64, compression=0.5, drop_rate=drop_rate, num_classes=num_classes)
