# %% [markdown]
# # Lesson 09b — MobileNet v2: inverted residuals and linear bottlenecks
#
# Sandler et al. (2018) kept MobileNet's depthwise separable convolution but
# rebuilt the block around it:
#
#     x (C channels) -> 1x1 conv, expand to t*C -> BN -> ReLU6
#                    -> 3x3 depthwise conv (stride s) -> BN -> ReLU6
#                    -> 1x1 conv, project to C' -> BN            (no ReLU: the "linear bottleneck")
#                    (+ x when s = 1 and C' = C: the residual joins the *thin* ends)
#
# A ResNet bottleneck goes wide -> narrow -> wide; this one goes narrow -> wide
# -> narrow, hence **inverted residual**. This lesson measures what each part
# costs and shows *why* the last 1x1 has no ReLU, with the experiment of the
# paper's Figure 1.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import binomial_se, seed_mean, setup, shipped_table

import tinycnn
from tinycnn import models, nn
from tinycnn.models.mobilenet_v1 import DepthwiseSeparableConv
from tinycnn.models.mobilenet_v2 import InvertedResidual

run = setup("09b")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. A v1 block next to a v2 block
# Per output pixel, with C channels in and out and a 3x3 kernel:
# * v1 (depthwise 3x3, then pointwise C -> C): 9C + C^2 mult-adds;
# * v2 (expand C -> tC, depthwise 3x3 on tC, project tC -> C): tC*C + 9tC + tC*C = tC(2C + 9).
#
# With t = 6 a v2 block costs about 12x a v1 block *at the same C*. The trade
# the paper makes is a different C: v2 carries thin tensors between blocks
# (24, 32, 64 ... channels where v1 has 128, 256, 512) and widens them only
# inside the block. We count both blocks at the same C, and v1 at the width
# MobileNet v1 uses where v2 uses C = 32 (v1 there: 256 channels at 28x28).

# %%
D = run.pick(16, smoke=8)


def count(block, C, size=D):
    s = tinycnn.summary(block, (C, size, size), print_table=False)
    return s.total_params, s.total_macs


rows = []
for C, t in run.pick([(32, 6), (64, 6), (96, 6)], smoke=[(16, 6)]):
    v1_params, v1_macs = count(DepthwiseSeparableConv(C, C), C)
    v2_params, v2_macs = count(InvertedResidual(C, C, 1, t), C)
    assert v1_macs == D * D * (9 * C + C * C)  # the formulas above, exactly
    assert v2_macs == D * D * t * C * (2 * C + 9)
    rows.append((C, t, v1_params, v1_macs, v2_params, v2_macs))
print(f"one block, C -> C channels on {D}x{D} (BN parameters included, BN and activations cost no MACs)")
print(f"{'C':>4s} {'t':>2s} {'v1 params':>10s} {'v1 MMACs':>9s} {'v2 params':>10s} {'v2 MMACs':>9s} {'v2/v1':>6s}")
for C, t, p1, m1, p2, m2 in rows:
    print(f"{C:4d} {t:2d} {p1:10,d} {m1 / 1e6:9.2f} {p2:10,d} {m2 / 1e6:9.2f} {m2 / m1:6.1f}")
C_v1 = run.pick(256, smoke=32)
p1, m1 = count(DepthwiseSeparableConv(C_v1, C_v1), C_v1)
p2, m2 = count(InvertedResidual(32, 32, 1, 6), 32)
print(f"v1 at {C_v1} channels: {p1:,} params, {m1 / 1e6:.2f} M MACs;  v2 at 32 (t = 6): {p2:,} params, "
      f"{m2 / 1e6:.2f} M MACs: the v2 block is {m1 / m2:.1f}x cheaper, and the tensor it passes on has "
      f"{C_v1 // 32}x fewer channels")

# %% [markdown]
# ## 2. The expansion factor t
# t sets how wide the block is inside: cost grows linearly in t (the formula
# tC(2C + 9)), and so does the memory of the two wide activations. The paper
# uses t = 6 everywhere but the first block (t = 1).

# %%
C = run.pick(32, smoke=16)
ts = [1, 2, 4, 6, 10]
t_rows = [(t, *count(InvertedResidual(C, C, 1, t), C)) for t in ts]
print(f"\nexpansion t for one C = {C} block on {D}x{D}:")
for t, params, macs in t_rows:
    print(f"  t = {t:2d}: {params:7,d} params, {macs / 1e6:6.2f} M MACs, widest activation {t * C} x {D} x {D}")

