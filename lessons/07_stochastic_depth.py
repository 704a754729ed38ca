# %% [markdown]
# # Lesson 07 — Stochastic depth: train a shallower network, test the deep one
#
# Huang, Sun, Liu, Sedra & Weinberger (ECCV 2016): during training, drop
# whole residual blocks at random -- a dropped block is replaced by its
# shortcut -- so each mini-batch trains a shorter network; at test time
# use every block. Block l of L survives with probability
#
#     p_l = 1 - (l / L) (1 - p_L)        (linear decay, p_L = 0.5)
#
# so early blocks (whose features everybody needs) are almost always kept
# and late ones half the time. The paper reports that ResNet-110 trained
# this way reached 5.25% CIFAR-10 error instead of 6.41%, and trained about
# 25% faster (their numbers, not measured here).
#
# In tinycnn, `drop_path_rate = 1 - p_L` on the CIFAR ResNets puts an
# `nn.DropPath` on every residual branch (`resnet110_stochastic_depth`).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import plot_recorded_losses, setup

import tinycnn
from tinycnn import nn
from tinycnn.bench.timing import median_times
from tinycnn.models.resnet import BasicBlock, CifarResNet
from tinycnn.nn import functional as F
from tinycnn.nn.drop_path import stochastic_depth_rates
from tinycnn.random import rng

run = setup("07")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. Survival probabilities and the expected depth
# With L blocks the expected number of blocks that run in a training step is
# sum_l p_l = L - (1 - p_L)(L + 1) / 2; for ResNet-110 (L = 54 blocks,
# p_L = 0.5) that is 40.25: training runs, on average, a ResNet-82.

# %%
p_L = 0.5
L = 54
rates = np.array(stochastic_depth_rates(1 - p_L, L))  # drop probabilities (l / L)(1 - p_L)
survival = 1 - rates
expected = survival.sum()
assert np.isclose(expected, L - (1 - p_L) * (L + 1) / 2)
print(f"ResNet-110: L = {L} blocks, p_L = {p_L}")
print("p_l for l = 1, 10, 27, 54: " + ", ".join(f"{survival[i - 1]:.3f}" for i in (1, 10, 27, 54)))
print(f"expected blocks per training step: {expected:.2f} of {L} ({expected / L:.1%}); "
      f"expected conv layers: {2 + 2 * expected:.1f} of 110")

# %% [markdown]
# ## 2. What a training forward actually runs
# tinycnn's `DropPath` in its default "row" mode (as timm's) decides **per
# sample**: for each image of the batch, a block's branch is kept (and
# scaled by 1 / p_l) or zeroed. We
# hook every DropPath of a ResNet-110 (narrowed to 8/16/32 channels so the
# lesson stays fast) and count, per image, the blocks whose branch survived.

# %%
depth = run.pick(110, smoke=20)
widths = run.pick((8, 16, 32), smoke=(4, 8, 8))
n = (depth - 2) // 6
batch = run.pick(16, smoke=4)


def resnet_sd(drop_path_rate, mode="row"):
    return CifarResNet(BasicBlock, [n, n, n], widths=widths, stem_width=widths[0], drop_path_rate=drop_path_rate,
                       drop_path_mode=mode)


model = resnet_sd(1 - p_L)
kept = []


def count_kept(module, inputs, output):
    kept.append(np.abs(output.data).reshape(output.shape[0], -1).max(axis=1) > 0)  # (N,) branch survived


handles = [m.register_forward_hook(count_kept) for m in model.modules() if isinstance(m, nn.DropPath)]
x = tinycnn.randn(batch, 3, 32, 32)
y = np.arange(batch) % 10
model.train()
draws = run.pick(8, smoke=2)
with tinycnn.no_grad():
    per_image = []
    for _ in range(draws):
        kept.clear()
        model(x)
        per_image.append(np.sum(kept, axis=0))  # (N,) blocks that ran, per image
for h in handles:
    h.remove()
per_image = np.concatenate(per_image)
blocks = 3 * n
expected_here = (1 - np.array(stochastic_depth_rates(1 - p_L, blocks))).sum()
print(f"ResNet-{depth}: {blocks} blocks; per image, blocks that ran: mean {per_image.mean():.2f} "
      f"(expected {expected_here:.2f}), min {per_image.min()}, max {per_image.max()} "
      f"over {per_image.size} image-forwards")

# %% [markdown]
# ## 3. Training time saved
# The saving comes from **not computing** dropped branches. The paper drops a
# block for the whole mini-batch, so its branch is skipped: a step costs about
# E[blocks] / L = 75% of a full one. Per-sample DropPath ("row" mode) computes
# every branch and then multiplies the dropped samples by 0: more
# regularisation noise, and *more* work than no dropping (the mask multiply
# forward and backward). We time one forward + backward step of four versions
# of the same network: no dropping; the library's DropPath in "row" mode; the
# library's "batch" mode (`drop_path_mode="batch"`: one draw per block and
# batch, and the block skips a dropped branch); and the same idea written out
# in a few lines below (`BatchDropBlock`).
#
# Where the survivors are scaled: the paper trains the kept branch unscaled
# and multiplies every branch by p_l at test time; torchvision's
# `StochasticDepth`, timm and tinycnn scale a kept branch by 1 / p_l in
# training and leave the test-time network alone. The expectations agree
# either way; `BatchDropBlock` follows the library.


