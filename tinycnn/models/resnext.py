"""ResNeXt: Xie, Girshick, Dollar, Tu, He, "Aggregated Residual
Transformations for Deep Neural Networks", CVPR 2017 (arXiv:1611.05431).

A ResNeXt block aggregates C ("cardinality") identical low-dimensional
transformations T_i, each a 1x1 (to d channels) -> 3x3 (d -> d) -> 1x1
bottleneck, and adds the shortcut:

    y = x + sum_{i=1..C} T_i(x)

The paper (Fig. 3) gives three equivalent forms of the same block:
  (a) split-transform-merge: C separate paths, their outputs summed
      (`SplitTransformMergeBlock`);
  (b) early concatenation: C paths of 1x1 -> 3x3, concatenated, then one
      1x1 convolution (`EarlyConcatBlock`);
  (c) grouped convolution: 1x1 to C*d channels, a 3x3 convolution with
      C groups, one 1x1 (`Bottleneck(groups=C, base_width=d)` of
      resnet.py, the form every model here uses).
With BN after every convolution (BN of a sum in (a)) they compute the same
function of the same weights: `from_grouped(block)` builds (a) or (b) from a
grouped block, copying its weights, so tests and the lesson can check it.

Models:
  CIFAR ResNeXt-29 (paper Section 5.3): a 3x3 conv with 64 filters, 3 stages
  of 3 bottleneck blocks (outputs 256, 512, 1024; bottleneck width C x d with
  d = 64 in stage 1, doubled with each stage), projection shortcuts,
  average pooling, fc: resnext29_8x64d (34.4M), resnext29_16x64d (68.1M).
  ImageNet resnext50_32x4d (paper Table 1): torchvision's keys,
  25,028,904 parameters.
"""
from __future__ import annotations

import copy

from tinycnn import nn
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.resnet import Bottleneck, CifarResNet, ResNet, conv1x1, conv3x3
from tinycnn.ops import cat
from tinycnn.tensor import Tensor


def resnext_cifar(cardinality: int, bottleneck_width: int, depth: int = 29, num_classes: int = 10,
                  **kwargs) -> CifarResNet:
    """CIFAR ResNeXt-depth (C x d): 3 stages of (depth - 2) / 9 bottleneck blocks."""
    if (depth - 2) % 9 != 0:
        raise ValueError(f"resnext_cifar: depth must be 9n + 2 (29 in the paper), got {depth}")
    n = (depth - 2) // 9
    return CifarResNet(Bottleneck, [n, n, n], num_classes=num_classes, widths=(64, 128, 256), stem_width=64,
                       shortcut="B", groups=cardinality, width_per_group=bottleneck_width, **kwargs)


