"""SE-ResNet: Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018
(arXiv:1709.01507).

An SE block recalibrates the channels of a residual branch U (N, C, H, W):
squeeze z = global average pool of U (N, C); excitation
s = sigmoid(W2 relu(W1 z)) with W1: C -> C/r, W2: C/r -> C; output U * s.
In SE-ResNet it sits on the residual branch, after the last BN and before
the addition with the shortcut (paper Fig. 3). The reduction ratio is r = 16.

The SE option lives in the blocks of resnet.py (`se=True, se_ratio=1/r`; the
submodule is `se`, with keys `se.fc1`, `se.fc2` as timm's); it works the same
on the pre-activation and wide models (preact_resnet.py, wide_resnet.py) and
on ResNeXt. This file registers the SE-ResNets of the paper:

    se_resnet20 / se_resnet56 / se_resnet110   CIFAR, option A shortcuts
    se_resnet50   ImageNet, timm's `seresnet50` (keys and 28,088,024 params)
"""
from __future__ import annotations

from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.resnet import Bottleneck, CifarResNet, ResNet, cifar_resnet


@register_model
def se_resnet20(num_classes: int = 10, se_ratio: float = 1 / 16, **kwargs) -> CifarResNet:
    """SE-ResNet-20 (CIFAR, r = 16)."""
    return cifar_resnet(20, num_classes, se=True, se_ratio=se_ratio, **kwargs)


@register_model
def se_resnet56(num_classes: int = 10, se_ratio: float = 1 / 16, **kwargs) -> CifarResNet:
    """SE-ResNet-56 (CIFAR, r = 16)."""
    return cifar_resnet(56, num_classes, se=True, se_ratio=se_ratio, **kwargs)


@register_model
def se_resnet110(num_classes: int = 10, se_ratio: float = 1 / 16, **kwargs) -> CifarResNet:
    """SE-ResNet-110 (CIFAR, r = 16): 5.21% CIFAR-10 error in the SENet paper (6.37% without SE)."""
    return cifar_resnet(110, num_classes, se=True, se_ratio=se_ratio, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def se_resnet50(num_classes: int = 1000, se_ratio: float = 1 / 16, **kwargs) -> ResNet:
    """SE-ResNet-50 (ImageNet, r = 16): timm's seresnet50, 28,088,024 parameters, 3.9 GMACs."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, se=True, se_ratio=se_ratio, **kwargs)
