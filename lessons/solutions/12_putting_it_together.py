# %% [markdown]
# # Solutions to lesson 12 — Putting it together

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup, shipped_table  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import models  # noqa: E402
from tinycnn.nn import functional as F  # noqa: E402

run = setup("sol12")
tinycnn.manual_seed(0)

# %% [markdown]
# ## Exercise 1: the shipped ranking against the published one
# The published ImageNet ranking (lesson 12's left panel: the papers' and
# torchvision's numbers, at very different sizes, not measured here), best
# first: ResNeXt-50 32x4d 77.6, EfficientNet-B0 77.1, SE-ResNet-50 76.7,
# ResNet-50 76.1, DenseNet-121 74.4, MobileNetV2 72.0, MobileNet 70.6.
# The shipped CIFAR models, one recipe, are ranked below
# when shipped; pairs closer than about two combined standard errors are ties
# (one seed each), and a small CIFAR model need not rank like its ImageNet
# relative: different data, sizes and training budgets.

# %%
family = {"resnet20": "ResNet", "preact_resnet20": "pre-act ResNet", "wrn10_2": "WRN", "resnext20_8x4d": "ResNeXt",
          "se_resnet20": "SE-ResNet", "densenet_bc_28_12": "DenseNet-BC", "mobilenet_v1_cifar_050": "MobileNet",
          "mobilenet_v2_cifar_035": "MobileNetV2", "efficientnet_cifar_tiny": "EfficientNet"}
found = shipped_table(family, run)
ranked = sorted(found.items(), key=lambda item: -item[1]["test_accuracy"])
for i, (name, info) in enumerate(ranked, start=1):
    nxt = ranked[i][1] if i < len(ranked) else None
    tie = (nxt is not None and info["test_accuracy"] - nxt["test_accuracy"]
           < 2 * np.hypot(info.get("standard_error", 0.3), nxt.get("standard_error", 0.3)))
    print(f"{i}. {family[name]:15s} {info['test_accuracy']:.2f}%{'  (tied with the next)' if tie else ''}")

# %% [markdown]
# ## Exercise 2: time next to MACs
# MACs count arithmetic; the time also pays for memory traffic and per-layer
# overheads. Depthwise convolutions do 9 MACs per value they read, so they
# run at fewer GMAC/s than dense convs on a CPU: a MobileNet with ResNet-8's
# MACs takes longer per image (printed: MACs, time per image and GMAC/s). The shipped runs record
# their training time (train_seconds, epochs); the cell below also measures a
# training step live for a few models, with the GMAC/s that follow.

# %%
names = run.pick(["resnet8", "resnet20", "mobilenet_v1_cifar_025"], smoke=["resnet8"])
batch = run.pick(32, smoke=4)
x, y = tinycnn.randn(batch, 3, 32, 32), np.arange(batch) % 10
for name in names:
    model = models.create(name).train()
    macs = tinycnn.summary(model, (3, 32, 32), print_table=False).total_macs

    def step(model=model):
        F.cross_entropy(model(x), y).backward()

    step()  # the first call compiles the Numba kernels this model needs
    t = run.time({"step": step}, repeat=run.pick(3, smoke=1))["step"]
    print(f"{name:24s} {macs / 1e6:5.1f}M MACs, training step {1e3 * t / batch:6.2f} ms per image, "
          f"{3 * macs * batch / t / 1e9:5.2f} GMAC/s")
for name, info in found.items():
    print(f"shipped {name:24s} {info['train_seconds'] / info['epochs']:.0f} s per epoch, "
          f"{info.get('macs', 0) / 1e6:.1f}M MACs")

# %%
run.done()
