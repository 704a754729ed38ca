# %% [markdown]
# # Lesson 04 — ResNet and identity mappings
#
# Stacking more layers on a plain CNN eventually makes it *worse*, even on the
# training set (He et al. 2016, "degradation"). A residual block instead
# learns a correction F(x) to its input and adds the input back:
#
#     original (post-activation)        pre-activation (He et al., ECCV 2016)
#     y = relu(x + BN(conv(relu(BN(conv(x))))))      y = x + conv(relu(BN(conv(relu(BN(x))))))
#
# In the pre-activation form nothing follows the addition, so block after
# block x_L = x_l + sum_{i=l}^{L-1} F(x_i), and the gradient
# dLoss/dx_l = dLoss/dx_L * (1 + d/dx_l sum F) always contains the term
# dLoss/dx_L itself: a **direct path** from the loss to every layer.
#
# This lesson builds a plain net, a ResNet and a pre-act ResNet of the same
# depth and width from the model zoo, runs **one batch** forward and backward
# through each, and measures, layer by layer, the gradient norm of every
# convolution and the size of every block's output.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import plot_recorded_losses, setup, shipped_difference

import tinycnn
from tinycnn import nn
from tinycnn.data import EvalTransform
from tinycnn.models.preact_resnet import PreActBasicBlock, cifar_preact_resnet
from tinycnn.models.resnet import BasicBlock, CifarResNet, PlainBlock, cifar_resnet
from tinycnn.nn import functional as F

run = setup("04")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. Three networks that differ only in the shortcut
# The plain net is the CIFAR ResNet with the `+ x` removed from every block:
# same convolutions, same BatchNorms, same initialisation. The zoo's
# `PlainBlock` (tinycnn/models/resnet.py) is `BasicBlock` with its `forward`
# overridden (the shortcut modules it inherits are never called and hold no
# parameters); `plain20` in the zoo is this net at depth 20.


# %%
def build(kind: str, depth: int) -> nn.Module:
    """A CIFAR network of `depth` = 6n + 2 weighted layers, 16/32/64 channels."""
    n = (depth - 2) // 6
    if kind == "plain":
        return CifarResNet(PlainBlock, [n, n, n])
    if kind == "resnet":
        return cifar_resnet(depth)
    return cifar_preact_resnet(depth, bottleneck=False)


for kind in ("plain", "resnet", "preact"):
    model = build(kind, 20)
    print(f"{kind:7s} depth 20: {tinycnn.count_params(model):,} parameters")
print("\nthe two residual blocks side by side:")
print(BasicBlock(16, 16))
print(PreActBasicBlock(16, 16))

# %% [markdown]
# ## 2. One batch through each network
# We use real CIFAR-10 images (normalised) and the models in training mode,
# as in the first step of training. For every convolution (in order of depth,
# shortcut projections left out) we record ||dLoss/dW||, and with forward
# hooks the standard deviation of each block's output.

# %%
depths = run.pick([20, 56, 110], smoke=[8, 14], full=[20, 56, 110, 218])
batch = run.pick(32, smoke=4, full=128)
data = run.cifar10()
x = tinycnn.tensor(EvalTransform()(data.x_train[:batch]))
y = data.y_train[:batch]


def measure(model: nn.Module):
    """Per-conv gradient norms, per-block output stds and per-block dLoss/d(block output) for one
    batch. The last needs the gradient of an intermediate tensor, which autograd does not keep:
    each block's forward hook adds a zero leaf `probe` to its output, and dLoss/d(output) lands in
    probe.grad (adding zero changes nothing else)."""
    block_types = (PlainBlock, BasicBlock, PreActBasicBlock)
    stds, probes = [], []

    def hook(module, inputs, out):
        stds.append(float(out.data.std()))
        probes.append(tinycnn.tensor(np.zeros(out.shape, dtype=out.data.dtype), requires_grad=True))
        return out + probes[-1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, block_types)]
    model.train()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    for h in handles:
        h.remove()
    # the 3x3 convolutions only: not the 1x1 projections, nor pre-act's 1x1-conv classifier head
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3)]
    grads = [float(np.linalg.norm(m.weight.grad.numpy())) for m in convs]
    stream = [p.grad.numpy().ravel() for p in probes]  # dLoss/d(output of block b), flattened
    return np.array(grads), np.array(stds), stream, float(loss.item())


