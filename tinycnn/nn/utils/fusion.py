"""BatchNorm folded into the convolution before it, and the ReLU after it applied in the
convolution's own pass, for inference.

In eval mode a BatchNorm is an affine map per channel, y = (x - mean) / sqrt(var + eps) * gamma
+ beta, and so is the convolution before it along its output channels; the two compose into one
convolution with scaled weights and a new bias, which saves the BatchNorm's pass over memory:

    s = gamma / sqrt(var + eps)            (C_out,)
    W' = W * s[:, None, None, None]         (C_out, C/G, kh, kw)
    b' = (b - mean) * s + beta              (C_out,)

`fuse_conv_bn_weights` and `fuse_conv_bn_eval` are torch.nn.utils.fusion's. `fuse(model,
example_input)` folds every such pair of a whole model, like
torch.fx.experimental.optimization.fuse: where torch.fx traces the model symbolically, here one
forward pass of `example_input` shows which BatchNorm reads which convolution's output, and
that nothing else reads it.

A ReLU (or ReLU6) that alone reads the result clamps it to [0, inf) (or [0, 6]), which the
convolution can do as it writes its output (`ConvAct2d`): the ReLU the model's code applies next
then finds its input already clamped and passes it through, without a pass of its own. Where
the result goes to a residual addition instead, and a ReLU alone reads the sum (a ResNet's
`relu(bn2(conv2(out)) + identity)`), the addition clamps the sum in its own pass.

In training a BatchNorm cannot be folded (it normalises with each batch's statistics), but the
ReLU after it can still be applied in its pass, and the ReLU's derivative in its backward
(`nn.BatchNormAct2d`): `fuse(model.train(), example_input)`.
"""
from __future__ import annotations

import copy

from tinycnn.nn.batchnorm import BatchNorm2d, BatchNormAct2d
from tinycnn.nn.conv import Conv2d
from tinycnn.nn.linear import Identity
from tinycnn.nn.module import Module, Parameter
from tinycnn.ops.activation import ReLU as ReLUFunction
from tinycnn.ops.activation import ReLU6 as ReLU6Function
from tinycnn.ops.activation import mark_clamp_after_add
from tinycnn.ops.arithmetic import Add
from tinycnn.ops.conv import ACTIVATIONS, convolve
from tinycnn.ops.deferred import fold_batch_norm
from tinycnn.tensor import Tensor, no_grad, set_profiler


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """(W', b') of the convolution that computes conv followed by an eval-mode BatchNorm, as
    Parameters in the convolution's dtype (computed in float64). conv_b, bn_w and bn_b may be
    None (no bias, affine=False)."""
    fused_w, fused_b = fold_batch_norm(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b)
    return Parameter(fused_w), Parameter(fused_b)


def fuse_conv_bn_eval(conv: Conv2d, bn: BatchNorm2d) -> Conv2d:
    """A new Conv2d computing bn(conv(x)) of the eval-mode pair (both left unchanged)."""
    if conv.training or bn.training:
        raise ValueError("fuse_conv_bn_eval: fusion is only for eval mode (call .eval() on both modules)")
    if bn.running_mean is None:
        raise ValueError("fuse_conv_bn_eval: the BatchNorm keeps no running statistics (track_running_stats=False)")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"fuse_conv_bn_eval: the BatchNorm has {bn.num_features} features, "
                         f"the convolution {conv.out_channels} output channels")
    fused = copy.deepcopy(conv)
    value = lambda p: None if p is None else p.data  # noqa: E731
    fused.weight, fused.bias = fuse_conv_bn_weights(conv.weight.data, value(conv.bias), bn.running_mean,
                                                    bn.running_var, bn.eps, value(bn.weight), value(bn.bias))
    return fused


