"""Tensor factories, named as in PyTorch."""
import numpy as np

from tinycnn.random import generator_rng, rng
from tinycnn.tensor import DEFAULT_DTYPE, Tensor


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    """A new Tensor holding a copy of data (Python floats become float32, NumPy arrays keep their dtype)."""
    data = data.data if isinstance(data, Tensor) else data
    return Tensor(np.array(data, dtype=dtype, copy=True) if isinstance(data, np.ndarray) else data,
                  requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor that shares memory with `array` (no copy)."""
    return Tensor(array, _raw=True)


def _shape(size) -> tuple:
    """Accept zeros(2, 3), zeros((2, 3)) and zeros([2, 3])."""
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else tuple(size)


def zeros(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def full(size, fill_value, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    return Tensor(np.full((size,) if isinstance(size, int) else tuple(size), fill_value, dtype=dtype),
                  requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.zeros_like(t.data, dtype=dtype), requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.ones_like(t.data, dtype=dtype), requires_grad=requires_grad)


def randn(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    """Standard normal samples from tinycnn's generator (tinycnn.manual_seed)."""
    return Tensor(rng().standard_normal(_shape(size)).astype(dtype), requires_grad=requires_grad)


def rand(*size, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) from tinycnn's generator."""
    return Tensor(rng().random(_shape(size)).astype(dtype), requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=np.int64) -> Tensor:
    """Integers in [low, high) (or [0, low) when high is omitted), as torch.randint."""
    if high is None:
        low, high = 0, low
    return Tensor(rng().integers(low, high, size=tuple(size), dtype=dtype))


def arange(start, end=None, step=1, dtype=None) -> Tensor:
    """As torch.arange: integer arguments give int64, float ones float32 (unless dtype says otherwise)."""
    values = np.arange(start, end, step, dtype=dtype)
    if dtype is None and values.dtype.kind == "f":
        values = values.astype(DEFAULT_DTYPE)
    return Tensor(values)


def randperm(n: int, *, generator=None, dtype=np.int64, requires_grad=False) -> Tensor:
    """A random permutation of 0..n-1, as torch.randperm (from `generator` or tinycnn's global one)."""
    if not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative integer, got {n!r}")
    return Tensor(generator_rng(generator).permutation(int(n)).astype(dtype), requires_grad=requires_grad)
