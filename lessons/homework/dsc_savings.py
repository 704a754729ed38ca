# %% [markdown]
# # Homework — what a depthwise separable convolution saves
#
# MobileNet (Howard et al. 2017, Section 3.1) replaces a standard k x k
# convolution from M to N channels by a depthwise k x k convolution (one
# filter per input channel) followed by a pointwise 1 x 1 convolution
# (M -> N). This script derives the saving, checks it EXACTLY on real tinycnn
# layers with the MAC counter (`tinycnn.summary`) and the parameter counts,
# then measures wall-clock time and explains why the measured speed-up is
# smaller than the multiply-add ratio.

# %%
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # lessons/: _common
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import nn  # noqa: E402
from tinycnn.bench.timing import median_times, try_import_torch  # noqa: E402

run = setup("hw_dsc")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. The derivation
# Output map D_f x D_f (stride 1, "same" padding), input channels M, output
# channels N, kernel k x k, no biases.
#
#     standard conv:  params  k^2 M N          mult-adds  k^2 M N D_f^2
#     depthwise:      params  k^2 M            mult-adds  k^2 M D_f^2     (one k x k filter per channel)
#     pointwise:      params  M N              mult-adds  M N D_f^2       (a 1 x 1 conv mixing the channels)
#
#     (depthwise + pointwise) / standard = (k^2 M + M N) / (k^2 M N) = 1/N + 1/k^2
#
# D_f^2 cancels in the mult-adds, so the ratio is the same for both. For
# k = 3 and N >= 64 that is 1/9 + 1/N ~ 0.12: 8-9x fewer operations.

# %%
print("standard:  params k^2*M*N,        MACs k^2*M*N*D_f^2")
print("separable: params k^2*M + M*N,    MACs (k^2*M + M*N)*D_f^2")
print("ratio = (k^2*M + M*N) / (k^2*M*N) = 1/N + 1/k^2   (the same for params and MACs: D_f^2 cancels)\n")


