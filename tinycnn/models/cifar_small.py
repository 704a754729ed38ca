"""The lecture's families at laptop size: small CIFAR-10 versions, trained with one shared
recipe (`tinycnn train --recipe cifar-small`) so that their accuracies can be compared.

Each is sized so that one run of the recipe fits about 30 minutes on a 2-core machine: about
ResNet-20's cost (41M MACs per image) or less. Depthwise-heavy networks run fewer multiply-adds
per second on a CPU (little arithmetic per byte moved), so they were sized by measured time per
training step, not by MACs alone. Pairs built for one comparison of the lecture are equal in the
quantity that comparison holds fixed:

    model                    params   MACs    compared with (held equal)
    resnet20 (resnet.py)      0.27M    41M    preact_resnet20 (depth), se_resnet20, resnet20_stochastic_depth
    plain20                   0.27M    41M    resnet20: the same net without its shortcuts
    preact_resnet20           0.27M    41M    resnet20: pre- vs post-activation at the same depth
    wrn10_2                   0.30M    45M    preact_resnet20: wide-and-shallow vs thin-and-deep (parameters)
    resnext20_8x4d            0.14M    23M    resnext20_1x16d: cardinality vs plain width (MACs)
    densenet_bc_28_12         0.10M    44M    resnet8 (0.08M) and resnet14 (0.17M) bracket its parameters
    mobilenet_v1_cifar_0125/025/035/050       the width multiplier alpha: accuracy vs MACs
    mobilenet_v1_cifar_0125_standard          the 0.125 layout with standard convs: what DSC saves
    mobilenet_v2_cifar_035    0.41M    16M    MobileNet v2's small model
    efficientnet_cifar_tiny   0.18M   5.5M    EfficientNet's Figure 3 at phi = 1: twice its MACs spent by the
        _compound / _width / _depth / _resolution compound rule or by one dimension alone (MACs)
    resnet9_wide              1.66M    41M    the accuracy-per-time candidate (no lecture family)

`tinycnn models` prints the exact counts.
"""
from __future__ import annotations

from tinycnn.models.densenet import DenseNet, densenet_cifar
from tinycnn.models.efficientnet import ALPHA, B0_CIFAR_STAGES, BETA, GAMMA, EfficientNet
from tinycnn.models.fast_cifar import FastResNet, resnet9_fast
from tinycnn.models.mobilenet_v1 import MobileNetV1, StandardConv, mobilenet_v1_cifar
from tinycnn.models.mobilenet_v2 import MobileNetV2, mobilenet_v2_cifar
from tinycnn.models.preact_resnet import PreActResNet, cifar_preact_resnet
from tinycnn.models.registry import register_model
from tinycnn.models.resnet import Bottleneck, CifarResNet, PlainBlock, cifar_resnet
from tinycnn.models.wide_resnet import WideResNet


