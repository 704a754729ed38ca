"""Arithmetic ops. Gradients may keep the broadcast shape: the engine sums them
back to each input's shape."""
import functools

import numpy as np

from tinycnn.kernels import reuse
from tinycnn.kernels.add import add as _add
from tinycnn.kernels.blas import gemm
from tinycnn.kernels.scale import scale_samples as _scale_samples
from tinycnn.ops.activation import mark_clamped, take_clamp_after_add
from tinycnn.ops.deferred import Deferred, may_defer
from tinycnn.tensor import Function, Tensor, is_grad_enabled


class Add(Function):
    def forward(self, a, b):
        return _add(a, b)

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    def forward(self, a, b):
        return reuse.apply(np.subtract, a, b)

    def backward(self, grad):
        return grad, -grad


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return reuse.apply(np.multiply, a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        return (reuse.apply(np.multiply, grad, b) if need_a else None), (reuse.apply(np.multiply, grad, a) if need_b else None)


class ScaleSamples(Function):
    """x: (N, ...) times a constant factor per sample, scale: (N,) (DropPath's mask); d/dx = scale."""

    def forward(self, x, scale):
        self.scale = scale
        return _scale_samples(x, scale)

    def backward(self, grad):
        return _scale_samples(grad, self.scale)


class Div(Function):
    """a / b; d/da = 1 / b, d/db = -a / b^2."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad):
        a, b = self.saved_tensors
        ga = grad / b
        return ga, (-ga * a / b if self.needs_input_grad[1] else None)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad


class Pow(Function):
    """a ** b; d/da = b a^(b-1), d/db = a^b log a.

    As in PyTorch: d/da is 0 where b == 0 (even at a == 0), d/db is 0 where
    a == 0 and b >= 0, and NaN where a < 0 (log of a negative number).
    """

    def forward(self, a, b):
        out = a**b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved_tensors
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_input_grad[0]:
                ga = grad * np.where(b == 0, 0, b * a ** (b - 1))
            if self.needs_input_grad[1]:
                gb = grad * np.where((a == 0) & (b >= 0), 0, out * np.log(a))
        return ga, gb


class MatMul(Function):
    """a @ b with NumPy's batched/broadcast semantics (1-D operands included).

    a: (..., M, K) or (K,); b: (..., K, N) or (K,).
    grad_a = grad @ b^T, grad_b = a^T @ grad (1-D operands get a temporary
    size-1 axis; batch axes are summed back by the engine).
    """

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return gemm(a, b) if a.ndim >= 2 and b.ndim >= 2 else a @ b

    def backward(self, grad):
        a, b = self.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # (..., M, K)
        b2 = b[:, None] if b.ndim == 1 else b  # (..., K, N)
        g = grad
        if b.ndim == 1:
            g = np.expand_dims(g, -1)  # (..., M, 1)
        if a.ndim == 1:
            g = np.expand_dims(g, -2)  # (..., 1, N)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = gemm(g, np.swapaxes(b2, -1, -2))  # (..., M, K)
            if a.ndim == 1:
                ga = ga[..., 0, :]  # (..., K)
        if self.needs_input_grad[1]:
            if b2.ndim == 2 and g.ndim > 2:  # shared weight: fold the batch axes into M
                gb = gemm(a2.reshape(-1, a2.shape[-1]).T, g.reshape(-1, g.shape[-1]))  # (K, N)
            else:
                gb = gemm(np.swapaxes(a2, -1, -2), g)  # (..., K, N)
            if b.ndim == 1:
                gb = gb[..., 0]  # (..., K)
        return ga, gb


def _shape(x) -> tuple:
    """Shape of a Tensor, array or scalar operand."""
    return x.shape if isinstance(x, Tensor) else np.shape(x)


def _check_broadcast(name, a, b):
    try:
        np.broadcast_shapes(_shape(a), _shape(b))
    except ValueError:
        raise ValueError(
            f"{name}: shapes {_shape(a)} and {_shape(b)} cannot be broadcast together "
            "(trailing dimensions must be equal or 1)"
        ) from None


def add(a, b):
    _check_broadcast("add", a, b)
    clamp = take_clamp_after_add(a, b)
    if clamp is not None and _without_graph(a, b):  # the eval fast path's residual join (nn/utils/fusion.py)
        return mark_clamped(Tensor(_add(a.data, b.data, clamp), _raw=True), *clamp)
    if _without_graph(a, b) and _same_float(a, b) and may_defer(a, b):
        return Deferred(a.shape, a.dtype, functools.partial(_sum, a, b), clamp=None)  # a ReLU may clamp in its pass
    return Add.apply(a, b)


def _same_float(a, b) -> bool:
    """Two float Tensors of one shape and dtype."""
    return a.shape == b.shape and a.dtype == b.dtype and a.dtype.kind == "f"


def _sum(a, b, clamp):
    """a + b of two Tensors, clamped to clamp = (lo, hi) or None (a deferred sum)."""
    return _add(a.data, b.data, clamp)


def _without_graph(a, b) -> bool:
    """Both operands Tensors, and no gradient wanted of either."""
    tensors = isinstance(a, Tensor) and isinstance(b, Tensor)
    return tensors and not (is_grad_enabled() and (a.requires_grad or b.requires_grad))


def sub(a, b):
    _check_broadcast("sub", a, b)
    return Sub.apply(a, b)


def mul(a, b):
    _check_broadcast("mul", a, b)
    return Mul.apply(a, b)


def scale_samples(x, scale):
    """x (N, ...) Tensor, scale (N,) array of constants -> x[n] * scale[n]; no gradient to scale."""
    scale = np.asarray(scale, dtype=x.dtype)
    if scale.shape != (x.shape[0],):
        raise ValueError(f"scale_samples: expected one factor per sample, shape ({x.shape[0]},), got {scale.shape}")
    return ScaleSamples.apply(x, scale=scale)


def div(a, b):
    _check_broadcast("div", a, b)
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(a)


def pow(a, b):
    _check_broadcast("pow", a, b)
    return Pow.apply(a, b)


def matmul(a, b):
    """a: (..., M, K) or (K,); b: (..., K, N) or (K,) -> (..., M, N) (1-D axes dropped)."""
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {sa} and {sb}")
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if sa[-1] != k_b:
        raise ValueError(
            f"matmul: shapes {sa} and {sb} do not match: a's last dim {sa[-1]} != b's "
            f"{'only' if len(sb) == 1 else 'second-to-last'} dim {k_b}"
        )
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dims {sa[:-2]} and {sb[:-2]} of shapes {sa} and {sb} cannot be broadcast") from None
    return MatMul.apply(a, b)
