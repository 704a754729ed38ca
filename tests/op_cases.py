"""The table of op cases shared by test_ops.py (float64 gradient checks) and
test_ops_torch.py (forward and backward against PyTorch).

Each case applies one op to small float64 inputs whose shapes exercise
broadcasting (size-1 and 0-d operands) and whose values stay away from the
op's kinks. Float inputs are differentiated; integer and boolean inputs are
constants (class targets, conditions). `torch_fn(T, *xs)` is the same
computation in PyTorch (T is the torch module, imported only by the oracle tests).
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import tinycnn
import tinycnn.nn.functional as F

_rng = np.random.default_rng(1234)


def normal(*shape):
    return _rng.standard_normal(shape)


def positive(*shape):
    return _rng.uniform(0.5, 2.0, shape)


def away(*shape, kinks=(0.0,), lo=-4.0, hi=4.0):
    """Uniform values at least 0.1 from every kink."""
    x = _rng.uniform(lo, hi, shape)
    for k in kinks:
        x = np.where(np.abs(x - k) < 0.1, x + 0.25, x)
    return x


def distinct(*shape):
    """Values without ties (for max)."""
    n = int(np.prod(shape))
    return (_rng.permutation(n) * 0.37 - n * 0.18 + _rng.uniform(0, 0.1, n)).reshape(shape)


def labels(n, classes):
    return _rng.integers(0, classes, n)


def mask(*shape):
    return _rng.random(shape) < 0.5


@dataclass
class Case:
    op: str  # the op this case covers
    desc: str  # what is special about it (shapes, options)
    fn: Callable  # tinycnn Tensors -> Tensor
    torch_fn: Callable  # (torch, *torch tensors) -> tensor
    inputs: tuple  # NumPy arrays
    torch_grad_rtol: float = 1e-10  # looser only where PyTorch itself rounds

    @property
    def id(self):
        return f"{self.op}-{self.desc}"


def _ix(*values):
    return np.array(values)


CASES = [
    # ---- arithmetic, with broadcasting
    Case("add", "(2,3)+(3,)", lambda a, b: a + b, lambda T, a, b: a + b, (normal(2, 3), normal(3))),
    Case("add", "(2,1,3)+(4,1)", lambda a, b: a + b, lambda T, a, b: a + b, (normal(2, 1, 3), normal(4, 1))),
    Case("add", "0d+(2,3)", lambda a, b: a + b, lambda T, a, b: a + b, (normal(), normal(2, 3))),
    Case("add", "scalar", lambda a: 1.5 + a, lambda T, a: 1.5 + a, (normal(2, 3),)),
    Case("sub", "(3,1)-(1,4)", lambda a, b: a - b, lambda T, a, b: a - b, (normal(3, 1), normal(1, 4))),
    Case("sub", "rsub", lambda a: 2.0 - a, lambda T, a: 2.0 - a, (normal(3),)),
    Case("mul", "(2,3,4)*(3,1)", lambda a, b: a * b, lambda T, a, b: a * b, (normal(2, 3, 4), normal(3, 1))),
    Case("mul", "(2,3)*0d", lambda a, b: a * b, lambda T, a, b: a * b, (normal(2, 3), normal())),
    Case("div", "(2,3)/(2,1)", lambda a, b: a / b, lambda T, a, b: a / b, (normal(2, 3), positive(2, 1))),
    Case("div", "rdiv", lambda a: 1.0 / a, lambda T, a: 1.0 / a, (positive(4),)),
    Case("neg", "(2,3)", lambda a: -a, lambda T, a: -a, (normal(2, 3),)),
    Case("pow", "(2,3)**(3,)", lambda a, b: a**b, lambda T, a, b: a**b, (positive(2, 3), normal(3))),
    Case("pow", "x**3", lambda a: a**3, lambda T, a: a**3, (normal(2, 3),)),
    Case("pow", "x**0.5", lambda a: a**0.5, lambda T, a: a**0.5, (positive(4),)),
    Case("pow", "2**x", lambda a: 2.0**a, lambda T, a: 2.0**a, (normal(4),)),
    Case("matmul", "(3,4)@(4,2)", lambda a, b: a @ b, lambda T, a, b: a @ b, (normal(3, 4), normal(4, 2))),
    Case("matmul", "batched", lambda a, b: a @ b, lambda T, a, b: a @ b, (normal(2, 3, 4), normal(2, 4, 2))),
    Case("matmul", "broadcast", lambda a, b: a @ b, lambda T, a, b: a @ b, (normal(2, 1, 3, 4), normal(3, 4, 2))),
    Case("matmul", "shared-b", lambda a, b: a @ b, lambda T, a, b: a @ b, (normal(2, 3, 4), normal(4, 2))),
    Case("matmul", "1d@1d", lambda a, b: a @ b, lambda T, a, b: a @ b, (normal(4), normal(4))),
    Case("matmul", "1d@3d", lambda a, b: a @ b, lambda T, a, b: a @ b, (normal(4), normal(2, 4, 3))),
    Case("matmul", "3d@1d", lambda a, b: a @ b, lambda T, a, b: a @ b, (normal(2, 3, 4), normal(4))),
    # ---- element-wise
    Case("exp", "(2,3)", lambda a: a.exp(), lambda T, a: a.exp(), (normal(2, 3),)),
    Case("log", "(2,3)", lambda a: a.log(), lambda T, a: a.log(), (positive(2, 3),)),
    Case("sqrt", "(2,3)", lambda a: a.sqrt(), lambda T, a: a.sqrt(), (positive(2, 3),)),
    Case("abs", "(2,3)", lambda a: a.abs(), lambda T, a: a.abs(), (away(2, 3),)),
    Case("clip", "min,max", lambda a: tinycnn.clip(a, -0.5, 0.5), lambda T, a: T.clamp(a, -0.5, 0.5),
         (away(3, 4, kinks=(-0.5, 0.5), lo=-1, hi=1),)),
    Case("clip", "min-only", lambda a: a.clamp(min=0.2), lambda T, a: a.clamp(min=0.2),
         (away(3, 4, kinks=(0.2,), lo=-1, hi=1),)),
    Case("maximum", "(2,3),(3,)", lambda a, b: tinycnn.maximum(a, b), lambda T, a, b: T.maximum(a, b),
         (normal(2, 3), normal(3))),
    Case("where", "(2,3),(3,)", lambda c, a, b: tinycnn.where(c, a, b), lambda T, c, a, b: T.where(c, a, b),
         (mask(2, 3), normal(2, 3), normal(3))),
    Case("where", "scalar-b", lambda c, a: tinycnn.where(c, a, 0.0), lambda T, c, a: T.where(c, a, 0.0),
         (mask(2, 1), normal(1, 3))),
    # ---- reductions
    Case("sum", "all", lambda a: a.sum(), lambda T, a: a.sum(), (normal(2, 3),)),
    Case("sum", "dim=1", lambda a: a.sum(1), lambda T, a: a.sum(1), (normal(2, 3, 2),)),
    Case("sum", "dim=(0,2),keepdim", lambda a: a.sum((0, 2), keepdim=True), lambda T, a: a.sum((0, 2), keepdim=True),
         (normal(2, 3, 2),)),
    Case("sum", "0d", lambda a: a.sum(), lambda T, a: a.sum(), (normal(),)),
    Case("mean", "all", lambda a: a.mean(), lambda T, a: a.mean(), (normal(2, 3),)),
    Case("mean", "dim=-1,keepdim", lambda a: a.mean(-1, keepdim=True), lambda T, a: a.mean(-1, keepdim=True),
         (normal(2, 3, 4),)),
    Case("max", "all", lambda a: a.max(), lambda T, a: a.max(), (distinct(3, 4),)),
    Case("max", "dim=1", lambda a: a.max(1).values, lambda T, a: a.max(1).values, (distinct(2, 3, 4),)),
    Case("max", "dim=0,keepdim", lambda a: a.max(0, keepdim=True)[0], lambda T, a: a.max(0, keepdim=True)[0],
         (distinct(3, 2),)),
    Case("amax", "dim=(0,2)", lambda a: a.amax((0, 2)), lambda T, a: a.amax((0, 2)), (distinct(2, 3, 2),)),
    Case("min", "all", lambda a: a.min(), lambda T, a: a.min(), (distinct(3, 4),)),
    Case("min", "dim=-1", lambda a: a.min(-1).values, lambda T, a: a.min(-1).values, (distinct(2, 3, 4),)),
    Case("amin", "dim=(0,1),keepdim", lambda a: a.amin((0, 1), keepdim=True),
         lambda T, a: a.amin((0, 1), keepdim=True), (distinct(2, 3, 2),)),
    Case("std", "dim=0", lambda a: a.std(0), lambda T, a: a.std(0), (normal(4, 3),)),
    Case("var", "all", lambda a: a.var(), lambda T, a: a.var(), (normal(2, 3),)),
    Case("var", "dim=1", lambda a: a.var(1), lambda T, a: a.var(1), (normal(3, 4),)),
    Case("var", "dim=(0,2),biased,keepdim", lambda a: a.var((0, 2), unbiased=False, keepdim=True),
         lambda T, a: a.var((0, 2), unbiased=False, keepdim=True), (normal(2, 3, 2),)),
    # ---- shape
    Case("reshape", "(2,3,4)->(4,-1)", lambda a: a.reshape(4, -1), lambda T, a: a.reshape(4, -1), (normal(2, 3, 4),)),
    Case("transpose", "(2,3,4),0,2", lambda a: a.transpose(0, 2), lambda T, a: a.transpose(0, 2), (normal(2, 3, 4),)),
    Case("permute", "(2,3,4)->(1,2,0)", lambda a: a.permute(1, 2, 0), lambda T, a: a.permute(1, 2, 0),
         (normal(2, 3, 4),)),
    Case("flatten", "start_dim=1", lambda a: a.flatten(1), lambda T, a: a.flatten(1), (normal(2, 3, 2),)),
    Case("unsqueeze", "dim=1", lambda a: a.unsqueeze(1) * 1.0, lambda T, a: a.unsqueeze(1) * 1.0, (normal(2, 3),)),
    Case("squeeze", "all", lambda a: a.squeeze(), lambda T, a: a.squeeze(), (normal(2, 1, 3, 1),)),
    Case("expand", "(3,1)->(2,3,4)", lambda a: a.expand(2, 3, 4) * 1.0, lambda T, a: a.expand(2, 3, 4) * 1.0,
         (normal(3, 1),)),
    Case("getitem", "slices", lambda a: a[1:, ::2], lambda T, a: a[1:, ::2], (normal(3, 4),)),
    Case("getitem", "int,ellipsis,None", lambda a: a[None, 1, ..., 0], lambda T, a: a[None, 1, ..., 0],
         (normal(3, 4, 2),)),
    Case("getitem", "repeated-index", lambda a: a[_ix(0, 2, 0, 0)], lambda T, a: a[T.tensor([0, 2, 0, 0])],
         (normal(3, 2),)),
    Case("getitem", "two-arrays", lambda a: a[_ix(0, 1, 1), _ix(2, 0, 2)],
         lambda T, a: a[T.tensor([0, 1, 1]), T.tensor([2, 0, 2])], (normal(2, 3),)),
    Case("getitem", "bool-mask", lambda a, m: a[m], lambda T, a, m: a[m], (normal(3, 4), mask(3, 4))),
    Case("cat", "dim=0", lambda a, b: tinycnn.cat([a, b], 0), lambda T, a, b: T.cat([a, b], 0),
         (normal(2, 3), normal(1, 3))),
    Case("cat", "dim=-1,three", lambda a, b, c: tinycnn.cat([a, b, c], dim=-1),
         lambda T, a, b, c: T.cat([a, b, c], dim=-1), (normal(2, 1), normal(2, 3), normal(2, 2))),
    Case("stack", "dim=1", lambda a, b: tinycnn.stack([a, b], 1), lambda T, a, b: T.stack([a, b], 1),
         (normal(2, 3), normal(2, 3))),
    Case("pad", "constant", lambda a: F.pad(a, (1, 2, 0, 1), value=0.5),
         lambda T, a: T.nn.functional.pad(a, (1, 2, 0, 1), value=0.5), (normal(2, 2, 3),)),
    Case("pad", "constant,4-D,channels", lambda a: F.pad(a[:, :, ::2, ::2], (0, 0, 1, 0, 1, 3), value=-1.5),
         lambda T, a: T.nn.functional.pad(a[:, :, ::2, ::2], (0, 0, 1, 0, 1, 3), value=-1.5), (normal(2, 3, 5, 4),)),
    Case("pad", "reflect", lambda a: F.pad(a, (2, 1, 1, 2), mode="reflect"),
         lambda T, a: T.nn.functional.pad(a, (2, 1, 1, 2), mode="reflect"), (normal(1, 2, 3, 4),)),
    Case("pad", "replicate", lambda a: F.pad(a, (1, 2, 2, 0), mode="replicate"),
         lambda T, a: T.nn.functional.pad(a, (1, 2, 2, 0), mode="replicate"), (normal(1, 1, 3, 2),)),
    Case("pad", "circular", lambda a: F.pad(a, (1, 2, 2, 1), mode="circular"),
         lambda T, a: T.nn.functional.pad(a, (1, 2, 2, 1), mode="circular"), (normal(1, 1, 3, 4),)),
    # ---- activations
    Case("relu", "(2,3)", lambda a: F.relu(a), lambda T, a: T.relu(a), (away(2, 3),)),
    Case("relu6", "(3,4)", lambda a: F.relu6(a), lambda T, a: T.nn.functional.relu6(a),
         (away(3, 4, kinks=(0.0, 6.0), lo=-2, hi=8),)),
    Case("leaky_relu", "slope=0.1", lambda a: F.leaky_relu(a, 0.1), lambda T, a: T.nn.functional.leaky_relu(a, 0.1),
         (away(2, 3),)),
    Case("sigmoid", "(2,3)", lambda a: a.sigmoid(), lambda T, a: a.sigmoid(), (normal(2, 3) * 3,)),
    Case("tanh", "(2,3)", lambda a: a.tanh(), lambda T, a: a.tanh(), (normal(2, 3),)),
    Case("silu", "(2,3)", lambda a: F.silu(a), lambda T, a: T.nn.functional.silu(a), (normal(2, 3) * 3,)),
    Case("hardsigmoid", "(3,4)", lambda a: F.hardsigmoid(a), lambda T, a: T.nn.functional.hardsigmoid(a),
         (away(3, 4, kinks=(-3.0, 3.0), lo=-5, hi=5),),
         torch_grad_rtol=1e-7),  # torch's backward multiplies by 1.0f / 6.0f, a float32 constant
    Case("hardswish", "(3,4)", lambda a: F.hardswish(a), lambda T, a: T.nn.functional.hardswish(a),
         (away(3, 4, kinks=(-3.0, 3.0), lo=-5, hi=5),)),
    Case("softmax", "dim=1", lambda a: F.softmax(a, 1), lambda T, a: T.softmax(a, 1), (normal(2, 3, 2),)),
    Case("softmax", "dim=0", lambda a: F.softmax(a, 0), lambda T, a: T.softmax(a, 0), (normal(3, 2),)),
    Case("log_softmax", "dim=-1", lambda a: F.log_softmax(a, -1), lambda T, a: T.log_softmax(a, -1),
         (normal(2, 4),)),
    # ---- losses
    Case("cross_entropy", "mean", lambda x, t: F.cross_entropy(x, t), lambda T, x, t: T.nn.functional.cross_entropy(x, t),
         (normal(4, 5), labels(4, 5))),
    Case("cross_entropy", "sum,label_smoothing", lambda x, t: F.cross_entropy(x, t, reduction="sum", label_smoothing=0.1),
         lambda T, x, t: T.nn.functional.cross_entropy(x, t, reduction="sum", label_smoothing=0.1),
         (normal(4, 5), labels(4, 5))),
    Case("cross_entropy", "none,label_smoothing", lambda x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.2),
         lambda T, x, t: T.nn.functional.cross_entropy(x, t, reduction="none", label_smoothing=0.2),
         (normal(3, 4), labels(3, 4))),
    Case("nll_loss", "mean", lambda x, t: F.nll_loss(x, t), lambda T, x, t: T.nn.functional.nll_loss(x, t),
         (normal(4, 3), labels(4, 3))),
    Case("nll_loss", "none", lambda x, t: F.nll_loss(x, t, reduction="none"),
         lambda T, x, t: T.nn.functional.nll_loss(x, t, reduction="none"), (normal(4, 3), labels(4, 3))),
    Case("mse_loss", "mean", lambda x, y: F.mse_loss(x, y), lambda T, x, y: T.nn.functional.mse_loss(x, y),
         (normal(2, 3), normal(2, 3))),
    Case("mse_loss", "sum", lambda x, y: F.mse_loss(x, y, reduction="sum"),
         lambda T, x, y: T.nn.functional.mse_loss(x, y, reduction="sum"), (normal(3,), normal(3,))),
    Case("mse_loss", "none", lambda x, y: F.mse_loss(x, y, reduction="none"),
         lambda T, x, y: T.nn.functional.mse_loss(x, y, reduction="none"), (normal(2, 2), normal(2, 2))),
]

# Every differentiable op the issue names (and the few extra ones tinycnn has).
REQUIRED_OPS = {
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt", "abs", "clip", "maximum",
    "sum", "mean", "max", "var", "reshape", "transpose", "permute", "flatten", "getitem", "cat", "stack",
    "pad", "where", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "hardsigmoid", "hardswish",
    "softmax", "log_softmax", "cross_entropy", "mse_loss", "nll_loss",
}


def tensors(case, dtype=np.float64):
    """The case's inputs as tinycnn Tensors (float ones require grad)."""
    return [tinycnn.Tensor(x.astype(dtype) if x.dtype.kind == "f" else x, requires_grad=x.dtype.kind == "f")
            for x in case.inputs]

