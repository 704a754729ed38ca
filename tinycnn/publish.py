"""Turning a finished training run into shipped weights (`tinycnn pretrained add RUN_FOLDER`).

    info = publish_run("runs/cifar-small/resnet20-s0")   # -> tinycnn/pretrained/resnet20.npz, .csv, manifest entry

What it does, so that `create(name, pretrained=True)` gives exactly what the manifest says:
1. evaluates the run's final weights on the 10,000 test images (no test-time augmentation);
2. rounds them to float16 and evaluates again: float16 is kept if the accuracy moved by at most
   0.05 points (half the size in git), else float32;
3. records the stored weights' logits on the first SAMPLE_IMAGES test images (the quick test
   compares against them), the run's settings, its time and the command that reproduces it;
4. writes NAME.npz and updates manifest.json, each file atomically;
5. adds the run to the shipped record of runs (`record_run`).

`record_run(run)` (`tinycnn pretrained add RUN --log-only`) keeps only a run's facts and log, for the
runs whose weights do not ship (second seeds, controls): runs.json, keyed by the run folder's name,
and logs/KEY.csv. `tinycnn results` without a folder and the lessons read that record.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from tinycnn import models
from tinycnn.atomic_file import copy_file, write_text
from tinycnn.checkpoint import CheckpointError, load_checkpoint
from tinycnn.models import pretrained
from tinycnn.models.pretrained import MANIFEST, read_manifest, sha256_of
from tinycnn.results import LOGS, RUNS_RECORD, read_run, read_runs_record
from tinycnn.serialization import save
from tinycnn.summary import summary
from tinycnn.tensor import Tensor, no_grad
from tinycnn.train import (CHECKPOINT, RECIPES, TrainConfig, _normalization, evaluate, load_dataset, make_config,
                           make_loaders, training_resolution)

SAMPLE_IMAGES = 16
FLOAT16_TOLERANCE = 0.05  # accuracy points float16 rounding may cost


def publish_run(run: Path | str, data=None, directory: Path | None = None) -> dict:
    """Add the finished run in folder `run` to the shipped weights of its model (replacing earlier
    ones: `create(model, pretrained=True)` finds weights by the model's name); returns the manifest
    entry."""
    run, directory = Path(run), Path(directory or pretrained.PRETRAINED_DIR)
    checkpoint = load_checkpoint(run / CHECKPOINT)
    config = _config_of(checkpoint["config"])
    history = checkpoint["history"]
    if len(history) != config.epochs:
        raise CheckpointError(f"{run} is not finished: {len(history)} of {config.epochs} epochs; "
                              f"finish it with `tinycnn train --out {run} --resume`")
    name = config.model
    dataset = load_dataset(dataclasses.replace(config, train_size=0), data)
    _, test_loader = make_loaders(config, dataset)
    state32 = checkpoint["model"]
    state16 = {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in state32.items()}
    acc32 = evaluate(_model(config, len(dataset.classes), state32), test_loader)["acc"]
    model16 = _model(config, len(dataset.classes), state16)
    acc16 = evaluate(model16, test_loader)["acc"]
    use16 = abs(acc16 - acc32) * 100 <= FLOAT16_TOLERANCE
    state, acc = (state16, acc16) if use16 else (state32, acc32)
    model = model16 if use16 else _model(config, len(dataset.classes), state32)

    directory.mkdir(parents=True, exist_ok=True)
    save({"model": state}, directory / f"{name}.npz")
    log = record_run(run, directory)["log"]
    info = _describe(name, config, history, model, test_loader, acc, acc32, "float16" if use16 else "float32")
    info["log"] = log
    info["sha256"] = sha256_of(directory / info["file"])
    manifest = read_manifest(directory)
    manifest[name] = info
    write_text(directory / MANIFEST, json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return info


def record_run(run: Path | str, directory: Path | None = None) -> dict:
    """Add the finished run in folder `run` to the shipped record of runs (runs.json, under the
    folder's name, and its per-epoch log as logs/NAME.csv); returns its entry."""
    run, directory = Path(run), Path(directory or pretrained.PRETRAINED_DIR)
    facts = read_run(run)
    if facts is None:
        raise CheckpointError(f"{run} holds no finished run (config.json and a metrics.json of every epoch); "
                              f"finish it with `tinycnn train --out {run} --resume`")
    config = _config_of(json.loads((run / "config.json").read_text()))
    (directory / LOGS).mkdir(parents=True, exist_ok=True)
    log = f"{LOGS}/{run.name}.csv"
    copy_file(run / "metrics.csv", directory / log)
    record = read_runs_record(directory)
    record[run.name] = {**facts, "command": command_of(config), "log": log}
    write_text(directory / RUNS_RECORD, json.dumps(dict(sorted(record.items())), indent=2) + "\n")
    return record[run.name]


def evaluate_shipped(name: str, data=None) -> float:
    """Test accuracy in percent of the shipped weights of `name` on the whole test set, prepared as
    its run's recipe prepares it (normalisation, resolution): what `test_accuracy` records."""
    info = pretrained.pretrained_info(name)
    config = make_config(info["recipe"], model=info["model"])
    _, test = make_loaders(config, load_dataset(config, data))
    return 100 * evaluate(models.create(name, pretrained=True), test)["acc"]


def _config_of(saved: dict) -> TrainConfig:
    """A TrainConfig from its JSON form (lists back to tuples)."""
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def _model(config: TrainConfig, num_classes: int, state: dict):
    model = models.create(config.model, num_classes=num_classes)
    model.load_state_dict(state)
    return model.eval()


def _describe(name, config, history, model, test_loader, acc, acc32, dtype) -> dict:
    """The manifest entry of a run (all but the file's hash)."""
    mean, std = _normalization(config)
    n = len(test_loader.labels)
    size = training_resolution(config)  # MACs at the size the model trained and is tested at
    s = summary(model, (3, size, size), print_table=False)
    x = next(iter(test_loader))[0].data[:SAMPLE_IMAGES]  # (SAMPLE_IMAGES, 3, size, size), normalised
    with no_grad():
        logits = model(Tensor(x)).data  # (SAMPLE_IMAGES, num_classes)
    return {
        "model": config.model, "num_classes": int(logits.shape[1]), "dataset": config.dataset,
        "test_accuracy": round(100 * acc, 2), "test_images": n,
        "standard_error": round(100 * math.sqrt(acc * (1 - acc) / n), 2),  # binomial, percentage points
        "float32_test_accuracy": round(100 * acc32, 2), "dtype": dtype,
        "mean": list(mean), "std": list(std),
        "resolution": size,  # the image side it takes: CIFAR's 32 px resized (bilinear) to it where larger
        "recipe": config.recipe, "epochs": config.epochs, "seed": config.seed,
        "train_seconds": round(history[-1]["elapsed_seconds"], 1),  # training + per-epoch evaluation
        "img_per_s": round(float(np.median([h["img_per_s"] for h in history])), 1),
        "matmul_gflops": history[-1].get("matmul_gflops"),  # the machine's speed, to compare times across machines
        "params": s.total_params, "macs": s.total_macs,
        "command": command_of(config), "file": f"{name}.npz",
        "sample_predictions": logits.argmax(axis=1).tolist(),
        "sample_logits": np.round(logits.astype(np.float64), 4).tolist(),
        "published": time.strftime("%Y-%m-%d"),
    }


# the train options that set a boolean setting away from its default
_BOOLEAN_OPTIONS = {("nesterov", False): "--no-nesterov", ("shuffle_labels", True): "--shuffle-labels"}


def command_of(config: TrainConfig) -> str:
    """The `tinycnn train` command line that repeats the run: its recipe and model, and every
    setting that differs from that recipe."""
    preset = {**dataclasses.asdict(TrainConfig()), **RECIPES.get(config.recipe, {})}
    parts = ["tinycnn train", f"--recipe {config.recipe}", f"--model {config.model}"]
    unsettable = []
    for key, value in dataclasses.asdict(config).items():
        if key in ("model", "recipe", "eval_batch_size") or _same(value, preset.get(key)):
            continue
        if isinstance(value, bool):
            if (key, value) in _BOOLEAN_OPTIONS:
                parts.append(_BOOLEAN_OPTIONS[key, value])
            else:
                unsettable.append(f"{key}={value}")
            continue
        shown = ",".join(map(str, value)) if isinstance(value, tuple | list) else value
        parts.append(f"--{key.replace('_', '-')} {shown}")
    note = f"  # and {', '.join(unsettable)}: no command-line option" if unsettable else ""
    return " ".join(parts) + note


def _same(a, b) -> bool:
    return (list(a) if isinstance(a, tuple | list) else a) == (list(b) if isinstance(b, tuple | list) else b)
