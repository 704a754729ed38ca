"""Differentiable ops on Tensors: one `Function` per op, plus a plain function
that applies it. `tinycnn.nn.functional` re-exports the ones PyTorch keeps there."""
from tinycnn.ops.activation import (
    hardsigmoid,
    hardswish,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    swish,
    tanh,
)
from tinycnn.ops.arithmetic import add, div, matmul, mul, neg, pow, sub
from tinycnn.ops.elementwise import abs, clamp, clip, exp, log, maximum, sqrt, to_dtype, where
from tinycnn.ops.loss import cross_entropy, nll_loss
from tinycnn.ops.pointwise_loss import binary_cross_entropy, binary_cross_entropy_with_logits, l1_loss, mse_loss
from tinycnn.ops.reduction import amax, amin, argmax, argmin, max, mean, min, std, sum, var
from tinycnn.ops.shape import (
    cat,
    concat,
    expand,
    flatten,
    getitem,
    pad,
    permute,
    reshape,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
