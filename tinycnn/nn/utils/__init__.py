"""`tinycnn.nn.utils`: helpers on a model's parameters, as PyTorch's `torch.nn.utils`."""
from tinycnn.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: F401
from tinycnn.nn.utils import fusion  # noqa: F401  (fuse, fuse_conv_bn_eval, fuse_conv_bn_weights)
