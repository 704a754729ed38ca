"""Training a model on CIFAR: the loop, its schedule, logging and checkpoints.

    from tinycnn.train import TrainConfig, fit
    history = fit(TrainConfig(model="resnet20", epochs=5), out="runs/resnet20")

Every epoch: SGD over the (augmented, shuffled) training set with a tqdm bar showing loss,
accuracy and img/s; evaluation on the test set; a row in metrics.csv / metrics.json; the curves
in curves.png; and a checkpoint (model, optimizer, scheduler, RNG state, epoch, history) written
atomically to checkpoint.npz. `fit(..., resume=True)` continues from that checkpoint and ends
with the same weights as a run that was never interrupted.
"""
import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinycnn import models
from tinycnn.atomic_file import atomic_write, write_text
from tinycnn.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from tinycnn.data import DataLoader, EvalTransform, TrainTransform, load_cifar10, load_cifar100, stratified_subset
from tinycnn.data.augment import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD
from tinycnn.data.resize import resize_images
from tinycnn.machine import matmul_gflops
from tinycnn.nn import functional as F
from tinycnn.nn.utils.fusion import fuse
from tinycnn.optim import SGD
from tinycnn.optim.lr_scheduler import CosineAnnealingLR, LinearLR, MultiStepLR, OneCycleLR, SequentialLR
from tinycnn.plots import plot_curves
from tinycnn.random import manual_seed
from tinycnn.tensor import Tensor, no_grad

CHECKPOINT = "checkpoint.npz"


@dataclass
class TrainConfig:
    """Everything that decides a run's result (the defaults are the `fast` recipe)."""

    model: str = "resnet9_fast"
    recipe: str = "fast"  # the preset these settings started from (a record; the fields below rule)
    dataset: str = "cifar10"  # or "cifar100"
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.2  # peak learning rate
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4  # on conv/linear weights only, never on BN parameters or biases
    label_smoothing: float = 0.2
    schedule: str = "onecycle"  # onecycle | cosine | multistep
    warmup_epochs: float = 2.0  # onecycle: rise to the peak; cosine: linear warm-up
    milestones: tuple = ()  # multistep: iterations at which lr is divided by 10
    padding: int = 4  # random-crop padding at 32x32 (0: no crop); scaled with the resolution
    resolution: int = 0  # image size fed to the model; 0: the model's own (32 for CIFAR models)
    flip: bool = True
    cutout: int = 0  # cutout square size (0: none)
    train_size: int = 0  # 0: the whole training set; N: a stratified subset of N images
    shuffle_labels: bool = False  # train on randomly permuted labels: a control that nothing real is learnt
    seed: int = 0
    eval_batch_size: int = 1000


RECIPES = {
    "fast": {},
    # He et al. 2016, CIFAR-10 ResNets: 164 epochs (64k iterations at batch 128), lr 0.1 divided by 10
    # at 32k and 48k iterations, weight decay 1e-4, plain momentum, no label smoothing.
    "resnet-paper": dict(model="resnet20", epochs=164, batch_size=128, lr=0.1, nesterov=False, weight_decay=1e-4,
                         label_smoothing=0.0, schedule="multistep", milestones=(32000, 48000), warmup_epochs=0.0),
    # The same network in 14 epochs (its accuracy and time: README):
    # one-cycle with 3 epochs of rising lr up to 0.2, Nesterov, weight decay 5e-4, label smoothing 0.1.
    "resnet20-short": dict(model="resnet20", epochs=14, batch_size=128, lr=0.2, weight_decay=5e-4,
                           label_smoothing=0.1, schedule="onecycle", warmup_epochs=3.0),
    # The shared recipe of the small models (models/cifar_small.py): the same settings for every
    # family, so their accuracies compare. Why: one-cycle reaches the best accuracy a fixed short
    # budget allows; 8 epochs let ResNet-20 (and models up to 25% slower) finish in about 30 minutes
    # on 2 cores; batch 128 and crop + flip are the ResNet paper's; Nesterov, weight decay 5e-4 and
    # label smoothing 0.1 are what resnet20-short measured well with. No setting is tuned per model.
    "cifar-small": dict(model="resnet20", epochs=8, batch_size=128, lr=0.2, weight_decay=5e-4,
                        label_smoothing=0.1, schedule="onecycle", warmup_epochs=1.6),
}


