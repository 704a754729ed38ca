# %% [markdown]
# # Lesson 05 — Wide ResNets: width vs depth
#
# Residual connections made 1000-layer networks trainable, but each doubling
# of depth buys less and less accuracy, and thin layers use the hardware
# poorly. Zagoruyko & Komodakis (BMVC 2016) went the other way: **WRN-d-k**
# is a pre-activation ResNet of depth d whose blocks are k times wider
# (16k, 32k, 64k channels). WRN-28-10 (36.5M parameters) beat the 1001-layer
# pre-act ResNet (10.2M), and WRN-40-4 (8.9M) matched it while training
# about 8 times faster.
#
# Parameters grow as (blocks per stage) x k^2, so depth and width can be
# traded at a fixed budget. This lesson compares such networks in
# parameters, multiply-adds (MACs) and measured speed, shows *why* the wide
# ones are faster (bigger matrix products), runs a labelled mini-training and
# reads the accuracies of the shipped CIFAR models that hold parameters equal.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import fmt_acc, setup, shipped_difference, shipped_table

import tinycnn
from tinycnn.models.preact_resnet import PreActBasicBlock, PreActResNet
from tinycnn.models.wide_resnet import WideResNet
from tinycnn.nn import functional as F
from tinycnn.train import TrainConfig, evaluate, make_loaders, make_optimizer, make_scheduler, train_one_epoch

run = setup("05")
tinycnn.manual_seed(0)


# %% [markdown]
# ## 1. One budget, three shapes
# WRN-d-k has N = (d - 4) / 6 blocks per stage, and N k^2 fixes the
# parameters: WRN-28-1 and WRN-10-2 have N k^2 = 4 (the default run);
# WRN-100-1, WRN-28-2 and WRN-10-4 have N k^2 = 16 (`--full`).

# %%
family = run.pick([(28, 1), (10, 2)], smoke=[(16, 1), (10, 2)], full=[(100, 1), (28, 2), (10, 4)])
batch = run.pick(8, smoke=2, full=64)
repeats = run.pick(5, smoke=1, full=7)  # a loaded machine makes single timings noisy
rows = []
for depth, k in family:
    model = WideResNet(depth, k)
    s = tinycnn.summary(model, input_shape=(3, 32, 32), print_table=False)
    x = tinycnn.randn(batch, 3, 32, 32)
    y = np.arange(batch) % 10

    def inference(model=model, x=x):
        model.eval()
        with tinycnn.no_grad():
            model(x)

    def train_step(model=model, x=x, y=y):
        model.train()
        F.cross_entropy(model(x), y).backward()

    t = run.time({"inference": inference, "training": train_step}, repeat=repeats)
    t_infer, t_train = t["inference"], t["training"]
    convs = sum(1 for m in model.modules() if isinstance(m, tinycnn.nn.Conv2d))
    rows.append((f"WRN-{depth}-{k}", convs, s.total_params, s.total_macs, batch / t_infer, batch / t_train))

print(f"batch {batch}, median of {repeats}; img/s = images per second")
print(f"{'model':>10s} {'convs':>5s} {'params':>10s} {'MMACs/img':>9s} {'inference img/s':>15s} "
      f"{'training img/s':>14s} {'train GMAC/s':>12s}")
for name, convs, params, macs, infer, train in rows:
    print(f"{name:>10s} {convs:5d} {params:10,} {macs / 1e6:9.1f} {infer:15.1f} {train:14.1f} "
          f"{3 * macs * train / 1e9:12.2f}")
print("(training does ~3x the forward MACs: forward, gradient w.r.t. the input, gradient w.r.t. the weights)")
deep, wide = rows[0], rows[-1]  # the deepest-thinnest and the shallowest-widest of the family
print(f"{wide[0]} vs {deep[0]}: {wide[4] / deep[4]:.2f}x the images/s in inference, {wide[5] / deep[5]:.2f}x in "
      f"training; per MAC (training GMAC/s) {wide[3] * wide[5] / (deep[3] * deep[5]):.2f}x, because it also "
      f"counts {wide[3] / deep[3]:.2f}x the MACs of the deep one")

# %% [markdown]
# ## 2. Why wide is faster: bigger GEMMs
# Every 3x3 convolution is one matrix product (lesson 02):
# (C_out, 9 C_in) @ (9 C_in, N H W). Doubling the width quadruples the work of
# a layer but only doubles the data it reads (the input and output maps), so
# each number fetched from memory takes part in more multiply-adds: the
# GEMM's **arithmetic intensity** grows with C, and so does its speed. A deep
# thin network also pays a fixed per-layer cost (Python, im2col passes,
# BatchNorm, on a GPU one kernel launch each) many more times. We time one
# 3x3 convolution on 32x32 maps for growing widths.