def cosine_to_stage_end(stream, depth):
    """Cosine between dLoss/d(output of each block of stage 2) and dLoss/d(output of its last
    block): how much of the gradient at the stage's end reaches each block unchanged in direction."""
    n = (depth - 2) // 6
    end = stream[2 * n - 1]
    return np.array([g @ end / (np.linalg.norm(g) * np.linalg.norm(end) + 1e-30) for g in stream[n:2 * n]])


results, cosines = {}, {}
for depth in depths:
    for kind in ("plain", "resnet", "preact"):
        tinycnn.manual_seed(depth)  # the same initial weights draw for the three kinds
        grads, stds, stream, loss = measure(build(kind, depth))
        results[depth, kind] = grads, stds
        cosines[depth, kind] = cosine_to_stage_end(stream, depth)
        print(f"depth {depth:3d} {kind:7s} loss {loss:6.3f}   ||dL/dW||: first conv {grads[0]:.2e}, "
              f"last conv {grads[-1]:.2e}, first/last {grads[0] / grads[-1]:8.2f}   "
              f"block output std: first {stds[0]:.2f}, last {stds[-1]:.2f}")

# %%
labels = {"plain": "plain (no shortcut)", "resnet": "ResNet (post-activation)", "preact": "pre-act ResNet"}
colors = {"plain": "tab:red", "resnet": "tab:blue", "preact": "tab:green"}
fig, axes = plt.subplots(2, len(depths), figsize=(4.2 * len(depths), 7), squeeze=False)
for col, depth in enumerate(depths):
    for kind in ("plain", "resnet", "preact"):
        grads, stds = results[depth, kind]
        axes[0, col].semilogy(np.arange(1, len(grads) + 1), grads, ".-", ms=3, color=colors[kind], label=labels[kind])
        axes[1, col].plot(np.arange(1, len(stds) + 1), stds, ".-", ms=3, color=colors[kind], label=labels[kind])
    n = (depth - 2) // 6
    for stage in (1, 2):  # stage boundaries: conv index 1 + 2 n * stage, block index n * stage
        axes[0, col].axvline(1 + 2 * n * stage + 0.5, color="0.8", lw=1)
        axes[1, col].axvline(n * stage + 0.5, color="0.8", lw=1)
    axes[0, col].set_title(f"depth {depth}: gradient norm per conv layer")
    axes[0, col].set_xlabel("conv layer (input -> output)")
    axes[1, col].set_title(f"depth {depth}: std of each block's output")
    axes[1, col].set_xlabel("residual block (input -> output)")
axes[0, 0].set_ylabel("||dLoss / dW|| (log)")
axes[1, 0].set_ylabel("output std")
axes[0, 0].legend(fontsize=8)
fig.suptitle(f"One batch of {batch} CIFAR-10 images at initialisation (train mode); grey lines: stage boundaries")
fig.tight_layout()
run.savefig(fig, "gradient_norm_vs_depth")

# %% [markdown]
# ## 3. What the measurements show, and what they do not
# * **Plain net**: the gradient norm changes by a roughly constant factor per
#   layer, so its first/last ratio grows *exponentially* with depth (the lesson
#   prints it per depth). With BatchNorm the gradients *explode* towards the
#   input rather than vanish (Yang et al., ICLR 2019, explain why): the loss's
#   gradient reaches early layers only through a product of every layer's
#   Jacobian, and one learning rate cannot suit all layers.
# * **Both residual nets**: the ratio grows far more slowly with depth.
# * **Pre-act vs post-act**: by the first/last ratio, pre-act looks *worse*
#   (the lesson prints both). That does not contradict the identity-mapping
#   argument, because the ratio does not measure it. In the pre-act form
#   dLoss/dx_l = dLoss/dx_L + (the gradients of the branches between l and L),
#   and nothing removes those extra terms: every branch adds its own gradient on
#   the way back, just as every branch adds its output on the way forward,
#   where the std of the stream grows along each stage (bottom row of the
#   figure) because no BN follows the addition (nor does one in the original
#   block: it has only a ReLU there, and its stream grows too). So the
#   gradient grows towards
#   the input; a clean identity path means that dLoss/dx_L *is one of the terms*,
#   not that the sum is flat.
#
# Two measurements separate the two questions. First, the gradient of each
# block's first conv times the std of that block's input: the BN that opens the
# branch divides by that std, and the product varies much less than the
# gradient alone (both printed). Second, the direction of the gradient: the
# cosine between dLoss/d(block output) and the gradient at the end of its
# stage, for every block of stage 2.

