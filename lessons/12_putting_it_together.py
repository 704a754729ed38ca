# %% [markdown]
# # Lesson 12 — Putting it together: FLOPs, parameters and accuracy
#
# The lecture ends with one chart: ImageNet accuracy against multiply-adds
# (and parameters) for every architecture of the course. Two lessons in it:
# accuracy per FLOP improved enormously from ResNet to EfficientNet, and
# FLOPs, parameters and measured speed are three different things.
#
# Here we train small versions of each architecture on CIFAR-10 under the
# **same budget** (same images, epochs, schedule, loop: `tinycnn.train`),
# count their parameters and MACs with `tinycnn.summary`, and draw the chart
# with our own runs next to the published ImageNet numbers. Our default
# budget is tiny (a subset, one epoch) so that the lesson runs in about a
# minute or two: the accuracies are those of short runs and rank the
# architectures only roughly. `--full` trains much longer.

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
from _common import setup

import tinycnn
from tinycnn import models
from tinycnn.models.densenet import DenseNet
from tinycnn.models.efficientnet import B0_CIFAR_STAGES, EfficientNet
from tinycnn.models.preact_resnet import PreActBasicBlock, PreActResNet
from tinycnn.models.resnet import BasicBlock, Bottleneck, CifarResNet
from tinycnn.train import TrainConfig, evaluate, make_loaders, make_optimizer, make_scheduler, train_one_epoch

run = setup("12")

# %% [markdown]
# ## 1. The contestants
# Small CIFAR versions (32 x 32 input, 3 stages or the CIFAR variants of the
# zoo), each built with the framework's modules:

# %%
contestants = {
    "ResNet-8": lambda: CifarResNet(BasicBlock, [1, 1, 1]),
    "pre-act ResNet-8": lambda: PreActResNet(PreActBasicBlock, [1, 1, 1], [16, 32, 64], num_classes=10, stem_chs=16),
    "WRN-8-2": lambda: PreActResNet(PreActBasicBlock, [1, 1, 1], [32, 64, 128], num_classes=10, stem_chs=16),
    "ResNeXt-11 (4x4d)": lambda: CifarResNet(Bottleneck, [1, 1, 1], widths=(8, 16, 32), groups=4, width_per_group=32),
    "ResNet-14 + stoch. depth": lambda: CifarResNet(BasicBlock, [2, 2, 2], drop_path_rate=0.2),
    "SE-ResNet-8": lambda: CifarResNet(BasicBlock, [1, 1, 1], se=True, se_ratio=1 / 4),
    "DenseNet-BC (3x4, k=12)": lambda: DenseNet(12, (4, 4, 4), 24, compression=0.5, num_classes=10, stem="cifar"),
    "MobileNet a=0.25": lambda: models.create("mobilenet_v1_cifar", width_mult=0.25),
    "MobileNetV2 a=0.5": lambda: models.create("mobilenet_v2_cifar", width_mult=0.5),
    "EfficientNet (w=d=0.5)": lambda: EfficientNet(0.5, 0.5, 32, num_classes=10, stages=B0_CIFAR_STAGES,
                                                  stem_stride=1),
}
if run.smoke:
    contestants = {k: contestants[k] for k in ("ResNet-8", "MobileNet a=0.25")}

# %% [markdown]
# ## 2. Same budget for everybody
# Same stratified subset, same epochs, batch size, one-cycle schedule and
# seed; test accuracy on the same test images.

# %%
config = TrainConfig(epochs=run.pick(1, smoke=1, full=15), batch_size=run.pick(32, smoke=16, full=128), lr=0.1,
                     label_smoothing=0.0, warmup_epochs=run.pick(0.3, smoke=0.5, full=3.0),
                     train_size=run.pick(500, smoke=64, full=20000))
n_test = run.pick(500, smoke=100, full=10000)
data = run.cifar10()
keep = np.random.default_rng(0).permutation(len(data.y_train))[:config.train_size]
data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
data.x_test, data.y_test = data.x_test[:n_test], data.y_test[:n_test]
results = []
for name, build in contestants.items():
    tinycnn.manual_seed(config.seed)
    model = build()
    s = tinycnn.summary(model, (3, 32, 32), print_table=False)
    train_loader, test_loader = make_loaders(config, data)
    optimizer = make_optimizer(config, model)
    scheduler = make_scheduler(config, optimizer, len(train_loader))
    seconds = 0.0
    for epoch in range(1, config.epochs + 1):
        metrics = train_one_epoch(model, train_loader, optimizer, scheduler, config, epoch, progress=False)
        seconds += metrics["train_seconds"]
    test = evaluate(model, test_loader)
    results.append((name, s.total_params, s.total_macs, test["acc"], seconds))
    print(f"{name:>25s}: {s.total_params:9,} params {s.total_macs / 1e6:6.1f} M MACs | train {seconds:5.1f} s "
          f"| test acc {test['acc']:.1%}", flush=True)
