"""Inputs shared by the convolution tests (test_conv.py, test_conv_paths.py)."""
import numpy as np

from tinycnn import Tensor

rng = np.random.default_rng(0)


def random_tensor(shape, dtype=np.float64, requires_grad=True):
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=requires_grad)


def rng_fixed(shape):
    """A deterministic, non-random array of the shape: the same values whatever ran before."""
    return np.sin(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape)
