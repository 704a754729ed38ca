"""State dicts between PyTorch and tinycnn: name -> torch.Tensor <-> name -> ndarray.

Every entry is converted, BatchNorm's `num_batches_tracked` counter included:
tinycnn's BatchNorm keeps it too (a 0-d int64 buffer), so the keys correspond one
to one in both directions. PyTorch is imported only when a torch tensor is made.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np


def from_torch(state_dict: Mapping) -> OrderedDict[str, np.ndarray]:
    """PyTorch state_dict (name -> torch.Tensor) -> OrderedDict name -> ndarray
    (copies on the CPU, same dtypes and shapes, 0-d counters included)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if not hasattr(value, "detach"):
            raise TypeError(f"from_torch: {key!r} is a {type(value).__name__}, expected a torch.Tensor")
        out[key] = value.detach().cpu().numpy().copy()
    return out


def state_dict_to_torch(state_dict: Mapping) -> OrderedDict:
    """tinycnn state_dict (name -> ndarray) -> OrderedDict name -> torch.Tensor
    (copies, same dtypes), for `torch_model.load_state_dict(...)`."""
    import torch

    out = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"to_torch: {key!r} is a {type(value).__name__}, expected a NumPy array")
        out[key] = torch.from_numpy(np.array(value, copy=True))
    return out