@register_model
def resnet8(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-8 (n = 1): 0.08M parameters."""
    return cifar_resnet(8, num_classes, **kwargs)


@register_model
def resnet14(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-14 (n = 2): 0.17M parameters."""
    return cifar_resnet(14, num_classes, **kwargs)


@register_model
def plain20(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-20 with the `+ x` removed from every block: the plain 20-layer net of the paper's
    Figure 6, the control of the shortcut (same layers, parameters and MACs as resnet20)."""
    return CifarResNet(PlainBlock, [3, 3, 3], num_classes=num_classes, **kwargs)


@register_model
def resnet20_stochastic_depth(num_classes: int = 10, drop_path_rate: float = 0.5, **kwargs) -> CifarResNet:
    """ResNet-20 with stochastic depth as in the paper: the linear rule with p_L = 0.5 (the last
    block is dropped half of the time), each block dropped for a whole mini-batch and then not
    computed (drop_path_mode="batch"), which is where the training time is saved."""
    kwargs.setdefault("drop_path_mode", "batch")
    return cifar_resnet(20, num_classes, drop_path_rate=drop_path_rate, **kwargs)


@register_model
def preact_resnet20(num_classes: int = 10, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-20 (basic blocks, n = 3): ResNet-20's layers in BN-ReLU-conv order."""
    return cifar_preact_resnet(20, False, num_classes, **kwargs)


@register_model
def wrn10_2(num_classes: int = 10, **kwargs) -> WideResNet:
    """WRN-10-2: one block per stage, twice ResNet's width (32/64/128 channels). Its thin-and-deep
    twin WRN-22-1 (three blocks per stage at width 16/32/64) is preact_resnet20: the same layers,
    counted by WRN's rule that includes the two 1x1 projections."""
    return WideResNet(10, 2, num_classes=num_classes, **kwargs)


def resnext20(cardinality: int, bottleneck_width: int, num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNeXt-20 (C x d): 3 stages of 2 bottleneck blocks, 32/64/128 output channels; the grouped
    3x3 has C groups of d channels in the first stage, doubling per stage like ResNeXt-29's."""
    planes = (8, 16, 32)  # Bottleneck's width rule, int(planes * base_width / 64) * C, gives C * d here
    return CifarResNet(Bottleneck, [2, 2, 2], num_classes=num_classes, widths=planes, stem_width=16, shortcut="B",
                       groups=cardinality, width_per_group=bottleneck_width * 64 // planes[0], **kwargs)


@register_model
def resnext20_8x4d(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNeXt-20 (8x4d): 8 paths of 4 channels in the first stage."""
    return resnext20(8, 4, num_classes, **kwargs)


@register_model
def resnext20_1x16d(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNeXt-20 (1x16d): one path of 16 channels, a plain bottleneck ResNet with resnext20_8x4d's MACs."""
    return resnext20(1, 16, num_classes, **kwargs)


@register_model
def densenet_bc_28_12(num_classes: int = 10, growth_rate: int = 12, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-BC (L=28, k=12): 3 x 4 bottleneck layers, theta = 0.5."""
    return densenet_cifar(28, growth_rate, bottleneck=True, compression=0.5, num_classes=num_classes,
                          drop_rate=drop_rate)


@register_model
def mobilenet_v1_cifar_025(num_classes: int = 10, **kwargs) -> MobileNetV1:
    """0.25 MobileNet (v1) for 32x32 inputs."""
    return mobilenet_v1_cifar(num_classes, width_mult=0.25, **kwargs)


@register_model
def mobilenet_v1_cifar_035(num_classes: int = 10, **kwargs) -> MobileNetV1:
    """0.35 MobileNet (v1) for 32x32 inputs."""
    return mobilenet_v1_cifar(num_classes, width_mult=0.35, **kwargs)


@register_model
def mobilenet_v1_cifar_050(num_classes: int = 10, **kwargs) -> MobileNetV1:
    """0.5 MobileNet (v1) for 32x32 inputs."""
    return mobilenet_v1_cifar(num_classes, width_mult=0.5, **kwargs)


@register_model
def mobilenet_v1_cifar_0125(num_classes: int = 10, **kwargs) -> MobileNetV1:
    """0.125 MobileNet (v1) for 32x32 inputs (8 to 128 channels)."""
    return mobilenet_v1_cifar(num_classes, width_mult=0.125, **kwargs)


@register_model
def mobilenet_v1_cifar_0125_standard(num_classes: int = 10, **kwargs) -> MobileNetV1:
    """0.125 MobileNet (v1)'s layout with standard 3x3 convolutions instead of depthwise separable
    ones (the paper's "Conv MobileNet", Table 4): 7x the MACs. At 0.125 so that it fits the time
    budget (at 0.25 it would take 2.3 ResNet-20 runs)."""
    return mobilenet_v1_cifar(num_classes, width_mult=0.125, block=StandardConv, **kwargs)


@register_model
def mobilenet_v2_cifar_035(num_classes: int = 10, **kwargs) -> MobileNetV2:
    """MobileNetV2 0.35 for 32x32 inputs."""
    return mobilenet_v2_cifar(num_classes, width_mult=0.35, **kwargs)


@register_model
def resnet9_wide(num_classes: int = 10, **kwargs) -> FastResNet:
    """resnet9_fast at twice its width (48/64/128/256 channels): ResNet-20's MACs in 8 convolutions,
    for the most accuracy per minute."""
    return resnet9_fast(num_classes, widths=(48, 64, 128, 256), **kwargs)


# EfficientNet's scaling study (paper Figure 3) at CIFAR size. The baseline is B0's CIFAR layout at
# width 0.25 and depth 0.5, with channels and layer counts rounded to the nearest integer
# (exact=True): at this size the paper's multiples of 8 would swallow a 1.1x width step. phi = 1
# doubles the FLOPs in principle (alpha * beta^2 * gamma^2 = 1.92); each single-dimension model
# gets the multiplier whose measured MACs come nearest the compound model's (9.9M): width 0.35
# (9.9M); depth 2x (9.4M; layer counts are whole); resolution 41 px (10.7M; 40 px gives 8.6M,
# as the strided maps round up at 41).
TINY_WIDTH, TINY_DEPTH = 0.25, 0.5


def efficientnet_cifar(width_mult: float, depth_mult: float, resolution: int = 32, num_classes: int = 10,
                       **kwargs) -> EfficientNet:
    """EfficientNet-B0's CIFAR layout (stride 8 in all) scaled with exact rounding; `resolution`
    is the image size it is trained at (CIFAR's images are resized up to it)."""
    return EfficientNet(width_mult, depth_mult, resolution, num_classes=num_classes, stages=B0_CIFAR_STAGES,
                        stem_stride=1, exact=True, **kwargs)


@register_model
def efficientnet_cifar_tiny(num_classes: int = 10, **kwargs) -> EfficientNet:
    """The baseline of the scaling study (phi = 0): width 0.25, depth 0.5, 32 px."""
    return efficientnet_cifar(TINY_WIDTH, TINY_DEPTH, 32, num_classes, **kwargs)


@register_model(input_size=(3, round(32 * GAMMA), round(32 * GAMMA)))
def efficientnet_cifar_tiny_compound(num_classes: int = 10, **kwargs) -> EfficientNet:
    """phi = 1 by the compound rule: width x1.1, depth x1.2, resolution x1.15 (37 px)."""
    return efficientnet_cifar(TINY_WIDTH * BETA, TINY_DEPTH * ALPHA, round(32 * GAMMA), num_classes, **kwargs)


@register_model
def efficientnet_cifar_tiny_width(num_classes: int = 10, **kwargs) -> EfficientNet:
    """phi = 1 in width alone: width 0.35 (x1.4)."""
    return efficientnet_cifar(0.35, TINY_DEPTH, 32, num_classes, **kwargs)


@register_model
def efficientnet_cifar_tiny_depth(num_classes: int = 10, **kwargs) -> EfficientNet:
    """phi = 1 in depth alone: twice the layers."""
    return efficientnet_cifar(TINY_WIDTH, 2 * TINY_DEPTH, 32, num_classes, **kwargs)


@register_model(input_size=(3, 41, 41))
def efficientnet_cifar_tiny_resolution(num_classes: int = 10, **kwargs) -> EfficientNet:
    """phi = 1 in resolution alone: 41 px images (x1.28)."""
    return efficientnet_cifar(TINY_WIDTH, TINY_DEPTH, 41, num_classes, **kwargs)
