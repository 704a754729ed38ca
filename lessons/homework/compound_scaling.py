# %% [markdown]
# # Homework — compound scaling: FLOPs grow as (alpha beta^2 gamma^2)^phi ~ 2^phi
#
# EfficientNet (Tan & Le 2019, Section 3.3) scales a baseline network with one
# coefficient phi: depth d = alpha^phi, width w = beta^phi, resolution
# r = gamma^phi, with alpha = 1.2, beta = 1.1, gamma = 1.15 found by a small
# grid search under the constraint alpha * beta^2 * gamma^2 ~ 2.
# This script derives the FLOPs law, checks its exact parts on real tinycnn
# networks with the MAC counter (`tinycnn.summary`), then measures the MACs
# of networks built for phi = 0..3 (exact rounding) and of the published
# B0..B3, and plots measured against predicted.

# %%
import sys
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # lessons/: _common
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import models  # noqa: E402
from tinycnn.models.efficientnet import ALPHA, BETA, COEFFICIENTS, GAMMA, EfficientNet  # noqa: E402

run = setup("hw_compound")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. The derivation
# A convolution from C_in to C_out channels with a k x k kernel on an H x W
# output costs k^2 C_in C_out H W mult-adds. Scaling
# * the width by w multiplies C_in and C_out by w: cost x w^2;
# * the resolution by r multiplies H and W by r: cost x r^2;
# * the depth by d multiplies the number of such layers by d: cost x d.
# So FLOPs(phi) / FLOPs(0) = d w^2 r^2 = alpha^phi beta^(2 phi) gamma^(2 phi)
# = (alpha beta^2 gamma^2)^phi = 1.92^phi ~ 2^phi. (Parameters do not depend on
# the resolution: they grow as d w^2 = (alpha beta^2)^phi = 1.45^phi.)
#
# Two layer kinds break the w^2: a depthwise conv (groups = C) costs
# k^2 C H W, linear in w; the stem (3 input channels) and the classifier
# (fixed outputs) scale as w r^2 and w. The SE FC layers run on 1 x 1 maps: no r^2.

# %%
law = ALPHA * BETA ** 2 * GAMMA ** 2
print(f"alpha * beta^2 * gamma^2 = {ALPHA} * {BETA}^2 * {GAMMA}^2 = {law:.5f}  (the paper's constraint: ~ 2)")
for phi in range(4):
    print(f"phi = {phi}: d = {ALPHA ** phi:.3f}, w = {BETA ** phi:.3f}, r = {GAMMA ** phi:.3f}, "
          f"predicted FLOPs x {law ** phi:.3f}  (2^phi = {2 ** phi})")


def macs_by_layer(model, resolution):
    """{layer name: MACs per image} of one counted forward at (3, R, R), and the modules by name."""
    s = tinycnn.summary(model, (3, resolution, resolution), print_table=False)
    return {r.name: r.macs for r in s.rows if r.macs}, dict(model.named_modules())


def kind(name, module):
    """How the law scales this layer: 'conv' (d w^2 r^2), 'depthwise' (w r^2), 'stem', 'se', 'classifier'."""
    if name.startswith("features.0."):
        return "stem"
    if name.startswith("classifier"):
        return "classifier"
    if ".fc1" in name or ".fc2" in name:
        return "se"
    return "depthwise" if module.groups > 1 else "conv"


# %% [markdown]
# ## 2. The exact parts of the law, layer by layer
# The same B0 layer list (exact rounding, so nothing is moved to a multiple
# of 8) at resolution R and 2R (R a multiple of 32: every strided map halves
# exactly): every convolution except the SE FCs costs exactly r^2 = 4 times
# more, the SE FCs and the classifier the same. Width w = 2: every full conv
# costs exactly w^2 = 4 times more; the depthwise convs, the stem and the
# classifier exactly w = 2 times; the SE FCs 4 times (both widths double).
# Depth d = 2: every stage has exactly twice as many blocks.

