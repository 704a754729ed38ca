# %% [markdown]
# # Lesson 11 — SENet: squeeze, excitation, scale
#
# Hu, Shen & Sun (CVPR 2018; ILSVRC 2017 winner): a convolution mixes
# channels only locally. A **squeeze-and-excitation** block lets the network
# reweight its channels using global information, per image:
#
#     squeeze     z = global average pool of U           (N, C)
#     excitation  s = sigmoid(W2 relu(W1 z))              (N, C), W1: C -> C/r, W2: C/r -> C
#     scale       out = U * s (channel by channel)        (N, C, H, W)
#
# In SE-ResNet the block sits on the residual branch, before the addition.
# It costs almost nothing (two tiny FC layers on a C-vector); the paper
# reports that it brought ResNet-50's ImageNet top-1 error from 24.8% to
# 23.3%, about ResNet-101's (reported, not measured here; our own CIFAR test
# is at the end). This lesson writes the block out by hand, measures its overhead
# in ResNets, and looks at what the excitations learn (`tinycnn.viz`).

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import fmt_acc, setup, shipped, shipped_acc, shipped_difference

import tinycnn
from tinycnn import models, nn
from tinycnn.data import DataLoader, EvalTransform
from tinycnn.results import read_runs_record
from tinycnn.train import evaluate
from tinycnn.viz import (class_spread, collect_excitations, plot_excitations, small_se_resnet,
                         train_or_load_se_resnet)

run = setup("11")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. The block by hand
# We compute squeeze, excitation and scale with plain NumPy from the
# weights of an `nn.SqueezeExcitation(64, 4)` (r = 16) and compare with its
# forward. Its FC layers are 1 x 1 convolutions (torchvision's layout):
# weights (C/r, C, 1, 1) and (C, C/r, 1, 1).

