# %% [markdown]
# # Lesson 09 — MobileNet: depthwise separable convolutions, alpha and rho
#
# Howard et al. (2017) built a whole network from **depthwise separable
# convolutions**: a k x k depthwise conv (one filter per channel, no channel
# mixing) followed by a 1 x 1 pointwise conv (channel mixing only). It costs
# 1/N + 1/k^2 of a standard conv (the homework `homework/dsc_savings.py`
# derives and verifies this): 8-9x less for k = 3. Two knobs then trade
# accuracy for cost:
# * the **width multiplier** alpha thins every layer: cost ~ alpha^2;
# * the **resolution multiplier** rho shrinks the input: cost ~ rho^2.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
from _common import binomial_se, seed_mean, setup, shipped_table

import tinycnn
from tinycnn import models, nn
from tinycnn.bench.timing import median_times
from tinycnn.models.mobilenet_v1 import DepthwiseSeparableConv

run = setup("09")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. One block: standard vs depthwise separable
# MobileNet's 14 x 14 x 512 -> 512 layer, as a standard 3x3 conv and as the
# depthwise separable block tinycnn's MobileNet uses (BN and ReLU after each
# part; their parameters are counted too, their MACs are not).

# %%
M, N, D = run.pick((512, 512, 14), smoke=(32, 32, 8))
standard = nn.Sequential(nn.Conv2d(M, N, 3, padding=1, bias=False), nn.BatchNorm2d(N), nn.ReLU())
separable = DepthwiseSeparableConv(M, N)
s_std = tinycnn.summary(standard, (M, D, D), print_table=False)
s_dsc = tinycnn.summary(separable, (M, D, D), print_table=False)
print(f"{M} -> {N} channels on {D}x{D}: standard {s_std.total_params:,} params, {s_std.total_macs / 1e6:.1f} M MACs; "
      f"separable {s_dsc.total_params:,} params, {s_dsc.total_macs / 1e6:.1f} M MACs "
      f"(MACs x {s_dsc.total_macs / s_std.total_macs:.4f}; 1/N + 1/9 = {1 / N + 1 / 9:.4f})")

# %% [markdown]
# ## 2. Width multiplier alpha and resolution multiplier rho
# ImageNet MobileNet v1 (224 x 224 input, 1000 classes: `models.create`
# defaults to 10 classes, so we ask for 1000). `tinycnn.summary` counts the
# mult-adds of the layers that run; the paper's Table 6 (alpha) and Table 7
# (rho) list the published counts and ImageNet accuracies.

# %%
paper_alpha = {1.0: (569, 4.2, 70.6), 0.75: (325, 2.6, 68.4), 0.5: (149, 1.3, 63.7), 0.25: (41, 0.5, 50.6)}
paper_rho = {224: (569, 4.2, 70.6), 192: (418, 4.2, 69.1), 160: (290, 4.2, 67.2), 128: (186, 4.2, 64.4)}
base = run.pick(224, smoke=64)  # smoke mode: the same networks on 64 px inputs (MACs scale by (64/224)^2)
alpha_rows, rho_rows = [], []
for alpha in paper_alpha:
    model = models.create("mobilenet_v1", num_classes=1000, width_mult=alpha, resolution_mult=base / 224)
    s = tinycnn.summary(model, model.input_size, print_table=False)
    alpha_rows.append((alpha, s.total_params, s.total_macs))
for R in run.pick(list(paper_rho), smoke=[224, 128]):
    model = models.create("mobilenet_v1", num_classes=1000, resolution_mult=R / 224 * base / 224)
    s = tinycnn.summary(model, model.input_size, print_table=False)
    rho_rows.append((R, s.total_params, s.total_macs))
print(f"\ninput {base} px" + ("" if base == 224 else " (smoke: not the paper's size)"))
print(f"{'alpha':>5s} {'params':>10s} {'paper':>6s} {'MMACs':>7s} {'paper':>6s} {'top-1 (paper)':>13s}")
for alpha, params, macs in alpha_rows:
    p_macs, p_params, acc = paper_alpha[alpha]
    print(f"{alpha:5.2f} {params / 1e6:9.2f}M {p_params:5.1f}M {macs / 1e6:7.0f} {p_macs:6d} {acc:12.1f}%")
print(f"{'rho*224':>7s} {'params':>10s} {'MMACs':>7s} {'paper':>6s} {'top-1 (paper)':>13s}")
for R, params, macs in rho_rows:
    p_macs, _, acc = paper_rho[R]
    print(f"{R:7d} {params / 1e6:9.2f}M {macs / 1e6:7.0f} {p_macs:6d} {acc:12.1f}%")