# %%
base_res = run.pick(64, smoke=32)
b0 = EfficientNet(1.0, 1.0, base_res, exact=True)
macs0, modules0 = macs_by_layer(b0, base_res)
macs_r, _ = macs_by_layer(b0, 2 * base_res)
expected_r = {"conv": 4, "depthwise": 4, "stem": 4, "se": 1, "classifier": 1}
for name, m in macs0.items():
    assert Fraction(macs_r[name], m) == expected_r[kind(name, modules0[name])], (name, macs_r[name], m)
wide = EfficientNet(2.0, 1.0, base_res, exact=True)
macs_w, _ = macs_by_layer(wide, base_res)
expected_w = {"conv": 4, "depthwise": 2, "stem": 2, "se": 4, "classifier": 2}
assert list(macs_w) == list(macs0)
for name, m in macs0.items():
    assert Fraction(macs_w[name], m) == expected_w[kind(name, modules0[name])], (name, macs_w[name], m)
deep = EfficientNet(1.0, 2.0, base_res, exact=True)
assert [len(s) for s in deep.features[1:8]] == [2 * len(s) for s in b0.features[1:8]]
share = {k: sum(m for n, m in macs0.items() if kind(n, modules0[n]) == k) / sum(macs0.values()) for k in expected_w}
print(f"\nexact, row by row (B0 layer list at {base_res} px): resolution x2 -> every conv x4 "
      f"(SE FCs, classifier x1); width x2 -> full convs and SE x4, depthwise/stem/classifier x2; "
      f"depth x2 -> blocks per stage x2")
print("share of B0's MACs by layer kind: " + ", ".join(f"{k} {v:.1%}" for k, v in share.items()))

# %% [markdown]
# ## 3. phi = 0..3 with exact rounding, and the published B0..B3
# `EfficientNet(beta^phi, alpha^phi, round(R0 gamma^phi), exact=True)` rounds
# every channel count and layer count to the nearest integer (the paper
# rounds channels to multiples of 8 and layers up). Integers cannot follow
# 1.2^phi exactly: a stage of 1 layer stays at 1 (1.2 -> 1), and a map side
# is ceil(R / 2^s) (258 px -> 9 x 9 at the end instead of 8.05 x 8.05).
#
# **What we assert, and why.** Take the realised-to-ideal factor of every
# rounded quantity, measured on the built network: layers per stage
# n' / (n d), channels per stage c' / (c w), map side per stage
# D' / (D r). Let lo and hi be the products of their smallest and largest
# values (depth x width^2 x side^2). Every full conv scales by at most
# hi * d w^2 r^2 and the other kinds (section 1) by less, so the counted
# ratio is <= hi * predicted; the full convs scale by at least lo * d w^2 r^2
# and no layer costs less than nothing, so the ratio is >= lo * predicted *
# (1 - the share of B0's MACs outside the full convs). We assert the counted
# ratio lies in that band: the precision the integer construction allows.
# (It is a first-order budget: a stage's first block differs from its
# repeats, which the per-stage depth factor treats alike.)

# %%


def stage_facts(model, resolution):
    """Per MBConv stage: (layers, out channels, output map side), from the built
    model and one counted forward; the model's total MACs; the share of them
    outside the full convs (depthwise, stem, SE, classifier)."""
    s = tinycnn.summary(model, (3, resolution, resolution), print_table=False)
    modules = dict(model.named_modules())
    sides, full_conv_macs = {}, 0
    for r in s.rows:
        if r.macs and kind(r.name, modules[r.name]) == "conv":
            full_conv_macs += r.macs
        parts = r.name.split(".")
        if r.macs and parts[0] == "features" and parts[1] in "1234567" and kind(r.name, modules[r.name]) != "se":
            sides[int(parts[1])] = r.output_shape[-1]
    facts = [(len(model.features[i]), model.features[i][0].out_channels, sides[i]) for i in range(1, 8)]
    return facts, s.total_macs, 1 - full_conv_macs / s.total_macs


