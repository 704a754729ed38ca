"""`tinycnn.save(obj, path)` and `tinycnn.load(path)`: checkpoints without pickle.

`obj` is a nested structure of dicts (str or int keys), lists, tuples, NumPy
arrays (Tensors are stored as their arrays), NumPy scalars, Python numbers,
strings, bools and None -- e.g. {"model": model.state_dict(), "optimizer":
opt.state_dict(), "epoch": 3}. The file is a NumPy .npz archive: one entry
per array, plus a JSON manifest that describes the structure and points at
the arrays. Loading never unpickles anything (allow_pickle=False), so a
checkpoint cannot run code. The write is atomic: a temporary file in the same
folder is written, flushed to disk, then renamed over `path`, so a crash
leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from tinycnn.atomic_file import atomic_write
from tinycnn.device import check_cpu
from tinycnn.tensor import Tensor

FORMAT, VERSION = "tinycnn-checkpoint", 1
MANIFEST = "__tinycnn_manifest__"


def _encode(obj, arrays: dict, where: str):
    """The JSON node for `obj`; arrays go into `arrays` under fresh names."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray | np.generic):
        if obj.dtype.kind in "OV":
            raise TypeError(
                f"tinycnn.save: cannot store an array of dtype {obj.dtype} at {where} (it would need pickle)"
            )
        name = f"a{len(arrays)}"
        arrays[name] = np.asarray(obj)
        return {"scalar" if isinstance(obj, np.generic) else "array": name}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise TypeError(f"tinycnn.save: dict keys must be str or int, got {key!r} at {where}")
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, list | tuple):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(
        f"tinycnn.save: cannot store a {type(obj).__name__} at {where}; expected dicts, lists, tuples, "
        "arrays, Tensors, numbers, strings, bools or None"
    )


def _decode(node, arrays: dict):
    if isinstance(node, dict):
        ((kind, value),) = node.items()
        if kind == "dict":
            return {key: _decode(v, arrays) for key, v in value}
        if kind == "list":
            return [_decode(v, arrays) for v in value]
        if kind == "tuple":
            return tuple(_decode(v, arrays) for v in value)
        if kind == "array":
            return arrays[value]
        if kind == "scalar":
            return arrays[value][()]
        raise ValueError(f"unknown manifest node {kind!r}")
    return node


def save(obj, path) -> None:
    """Write `obj` (see the module docstring) to `path` atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, arrays, "obj")
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root})
    arrays[MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)  # no object arrays: _encode refused them


def load(path, map_location=None, weights_only=None):
    """Read what `save` wrote. Raises ValueError naming the file when it is
    truncated, corrupt, or not a tinycnn checkpoint. PyTorch's `map_location` may be
    None or the CPU (any other device is an error); `weights_only` is accepted, and a
    tinycnn checkpoint only ever holds arrays and plain data (no pickle)."""
    if map_location is not None:
        check_cpu("tinycnn.load: map_location", map_location)
    path = Path(path)
    expected = "a tinycnn checkpoint (a NumPy .npz archive written by tinycnn.save)"
    if not path.is_file():
        raise FileNotFoundError(f"tinycnn.load: no such file: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"tinycnn.load: {path} is not {expected}, or it is truncated or corrupt: {e}") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"tinycnn.load: {path} is not {expected}: it holds a single .npy array")
    with archive:
        if MANIFEST not in archive.files:
            raise ValueError(f"tinycnn.load: {path} is an .npz archive but not {expected}: it has no manifest")
        try:
            arrays = {name: archive[name] for name in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"tinycnn.load: {path} is truncated or corrupt ({e}); expected {expected}") from e
    try:
        manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode("utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT!r}")
        if manifest.get("version") != VERSION:
            raise ValueError(f"version {manifest.get('version')!r}, this tinycnn reads version {VERSION}")
        return _decode(manifest["root"], arrays)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        raise ValueError(f"tinycnn.load: {path} has a broken manifest ({e}); expected {expected}") from e
