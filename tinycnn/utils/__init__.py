"""`tinycnn.utils`: as PyTorch's `torch.utils`, the home of `tinycnn.utils.data`."""
from tinycnn.utils import data  # noqa: F401
