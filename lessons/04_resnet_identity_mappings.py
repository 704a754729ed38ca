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
from _common import setup

import tinycnn
from tinycnn import nn
from tinycnn.data import EvalTransform
from tinycnn.models.preact_resnet import PreActBasicBlock, cifar_preact_resnet
from tinycnn.models.resnet import BasicBlock, CifarResNet, cifar_resnet
from tinycnn.nn import functional as F

run = setup("04")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. Three networks that differ only in the shortcut
# The plain net is the CIFAR ResNet with the `+ x` removed from every block:
# same convolutions, same BatchNorms, same initialisation. We get it by
# overriding the block's `forward` (the shortcut modules it inherits are
# never called and hold no parameters).


# %%
class PlainBlock(BasicBlock):
    """BasicBlock without its shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))))."""

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


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
    """Per-conv gradient norms and per-block output stds for one batch."""
    block_types = (PlainBlock, BasicBlock, PreActBasicBlock)
    stds = []
    handles = [m.register_forward_hook(lambda mod, inp, out: stds.append(float(out.data.std())))
               for m in model.modules() if isinstance(m, block_types)]
    model.train()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    for h in handles:
        h.remove()
    convs = [m for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and "downsample" not in name]
    grads = [float(np.linalg.norm(m.weight.grad.numpy())) for m in convs]
    return np.array(grads), np.array(stds), float(loss.item())


results = {}
for depth in depths:
    for kind in ("plain", "resnet", "preact"):
        tinycnn.manual_seed(depth)  # the same initial weights draw for the three kinds
        grads, stds, loss = measure(build(kind, depth))
        results[depth, kind] = grads, stds
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
# ## 3. What the measurements show
# * **Plain net**: the gradient norm changes by a constant factor per layer,
#   so from the last to the first layer it spreads over orders of magnitude,
#   and the spread grows exponentially with depth (about 1e3 at depth 56, about
#   1e7 at depth 110). With BatchNorm the gradients *explode* towards the input
#   rather than vanish (Yang et al., ICLR 2019, explain why), but the lesson is
#   the same: the loss's gradient reaches early layers only through a product
#   of every layer's Jacobian, and one learning rate cannot suit all layers.
#   Its forward signal, by contrast, is flat: BN re-normalises every layer.
# * **ResNet**: the shortcut adds an identity to every block's Jacobian; the
#   gradient norms stay within about one order of magnitude at every depth.
# * **Pre-act ResNet**: nothing follows the addition, so inside a stage
#   x_L = x_l + sum F(x_i) exactly. Two consequences are visible: the forward
#   std grows along each stage (every block adds its residual), and the
#   gradient of the blocks' weights shrinks along the stage in proportion,
#   because the direct path delivers dLoss/dx_L to every block unchanged and
#   each block's first BN divides what it receives by the std of that
#   block's input. The check below multiplies the two: the product varies far
#   less than the gradient itself (what remains is the later blocks adding
#   their branches' gradients to the direct path on its way back). At each
#   stage boundary a 1x1 projection interrupts the identity and both curves
#   reset.

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

# ## Summary
# * Residual blocks learn a correction F(x); the shortcut gives the gradient a
#   direct path, so depth no longer multiplies it by a long product of Jacobians.
# * The pre-activation ordering (BN -> ReLU -> conv, nothing after the add)
#   makes that path a pure identity across the whole stage.
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
