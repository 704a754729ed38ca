"""DropPath: stochastic depth (Huang et al., "Deep Networks with Stochastic
Depth", ECCV 2016), per sample as in timm.

Put it on the residual branch, never on the shortcut:

    out = shortcut(x) + self.drop_path(branch(x))

In training each sample's branch is dropped (multiplied by 0) with
probability p and kept, scaled by 1 / (1 - p), otherwise, so the expected
output is unchanged; in eval it is the identity. A dropped block thus
reduces to its shortcut: the network is shallower for that sample.
"""

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
