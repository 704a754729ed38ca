"""Batch normalisation (Ioffe & Szegedy, 2015) as two Functions.

Training: normalise each channel with the statistics of the batch,
    x_hat = (x - mean) / sqrt(var + eps),   out = weight * x_hat + bias,
where mean and the (biased) var run over every axis but the channel axis 1.
Its backward is one fused Function (dx, dweight, dbias together).
Eval: the running statistics are constants, so the layer is the per-channel
affine map out = x * scale + offset.

Both can apply a ReLU or ReLU6 that follows in the pass that writes the output, and its
derivative in their backward (`activation=`, what `nn.BatchNormAct2d` uses): the activation's
own pass forward and its output gradient's pass backward are saved. The output is marked
clamped, and the activation op the model applies next passes it through.
"""
import numpy as np

from tinycnn.kernels.batchnorm import (
    batch_norm_affine,
    batch_norm_backward,
    batch_norm_eval_backward,
    batch_norm_train_forward,
)
from tinycnn.ops.activation import CLAMP_BACKWARD, CLAMPS, mark_clamped
from tinycnn.ops.deferred import Deferred, may_defer
from tinycnn.tensor import Function, Tensor


def _channel_major(x: np.ndarray) -> np.ndarray:
    """(N, C, *) -> contiguous (N, C, M) with M = prod(*) (1 for (N, C))."""
    return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)


class BatchNormTrain(Function):
    """x: (N, C, *), weight, bias: (C,) -> (N, C, *), normalised with batch statistics.

    running_mean, running_var: (C,) arrays or None, updated in place with the
    batch mean and the unbiased batch variance (factor `momentum`).
    activation: None, or "relu" / "relu6" applied in the same passes.
    """

    def forward(self, x, weight, bias, running_mean, running_var, momentum, eps, activation=None):
        x3 = _channel_major(x)  # (N, C, M)
        self.clamp = CLAMPS[activation] if activation else None
        out, mean, var = batch_norm_train_forward(
            x3, weight.astype(x.dtype, copy=False), bias.astype(x.dtype, copy=False), eps, self.clamp
        )  # out (N, C, M); mean, biased var (C,) float64
        if running_mean is not None:
            count = x3.shape[0] * x3.shape[2]  # values per channel
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (count / (count - 1))
        self.save_for_backward(x3, mean, 1.0 / np.sqrt(var + eps), weight, out if activation else None)
        return out.reshape(x.shape)

    def backward(self, grad):
        x3, mean, inv_std, weight, out = self.saved_tensors
        g3 = _channel_major(grad.astype(x3.dtype, copy=False))  # (N, C, M)
        dx, dweight, dbias = batch_norm_backward(x3, g3, mean, inv_std, weight.astype(x3.dtype, copy=False),
                                                 out, self.clamp)
        return dx.reshape(grad.shape), dweight.astype(weight.dtype), dbias.astype(weight.dtype)


class BatchNormEval(Function):
    """x: (N, C, *), weight, bias: (C,) -> (N, C, *), normalised with fixed
    statistics mean, var: (C,) arrays (the running ones). An affine map:
    out = x * scale + offset, scale = weight / sqrt(var + eps), offset = bias - mean * scale;
    activation: None, or "relu" / "relu6" applied in the same pass."""

    def forward(self, x, weight, bias, mean, var, eps, activation=None):
        inv_std = 1.0 / np.sqrt(var.astype(np.float64) + eps)  # (C,)
        scale = (weight * inv_std).astype(x.dtype)  # (C,)
        offset = (bias - mean * inv_std * weight).astype(x.dtype)  # (C,)
        x3 = _channel_major(x)  # (N, C, M)
        out = batch_norm_affine(x3, scale, offset, CLAMPS[activation] if activation else None)  # (N, C, M)
        self.activation = activation
        self.save_for_backward(x3, mean.copy(), inv_std, scale, out if activation else None)
        return out.reshape(x.shape)

    def backward(self, grad):
        x3, mean, inv_std, scale, out = self.saved_tensors
        g3 = _channel_major(grad.astype(x3.dtype, copy=False))  # (N, C, M)
        if self.activation:  # rare (eval mode with gradients): the activation's backward as its own pass
            g3 = CLAMP_BACKWARD[self.activation](g3, out)
        dx, dweight, dbias = batch_norm_eval_backward(x3, g3, mean, inv_std, scale)  # d out / dx = scale
        dtype = self.inputs[1].dtype
        return dx.reshape(grad.shape), dweight.astype(dtype), dbias.astype(dtype)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5,
               *, activation=None):
    """Batch normalisation over the channel axis 1, as `torch.nn.functional.batch_norm`.

    input: (N, C), (N, C, L) or (N, C, H, W) Tensor.
    running_mean, running_var: (C,) float NumPy arrays or None. With training=True
        they are updated in place (when given):
        r = (1 - momentum) * r + momentum * batch_statistic,
        with the UNBIASED batch variance for running_var, as PyTorch does.
    weight, bias: (C,) Tensors (gamma, beta) or None (meaning 1 and 0).
    training: normalise with the batch statistics (True) or with the running ones (False).
    activation (tinycnn's addition, for `nn.BatchNormAct2d`): None, or "relu" / "relu6"
        applied in the same pass; the result is marked so that the model's own ReLU passes it
        through.
    Returns a Tensor of input's shape.
    """
    if activation is not None and activation not in CLAMPS:
        raise ValueError(f"batch_norm: expected activation None or one of {sorted(CLAMPS)}, got {activation!r}")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got shape {input.shape}")
    n_chan = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (n_chan,):
            raise ValueError(
                f"batch_norm: {name} should have shape ({n_chan},) for an input with {n_chan} channels "
                f"(input shape {input.shape}), got shape {tuple(t.shape)}"
            )
    weight = Tensor(np.ones(n_chan, input.dtype)) if weight is None else weight
    bias = Tensor(np.zeros(n_chan, input.dtype)) if bias is None else bias
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        if isinstance(input, Deferred) and input.folds_batch_norm() and may_defer(weight, bias):
            out = input.then_batch_norm(running_mean, running_var, eps, weight.data, bias.data)
            return out if activation is None else out.then_clamp(*CLAMPS[activation])
        out = BatchNormEval.apply(input, weight, bias, mean=running_mean, var=running_var, eps=eps,
                                  activation=activation)
        return out if activation is None else mark_clamped(out, *CLAMPS[activation], with_grad=True)
    if input.data.size // max(n_chan, 1) <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got input shape {input.shape}"
        )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    out = BatchNormTrain.apply(input, weight, bias, running_mean=running_mean, running_var=running_var,
                               momentum=momentum, eps=eps, activation=activation)
    return out if activation is None else mark_clamped(out, *CLAMPS[activation], with_grad=True)
