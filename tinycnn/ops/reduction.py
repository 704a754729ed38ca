"""Reductions over axes: sum, mean, max, var (PyTorch's `dim`/`keepdim`)."""
import numpy as np

from tinycnn.tensor import Function


def _axes(dim, ndim) -> tuple:
    """Normalise dim (None, int or tuple) to a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(d % max(ndim, 1) for d in dims)) if ndim else ()


def _expand(grad, shape, axes, keepdim):
    """Give a reduced gradient back its reduced axes (size 1) so it broadcasts."""
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


class Max(Function):
    """max over axes; the gradient goes to the first maximal element of each
    reduced slice (a deterministic subgradient)."""

    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        out = np.max(x, axis=axes, keepdims=True)
        is_max = x == out
        # keep only the first maximum in each slice
        first = np.cumsum(is_max.reshape(*_moved(x.shape, axes)), axis=-1) == 1
        mask = is_max & _unmove(first, x.shape, axes)
        self.save_for_backward(mask)
        return out if keepdim else np.squeeze(out, axis=axes)

    def backward(self, grad):
        (mask,) = self.saved_tensors
        return _expand(grad, self.shape, self.axes, self.keepdim) * mask


def _moved(shape, axes):
    kept = [n for i, n in enumerate(shape) if i not in axes]
    return (*kept, int(np.prod([shape[a] for a in axes])))


def _unmove(flat, shape, axes):
    """Inverse of reshaping x (axes moved last) to _moved(shape, axes)."""
    kept_axes = [i for i in range(len(shape)) if i not in axes]
    moved_shape = [shape[i] for i in kept_axes] + [shape[a] for a in axes]
    arr = flat.reshape(moved_shape)
    return np.transpose(arr, np.argsort(kept_axes + list(axes)))


class Var(Function):
    """var(x) = mean((x - mean)^2) * n / (n - correction)."""

    def forward(self, x, axes, keepdim, correction):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        n = int(np.prod([x.shape[a] for a in axes]))
        self.denom = max(n - correction, 0)
        centred = x - x.mean(axis=axes, keepdims=True)
        self.save_for_backward(centred)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(centred**2, axis=axes, keepdims=keepdim) / self.denom

    def backward(self, grad):
        (centred,) = self.saved_tensors
        return _expand(grad, self.shape, self.axes, self.keepdim) * (2 * centred / self.denom)


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    return Mean.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def max(x, dim=None, keepdim=False):
    return Max.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def var(x, dim=None, keepdim=False, unbiased=True):
    return Var.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim, correction=int(unbiased))