def standard(M, N, k):
    return nn.Conv2d(M, N, k, padding=k // 2, bias=False)


def depthwise(M, k):
    return nn.Conv2d(M, M, k, padding=k // 2, groups=M, bias=False)


def pointwise(M, N):
    return nn.Conv2d(M, N, 1, bias=False)


def separable(M, N, k):
    return nn.Sequential(depthwise(M, k), pointwise(M, N))


# %% [markdown]
# ## 2. Exact check on real layers
# For each shape (M, N, k, D_f) we build the layers, count parameters with
# `tinycnn.count_params` and multiply-adds with `tinycnn.summary` (forward
# hooks on the layers that ran), and assert that both ratios equal
# 1/N + 1/k^2 as exact fractions, and that each count equals its formula.

# %%
shapes = run.pick([(32, 64, 3, 56), (64, 128, 3, 28), (128, 256, 3, 14), (256, 256, 3, 14), (512, 512, 3, 7),
                   (96, 24, 5, 28), (64, 160, 7, 14), (3, 32, 3, 32)],
                  smoke=[(8, 16, 3, 8), (16, 8, 5, 6), (3, 32, 3, 8)])
print(f"{'M':>4s} {'N':>4s} {'k':>2s} {'D_f':>4s} {'std params':>11s} {'dsc params':>10s} {'std MACs':>12s} "
      f"{'dsc MACs':>11s} {'MAC ratio':>10s} {'1/N + 1/k^2':>12s}")
for M, N, k, D in shapes:
    std_layer, dsc_layer = standard(M, N, k), separable(M, N, k)
    std_macs = tinycnn.summary(std_layer, (M, D, D), print_table=False).total_macs
    dsc_macs = tinycnn.summary(dsc_layer, (M, D, D), print_table=False).total_macs
    std_params, dsc_params = tinycnn.count_params(std_layer), tinycnn.count_params(dsc_layer)
    predicted = Fraction(1, N) + Fraction(1, k * k)
    assert std_params == k * k * M * N and dsc_params == k * k * M + M * N, (M, N, k, D)
    assert std_macs == k * k * M * N * D * D and dsc_macs == (k * k * M + M * N) * D * D, (M, N, k, D)
    assert Fraction(dsc_macs, std_macs) == predicted, (M, N, k, D, Fraction(dsc_macs, std_macs), predicted)
    assert Fraction(dsc_params, std_params) == predicted, (M, N, k, D, Fraction(dsc_params, std_params))
    print(f"{M:4d} {N:4d} {k:2d} {D:4d} {std_params:11,} {dsc_params:10,} {std_macs:12,} {dsc_macs:11,} "
          f"{str(Fraction(dsc_macs, std_macs)):>10s} {str(predicted):>12s}")
print(f"all {len(shapes)} shapes: params ratio == MACs ratio == 1/N + 1/k^2 exactly (fractions)\n")

# %% [markdown]
# ## 3. Measured time
# A batch of B images through the standard conv, the depthwise conv and the
# pointwise conv (forward, float32); the separable layer's time is
# depthwise + pointwise. Each time is the median of 7 calls (at least), with
# garbage collection and a 0.25 s pause before each call
# (`tinycnn.bench.timing.median_times`), the callables interleaved so that
# load changes on a shared machine hit them alike. The same three layers in
# PyTorch (if installed) serve as a reference of a heavily optimised CPU
# library. Next to the wall-clock ratio we print the ratio of this
# process's CPU times ("CPU").
#
# **All of this section runs on one thread**, whatever `--threads` says. With
# several threads a process's CPU time adds up every thread's time, including
# threads that only wait: OpenBLAS's and OpenMP's workers spin on a core for a
# while after each call, hoping for more work. A GEMM (the standard conv)
# leaves such spinning threads behind, a serial depthwise kernel does not, so
# multi-threaded CPU times charge the standard conv for idle cores and make the
# speed-up look *larger* than the MAC ratio: not a measure of work. With one
# thread, CPU time is the work, and on a shared machine it is steadier than
# the wall clock (which also counts the waits for a core).
#
# We also compute each layer's **arithmetic intensity**: MACs per byte it
# must at least move (its input, its output and its weights, 4 bytes each).

# %%
batch = run.pick(4, smoke=2, full=16)
repeats = run.pick(7, smoke=2, full=11)
timed = run.pick(shapes[:4], smoke=shapes[:1], full=shapes[:5])
torch = try_import_torch()
threads = tinycnn.get_num_threads()
tinycnn.set_num_threads(1)  # one thread: CPU time is the work (see above); restored after the timings
if torch is not None:
    torch.set_num_threads(1)


def intensity(macs, *arrays):
    """MACs per byte of the given float32 array sizes (elements)."""
    return macs / (4 * sum(arrays))


def forward(layer, x):
    def call():
        t0 = time.process_time()
        with tinycnn.no_grad():
            layer(x)
        return {"cpu": time.process_time() - t0}
    return call


def torch_forward(M, N, k, x):
    """Zero-argument callables running the three layers in PyTorch on x's values."""
    xt = torch.from_numpy(x.numpy().copy())
    w_std, w_dw, w_pw = torch.randn(N, M, k, k), torch.randn(M, 1, k, k), torch.randn(N, M, 1, 1)

    def run_torch(fn):
        def call():
            t0 = time.process_time()
            with torch.no_grad():
                fn()
            return {"cpu": time.process_time() - t0}
        return call
    return {"torch standard": run_torch(lambda: torch.nn.functional.conv2d(xt, w_std, padding=k // 2)),
            "torch depthwise": run_torch(lambda: torch.nn.functional.conv2d(xt, w_dw, padding=k // 2, groups=M)),
            "torch pointwise": run_torch(lambda: torch.nn.functional.conv2d(xt, w_pw))}


rows = []
for M, N, k, D in timed:
    x = tinycnn.randn(batch, M, D, D)
    layers = {"standard": standard(M, N, k), "depthwise": depthwise(M, k), "pointwise": pointwise(M, N)}
    fns = {name: forward(layer.eval(), x) for name, layer in layers.items()}
    if torch is not None:
        fns.update(torch_forward(M, N, k, x))
    measured = median_times(fns, repeat=repeats)
    t = {name: v["total"] for name, v in measured.items()}  # wall clock
    cpu = {name: v["cpu"] for name, v in measured.items()}  # this process's CPU time
    macs = {"standard": k * k * M * N * D * D * batch, "depthwise": k * k * M * D * D * batch,
            "pointwise": M * N * D * D * batch}
    inp, out_n, out_m = batch * M * D * D, batch * N * D * D, batch * M * D * D
    ai = {"standard": intensity(macs["standard"], inp, out_n, k * k * M * N),
          "depthwise": intensity(macs["depthwise"], inp, out_m, k * k * M),
          "pointwise": intensity(macs["pointwise"], out_m, out_n, M * N)}
    rows.append(dict(shape=(M, N, k, D), t=t, cpu=cpu, macs=macs, ai=ai))


tinycnn.set_num_threads(threads)
clock = "cpu"  # the rates and shares below use the one thread's CPU time


def speedup(r, prefix="", clock=clock):
    t = r[clock]
    return t[prefix + "standard"] / (t[prefix + "depthwise"] + t[prefix + "pointwise"])


def mac_ratio(r):
    return r["macs"]["standard"] / (r["macs"]["depthwise"] + r["macs"]["pointwise"])


def dw_at_pw_rate(r, prefix):
    """Speed-up the separable layer would have if its depthwise part ran at the pointwise conv's MACs/s."""
    t, macs = r[clock], r["macs"]
    return t[prefix + "standard"] / (t[prefix + "pointwise"] * (1 + macs["depthwise"] / macs["pointwise"]))


libs = [("tinycnn", "")] + ([("torch", "torch ")] if torch is not None else [])
print(f"batch {batch}, forward, float32, 1 thread, median of {repeats}; rates and shares from CPU time")
print(f"{'M,N,k,D_f':>17s} {'lib':>7s} {'MAC ratio':>9s} {'wall ratio':>10s} {'CPU':>5s} | {'GMAC/s std':>10s} "
      f"{'dw':>6s} {'pw':>6s} | {'MAC/byte std':>12s} {'dw':>5s} {'pw':>6s} | {'dw share: MACs':>14s} {'time':>5s}")
for r in rows:
    macs, ai = r["macs"], r["ai"]
    for lib, prefix in libs:
        t = r[clock]
        g = {name: macs[name] / t[prefix + name] / 1e9 for name in ("standard", "depthwise", "pointwise")}
        dw_time = t[prefix + "depthwise"] / (t[prefix + "depthwise"] + t[prefix + "pointwise"])
        print(f"{str(r['shape']):>17s} {lib:>7s} {mac_ratio(r):9.2f} {speedup(r, prefix, 't'):10.2f} "
              f"{speedup(r, prefix, 'cpu'):5.2f} | "
              f"{g['standard']:10.2f} {g['depthwise']:6.2f} {g['pointwise']:6.2f} | {ai['standard']:12.1f} "
              f"{ai['depthwise']:5.2f} {ai['pointwise']:6.1f} | "
              f"{macs['depthwise'] / (macs['depthwise'] + macs['pointwise']):14.0%} {dw_time:5.0%}")

# %% [markdown]
# ## 4. Where the time goes, and why MACs are not time
# A standard conv does tens to hundreds of MACs per byte it must fetch (each
# weight reused D_f^2 B times, each input value k^2 N times): it can run
# near the core's peak (compute-bound). The depthwise conv does only k^2
# MACs per input value, about k^2 / 8 ~ 1 MAC per byte: it is
# **memory-bound**, its speed set by how fast the feature maps stream
# through the caches, not by the multipliers. In the table it holds a few %
# of the separable layer's MACs but about a third of its time or more (CPU;
# the "dw share" columns), at a
# small fraction of the pointwise conv's GMAC/s. Roofline: time >=
# max(MACs / peak, bytes / bandwidth). Had the depthwise part run at the
# pointwise conv's rate, the separable layer would be faster by the factor
# printed below ("lost to dw").
#
# The pointwise conv is a GEMM too, but a thin one: its inner dimension is
# M instead of k^2 M, so it reuses each input value only N times (the
# standard conv: k^2 N) and falls further below peak on small maps. Both
# effects make the measured speed-up smaller than the MAC ratio. (On a GPU
# the gap is larger still: a standard 3x3 conv runs at a good fraction of
# peak, a depthwise conv at a few %.)
#
# The two effects account for the whole gap, exactly: with t the times and m
# the MACs,
#
#     measured speed-up = MAC ratio / (lost to dw  x  std/pw rate)
#
# where "lost to dw" = (t_dw + t_pw) / (t_pw (m_dw + m_pw) / m_pw) is how much
# longer the separable layer takes than if its depthwise MACs ran at the
# pointwise rate, and "std/pw rate" = (m_std / t_std) / (m_pw / t_pw) is how
# much faster the standard conv's GEMM runs than the pointwise one's (multiply
# out the definitions: everything but t_std / (t_dw + t_pw) cancels; the last
# column recomputes the measured speed-up this way). Where "std/pw rate" is
# below 1, the standard conv runs fewer MACs per second than the pointwise
# one (tinycnn's 3x3 kernels do on some shapes, one thread): then the measured
# speed-up can exceed the MAC ratio. That says the standard conv is slow
# there, not that the separable layer saves more than its MACs.

# %%
print(f"\n{'M,N,k,D_f':>17s} {'lib':>7s} {'MAC ratio':>9s} {'measured':>8s} {'if dw ran at pw rate':>20s} "
      f"{'lost to dw':>10s} {'std/pw rate':>11s} {'MAC ratio / (lost x rate)':>26s}")
below = heavier = 0
for r in rows:
    macs = r["macs"]
    for lib, prefix in libs:
        t = r[clock]
        ideal = dw_at_pw_rate(r, prefix)
        rate = (macs["standard"] / t[prefix + "standard"]) / (macs["pointwise"] / t[prefix + "pointwise"])
        below += speedup(r, prefix) < mac_ratio(r)
        dw_time = t[prefix + "depthwise"] / (t[prefix + "depthwise"] + t[prefix + "pointwise"])
        heavier += dw_time > macs["depthwise"] / (macs["depthwise"] + macs["pointwise"])
        lost = ideal / speedup(r, prefix)
        print(f"{str(r['shape']):>17s} {lib:>7s} {mac_ratio(r):9.2f} {speedup(r, prefix):8.2f} {ideal:20.2f} "
              f"{lost:9.2f}x {rate:11.2f} {mac_ratio(r) / (lost * rate):26.2f}")
print(f"of {len(rows) * len(libs)} cases: measured speed-up below the MAC ratio in {below}; "
      f"depthwise share of the time above its share of the MACs in {heavier}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.2))
ax = axes[0]
xs = np.arange(len(rows))
width = 0.8 / (1 + 2 * len(libs))
ax.bar(xs - 0.4 + width / 2, [mac_ratio(r) for r in rows], width, label="MAC ratio = 1 / (1/N + 1/k^2)")
i = 0
for lib, prefix in libs:
    for name, c in (("CPU time", "cpu"), ("wall clock", "t")):
        i += 1
        pos = xs - 0.4 + width * (i + 0.5)
        ax.bar(pos, [speedup(r, prefix, c) for r in rows], width, label=f"measured, {lib}, {name}",
               hatch="//" if c == "t" else None, color=f"C{1 + 2 * (lib == 'torch')}", alpha=0.6 if c == "t" else 1)
        if c == clock:
            ax.scatter(pos, [dw_at_pw_rate(r, prefix) for r in rows], marker="_", s=200, color="k", zorder=3,
                       label="if depthwise ran at the pointwise rate" if i <= 2 else None)
ax.axhline(1, color="k", lw=0.7)
ax.set_xticks(xs, [f"M{M} N{N}\nk{k} D{D}" for M, N, k, D in (r["shape"] for r in rows)], fontsize=8)
ax.set_ylabel("standard / separable")
ax.set_title(f"Speed-up of depthwise separable: MACs vs measured (batch {batch})", fontsize=10)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not over them
ax = axes[1]
for (lib, prefix), fill in zip(libs, ("full", "none"), strict=False):
    for j, (name, marker) in enumerate((("standard", "o"), ("pointwise", "s"), ("depthwise", "^"))):
        ax.scatter([r["ai"][name] for r in rows], [r["macs"][name] / r[clock][prefix + name] / 1e9 for r in rows],
                   marker=marker, s=45, color=f"C{j}", facecolors=None if fill == "full" else "none",
                   label=f"{name} ({lib})")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("arithmetic intensity (MACs per byte moved, at least)")
ax.set_ylabel("achieved GMAC/s (CPU time, 1 thread)")
ax.set_title("Depthwise: ~1 MAC per byte -> memory-bound", fontsize=10)
ax.legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "speedup")

# %% [markdown]
# ## Summary
# * Params and mult-adds of depthwise + pointwise are exactly 1/N + 1/k^2 of
#   a standard conv's: checked as exact fractions on real layers.
# * The depthwise part is memory-bound (about 1 MAC per byte): a few % of
#   the MACs, about a third of the separable layer's time or more; the
#   pointwise GEMM is thinner than the standard conv's. The measured speed-up
#   (CPU time, one thread) is well below the 8-9x the MACs promise, in tinycnn
#   and in PyTorch alike. MACs are not time.
# * The gap factors exactly: measured = MAC ratio / (time lost to the
#   depthwise part x the standard conv's rate over the pointwise conv's).
# * Measure work with one thread and CPU time: multi-threaded CPU time counts
#   spinning, idle threads; wall-clock times on a machine shared with other
#   jobs scatter widely (waits for a core).
#
# ## Exercises
# 1. Add a stride-2 depthwise conv: does the ratio 1/N + 1/k^2 still hold?
#    (D_f is the *output* size: count it.)
# 2. Time the same shapes with batch 1 and batch 32: how do the GMAC/s of the
#    depthwise and of the standard conv change, and why?

# %%
run.done()
