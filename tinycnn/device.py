"""Devices as PyTorch names them, for scripts written against PyTorch.

tinycnn computes on the CPU only, so `tinycnn.device("cpu")` is the one device
that works; `Module.to(device)` and `Tensor.to(device)` accept it and change
nothing. Any other device ("cuda", "mps", ...) is an error at `.to()` that says so,
rather than a silent CPU run the user believes is on a GPU.
"""
from __future__ import annotations

import numpy as np

_KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "mtia")


class device:
    """torch.device: `device("cpu")`, `device("cuda:0")` or `device("cuda", 0)`."""

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, number = type.partition(":")
        if name not in _KNOWN_TYPES or (number and not number.isdigit()):
            raise RuntimeError(f"device: expected one of {_KNOWN_TYPES} (optionally ':N'), got {type!r}")
        self.type = name
        self.index = int(number) if number else index

    def __eq__(self, other):
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = device("cpu")


def check_cpu(where: str, target) -> device:
    """The device `target` names, which must be the CPU; else a RuntimeError naming what came."""
    dev = device(target)
    if dev.type != "cpu":
        raise RuntimeError(
            f"{where}: tinycnn runs on the CPU only; expected device 'cpu', got {str(dev)!r}. "
            "To train on a GPU, move the model to PyTorch: tinycnn.interop.to_torch(model)"
        )
    return dev


def _is_device(arg) -> bool:
    return isinstance(arg, device) or (isinstance(arg, str) and arg.partition(":")[0] in _KNOWN_TYPES)


def parse_to(where: str, *args, **kwargs):
    """The dtype (or None) of a call `to(device)`, `to(dtype)`, `to(device, dtype)`,
    `to(tensor)` or `to(device=..., dtype=..., non_blocking=..., copy=...)` as PyTorch takes
    them; a device must be the CPU. non_blocking and copy are accepted and have no effect."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"{where}: unexpected keyword arguments {sorted(unknown)}")
    dtype, target = kwargs.get("dtype"), kwargs.get("device")
    args = list(args)
    if args and not isinstance(args[0], type | np.dtype) and hasattr(args[0], "shape"):  # to(other_tensor)
        dtype = args.pop(0).dtype
    elif args and (_is_device(args[0]) or isinstance(args[0], int) and not isinstance(args[0], bool)):
        target = args.pop(0)
    elif args and isinstance(args[0], str):
        raise RuntimeError(f"{where}: expected a device such as 'cpu' or a dtype, got {args[0]!r}")
    if args and not isinstance(args[0], bool):  # to(device, dtype)
        dtype = args.pop(0)
    if target is not None:
        check_cpu(where, f"cuda:{target}" if isinstance(target, int) else target)
    return None if dtype is None else np.dtype(dtype)
