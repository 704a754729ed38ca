"""Tensor factories, named as in PyTorch."""
import numpy as np

from tinycnn.random import rng
from tinycnn.tensor import DEFAULT_DTYPE, Tensor


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else tuple(size)


def zeros(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def full(size, fill_value, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(np.full(tuple(size), fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


def randn(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(rng().standard_normal(_shape(size)).astype(dtype), requires_grad=requires_grad)


def rand(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(rng().random(_shape(size)).astype(dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None) -> Tensor:
    return Tensor(np.arange(start, end, step, dtype=dtype))
