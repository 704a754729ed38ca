"""`tinycnn.nn.utils`: helpers on a model's parameters, as PyTorch's `torch.nn.utils`."""
from tinycnn.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: F401
