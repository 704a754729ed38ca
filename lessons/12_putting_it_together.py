# %% [markdown]
# # Lesson 12 — Putting it together: FLOPs, parameters and accuracy
#
# The lecture ends with one chart: ImageNet accuracy against multiply-adds
# (and parameters) for every architecture of the course. Two lessons in it:
# accuracy per FLOP improved enormously from ResNet to EfficientNet, and
# FLOPs, parameters and measured speed are three different things.
#
# Here we count the parameters and MACs of small versions of each
# architecture with `tinycnn.summary`, and put accuracy against MACs in two
# ways. The **evidence** is the shipped CIFAR-10 models, all trained with the
# same recipe (`tinycnn train --recipe cifar-small`) and tested on all
# 10,000 test images (those not trained yet print how to train them). Beside it, a **live mini-run**
# trains a few of the small versions for one epoch on a few hundred images:
# it shows the mechanics and the time per step, and it *cannot rank the
# architectures* (the lesson prints its error bars, a couple of points at
# 500 test images, against differences of the same size). `--full` trains
# every contestant longer.

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter, ScalarFormatter
from _common import binomial_se, fmt_acc, setup, shipped_table

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
counted = {}
for name, build in contestants.items():  # parameters and MACs of every contestant (no training)
    s = tinycnn.summary(build(), (3, 32, 32), print_table=False)
    counted[name] = (s.total_params, s.total_macs)
    print(f"{name:>25s}: {s.total_params:9,} params {s.total_macs / 1e6:6.1f} M MACs per 32x32 image")
# the mini-run trains only the three ResNet-8 variants by default: they share their kernels, while each
# new layer type (depthwise, grouped, dense concatenation) first costs tens of seconds of JIT compilation
# on our CPU, and all ten took minutes
trained_names = run.pick(["ResNet-8", "pre-act ResNet-8", "SE-ResNet-8"], smoke=["ResNet-8"], full=list(contestants))

# %% [markdown]
# ## 2. A live mini-run: same (tiny) budget for a few of them
# Same subset, same epochs, batch size, one-cycle schedule and seed; test
# accuracy on the same test images, with its binomial error bar.

# %%
config = TrainConfig(epochs=run.pick(1, smoke=1, full=15), batch_size=run.pick(32, smoke=16, full=128), lr=0.1,
                     label_smoothing=0.0, warmup_epochs=run.pick(0.3, smoke=0.5, full=3.0),
                     train_size=run.pick(1000, smoke=64, full=20000))
n_test = run.pick(500, smoke=100, full=10000)
data = run.cifar10()
keep = np.random.default_rng(0).permutation(len(data.y_train))[:config.train_size]
data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
data.x_test, data.y_test = data.x_test[:n_test], data.y_test[:n_test]
results = []
for name in trained_names:
    tinycnn.manual_seed(config.seed)
    model = contestants[name]()
    params, macs = counted[name]
    train_loader, test_loader = make_loaders(config, data)
    optimizer = make_optimizer(config, model)
    scheduler = make_scheduler(config, optimizer, len(train_loader))
    seconds = 0.0
    for epoch in range(1, config.epochs + 1):
        metrics = train_one_epoch(model, train_loader, optimizer, scheduler, config, epoch, progress=False)
        seconds += metrics["train_seconds"]
    test = evaluate(model, test_loader)
    results.append((name, params, macs, test["acc"], seconds))
    print(f"mini-run {name:>25s}: train {seconds:5.1f} s (JIT compilation included) | test acc "
          f"{fmt_acc(round(test['acc'] * n_test), n_test)}", flush=True)
mean_acc = float(np.mean([row[3] for row in results]))
print(f"mini-run budget: {config.epochs} epoch(s) on {config.train_size} images, batch {config.batch_size}: "
      f"{config.epochs * config.train_size // config.batch_size} SGD steps. At {n_test} test images one standard "
      f"error is {100 * binomial_se(mean_acc, n_test):.1f} points near their mean accuracy {100 * mean_acc:.0f}%: "
      "differences of a few points rank nothing")

# %% [markdown]
# ## 3. The evidence: shipped CIFAR-10 models
# The small models of every family (tinycnn/models/cifar_small.py), trained
# with one shared recipe and tested on the full test set.

# %%
shipped_names = ["resnet8", "resnet14", "resnet20", "plain20", "preact_resnet20", "wrn10_2", "resnext20_8x4d",
                 "resnext20_1x16d", "resnet20_stochastic_depth", "se_resnet20", "densenet_bc_28_12",
                 "mobilenet_v1_cifar_0125", "mobilenet_v1_cifar_0125_standard", "mobilenet_v1_cifar_025",
                 "mobilenet_v1_cifar_035", "mobilenet_v1_cifar_050", "mobilenet_v2_cifar_035",
                 "efficientnet_cifar_tiny", "efficientnet_cifar_tiny_compound", "efficientnet_cifar_tiny_width",
                 "efficientnet_cifar_tiny_depth", "efficientnet_cifar_tiny_resolution"]
evidence = shipped_table(shipped_names, run)

# %% [markdown]
# ## 4. The chart
# Left: the published ImageNet numbers (top-1 accuracy of a single crop at
# each model's own input size -- 224 px, EfficientNet-B3 300 px -- and
# mult-adds as in the papers or torchvision's tables). Middle: the shipped
# CIFAR-10 models, accuracy (± 2 standard errors) against counted MACs.
# Right: every contestant's counted MACs and parameters, with the mini-run's
# accuracies as labels.

