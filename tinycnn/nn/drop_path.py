"""DropPath: stochastic depth (Huang et al., "Deep Networks with Stochastic
Depth", ECCV 2016).

Put it on the residual branch, never on the shortcut:

    out = shortcut(x) + self.drop_path(branch(x))

In training the branch is dropped (multiplied by 0) with probability p and
kept, scaled by 1 / (1 - p), otherwise, so the expected output is unchanged;
in eval it is the identity. A dropped block reduces to its shortcut. Two
modes, torchvision's names (`torchvision.ops.StochasticDepth`):
- "row" (default, as timm): each sample of the batch is dropped on its own. The
  branch is still computed for the whole batch, so no time is saved;
- "batch" (the paper's): one draw drops the branch for the whole mini-batch.
  A block that asks `drop_path.skip()` before computing its branch then skips
  the computation: the training time the paper saves.
`stochastic_depth_rates` gives each block of a network its drop probability.
"""
import itertools

from tinycnn.nn.module import Module
from tinycnn.random import rng
from tinycnn.ops.arithmetic import scale_samples


MODES = ("row", "batch")


def drop_path(input, p=0.0, training=False, mode="row"):
    """input: (N, ...) -> same shape: in training, each sample ("row") or the whole batch
    ("batch") zeroed with probability p, survivors scaled by 1 / (1 - p); the input itself otherwise."""
    _check(p, mode, "drop_path")
    if not training or p == 0.0:
        return input
    if mode == "batch":
        return _keep_batch(input, p, rng().random() >= p)
    keep = rng().random(input.shape[0]) >= p  # (N,) True for a surviving sample
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return scale_samples(input, keep * scale)  # input[n] * mask[n]


def _keep_batch(input, p, kept: bool):
    return input * (1.0 / (1.0 - p)) if kept else input * 0.0


def _check(p, mode, where):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{where}: p must be a probability in [0, 1], got {p}")
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be 'row' or 'batch', got {mode!r}")


class DropPath(Module):
    """Stochastic depth on a residual branch: (N, ...) -> same shape.

    p: the probability of dropping the branch (the paper's 1 - p_l); mode: "row" or "batch".
    >>> self.drop_path = DropPath(0.1)
    >>> out = x + self.drop_path(self.branch(x))
    With mode="batch" a block can skip the branch's computation when it is dropped:
    >>> if self.drop_path.skip():
    ...     return x
    >>> return x + self.drop_path(self.branch(x))
    """

    def __init__(self, p=0.0, mode="row"):
        super().__init__()
        _check(p, mode, "DropPath")
        self.p, self.mode = p, mode
        self._kept = None  # the draw skip() made for the coming forward (mode "batch")

    def skip(self) -> bool:
        """Whether this batch drops the branch, so the block need not compute it: drawn here in
        mode "batch" while training (forward then scales the kept branch); otherwise False."""
        if self.mode != "batch" or not self.training or self.p == 0.0:
            return False
        self._kept = bool(rng().random() >= self.p)
        return not self._kept

    def forward(self, x):
        if self.mode == "batch" and self.training and self.p > 0.0 and self._kept is not None:
            kept, self._kept = self._kept, None
            return _keep_batch(x, self.p, kept)
        return drop_path(x, self.p, self.training, self.mode)

    def extra_repr(self):
        return f"p={self.p}" + ("" if self.mode == "row" else f", mode={self.mode!r}")


def stochastic_depth_rates(drop_path_rate: float, num_blocks: int, first_block: int = 1) -> list[float]:
    """The linear decay rule: block l (counted from `first_block`) of num_blocks is dropped
    with probability drop_path_rate * l / num_blocks.

    first_block=1 is Huang et al.'s rule: blocks 1..L, survival p_l = 1 - (l / L)(1 - p_L)
    with p_L = 1 - drop_path_rate, the last block dropped at the full rate (the ResNets);
    first_block=0 is torchvision's EfficientNet: the first block is never dropped.
    """
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"stochastic_depth_rates: drop_path_rate must be in [0, 1), got {drop_path_rate}")
    return [drop_path_rate * (l + first_block) / num_blocks for l in range(num_blocks)]


def stochastic_depth_rates_per_stage(drop_path_rate: float, stage_depths, first_block: int = 1) -> list[list[float]]:
    """`stochastic_depth_rates` over all the blocks of a network, cut into its stages:
    one list of stage_depths[i] rates per stage."""
    rates = stochastic_depth_rates(drop_path_rate, sum(stage_depths), first_block)
    ends = itertools.accumulate(stage_depths)
    return [rates[end - depth : end] for depth, end in zip(stage_depths, ends)]
