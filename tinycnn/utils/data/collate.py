"""default_collate: a list of dataset items -> one batch, as PyTorch's.

Tensors and NumPy arrays are stacked along a new first dimension into a Tensor;
Python ints become an int64 Tensor, floats a float32 one (PyTorch gives float64 for
floats; tinycnn's default dtype is float32); strings stay a list; tuples, lists and
dicts are collated field by field.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tinycnn.tensor import DEFAULT_DTYPE, Tensor


def _stack(batch: list, indices: list[int]) -> Tensor:
    arrays = [item.data if isinstance(item, Tensor) else np.asarray(item) for item in batch]
    shapes = [a.shape for a in arrays]
    if len(set(shapes)) != 1:
        expected = shapes[0]
        odd = [(i, s) for i, s in zip(indices, shapes) if s != expected]
        raise RuntimeError(
            f"default_collate: every item of a batch must have the same shape to be stacked; "
            f"expected {expected} (item {indices[0]}), got " + ", ".join(f"{s} (item {i})" for i, s in odd)
        )
    return Tensor(np.stack(arrays), _raw=True)


def collate(batch: list, indices: list[int]):
    """The batch of `batch`'s items, whose dataset indices are `indices` (named in errors)."""
    first = batch[0]
    if isinstance(first, Tensor | np.ndarray | np.number | np.bool_):
        return _stack(batch, indices)
    if isinstance(first, bool | int):
        return Tensor(np.asarray(batch, dtype=np.int64), _raw=True)
    if isinstance(first, float):
        return Tensor(np.asarray(batch, dtype=DEFAULT_DTYPE), _raw=True)
    if isinstance(first, str | bytes):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: collate([item[key] for item in batch], indices) for key in first}
    if isinstance(first, Sequence):
        lengths = {len(item) for item in batch}
        if len(lengths) != 1:
            raise RuntimeError(f"default_collate: every item of a batch must have the same number of fields, "
                               f"got lengths {sorted(lengths)} (items {indices})")
        fields = [collate(list(field), indices) for field in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: items must be tensors, NumPy arrays, numbers, strings, or tuples, lists "
                    f"or dicts of them; got {type(first).__name__}")


def default_collate(batch: list):
    """A list of items -> one batch (see the module's docstring)."""
    return collate(batch, list(range(len(batch))))