print(f"budget: {config.epochs} epoch(s) on {config.train_size} images, batch {config.batch_size}; "
      f"accuracy on {n_test} test images (chance: 10%)")

# %% [markdown]
# ## 3. The chart
# Left: the published ImageNet numbers (top-1 accuracy of a single crop at
# each model's own input size -- 224 px, EfficientNet-B3 300 px -- and
# mult-adds as in the papers or torchvision's tables). Middle and right: our runs,
# accuracy against counted MACs and parameters.

# %%
published = {  # name: (G mult-adds, M params, ImageNet top-1 %), from the papers / torchvision
    "ResNet-50": (4.1, 25.6, 76.1), "ResNet-152": (11.5, 60.2, 78.3), "WRN-50-2": (11.4, 68.9, 78.5),
    "ResNeXt-50 32x4d": (4.2, 25.0, 77.6), "SE-ResNet-50": (3.9, 28.1, 76.7), "DenseNet-121": (2.9, 8.0, 74.4),
    "MobileNet": (0.57, 4.2, 70.6), "MobileNetV2": (0.30, 3.5, 72.0), "EfficientNet-B0": (0.39, 5.3, 77.1),
    "EfficientNet-B3": (1.8, 12.0, 81.6),
}
fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
ax = axes[0]
for i, (name, (gmacs, mparams, acc)) in enumerate(published.items()):
    ax.scatter(gmacs, acc, s=12 * mparams ** 0.8, color=f"C{i % 10}", alpha=0.7)
    offset = {"SE-ResNet-50": (-62, -3), "ResNet-152": (4, -9), "WRN-50-2": (-40, 6)}.get(name, (4, 2))
    ax.annotate(name, (gmacs, acc), fontsize=7, xytext=offset, textcoords="offset points")
ax.set_xscale("log")
ax.xaxis.set_minor_formatter(NullFormatter())
ax.set_xlabel("G mult-adds per image (each model's input size)")
ax.set_ylabel("ImageNet top-1 (%)")
ax.set_title("Published (papers): marker area ~ parameters", fontsize=9)
for ax, column, label in ((axes[1], 2, "M MACs per image (counted, 32 px)"), (axes[2], 1, "parameters (counted)")):
    for i, row in enumerate(results):
        x = row[column] / (1e6 if column == 2 else 1)
        ax.scatter(x, 100 * row[3], s=40, color=f"C{i % 10}")
        ax.annotate(row[0], (x, 100 * row[3]), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.set_xscale("log")
    xs = [row[column] / (1e6 if column == 2 else 1) for row in results]
    ticks = [t for t in (f * 10.0 ** e for e in range(-1, 8) for f in (1, 2, 5)) if min(xs) / 1.5 <= t <= max(xs) * 1.5]
    ax.set_xticks(ticks, [f"{t:g}" if t < 1e4 else f"{t / 1e3:g}k" if t < 1e6 else f"{t / 1e6:g}M" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label)
    ax.set_ylabel(f"CIFAR-10 test accuracy (%), {n_test} images")
    ax.axhline(10, color="gray", lw=0.7, ls=":")
    ax.set_title(f"Our short runs: {config.epochs} epoch(s) on {config.train_size} images\n"
                 "(accuracies of short runs: indicative only)", fontsize=9)
fig.tight_layout()
run.savefig(fig, "flops_params_accuracy")

# %% [markdown]
# ## Summary
# * Published: EfficientNet-B0 matches ResNet-50's accuracy with ~10x fewer
#   multiply-adds; MobileNets trade a few points for another order of magnitude.
# * Counted: our small versions span 6-45 M MACs and 30k-700k parameters;
#   MACs and parameters rank them differently (WRN and DenseNet are
#   MAC-heavy, MobileNetV2/EfficientNet parameter-heavy for their MACs).
# * After one short epoch the accuracies say which networks learn fastest in
#   their first few steps, not which ones end best: do not read the papers'
#   ranking into them.
#
# ## Exercises
# 1. Run with `--full` and compare the ranking with the published one.
# 2. Add the measured training time per epoch (printed above) as a third axis:
#    which networks are cheap in MACs but slow on our CPU, and why?

# %%
run.done()
