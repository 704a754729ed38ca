"""Element-wise math: exp, log, sqrt, abs, clip, maximum, where, dtype casts."""
import numpy as np

from tinycnn.ops.arithmetic import _check_broadcast, _shape
from tinycnn.tensor import Function, Tensor


class Exp(Function):
    def forward(self, x):
        out = np.exp(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad * out


class Log(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.log(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad / x


class Sqrt(Function):
    def forward(self, x):
        out = np.sqrt(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad / (2 * out)


class Abs(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.abs(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * np.sign(x)


class Clip(Function):
    """clip(x, lo, hi); the gradient passes where lo <= x <= hi (PyTorch's clamp).
    lo and hi are constants (None, scalars or arrays broadcastable to x)."""

    def forward(self, x, lo=None, hi=None):
        self.save_for_backward(x)
        self.lo, self.hi = lo, hi
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, grad):
        (x,) = self.saved_tensors
        mask = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            mask &= x >= self.lo
        if self.hi is not None:
            mask &= x <= self.hi
        return grad * mask


class Maximum(Function):
    """Element-wise max(a, b); at ties the gradient is split in half (as PyTorch)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return np.maximum(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        wa = np.where(a == b, 0.5, (a > b)).astype(grad.dtype, copy=False)
        return grad * wa, grad * (1 - wa)


class Where(Function):
    """where(cond, a, b): a where cond else b; cond is a boolean constant."""

    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        return np.where(cond, a, b)

    def backward(self, grad):
        (cond,) = self.saved_tensors
        return None, np.where(cond, grad, 0), np.where(cond, 0, grad)


class ToDtype(Function):
    def forward(self, x, dtype):
        self.in_dtype = x.dtype
        return x.astype(dtype, copy=False)

    def backward(self, grad):
        return grad.astype(self.in_dtype, copy=False)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clip(x, min=None, max=None):
    """Element-wise clamp into [min, max]; no gradient flows to min and max."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    lo, hi = (None if v is None else np.asarray(v.data if isinstance(v, Tensor) else v, dtype=x.dtype) for v in (min, max))
    return Clip.apply(x, lo=lo, hi=hi)


clamp = clip


def maximum(a, b):
    _check_broadcast("maximum", a, b)
    return Maximum.apply(a, b)


def where(condition, a, b):
    """condition (bool, broadcastable), a, b: Tensors or scalars -> broadcast shape."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be boolean, got dtype {cond.dtype}")
    try:
        np.broadcast_shapes(cond.shape, _shape(a), _shape(b))
    except ValueError:
        raise ValueError(
            f"where: condition, a and b of shapes {cond.shape}, {_shape(a)}, {_shape(b)} cannot be broadcast together"
        ) from None
    return Where.apply(cond, a, b)


def to_dtype(x, dtype):
    return ToDtype.apply(x, dtype=dtype)
