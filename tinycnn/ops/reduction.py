"""Reductions over axes: sum, mean, max/amax, min/amin, var, std (PyTorch's `dim`/`keepdim`)."""
from typing import NamedTuple

import numpy as np

from tinycnn.tensor import Function, Tensor


def _axes(name, dim, ndim) -> tuple:
    """Normalise dim (None, int or tuple) to a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    n = ndim or 1  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"{name}: dim {d} is out of range for a tensor with {ndim} dimensions")
    axes = tuple(sorted({int(d) % n for d in dims})) if ndim else ()
    if len(axes) != len(dims) and ndim:
        raise ValueError(f"{name}: dim {dim} names an axis twice")
    return axes


def _expand(grad, shape, axes, keepdim):
    """Give a reduced gradient back its reduced axes (size 1) so it broadcasts to `shape`."""
    if not keepdim:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


class Sum(Function):
    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return np.sum(x, axis=axes, keepdims=keepdim)

    def backward(self, grad):
        return _expand(grad, self.shape, self.axes, self.keepdim)


class Mean(Function):
    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        self.n = int(np.prod([x.shape[a] for a in axes]))
        return np.mean(x, axis=axes, keepdims=keepdim)

    def backward(self, grad):
        return _expand(grad / self.n, self.shape, self.axes, self.keepdim)


class AMax(Function):
    """max over axes; at ties the gradient is shared evenly among the maxima (PyTorch's amax)."""

    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        out = np.max(x, axis=axes, keepdims=True)
        is_max = x == out
        self.save_for_backward(is_max / is_max.sum(axis=axes, keepdims=True).astype(x.dtype))
        return out if keepdim else np.squeeze(out, axis=axes)

    def backward(self, grad):
        (share,) = self.saved_tensors
        return _expand(grad, self.shape, self.axes, self.keepdim) * share


class MaxDim(Function):
    """max along one axis; the gradient goes to the index returned (the first maximum)."""

    def forward(self, x, indices, dim, keepdim):
        """indices: argmax along dim, with keepdims=True."""
        self.shape, self.indices, self.dim, self.keepdim = x.shape, indices, dim, keepdim
        out = np.take_along_axis(x, indices, axis=dim)
        return out if keepdim else np.squeeze(out, axis=dim)

    def backward(self, grad):
        g = np.zeros(self.shape, dtype=grad.dtype)
        np.put_along_axis(g, self.indices, grad if self.keepdim else np.expand_dims(grad, self.dim), axis=self.dim)
        return g


class Var(Function):
    """var(x) = sum((x - mean)^2) / (n - correction); d/dx = 2 (x - mean) / (n - correction)."""

    def forward(self, x, axes, keepdim, correction):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        n = int(np.prod([x.shape[a] for a in axes]))
        self.denom = n - correction if n > correction else 0
        centred = x - x.mean(axis=axes, keepdims=True)
        self.save_for_backward(centred)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(centred**2, axis=axes, keepdims=keepdim) / x.dtype.type(self.denom)

    def backward(self, grad):
        (centred,) = self.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return _expand(grad, self.shape, self.axes, self.keepdim) * (2 * centred / centred.dtype.type(self.denom))


class ValuesIndices(NamedTuple):
    """What max(x, dim) and min(x, dim) return, as torch.return_types.max/min."""

    values: Tensor
    indices: Tensor


def sum(x, dim=None, keepdim=False):
    """x: any shape; dim: None (all), an int or a tuple of ints."""
    return Sum.apply(x, axes=_axes("sum", dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    return Mean.apply(x, axes=_axes("mean", dim, x.ndim), keepdim=keepdim)


def amax(x, dim=None, keepdim=False):
    """Maximum over one or several axes (the values only)."""
    return AMax.apply(x, axes=_axes("amax", dim, x.ndim), keepdim=keepdim)


def amin(x, dim=None, keepdim=False):
    """Minimum over one or several axes: -amax(-x)."""
    return -amax(-x, dim, keepdim)


def max(x, dim=None, keepdim=False):
    """As torch.max: max(x) is the largest element (a 0-d Tensor); max(x, dim)
    is the named tuple (values, indices) along that one axis."""
    if dim is None:
        return amax(x)
    if not isinstance(dim, int | np.integer):
        raise TypeError(f"max: dim must be one int (use amax for several axes), got {dim!r}")
    _axes("max", dim, x.ndim)
    if x.ndim == 0:
        return max(x.reshape((1,)), 0)
    axis = int(dim) % x.ndim
    indices = np.argmax(x.data, axis=axis, keepdims=True)
    values = MaxDim.apply(x, indices=indices, dim=axis, keepdim=keepdim)
    return ValuesIndices(values, Tensor(indices if keepdim else np.squeeze(indices, axis=axis)))


def min(x, dim=None, keepdim=False):
    """As torch.min: the smallest element, or (values, indices) along dim."""
    if dim is None:
        return amin(x)
    values, indices = max(-x, dim, keepdim)
    return ValuesIndices(-values, indices)


def var(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Variance over dim with Bessel's correction (n - 1) unless unbiased=False
    or correction= says otherwise (torch.var's signature)."""
    correction = int(unbiased) if correction is None else correction
    return Var.apply(x, axes=_axes("var", dim, x.ndim), keepdim=keepdim, correction=correction)


def std(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Standard deviation: sqrt(var(x))."""
    return var(x, dim, unbiased, keepdim, correction=correction).sqrt()


def argmax(input, dim=None, keepdim=False):
    """Index of the largest value (of the flattened input when dim is None), as int64; no graph."""
    return input.argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest value (of the flattened input when dim is None), as int64; no graph."""
    return input.argmin(dim, keepdim)
