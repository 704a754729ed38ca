"""Activation functions, each with its derivative beside it."""
import numpy as np

from tinycnn.kernels import activation as kernels
from tinycnn.kernels import reuse
from tinycnn.ops.deferred import Deferred, may_defer
from tinycnn.ops.shape import _dim
from tinycnn.tensor import Function, Tensor


def _clip(x, lo, hi):
    """x clamped to [lo, hi]: one parallel pass for float arrays, NumPy's np.clip otherwise."""
    if x.dtype in (np.float32, np.float64):
        return kernels.clamped(x, lo, hi)
    lo, hi = x.dtype.type(lo), (x.dtype.type(hi) if np.isfinite(hi) else None)
    return np.clip(x, lo, hi, out=reuse.empty_like(x))


class ReLU(Function):
    def forward(self, x):
        out = _clip(x, *CLAMPS["relu"])
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return kernels.relu_backward(grad, out)  # grad * (out > 0), in one pass


class ReLU6(Function):
    """Saves its output, not x: 0 < out < 6 exactly where 0 < x < 6, and the
    output is kept alive by the next layer anyway (x can be freed)."""

    def forward(self, x):
        out = _clip(x, *CLAMPS["relu6"])
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return kernels.relu6_backward(grad, out)  # grad * ((out > 0) & (out < 6)), in one pass


class LeakyReLU(Function):
    def forward(self, x, negative_slope):
        self.slope = x.dtype.type(negative_slope)  # a NumPy float64 slope must not upcast float32
        self.save_for_backward(x)
        return np.where(x > 0, x, x * self.slope)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return np.where(x > 0, grad, grad * self.slope)


def _sigmoid(x):
    """1 / (1 + e^-x), without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    def forward(self, x):
        out = _sigmoid(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (s,) = self.saved_tensors
        return grad * s * (1 - s)


class Tanh(Function):
    def forward(self, x):
        out = np.tanh(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (t,) = self.saved_tensors
        return grad * (1 - t * t)


class SiLU(Function):
    """silu(x) = x * sigmoid(x) (swish); d/dx = s + x s (1 - s).

    Fused Numba kernels (NumPy references in tinycnn.kernels.activation); the
    backward recomputes s = sigmoid(x) rather than keeping a second array alive.
    """

    def forward(self, x):
        self.save_for_backward(x)
        return kernels.silu(x)  # x * s

    def backward(self, grad):
        (x,) = self.saved_tensors
        return kernels.silu_backward(grad, x)  # grad * (s * (1 + x * (1 - s)))


class Hardsigmoid(Function):
    """relu6(x + 3) / 6."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.clip(x / 6 + 0.5, 0, 1)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * ((x > -3) & (x < 3)) / 6


class Hardswish(Function):
    """x * relu6(x + 3) / 6."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * np.clip(x / 6 + 0.5, 0, 1)

    def backward(self, grad):
        (x,) = self.saved_tensors
        d = np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1))  # PyTorch's choice at the kinks
        return grad * d.astype(grad.dtype, copy=False)


class Softmax(Function):
    def forward(self, x, dim):
        self.dim = dim
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (p,) = self.saved_tensors
        return p * (grad - (grad * p).sum(axis=self.dim, keepdims=True))


class LogSoftmax(Function):
    def forward(self, x, dim):
        self.dim = dim
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad - np.exp(out) * grad.sum(axis=self.dim, keepdims=True)


# The activations that are clamps, which a convolution or a batch norm can apply in the pass
# that writes its output: their range, and the backward kernel of each.
CLAMPS = {"relu": (0.0, np.inf), "relu6": (0.0, 6.0)}
CLAMP_BACKWARD = {"relu": kernels.relu_backward, "relu6": kernels.relu6_backward}


def mark_clamped(t, lo, hi, with_grad=False):
    """t (a Tensor) holds values in [lo, hi] (or NaN): the op that made it clamped its output
    in the pass that wrote it, so the ReLU or ReLU6 the model applies next has nothing left to
    do. with_grad: that op's backward also masks the gradient as the clamp's derivative does,
    so the activation passes t through even when a gradient is wanted (eval-path convolutions
    make no graph: their mark holds only without gradients). The mark names t's array: it does
    not follow the values into another array."""
    t._clamped = (t.data, lo, hi, with_grad)
    return t


def mark_clamp_after_add(t, lo, hi):
    """t (a Tensor, made without a graph) is read only by a residual addition whose sum only a
    ReLU (or ReLU6) reads: that addition may clamp the sum to [lo, hi] in its own pass
    (`ops.arithmetic.add`), so that the activation passes it through. The mark names t's array."""
    t._clamp_after_add = (t.data, lo, hi)
    return t


def take_clamp_after_add(*operands):
    """The (lo, hi) that a mark of `mark_clamp_after_add` on one of the operands asks for, or
    None. The mark is used up: only the first addition that reads the tensor may clamp."""
    for t in operands:
        mark = getattr(t, "_clamp_after_add", None)
        if mark is not None:
            t._clamp_after_add = None
            if mark[0] is t.data:
                return mark[1:]
    return None


def _clamped_within(x, lo, hi) -> bool:
    mark = getattr(x, "_clamped", None)
    return (mark is not None and mark[0] is x.data and lo <= mark[1] and mark[2] <= hi
            and (mark[3] or not x.requires_grad))


def _already_clamped(x):
    """relu(x) (or relu6) of an x marked clamped within its range: x itself where its gradient
    is already masked, else a new, unmarked tensor on the same values."""
    return x if x.requires_grad else Tensor(x.data, _raw=True)


def _clamp(x, name, function):
    """ReLU or ReLU6 of x: passed through where x is marked clamped already, the clamp of a
    deferred convolution's store where it takes one (ops/deferred.py), else its own op."""
    if _clamped_within(x, *CLAMPS[name]):
        return _already_clamped(x)
    if isinstance(x, Deferred) and may_defer(x):
        deferred = x.then_clamp(*CLAMPS[name])
        if deferred is not None:
            return deferred
    return function.apply(x)


def relu(x, inplace=False):
    return _clamp(x, "relu", ReLU)


def relu6(x, inplace=False):
    return _clamp(x, "relu6", ReLU6)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


def silu(x, inplace=False):
    return SiLU.apply(x)


swish = silu


def hardsigmoid(x, inplace=False):
    return Hardsigmoid.apply(x)


def hardswish(x, inplace=False):
    return Hardswish.apply(x)


def softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) along dim, computed after subtracting the max (stable)."""
    return Softmax.apply(x, dim=_dim("softmax", dim, x.ndim))


def log_softmax(x, dim=-1):
    """x - logsumexp(x) along dim, stable for huge logits."""
    return LogSoftmax.apply(x, dim=_dim("log_softmax", dim, x.ndim))