# %%
deepest = depths[-1]
n = (deepest - 2) // 6
grads, stds = results[deepest, "preact"]
blocks = range(n + 1, 2 * n)  # stage 2 without its first (projection) block
conv1_grad = np.array([grads[1 + 2 * b] for b in blocks])  # conv index 0 is the stem
input_std = np.array([stds[b - 1] for b in blocks])  # block b's input is block b-1's output
print(f"pre-act, depth {deepest}, stage 2: ||dL/dW|| of the blocks' first conv varies "
      f"{conv1_grad.max() / conv1_grad.min():.1f}x, the std of their inputs {input_std.max() / input_std.min():.1f}x, "
      f"their product only {(conv1_grad * input_std).max() / (conv1_grad * input_std).min():.2f}x")
print("\ncosine(dL/d(block output), dL/d(end of stage 2)) for the blocks of stage 2, first block first:")
for depth in depths:
    for kind in ("plain", "resnet", "preact"):
        c = cosines[depth, kind]
        print(f"  depth {depth:3d} {kind:7s} first block {c[0]:5.2f}, middle {c[len(c) // 2]:5.2f}, last {c[-1]:4.2f}")

# %% [markdown]
# In the plain net the cosine is about 0 one block before the end: what the
# loss asks of the stage's output is scrambled by every layer. In both residual
# nets it stays above 0 across the whole stage and decays slowly, block by
# block (each branch adds a gradient of its own): the direct path.
# At initialisation, pre-act and post-act look alike by this measure too. The
# paper's case for pre-activation (He et al., ECCV 2016) rests on *training*
# (their ResNet-1001), where the ReLU after each addition of the original
# block can cut the path; one batch at initialisation cannot show that. The
# evidence that can is training runs: the cell below plots the training loss of
# the recorded cifar-small runs of the three depth-20 networks (same recipe,
# same layers; plain20 is resnet20 without its shortcuts), every seed.

# %%
fig, ax = plt.subplots(figsize=(6, 3.8))
plot_recorded_losses(ax, {"plain20": "tab:red", "resnet20": "tab:blue", "preact_resnet20": "tab:green"})
ax.set_title("depth 20, cifar-small recipe: plain vs ResNet vs pre-act")
fig.tight_layout()
print(shipped_difference("preact_resnet20", "resnet20"))
print(shipped_difference("resnet20", "plain20"))
run.savefig(fig, "shipped_training_loss")

# %% [markdown]
# Read the curves with the error bars: a test-accuracy difference smaller
# than about twice the printed standard error (plus the seed-to-seed spread,
# where two seeds ran) is not a ranking. Pre-act vs post-act at depth 20 is
# such a tie (printed): the paper's case for pre-activation is made at
# 110-1001 layers, where the ReLU after each addition can cut the identity
# path, and depth 20 cannot show it. In the paper's degradation figure the
# gap between plain and residual nets also opens with depth (20 vs 56 layers);
# depth 56 costs almost three times depth 20 and is not in this budget
# (exercise 2 tries a short run).
#
# ## Summary
# * Residual blocks learn a correction F(x); the shortcut gives the gradient a
#   direct path (the cosine above), so depth no longer multiplies it by a long
#   product of Jacobians: the gradient spread grows slowly with depth, not
#   exponentially as in the plain net.
# * The pre-activation ordering (BN -> ReLU -> conv, nothing after the add)
#   makes that path a pure identity across the whole stage; the price is a
#   residual stream whose std grows with every block. The first/last gradient
#   ratio at initialisation does not measure the identity path, and by it
#   pre-act looks worse; the case for pre-act is made in training.
#
# ## Exercises
# 1. Compare option A (zero-padding) and option B (1x1 projection) shortcuts
#    (`cifar_resnet(56, shortcut="B")`): do the projection layers change the picture
#    at the stage boundaries?
# 2. Train the plain net and the ResNet of depth 20 and 56 for one epoch each
#    (`tinycnn.train`): does the deeper plain net reach a lower or a higher training loss?
# 3. Scale every residual branch by 0.1 before the addition (a "SkipInit"-like
#    trick). How do the forward stds of the pre-act net change?

# %%
run.done()
