"""The results of training runs, as a table and a figure: of a folder of runs
(`tinycnn results runs/cifar-small`) or of the shipped record of runs (`tinycnn results`:
tinycnn/pretrained/runs.json, written by `tinycnn pretrained add`).

For every finished run: model, family, parameters, MACs, test accuracy with its binomial standard
error on the test images, training time and images per second; the seeds of one configuration are
pooled (mean, and the spread between seeds). The figure puts accuracy against MACs and against
training time: the CIFAR version of the lecture's EfficientNet chart.
"""
from __future__ import annotations

import json
import math
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np

from tinycnn.atomic_file import save_figure

# Name prefix -> family, most specific first (the lecture's families; resnet9 is no lecture family).
FAMILIES = (("preact_resnet", "pre-act ResNet"), ("se_resnet", "SENet"), ("wrn", "WideResNet"),
            ("resnext", "ResNeXt"), ("densenet", "DenseNet"), ("mobilenet_v1", "MobileNet v1"),
            ("mobilenet_v2", "MobileNet v2"), ("efficientnet", "EfficientNet"), ("resnet9", "fast CIFAR net"),
            ("resnet", "ResNet"), ("plain", "plain net"))


def family_of(model: str) -> str:
    if "stochastic_depth" in model:
        return "stochastic depth"
    return next((family for prefix, family in FAMILIES if model.startswith(prefix)), "other")


RUNS_RECORD = "runs.json"  # in the pretrained folder: run folder name -> read_run's facts, command, log
LOGS = "logs"  # the shipped runs' per-epoch logs, logs/NAME.csv


def read_runs_record(directory: Path | None = None) -> dict:
    """Run folder name -> facts of every shipped run ({} when none is recorded yet)."""
    from tinycnn.models import pretrained

    path = Path(directory or pretrained.PRETRAINED_DIR) / RUNS_RECORD
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise pretrained.PretrainedError(f"cannot read the record of runs {path}: {error}") from None
    if not isinstance(record, dict):
        raise pretrained.PretrainedError(f"the record of runs {path} must hold a JSON object, got {type(record).__name__}")
    return record


def read_run(folder: Path) -> dict | None:
    """One finished run's facts, or None if the folder holds no finished run."""
    config_path, metrics_path = folder / "config.json", folder / "metrics.json"
    if not (config_path.exists() and metrics_path.exists()):
        return None
    config, history = json.loads(config_path.read_text()), json.loads(metrics_path.read_text())
    if len(history) < config["epochs"]:
        return None
    last = history[-1]
    return {"model": config["model"], "seed": config["seed"], "recipe": config.get("recipe", "?"),
            "variant": "shuffled labels" if config.get("shuffle_labels") else "",
            "test_acc": last["test_acc"], "seconds": last["elapsed_seconds"],
            "img_per_s": float(np.median([h["img_per_s"] for h in history])),
            "matmul_gflops": last.get("matmul_gflops"), "train_loss": [h["train_loss"] for h in history]}


def collect(root: Path | str | None = None, test_images: int = 10000) -> list[dict]:
    """One row per (model, variant) of the finished runs in folder `root` (None: the shipped record
    of runs): seeds pooled; params and MACs counted on the model."""
    from tinycnn import models
    from tinycnn.summary import summary

    if root is None:
        runs = list(read_runs_record().values())
    else:
        runs = [r for r in (read_run(p) for p in sorted(Path(root).iterdir()) if p.is_dir()) if r]
    groups = defaultdict(list)
    for run in runs:
        groups[(run["model"], run["variant"])].append(run)
    rows = []
    for (model, variant), group in groups.items():
        net = models.create(model)
        s = summary(net, models.input_size(model, net), print_table=False)
        accs = [g["test_acc"] for g in group]
        mean = float(np.mean(accs))
        rows.append({"model": model, "variant": variant, "family": family_of(model), "params": s.total_params,
                     "macs": s.total_macs, "seeds": len(group), "test_acc": mean,
                     "standard_error": math.sqrt(mean * (1 - mean) / test_images),
                     "seed_spread": float(np.ptp(accs)) if len(accs) > 1 else None,
                     "seconds": float(np.mean([g["seconds"] for g in group])),
                     "img_per_s": float(np.mean([g["img_per_s"] for g in group])),
                     "matmul_gflops": group[0]["matmul_gflops"], "recipe": group[0]["recipe"]})
    return sorted(rows, key=lambda r: (r["family"], r["macs"]))


