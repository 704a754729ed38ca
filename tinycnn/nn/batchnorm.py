"""BatchNorm1d and BatchNorm2d: batch normalisation layers, as in PyTorch; BatchNormAct2d: a
BatchNorm2d and the ReLU after it in one pass, as in timm."""
import copy

import numpy as np

from tinycnn.nn.activation import ReLU, ReLU6
from tinycnn.nn.module import Module, Parameter
from tinycnn.ops.batchnorm import batch_norm
from tinycnn.tensor import DEFAULT_DTYPE


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d.

    weight (gamma), bias (beta): (C,) Parameters when affine=True.
    Buffers (in the state_dict) when track_running_stats=True:
        running_mean (C,), running_var (C,), num_batches_tracked () int64.
    Training mode normalises with the batch statistics and updates the running
    ones with factor `momentum` (momentum=None: their cumulative average over
    all batches seen); eval mode normalises with the running statistics.
    """

    _expected_ndims: tuple = ()
    _shapes: str = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got {num_features}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, DEFAULT_DTYPE))
            self.bias = Parameter(np.zeros(num_features, DEFAULT_DTYPE))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, DEFAULT_DTYPE))
            self.register_buffer("running_var", np.ones(num_features, DEFAULT_DTYPE))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def _check_input(self, x):
        name = type(self).__name__
        if x.ndim not in self._expected_ndims:
            raise ValueError(f"{name}: expected input of shape {self._shapes}, got {x.ndim}-D input of shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}({self.num_features}): expected {self.num_features} channels in dim 1, "
                f"got {x.shape[1]} (input shape {x.shape})"
            )

    _activation = None  # "relu" / "relu6" applied in the same pass (BatchNormAct2d)

    def forward(self, x):
        """x: (N, C, *) -> same shape."""
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        # batch statistics in training, and always when no running ones are kept
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            training=use_batch_stats,
            momentum=factor,
            eps=self.eps,
            activation=self._activation,
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs (statistics per channel C).

    num_features: C. See `_BatchNorm` for the arguments, parameters and buffers.
    """

    _expected_ndims = (2, 3)
    _shapes = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs (statistics per channel C, over N, H, W).

    num_features: C. See `_BatchNorm` for the arguments, parameters and buffers.
    >>> bn = BatchNorm2d(16)            # weight, bias (16,); running_mean, running_var (16,)
    >>> y = bn(tinycnn.randn(8, 16, 32, 32))   # (8, 16, 32, 32)
    """

    _expected_ndims = (4,)
    _shapes = "(N, C, H, W)"


class BatchNormAct2d(BatchNorm2d):
    """A BatchNorm2d followed by a ReLU or ReLU6, computed together (timm's BatchNormAct2d): the
    activation is applied in the pass that writes the normalised output, and its derivative in
    the batch norm's backward, which saves the activation's own pass each way. Same parameters,
    buffers and state_dict keys as BatchNorm2d.

    act_layer: "relu" or "relu6" (or the nn.ReLU / nn.ReLU6 class). The output is marked, so
    that a ReLU the model's code applies after it passes it through: `fuse(model.train(), x)`
    swaps a model's BatchNorm2d for this where only a ReLU reads its output.
    >>> bn = BatchNormAct2d(16)         # relu(BatchNorm2d(16)(x)), one pass
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 act_layer="relu"):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self._activation = _activation_name(act_layer)

    @classmethod
    def from_batch_norm(cls, bn: BatchNorm2d, act_layer="relu") -> "BatchNormAct2d":
        """A BatchNormAct2d sharing bn's parameters and buffers (and mode)."""
        if type(bn) is not BatchNorm2d:
            raise TypeError(f"BatchNormAct2d.from_batch_norm: expected a BatchNorm2d, got {type(bn).__name__}")
        fused = cls.__new__(cls)
        for name, value in bn.__dict__.items():  # the same Parameters and buffer arrays, in its own registries
            fused.__dict__[name] = copy.copy(value) if isinstance(value, dict | set) else value
        fused._activation = _activation_name(act_layer)
        return fused

    def extra_repr(self):
        return f"{super().extra_repr()}, act_layer={self._activation!r}"


def _activation_name(act_layer) -> str:
    names = {"relu": "relu", "relu6": "relu6", ReLU: "relu", ReLU6: "relu6"}
    if act_layer not in names:
        raise ValueError(f"BatchNormAct2d: expected act_layer 'relu', 'relu6', nn.ReLU or nn.ReLU6, got {act_layer!r}")
    return names[act_layer]