# class weights, an ignored row, smoothing: PyTorch's weighted means (see tinycnn/ops/loss.py)
_W5, _IGNORED = positive(5), np.array([2, -100, 0, 4, 4])
_W34, _POS4 = positive(3, 4), positive(4)
CASES += [
    Case("cross_entropy", "weight,ignore_index,label_smoothing",
         lambda x, t: F.cross_entropy(x, t, weight=_W5, ignore_index=-100, label_smoothing=0.15),
         lambda T, x, t: T.nn.functional.cross_entropy(x, t, weight=T.tensor(_W5), label_smoothing=0.15),
         (normal(5, 5), _IGNORED)),
    Case("cross_entropy", "none,weight,ignore_index=4",
         lambda x, t: F.cross_entropy(x, t, weight=_W5, ignore_index=4, reduction="none"),
         lambda T, x, t: T.nn.functional.cross_entropy(x, t, weight=T.tensor(_W5), ignore_index=4, reduction="none"),
         (normal(4, 5), np.array([1, 4, 0, 3]))),
    Case("nll_loss", "weight,ignore_index", lambda x, t: F.nll_loss(x, t, weight=_W5),
         lambda T, x, t: T.nn.functional.nll_loss(x, t, weight=T.tensor(_W5)), (normal(5, 5), _IGNORED)),
    Case("l1_loss", "mean", lambda x, y: F.l1_loss(x, y), lambda T, x, y: T.nn.functional.l1_loss(x, y),
         (away(3, 4), np.zeros((3, 4)))),
    Case("l1_loss", "none", lambda x, y: F.l1_loss(x, y, reduction="none"),
         lambda T, x, y: T.nn.functional.l1_loss(x, y, reduction="none"), (away(2, 3), np.zeros((2, 3)))),
    Case("binary_cross_entropy_with_logits", "mean,weight,pos_weight",
         lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=_W34, pos_weight=_POS4),
         lambda T, x, t: T.nn.functional.binary_cross_entropy_with_logits(x, t, weight=T.tensor(_W34),
                                                                           pos_weight=T.tensor(_POS4)),
         (normal(3, 4) * 5, _rng.uniform(0.05, 0.95, (3, 4)))),
    Case("binary_cross_entropy_with_logits", "sum",
         lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="sum"),
         lambda T, x, t: T.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="sum"),
         (normal(2, 3), _rng.uniform(0.05, 0.95, (2, 3)))),
    Case("binary_cross_entropy", "mean,weight", lambda x, t: F.binary_cross_entropy(x, t, weight=_W34),
         lambda T, x, t: T.nn.functional.binary_cross_entropy(x, t, weight=T.tensor(_W34)),
         (_rng.uniform(0.05, 0.95, (3, 4)), _rng.uniform(0.05, 0.95, (3, 4)))),
]
