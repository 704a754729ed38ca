"""Fully connected layer y = x W^T + b, and Identity."""
from __future__ import annotations

import math

import numpy as np

from tinycnn.kernels.blas import gemm
from tinycnn.nn import init
from tinycnn.nn.module import Module, Parameter
from tinycnn.tensor import DEFAULT_DTYPE, Function, Tensor


class LinearFunction(Function):
    """y = x @ W^T + b.   x: (*, in), W: (out, in), b: (out,) -> y: (*, out)."""

    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        out = gemm(x.reshape(-1, x.shape[-1]), weight.T).reshape(*x.shape[:-1], -1)  # (*, out)
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):  # grad: (*, out)
        x, weight = self.saved_tensors
        need = self.needs_input_grad
        g2 = grad.reshape(-1, grad.shape[-1])  # (M, out), M = prod(*)
        grad_x = gemm(g2, weight).reshape(*grad.shape[:-1], -1) if need[0] else None  # (*, in)
        grad_w = gemm(g2.T, x.reshape(-1, x.shape[-1])) if need[1] else None  # (out, in)
        if len(need) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, (g2.sum(axis=0) if need[2] else None)  # grad_b: (out,)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """F.linear: input (*, in_features), weight (out_features, in_features),
    bias (out_features,) -> (*, out_features)."""
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: expected input (*, {weight.shape[1]}) for weight {weight.shape}, got input shape {input.shape}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: expected bias shape ({weight.shape[0]},), got {bias.shape}")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {input.dtype} differs from weight dtype {weight.dtype}")
    if bias is None:
        return LinearFunction.apply(input, weight)
    return LinearFunction.apply(input, weight, bias)


class Linear(Module):
    """y = x W^T + b.  x: (*, in_features) -> y: (*, out_features).

    weight: (out_features, in_features), bias: (out_features,), initialised
    as in PyTorch: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)),
    and the same bound for the bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=DEFAULT_DTYPE):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int | np.integer) or v < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. a removed classifier)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
