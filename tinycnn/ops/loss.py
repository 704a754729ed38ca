"""Loss functions (PyTorch's signatures and reductions)."""
import numpy as np

from tinycnn.tensor import Function, Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_targets(name, logits, target):
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {target.dtype}")
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected input of shape (N, C), got {logits.shape}")
    if target.shape != (logits.shape[0],):
        raise ValueError(f"{name}: expected target of shape ({logits.shape[0]},), got {target.shape}")
    c = logits.shape[1]
    if target.size and (target.min() < 0 or target.max() >= c):
        raise IndexError(f"{name}: target values must lie in [0, {c - 1}], got min {target.min()} max {target.max()}")


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean(dtype=losses.dtype)
    if reduction == "sum":
        return losses.sum(dtype=losses.dtype)
    return losses


class CrossEntropy(Function):
    """Softmax + negative log-likelihood in one stable op.

    logits: (N, C); target: (N,) integers. With label smoothing eps the target
    distribution is q = (1 - eps) * onehot + eps / C, the loss -sum_c q_c log p_c,
    and its gradient w.r.t. the logits p - q.
    """

    def forward(self, logits, target, reduction, label_smoothing):
        n, c = logits.shape
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
        q = np.full_like(log_p, label_smoothing / c)
        q[np.arange(n), target] += 1 - label_smoothing
        losses = -(q * log_p).sum(axis=1)  # (N,)
        self.reduction = reduction
        self.save_for_backward(log_p, q)
        return _reduce(losses, reduction)

    def backward(self, grad):
        log_p, q = self.saved_tensors
        g = np.exp(log_p) - q  # (N, C)
        if self.reduction == "mean":
            g /= len(g)
        grad = grad[:, None] if self.reduction == "none" else grad
        return g * grad, None


class NLLLoss(Function):
    """-log_probs[i, target[i]], averaged or summed."""

    def forward(self, log_probs, target, reduction):
        self.reduction, self.shape, self.target = reduction, log_probs.shape, target
        return _reduce(-log_probs[np.arange(len(target)), target], reduction)

    def backward(self, grad):
        n = self.shape[0]
        g = np.zeros(self.shape, dtype=grad.dtype)
        scale = grad / n if self.reduction == "mean" else grad
        g[np.arange(n), self.target] = -scale
        return g, None


class MSELoss(Function):
    def forward(self, x, target, reduction):
        self.reduction = reduction
        diff = x - target
        self.save_for_backward(diff)
        return _reduce(diff * diff, reduction)

    def backward(self, grad):
        (diff,) = self.saved_tensors
        g = 2 * diff * grad
        if self.reduction == "mean":
            g = g / diff.size
        return g, -g


def _as_target(target):
    return target.data if isinstance(target, Tensor) else np.asarray(target)


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """input: (N, C) logits; target: (N,) class indices."""
    _check_reduction(reduction)
    target = _as_target(target)
    _check_targets("cross_entropy", input, target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return CrossEntropy.apply(input, target, reduction=reduction, label_smoothing=label_smoothing)


def nll_loss(input, target, reduction="mean"):
    """input: (N, C) log-probabilities; target: (N,) class indices."""
    _check_reduction(reduction)
    target = _as_target(target)
    _check_targets("nll_loss", input, target)
    return NLLLoss.apply(input, target, reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    _check_reduction(reduction)
    if tuple(input.shape) != tuple(np.shape(_as_target(target))):
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {np.shape(_as_target(target))} differ")
    return MSELoss.apply(input, target, reduction=reduction)
