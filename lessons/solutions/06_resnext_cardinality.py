# %% [markdown]
# # Solutions to lesson 06 — ResNeXt: cardinality

# %%
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn.models.resnet import Bottleneck  # noqa: E402
from tinycnn.models.resnext import resnext_cifar  # noqa: E402
from tinycnn.nn import functional as F  # noqa: E402

run = setup("sol06")
tinycnn.manual_seed(0)

# %% [markdown]
# ## Exercise 1: the parameters of a ResNeXt block
# 1x1 reduce: 256 inputs to C d channels, 256 C d weights. Grouped 3x3: C
# groups, each d -> d channels with 3x3 kernels, C * 9 d^2 weights. 1x1
# expand: C d -> 256, C d 256 weights. Total 512 C d + 9 C d^2. The ResNet
# bottleneck (C = 1, d = 64) has 512 * 64 + 9 * 64^2 = 69,632. For C = 16:
# 144 d^2 + 8192 d = 69,632, so d = (-8192 + sqrt(8192^2 + 4 * 144 * 69632)) / 288.

# %%
resnet = 512 * 64 + 9 * 64 ** 2
d = (-8192 + math.sqrt(8192 ** 2 + 4 * 144 * resnet)) / 288
print(f"ResNet bottleneck: {resnet:,} conv weights; C = 16 matches at d = {d:.2f}, so d = {round(d)}")
for C, width in ((1, 64), (16, round(d))):
    block = Bottleneck(256, 64, groups=C, base_width=width)
    counted = sum(m.weight.numel() for m in (block.conv1, block.conv2, block.conv3))
    print(f"C = {C:2d}, d = {width:2d}: formula {512 * C * width + 9 * C * width ** 2:,}, counted conv weights {counted:,}")

# %% [markdown]
# ## Exercise 2: time against groups
# The grouped 3x3 does 1/groups of the dense MACs, so ideally the time falls
# as 1/groups. It stops falling once each group is too small to keep the
# hardware busy: each group's product gets thinner (128/g rows), per-group
# overheads stay, and the path `conv2d` takes changes with the group size
# (printed: direct up to groups of 2 channels, which it pads with zero
# channels to whole blocks of 4, so 64 groups of 2 do twice their own work;
# depthwise at groups = channels). Where it flattens depends on the machine: read the
# printed GMAC/s, which fall as the groups shrink.

# %%
batch, size = run.pick(8, smoke=1), run.pick(16, smoke=8)
x = tinycnn.randn(batch, 128, size, size)
for groups in run.pick([1, 2, 4, 8, 16, 32, 64, 128], smoke=[1, 128]):
    w = tinycnn.randn(128, 128 // groups, 3, 3)
    t = run.time({"conv": lambda w=w, g=groups: F.conv2d(x, w, padding=1, groups=g)},
                 repeat=run.pick(5, smoke=1))["conv"]
    macs = batch * size * size * 128 * (128 // groups) * 9
    path = F.conv_algorithm(x.shape, w.shape, padding=1, groups=groups)[0]
    print(f"groups {groups:3d}: {t * 1e3:7.2f} ms, {macs / t / 1e9:6.2f} GMAC/s, path {path}")

# %% [markdown]
# ## Exercise 3: a small ResNeXt and a ResNet of similar parameters
# `resnext_cifar(4, 16, depth=11)` has one bottleneck block per stage with
# 4 paths of 16 channels in the first stage. The ResNet twin is the same
# network with one group: we pick its width so that its parameters come
# nearest, then compare MACs.

# %%
rx = tinycnn.summary(resnext_cifar(cardinality=4, bottleneck_width=16, depth=11), (3, 32, 32), print_table=False)
candidates = {w: tinycnn.summary(resnext_cifar(1, w, depth=11), (3, 32, 32), print_table=False)
              for w in range(16, 65, 4)}
best = min(candidates, key=lambda w: abs(candidates[w].total_params - rx.total_params))
rn = candidates[best]
print(f"ResNeXt-11 (4x16d): {rx.total_params:,} params, {rx.total_macs / 1e6:.1f}M MACs")
print(f"ResNet-11 (1x{best}d): {rn.total_params:,} params, {rn.total_macs / 1e6:.1f}M MACs "
      f"(nearest in parameters among widths 16..64)")

# %%
run.done()
