"""Arithmetic ops. Gradients may keep the broadcast shape: the engine sums them
back to each input's shape."""
import numpy as np

from tinycnn.tensor import Function


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, grad):
        return grad, -grad


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad):
        a, b = self.saved_tensors
        return grad * b, grad * a


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad):
        a, b = self.saved_tensors
        ga = grad / b
        return ga, -ga * a / b


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad


class Pow(Function):
    """a ** b; d/da = b a^(b-1), d/db = a^b log a (for a > 0)."""

    def forward(self, a, b):
        out = a**b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved_tensors
        ga = grad * b * a ** (b - 1)
        gb = None
        if self.inputs[1].requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = grad * out * np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
        return ga, gb


class MatMul(Function):
    """a @ b with NumPy's batched/broadcast semantics (1-D operands included)."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both operands need at least 1 dimension, got 0-d")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match: {k_a} (last dim of a) != {k_b}")
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, grad):
        a, b = self.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # (.., M, K)
        b2 = b[:, None] if b.ndim == 1 else b  # (.., K, N)
        g = grad
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        ga = g @ np.swapaxes(b2, -1, -2)  # (.., M, K)
        gb = np.swapaxes(a2, -1, -2) @ g  # (.., K, N)
        if a.ndim == 1:
            ga = ga.reshape(ga.shape[:-2] + (ga.shape[-1],)) if ga.ndim > 2 else ga[0]
        if b.ndim == 1:
            gb = gb.reshape(gb.shape[:-2] + (gb.shape[-2],)) if gb.ndim > 2 else gb[:, 0]
        return ga, gb


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(a)


def pow(a, b):
    return Pow.apply(a, b)


def matmul(a, b):
    return MatMul.apply(a, b)
