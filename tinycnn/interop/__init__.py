"""The way in and the way out between tinycnn and PyTorch.

- `to_torch(model)`: a tinycnn model as a torch.nn.Module with the same weights and
  the same outputs, for training it further on GPUs (translate.py says how);
  `to_torch(state_dict)` converts a state_dict alone.
- `from_torch(torch_model_or_state_dict)`: the weights the other way. A tinycnn model
  whose twin exists in torchvision or timm (see `tinycnn.models`) has the same
  state_dict keys and shapes, so

    import torchvision
    tv = torchvision.models.resnet50(weights="IMAGENET1K_V2")
    model = tinycnn.models.create("resnet50", num_classes=1000)
    model.load_state_dict(tinycnn.interop.from_torch(tv))

gives the same logits (in eval mode). PyTorch is imported only when needed.
"""
from __future__ import annotations

from collections.abc import Mapping

from tinycnn.interop.state_dict import from_torch as _state_dict_from_torch
from tinycnn.interop.state_dict import state_dict_to_torch
from tinycnn.interop.translate import TranslationError, Translator  # noqa: F401
from tinycnn.nn import Module


def to_torch(model):
    """tinycnn Module -> torch.nn.Module (same module tree and state_dict keys, weights,
    dtypes, train/eval mode, outputs); a tinycnn state_dict -> name -> torch.Tensor."""
    if isinstance(model, Mapping):
        return state_dict_to_torch(model)
    if not isinstance(model, Module):
        raise TypeError(f"to_torch: expected a tinycnn.nn.Module or a state_dict, got {type(model).__name__}")
    import torch

    return Translator(torch).module(model, "")


def from_torch(state_dict):
    """A torch.nn.Module's or a PyTorch state_dict's entries as NumPy arrays (copies), for
    `model.load_state_dict(...)`."""
    if hasattr(state_dict, "state_dict") and callable(state_dict.state_dict):
        state_dict = state_dict.state_dict()
    return _state_dict_from_torch(state_dict)
