# %% [markdown]
# # Solutions to lesson 08 — DenseNets

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup, shipped, shipped_acc  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn.models.densenet import densenet_cifar  # noqa: E402

run = setup("sol08")

# %% [markdown]
# ## Exercise 1: growth rate 24 instead of 12
# Layer l of a block reads c_0 + (l - 1) k channels and writes k: its 3x3 conv
# has ~ (c_0 + l k) k 9 weights: with l k much larger than c_0 (the plain
# DenseNet's stem has 16 channels, the BC one's 2k) every layer's weights and
# MACs grow about as k^2. Doubling k should multiply both by a little under 4
# (the stem, the classifier and BN grow more slowly).

# %%
configs = run.pick([(40, False, 1.0), (100, True, 0.5)], smoke=[(40, False, 1.0)])
for depth, bottleneck, theta in configs:
    counts = {}
    for k in (12, 24):
        s = tinycnn.summary(densenet_cifar(depth, k, bottleneck=bottleneck, compression=theta), (3, 32, 32),
                            print_table=False)
        counts[k] = (s.total_params, s.total_macs)
    name = f"DenseNet{'-BC' if bottleneck else ''} (L={depth})"
    print(f"{name:22s} k=12: {counts[12][0]:,} params, {counts[12][1] / 1e6:.0f}M MACs; k=24: {counts[24][0]:,} "
          f"params, {counts[24][1] / 1e6:.0f}M MACs; ratios {counts[24][0] / counts[12][0]:.2f}x params, "
          f"{counts[24][1] / counts[12][1]:.2f}x MACs")

# %% [markdown]
# ## Exercise 2: the maps after long training
# The short run of the lesson barely moves the weights. The shipped
# DenseNet-BC (cifar-small recipe, full training set) shows what long
# training does. In blocks 2 and 3 the "block input" column holds the
# transition layer's output (which mixes everything the previous block made):
# the paper found that later layers give it little weight. The numbers below
# are the mean row-normalised weight on the block input vs on the layers of
# the block, per block, when the model is shipped.


# %%
def reuse_rows(block, k=12):
    """Mean |w| of each layer's concatenation-reading conv per source, row-normalised (lesson 08)."""
    rows = []
    for l, layer in enumerate(block.children(), start=1):
        w = np.abs(layer.conv1.weight.numpy())
        c0 = w.shape[1] - (l - 1) * k
        bounds = [0, c0] + [c0 + j * k for j in range(1, l)]
        row = np.array([w[:, bounds[s]:bounds[s + 1]].mean() for s in range(l)])
        rows.append(row / row.max())
    return rows


info = shipped("densenet_bc_28_12")
if info is not None:
    net = tinycnn.models.create("densenet_bc_28_12", pretrained=True)
    print(f"densenet_bc_28_12: {shipped_acc(info)[1]}")
    for b in (1, 2, 3):
        rows = reuse_rows(getattr(net.features, f"denseblock{b}"))
        inputs = np.mean([r[0] for r in rows[1:]])
        layers = np.mean([r[1:].mean() for r in rows[1:]])
        print(f"block {b}: mean weight on the block input {inputs:.2f}, on the block's own layers {layers:.2f}")

# %%
run.done()
