"""Activation modules: thin wrappers over the ops in tinycnn/ops/activation.py.

`inplace=True` is accepted for PyTorch compatibility; tinycnn always returns
a new tensor (the result is the same).
"""
from tinycnn.nn.module import Module
from tinycnn.ops import activation as A
from tinycnn.tensor import Tensor


class ReLU(Module):
    """max(x, 0), elementwise; any shape."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return A.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU6(ReLU):
    """min(max(x, 0), 6), elementwise (MobileNet)."""

    def forward(self, x: Tensor) -> Tensor:
        return A.relu6(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x, elementwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return A.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return A.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return A.tanh(x)


class SiLU(ReLU):
    """x * sigmoid(x) (swish; EfficientNet)."""

    def forward(self, x: Tensor) -> Tensor:
        return A.silu(x)


class Hardsigmoid(ReLU):
    """relu6(x + 3) / 6 (MobileNetV3's cheap sigmoid)."""

    def forward(self, x: Tensor) -> Tensor:
        return A.hardsigmoid(x)


class Hardswish(ReLU):
    """x * relu6(x + 3) / 6."""

    def forward(self, x: Tensor) -> Tensor:
        return A.hardswish(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim` (required, e.g. Softmax(dim=1) for (N, C))."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return A.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `dim`, computed stably."""

    def forward(self, x: Tensor) -> Tensor:
        return A.log_softmax(x, self.dim)
