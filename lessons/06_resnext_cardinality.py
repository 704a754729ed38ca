# %% [markdown]
# # Lesson 06 — ResNeXt: cardinality
#
# ResNeXt (Xie et al., CVPR 2017) replaces the bottleneck's single 3x3
# transformation by the **sum of C identical, narrow transformations**:
#
#     y = x + sum_{i=1..C} T_i(x),   T_i = 1x1 (256 -> d) -> 3x3 (d -> d) -> 1x1 (d -> 256)
#
# C is the **cardinality**, a new dimension next to depth and width. The paper
# draws the block in three forms that compute the same function:
#
#     (a) split-transform-merge: C separate paths, outputs summed
#     (b) early concatenation:   C paths of 1x1 -> 3x3, concatenated, one 1x1
#     (c) grouped convolution:   1x1 to C*d channels, 3x3 with C groups, one 1x1
#
# Form (c) is the one everybody implements (one grouped conv, one GEMM per
# group). This lesson builds all three from the same weights and checks that
# they agree, then compares ResNeXt templates with a ResNet bottleneck of the
# same parameter budget: parameters, multiply-adds and measured time.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import setup, shipped_difference, shipped_table

import tinycnn
from tinycnn.models.resnet import Bottleneck
from tinycnn.models.resnext import EarlyConcatBlock, SplitTransformMergeBlock

run = setup("06")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. The three forms, the same weights
# `Bottleneck(256, 64, groups=C, base_width=d)` is form (c): its 3x3 conv has
# C*d channels in C groups. `SplitTransformMergeBlock.from_grouped` and
# `EarlyConcatBlock.from_grouped` cut its weights into the C paths of forms (a)
# and (b): path i gets output channels i*d:(i+1)*d of the first 1x1, group i of
# the 3x3, and (form a) input columns i*d:(i+1)*d of the last 1x1. We randomise
# every BatchNorm's affine parameters and running statistics first so the
# check is not helped by identity BNs, and compare in float64.

# %%
cardinality, d = run.pick(32, smoke=4), 4
inplanes = 256
grouped = Bottleneck(inplanes, inplanes // 4, groups=cardinality, base_width=d)
state = grouped.state_dict()
for name, value in state.items():
    if name.startswith("bn") and name.endswith(("running_mean", "bias")):
        state[name] = 0.1 * tinycnn.randn(*value.shape).numpy()
    elif name.startswith("bn") and name.endswith(("running_var", "weight")):
        state[name] = 0.5 + tinycnn.rand(*value.shape).numpy()
grouped.load_state_dict(state)
split = SplitTransformMergeBlock.from_grouped(grouped)  # copies of the float32 weights
concat = EarlyConcatBlock.from_grouped(grouped)
for block in (grouped, split, concat):
    block.double()  # the same numbers in float64: differences are then the sums' order only

x = tinycnn.randn(2, inplanes, 8, 8, dtype=np.float64)
for mode in ("eval", "train"):
    outputs = {}
    for name, block in (("(c) grouped conv", grouped), ("(a) split-transform-merge", split),
                        ("(b) early concatenation", concat)):
        getattr(block, mode)()
        outputs[name] = block(x).numpy()
    ref = outputs["(c) grouped conv"]
    for name, out in outputs.items():
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10, err_msg=f"{name}, {mode} mode")
    diffs = ", ".join(f"{k.split()[0]} {np.abs(v - ref).max():.1e}" for k, v in outputs.items() if v is not ref)
    print(f"{mode:5s} mode: output {ref.shape}, the three forms agree (max |difference| vs (c): {diffs})")

for name, block in (("(c) grouped conv", grouped), ("(a) split-transform-merge", split),
                    ("(b) early concatenation", concat)):
    convs = sum(1 for m in block.modules() if isinstance(m, tinycnn.nn.Conv2d))
    print(f"{name:26s} {tinycnn.count_params(block):7,} parameters in {convs:3d} conv layers")

# %% [markdown]
# Same function, same parameter count, but form (c) runs 3 convolutions where
# (a) runs 3C: the grouped convolution does all C paths' 3x3 transforms as one
# batched matrix product, (C, d, 9d) @ (C, 9d, N*H*W).
#
# ## 2. Cardinality at a fixed budget
# The paper (Table 2) keeps parameters and FLOPs of the conv2 stage's block
# (256 -> 256 channels at 56x56) constant while trading cardinality C against
# the width d of each path: C*d grows from 64 (the ResNet bottleneck, C = 1)
# to 128 (C = 32, d = 4). We count parameters, and multiply-adds with
# `tinycnn.summary` (hook-counted on a real forward pass), and time a forward
# pass of each block.

