"""tinycnn: a from-scratch deep-learning framework in NumPy and Numba for
learning how modern CNN architectures work."""
import numpy as np

from tinycnn.tensor import DEFAULT_DTYPE, Function, Tensor, enable_grad, inference_mode, is_grad_enabled, no_grad  # noqa: I001
from tinycnn.tensor import set_grad_enabled
from tinycnn.device import device
from tinycnn import cuda
from tinycnn.creation import arange, from_numpy, full, ones, ones_like, rand, randint, randn, randperm, tensor, zeros, zeros_like
from tinycnn.ops import (
    abs,
    argmax,
    argmin,
    cat,
    clamp,
    clip,
    concat,
    exp,
    flatten,
    log,
    matmul,
    maximum,
    mean,
    permute,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sum,
    tanh,
    transpose,
    var,
    where,
)
from tinycnn.ops import amax, amin, expand, log_softmax, max, min, neg, pow, relu, squeeze, std, unsqueeze  # noqa: E402
from tinycnn.random import Generator, get_rng_state, manual_seed, set_rng_state
from tinycnn.serialization import load, save
from tinycnn.gradcheck import gradcheck  # the function; the module stays importable by its path
from tinycnn import nn  # noqa: E402
from tinycnn import optim  # noqa: E402
from tinycnn.summary import count_params, summary  # noqa: E402  (the function shadows the module name)
from tinycnn.threads import apply_env as _apply_thread_env, get_num_threads, set_num_threads  # noqa: E402
from tinycnn.allocator import keep_freed_memory  # noqa: E402  (a call; importing it changes nothing)

_apply_thread_env()  # TINYCNN_NUM_THREADS

float32 = np.float32
float64 = np.float64

__version__ = "0.1.0"

# The higher layers load on first use (`tinycnn.models.create(...)` after a plain
# `import tinycnn`), so importing tinycnn stays cheap and its lower layers never import them.
_LAZY_SUBMODULES = ("models", "utils", "interop", "data")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"tinycnn.{name}")
    raise AttributeError(f"module 'tinycnn' has no attribute {name!r}")