if base == 224:
    for alpha, params, macs in alpha_rows:
        assert abs(macs / 1e6 - paper_alpha[alpha][0]) / paper_alpha[alpha][0] < 0.03, (alpha, macs)

# %% [markdown]
# Why alpha^2 and not alpha: a pointwise conv's cost M N D^2 has both M and N
# multiplied by alpha; the depthwise part (k^2 M D^2) only scales by alpha,
# but it is a small share of the MACs. The parameters do not depend on rho.

# %% [markdown]
# ## 3. Measured speed
# The CIFAR variant (`mobilenet_v1_cifar`, 32 x 32 input) for each alpha:
# inference images per second, batch 16, median of several calls. On a
# machine shared with other jobs the wall-clock time mostly measures waits
# for a core, so we use this process's CPU time (run with `--threads 1`).
# Fewer MACs do not translate one to one into time: the depthwise convs are
# memory-bound (about 1 MAC per byte, see the homework), and thin layers
# make small matrix products.

# %%
batch = run.pick(16, smoke=2)
speed = []
for alpha in run.pick([1.0, 0.75, 0.5, 0.25], smoke=[0.5, 0.25]):
    model = models.create("mobilenet_v1_cifar", width_mult=alpha).eval()
    macs = tinycnn.summary(model, (3, 32, 32), print_table=False).total_macs
    x = tinycnn.randn(batch, 3, 32, 32)

    def infer(model=model, x=x):
        t0 = time.process_time()
        with tinycnn.no_grad():
            model(x)
        return {"cpu": time.process_time() - t0}

    t = median_times({"infer": infer}, repeat=run.pick(3, smoke=1, full=7))["infer"]["cpu"]
    speed.append((alpha, macs, batch / t))
