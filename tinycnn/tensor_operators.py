"""The Tensor's operators and methods, each one line that forwards to its op in `tinycnn.ops`.

`Tensor` inherits them (tensor.py holds the data and the autograd engine). The ops import
`Tensor`, so this module cannot import them while it loads: `tinycnn.ops` is looked up when a
method runs.
"""
import numpy as np

import tinycnn
from tinycnn.device import CPU, parse_to


class TensorOperators:
    """`t + u`, `t @ u`, `t.sum()`, `t.reshape(...)`, ...: see `tinycnn.ops` for each op."""

    def __add__(self, other):
        return tinycnn.ops.add(self, other)

    def __radd__(self, other):
        return tinycnn.ops.add(other, self)

    def __sub__(self, other):
        return tinycnn.ops.sub(self, other)

    def __rsub__(self, other):
        return tinycnn.ops.sub(other, self)

    def __mul__(self, other):
        return tinycnn.ops.mul(self, other)

    def __rmul__(self, other):
        return tinycnn.ops.mul(other, self)

    def __truediv__(self, other):
        return tinycnn.ops.div(self, other)

    def __rtruediv__(self, other):
        return tinycnn.ops.div(other, self)

    def __neg__(self):
        return tinycnn.ops.neg(self)

    def __pow__(self, exponent):
        return tinycnn.ops.pow(self, exponent)

    def __rpow__(self, base):
        return tinycnn.ops.pow(base, self)

    def __matmul__(self, other):
        return tinycnn.ops.matmul(self, other)

    def __rmatmul__(self, other):
        return tinycnn.ops.matmul(other, self)

    def __getitem__(self, index):
        return tinycnn.ops.getitem(self, index)

    def sum(self, dim=None, keepdim=False):
        return tinycnn.ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return tinycnn.ops.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return tinycnn.ops.max(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return tinycnn.ops.amax(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return tinycnn.ops.min(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return tinycnn.ops.amin(self, dim, keepdim)

    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return tinycnn.ops.std(self, dim, unbiased, keepdim, correction=correction)

    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return tinycnn.ops.var(self, dim, unbiased, keepdim, correction=correction)

    def reshape(self, *shape):
        return tinycnn.ops.reshape(self, _shape_arg(shape))

    view = reshape

    def unsqueeze(self, dim):
        return tinycnn.ops.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return tinycnn.ops.squeeze(self, dim)

    def expand(self, *sizes):
        return tinycnn.ops.expand(self, _shape_arg(sizes))

    def contiguous(self):
        return self

    def flatten(self, start_dim=0, end_dim=-1):
        return tinycnn.ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return tinycnn.ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return tinycnn.ops.permute(self, _shape_arg(dims))

    @property
    def T(self):
        return tinycnn.ops.permute(self, tuple(reversed(range(self.ndim))))

    def exp(self):
        return tinycnn.ops.exp(self)

    def log(self):
        return tinycnn.ops.log(self)

    def sqrt(self):
        return tinycnn.ops.sqrt(self)

    def abs(self):
        return tinycnn.ops.abs(self)

    def clip(self, min=None, max=None):
        return tinycnn.ops.clip(self, min, max)

    clamp = clip

    def maximum(self, other):
        return tinycnn.ops.maximum(self, other)

    def pow(self, exponent):
        return tinycnn.ops.pow(self, exponent)

    def matmul(self, other):
        return tinycnn.ops.matmul(self, other)

    def relu(self):
        return tinycnn.ops.relu(self)

    def sigmoid(self):
        return tinycnn.ops.sigmoid(self)

    def tanh(self):
        return tinycnn.ops.tanh(self)

    def softmax(self, dim=-1):
        return tinycnn.ops.softmax(self, dim)

    def log_softmax(self, dim=-1):
        return tinycnn.ops.log_softmax(self, dim)

    def float(self):
        return tinycnn.ops.to_dtype(self, np.float32)

    def double(self):
        return tinycnn.ops.to_dtype(self, np.float64)

    def to(self, *args, **kwargs):
        """As PyTorch: `to(dtype)`, `to("cpu")`, `to(device, dtype)`, `to(other)`; the same
        tensor when nothing changes. tinycnn runs on the CPU: another device is an error."""
        dtype = parse_to("Tensor.to", *args, **kwargs)
        if dtype is None or dtype == self.dtype:
            return self
        return tinycnn.ops.to_dtype(self, dtype)

    def cpu(self):
        return self

    @property
    def device(self):
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False


def _shape_arg(shape: tuple) -> tuple:
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        return tuple(shape[0])
    return tuple(shape)
