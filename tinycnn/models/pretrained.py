"""Shipped weights of the small CIFAR-10 models, torchvision-style.

    model = tinycnn.models.create("resnet20", pretrained=True)  # eval() it before testing
    tinycnn.models.list_pretrained()              # the names that have weights
    tinycnn.models.pretrained_info("resnet20")    # test accuracy, normalisation, recipe, command, sha256...

Everything lives in one folder of the package, `tinycnn/pretrained/`:
    manifest.json     one entry per model: what `pretrained_info` returns
    NAME.npz          the weights (`tinycnn.save` format; float16 where that moved the test
                      accuracy by at most 0.05 points, else float32)
    NAME.csv          the training run's per-epoch log
The manifest holds each weight file's sha256: a missing, truncated or altered file raises
`PretrainedError` naming the file and both hashes, never loads half-right weights.
`tinycnn pretrained add RUN_FOLDER` (tinycnn/publish.py) writes these entries from a finished run.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from tinycnn.serialization import load

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
MANIFEST = "manifest.json"


class PretrainedError(RuntimeError):
    """Shipped weights are missing, damaged, or do not fit the model asked for."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: Path | None = None) -> dict:
    """name -> info, from `directory`/manifest.json ({} when nothing is shipped yet)."""
    path = Path(directory or PRETRAINED_DIR) / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise PretrainedError(f"cannot read the pretrained manifest {path}: {error}") from None
    if not isinstance(manifest, dict):
        raise PretrainedError(f"the pretrained manifest {path} must hold a JSON object, got {type(manifest).__name__}")
    return manifest


def list_pretrained() -> list[str]:
    """Sorted names of the models that ship trained weights."""
    return sorted(read_manifest())


def pretrained_info(name: str) -> dict:
    """What is known about `name`'s shipped weights: test_accuracy (percent, 10,000 CIFAR-10 test
    images, no test-time augmentation), mean and std (per-channel normalisation of [0, 1] pixels),
    resolution (the image side it was trained and tested at: CIFAR's images resized up to it, bilinear,
    where it is over 32), recipe, epochs, train_seconds, command, sha256, macs (counted at that
    resolution), and more (a copy: changing it changes nothing)."""
    manifest = read_manifest()
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none yet"
        raise KeyError(f"no pretrained weights for {name!r}; models with weights: {known}")
    return copy.deepcopy(manifest[name])


def load_pretrained_state(name: str, directory: Path | None = None) -> dict:
    """The state_dict (name -> ndarray, as stored) of `name`'s shipped weights, after checking the
    file's sha256 against the manifest."""
    directory = Path(directory or PRETRAINED_DIR)
    manifest = read_manifest(directory)
    if name not in manifest:
        raise PretrainedError(f"no pretrained weights for {name!r} in {directory / MANIFEST}; "
                              f"models with weights: {', '.join(sorted(manifest)) or 'none yet'}")
    info = manifest[name]
    path = directory / info["file"]
    if not path.exists():
        raise PretrainedError(f"the weight file {path} of {name!r} is missing (expected sha256 {info['sha256']})")
    actual = sha256_of(path)
    if actual != info["sha256"]:
        raise PretrainedError(f"the weight file {path} of {name!r} is damaged: its sha256 is {actual}, "
                              f"the manifest expects {info['sha256']}")
    return load(path)["model"]


def load_pretrained_(model, name: str) -> None:
    """Copy `name`'s shipped weights into `model` in place (load_state_dict casts float16 to the
    model's dtype)."""
    model.load_state_dict(load_pretrained_state(name))