class ConvAct2d(Conv2d):
    """A Conv2d and the ReLU or ReLU6 after it, as `fuse` builds them (PyTorch's relative:
    torch.ao.nn.intrinsic.ConvReLU2d; timm's ConvNormAct). Where no gradient is wanted (eval,
    no_grad) the convolution clamps its output in the pass that writes it, and the activation
    the model applies next passes the clamped output through (`ops.activation.mark_clamped`).
    after_add: the activation reads the sum of the output and a residual instead; without
    gradients the output is marked so that the first addition that reads it clamps the sum in
    its pass (`ops.activation.mark_clamp_after_add`): the output is that addition's alone, as
    `fuse` found it. Not with forward hooks on the module (they may read the output). With
    gradients it is the convolution, then the model's ops: the values and gradients of the
    layers apart. state_dict keys: the convolution's."""

    def __init__(self, conv: Conv2d, activation: str, after_add: bool = False):
        if activation not in ACTIVATIONS:
            raise ValueError(f"ConvAct2d: expected an activation in {sorted(ACTIVATIONS)}, got {activation!r}")
        Module.__init__(self)
        self.__dict__.update(copy.deepcopy(conv).__dict__)  # the convolution's parameters, geometry, mode
        self.activation, self.after_add = activation, after_add

    def forward(self, x: Tensor) -> Tensor:
        if not self.after_add:
            return convolve(x, self.weight, self.bias, self.geometry, self.groups, where=self,
                            activation=self.activation)
        out = convolve(x, self.weight, self.bias, self.geometry, self.groups, where=self)
        if out.requires_grad or self._forward_hooks:
            return out
        return mark_clamp_after_add(out, *ACTIVATIONS[self.activation][0])

    def extra_repr(self) -> str:
        after_add = ", after_add=True" if self.after_add else ""
        return f"{super().extra_repr()}, activation={self.activation!r}{after_add}"


# The ops `fuse` folds into the convolution before them, by their Function class.
_FOLDED_ACTIVATIONS = {ReLUFunction: "relu", ReLU6Function: "relu6"}


class _Reads:
    """Counts, during a forward pass, how many ops read each array (by identity), and
    which op read it last."""

    def __init__(self):
        self.count, self.reader, self.output, self.keep = {}, {}, {}, []

    def forward(self, fn, arrays, constants):
        for a in arrays:
            self.count[id(a)] = self.count.get(id(a), 0) + 1
            self.reader[id(a)] = fn
        out = fn.forward(*arrays, **constants)
        self.output[id(fn)] = out
        self.keep.append((arrays, out))  # keeps the ids unique while the pass runs
        return out

    def sole_reader(self, array):
        """The op that alone read `array`, or None."""
        return self.reader[id(array)] if self.count.get(id(array)) == 1 else None


def _trace(model: Module, example_input) -> tuple[list, list]:
    """One no-grad forward pass of the model as it is (eval mode: the BatchNorms use their
    running statistics and change nothing). Returns
    - [(conv name, bn name or None, activation or None, after_add)]: each convolution with the
      eval-mode BatchNorm that alone reads its output, and the ReLU or ReLU6 that alone reads
      the result of both (or of the convolution alone), or that the BatchNorm (a BatchNormAct2d)
      applies, or (after_add) that alone reads the sum of that result and another tensor, which
      the addition alone reads; only convolutions with one or the other;
    - [(bn name, activation)]: each BatchNorm2d whose output the ReLU or ReLU6 alone reads."""
    names = {id(m): name for name, m in model.named_modules()}
    calls, hooks, reads = [], [], _Reads()
    for m in model.modules():
        if isinstance(m, Conv2d | BatchNorm2d):
            hooks.append(m.register_forward_hook(lambda mod, args, out: calls.append((mod, args[0], out))))
    set_profiler(reads)
    try:
        with no_grad():
            result = model(example_input)
    finally:
        set_profiler(None)
        for h in hooks:
            h.remove()
    outputs = {id(t.data) for t in (result if isinstance(result, tuple | list) else (result,)) if isinstance(t, Tensor)}
    called = {}
    for mod, _, _ in calls:
        called[id(mod)] = called.get(id(mod), 0) + 1
    last = {id(mod): out.data for mod, _, out in calls if called[id(mod)] == 1}  # each module's output

    def activation_reading(array):  # the ReLU or ReLU6 that alone reads array, by name, or None
        return None if id(array) in outputs else _FOLDED_ACTIVATIONS.get(type(reads.sole_reader(array)))

    def activation_after(array):  # (that activation, False), or (the one alone reading the sum, True)
        act, add = activation_reading(array), reads.sole_reader(array)
        if act is not None or id(array) in outputs or type(add) is not Add:
            return act, False
        act = activation_reading(reads.output[id(add)])
        return act, act is not None

    bn_of = _batch_norm_of(calls, called, reads, outputs)
    convs = []
    for mod in {id(m): m for m, _, _ in calls if isinstance(m, Conv2d) and id(m) in last}.values():
        bn = bn_of.get(id(mod))
        end = bn if bn is not None else mod  # the module whose output an activation would read
        # a BatchNormAct2d (from fusing for training) applies its activation itself
        if bn is not None and bn._activation:
            act, after_add = bn._activation, False
        else:
            act, after_add = activation_after(last[id(end)])
        if bn is not None or act is not None:
            convs.append((names[id(mod)], None if bn is None else names[id(bn)], act, after_add))
    bn_acts = {names[id(m)]: activation_reading(last[id(m)]) for m, _, _ in calls
               if type(m) is BatchNorm2d and id(m) in last}
    return convs, [(name, act) for name, act in bn_acts.items() if act is not None]