# %%
published = {  # name: (G mult-adds, M params, ImageNet top-1 %), from the papers / torchvision
    "ResNet-50": (4.1, 25.6, 76.1), "ResNet-152": (11.5, 60.2, 78.3), "WRN-50-2": (11.4, 68.9, 78.5),
    "ResNeXt-50 32x4d": (4.2, 25.0, 77.6), "SE-ResNet-50": (3.9, 28.1, 76.7), "DenseNet-121": (2.9, 8.0, 74.4),
    "MobileNet": (0.57, 4.2, 70.6), "MobileNetV2": (0.30, 3.5, 72.0), "EfficientNet-B0": (0.39, 5.3, 77.1),
    "EfficientNet-B3": (1.8, 12.0, 81.6),
}
fig, axes = plt.subplots(1, 3, figsize=(16, 6.2))
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


def log_ticks(ax, values):
    """Plain-number ticks 1, 2, 5 x 10^e spanning `values` on a log x axis (matplotlib's default
    would label 20 and 30 as 2x10^1 and 3x10^1)."""
    ticks = [t for t in (f * 10.0 ** e for e in range(-1, 4) for f in (1, 2, 5))
             if min(values) / 1.5 <= t <= max(values) * 1.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


ax = axes[1]
for i, (name, info) in enumerate(evidence.items(), start=1):  # numbered points, names in the legend below
    acc, se = info["test_accuracy"], info.get("standard_error", 0.0)
    ax.errorbar(info["macs"] / 1e6, acc, yerr=2 * se, fmt="os^Dv"[(i - 1) // 10], color=f"C{(i - 1) % 10}",
                capsize=2, ms=4, label=f"{i} {name}")
    ax.annotate(str(i), (info["macs"] / 1e6, acc), fontsize=6, xytext=(3, 2), textcoords="offset points")
if evidence:
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(0.0, -0.16))
if not evidence:
    ax.text(0.5, 0.5, "no shipped models yet:\ntinycnn train --recipe cifar-small --model NAME",
            ha="center", va="center", transform=ax.transAxes, fontsize=8)
ax.set_xscale("log")
if evidence:
    log_ticks(ax, [info["macs"] / 1e6 for info in evidence.values()])
ax.set_xlabel("M MACs per image (counted at each model's resolution)")
ax.set_ylabel("CIFAR-10 test accuracy (%), 10,000 images")
ax.set_title("Shipped models, one recipe (evidence)", fontsize=9)
ax = axes[2]
minirun = {row[0]: row[3] for row in results}
for i, (name, (params, macs)) in enumerate(counted.items()):
    ax.scatter(macs / 1e6, params / 1e3, s=30, color=f"C{i % 10}")
    offset = {"ResNet-8": (6, -12), "pre-act ResNet-8": (6, -3), "SE-ResNet-8": (6, 6)}.get(name, (4, 2))
    ax.annotate(name, (macs / 1e6, params / 1e3), fontsize=6, xytext=offset,  # the ResNet-8 variants
                textcoords="offset points")  # sit on one point: their labels are spread by hand
ax.text(0.98, 0.03, "mini-run test accuracy:\n" + "\n".join(
    f"{name}: {fmt_acc(round(acc * n_test), n_test)}" for name, acc in minirun.items()),
    transform=ax.transAxes, ha="right", va="bottom", fontsize=6, bbox=dict(fc="white", ec="0.7"))
ax.set_xscale("log")
ax.set_yscale("log")
log_ticks(ax, [macs / 1e6 for _, macs in counted.values()])
ax.set_yticks([t for t in (20, 50, 100, 200, 500, 1000) if min(counted.values())[0] / 1.5e3 <= t
               <= max(counted.values())[0] / 1e3 * 1.5])
ax.yaxis.set_major_formatter(ScalarFormatter())
ax.yaxis.set_minor_formatter(NullFormatter())
ax.set_xlabel("M MACs per image (counted, 32 px)")
ax.set_ylabel("parameters (thousands, counted)")
ax.set_title(f"Counted cost; mini-run accuracy ({config.train_size} images, n={n_test}) is not a ranking",
             fontsize=8)
fig.tight_layout()
run.savefig(fig, "flops_params_accuracy")

# %% [markdown]
# ## Summary
# * Published: EfficientNet-B0 matches ResNet-50's accuracy with ~10x fewer
#   multiply-adds; MobileNets trade a few points for another order of magnitude.
# * Counted: our small versions span 6-45 M MACs and 30k-700k parameters;
#   MACs and parameters rank them differently (WRN and DenseNet are
#   MAC-heavy, MobileNetV2/EfficientNet parameter-heavy for their MACs).
# * The mini-run's accuracies after a few dozen steps are far from what these
#   networks reach and within a few standard errors of each other: they rank
#   nothing. The comparison of families on CIFAR-10 is the shipped models'
#   (section 3), each a single seed: differences within about two combined
#   standard errors are ties.
#
# ## Exercises
# 1. Compare the shipped models' ranking (section 3) with the published one.
# 2. Add the measured training time per epoch (printed above) as a third axis:
#    which networks are cheap in MACs but slow on our CPU, and why?

# %%
run.done()