# %% [markdown]
# ## 3. Why the bottleneck is linear (paper Figure 1)
# Take points on a 2-D spiral, map them into n dimensions with a random matrix
# T (n x 2), apply ReLU, and map back with the best linear map (least squares
# over the points; the paper uses T's inverse, which cannot undo the halving a
# ReLU does on average). If ReLU kept the information, the spiral comes back. In few dimensions it does not: ReLU
# zeroes every coordinate that is negative, and with n = 2 or 3 too few
# coordinates survive to pin a point down. In 15 or 30 dimensions enough
# survive. The block's expanded layer (t*C channels) is where ReLU6 is safe;
# the thin projection (C channels) is where it would destroy information, so
# it has none. Without ReLU the round trip is exact at every n.

# %%
rng = np.random.default_rng(0)
n_points = run.pick(1500, smoke=200)
angle = np.linspace(0, 4 * np.pi, n_points)
spiral = np.stack([angle * np.cos(angle), angle * np.sin(angle)])  # (2, P)
spiral /= np.abs(spiral).max()
dims = [2, 3, 5, 15, 30]
recovered, errors = {}, {}
for n in dims:
    trials = []
    for trial in range(run.pick(20, smoke=3)):  # the error depends on the draw of T: average it
        T = np.random.default_rng(trial).standard_normal((n, 2))  # (n, 2)
        relu = np.maximum(T @ spiral, 0)  # (n, P): the spiral in n dims after ReLU
        decoder = np.linalg.lstsq(relu.T, spiral.T, rcond=None)[0].T  # (2, n): best linear read-out
        back = decoder @ relu  # (2, P)
        trials.append(np.linalg.norm(back - spiral) / np.linalg.norm(spiral))
        if trial == 0:
            recovered[n] = back
    linear = np.linalg.pinv(T) @ (T @ spiral)
    errors[n] = (float(np.mean(trials)), float(np.linalg.norm(linear - spiral) / np.linalg.norm(spiral)))
print("\nspiral -> n dims -> ReLU -> best linear map back: relative error (mean over random T) | without ReLU")
for n, (with_relu, without) in errors.items():
    print(f"  n = {n:2d}: {with_relu:.3f} | {without:.1e}")
assert errors[30][0] < errors[2][0] and max(e[1] for e in errors.values()) < 1e-9

# %% [markdown]
# The error falls steeply with n. (A nonlinear read-out could do better still
# at every n; a linear one is what the next layer of a network is.) ReLU6 caps
# activations at 6 as well, which the authors chose for robustness in
# low-precision arithmetic; below 6 it is ReLU.

# %%
x = tinycnn.tensor(np.linspace(-2, 8, 11).astype(np.float32))
print("ReLU6 on", x.data.tolist(), "->", nn.ReLU6()(x).data.tolist())

# %% [markdown]
# ## 4. Where the residuals are
# The shortcut joins two thin tensors, so it exists only where a block keeps
# stride 1 and its channel count: the first block of each stage changes the
# channels (and usually the stride) and has none. Here is the CIFAR MobileNet
# v2 (stride 1 in the stem and the 24-channel stage, 4x4 at the end).

# %%
net = models.create("mobilenet_v2_cifar", width_mult=run.pick(1.0, smoke=0.35))
blocks = [m for m in net.features if isinstance(m, InvertedResidual)]
shapes = {}
hooks = [b.register_forward_hook(lambda m, i, o: shapes.__setitem__(id(m), o.shape)) for b in blocks]
with tinycnn.no_grad():
    net.eval()(tinycnn.randn(1, 3, 32, 32))
for h in hooks:
    h.remove()
print(f"\nmobilenet_v2_cifar: {len(blocks)} inverted residual blocks, "
      f"{sum(b.use_res_connect for b in blocks)} with a shortcut")
for i, b in enumerate(blocks):
    _, c, h, w = shapes[id(b)]
    print(f"  block {i + 1:2d}: out {c:4d} x {h:2d} x {w:2d}{'  + shortcut' if b.use_res_connect else ''}")

# %% [markdown]
# ## 5. Memory between blocks
# At inference a block's wide activations live only while the block runs; what
# must be kept from one block to the next is the tensor between them. v2 keeps
# thin tensors there, v1 keeps the full-width ones. Largest tensor between
# blocks, in numbers per image (CIFAR versions, width 1.0):