@register_model
def resnext29_8x64d(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNeXt-29, 8x64d: 34.4M parameters, 3.65% CIFAR-10 error."""
    return resnext_cifar(8, 64, num_classes=num_classes, **kwargs)


@register_model
def resnext29_16x64d(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNeXt-29, 16x64d: 68.1M parameters, 3.58% CIFAR-10 error."""
    return resnext_cifar(16, 64, num_classes=num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def resnext50_32x4d(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNeXt-50 (32x4d): 25,028,904 parameters, 4.3 GMACs (torchvision)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, groups=32, width_per_group=4, **kwargs)


# ---------------------------------------------------------------- the three equivalent forms


def _grouped_sizes(block: Bottleneck) -> tuple[int, int, int, int, int]:
    """(inplanes, cardinality, d, outplanes, stride) of a grouped Bottleneck."""
    width, inplanes = block.conv1.weight.shape[:2]
    cardinality = width // block.conv2.weight.shape[1]  # conv2 weight: (C*d, d, 3, 3)
    stride = block.conv2.stride[0] if isinstance(block.conv2.stride, tuple) else block.conv2.stride
    return inplanes, cardinality, width // cardinality, block.conv3.weight.shape[0], stride


def _channels(module: nn.Module, start: int, stop: int, dim: int = 0) -> dict:
    """The module's state_dict sliced to channels start:stop along `dim`
    (0-dim entries such as num_batches_tracked are kept whole)."""
    index = (slice(None),) * dim + (slice(start, stop),)
    return {k: (v[index] if v.ndim > dim else v) for k, v in module.state_dict().items()}


class _Transform(nn.Module):
    """One path T_i of forms (a)/(b): 1x1 (in -> d) -> BN -> ReLU -> 3x3
    (d -> d, stride) -> BN -> ReLU [-> 1x1 (d -> out) in form (a)].
    (N, inplanes, H, W) -> (N, d or outplanes, H / stride, W / stride)."""

    def __init__(self, inplanes: int, d: int, stride: int, outplanes: int | None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, d)
        self.bn1 = nn.BatchNorm2d(d)
        self.conv2 = conv3x3(d, d, stride)
        self.bn2 = nn.BatchNorm2d(d)
        self.relu = nn.ReLU()
        self.conv3 = conv1x1(d, outplanes) if outplanes is not None else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return out if self.conv3 is None else self.conv3(out)

    def load_path(self, block: Bottleneck, i: int, d: int):
        """Copy path i's share of a grouped block: channels i*d:(i+1)*d of
        conv1/bn1 outputs, of group i of conv2 and of bn2, and (form a) the
        matching input columns of conv3."""
        lo, hi = i * d, (i + 1) * d
        for name in ("conv1", "bn1", "conv2", "bn2"):
            getattr(self, name).load_state_dict(_channels(getattr(block, name), lo, hi))
        if self.conv3 is not None:
            self.conv3.load_state_dict(_channels(block.conv3, lo, hi, dim=1))


class SplitTransformMergeBlock(nn.Module):
    """Form (a), paper Fig. 3a: y = relu(bn3(sum_i T_i(x)) + shortcut(x)),
    T_i = 1x1 (in -> d) -> 3x3 (d -> d) -> 1x1 (d -> out), BN-ReLU between.
    x: (N, inplanes, H, W) -> (N, outplanes, H / stride, W / stride)."""

    def __init__(self, inplanes: int, cardinality: int, d: int, outplanes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.paths = nn.ModuleList([_Transform(inplanes, d, stride, outplanes) for _ in range(cardinality)])
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.paths[0](x)
        for path in self.paths[1:]:
            out = out + path(x)  # sum of C (N, outplanes, H', W') maps
        return self.relu(self.bn3(out) + identity)

    @classmethod
    def from_grouped(cls, block: Bottleneck) -> SplitTransformMergeBlock:
        """Form (a) computing the same function as the grouped `block`."""
        inplanes, cardinality, d, outplanes, stride = _grouped_sizes(block)
        new = cls(inplanes, cardinality, d, outplanes, stride, copy.deepcopy(block.downsample))
        new.to(block.conv1.weight.dtype)
        for i, path in enumerate(new.paths):
            path.load_path(block, i, d)
        new.bn3.load_state_dict(block.bn3.state_dict())
        return new


class EarlyConcatBlock(nn.Module):
    """Form (b), paper Fig. 3b: the C paths 1x1 (in -> d) -> 3x3 (d -> d) are
    concatenated to C*d channels, then one 1x1 (C*d -> out):
    y = relu(bn3(conv3(cat_i T_i(x))) + shortcut(x)).
    x: (N, inplanes, H, W) -> (N, outplanes, H / stride, W / stride)."""

    def __init__(self, inplanes: int, cardinality: int, d: int, outplanes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.paths = nn.ModuleList([_Transform(inplanes, d, stride, None) for _ in range(cardinality)])
        self.conv3 = conv1x1(cardinality * d, outplanes)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = cat([path(x) for path in self.paths], dim=1)  # (N, C*d, H', W')
        return self.relu(self.bn3(self.conv3(out)) + identity)

    @classmethod
    def from_grouped(cls, block: Bottleneck) -> EarlyConcatBlock:
        """Form (b) computing the same function as the grouped `block`."""
        inplanes, cardinality, d, outplanes, stride = _grouped_sizes(block)
        new = cls(inplanes, cardinality, d, outplanes, stride, copy.deepcopy(block.downsample))
        new.to(block.conv1.weight.dtype)
        for i, path in enumerate(new.paths):
            path.load_path(block, i, d)
        new.conv3.load_state_dict(block.conv3.state_dict())
        new.bn3.load_state_dict(block.bn3.state_dict())
        return new
