"""PyTorch twins of tinycnn models, for timing the same network in both libraries.

`twin(model)` builds a `torch.nn.Module` with the same module tree (same
child names, hence the same state_dict keys), the same hyper-parameters
(strides, groups, BatchNorm eps/momentum, dropout and drop-path rates, ReLU
inplace flags) and the same forward pass, written below with torch ops, one
class per tinycnn block type. Then it loads tinycnn's state_dict, so both
networks compute the same function (tests/test_bench.py checks the logits).

Leaf layers (Conv2d, BatchNorm2d, Linear, activations, pooling, Dropout)
map to torch.nn's; containers (Sequential and its subclasses such as
ConvBNActivation or DenseNet's Transition) to torch.nn.Sequential; a block
with its own forward (BasicBlock, InvertedResidual, DenseLayer, MBConv, ...)
to the class of the same name here, whose forward mirrors tinycnn's.
torch is imported only when `twin` is called.
"""
from __future__ import annotations

import numpy as np

from tinycnn import nn
from tinycnn.interop import to_torch


def twin(model: nn.Module):
    """A torch.nn.Module computing what `model` computes, with its weights, dtype and mode."""
    import torch

    out = _mirror(model, torch)
    dtype = next(iter(model.parameters())).dtype  # float32, or float64 after model.double()
    out.to(torch.from_numpy(np.empty(0, dtype)).dtype).load_state_dict(to_torch(model.state_dict()))
    return out.train(model.training)


# ---------------------------------------------------------------- leaves


def _leaf(m: nn.Module, torch):
    """The torch.nn layer for a tinycnn leaf layer, or None if `m` is not one."""
    tnn = torch.nn
    kind = type(m).__name__
    if kind == "Conv2d":
        return tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                          m.groups, bias=m.bias is not None)
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(tnn, kind)(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    if kind == "Linear":
        return tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if kind in ("ReLU", "ReLU6", "SiLU", "Hardsigmoid", "Hardswish"):
        return getattr(tnn, kind)(inplace=m.inplace)
    if kind in ("Sigmoid", "Identity", "Flatten"):
        return getattr(tnn, kind)()
    if kind in ("Dropout", "Dropout2d"):
        return getattr(tnn, kind)(m.p)
    if kind == "AdaptiveAvgPool2d":
        return tnn.AdaptiveAvgPool2d(m.output_size)
    if kind == "AvgPool2d":
        return tnn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override)
    if kind == "MaxPool2d":
        return tnn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)
    return None


def _mirror(m: nn.Module, torch):
    leaf = _leaf(m, torch)
    if leaf is not None:
        return leaf
    children = {name: _mirror(child, torch) for name, child in m.named_children()}
    if isinstance(m, nn.Sequential):
        from collections import OrderedDict

        return torch.nn.Sequential(OrderedDict(children))
    block = _blocks(torch).get(type(m).__name__)
    if block is None:
        raise TypeError(f"twin: no PyTorch twin for the tinycnn module {type(m).__name__}")
    return block(m, children)


# ---------------------------------------------------------------- blocks


def _blocks(torch) -> dict:
    """The torch block classes by tinycnn class name (defined once torch is importable)."""
    global _BLOCKS
    if _BLOCKS is None:
        _BLOCKS = _define_blocks(torch)
    return _BLOCKS


_BLOCKS = None


def _define_blocks(torch):  # noqa: C901 - one short class per block type
    F = torch.nn.functional

    class Mirror(torch.nn.Module):
        """Takes the mirrored children and the plain attributes (strides, flags) of a tinycnn block."""

        ATTRIBUTES: tuple = ()

        def __init__(self, m, children):
            super().__init__()
            for name, child in children.items():
                self.add_module(name, child)
            for name in self.ATTRIBUTES:
                setattr(self, name, getattr(m, name))

    class DropPath(Mirror):
        ATTRIBUTES = ("p",)

        def forward(self, x):  # tinycnn.nn.drop_path
            if not self.training or self.p == 0.0:
                return x
            keep = (torch.rand(x.shape[0], dtype=x.dtype) >= self.p).to(x.dtype) / (1.0 - self.p)
            return x * keep.reshape(-1, *([1] * (x.ndim - 1)))

    class ShortcutA(Mirror):
        ATTRIBUTES = ("in_planes", "out_planes", "stride")

        def forward(self, x):
            x = x[:, :, :: self.stride, :: self.stride]
            return F.pad(x, (0, 0, 0, 0, 0, self.out_planes - self.in_planes))

    class BasicBlock(Mirror):
        def __init__(self, m, children):
            super().__init__(m, children)
            if m.downsample is None:
                self.downsample = None

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.se(self.bn2(self.conv2(out)))
            return self.relu(self.drop_path(out) + identity)

    class CifarResNet(Mirror):
        ATTRIBUTES = ("num_stages",)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            for i in range(self.num_stages):
                x = getattr(self, f"layer{i + 1}")(x)
            return self.fc(self.avgpool(x).flatten(1))

    class SqueezeExcitation(Mirror):
        ATTRIBUTES = ("use_conv",)

        def forward(self, x):
            n, c = x.shape[:2]
            z = self.avgpool(x)
            if not self.use_conv:
                z = z.reshape(n, c)
            s = self.scale_activation(self.fc2(self.activation(self.fc1(z))))
            return x * s.reshape(n, c, 1, 1)

    class InvertedResidual(Mirror):
        ATTRIBUTES = ("use_res_connect",)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MBConv(Mirror):
        ATTRIBUTES = ("use_res_connect",)

        def forward(self, x):
            out = self.block(x)
            return self.stochastic_depth(out) + x if self.use_res_connect else out

    class Classifier(Mirror):
        """MobileNetV2 and EfficientNet: features -> global average pool -> classifier."""

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    class DenseLayer(Mirror):
        ATTRIBUTES = ("bottleneck",)

        def forward(self, features):
            x = torch.cat(features, 1)
            if self.bottleneck:
                x = self.conv1(self.relu1(self.norm1(x)))
            return self.dropout(self.conv2(self.relu2(self.norm2(x))))

    class DenseBlock(Mirror):
        def forward(self, x):
            features = [x]
            for layer in self.children():
                features.append(layer(features))
            return torch.cat(features, 1)

    class DenseNet(Mirror):
        def forward(self, x):
            x = self.relu(self.features(x))
            return self.classifier(self.avgpool(x).flatten(1))

    classes = [DropPath, ShortcutA, BasicBlock, CifarResNet, SqueezeExcitation, InvertedResidual, MBConv,
               DenseLayer, DenseBlock, DenseNet]
    out = {cls.__name__: cls for cls in classes}
    out.update(SEModule=SqueezeExcitation, MobileNetV2=Classifier, EfficientNet=Classifier)
    return out
