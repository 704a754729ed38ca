# %% [markdown]
# # Solutions to lesson 04 — ResNet and identity mappings

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import mini_run, setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import nn  # noqa: E402
from tinycnn.data import EvalTransform  # noqa: E402
from tinycnn.models.preact_resnet import PreActBasicBlock, cifar_preact_resnet  # noqa: E402
from tinycnn.models.resnet import CifarResNet, PlainBlock, cifar_resnet  # noqa: E402
from tinycnn.nn import functional as F  # noqa: E402

run = setup("sol04")
data = run.cifar10()
batch = run.pick(32, smoke=4)
x = tinycnn.tensor(EvalTransform()(data.x_train[:batch]))
y = data.y_train[:batch]


def conv_grads(model):
    """||dLoss/dW|| of every conv in order of depth, and the names, after one batch in train mode."""
    model.train()
    F.cross_entropy(model(x), y).backward()
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return [name for name, _ in convs], np.array([float(np.linalg.norm(m.weight.grad.numpy())) for _, m in convs])


# %% [markdown]
# ## Exercise 1: option A vs option B shortcuts
# Option A pads the shortcut with zero channels and subsamples it: no
# parameters, and the identity path stays intact across a stage boundary
# (for the channels that exist). Option B puts a 1x1 conv + BN on the
# shortcut at each boundary: the gradient passes through a learnt projection
# there. Compare the printed ratios: in our runs the projections made the
# step across each boundary larger (the ratio of the gradient of a stage's
# last conv to the next stage's first moved further from 1) and the
# first/last spread larger, which is the picture's point: only an identity
# keeps the path clean. The two projection convs get gradients of their own.

# %%
depth = run.pick(56, smoke=14)
for option in ("A", "B"):
    tinycnn.manual_seed(depth)
    names, grads = conv_grads(cifar_resnet(depth, shortcut=option))
    main = [g for name, g in zip(names, grads) if "downsample" not in name]
    n = (depth - 2) // 6
    boundary = [main[2 * n * s] / main[2 * n * s + 1] for s in (1, 2)]  # last conv of a stage / first of the next
    projections = [f"{g:.2e}" for name, g in zip(names, grads) if "downsample" in name]
    print(f"option {option}: first/last conv gradient {main[0] / main[-1]:.2f}; across the two stage boundaries "
          f"{boundary[0]:.2f}, {boundary[1]:.2f}; projection convs {projections or 'none'}")

# %% [markdown]
# ## Exercise 2: does the deeper plain net train worse?
# He et al. (2016) report that a 56-layer plain net reaches a *higher*
# training error than a 20-layer one, while a ResNet-56 reaches a lower one.
# A live mini-run (one epoch on 512 images, one seed, a few steps) is far too
# short to show it: after so few steps every network is still near the
# chance loss log(10) = 2.30, and the deep ones may even be above it. Run it
# with `--full` (one epoch on 10,000 images) for a first look; the paper's
# evidence is full-length training.


# %%
train_size, n_test = run.pick(512, smoke=64, full=10000), run.pick(500, smoke=50, full=10000)
for d in run.pick([20, 56], smoke=[8, 14]):
    k = (d - 2) // 6
    for kind, build in (("plain", lambda: CifarResNet(PlainBlock, [k, k, k])), ("resnet", lambda: cifar_resnet(d))):
        tinycnn.manual_seed(0)
        r = mini_run(build(), data, train_size, n_test, epochs=run.pick(1, full=3), lr=0.05)  # few steps: a gentler lr
        print(f"depth {d:3d} {kind:6s}: train loss {r['train_loss'][-1]:.3f}, test {r['acc_text']}, "
              f"{r['seconds']:.0f} s")

# %% [markdown]
# ## Exercise 3: residual branches scaled by 0.1
# In the pre-act net the stream adds every branch: its variance grows by about
# Var(branch) per block. Scaled by 0.1, each block adds 1% of that variance,
# so the forward std grows far less along the network (printed: the std of
# each block's output, first and last, and the ratio of the largest to the
# smallest).

# %%
depth = run.pick(56, smoke=14)
for scale in (1.0, 0.1):
    tinycnn.manual_seed(depth)
    model = cifar_preact_resnet(depth, bottleneck=False).train()
    stds = []
    for block in model.modules():
        if isinstance(block, PreActBasicBlock):
            if scale != 1.0:  # se is Identity here, applied to the branch just before the addition
                block.se.register_forward_hook(lambda m, i, out: out * scale)
            block.register_forward_hook(lambda m, i, out: stds.append(float(out.data.std())))
    with tinycnn.no_grad():
        model(x)
    print(f"branch x {scale}: block output std first {stds[0]:.2f}, last {stds[-1]:.2f}, "
          f"max/min {max(stds) / min(stds):.2f}")

# %%
run.done()