def _batch_norm_of(calls, called, reads, outputs) -> dict:
    """id(conv) -> the eval-mode BatchNorm that alone reads its output, of the convolutions and
    BatchNorms called once in the traced pass."""
    bn_of = {}
    made_by = {id(out.data): mod for mod, _, out in calls if isinstance(mod, Conv2d)}
    for mod, x, _ in calls:
        conv = made_by.get(id(x.data)) if isinstance(mod, BatchNorm2d) else None
        if (conv is not None and called[id(conv)] == called[id(mod)] == 1 and reads.count.get(id(x.data)) == 1
                and id(x.data) not in outputs and mod.running_mean is not None):
            bn_of[id(conv)] = mod
    return bn_of


def _set(model: Module, name: str, module: Module):
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def fuse(model: Module, example_input, inplace: bool = False) -> Module:
    """`model` with its layers fused where nothing else reads what lies between them.

    Eval mode (inference): each BatchNorm2d that alone reads a Conv2d's output folded into that
    convolution (the BatchNorm becomes an Identity), and each ReLU or ReLU6 that alone reads
    the result applied in the convolution's own pass (a `ConvAct2d`), or in the pass of the
    residual addition that alone reads the result where the ReLU alone reads the sum; a
    BatchNorm2d left unfolded (one after an addition, as in pre-activation nets) whose output a
    ReLU alone reads becomes a `BatchNormAct2d`.
    Training mode: each BatchNorm2d whose output a ReLU or ReLU6 alone reads becomes a
    `BatchNormAct2d` (same parameters and buffers: training goes on where it was, the
    state_dict keys stay), which saves the activation's pass forward and backward; the values
    and gradients stay those of the model (to float rounding in the BatchNorm's weight gradient).

    `example_input`: a batch the model takes, e.g. tinycnn.zeros(1, 3, 32, 32), run once (in
    eval mode, on a copy when training) to find the pairs. A copy unless `inplace`.
    """
    fused = model if inplace else copy.deepcopy(model)
    if model.training:
        _, bns = _trace(copy.deepcopy(fused).eval(), example_input)
        for bn_name, activation in bns:
            _set(fused, bn_name, BatchNormAct2d.from_batch_norm(fused.get_submodule(bn_name), activation))
        return fused
    convs, bns = _trace(fused, example_input)
    for conv_name, bn_name, activation, after_add in convs:
        conv = fused.get_submodule(conv_name)
        if bn_name is not None:
            conv = fuse_conv_bn_eval(conv, fused.get_submodule(bn_name))
            _set(fused, bn_name, Identity())
        _set(fused, conv_name, conv if activation is None else ConvAct2d(conv, activation, after_add))
    folded = {bn_name for _, bn_name, _, _ in convs}
    for bn_name, activation in bns:
        if bn_name not in folded:
            _set(fused, bn_name, BatchNormAct2d.from_batch_norm(fused.get_submodule(bn_name), activation))
    return fused
