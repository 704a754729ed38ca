"""Weight initialisation, with PyTorch's names, fan and gain conventions.

Every function fills its Tensor (or Parameter, or ndarray) in place, draws
from `tinycnn.random.rng()`, and returns it. For a weight of shape
(out, in, *kernel): fan_in = in * prod(kernel), fan_out = out * prod(kernel).
"""
import math

import numpy as np

from tinycnn.random import rng
from tinycnn.tensor import Tensor


def _array(tensor) -> np.ndarray:
    if isinstance(tensor, Tensor):
        return tensor.data
    if isinstance(tensor, np.ndarray):
        return tensor
    raise TypeError(f"init: expected a Tensor, Parameter or ndarray, got {type(tensor).__name__}")


def _fill(tensor, values):
    _array(tensor)[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor by which a nonlinearity scales the std (He et al. 2015):
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu,
    sqrt(2 / (1 + slope^2)) for leaky_relu (slope = param, default 0.01), 3/4 for selu."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, int | float) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel); needs >= 2 dimensions."""
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(
            f"init: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with U(a, b)."""
    return _fill(tensor, rng().uniform(a, b, _array(tensor).shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with N(mean, std^2)."""
    return _fill(tensor, rng().normal(mean, std, _array(tensor).shape))


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0):
    """Fill with N(mean, std^2) truncated to [a, b] (a and b are absolute
    bounds, as in PyTorch), by redrawing the values that fall outside."""
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    values = rng().normal(mean, std, _array(tensor).shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = rng().normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def constant_(tensor, val: float):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain: float = 1.0):
    """Glorot & Bengio (2010): U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain: float = 1.0):
    """Glorot & Bengio (2010): N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He et al. (2015): U(-b, b), b = gain * sqrt(3 / fan); a is the leaky_relu slope."""
    if _array(tensor).size == 0:  # nothing to fill (PyTorch warns and returns)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He et al. (2015): N(0, std^2), std = gain / sqrt(fan). For ReLU nets:
    kaiming_normal_(w, mode="fan_out", nonlinearity="relu") (torchvision's ResNet)."""
    if _array(tensor).size == 0:
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