# %%
def largest_boundary(model, block_type):
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(int(np.prod(o.shape[1:]))))
             for m in model.modules() if isinstance(m, block_type)]
    with tinycnn.no_grad():
        model.eval()(tinycnn.randn(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    return max(sizes)


v1_net = models.create("mobilenet_v1_cifar", width_mult=run.pick(1.0, smoke=0.25))
v2_net = models.create("mobilenet_v2_cifar", width_mult=run.pick(1.0, smoke=0.25))
v1_big, v2_big = largest_boundary(v1_net, DepthwiseSeparableConv), largest_boundary(v2_net, InvertedResidual)
print(f"\nlargest tensor between blocks: v1 {v1_big:,} numbers, v2 {v2_big:,} ({v1_big / v2_big:.1f}x less)")
s1 = tinycnn.summary(v1_net, (3, 32, 32), print_table=False)
s2 = tinycnn.summary(v2_net, (3, 32, 32), print_table=False)
print(f"whole networks: v1 {s1.total_params / 1e6:.2f} M params, {s1.total_macs / 1e6:.0f} M MACs; "
      f"v2 {s2.total_params / 1e6:.2f} M params, {s2.total_macs / 1e6:.0f} M MACs")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
ax = axes[0]
ax.bar([t for t, _, _ in t_rows], [m / 1e6 for _, _, m in t_rows], width=0.8, color="tab:blue")  # t to scale
ax.set_xlabel("expansion factor t")
ax.set_ylabel(f"M mult-adds (C = {C}, {D}x{D})")
ax.set_title("Cost grows linearly in t")
ax = axes[1]
ax.plot(dims, [errors[n][0] for n in dims], "o-", label="with ReLU")
ax.plot(dims, [max(errors[n][1], 1e-17) for n in dims], "s--", label="without ReLU (linear)")
ax.set_yscale("log")
ax.set_xlabel("dimensions n of the ReLU layer")
ax.set_ylabel("relative reconstruction error")
ax.set_title("ReLU loses a 2-D manifold in few dimensions")
ax.legend(fontsize=8)
ax = axes[2]
ax.plot(spiral[0], spiral[1], color="0.8", lw=3, label="input")
for n, style in ((2, "tab:red"), (5, "tab:orange"), (30, "tab:green")):
    ax.plot(recovered[n][0], recovered[n][1], ".", ms=2, color=style, label=f"n = {n}")
ax.set_aspect("equal")
ax.set_title("Spiral read back after ReLU in n dims (cf. paper Fig. 1)")
ax.legend(fontsize=8, markerscale=4)
fig.tight_layout()
run.savefig(fig, "inverted_residual")

# %% [markdown]
# ## 6. Trained: v2 against the v1 width sweep
# The shipped `mobilenet_v2_cifar_035` next to the MobileNet v1 sweep, all
# trained with the same recipe (`tinycnn train --recipe cifar-small`) and
# tested on the 10,000 test images. The v1 models do not match v2's MACs
# exactly, so v2 is set against the v1 accuracy interpolated at its MACs
# (linear in log MACs between the two nearest v1 models), each accuracy the
# mean over the model's recorded seeds.

# %%
mobiles = shipped_table(["mobilenet_v2_cifar_035", "mobilenet_v1_cifar_0125", "mobilenet_v1_cifar_025",
                         "mobilenet_v1_cifar_035", "mobilenet_v1_cifar_050"], run)
v1 = sorted((info["macs"], *seed_mean(name)) for name, info in mobiles.items() if name.startswith("mobilenet_v1"))
if "mobilenet_v2_cifar_035" in mobiles and len(v1) >= 2:
    v2, (v2_acc, v2_seeds) = mobiles["mobilenet_v2_cifar_035"], seed_mean("mobilenet_v2_cifar_035")
    at = float(np.interp(np.log(v2["macs"]), np.log([m for m, _, _ in v1]), [a for _, a, _ in v1]))
    se = 100 * np.hypot(binomial_se(v2_acc / 100, 10000), binomial_se(at / 100, 10000))
    print(f"mobilenet_v2_cifar_035: {v2_acc:.2f}% at {v2['macs'] / 1e6:.1f}M MACs (mean of {v2_seeds} seeds); "
          f"the v1 sweep (seed means, seeds " + "/".join(str(n) for _, _, n in v1) + ") interpolated there: "
          f"{at:.2f}%; difference {v2_acc - at:+.2f} points (± about {se:.2f})")

# %% [markdown]
# ## Summary
# * An inverted residual block: 1x1 expand (t times, ReLU6) -> 3x3 depthwise
#   (ReLU6) -> 1x1 project, linear; the shortcut joins the thin ends.
# * Its cost is tC(2C + 9) per pixel (checked exactly above): about 2t times a
#   v1 block's at the same C, so v2 runs much thinner tensors between blocks.
# * The projection is linear because ReLU in few dimensions destroys
#   information (the spiral); in the t-times-wider layer it does little harm.
# * Thin boundaries also mean less memory between blocks.
# * Trained on CIFAR-10 at this size (section 6), v2 is compared with v1 at
#   equal MACs: a difference within about two of its error bars shows no
#   advantage either way.
#
# ## Exercises
# 1. For which t does a v2 block at C channels cost the same as a v1 block at
#    4C channels? Solve tC(2C + 9) = 9(4C) + (4C)^2 and check with `tinycnn.summary`.
# 2. Put a ReLU after the projection (subclass `InvertedResidual`) and compare
#    the spiral argument with what fraction of the projected outputs ReLU would
#    zero in the trained `mobilenet_v2_cifar_035` (`create(..., pretrained=True)`;
#    measure on a batch of test images).

# %%
run.done()
