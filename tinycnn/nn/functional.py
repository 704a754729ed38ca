"""`tinycnn.nn.functional` (import as F): the stateless ops under PyTorch's names."""
from tinycnn.ops import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    hardsigmoid,
    hardswish,
    l1_loss,
    leaky_relu,
    log_softmax,
    mse_loss,
    nll_loss,
    pad,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from tinycnn.ops.conv import conv2d, conv_algorithm  # noqa: F401, E402
from tinycnn.nn.dropout import dropout, dropout2d  # noqa: F401, E402
from tinycnn.nn.linear import linear  # noqa: F401, E402
from tinycnn.ops.batchnorm import batch_norm  # noqa: F401, E402
from tinycnn.ops.pooling import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d  # noqa: F401, E402
from tinycnn.nn.drop_path import drop_path  # noqa: F401, E402
