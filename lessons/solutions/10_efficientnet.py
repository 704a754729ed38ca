# %% [markdown]
# # Solutions to lesson 10 — EfficientNet

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn.models.efficientnet import EfficientNet  # noqa: E402

run = setup("sol10")

# %% [markdown]
# ## Exercise 1: the drop probability of every MBConv
# The printed probabilities grow linearly with the block's index over the
# whole network, from (about) 0 to just under 0.2: the linear rule of
# stochastic depth (lesson 07), counted over all 16 MBConv blocks of B0 across
# stages; torchvision's EfficientNet uses the same rule,
# 0.2 * block_index / number_of_blocks with the index from 0.

# %%
model = EfficientNet(1.0, 1.0, 224, drop_path_rate=0.2)
ps = np.array([m.stochastic_depth.p for m in model.modules() if hasattr(m, "stochastic_depth")])
print(f"{len(ps)} MBConv blocks, p = " + " ".join(f"{p:.4f}" for p in ps))
steps = np.diff(ps)
print(f"steps between blocks: all {steps[0]:.4f} = 0.2 / {0.2 / steps[0]:.0f}: {np.allclose(steps, steps[0])}; "
      f"first p = {ps[0]:.4f}, last p = {ps[-1]:.4f}")

# %% [markdown]
# ## Exercise 2: which single-dimension network has the most parameters?
# Parameters do not depend on the resolution (a conv's weights are the same
# for any image size), so resolution x1.41 adds none. Depth x2 doubles the
# blocks of every stage (layer counts rounded up) and leaves only the stem and
# the head alone: close to 2x. Width x1.41 would double the weights of the
# dense 1x1 convs (C_in x C_out: w^2), but the depthwise convs, the BN
# layers and the classifier grow only as w, and channels are rounded to
# multiples of 8: a little less than 2x. So depth x2 has the most parameters
# for the same FLOPs (counted below).

# %%
variants = {"B0": (1.0, 1.0, 224), "depth x2": (1.0, 2.0, 224), "width x1.41": (2 ** 0.5, 1.0, 224),
            "resolution x1.41": (1.0, 1.0, round(224 * 2 ** 0.5))}
b0 = tinycnn.count_params(EfficientNet(1.0, 1.0, 224))
for name, (w, d, R) in variants.items():
    params = tinycnn.count_params(EfficientNet(w, d, R))
    print(f"{name:>17s}: {params / 1e6:5.2f}M parameters ({params / b0:.2f}x B0)")

# %%
run.done()