# %%
templates = [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4)]
size = run.pick(56, smoke=8)
batch = run.pick(8, smoke=1, full=32)
repeats = run.pick(3, smoke=1, full=5)
table = []
for C, width in templates:
    block = Bottleneck(256, 64, groups=C, base_width=width).eval()
    s = tinycnn.summary(block, input_shape=(256, size, size), print_table=False)
    macs_3x3 = sum(r.macs for r in s.rows if r.name == "conv2")
    xb = tinycnn.randn(batch, 256, size, size)
    x3 = tinycnn.randn(batch, C * width, size, size)  # the input of the grouped 3x3 alone
    with tinycnn.no_grad():
        t = run.time({"block": lambda: block(xb), "3x3": lambda: block.conv2(x3)}, repeat=repeats)
    t_block, t_3x3 = t["block"], t["3x3"]
    table.append((C, width, s.total_params, s.total_macs, t_block, macs_3x3, t_3x3, block.conv2.algorithm(x3.shape)))

print(f"\nblock 256 -> 256 at {size}x{size}; forward time: batch {batch}, median of {repeats}")
print(f"{'template':>9s} {'C*d':>4s} {'params':>7s} {'MMACs/img':>9s} {'ms/batch':>8s} {'GMAC/s':>6s}"
      f"   | grouped 3x3 alone: {'share of MACs':>13s} {'ms/batch':>8s} {'GMAC/s':>6s} path")
for C, width, params, macs, t, macs_3x3, t_3x3, (path, _) in table:
    label = "ResNet" if C == 1 else f"{C}x{width}d"
    print(f"{label:>9s} {C * width:4d} {params:7,} {macs / 1e6:9.1f} {t * 1e3:8.1f} {macs * batch / t / 1e9:6.2f}"
          f"   | {'':>18s} {macs_3x3 / macs:13.0%} {t_3x3 * 1e3:8.1f} {macs_3x3 * batch / t_3x3 / 1e9:6.2f} {path}")

# %% [markdown]
# The "path" column: `nn.Conv2d.algorithm(shape)` (the same rule as
# `F.conv_algorithm`) names the kernel `conv2d` picks and the reason. The
# direct Numba kernel, which reads the padded input in place, computes 4
# output channels per pass, and a pass must stay inside one group. Groups of
# 14 channels are therefore padded with zero channels to 16 (the weight
# forward, the gradient for the weight gradient) and the padding dropped
# from the result: 14/16 of the work is useful. (Before this padding such
# layers fell back to im2col, which first copies every 3x3 patch into a 9x
# larger matrix, and 8x14d's grouped 3x3 ran about 5x slower than 8x12d's.)
# The next cell times the grouped 3x3 of 8 groups of 12, 14 and 16 channels
# side by side: compare their GMAC/s (14 does the work of 12 plus 36%, and 16
# of 12 plus 78%).