def make_config(recipe: str = "fast", **overrides) -> TrainConfig:
    """A recipe's settings with `overrides` (None values are ignored) on top."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known recipes: {', '.join(RECIPES)}")
    return TrainConfig(**{**RECIPES[recipe], "recipe": recipe,
                          **{k: v for k, v in overrides.items() if v is not None}})


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


# ---------------------------------------------------------------- the pieces

def load_dataset(config: TrainConfig, data=None):
    """The dataset named by the config, with the training set cut to a stratified subset if asked."""
    loaders = {"cifar10": load_cifar10, "cifar100": load_cifar100}
    if config.dataset not in loaders:
        raise ValueError(f"unknown dataset {config.dataset!r}; expected one of {', '.join(loaders)}")
    dataset = loaders[config.dataset](data)
    if config.train_size:
        keep = stratified_subset(dataset.y_train, config.train_size, np.random.default_rng(config.seed))
        dataset.x_train, dataset.y_train = dataset.x_train[keep], dataset.y_train[keep]
    size = training_resolution(config)
    if size != 32:  # bilinear, once, on the uint8 images
        dataset.x_train, dataset.x_test = resize_images(dataset.x_train, size), resize_images(dataset.x_test, size)
    if config.shuffle_labels:  # the images keep their order; their labels are dealt out again at random
        dataset.y_train = np.random.default_rng([config.seed, 1]).permutation(dataset.y_train)
    return dataset


def training_resolution(config: TrainConfig) -> int:
    """config.resolution, or else the model's registered input size if that is CIFAR-scale (an
    EfficientNet scaled in resolution), else 32: an ImageNet model trains on CIFAR's own pixels."""
    if config.resolution:
        return config.resolution
    size = models.input_size(config.model)[1]
    return size if size <= 64 else 32


def _normalization(config: TrainConfig):
    return (CIFAR10_MEAN, CIFAR10_STD) if config.dataset == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)


def build_model(config: TrainConfig, num_classes: int):
    """The model to train, fused for training (`fuse`): each ReLU that alone reads a BatchNorm's
    output is applied in the BatchNorm's pass, the same function and state_dict in fewer passes."""
    size = training_resolution(config)
    example = Tensor(np.zeros((1, 3, size, size), np.float32))
    return fuse(models.create(config.model, num_classes=num_classes), example, inplace=True)


def make_loaders(config: TrainConfig, dataset):
    mean, std = _normalization(config)
    train = DataLoader(dataset.x_train, dataset.y_train, config.batch_size, shuffle=True, drop_last=True,
                       transform=TrainTransform(round(config.padding * training_resolution(config) / 32), config.flip,
                                                config.cutout, mean, std))
    if len(train) == 0:
        raise ValueError(f"batch size {config.batch_size} is larger than the {len(dataset.x_train)} training images")
    test = DataLoader(dataset.x_test, dataset.y_test, config.eval_batch_size, transform=EvalTransform(mean, std))
    return train, test


