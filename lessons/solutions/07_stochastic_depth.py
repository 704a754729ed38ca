# %% [markdown]
# # Solutions to lesson 07 — Stochastic depth

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup, shipped, shipped_acc, shipped_log  # noqa: E402

from tinycnn.nn.drop_path import stochastic_depth_rates  # noqa: E402

run = setup("sol07")

# %% [markdown]
# ## Exercise 1: a constant survival probability
# With p_l = 0.75 for every block the expected depth is 0.75 L = 40.5 of 54
# blocks, against 40.25 for the linear rule to p_L = 0.5: about the same.
# But the drops move: the linear rule almost never drops the early blocks
# (p_1 = 0.99) and drops the last half of the time; the constant rule drops
# every block a quarter of the time, so the early blocks, whose low-level
# features every later block needs, are now dropped far more often, and the
# late ones less.

# %%
L = 54
linear = 1 - np.array(stochastic_depth_rates(0.5, L))
constant = np.full(L, 0.75)
print(f"expected blocks: linear {linear.sum():.2f}, constant {constant.sum():.2f} of {L}")
for l in (1, 10, 27, 40, 54):
    print(f"block {l:2d}: P(dropped) linear {1 - linear[l - 1]:.3f}, constant {1 - constant[l - 1]:.3f}")
print(f"blocks dropped more often under the constant rule: 1..{int(np.sum(constant < linear))}")

# %% [markdown]
# ## Exercise 2: which overfits less?
# Overfitting shows as the gap between training and test accuracy at the end
# of a long run; a short run on a subset cannot show it (both nets underfit).
# The shipped ResNet-20 and ResNet-20 with stochastic depth (same recipe,
# full training set) answer it when they are shipped: the gap is printed
# from their training logs and manifests. One seed each: a difference within
# about two test-set standard errors is a tie.

# %%
for name in ("resnet20", "resnet20_stochastic_depth"):
    info = shipped(name)
    if info is None:
        continue
    log = shipped_log(info)
    acc, text = shipped_acc(info)
    gap = 100 * (log["train_acc"][-1] - acc) if "train_acc" in log else float("nan")
    print(f"{name}: test {text}; last epoch's training accuracy {100 * log['train_acc'][-1]:.1f}% "
          f"(with augmentation, and with dropping for the stochastic-depth net): gap {gap:.1f} points")

# %%
run.done()
