"""tinycnn's layers -> torch.nn's: the leaves of `to_torch`'s translation.

A leaf layer's forward calls tinycnn's kernels, so it is not re-run against torch
but replaced by the torch.nn layer of the same name and hyper-parameters. DropPath
has no torch.nn counterpart: `torch_drop_path_class` defines it with torch ops
(torchvision's StochasticDepth, with tinycnn's modes and `skip()`).
"""
from __future__ import annotations

import functools

from tinycnn import nn


def _activation(cls_name):
    return lambda m, tnn: getattr(tnn, cls_name)(inplace=m.inplace)


_LEAVES = {
    nn.Conv2d: lambda m, tnn: tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                         m.dilation, m.groups, bias=m.bias is not None),
    nn.BatchNorm1d: lambda m, tnn: tnn.BatchNorm1d(m.num_features, m.eps, m.momentum, m.affine,
                                                   m.track_running_stats),
    nn.BatchNorm2d: lambda m, tnn: tnn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine,
                                                   m.track_running_stats),
    nn.Linear: lambda m, tnn: tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    nn.Identity: lambda m, tnn: tnn.Identity(),
    nn.Flatten: lambda m, tnn: tnn.Flatten(m.start_dim, m.end_dim),
    nn.ReLU: _activation("ReLU"),
    nn.ReLU6: _activation("ReLU6"),
    nn.SiLU: _activation("SiLU"),
    nn.Hardsigmoid: _activation("Hardsigmoid"),
    nn.Hardswish: _activation("Hardswish"),
    nn.LeakyReLU: lambda m, tnn: tnn.LeakyReLU(m.negative_slope, m.inplace),
    nn.Sigmoid: lambda m, tnn: tnn.Sigmoid(),
    nn.Tanh: lambda m, tnn: tnn.Tanh(),
    nn.Softmax: lambda m, tnn: tnn.Softmax(m.dim),
    nn.LogSoftmax: lambda m, tnn: tnn.LogSoftmax(m.dim),
    nn.Dropout: lambda m, tnn: tnn.Dropout(m.p, m.inplace),
    nn.Dropout2d: lambda m, tnn: tnn.Dropout2d(m.p, m.inplace),
    nn.AdaptiveAvgPool2d: lambda m, tnn: tnn.AdaptiveAvgPool2d(m.output_size),
    nn.AvgPool2d: lambda m, tnn: tnn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                               m.count_include_pad, m.divisor_override),
    nn.MaxPool2d: lambda m, tnn: tnn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation,
                                               m.return_indices, m.ceil_mode),
    nn.DropPath: lambda m, tnn: torch_drop_path_class()(m.p, m.mode),
}


def leaf_class(cls):
    """The tinycnn leaf class whose torch layer stands for `cls` (a leaf or a subclass that
    keeps its forward), or None when `cls` is translated from its own forward."""
    for leaf in cls.__mro__:
        if leaf in _LEAVES:
            return leaf if cls.forward is leaf.forward else None
    return None


def torch_leaf(m: nn.Module, leaf, torch):
    return _LEAVES[leaf](m, torch.nn)


@functools.cache
def torch_drop_path_class():
    import torch

    class DropPath(torch.nn.Module):
        """tinycnn.nn.DropPath with torch ops: stochastic depth, mode "row" or "batch"."""

        def __init__(self, p=0.0, mode="row"):
            super().__init__()
            self.p, self.mode, self._kept = p, mode, None

        def skip(self) -> bool:
            if self.mode != "batch" or not self.training or self.p == 0.0:
                return False
            self._kept = bool(torch.rand(()) >= self.p)
            return not self._kept

        def forward(self, x):
            if not self.training or self.p == 0.0:
                return x
            scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
            if self.mode == "batch":
                kept = self._kept if self._kept is not None else bool(torch.rand(()) >= self.p)
                self._kept = None
                return x * (scale if kept else 0.0)
            keep = (torch.rand(x.shape[0], dtype=x.dtype, device=x.device) >= self.p).to(x.dtype) * scale
            return x * keep.reshape(-1, *([1] * (x.ndim - 1)))

        def extra_repr(self):
            return f"p={self.p}" + ("" if self.mode == "row" else f", mode={self.mode!r}")

    return DropPath
