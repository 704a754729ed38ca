"""DropPath: stochastic depth (Huang et al., "Deep Networks with Stochastic
Depth", ECCV 2016), per sample as in timm.

Put it on the residual branch, never on the shortcut:

    out = shortcut(x) + self.drop_path(branch(x))

In training each sample's branch is dropped (multiplied by 0) with
probability p and kept, scaled by 1 / (1 - p), otherwise, so the expected
output is unchanged; in eval it is the identity. A dropped block thus
reduces to its shortcut: the network is shallower for that sample.
`stochastic_depth_rates` gives each block of a network its drop probability.
"""
import itertools

from tinycnn.nn.module import Module
from tinycnn.random import rng
from tinycnn.tensor import Tensor


def drop_path(input, p=0.0, training=False):
    """input: (N, ...) -> same shape: each sample zeroed with probability p,
    survivors scaled by 1 / (1 - p), in training; the input itself otherwise."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop_path: p must be a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    keep = rng().random(input.shape[0]) >= p  # (N,) True for a surviving sample
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (keep * scale).astype(input.dtype).reshape(-1, *([1] * (input.ndim - 1)))  # (N, 1, 1, 1)
    return input * Tensor(mask)


class DropPath(Module):
    """Stochastic depth on a residual branch: (N, ...) -> same shape.

    p: the probability of dropping a sample's branch (the paper's 1 - p_l).
    >>> self.drop_path = DropPath(0.1)
    >>> out = x + self.drop_path(self.branch(x))
    """

    def __init__(self, p=0.0):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"DropPath: p must be a probability in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return drop_path(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


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