# %%
class BatchDropBlock(nn.Module):
    """The paper's stochastic depth for one BasicBlock: in training, with
    probability 1 - p the whole batch takes the shortcut only (the branch is
    not computed); a kept branch is scaled by 1 / p (as DropPath), so the
    test-time network is the plain block. x: (N, C, H, W) -> block's output."""

    def __init__(self, block, p_survive):
        super().__init__()
        self.block, self.p_survive = block, p_survive

    def branch(self, x):
        b = self.block
        return b.se(b.bn2(b.conv2(b.relu(b.bn1(b.conv1(x))))))

    def forward(self, x):
        b = self.block
        shortcut = x if b.downsample is None else b.downsample(x)
        if self.training and rng().random() >= self.p_survive:
            return F.relu(shortcut)  # dropped for the whole batch: the branch is never computed
        out = self.branch(x)
        if self.training:
            out = out * (1.0 / self.p_survive)  # kept: scaled so that E[branch] is the test-time branch
        return F.relu(out + shortcut)


# The docstring, checked: in training a wrapped block returns either relu(shortcut) or
# relu(shortcut + branch / p); in eval the plain block's output.
probe = BatchDropBlock(BasicBlock(4, 4), 0.5).train()
xp = tinycnn.randn(2, 4, 8, 8)
with tinycnn.no_grad():
    outs = [probe(xp).numpy() for _ in range(20)]
    kept_ref = F.relu(probe.branch(xp) * 2.0 + xp).numpy()
    probe.eval()
    assert np.allclose(probe(xp).numpy(), probe.block(xp).numpy())
dropped_ref = F.relu(xp).numpy()
n_kept = sum(np.allclose(o, kept_ref, atol=1e-5) for o in outs)
n_dropped = sum(np.allclose(o, dropped_ref) for o in outs)
assert n_kept + n_dropped == len(outs) and n_kept > 0 and n_dropped > 0
print(f"BatchDropBlock(p = 0.5), 20 training forwards: {n_kept} kept (branch x 2), {n_dropped} dropped (shortcut only)")


def batch_dropping(net, rate):
    """Wrap every block of a CIFAR ResNet (built with drop_path_rate = 0) in BatchDropBlock."""
    survive = 1 - np.array(stochastic_depth_rates(rate, blocks))
    i = 0
    for s in range(3):
        stage = getattr(net, f"layer{s + 1}")
        for j in range(len(stage)):
            stage[j] = BatchDropBlock(stage[j], survive[i])
            i += 1
    return net


nets = {"no dropping": resnet_sd(0.0), "DropPath row (per sample)": resnet_sd(1 - p_L),
        "DropPath batch (library)": resnet_sd(1 - p_L, mode="batch"),
        "BatchDropBlock (above)": batch_dropping(resnet_sd(0.0), 1 - p_L)}


def step(net):
    def call():
        t0 = time.process_time()
        net.train()
        F.cross_entropy(net(x), y).backward()
        return {"cpu": time.process_time() - t0}
    return call


# On a machine shared with other jobs the wall-clock time mostly measures the
# waits for a core; with one thread (--threads 1) the CPU time of this process
# measures the work itself, so we compare CPU times and print both.
repeats = run.pick(7, smoke=2, full=11)
measured = median_times({name: step(net) for name, net in nets.items()}, repeat=repeats)
times = {name: t["cpu"] for name, t in measured.items()}
base = times["no dropping"]
print(f"forward + backward, ResNet-{depth} at widths {widths}, batch {batch}, median of {repeats} steps "
      "(each step draws its own dropped blocks)")
for name, t in times.items():
    print(f"  {name:27s} CPU {t * 1e3:8.1f} ms   {t / base:6.1%} of no dropping   "
          f"(wall {measured[name]['total'] * 1e3:8.1f} ms)")
print(f"  expected for per-batch skipping: ~{expected_here / blocks:.1%} (the stem, pooling and fc always run)")
saved = 1 - times["DropPath batch (library)"] / base
print(f"batch mode saves {saved:.0%} of a step's CPU time against no dropping, and "
      f"{1 - times['DropPath batch (library)'] / times['DropPath row (per sample)']:.0%} against row mode; "
      f"row mode costs {times['DropPath row (per sample)'] / base - 1:+.0%} (every branch computed, plus the mask)")

