"""Wide Residual Networks: Zagoruyko & Komodakis, "Wide Residual Networks",
BMVC 2016 (arXiv:1605.07146).

WRN-d-k: fewer, wider pre-activation basic blocks. Paper Table 1 (CIFAR):

    group   output   block
    conv1   32x32    3x3, 16
    conv2   32x32    [3x3, 16k; 3x3, 16k] x N
    conv3   16x16    [3x3, 32k; 3x3, 32k] x N
    conv4    8x8     [3x3, 64k; 3x3, 64k] x N
    avg-pool 8x8, fc
    with N = (d - 4) / 6 blocks per group (d counts the convolutions,
    the classifier and the two extra 1x1 projections).

Blocks are BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 ("B(3,3)" with dropout
between the convolutions, paper Section 2.4); the shortcut is a 1x1
projection where the width or stride changes.

    wrn16_4    2.7M      wrn28_10   36.5M (3.89% CIFAR-10 error with dropout 0.3)
    wrn40_4    8.9M

ImageNet wide_resnet50_2 (torchvision): ResNet-50 with bottlenecks twice as
wide inside (base width 128), torchvision's keys, 68,883,240 parameters.
"""
from __future__ import annotations

from tinycnn.models.preact_resnet import PreActBasicBlock, PreActResNet
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.resnet import Bottleneck, ResNet


class WideResNet(PreActResNet):
    """WRN-depth-widen_factor for 32x32 inputs (paper Table 1).

    dropout_rate: dropout between the two convolutions of each block
    (0.3 in the paper's best CIFAR results; 0 = none).
    x: (N, 3, 32, 32) -> logits (N, num_classes).
    """

    def __init__(self, depth: int, widen_factor: int, dropout_rate: float = 0.0, num_classes: int = 10, **kwargs):
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"WideResNet: depth must be 6N + 4 (10, 16, 22, 28, 40, ...), got {depth}")
        n, k = (depth - 4) // 6, widen_factor
        super().__init__(PreActBasicBlock, [n, n, n], [16 * k, 32 * k, 64 * k], num_classes, stem="cifar", stem_chs=16,
                         dropout_rate=dropout_rate, **kwargs)
        self.depth, self.widen_factor = depth, widen_factor

    def extra_repr(self) -> str:
        return f"depth={self.depth}, widen_factor={self.widen_factor}"


@register_model
def wrn16_4(num_classes: int = 10, **kwargs) -> WideResNet:
    """WRN-16-4: 2.7M parameters."""
    return WideResNet(16, 4, num_classes=num_classes, **kwargs)


@register_model
def wrn28_10(num_classes: int = 10, **kwargs) -> WideResNet:
    """WRN-28-10: 36.5M parameters."""
    return WideResNet(28, 10, num_classes=num_classes, **kwargs)


@register_model
def wrn40_4(num_classes: int = 10, **kwargs) -> WideResNet:
    """WRN-40-4: 8.9M parameters."""
    return WideResNet(40, 4, num_classes=num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def wide_resnet50_2(num_classes: int = 1000, **kwargs) -> ResNet:
    """torchvision's Wide ResNet-50-2: 68,883,240 parameters, 11.4 GMACs."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, width_per_group=128, **kwargs)
