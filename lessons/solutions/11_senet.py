# %% [markdown]
# # Solutions to lesson 11 — SENet

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup, shipped  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import models, nn  # noqa: E402
from tinycnn.data import EvalTransform  # noqa: E402
from tinycnn.viz import class_spread, collect_excitations  # noqa: E402

run = setup("sol11")
tinycnn.manual_seed(0)

# %% [markdown]
# ## Exercise 1: softmax instead of sigmoid
# Sigmoid gates are independent: every channel can be kept (s ~ 1), dropped
# (s ~ 0) or anything between, regardless of the others; "emphasise several
# channels at once" is possible. Softmax gates sum to 1 over the C channels:
# channels compete, raising one lowers the others, and the average gate is
# 1/C, so the block also shrinks its output C-fold unless it is rescaled.
# It can express "which channel matters most" but not "all of these matter".
# Measured on one SE block with the same weights:

# %%
C = 64
se = nn.SqueezeExcitation(C, C // 16)
U = tinycnn.randn(4, C, 8, 8)
z = U.numpy().mean(axis=(2, 3))
w1, b1 = se.fc1.weight.numpy()[:, :, 0, 0], se.fc1.bias.numpy()
w2, b2 = se.fc2.weight.numpy()[:, :, 0, 0], se.fc2.bias.numpy()
logits = np.maximum(z @ w1.T + b1, 0) @ w2.T + b2                      # (N, C)
sigmoid = 1 / (1 + np.exp(-logits))
softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
softmax /= softmax.sum(axis=1, keepdims=True)
print(f"sigmoid gates: mean {sigmoid.mean():.3f}, sum over channels {sigmoid.sum(axis=1).mean():.1f}")
print(f"softmax gates: mean {softmax.mean():.4f} (= 1/C = {1 / C:.4f}), sum over channels "
      f"{softmax.sum(axis=1).mean():.1f}")
ratio = np.std(U.numpy() * sigmoid[:, :, None, None]) / np.std(U.numpy() * softmax[:, :, None, None])
print(f"output std, sigmoid-gated / softmax-gated: {ratio:.0f}x")

# %% [markdown]
# ## Exercise 2: the long run
# `python lessons/11_senet.py --full` trains the small SE-ResNet longer (and
# its shuffled-label control), and prints the spread per block with its ratio
# to the noise floor; compare it with the default run's table. A model
# trained to the end is the shipped SE-ResNet-20: its spreads per block are
# printed below when it ships (block names run from the input to the output;
# the paper's picture is a spread that grows with depth).

# %%
info = shipped("se_resnet20")
if info is not None:
    data = run.cifar10()
    n = run.pick(2000, smoke=100)
    model = models.create("se_resnet20", pretrained=True)
    means = collect_excitations(model, data.x_test[:n], data.y_test[:n], 10,
                                transform=EvalTransform(info["mean"], info["std"]))
    for name, value in class_spread(means).items():
        print(f"  {name:24s} spread across classes {value:.4f}")

# %%
run.done()
