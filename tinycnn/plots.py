"""Figures of a run: loss/accuracy curves and the confusion matrix (matplotlib, Agg backend:
no display needed)."""
from pathlib import Path

import numpy as np

from tinycnn.atomic_file import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict], path) -> Path:
    """Loss and accuracy per epoch, training and test side by side, saved as a PNG."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split, style, label in (("train", "-o", "train (augmented; loss as optimised, e.g. label-smoothed)"),
                                ("test", "-s", "test")):
        ax_loss.plot(epochs, [h[f"{split}_loss"] for h in history], style, label=label)
        ax_acc.plot(epochs, [100 * h[f"{split}_acc"] for h in history], style, label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_confusion(matrix: np.ndarray, classes: list[str], path, title: str = "confusion matrix") -> Path:
    """matrix: (K, K) counts, rows = true class, columns = predicted class; saved as a PNG."""
    plt = _pyplot()
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * k, 1 + 0.55 * k))
    ax.imshow(matrix, cmap="Blues")
    if k <= 20:
        ax.set_xticks(range(k), classes, rotation=45, ha="right")
        ax.set_yticks(range(k), classes)
        for i in range(k):
            for j in range(k):
                color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return Path(path)