print(f"\nmobilenet_v1_cifar, batch {batch}, images per CPU-second")
print(f"{'alpha':>5s} {'MMACs/img':>9s} {'img/s':>8s} {'GMAC/s':>7s}")
for alpha, macs, ips in speed:
    print(f"{alpha:5.2f} {macs / 1e6:9.1f} {ips:8.1f} {macs * ips / 1e9:7.2f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
ax = axes[0]
a = [r[0] for r in alpha_rows]
scale = (base / 224) ** 2
ax.plot(a, [r[2] / 1e6 for r in alpha_rows], "o-", label="counted (tinycnn.summary)")
rescaled = "" if base == 224 else " (rescaled)"
ax.plot(a, [paper_alpha[x][0] * scale for x in a], "s--", label="paper Table 6" + rescaled)
ax.plot(a, [paper_alpha[1.0][0] * scale * x ** 2 for x in a], "k:", label="569M x alpha^2")
ax.set_xlabel("width multiplier alpha")
ax.set_ylabel("M mult-adds per image")
ax.set_title(f"Width multiplier ({base} px)")
ax.legend(fontsize=8)
ax = axes[1]
rs = [r[0] for r in rho_rows]
ax.plot(rs, [r[2] / 1e6 for r in rho_rows], "o-", label="counted")
ax.plot(rs, [paper_rho[x][0] * scale for x in rs], "s--", label="paper Table 7" + rescaled)
ax.plot(rs, [paper_rho[224][0] * scale * (x / 224) ** 2 for x in rs], "k:", label="569M x rho^2")
ax.set_xlabel("input resolution rho * 224")
ax.set_ylabel("M mult-adds per image")
ax.set_title("Resolution multiplier (alpha = 1)")
ax.legend(fontsize=8)
ax = axes[2]
ax.plot([r[1] / 1e6 for r in speed], [r[2] for r in speed], "o-")
for alpha, macs, ips in speed:
    ax.annotate(f"alpha={alpha}", (macs / 1e6, ips), fontsize=8, xytext=(4, 4), textcoords="offset points")
m0, i0 = speed[0][1], speed[0][2]
ms = np.array([r[1] for r in speed])
ax.plot(ms / 1e6, i0 * m0 / ms, "k:", label="if time were proportional to MACs")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xticks(ms / 1e6, [f"{m / 1e6:.0f}" for m in ms])
ax.xaxis.set_minor_formatter(NullFormatter())
ax.set_xlabel("M mult-adds per image (CIFAR, 32 px)")
ax.set_ylabel("images per CPU-second (inference)")
ax.set_title(f"Measured speed, batch {batch}")
ax.legend(fontsize=8)
fig.tight_layout()
run.savefig(fig, "mobilenet")

# %% [markdown]
# ## 4. The evidence: shipped CIFAR-10 runs
# The paper's claims, on CIFAR-10 at small size: thinning with alpha costs
# accuracy slowly while MACs fall as alpha^2 (Table 6), and depthwise
# separable layers lose little accuracy against standard ones for 8-9x fewer
# MACs (Table 4). `mobilenet_v1_cifar_0125/025/035/050` are the alpha sweep;
# `mobilenet_v1_cifar_0125_standard` is the 0.125 network with standard 3 x 3
# convolutions. Each is trained with one recipe (`tinycnn train --recipe
# cifar-small --model NAME`, 8 epochs) and tested on all 10,000 test images;
# those not trained yet print how to train them.

# %%
sweep = ["mobilenet_v1_cifar_0125", "mobilenet_v1_cifar_025", "mobilenet_v1_cifar_035", "mobilenet_v1_cifar_050"]
mobile_runs = shipped_table(sweep + ["mobilenet_v1_cifar_0125_standard"], run)


def difference(a: str, b: str) -> str:
    """a - b in points, each the mean over its recorded seeds, with the test set's standard error
    of the difference."""
    (acc_a, seeds_a), (acc_b, seeds_b) = seed_mean(a), seed_mean(b)
    se = 100 * np.hypot(binomial_se(acc_a / 100, 10000), binomial_se(acc_b / 100, 10000))
    return (f"{a} - {b}: {acc_a - acc_b:+.2f} points ± {se:.2f} (seed means, seeds {seeds_a} vs {seeds_b}) "
            f"for {mobile_runs[a]['macs'] / mobile_runs[b]['macs']:.2f}x the MACs")


trained = [name for name in sweep if name in mobile_runs]
for a, b in zip(trained[1:], trained):
    print(difference(a, b))
standard = "mobilenet_v1_cifar_0125_standard"
if {"mobilenet_v1_cifar_0125", standard} <= set(mobile_runs):
    print(difference(standard, "mobilenet_v1_cifar_0125"))
if standard in mobile_runs and len(trained) >= 2:  # the same comparison at equal MACs
    macs = mobile_runs[standard]["macs"]
    at = float(np.interp(np.log(macs), np.log([mobile_runs[n]["macs"] for n in trained]),
                         [seed_mean(n)[0] for n in trained]))  # linear in log MACs between the nearest two
    acc, seeds = seed_mean(standard)
    se = 100 * np.hypot(binomial_se(at / 100, 10000), binomial_se(acc / 100, 10000))
    print(f"at the standard net's {macs / 1e6:.1f}M MACs: the depthwise separable sweep interpolated {at:.2f}% "
          f"(seed means) vs {standard} {acc:.2f}% ({seeds} seeds): {at - acc:+.2f} points ± {se:.2f}")

# %% [markdown]
# ## Summary
# * A depthwise separable block costs 1/N + 1/k^2 of a standard conv.
# * alpha scales MACs by about alpha^2 and parameters a little less steeply
#   (the classifier is linear in alpha); rho scales MACs by rho^2
#   and leaves the parameters alone; our counts match the paper's Tables 6-7.
# * Measured speed improves less than the MACs fall: depthwise convs and thin
#   GEMMs use the hardware less efficiently.
# * Section 4 prints what the shipped runs measured for accuracy against MACs;
#   a difference within about two of its standard errors is not evidence
#   either way (each accuracy is the mean of the model's recorded seeds; the
#   seeds' spread is printed beside them).
# * What they show at this tiny width: at the *same* layout, standard 3x3s
#   are far more accurate than depthwise separable ones (several points, the
#   printed difference; the paper lost about 1 point at full width, where each
#   depthwise filter serves many more channels). At the *same MACs* the
#   comparison is another one: the DSC sweep at 12M and 45M MACs brackets the
#   standard net's 24M, and interpolated there it is level with it (the last
#   printed line): spend the MACs on width, not on dense 3x3s.
#
# ## Exercises
# 1. Which costs less accuracy per MAC saved in the paper's tables: alpha = 0.75
#    at 224 px or alpha = 1 at 192 px? Compute MACs for both with `tinycnn.summary`.
# 2. Count what share of MobileNet's MACs are in 1 x 1 convs (the paper: 95%).

# %%
run.done()