def param_groups(model) -> list[dict]:
    """Weight decay on conv and linear weights (ndim > 1) only, not on BN parameters or biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(config: TrainConfig, model) -> SGD:
    return SGD(param_groups(model), lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
               weight_decay=config.weight_decay)


def make_scheduler(config: TrainConfig, optimizer, steps_per_epoch: int):
    """Stepped once per batch."""
    total = config.epochs * steps_per_epoch
    warmup = min(round(config.warmup_epochs * steps_per_epoch), total // 2)  # at most half of the run
    warmup = warmup if warmup >= 2 else 0  # a one-step rise is no rise (and divides by zero in OneCycleLR)
    if config.schedule == "onecycle":  # linear rise to lr, then linear decay to ~0 (momentum held fixed)
        return OneCycleLR(optimizer, config.lr, total_steps=total, pct_start=min(1.0, warmup / total),
                          anneal_strategy="linear", cycle_momentum=False, div_factor=10.0, final_div_factor=100.0)
    if config.schedule == "cosine":
        cosine = CosineAnnealingLR(optimizer, T_max=max(1, total - warmup))
        if not warmup:
            return cosine
        return SequentialLR(optimizer, [LinearLR(optimizer, 0.1, 1.0, warmup), cosine], milestones=[warmup])
    if config.schedule == "multistep":
        return MultiStepLR(optimizer, milestones=list(config.milestones), gamma=0.1)
    raise ValueError(f"unknown schedule {config.schedule!r}; expected onecycle, cosine or multistep")


def evaluate(model, loader, tta: bool = False) -> dict:
    """Loss, accuracy and every prediction of `model` on `loader` (eval mode, no gradients).
    tta=True: test-time augmentation, the logits averaged over each image and its mirror image."""
    model.eval()
    total_loss, predictions = 0.0, []
    with no_grad():
        for x, y in loader:
            logits = model(x)  # (B, K)
            if tta:
                logits = (logits + model(Tensor(x.data[:, :, :, ::-1].copy()))) * 0.5  # (B, K)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum").item())
            predictions.append(logits.data.argmax(axis=1))
    predictions = np.concatenate(predictions)
    labels = loader.labels
    return {"loss": total_loss / len(labels), "acc": float(np.mean(predictions == labels)), "predictions": predictions}


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


# ---------------------------------------------------------------- the loop

def train_one_epoch(model, loader, optimizer, scheduler, config: TrainConfig, epoch: int,
                    progress: bool = True) -> dict:
    """One pass over the training set; raises TrainingDiverged on a NaN/inf loss."""
    from tqdm import tqdm

    model.train()
    seen = correct = 0
    loss_sum = data_seconds = 0.0
    start = time.perf_counter()
    batches = iter(loader)
    bar = tqdm(total=len(loader), desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=not progress,
               dynamic_ncols=True, leave=True)
    for step in range(1, len(loader) + 1):
        t = time.perf_counter()
        x, y = next(batches)
        data_seconds += time.perf_counter() - t
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
        value = float(loss.item())
        if not math.isfinite(value):
            bar.close()
            raise TrainingDiverged(f"the loss became {value} at epoch {epoch}, step {step}/{len(loader)}")
        optimizer.zero_grad()
        loss.backward()
        # log the lr this step used: after the run's last step the scheduler has moved past its end
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        seen += len(y)
        loss_sum += value * len(y)
        correct += int(np.sum(logits.data.argmax(axis=1) == y))
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}%",
                        img_s=f"{seen / (time.perf_counter() - start):.0f}", refresh=False)
        bar.update()
    bar.close()
    seconds = time.perf_counter() - start
    return {"lr": float(lr), "train_loss": loss_sum / seen, "train_acc": correct / seen, "train_seconds": seconds,
            "data_seconds": data_seconds, "img_per_s": seen / seconds}


def fit(config: TrainConfig, out, data=None, resume: bool = False, progress: bool = True,
        on_epoch_end=None) -> list[dict]:
    """Train `config.model` as `config` says, writing everything into the folder `out`;
    returns the per-epoch metrics. resume=True continues the run saved in `out`.
    on_epoch_end(epoch, metrics) is called after each epoch's checkpoint is written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out / CHECKPOINT
    if resume:
        checkpoint = load_checkpoint(checkpoint_path)
        _check_same_config(checkpoint["config"], config, checkpoint_path)
    elif checkpoint_path.exists():
        raise CheckpointError(f"{out} already holds a run ({checkpoint_path}); continue it with --resume, "
                              "or choose another --out")
    manual_seed(config.seed)
    dataset = load_dataset(config, data)
    train_loader, test_loader = make_loaders(config, dataset)
    model = build_model(config, len(dataset.classes))
    optimizer = make_optimizer(config, model)
    scheduler = make_scheduler(config, optimizer, len(train_loader))
    history, start_epoch = [], 0
    if resume:
        start_epoch = restore(checkpoint, model, optimizer, scheduler)
        history = list(checkpoint["history"])
    else:
        write_text(out / "config.json", json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    elapsed = history[-1]["elapsed_seconds"] if history else 0.0
    gflops = round(matmul_gflops(n=1024, repeat=3), 1)  # this machine's speed, beside each epoch's times
    for epoch in range(start_epoch + 1, config.epochs + 1):
        metrics = train_one_epoch(model, train_loader, optimizer, scheduler, config, epoch, progress)
        t = time.perf_counter()
        test = evaluate(model, test_loader)
        eval_seconds = time.perf_counter() - t
        elapsed += metrics["train_seconds"] + eval_seconds
        history.append({"epoch": epoch, **metrics,
                        "test_loss": test["loss"], "test_acc": test["acc"], "eval_seconds": eval_seconds,
                        "elapsed_seconds": elapsed, "matmul_gflops": gflops})
        save_checkpoint(checkpoint_path, model, optimizer, scheduler, epoch, history, dataclasses.asdict(config))
        write_metrics(history, out)
        if progress:
            h = history[-1]
            print(f"epoch {epoch}/{config.epochs}: train loss {h['train_loss']:.3f} acc {100 * h['train_acc']:.2f}% | "
                  f"test loss {h['test_loss']:.3f} acc {100 * h['test_acc']:.2f}% | {h['img_per_s']:.0f} img/s | "
                  f"{elapsed:.0f} s", flush=True)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history[-1])
    return history


def _check_same_config(saved: dict, config: TrainConfig, path: Path):
    current = dataclasses.asdict(config)
    differ = {k: (saved.get(k), v) for k, v in current.items() if _plain(saved.get(k)) != _plain(v)}
    if differ:
        listed = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise CheckpointError(f"cannot resume {path}: the run was started with other settings ({listed}); "
                              "resume with the same settings or start a new run in another --out")


def _plain(value):
    return list(value) if isinstance(value, tuple | list) else value


def write_metrics(history: list[dict], out: Path):
    """metrics.json and metrics.csv (one row per epoch) and curves.png in `out`."""
    write_text(out / "metrics.json", json.dumps(history, indent=2) + "\n")
    with atomic_write(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    plot_curves(history, out / "curves.png")
