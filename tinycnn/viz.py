"""Visualising squeeze-and-excitation channel attention (SENet paper, Fig. 6).

Every `nn.SqueezeExcitation` keeps its gate values s (N, C) of the last
forward in `last_excitation`. Running a trained SE network over test images
and averaging s per true class shows what the paper found on ImageNet:
early SE blocks weigh the channels alike for every class (class-agnostic
features), late blocks differ from class to class (class-specific ones).

    means = collect_excitations(model, x_test, y_test, num_classes=10)
    spread = class_spread(means)                  # {block: std across classes}
    plot_excitations(means, classes, "se.png")   # the figure, as a PNG

`train_or_load_se_resnet` gives a small trained SE-ResNet (a checkpoint when
one exists, else a short run of `tinycnn.train`'s loop, saved for next time).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import tinycnn
from tinycnn import nn
from tinycnn.atomic_file import save_figure
from tinycnn.data.augment import CIFAR10_MEAN, CIFAR10_STD, normalize
from tinycnn.models.resnet import BasicBlock, CifarResNet
from tinycnn.tensor import Tensor, no_grad


def se_blocks(model: nn.Module) -> list[tuple[str, nn.SqueezeExcitation]]:
    """The SE blocks of `model`, as (dotted name, module), in forward order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.SqueezeExcitation)]


def collect_excitations(model: nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int,
                        batch_size: int = 250, transform=None) -> dict[str, np.ndarray]:
    """Mean excitation per class and channel of every SE block.

    images: (N, 3, H, W), uint8 (normalised with `transform`, default the
    CIFAR-10 mean/std) or float (used as they are); labels: (N,) in
    [0, num_classes). Runs `model` in eval mode without gradients.
    Returns {block name: (num_classes, C) float64 array}: row k is the mean of
    s over the images of class k (NaN for a class without images).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"collect_excitations: expected images (N, C, H, W) and labels (N,), "
                         f"got {images.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"collect_excitations: labels must be in [0, {num_classes}), "
                         f"got [{labels.min()}, {labels.max()}]")
    blocks = se_blocks(model)
    if not blocks:
        raise ValueError(f"collect_excitations: {type(model).__name__} has no nn.SqueezeExcitation block")
    if transform is None and images.dtype == np.uint8:
        def transform(x):
            return normalize(x, CIFAR10_MEAN, CIFAR10_STD)
    sums = {name: np.zeros((num_classes, se.input_channels)) for name, se in blocks}
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)  # (K,)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for start in range(0, len(labels), batch_size):
                x = images[start:start + batch_size]
                y = labels[start:start + batch_size]
                model(Tensor(transform(x) if transform is not None else x))
                for name, se in blocks:
                    np.add.at(sums[name], y, se.last_excitation)  # (K, C) += per-image (B, C) rows
    finally:
        model.train(was_training)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {name: s / counts[:, None] for name, s in sums.items()}


def class_spread(means: dict[str, np.ndarray]) -> dict[str, float]:
    """How class-specific each block is: the standard deviation across classes
    of a channel's mean excitation, averaged over the channels.
    means: {block: (K, C)} -> {block: float}; 0 means every class gets the same weights."""
    return {name: float(np.nanstd(m, axis=0).mean()) for name, m in means.items()}


def pick_depths(names: list[str], count: int = 4) -> list[str]:
    """`count` block names spread evenly from the first to the last."""
    if len(names) <= count:
        return list(names)
    return [names[i] for i in np.linspace(0, len(names) - 1, count).round().astype(int)]


def plot_excitations(means: dict[str, np.ndarray], class_names: list[str], path, blocks: list[str] | None = None,
                     title: str = "", max_classes: int = 10):
    """Save a PNG: one panel per chosen block (default: 4 depths) with the mean
    excitation of each channel for each class (channels on x, one line per
    class), and a last panel with `class_spread` per block, first to last.
    Returns the path written."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing left open

    names = list(means)
    blocks = blocks or pick_depths(names)
    spread = class_spread(means)
    colors = colormaps["tab10"]
    fig = Figure(figsize=(3.6 * (len(blocks) + 1), 3.4))
    axes = fig.subplots(1, len(blocks) + 1)
    for ax, name in zip(axes, blocks, strict=False):
        m = means[name]
        for k in range(min(len(m), max_classes)):
            ax.plot(np.arange(m.shape[1]), m[k], lw=0.9, color=colors(k % 10),
                    label=class_names[k] if k < len(class_names) else str(k))
        ax.set_title(f"{name} (block {names.index(name) + 1}/{len(names)})\nspread {spread[name]:.3f}", fontsize=9)
        ax.set_xlabel("channel")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("mean excitation per class")
    axes[0].legend(fontsize=6, ncol=2, loc="lower left")
    ax = axes[-1]
    ax.plot(np.arange(1, len(names) + 1), [spread[n] for n in names], "o-")
    ax.set_xlabel("SE block (input -> output)")
    ax.set_ylabel("std across classes (mean over channels)")
    ax.set_title("class specificity per depth", fontsize=9)
    ax.set_ylim(bottom=0)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    return path


def small_se_resnet(blocks_per_stage: int = 2, widths=(16, 32, 64), num_classes: int = 10,
                    se_ratio: float = 1 / 4) -> CifarResNet:
    """A CIFAR SE-ResNet (basic blocks, option-A shortcuts) with `blocks_per_stage`
    blocks on each of the 3 stages: depth 6n + 2 (n = 2: SE-ResNet-14)."""
    return CifarResNet(BasicBlock, [blocks_per_stage] * 3, num_classes, widths=widths, stem_width=widths[0],
                       se=True, se_ratio=se_ratio)


def train_or_load_se_resnet(checkpoint, data, epochs: int = 2, train_size: int = 5000, batch_size: int = 64,
                            blocks_per_stage: int = 2, widths=(16, 32, 64), progress: bool = False,
                            log=print) -> tuple[CifarResNet, bool]:
    """A small trained SE-ResNet: loaded from `checkpoint` (a `tinycnn.save`d
    state_dict) if that file exists, else trained on `data` (a `tinycnn.data.CIFAR`)
    with `tinycnn.train`'s loop for `epochs` on a stratified subset of
    `train_size` images, then saved to `checkpoint` (if not None).
    Returns (model, loaded)."""
    from tinycnn.data import stratified_subset
    from tinycnn.train import TrainConfig, make_loaders, make_optimizer, make_scheduler, train_one_epoch

    model = small_se_resnet(blocks_per_stage, widths)
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        model.load_state_dict(tinycnn.load(path))
        log(f"loaded the SE-ResNet from {path}")
        return model, True
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.2, label_smoothing=0.0,
                         warmup_epochs=min(1.0, epochs / 2), train_size=train_size)
    keep = stratified_subset(data.y_train, min(train_size, len(data.y_train)), np.random.default_rng(config.seed))
    subset = type(data)(data.x_train[keep], data.y_train[keep], data.x_test, data.y_test, data.classes, data.source)
    train_loader, _ = make_loaders(config, subset)
    optimizer = make_optimizer(config, model)
    scheduler = make_scheduler(config, optimizer, len(train_loader))
    for epoch in range(1, epochs + 1):
        metrics = train_one_epoch(model, train_loader, optimizer, scheduler, config, epoch, progress=progress)
        log(f"SE-ResNet epoch {epoch}/{epochs}: train loss {metrics['train_loss']:.3f}, "
            f"train acc {metrics['train_acc']:.1%}, {metrics['train_seconds']:.1f} s")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tinycnn.save(model.state_dict(), path)
        log(f"saved the SE-ResNet to {path}")
    return model, False