def band(facts, facts0, d, w, r):
    """(lo, hi) products of realised/ideal factors: depth x width^2 x side^2."""
    fd = [n / (n0 * d) for (n, _, _), (n0, _, _) in zip(facts, facts0, strict=True)]
    fw = [c / (c0 * w) for (_, c, _), (_, c0, _) in zip(facts, facts0, strict=True)]
    fr = [D / (D0 * r) for (_, _, D), (_, _, D0) in zip(facts, facts0, strict=True)]
    return min(fd) * min(fw) ** 2 * min(fr) ** 2, max(fd) * max(fw) ** 2 * max(fr) ** 2


R0 = run.pick(224, smoke=64)
phis = run.pick([0, 1, 2, 3], smoke=[0, 1, 2])
exact_rows = []
facts0 = None
for phi in phis:
    d, w, r = ALPHA ** phi, BETA ** phi, GAMMA ** phi
    R = round(R0 * r)
    model = EfficientNet(w, d, R, exact=True)
    facts, macs, rest = stage_facts(model, R)
    if phi == 0:
        facts0, macs_0, outside = facts, macs, rest
    ratio = macs / macs_0
    lo, hi = band(facts, facts0, d, w, R / R0)
    predicted = law ** phi
    lower, upper = lo * predicted * (1 - outside), hi * predicted
    assert lower <= ratio <= upper, (phi, ratio, lower, upper)
    exact_rows.append((phi, R, sum(f[0] for f in facts), macs, ratio, predicted, lower, upper))
print(f"\nexact rounding, base resolution {R0} (B0: {outside:.1%} of the MACs outside the full convs):")
print(f"{'phi':>3s} {'R':>4s} {'blocks':>6s} {'MMACs':>8s} {'counted':>8s} {'predicted':>9s} "
      f"{'2^phi':>5s} {'band (asserted)':>18s}")
for phi, R, blocks, macs, ratio, predicted, lower, upper in exact_rows:
    print(f"{phi:3d} {R:4d} {blocks:6d} {macs / 1e6:8.1f} {ratio:8.3f} {predicted:9.3f} {2 ** phi:5d} "
          f"[{lower:7.3f}, {upper:7.3f}]")

# %% [markdown]
# The published B0..B3 were not built from the formula: their (w, d, R) are
# (1.0, 1.0, 224), (1.0, 1.1, 240), (1.1, 1.2, 260), (1.2, 1.4, 300), channels
# rounded to multiples of 8 and layers up. Their own prediction is d w^2 r^2
# with those numbers; the paper lists 0.39, 0.70, 1.0 and 1.8 B FLOPs.

# %%
published = run.pick(["b0", "b1", "b2", "b3"], smoke=[])
paper_bflops = {"b0": 0.39, "b1": 0.70, "b2": 1.0, "b3": 1.8}
pub_rows = []
for name in published:
    w, d, R, _ = COEFFICIENTS[name]
    model = models.create(f"efficientnet_{name}", num_classes=1000)
    facts, macs, rest = stage_facts(model, R)
    if name == "b0":
        pub_facts0, pub_macs0, pub_outside = facts, macs, rest
    ratio = macs / pub_macs0
    predicted = d * w ** 2 * (R / 224) ** 2
    lo, hi = band(facts, pub_facts0, d, w, R / 224)
    lower, upper = lo * predicted * (1 - pub_outside), hi * predicted
    assert lower <= ratio <= upper, (name, ratio, lower, upper)
    pub_rows.append((name, R, macs, ratio, predicted, paper_bflops[name] / paper_bflops["b0"], lower, upper))
