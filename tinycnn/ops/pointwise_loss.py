"""Losses over elementwise targets (PyTorch's signatures and reductions): mse_loss,
l1_loss, binary_cross_entropy and binary_cross_entropy_with_logits."""
import numpy as np

from tinycnn.ops.loss import as_array, check_reduction
from tinycnn.tensor import Function


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean(dtype=losses.dtype)
    if reduction == "sum":
        return losses.sum(dtype=losses.dtype)
    return losses


def _scale(grad, reduction, size):
    return grad / size if reduction == "mean" else grad


class MSELoss(Function):
    def forward(self, x, target, reduction):
        self.reduction = reduction
        diff = x - target
        self.save_for_backward(diff)
        return _reduce(diff * diff, reduction)

    def backward(self, grad):
        (diff,) = self.saved_tensors
        g = 2 * diff * _scale(grad, self.reduction, diff.size)
        return g, -g


class L1Loss(Function):
    def forward(self, x, target, reduction):
        self.reduction = reduction
        diff = x - target
        self.save_for_backward(np.sign(diff))  # as PyTorch: gradient 0 where x == target
        return _reduce(np.abs(diff), reduction)

    def backward(self, grad):
        (sign,) = self.saved_tensors
        g = sign * _scale(grad, self.reduction, sign.size)
        return g, -g


class BCEWithLogits(Function):
    """w [(1 - t) x + l softplus(-x)], l = 1 + (pos_weight - 1) t, with softplus(-x)
    computed as log1p(exp(-|x|)) + max(-x, 0) so no exp overflows."""

    def forward(self, x, target, weight, pos_weight, reduction):
        self.reduction = reduction
        softplus = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # softplus(-x) = -log sigmoid(x)
        pw = 1.0 if pos_weight is None else pos_weight
        w = 1.0 if weight is None else weight
        losses = w * ((1 - target) * x + (1 + (pw - 1) * target) * softplus)
        self.save_for_backward(x, target, softplus)
        self.pw, self.w = pw, w
        return _reduce(losses.astype(x.dtype, copy=False), reduction)

    def backward(self, grad):
        x, target, softplus = self.saved_tensors
        g = self.w * _scale(grad, self.reduction, np.broadcast(x, target).size)
        sigmoid_neg = np.exp(-(softplus + x))  # sigmoid(-x) = exp(-softplus(x)), softplus(x) = softplus(-x) + x >= 0
        gx = g * ((1 - target) - (1 + (self.pw - 1) * target) * sigmoid_neg)
        gt = g * (-x + (self.pw - 1) * softplus)
        return gx, gt


class BCE(Function):
    """-w [t log x + (1 - t) log(1 - x)] on probabilities x, the logs clamped at -100 as PyTorch."""

    def forward(self, x, target, weight, reduction):
        self.reduction, self.w = reduction, 1.0 if weight is None else weight
        log_x, log_1mx = np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)
        self.save_for_backward(x, target, log_x, log_1mx)
        losses = -self.w * (target * log_x + (1 - target) * log_1mx)
        return _reduce(losses.astype(x.dtype, copy=False), reduction)

    def backward(self, grad):
        x, target, log_x, log_1mx = self.saved_tensors
        g = self.w * _scale(grad, self.reduction, np.broadcast(x, target).size)
        gx = g * (x - target) / np.maximum((1 - x) * x, 1e-12)
        return gx, g * (log_1mx - log_x)


def _check_same_shape(name, input, target):
    if tuple(input.shape) != tuple(np.shape(as_array(target))):
        raise ValueError(f"{name}: input shape {tuple(input.shape)} and target shape "
                         f"{tuple(np.shape(as_array(target)))} differ")


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    check_reduction("mse_loss", reduction, size_average, reduce)
    _check_same_shape("mse_loss", input, target)
    return MSELoss.apply(input, target, reduction=reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    check_reduction("l1_loss", reduction, size_average, reduce)
    _check_same_shape("l1_loss", input, target)
    return L1Loss.apply(input, target, reduction=reduction)


def _optional(value, dtype):
    return None if value is None else as_array(value).astype(dtype, copy=False)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """input: logits; target: probabilities of the same shape; weight broadcasts over the
    input; pos_weight over the last (class) dimension, weighting the positive term."""
    check_reduction("binary_cross_entropy_with_logits", reduction, size_average, reduce)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    return BCEWithLogits.apply(input, target, weight=_optional(weight, input.dtype),
                               pos_weight=_optional(pos_weight, input.dtype), reduction=reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """input: probabilities in [0, 1]; target: probabilities of the same shape."""
    check_reduction("binary_cross_entropy", reduction, size_average, reduce)
    _check_same_shape("binary_cross_entropy", input, target)
    x = as_array(input)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], "
                         f"got min {x.min()} max {x.max()}")
    return BCE.apply(input, target, weight=_optional(weight, input.dtype), reduction=reduction)
