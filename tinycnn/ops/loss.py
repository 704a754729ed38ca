"""Classification losses over class indices (PyTorch's signatures and reductions):
cross_entropy and nll_loss, with class weights, ignore_index and label smoothing."""
import numpy as np

from tinycnn.tensor import Function, Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_targets(name, logits, target, ignore_index):
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {target.dtype}")
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected input of shape (N, C), got {logits.shape}")
    if target.shape != (logits.shape[0],):
        raise ValueError(f"{name}: expected target of shape ({logits.shape[0]},), got {target.shape}")
    c = logits.shape[1]
    valid = target[target != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= c):
        raise IndexError(f"{name}: target values must lie in [0, {c - 1}] (or be ignore_index={ignore_index}), "
                         f"got min {valid.min()} max {valid.max()}")


def _reduce(losses, reduction, denominator):
    if reduction == "mean":
        return losses.sum(dtype=losses.dtype) / losses.dtype.type(denominator)
    if reduction == "sum":
        return losses.sum(dtype=losses.dtype)
    return losses


def _target_weights(shape, dtype, target, weight, ignore_index, label_smoothing):
    """Q (N, C): loss_i = -sum_c Q_ic log p_ic, and the denominator of the mean, as PyTorch
    defines them: Q = (1 - eps) w_y onehot(y) + (eps / C) w, a zero row where y is
    ignore_index; the mean divides by the sum of w_y over the rows kept."""
    n, c = shape
    w = np.ones(c, dtype) if weight is None else weight.astype(dtype, copy=False)
    kept = target != ignore_index
    rows, labels = np.arange(n)[kept], target[kept]
    q = np.zeros(shape, dtype)
    q[kept] = (label_smoothing / c) * w
    q[rows, labels] += (1 - label_smoothing) * w[labels]
    return q, w[labels].sum()


class CrossEntropy(Function):
    """Softmax + weighted negative log-likelihood in one stable op; logits (N, C), target (N,).
    Its gradient w.r.t. the logits is (sum_c Q_ic) p_i - Q_i (Q: `_target_weights`)."""

    def forward(self, logits, target, weight, reduction, ignore_index, label_smoothing):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
        q, self.denominator = _target_weights(logits.shape, logits.dtype, target, weight, ignore_index,
                                              label_smoothing)
        self.reduction = reduction
        self.save_for_backward(log_p, q)
        return _reduce(-(q * log_p).sum(axis=1), reduction, self.denominator)

    def backward(self, grad):
        log_p, q = self.saved_tensors
        g = q.sum(axis=1, keepdims=True) * np.exp(log_p) - q  # (N, C)
        if self.reduction == "mean":
            g /= self.denominator
        grad = grad[:, None] if self.reduction == "none" else grad
        return g * grad, None


class NLLLoss(Function):
    """-w_y log_probs[i, y_i], averaged over the weights of the rows kept, or summed."""

    def forward(self, log_probs, target, weight, reduction, ignore_index):
        q, self.denominator = _target_weights(log_probs.shape, log_probs.dtype, target, weight, ignore_index, 0.0)
        self.reduction = reduction
        self.save_for_backward(q)
        return _reduce(-(q * log_probs).sum(axis=1), reduction, self.denominator)

    def backward(self, grad):
        (q,) = self.saved_tensors
        g = -q / self.denominator if self.reduction == "mean" else -q
        grad = grad[:, None] if self.reduction == "none" else grad
        return g * grad, None


def as_array(value):
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def check_reduction(name, reduction, size_average=None, reduce=None):
    if size_average is not None or reduce is not None:
        raise ValueError(f"{name}: size_average and reduce are deprecated in PyTorch and not supported; "
                         f"use reduction= one of {_REDUCTIONS}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_weight(name, weight, c):
    if weight is None:
        return None
    weight = as_array(weight)
    if weight.shape != (c,):
        raise ValueError(f"{name}: weight must have shape ({c},), one per class, got {weight.shape}")
    return weight


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """input: (N, C) logits; target: (N,) class indices; weight: (C,) class weights or None."""
    check_reduction("cross_entropy", reduction, size_average, reduce)
    target = as_array(target)
    _check_targets("cross_entropy", input, target, ignore_index)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    weight = _class_weight("cross_entropy", weight, input.shape[1])
    return CrossEntropy.apply(input, target, weight=weight, reduction=reduction, ignore_index=ignore_index,
                              label_smoothing=label_smoothing)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """input: (N, C) log-probabilities; target: (N,) class indices; weight: (C,) or None."""
    check_reduction("nll_loss", reduction, size_average, reduce)
    target = as_array(target)
    _check_targets("nll_loss", input, target, ignore_index)
    weight = _class_weight("nll_loss", weight, input.shape[1])
    return NLLLoss.apply(input, target, weight=weight, reduction=reduction, ignore_index=ignore_index)