def markdown_table(rows: list[dict]) -> str:
    """The README's results table."""
    lines = ["| model | family | params | MACs | test accuracy (%) | seeds | time (min) | img/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        spread = f", spread {100 * r['seed_spread']:.2f}" if r["seed_spread"] is not None else ""
        name = r["model"] + (f" ({r['variant']})" if r["variant"] else "")
        lines.append(f"| `{name}` | {r['family']} | {r['params'] / 1e6:.2f}M | {r['macs'] / 1e6:.1f}M | "
                     f"{100 * r['test_acc']:.2f} ± {100 * r['standard_error']:.2f}{spread} | {r['seeds']} | "
                     f"{r['seconds'] / 60:.1f} | {r['img_per_s']:.0f} |")
    return "\n".join(lines)


def text_chart(rows: list[dict], key: str = "macs", width: int = 64, height: int = 14) -> str:
    """The figure as characters, for a README that keeps no generated image: test accuracy (rows)
    against MACs or training time (`key` "macs" or "seconds", columns, log scale), one letter per
    model, keyed below the plot. Control runs (a variant such as shuffled labels) are left out."""
    points = [r for r in rows if not r["variant"]]
    if not points:
        return ""
    scale, unit = (1e6, "M MACs per image") if key == "macs" else (60.0, "training time (min)")
    xs = np.log10([r[key] / scale for r in points])
    ys = np.array([100 * r["test_acc"] for r in points])
    x_lo, x_hi = xs.min(), max(xs.max(), xs.min() + 1e-9)
    y_lo, y_hi = math.floor(ys.min()), math.ceil(ys.max())
    y_hi += y_hi == y_lo
    grid = [[" "] * width for _ in range(height)]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for letter, x, y in zip(letters, xs, ys):
        row = height - 1 - round((y - y_lo) / (y_hi - y_lo) * (height - 1))
        col = round((x - x_lo) / (x_hi - x_lo) * (width - 1))
        while col < width - 1 and grid[row][col] != " ":  # two models in one cell: the later one moves right
            col += 1
        grid[row][col] = letter
    lines = [f"{y_hi - (y_hi - y_lo) * i / (height - 1):5.1f} |" + "".join(cells) for i, cells in enumerate(grid)]
    lines.append("      +" + "-" * width)
    lo, hi = f"{10 ** x_lo:.3g}", f"{10 ** x_hi:.3g}"
    label = unit + " (log scale)"
    lines.append(f"       {lo} {label:^{width - len(lo) - len(hi) - 2}} {hi}")
    pairs = ", ".join(f"{letter}\0{r['model']}" for letter, r in zip(letters, points))  # \0: a space never broken
    legend = textwrap.wrap("test accuracy (%) of: " + pairs, width + 7, break_long_words=False)
    return "\n".join(lines + legend).replace("\0", " ")


def plot(rows: list[dict], path: Path | str):
    """Accuracy against MACs (log) and against training time, one colour per family, with the
    standard errors as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    families = sorted({r["family"] for r in rows})
    for ax, key, label in ((axes[0], "macs", "M MACs per image"), (axes[1], "seconds", "training time (min)")):
        for i, family in enumerate(families):
            mine = [r for r in rows if r["family"] == family and not r["variant"]]
            xs = [r[key] / (1e6 if key == "macs" else 60) for r in mine]
            ax.errorbar(xs, [100 * r["test_acc"] for r in mine], yerr=[100 * r["standard_error"] for r in mine],
                        fmt="o", color=f"C{i % 10}", label=family, capsize=2)
            for x, r in zip(xs, mine):
                ax.annotate(r["model"], (x, 100 * r["test_acc"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("CIFAR-10 test accuracy (%, 10,000 images)")
        ax.grid(alpha=0.3)
    axes[0].set_title("Accuracy vs cost")
    axes[1].set_title("Accuracy vs training time (this machine)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return Path(path)