# %%
for width in (12, 14, 16):
    conv = Bottleneck(256, 64, groups=8, base_width=width).conv2
    x3 = tinycnn.randn(batch, 8 * width, size, size)
    with tinycnn.no_grad():
        t = run.time({"3x3": lambda: conv(x3)}, repeat=repeats)["3x3"]
    path, why = conv.algorithm(x3.shape)
    macs = batch * size * size * 8 * width * width * 9
    print(f"8 groups of {width:2d}: {t * 1e3:7.1f} ms, {macs / t / 1e9:5.2f} GMAC/s, path {path}: {why}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
labels = [("ResNet\n1x64d" if C == 1 else f"{C}x{width}d") + f"\nC*d={C * width}" for C, width, *_ in table]
xs = np.arange(len(table))
# parameters and MACs have different units: one panel each, each with its own labelled axis
axes[0].bar(xs, [row[2] / 1e3 for row in table], 0.6, color="tab:blue")
axes[0].set_ylabel("parameters (thousands)")
axes[0].set_title("Parameters of the block")
axes[1].bar(xs, [row[3] / 1e6 for row in table], 0.6, color="tab:green")
axes[1].set_ylabel(f"million MACs per image ({size}x{size})")
axes[1].set_title("Multiply-adds of the block")
for ax in axes[:2]:
    ax.set_xticks(xs, labels, fontsize=8)
ax = axes[2]
ax.bar(xs - 0.2, [row[3] * batch / row[4] / 1e9 for row in table], 0.4, color="tab:purple", label="whole block")
ax.bar(xs + 0.2, [row[5] * batch / row[6] / 1e9 for row in table], 0.4, color="tab:orange",
       label="grouped 3x3 alone")
for x, row in zip(xs, table):
    ax.text(x + 0.2, row[5] * batch / row[6] / 1e9, row[7][0], ha="center", va="bottom", fontsize=7)
ax.set_xticks(xs, labels, fontsize=8)
ax.set_ylabel("GMAC/s (forward, measured)")
ax.set_title(f"Arithmetic speed (batch {batch}, {size}x{size}); label: conv path")
ax.legend(fontsize=8)
fig.suptitle("Same budget, more (narrower) paths")
fig.tight_layout()
run.savefig(fig, "cardinality")

# %% [markdown]
# ## 3. What the numbers say
# * The templates have (almost) the same parameters and multiply-adds: the
#   paper's comparison is fair in FLOPs. Yet at equal cost ResNeXt-50 (32x4d)
#   reaches 22.2% top-1 error on ImageNet against 23.9% for ResNet-50 (paper
#   Table 3): cardinality is a more effective way to spend the budget than
#   width or depth.
# * Equal FLOPs are not always equal time. As C grows, each group's GEMM in
#   the 3x3 gets smaller (d rows, 9d columns): less work per call and less
#   reuse of each number loaded from memory, so the grouped 3x3 alone runs at
#   fewer GMAC/s (right panel, orange; at 32x4d each group's filter matrix is
#   only 4 x 36): its time falls far less than its MACs do (printed). The
#   1x1 convolutions stay dense and, as C grows, do almost all the work (the
#   "share of MACs" column), which is why the whole block slows down much
#   less than its 3x3 does. On GPUs the gap is larger: grouped
#   convolutions are notoriously less efficient there than dense ones.
# * 8x14d's groups of 14 channels are padded to 16 for the direct kernel
#   (2/16 of its 3x3 work is padding); it used to fall back to im2col and
#   stand out as an outlier, which was about kernels, not cardinality.
#
# ## 4. Accuracy: the shipped CIFAR pair
# The ImageNet numbers above are the paper's. Our own test of the claim is
# `resnext20_8x4d` vs `resnext20_1x16d`: the same ResNeXt-20 with equal MACs,
# 8 paths of 4 channels vs one path of 16 (a plain bottleneck ResNet), both
# trained with the `cifar-small` recipe and tested on all 10,000 test images.

# %%
pair = shipped_table(["resnext20_8x4d", "resnext20_1x16d"], run)
if len(pair) == 2:
    print(shipped_difference("resnext20_8x4d", "resnext20_1x16d"))

# %% [markdown]
# ## Summary
# * A ResNeXt block aggregates C identical low-dimensional transformations;
#   split-transform-merge, early concatenation and grouped convolution are the
#   same function of the same weights (checked above to 1e-10 in float64).
# * At a fixed parameter/FLOP budget, more cardinality means wider blocks
#   (C*d grows) and, in the paper, better accuracy, but grouped convolutions
#   run at a lower arithmetic speed than dense ones.
# * Section 4's shipped CIFAR pair at equal MACs: the printed difference of
#   8x4d over 1x16d, its error bar, and the time cost of the grouped 3x3s.
#   Two seeds each: a gap of about two standard errors, with both seeds of
#   8x4d above both of 1x16d: at this scale cardinality helps, by about a
#   point, for 1.3x the time on a CPU.
#
# ## Exercises
# 1. Derive the parameter count of the ResNeXt block, 256*C*d + 9*C*d*d + C*d*256
#    (BN left out), and find d for C = 16 that matches the ResNet bottleneck.
# 2. Time `F.conv2d` alone for a 3x3 layer with 128 channels and groups = 1, 2,
#    4, ..., 128 at the same input. Plot time against groups; where does it
#    stop getting faster, and why?
# 3. Build `resnext_cifar(cardinality=4, bottleneck_width=16, depth=11)` and a
#    ResNet of similar parameters; compare their MACs with `tinycnn.summary`.

# %%
run.done()
