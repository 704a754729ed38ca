"""Gradient clipping in place, as `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`:
call between `loss.backward()` and `optimizer.step()`."""
from __future__ import annotations

import math

import numpy as np

from tinycnn.tensor import Tensor


def _grads(parameters) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.data for p in parameters if p.grad is not None]


def _positive_number(name: str, what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not value >= 0:
        raise ValueError(f"{name}: {what} must be a non-negative number, got {value!r}")
    return float(value)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None) -> Tensor:
    """Scale the gradients so that their total norm (the norm of all gradients as one
    vector) is at most max_norm; returns that total norm before clipping, as PyTorch.

    norm_type: a p >= 1 or float("inf"). As PyTorch, the scale is max_norm / (total + 1e-6)
    capped at 1. error_if_nonfinite=True raises when the total norm is nan or inf."""
    max_norm = _positive_number("clip_grad_norm_", "max_norm", max_norm)
    norm_type = float(norm_type)
    grads = _grads(parameters)
    if not grads:
        return Tensor(np.asarray(0.0, dtype=np.float32), _raw=True)
    dtype = grads[0].dtype
    if norm_type == math.inf:
        norms = [np.abs(g).max(initial=0.0) for g in grads]
        total = np.max(norms)
    else:
        norms = [np.linalg.norm(g.ravel(), ord=norm_type) for g in grads]
        total = np.linalg.norm(np.asarray(norms, dtype=dtype), ord=norm_type)
    total = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, "
                           "expected a finite number; set error_if_nonfinite=False to clip anyway")
    scale = dtype.type(min(max_norm / (float(total) + 1e-6), 1.0))
    for g in grads:
        g *= scale
    return Tensor(total, _raw=True)


def clip_grad_value_(parameters, clip_value, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = _positive_number("clip_grad_value_", "clip_value", clip_value)
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
