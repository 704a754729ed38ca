"""Plumbing shared by the lesson scripts: run mode, output folder, figures.

Every lesson starts with

    from _common import setup
    run = setup("04")          # the lesson's number: prefixes its figure names

and then reads `run.smoke` / `run.full` to pick its sizes, `run.data` to find
CIFAR-10 and calls `run.savefig(fig, "name")` to write `lessons/out/04_name.png`.

Modes (command-line flags, or environment variables for notebooks and tests):
    default   runs in about a minute on 2 cores
    --full    longer runs, closer to the papers (minutes)
    --smoke   tiny sizes, every cell in a few seconds (TINYCNN_LESSON_SMOKE=1);
              the tests in tests/test_lessons.py run every lesson this way
    --data P  the CIFAR-10 archive or folder (else TINYCNN_DATA, else data/)
    --out D   where figures go (else TINYCNN_LESSON_OUT, else lessons/out/)
    --threads N   BLAS and Numba threads (on a machine shared with other jobs,
              1 thread can be much faster than several that wait for each other)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # figures go to files: no window, works on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

LESSONS_DIR = Path(__file__).resolve().parent
if str(LESSONS_DIR.parent) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(LESSONS_DIR.parent))

from tinycnn.atomic_file import save_figure  # noqa: E402


@dataclass
class Run:
    """How this lesson run was asked to behave, and where its outputs go."""

    lesson: str
    smoke: bool
    full: bool
    data: str | None
    out: Path
    started: float = field(default_factory=time.perf_counter)
    started_cpu: float = field(default_factory=time.process_time)

    def pick(self, default, smoke=None, full=None):
        """The value for this mode: `run.pick(2000, smoke=64, full=50000)`."""
        if self.smoke and smoke is not None:
            return smoke
        if self.full and full is not None:
            return full
        return default

    def savefig(self, fig, name: str) -> Path:
        """Save `fig` as <out>/<lesson>_<name>.png, close it and print the path."""
        path = self.out / f"{self.lesson}_{name}.png"
        save_figure(fig, path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"saved figure: {path}")
        return path

    def cifar10(self):
        """CIFAR-10 through `tinycnn.data.load_cifar10` (lookup: --data, $TINYCNN_DATA,
        data/; downloads if absent). In smoke mode a missing archive is not an
        error: a small synthetic stand-in (each class a colour tint plus noise)
        lets every cell run, and the lesson says so."""
        from tinycnn.data import CIFAR, DatasetError, load_cifar10

        try:
            return load_cifar10(self.data, download=not self.smoke)
        except DatasetError as err:
            if not self.smoke:
                raise
            print(f"CIFAR-10 not found ({err}); smoke mode uses synthetic 32x32 images")
        g = np.random.default_rng(0)
        tints = g.integers(40, 216, size=(10, 3, 1, 1))

        def fake(n):
            y = np.arange(n) % 10
            x = np.clip(tints[y] + g.normal(0, 40, size=(n, 3, 32, 32)), 0, 255).astype(np.uint8)
            return x, y.astype(np.int64)

        (x_train, y_train), (x_test, y_test) = fake(1000), fake(200)
        return CIFAR(x_train, y_train, x_test, y_test, [f"class{i}" for i in range(10)], Path("synthetic"))

    def time(self, fns: dict, repeat: int) -> dict:
        """Median seconds of each zero-argument callable (results discarded),
        measured interleaved by `tinycnn.bench.timing.median_times`."""
        from tinycnn.bench.timing import median_times

        def discard(fn):
            def call():
                fn()

            return call

        times = median_times({name: discard(fn) for name, fn in fns.items()}, repeat=repeat)
        return {name: t["total"] for name, t in times.items()}

    def elapsed(self) -> float:
        """Wall-clock seconds since setup()."""
        return time.perf_counter() - self.started

    def done(self):
        """The closing line: wall time and CPU time (all threads; on a shared
        machine the wall time also counts the waits for a core)."""
        print(f"lesson {self.lesson} done in {self.elapsed():.1f} s wall, "
              f"{time.process_time() - self.started_cpu:.1f} s CPU")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def setup(lesson: str) -> Run:
    """Parse the lesson's flags (unknown ones, e.g. Jupyter's, are ignored),
    create the output folder and announce the mode."""
    parser = argparse.ArgumentParser(description=f"tinycnn lesson {lesson}")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: every cell in seconds (tests)")
    parser.add_argument("--full", action="store_true", help="longer runs, closer to the papers")
    parser.add_argument("--data", default=None, help="CIFAR-10 archive or folder (else $TINYCNN_DATA, data/)")
    parser.add_argument("--out", default=None, help="figure folder (else $TINYCNN_LESSON_OUT, lessons/out/)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for BLAS and Numba (default: all cores; on a busy machine 1 can be faster)")
    args, _ = parser.parse_known_args()
    smoke = args.smoke or _flag("TINYCNN_LESSON_SMOKE")
    if smoke and args.full:
        parser.error("--smoke and --full exclude each other")
    out = Path(args.out or os.environ.get("TINYCNN_LESSON_OUT") or LESSONS_DIR / "out")
    out.mkdir(parents=True, exist_ok=True)
    if args.threads is not None:
        from tinycnn.bench.timing import set_threads

        set_threads(args.threads)
    run = Run(lesson, smoke, args.full and not smoke, args.data, out)
    mode = "smoke (tiny sizes)" if run.smoke else "full" if run.full else "default"
    print(f"lesson {lesson}: {mode} mode; figures go to {out}")
    return run


# ---- accuracies with their error bars, and the shipped models ------------------------------------

def binomial_se(acc: float, n: int) -> float:
    """Standard error of an accuracy `acc` (a fraction) measured on `n` independent test images:
    sqrt(acc (1 - acc) / n). It is the spread from the choice of test images only; a second
    training seed adds its own spread on top."""
    return float(np.sqrt(acc * (1.0 - acc) / n)) if n > 0 else float("nan")


def fmt_acc(correct: int, n: int, num_classes: int = 10) -> str:
    """'78.8% ± 0.4 (n=10,000; chance 10%)': accuracy, one binomial standard error in percentage
    points, the number of test images and the chance level (uniform guessing)."""
    acc = correct / n
    return f"{100 * acc:.1f}% ± {100 * binomial_se(acc, n):.1f} (n={n:,}; chance {100 / num_classes:.0f}%)"


def not_shipped_line(name: str) -> str:
    return f"{name}: not shipped yet: train it with `tinycnn train --recipe cifar-small --model {name}`"


def shipped(name: str) -> dict | None:
    """`pretrained_info(name)` when `name` ships trained weights, else None after printing how to
    train it, so that a lesson can say what it would show and carry on."""
    from tinycnn.models import list_pretrained, pretrained_info

    if name in list_pretrained():
        return pretrained_info(name)
    print(not_shipped_line(name))
    return None


def shipped_acc(info: dict) -> tuple[float, str]:
    """(accuracy as a fraction, fmt_acc text) of a shipped model's manifest entry (test_accuracy is
    in percent over test_images images)."""
    n = int(info.get("test_images", 10000))
    correct = round(info["test_accuracy"] * n / 100)
    return correct / n, fmt_acc(correct, n, int(info.get("num_classes", 10)))


def shipped_log(info: dict) -> dict:
    """The per-epoch training log (the run's metrics.csv, shipped as info['log']) as columns:
    {'epoch': array, 'train_loss': array, 'test_acc': array, ...}."""
    import csv

    from tinycnn.models.pretrained import PRETRAINED_DIR

    with open(PRETRAINED_DIR / info["log"], newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for key in rows[0] if rows else []:
        try:
            columns[key] = np.array([float(r[key]) for r in rows])
        except (TypeError, ValueError):  # a column that is not numeric (none today): left out
            continue
    return columns


def recorded_runs(name: str) -> list[dict]:
    """Every recorded cifar-small run of `name` (all seeds, shipped weights or log only; controls
    such as shuffled labels left out), each with its per-epoch log under 'log_columns'."""
    from tinycnn.results import read_runs_record

    runs = [dict(r) for r in read_runs_record().values() if r["model"] == name and not r["variant"]]
    for r in runs:
        r["log_columns"] = shipped_log(r)
    return sorted(runs, key=lambda r: r["seed"])


def seed_mean(name: str) -> tuple[float, int]:
    """(mean test accuracy in percent over the recorded seeds of `name`, number of seeds)."""
    runs = recorded_runs(name)
    return 100 * float(np.mean([r["test_acc"] for r in runs])) if runs else float("nan"), len(runs)


def shipped_table(names, run: Run | None = None) -> dict:
    """Print one line per model: its shipped test accuracy with error bar, params, MACs and run
    (or the 'not shipped yet' line), and every recorded seed; returns {name: info} of those shipped.
    With a `run` in --full mode, each accuracy is also re-derived: the shipped weights evaluated
    on the 10,000 test images here and now."""
    from tinycnn.publish import evaluate_shipped

    found = {}
    for name in names:
        info = shipped(name)
        if info is None:
            continue
        found[name] = info
        print(f"{name:34s} {shipped_acc(info)[1]}   {info.get('params', 0) / 1e6:.2f}M params, "
              f"{info.get('macs', 0) / 1e6:.1f}M MACs, {info.get('epochs')} epochs, seed {info.get('seed')}")
        if run is not None and run.full:
            print(f"{'':34s} re-derived: {evaluate_shipped(name, run.data):.2f}% measured now on the test set, "
                  f"{info['test_accuracy']:.2f}% recorded")
        seeds = recorded_runs(name)
        if len(seeds) > 1:  # the seed-to-seed spread, where more than one seed ran
            accs = [100 * r["test_acc"] for r in seeds]
            print(f"{'':34s} {len(seeds)} seeds: " + ", ".join(f"{a:.2f}" for a in accs) +
                  f"; mean {np.mean(accs):.2f}, spread (max - min) {np.ptp(accs):.2f} points")
    return found


def plot_recorded_losses(ax, colors: dict) -> None:
    """Training loss per epoch of every recorded run of each model (`colors`: name -> colour; seed
    0 drawn solid, other seeds paler), and one printed line per run: test accuracy with its error
    bar, time, the losses and the last epoch's training accuracy."""
    for name, color in colors.items():
        runs = recorded_runs(name)
        if not runs:
            print(not_shipped_line(name))
        for r in runs:
            log, acc = r["log_columns"], fmt_acc(round(r["test_acc"] * 10000), 10000)
            ax.plot(log["epoch"], log["train_loss"], ".-", color=color, alpha=1.0 if r["seed"] == 0 else 0.5,
                    label=f"{name} seed {r['seed']}: test {acc.split(' (')[0]}")
            print(f"{name} seed {r['seed']}: test {acc}, {r['seconds'] / 60:.1f} min ({r['img_per_s']:.0f} img/s); "
                  f"training loss by epoch {np.round(log['train_loss'], 3).tolist()}, last epoch's training "
                  f"accuracy {100 * log['train_acc'][-1]:.1f}%")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (epoch mean)")
    ax.legend(fontsize=7)


def shipped_difference(a: str, b: str) -> str:
    """'a - b: +d points ± se (seeds: 1 vs 2 ...), training time r x': the difference of the two
    models' test accuracies, each the mean over its recorded seeds. The error bar is the test set's
    (binomial, both models on the same 10,000 images); more seeds do not shrink it, they show the
    training's own spread, printed by shipped_table."""
    runs = {name: recorded_runs(name) for name in (a, b)}
    missing = [name for name, rs in runs.items() if not rs]
    if missing:
        return "; ".join(not_shipped_line(name) for name in missing)
    mean = {name: seed_mean(name)[0] / 100 for name in runs}
    seconds = {name: float(np.mean([r["seconds"] for r in rs])) for name, rs in runs.items()}
    se = np.hypot(binomial_se(mean[a], 10000), binomial_se(mean[b], 10000))
    return (f"{a} - {b}: {100 * (mean[a] - mean[b]):+.2f} points ± {100 * se:.2f} (seed means; seeds "
            f"{len(runs[a])} vs {len(runs[b])}; ± is the test set's standard error), "
            f"training time {seconds[a] / seconds[b]:.2f}x (runs shared the machine differently: a loose ratio)")


def mini_run(model, data, train_size: int, n_test: int, epochs: int = 1, lr: float = 0.1, batch_size: int = 64,
             seed: int = 0) -> dict:
    """Train `model` briefly with `tinycnn.train`'s loop (SGD, one-cycle schedule, augmentation) on a
    stratified subset of `train_size` images of `data` (a `tinycnn.data.CIFAR`) and test it on the
    first `n_test` test images. A demonstration, not evidence: one seed, few steps. Returns
    {'train_loss': [per epoch], 'correct': int, 'n_test': int, 'acc_text': fmt_acc(...), 'seconds': float}."""
    from tinycnn.data import stratified_subset
    from tinycnn.train import TrainConfig, evaluate, make_loaders, make_optimizer, make_scheduler, train_one_epoch

    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, label_smoothing=0.0,
                         warmup_epochs=min(0.5, epochs / 2), train_size=train_size, seed=seed)
    keep = stratified_subset(data.y_train, min(train_size, len(data.y_train)), np.random.default_rng(seed))
    subset = type(data)(data.x_train[keep], data.y_train[keep], data.x_test[:n_test], data.y_test[:n_test],
                        data.classes, data.source)
    train_loader, test_loader = make_loaders(config, subset)
    optimizer = make_optimizer(config, model)
    scheduler = make_scheduler(config, optimizer, len(train_loader))
    losses, seconds = [], 0.0
    for epoch in range(1, epochs + 1):
        metrics = train_one_epoch(model, train_loader, optimizer, scheduler, config, epoch, progress=False)
        losses.append(metrics["train_loss"])
        seconds += metrics["train_seconds"]
    correct = round(evaluate(model, test_loader)["acc"] * len(subset.y_test))
    n = len(subset.y_test)
    return {"train_loss": losses, "correct": correct, "n_test": n, "acc_text": fmt_acc(correct, n),
            "seconds": seconds}