# %%
C, r = 64, 16
se = nn.SqueezeExcitation(C, C // r)
U = tinycnn.randn(2, C, 8, 8)
z = U.numpy().mean(axis=(2, 3))                                         # squeeze: (N, C)
w1, b1 = se.fc1.weight.numpy()[:, :, 0, 0], se.fc1.bias.numpy()         # (C/r, C), (C/r,)
w2, b2 = se.fc2.weight.numpy()[:, :, 0, 0], se.fc2.bias.numpy()         # (C, C/r), (C,)
s = 1 / (1 + np.exp(-(np.maximum(z @ w1.T + b1, 0) @ w2.T + b2)))       # excitation: (N, C) in (0, 1)
by_hand = U.numpy() * s[:, :, None, None]                                # scale: (N, C, H, W)
out = se(U)
err = np.abs(out.numpy() - by_hand).max()
assert err < 1e-5 and np.allclose(se.last_excitation, s, atol=1e-6)
print(f"SE(64, r=16) by hand vs nn.SqueezeExcitation: max |difference| {err:.1e}; "
      f"excitation of image 0, first 6 channels: {np.round(s[0, :6], 3)}")
print(f"parameters: 2 C^2 / r + C + C/r = {2 * C * C // r + C + C // r} "
      f"(counted: {tinycnn.count_params(se)})")

# %% [markdown]
# ## 2. What SE costs in a ResNet
# Parameters and multiply-adds (`tinycnn.summary`) of CIFAR ResNets with and
# without SE (r = 16), and of ResNet-50 (parameters only: the paper lists
# 25.6M / 3.86 GFLOPs without and 28.1M / 3.87 GFLOPs with SE).

# %%
pairs = run.pick([("resnet20", "se_resnet20"), ("resnet56", "se_resnet56")], smoke=[("resnet20", "se_resnet20")])
print(f"{'model':>12s} {'params':>10s} {'MMACs/img':>10s} {'+params':>8s} {'+MACs':>7s}")
for plain, with_se in pairs:
    sp = tinycnn.summary(models.create(plain), (3, 32, 32), print_table=False)
    ss = tinycnn.summary(models.create(with_se), (3, 32, 32), print_table=False)
    for name, s_ in ((plain, sp), (with_se, ss)):
        extra = "" if s_ is sp else (f"{ss.total_params / sp.total_params - 1:8.1%} "
                                     f"{ss.total_macs / sp.total_macs - 1:7.2%}")
        print(f"{name:>12s} {s_.total_params:10,} {s_.total_macs / 1e6:10.2f} {extra}")
p50 = tinycnn.count_params(models.create("resnet50", num_classes=1000))
p50se = tinycnn.count_params(models.create("se_resnet50", num_classes=1000))
print(f"{'resnet50':>12s} {p50:10,}")
print(f"{'se_resnet50':>12s} {p50se:10,} {p50se / p50 - 1:8.1%}   (ImageNet, 1000 classes)")

# %% [markdown]
# ## 3. What the excitations learn, against a noise floor
# The paper's Fig. 6: the mean excitation of each channel, per class, at
# several depths. Early SE blocks weigh the channels alike for every class
# (low-level features are shared); late blocks differ from class to class.
# `tinycnn.viz.train_or_load_se_resnet` loads a checkpoint of a small
# SE-ResNet from the output folder if one is there, else trains one briefly
# with `tinycnn.train`'s loop and saves it; `collect_excitations` runs the
# test images through it and averages each SE block's gate values per class;
# `class_spread` summarises a block by the spread of those means across
# classes.
#
# A spread is never exactly 0: a finite test set, random weights and a
# brief training all leave some. So we measure two controls of the same
# network: **untrained** (random weights) and **trained on shuffled labels**
# (as many images and steps, labels dealt out at random: nothing about the
# classes can be learnt). A spread counts as class-specific only where it
# stands clearly above both. The run is short: its test accuracy is printed
# with its error bar.

# %%
n_blocks = run.pick(1, smoke=1, full=2)
widths = run.pick((8, 16, 32), smoke=(4, 8, 8))
epochs = run.pick(2, smoke=1, full=6)
train_size = run.pick(2000, smoke=64, full=15000)
n_test = run.pick(1000, smoke=100, full=10000)
data = run.cifar10()
x_test, y_test = data.x_test[:n_test], data.y_test[:n_test]
name = f"SE-ResNet-{6 * n_blocks + 2}"


def measure(model):
    """Test accuracy text, per-class mean excitations and per-block class spread of `model`."""
    loader = DataLoader(x_test, y_test, batch_size=500, transform=EvalTransform())
    acc = evaluate(model, loader)["acc"]
    means = collect_excitations(model, x_test, y_test, num_classes=10)
    return fmt_acc(round(acc * n_test), n_test), means, class_spread(means)


tag = f"n{n_blocks}_w{widths[0]}_e{epochs}_{train_size}"
model, loaded = train_or_load_se_resnet(run.out / f"11_se_resnet_{tag}.npz", data, epochs=epochs,
                                        train_size=train_size, blocks_per_stage=n_blocks, widths=widths)
shuffled_data = type(data)(data.x_train, np.random.default_rng(1).permutation(data.y_train), data.x_test,
                           data.y_test, data.classes, data.source)
control, _ = train_or_load_se_resnet(run.out / f"11_se_resnet_{tag}_shuffled.npz", shuffled_data, epochs=epochs,
                                     train_size=train_size, blocks_per_stage=n_blocks, widths=widths)
tinycnn.manual_seed(0)
results = {"trained": measure(model), "shuffled labels": measure(control),
           "untrained": measure(small_se_resnet(n_blocks, widths))}
how = "loaded" if loaded else f"trained {epochs} epoch(s) on {train_size} images"
print(f"{name} (widths {widths}), {how}; excitations of {n_test} test images")
for kind, (acc, _, _) in results.items():
    print(f"  {kind:16s} test accuracy {acc}")
means, spread = results["trained"][1], results["trained"][2]
floor = {b: max(results["shuffled labels"][2][b], results["untrained"][2][b]) for b in spread}
print(f"  {'block':12s} {'C':>3s}  spread across classes: {'trained':>8s} {'shuffled':>8s} {'untrained':>9s} "
      f"{'trained / floor':>15s}")
for b, value in spread.items():
    print(f"  {b:12s} {means[b].shape[1]:3d}  {'':23s}{value:8.4f} {results['shuffled labels'][2][b]:8.4f} "
          f"{results['untrained'][2][b]:9.4f} {value / floor[b]:15.1f}")
path = plot_excitations(means, data.classes, run.out / "11_se_excitations.png",
                        title=f"{name} on CIFAR-10 ({epochs} epoch(s), {train_size} images: a short run) - "
                              "mean excitation per class")
print(f"saved figure: {path}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
blocks = list(spread)
for k, (kind, (_, _, sp)) in enumerate(results.items()):
    ax.bar(np.arange(len(blocks)) + (k - 1) * 0.27, [sp[b] for b in blocks], 0.27, label=kind)
ax.set_xticks(range(len(blocks)), blocks, fontsize=7, rotation=30)
ax.set_ylabel("spread of mean excitation across classes")
ax.set_title(f"{name}: class-specificity per SE block, with two controls")
ax.legend(fontsize=8)
fig.tight_layout()
run.savefig(fig, "noise_floor")

# %% [markdown]
# The shipped SE-ResNet-20 (trained with the `cifar-small` recipe on all
# 50,000 images) is the better test of the paper's picture. Its floors: the
# same network untrained, and the trained network's own excitations averaged
# over *shuffled test labels* (a permutation floor: the spread that a finite
# test set gives a network with no class structure at all in its gates). The
# full shuffled-label training run is recorded with its accuracy only (its
# weights are not shipped), so its spreads cannot be measured here.

# %%
info = shipped("se_resnet20")
if info is not None:
    transform = EvalTransform(info["mean"], info["std"])
    big = models.create("se_resnet20", pretrained=True).eval()
    tinycnn.manual_seed(0)
    floors = {"trained": collect_excitations(big, x_test, y_test, 10, transform=transform),
              "permuted labels": collect_excitations(big, x_test, np.random.default_rng(0).permutation(y_test), 10,
                                                     transform=transform),
              "untrained": collect_excitations(models.create("se_resnet20").eval(), x_test, y_test, 10,
                                               transform=transform)}
    spreads = {kind: class_spread(m) for kind, m in floors.items()}
    print(f"se_resnet20: test accuracy {shipped_acc(info)[1]}; excitations of {n_test} test images")
    for r in read_runs_record().values():
        if r["model"] == "se_resnet20" and r["variant"]:
            print(f"  its {r['variant']} run (seed {r['seed']}): test accuracy "
                  f"{fmt_acc(round(r['test_acc'] * 10000), 10000)}")
    print(f"  {'block':24s} {'trained':>8s} {'permuted':>9s} {'untrained':>9s} {'trained / floor':>15s}")
    for b, value in spreads["trained"].items():
        floor_b = max(spreads["permuted labels"][b], spreads["untrained"][b])
        print(f"  {b:24s} {value:8.4f} {spreads['permuted labels'][b]:9.4f} {spreads['untrained'][b]:9.4f} "
              f"{value / floor_b:15.1f}")
    print(shipped_difference("se_resnet20", "resnet20"))
    path = plot_excitations(floors["trained"], data.classes, run.out / "11_se_resnet20_excitations.png",
                            title="shipped se_resnet20 (cifar-small, 50,000 images) - mean excitation per class")
    print(f"saved figure: {path}")

# %% [markdown]
# ## Summary
# * SE = global pooling (squeeze), a 2-layer bottleneck MLP with a sigmoid
#   (excitation), a channel-wise product (scale).
# * It adds about 1% parameters to the CIFAR ResNets, about 10% to ResNet-50
#   (printed), and well under 1% multiply-adds.
# * The excitations are per image. Whether a block is class-specific is
#   measured against a floor: the spread of an untrained network and of one
#   trained on shuffled labels. The lesson prints the ratio per block; a brief
#   run on a few thousand images is weak evidence for the paper's picture
#   (late blocks class-specific, early ones class-agnostic), and its
#   accuracy is printed so that you can judge how much was learnt.
# * The shipped SE-ResNet-20 (50,000 images, 8 epochs) shows the paper's
#   picture where it is clearest: the last stage's blocks stand several times
#   above both floors (the printed ratios; the last panel of its figure plots
#   the spread per block), while the earlier blocks are mixed, some near the
#   floor and some a few times above it.
# * Whether SE *improves accuracy* is a separate question: against the same
#   ResNet-20 without SE (the printed difference) it shows no gain at this
#   depth and budget.
#
# ## Exercises
# 1. Replace the sigmoid by a softmax over channels: what changes in what the
#    block can express?
# 2. Train with `--full` and compare the spread per depth, and its ratio to
#    the noise floor, with the short run.

# %%
run.done()