# %%
widths = run.pick([8, 16, 32, 64], smoke=[8, 16], full=[8, 16, 32, 64, 128])
conv_batch = run.pick(8, smoke=2, full=64)
conv_rows = []
for C in widths:
    xc = tinycnn.randn(conv_batch, C, 32, 32)
    wc = tinycnn.randn(C, C, 3, 3)
    calls = max(1, 2 ** 12 // (C * C))  # several calls per sample for the small layers: less timer and load noise

    def convs(xc=xc, wc=wc, calls=calls):
        for _ in range(calls):
            F.conv2d(xc, wc, padding=1)

    t = run.time({"conv": convs}, repeat=run.pick(5, smoke=1, full=9))["conv"] / calls
    macs = conv_batch * 32 * 32 * C * C * 9
    conv_rows.append((C, t, macs / t / 1e9, macs / (4 * (2 * xc.numel() + wc.numel()))))
print(f"\n3x3 convolution, batch {conv_batch}, 32x32 maps, float32")
print(f"{'C':>5s} {'GEMM shape':>32s} {'ms':>8s} {'GMAC/s':>7s} {'MACs per byte moved':>20s}")
for C, t, gmacs, intensity in conv_rows:
    shape = f"({C}, {9 * C}) @ ({9 * C}, {conv_batch * 1024})"
    print(f"{C:5d} {shape:>32s} {t * 1e3:8.2f} {gmacs:7.2f} {intensity:20.1f}")

# %% [markdown]
# ## 3. A live mini-run (a demonstration, not evidence)
# Full WRNs need hours on a CPU, so we train two small members of the family
# with the same pre-activation blocks at half the paper's base width
# (8k, 16k, 32k channels): a thin deep one (N = 4 blocks per stage, k = 1,
# 26 conv layers) and a wide shallow one (N = 1, k = 2, 8 conv layers), with
# N k^2 = 4 for both (the lesson prints their parameters: not exactly equal,
# the projections and the stem differ). Same data, same
# epochs, same schedule (the training loop of `tinycnn.train`); we record the
# wall-clock time of each. One seed, a few hundred steps and a small test
# set: the accuracies carry a binomial error bar of several points (printed)
# plus a seed-to-seed spread of the same order, so this run shows the
# mechanics and the time, and cannot rank the two shapes.


# %%
def mini_wrn(n, k):
    """A WRN with base widths 8k/16k/32k and n pre-act basic blocks per stage."""
    return PreActResNet(PreActBasicBlock, [n, n, n], [8 * k, 16 * k, 32 * k], num_classes=10, stem_chs=8)


config = TrainConfig(epochs=run.pick(2, smoke=1, full=15), batch_size=run.pick(64, smoke=16), lr=0.2,
                     label_smoothing=0.0, warmup_epochs=run.pick(0.5, smoke=0.5, full=2.0),
                     train_size=run.pick(1000, smoke=128, full=20000))
data = run.cifar10()
keep = np.random.default_rng(0).permutation(len(data.y_train))[:config.train_size]
data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
n_test = run.pick(500, smoke=100, full=10000)
data.x_test, data.y_test = data.x_test[:n_test], data.y_test[:n_test]
curves = {}
for name, n, k in [("thin-deep  N=4 k=1", 4, 1), ("wide-shallow N=1 k=2", 1, 2)]:
    tinycnn.manual_seed(config.seed)
    model = mini_wrn(n, k)
    s = tinycnn.summary(model, input_shape=(3, 32, 32), print_table=False)
    train_loader, test_loader = make_loaders(config, data)
    optimizer = make_optimizer(config, model)
    scheduler = make_scheduler(config, optimizer, len(train_loader))
    elapsed, points = 0.0, []
    for epoch in range(1, config.epochs + 1):
        metrics = train_one_epoch(model, train_loader, optimizer, scheduler, config, epoch, progress=False)
        elapsed += metrics["train_seconds"]
        test = evaluate(model, test_loader)
        points.append((elapsed, metrics["train_loss"], test["acc"]))
    curves[name] = np.array(points)
    print(f"{name}: {s.total_params:,} params, {s.total_macs / 1e6:.1f} M MACs/img | {config.epochs} epochs on "
          f"{config.train_size} images in {elapsed:.1f} s ({metrics['img_per_s']:.0f} img/s) | "
          f"train loss {metrics['train_loss']:.3f}, test acc {fmt_acc(round(test['acc'] * n_test), n_test)}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
ax = axes[0]
names = [r[0] for r in rows]
xs = np.arange(len(rows))
ax.bar(xs - 0.2, [r[4] for r in rows], 0.4, label="inference")
ax.bar(xs + 0.2, [r[5] for r in rows], 0.4, label="training")
for i, r in enumerate(rows):
    ax.text(i, max(r[4], r[5]) * 1.02, f"{r[2] / 1e6:.2f}M params\n{r[3] / 1e6:.0f}M MACs", ha="center",
            va="bottom", fontsize=7)
ax.set_xticks(xs, names)
ax.set_ylabel("images / s (measured)")
ax.set_ylim(0, 1.3 * max(max(r[4], r[5]) for r in rows))
ax.set_title("Same budget: deep-thin vs shallow-wide")
ax.legend(fontsize=8, loc="upper left")
ax = axes[1]
ax.plot([c[0] for c in conv_rows], [c[2] for c in conv_rows], "o-")
ax.set_xscale("log", base=2)
ax.set_xlabel("channels C (3x3 conv, 32x32 maps)")
ax.set_ylabel("GMAC/s")
ax.set_title("Wider layer = bigger GEMM = faster per MAC")
ax = axes[2]
for name, pts in curves.items():
    se = np.sqrt(pts[:, 2] * (1 - pts[:, 2]) / n_test)  # binomial standard error of the test images
    ax.errorbar(pts[:, 0], pts[:, 2], yerr=se, fmt="o-", capsize=3, label=name)
ax.axhline(0.1, color="0.6", ls=":", label="chance")
ax.set_xlabel("training wall-clock time (s)")
ax.set_ylabel(f"test accuracy ({n_test} images)")
ax.set_title(f"mini-run (1 seed): {config.epochs} epochs on {config.train_size} images")
ax.legend(fontsize=8)
fig.tight_layout()
run.savefig(fig, "width_vs_depth")

# %% [markdown]
# ## 4. The evidence: shipped runs at equal parameters
# `wrn10_2` (one block per stage, 32/64/128 channels) and its thin-and-deep
# twin `preact_resnet20` (three blocks per stage, 16/32/64) hold the
# parameters about equal (0.30M vs 0.27M); `resnet20` (0.27M) and `resnet14`
# (0.17M) are the plain ResNets of that size. Each trained
# run used the same recipe (`tinycnn train --recipe cifar-small`) on the
# 50,000 training images and was tested on all 10,000 test images.

# %%
shipped_runs = shipped_table(["wrn10_2", "preact_resnet20", "resnet14", "resnet20"], run)
if "wrn10_2" in shipped_runs and "preact_resnet20" in shipped_runs:
    print(shipped_difference("wrn10_2", "preact_resnet20"))

# %% [markdown]
# ## Summary
# * At a fixed parameter budget the wide-shallow WRN counts about the same
#   MACs as the deep-thin one (section 1 prints the ratio). Section 1 prints how much
#   faster it runs, in inference, in training and per MAC; part of an
#   images/s gain is fewer MACs, and the per-MAC ratio isolates the rest. The
#   reasons it can be faster: bigger matrix products (section 2: the GMAC/s
#   of one conv grow with its width) and fewer layers to pay per-layer costs
#   for. At the default's small widths (up to 128 channels) the gain is modest,
#   and on a loaded machine two runs can disagree: repeat the run, or use
#   `--full` (N k^2 = 16, up to 256 channels), before reading a ratio.
# * The WRN paper's finding (reported there, not measured here): widening a
#   pre-activation ResNet improves accuracy more cheaply than deepening it.
#   Our evidence on CIFAR-10 at small size is section 4's shipped runs: at
#   0.3M parameters and 8 epochs they do not show that gain; the wide net is
#   slightly *behind* (the printed difference, within about two of its error
#   bars), and the two runs' times, taken on a shared machine, do not
#   separate them clearly.
# * The mini-run of section 3 measures time faithfully; its accuracies are
#   within their error bars of each other and of seed noise.
#
# ## Exercises
# 1. Add WRN-40-1 and WRN-16-2 (N k^2 = 6 and 8) to section 1: where do they
#    fall on the speed-vs-parameters plot?
# 2. In section 2, hold the MACs fixed instead: C = 16 at 64x64, 32 at 32x32,
#    64 at 16x16, 128 at 8x8. Which is fastest and why?
# 3. Train the two mini WRNs with `dropout_rate=0.3` (an argument of
#    `PreActBasicBlock`, passed through `PreActResNet`) for more epochs
#    (`--full`): does dropout help the wide one?

# %%
run.done()
