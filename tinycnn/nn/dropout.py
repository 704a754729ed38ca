"""Dropout (Srivastava et al. 2014): zero activations at random in training.

Inverted dropout, as PyTorch: kept values are scaled by 1/(1-p) during
training so that evaluation is the identity.
"""
import numpy as np

from tinycnn.nn.module import Module
from tinycnn.ops import mul
from tinycnn.random import rng
from tinycnn.tensor import Tensor


def _check_p(name: str, p: float):
    if not 0 <= p <= 1:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, got {p}")


def _random_mask(shape: tuple, p: float, dtype) -> np.ndarray:
    """1/(1-p) with probability 1-p, else 0 (all zeros for p == 1)."""
    draw_dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    keep = rng().random(shape, dtype=draw_dtype) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return (keep * scale).astype(dtype)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p. input: any shape."""
    _check_p("dropout", p)
    if not training or p == 0:
        return input
    return mul(input, Tensor(_random_mask(input.shape, p, input.dtype), _raw=True))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels with probability p. input: (N, C, H, W)."""
    _check_p("dropout2d", p)
    if input.ndim != 4:
        raise ValueError(f"dropout2d: expected 4-D input (N, C, H, W), got shape {input.shape}")
    if not training or p == 0:
        return input
    n, c = input.shape[:2]
    return mul(input, Tensor(_random_mask((n, c, 1, 1), p, input.dtype), _raw=True))


class Dropout(Module):
    """x: any shape -> same shape; identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        _check_p("Dropout", p)
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """x: (N, C, H, W); drops whole channels (feature maps)."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout2d(x, self.p, self.training)
