"""`summary(model, input_shape)`: a per-layer table of output shapes,
parameters and multiply-accumulates, measured on one real forward pass.

MACs convention (as in the papers' "mult-adds" and fvcore/ptflops): only the
multiply-accumulates of convolutions and linear layers, per image.

    Conv2d:  MACs = output elements * (in_channels / groups) * kh * kw
    Linear:  MACs = output elements * in_features

They are counted with forward hooks on the layers that actually ran, not
derived from a formula of the architecture, so they cannot disagree with
what the model computes (a layer skipped at inference costs nothing; a
layer called twice counts twice).

    >>> s = tinycnn.summary(model, input_shape=(3, 32, 32))
    >>> s.total_params, s.total_macs
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinycnn import nn
from tinycnn.tensor import Tensor, no_grad


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of `model` (each shared Parameter once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@dataclass
class LayerRow:
    """One executed layer: its dotted name, class, output shape, own
    parameters (counted at its first call only) and MACs per image."""

    name: str
    type: str
    output_shape: tuple
    params: int
    macs: int


@dataclass
class ModelSummary:
    """What `summary` returns; `str(s)` is the printed table."""

    input_shape: tuple
    total_params: int
    trainable_params: int
    total_macs: int
    rows: list[LayerRow] = field(default_factory=list)

    def __getitem__(self, key):  # s["total_macs"] works as with a dict
        return getattr(self, key)

    def __str__(self) -> str:
        header = ("Layer", "Type", "Output shape", "Params", "MACs")
        lines = [(r.name, r.type, str(r.output_shape), f"{r.params:,}", f"{r.macs:,}") for r in self.rows]
        widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

        def fmt(cells):
            left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3], strict=True)]
            right = [c.rjust(w) for c, w in zip(cells[3:], widths[3:], strict=True)]
            return "  ".join(left + right)

        rule = "-" * len(fmt(header))
        return "\n".join(
            [rule, fmt(header), rule, *(fmt(line) for line in lines), rule,
             f"Input shape (per image): {self.input_shape}",
             f"Total params:      {self.total_params:,} ({self.total_params / 1e6:.2f} M)",
             f"Trainable params:  {self.trainable_params:,}",
             f"Total MACs / image: {self.total_macs:,} ({self.total_macs / 1e6:.2f} M)",
             rule]
        )


def layer_macs(module: nn.Module, output: Tensor) -> int:
    """MACs per image of one call of a Conv2d or Linear layer that produced
    `output` (N, ...); 0 for every other layer.

    The weight's shape carries the fan-in of one output element:
    Conv2d weight (C_out, C_in / groups, kh, kw), Linear weight (out, in).
    """
    if not isinstance(module, nn.Conv2d | nn.Linear):
        return 0
    per_image = output.numel() // output.shape[0]
    fan_in = int(np.prod(module.weight.shape[1:]))
    return per_image * fan_in


def _output_shape(output) -> tuple:
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, tuple | list):
        return tuple(_output_shape(o) for o in output)
    return ()


def summary(model: nn.Module, input_shape=(3, 32, 32), batch_size: int = 1, print_table: bool = True,
            dtype=None) -> ModelSummary:
    """Run one forward pass of a (batch_size, *input_shape) zero input
    through `model` (in eval mode, without graph; each module's train/eval
    mode is restored afterwards), record every leaf layer that ran, print
    the table if asked and return a `ModelSummary`.

    input_shape: (C, H, W) of one image. dtype: that of the input; defaults
    to the model's first parameter's dtype.
    """
    if batch_size < 1:
        raise ValueError(f"summary: batch_size must be positive, got {batch_size}")
    if dtype is None:
        first = next(iter(model.parameters()), None)
        dtype = first.dtype if first is not None else np.float32
    names = {id(m): name for name, m in model.named_modules()}
    rows: list[LayerRow] = []
    seen: set[int] = set()

    def hook(module, inputs, output):
        own = 0 if id(module) in seen else sum(p.numel() for p in module.parameters(recurse=False))
        seen.add(id(module))
        macs = layer_macs(module, output) if isinstance(output, Tensor) else 0
        rows.append(LayerRow(names[id(module)], type(module).__name__, _output_shape(output), own, macs))

    # Leaves (but not Identity placeholders), plus any container that owns
    # parameters directly (so every parameter that takes part is in a row).
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if (next(m.children(), None) is None and not isinstance(m, nn.Identity))
               or next(m.parameters(recurse=False), None) is not None]
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with no_grad():
            model(Tensor(np.zeros((batch_size, *input_shape), dtype=dtype)))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    result = ModelSummary(tuple(input_shape), count_params(model), count_params(model, trainable_only=True),
                          sum(r.macs for r in rows), rows)
    if print_table:
        print(result)
    return result