if pub_rows:
    print(f"\n{'model':>5s} {'R':>4s} {'MMACs':>8s} {'paper':>6s} {'counted':>8s} {'d w^2 r^2':>9s} "
          f"{'paper ratio':>11s} {'band (asserted)':>18s}")
    for name, R, macs, ratio, predicted, paper, lower, upper in pub_rows:
        print(f"{name:>5s} {R:4d} {macs / 1e6:8.1f} {paper_bflops[name] * 1e3:6.0f} {ratio:8.3f} {predicted:9.3f} "
              f"{paper:11.2f} [{lower:7.3f}, {upper:7.3f}]")

# %% [markdown]
# ## 4. Where the extra MACs come from: one dimension at a time
# The counted ratios sit above d w^2 r^2 (B1..B3 by 31-41%). To see which
# rounding costs what, go from B0 to the scaled network in three steps, each a
# real network counted by `tinycnn.summary`: B0 at the new resolution R, then
# with the new depth d, then with the new width w (the last one *is* the
# scaled network). The three step ratios multiply to the counted ratio, and
# each can be set against its ideal factor r^2, d, w^2:
# * **depth**: every stage gets ceil(n d) layers (or round(n d) with exact
#   rounding), never n d. B1's d = 1.1 turns B0's 16 layers into 23, not 17.6:
#   a stage of 1 layer becomes 2. The depth step is close to the layer-count
#   ratio L'/L (within 5%: the layers added or removed are a stage's repeats,
#   which do not cost exactly the stage's average layer);
# * **resolution**: each strided map side is ceil(R / 2^s): 240 px gives 8 x 8
#   at the end, not 7.5 x 7.5;
# * **width**: channels are rounded to multiples of 8 (or to integers), either way.

# %%


def macs_at(model, R):
    return tinycnn.summary(model, (3, R, R), print_table=False).total_macs


def chain(w, d, R, exact, base_macs, base_layers):
    """The three step ratios (resolution, depth, width) from B0 to EfficientNet(w, d, R), the
    realised layer-count ratio, and the final network's MACs."""
    m_r = macs_at(EfficientNet(1.0, 1.0, R, exact=exact), R)
    m_rd = EfficientNet(1.0, d, R, exact=exact)
    layers = sum(len(stage) for stage in m_rd.features[1:8])
    m_rd = macs_at(m_rd, R)
    m_rdw = macs_at(EfficientNet(w, d, R, exact=exact), R)
    return m_r / base_macs, m_rd / m_r, m_rdw / m_rd, layers / base_layers, m_rdw


steps = []
b0_layers = sum(len(stage) for stage in EfficientNet(1.0, 1.0, R0).features[1:8])
for phi, R, _, macs, ratio, predicted, _, _ in exact_rows[1:]:
    f_r, f_d, f_w, layer_ratio, end = chain(BETA ** phi, ALPHA ** phi, R, True, macs_0, b0_layers)
    r2, d, w2 = (R / R0) ** 2, ALPHA ** phi, BETA ** (2 * phi)  # r with the rounded resolution R
    steps.append((f"phi={phi}", ratio / (r2 * d * w2), f_r, r2, f_d, d, layer_ratio, f_w, w2))
    assert end == macs  # the chain ends at the network of section 3
for name, R, macs, ratio, predicted, _, _, _ in pub_rows[1:]:
    w, d, _, _ = COEFFICIENTS[name]
    f_r, f_d, f_w, layer_ratio, end = chain(w, d, R, False, pub_macs0, b0_layers)
    steps.append((name.upper(), ratio / predicted, f_r, (R / 224) ** 2, f_d, d, layer_ratio, f_w, w ** 2))
# ratio = f_r * f_d * f_w exactly (the chain ends at the network), so counted / (d w^2 r^2) is the
# product of the three steps' realised/ideal factors printed below
    assert end == macs  # the chain ends at the published network
print(f"\n{'':6s} {'counted /':>9s} {'resolution':>17s} {'depth':>27s} {'width':>15s}")
print(f"{'':6s} {'d w^2 r^2':>9s} {'step':>8s} {'r^2':>8s} {'step':>8s} {'d':>6s} {'L/L0':>6s} {'':5s}"
      f"{'step':>7s} {'w^2':>7s}")