# %% [markdown]
# ## 4. The full network at test time
# In eval mode every block runs: the output is deterministic, and the
# training-time scaling by 1 / p_l makes each branch's expected training output
# equal its test output (the paper instead multiplies the branch by p_l at test
# time: the same thing, the other way round).

# %%
model.eval()
with tinycnn.no_grad():
    a, b = model(x).numpy(), model(x).numpy()
assert np.array_equal(a, b)
branch = tinycnn.randn(1, 8, 4, 4)
samples = run.pick(4000, smoke=400)
with tinycnn.no_grad():
    mean = np.mean([F.drop_path(branch, 0.5, training=True).numpy() for _ in range(samples)], axis=0)
err = np.abs(mean - branch.numpy()).max() / np.abs(branch.numpy()).max()
print(f"eval: two forwards identical; E[DropPath(branch)] over {samples} draws = branch "
      f"(max relative deviation {err:.3f}, Monte-Carlo noise ~ {1 / np.sqrt(samples):.3f})")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
ax = axes[0]
ax.plot(np.arange(1, L + 1), survival, "o-", ms=3)
ax.axhline(p_L, color="gray", lw=0.7, ls="--")
ax.set_xlabel("block l (ResNet-110: 54 blocks)")
ax.set_ylabel("survival probability p_l")
ax.set_title(f"Linear decay to p_L = {p_L}: E[blocks] = {expected:.1f} / {L}")
ax = axes[1]
ax.hist(per_image, bins=np.arange(per_image.min() - 0.5, per_image.max() + 1.5), color="C1")
ax.axvline(expected_here, color="k", ls="--", label=f"expected {expected_here:.1f}")
ax.set_xlabel(f"blocks that ran per image (ResNet-{depth}, {blocks} blocks)")
ax.set_ylabel("count")
ax.set_title("Depth seen by each image in training")
ax.legend(fontsize=8)
ax = axes[2]
names = list(times)
ax.bar(range(len(names)), [times[k] / base for k in names], color=["C0", "C2", "C3", "C4"])
ax.axhline(expected_here / blocks, color="k", ls="--", lw=0.8, label="E[blocks] / L")
ax.set_xticks(range(len(names)), [k.replace(" (", "\n(") for k in names], fontsize=7)
ax.set_ylabel("CPU time of a training step (relative)")
ax.set_title(f"Forward + backward, batch {batch} (measured)")
ax.legend(fontsize=8)
fig.tight_layout()
run.savefig(fig, "stochastic_depth")

# %% [markdown]
# ## 5. What it does to accuracy: the shipped runs
# The paper's accuracy gains come from 110 to 1202 layers trained for 500
# epochs. Our evidence is ResNet-20 with and without stochastic depth (the
# paper's rule, p_L = 0.5, per-batch dropping), trained with the same
# 8-epoch `cifar-small` recipe: test accuracy with its error bar, the time
# of each run, and the training loss per epoch (measured on the network
# that ran, dropped blocks and all).

# %%
fig, ax = plt.subplots(figsize=(6, 3.6))
plot_recorded_losses(ax, {"resnet20": "C0", "resnet20_stochastic_depth": "C3"})
ax.set_title("ResNet-20, cifar-small recipe: with and without stochastic depth")
fig.tight_layout()
run.savefig(fig, "shipped_runs")

# %% [markdown]
# Read it with the paper's conditions in mind. Stochastic depth is a
# regulariser: it makes the network it trains weaker (an expected depth of
# 72% of ResNet-20's blocks here) so that the full network generalises
# better *after long training*, when a plain ResNet overfits. Eight epochs
# leave ResNet-20 underfitting: its last epoch's training accuracy (on
# augmented images, printed) is within about a point of its test accuracy,
# so there is almost no generalisation gap for the regulariser to close, and the weaker trained
# network simply costs accuracy; the time per run is what it saves.
#
# ## Summary
# * Survival decays linearly from 1 to p_L = 0.5: ResNet-110 trains with
#   40 of its 54 blocks on average, and tests with all of them.
# * Time is saved only if dropped branches are not computed: per-batch
#   dropping, as in the paper (`drop_path_mode="batch"`); section 3 prints
#   the saving. Per-sample DropPath (timm's default, tinycnn's "row") only
#   regularises, and costs extra time (section 3 prints how much).
# * On ResNet-20 with an 8-epoch budget it saves time and costs accuracy
#   (section 5, printed with error bars): the regulariser of very deep,
#   long-trained networks does not help a short, shallow run.
# * At test time the full, deterministic network runs; scaling by 1 / p_l
#   during training keeps the expectations equal.
#
# ## Exercises
# 1. Use a constant survival probability p_l = 0.75 (same expected depth):
#    compute the expected depth and think about which blocks now get dropped more.
# 2. Train `resnet_sd(0.0)` and `resnet_sd(0.5)` for the same number of epochs
#    with `tinycnn.train` (`--full`-sized budgets): which overfits less?

# %%
run.done()