for label, excess, f_r, r2, f_d, d, layer_ratio, f_w, w2 in steps:
    print(f"{label:6s} {excess:9.3f} {f_r:8.3f} {r2:8.3f} {f_d:8.3f} {d:6.3f} {layer_ratio:6.3f} {'':5s}"
          f"{f_w:7.3f} {w2:7.3f}")
    assert abs(f_d / layer_ratio - 1) <= 0.05, (label, f_d, layer_ratio)  # depth: the layer count, as said
    assert f_r >= r2 * 0.999, (label, f_r, r2)  # ceil(R / 2^s) never shrinks a map
for label, excess, f_r, r2, f_d, d, layer_ratio, f_w, w2 in steps:
    if label.startswith("B"):
        print(f"{label}: {excess - 1:+.0%} over its d w^2 r^2 = resolution {f_r / r2 - 1:+.0%}, "
              f"depth {f_d / d - 1:+.0%} ({layer_ratio * b0_layers:.0f} layers for {d * b0_layers:.1f}), "
              f"width {f_w / w2 - 1:+.0%}")

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.4))
xs = np.array([row[0] for row in exact_rows])
ax.plot(xs, [law ** p for p in xs], "k-", label=r"predicted $(\alpha\beta^2\gamma^2)^\phi$ = 1.92$^\phi$")
ax.plot(xs, [2.0 ** p for p in xs], "k:", label=r"$2^\phi$")
ax.plot(xs, [row[4] for row in exact_rows], "o", ms=7, label="counted, efficientnet(phi, exact=True)")
ax.vlines(xs, [row[6] for row in exact_rows], [row[7] for row in exact_rows], colors="C0", alpha=0.4, lw=6,
          label="rounding band (asserted)")
if pub_rows:
    ax.plot(range(len(pub_rows)), [row[3] for row in pub_rows], "s", ms=7, label="counted, published B0..B3")
    ax.plot(range(len(pub_rows)), [row[4] for row in pub_rows], "x", ms=8, label="B0..B3: their d w^2 r^2")
    ax.plot(range(len(pub_rows)), [row[5] for row in pub_rows], "^", ms=6, label="B0..B3: paper's FLOPs ratio")
ax.set_yscale("log", base=2)
ax.set_xticks(xs, [f"phi={p}" + (f"\nB{p}" if pub_rows else "") for p in xs])
ax.set_ylabel("MACs / MACs of phi = 0 (B0)")
ax.set_title(f"Compound scaling: measured vs predicted (base {R0} px)")
ax.legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "flops_vs_phi")

# %% [markdown]
# ## Summary
# * FLOPs scale as d w^2 r^2, so the compound rule gives (alpha beta^2 gamma^2)^phi
#   = 1.92^phi ~ 2^phi; the resolution and width factors hold exactly, layer by
#   layer, except for depthwise/stem/classifier (linear in w) and SE (no r^2).
# * Integer layers, channels and map sides move the counted ratios away from
#   1.92^phi; the band from the realised rounding contains them.
# * The published B1..B3 use hand-tuned (w, d, R): their FLOPs ratios differ
#   from 2^phi (B3 is about 4.6x B0 in the paper, not 8x).
# * Counted, B1..B3 exceed their own d w^2 r^2 by 31-41%; the step-by-step
#   chain (section 4) puts most of it on the depth: ceil(n d) layers per stage
#   (B1: 23 layers where 1.1 x 16 = 17.6), then on ceil-rounded map sides.
#
# ## Exercises
# 1. Build phi = 1 with R = 256 (a multiple of 32) instead of 258: how much
#    closer is the counted ratio to 1.92?
# 2. Count the parameters of the same networks: do they follow (alpha beta^2)^phi?

# %%
run.done()
