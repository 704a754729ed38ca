# %% [markdown]
# # Lesson 02 — Convolution as im2col + GEMM
#
# A convolution layer slides a (C_in, k, k) filter over the input and takes a
# dot product at every position. Written as loops it is slow in Python and
# hard to vectorise. The trick every framework uses (Caffe, cuDNN's "implicit
# GEMM", tinycnn): **copy every receptive field into a column** of a matrix
# (im2col), then do all dot products at once as **one matrix product (GEMM)**
# that BLAS runs at full speed.
#
#     x: (N, C, H, W)  --im2col-->  cols: (C*k*k, N*Ho*Wo)
#     W: (C_out, C, k, k) reshaped (C_out, C*k*k)
#     y = W @ cols: (C_out, N*Ho*Wo)  --reshape-->  (N, C_out, Ho, Wo)
#
# This lesson checks that three implementations give the same numbers and
# times them: naive Python loops, im2col in NumPy (one strided slice per
# kernel tap), and im2col in Numba (compiled loops), each followed by the GEMM.
# Then it asks `F.conv2d` which of its paths it takes, and why.
#
# The geometry of a convolution travels as one named tuple,
# `ConvGeometry(kh, kw, sh, sw, ph, pw, dh, dw)`: kernel size, stride, padding
# and dilation, each as (height, width); unnamed fields default to stride 1,
# padding 0, dilation 1.

# %%
import matplotlib.pyplot as plt
import numba
import numpy as np
from _common import setup

import tinycnn
from tinycnn.kernels.geometry import ConvGeometry
from tinycnn.kernels.im2col import im2col, im2col_reference
from tinycnn.nn import functional as F

run = setup("02")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. The definition, as loops
# y[n, o, i, j] = b[o] + sum over c, a, b of w[o, c, a, b] * x[n, c, i*s + a - p, j*s + b - p]
# (zero outside the image). Seven nested loops; this is our ground truth.


# %%
def conv2d_naive(x, w, b, stride=1, padding=0):
    """x: (N, C, H, W), w: (C_out, C, k, k), b: (C_out,) -> (N, C_out, Ho, Wo). Pure Python loops."""
    N, C, H, W = x.shape
    C_out, _, k, _ = w.shape
    Ho, Wo = ConvGeometry(kh=k, kw=k, sh=stride, sw=stride, ph=padding, pw=padding).output_size(H, W)
    y = np.zeros((N, C_out, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for o in range(C_out):
            for i in range(Ho):
                for j in range(Wo):
                    acc = b[o]
                    for c in range(C):
                        for a in range(k):
                            for bb in range(k):
                                r, s = i * stride + a - padding, j * stride + bb - padding
                                if 0 <= r < H and 0 <= s < W:
                                    acc += w[o, c, a, bb] * x[n, c, r, s]
                    y[n, o, i, j] = acc
    return y


def im2col_one_thread(x, geometry):
    """Numba's im2col on one thread (its kernel is parallel): to test whether handing over from
    Numba's thread pool to BLAS's costs time when both run on the same cores."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return im2col(x, geometry)
    finally:
        numba.set_num_threads(threads)


def conv2d_im2col(x, w, b, stride=1, padding=0, im2col_fn=im2col):
    """The same convolution as im2col followed by one matrix product."""
    N = x.shape[0]
    C_out, C, k, _ = w.shape
    geometry = ConvGeometry(kh=k, kw=k, sh=stride, sw=stride, ph=padding, pw=padding)
    cols = im2col_fn(x, geometry)                                       # (C*k*k, N*Ho*Wo)
    Ho, Wo = geometry.output_size(*x.shape[2:])
    y = w.reshape(C_out, C * k * k) @ cols + b[:, None]               # (C_out, N*Ho*Wo)
    return y.reshape(C_out, N, Ho, Wo).transpose(1, 0, 2, 3)            # (N, C_out, Ho, Wo)


# %% [markdown]
# ## 2. What im2col builds
# A tiny input, 2 channels of 4x4, whose pixels are numbered 1..32 so we can
# see where each one lands; a 3x3 kernel with padding 1 gives 4x4 = 16 output
# positions, so `cols` has 2*3*3 = 18 rows and 16 columns. Column (i, j) holds
# the 18 numbers the filter sees at output (i, j); 0 is padding. Every interior
# pixel is copied k*k = 9 times: the price of turning a convolution into a GEMM.

# %%
x_small = np.arange(1, 33, dtype=np.float32).reshape(1, 2, 4, 4)
k3_pad1 = ConvGeometry(kh=3, kw=3, ph=1, pw=1)  # 3x3 kernel, padding 1 (stride 1, dilation 1)
cols_small = im2col_reference(x_small, k3_pad1)
assert np.array_equal(cols_small, im2col(x_small, k3_pad1))
print("x:", x_small.shape, "-> cols:", cols_small.shape,
      f"({cols_small.size} entries for {x_small.size} pixels, {cols_small.size / x_small.size:.1f}x)")

highlight = 5  # the output position (1, 1): its column is the 3x3 patch around pixel (1, 1)
fig, axes = plt.subplots(1, 3, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1, 3.2], "wspace": 0.35})
for c in range(2):
    ax = axes[c]
    ax.imshow(x_small[0, c], cmap="Blues", vmin=0, vmax=40)
    for (i, j), v in np.ndenumerate(x_small[0, c]):
        ax.text(j, i, int(v), ha="center", va="center", fontsize=9)
    ax.add_patch(plt.Rectangle((-0.5, -0.5), 3, 3, fill=False, ec="crimson", lw=2))
    ax.set_title(f"x[0, {c}] (4x4)")
    ax.set_xticks([])
    ax.set_yticks([])
ax = axes[2]
ax.imshow(np.where(cols_small == 0, np.nan, cols_small), cmap="Blues", vmin=0, vmax=40, aspect="auto")
for (r, col), v in np.ndenumerate(cols_small):
    ax.text(col, r, int(v) if v else "·", ha="center", va="center", fontsize=7)
ax.add_patch(plt.Rectangle((highlight - 0.5, -0.5), 1, 18, fill=False, ec="crimson", lw=2))
ax.set_xticks(range(16), [f"{i},{j}" for i in range(4) for j in range(4)], fontsize=7, rotation=90)
ax.set_xlabel("column = output position (i, j) of image n = 0")
ax.set_ylabel("row = (channel, kernel row, kernel col)")
ax.set_title("cols = im2col(x, k=3, padding=1): 18 x 16; red: the patch of output (1, 1)")
ax.set_yticks(range(18))
ax.set_yticklabels([f"c{c} ({a},{b})" for c in range(2) for a in range(3) for b in range(3)], fontsize=6)
run.savefig(fig, "im2col_matrix")

# %% [markdown]
# ## 3. Same numbers
# Loops, NumPy im2col + GEMM, Numba im2col + GEMM and the framework's
# `F.conv2d` must agree (up to float32 rounding: the sums run in different
# orders). Odd shapes on purpose: non-square input, stride 2, batch 3.

# %%
for shape, c_out, k, stride, padding in [((3, 4, 9, 7), 5, 3, 1, 1), ((3, 4, 9, 7), 5, 3, 2, 1), ((2, 3, 8, 8), 4, 1, 1, 0)]:
    x = tinycnn.randn(*shape).numpy()
    w = tinycnn.randn(c_out, shape[1], k, k).numpy()
    b = tinycnn.randn(c_out).numpy()
    y_loops = conv2d_naive(x, w, b, stride, padding)
    y_numpy = conv2d_im2col(x, w, b, stride, padding, im2col_reference)
    y_numba = conv2d_im2col(x, w, b, stride, padding, im2col)
    y_F = F.conv2d(tinycnn.tensor(x), tinycnn.tensor(w), tinycnn.tensor(b), stride=stride, padding=padding).numpy()
    for name, y in [("numpy im2col", y_numpy), ("numba im2col", y_numba), ("F.conv2d", y_F)]:
        np.testing.assert_allclose(y, y_loops, rtol=1e-4, atol=1e-4, err_msg=name)
    err = max(np.abs(y - y_loops).max() for y in (y_numpy, y_numba, y_F))
    print(f"x {shape}, {c_out} filters {k}x{k}, stride {stride}: output {y_loops.shape}, all four agree "
          f"(max |difference| {err:.1e})")

# %% [markdown]
# ## 4. Timings
# Three layers from a CIFAR ResNet (3x3, padding 1, channels kept): early
# layers have big maps and few channels, late ones the opposite. The naive
# loops run only on one small image (16 channels, 8x8): a fraction of a second.
# We report each method's speed in GMAC/s (billions of multiply-accumulates
# per second) so that different sizes compare. The Numba kernels were compiled
# on their first call above (`cache=True` stores the machine code on disk).


# %%
batch = run.pick(32, smoke=2, full=128)
repeats = run.pick(3, smoke=1, full=9)
layers = run.pick([(16, 32), (32, 16), (64, 8)], smoke=[(16, 8), (64, 4)])  # (channels, map size)
rows = []
for C, S in layers:
    x = tinycnn.randn(batch, C, S, S).numpy()
    w = tinycnn.randn(C, C, 3, 3).numpy()
    b = np.zeros(C, np.float32)
    cols = im2col(x, k3_pad1)
    wm = w.reshape(C, -1)
    xt, wt, bt = tinycnn.tensor(x), tinycnn.tensor(w), tinycnn.tensor(b)
    t = run.time({  # interleaved medians: a change of machine load hits every method alike
        "im2col numpy": lambda: im2col_reference(x, k3_pad1),
        "im2col numba": lambda: im2col(x, k3_pad1),
        "GEMM": lambda: wm @ cols,
        "conv numpy": lambda: conv2d_im2col(x, w, b, 1, 1, im2col_reference),
        "conv numba": lambda: conv2d_im2col(x, w, b, 1, 1, im2col),
        "conv numba 1T": lambda: conv2d_im2col(x, w, b, 1, 1, im2col_one_thread),
        "F.conv2d": lambda: F.conv2d(xt, wt, bt, padding=1),
    }, repeat=repeats)
    rows.append((C, S, batch * C * S * S * C * 9, t))

C0, S0 = 16, 8  # the loops take ~0.1-0.5 s even for this one small image
n_naive = 1
x = tinycnn.randn(n_naive, C0, S0, S0).numpy()
w = tinycnn.randn(C0, C0, 3, 3).numpy()
naive_s = None
if not run.smoke:
    naive_s = run.time({"naive": lambda: conv2d_naive(x, w, np.zeros(C0, np.float32), 1, 1)}, repeat=1)["naive"]
naive_gmacs = n_naive * C0 * S0 * S0 * C0 * 9 / naive_s / 1e9 if naive_s else None

cols_names = ["im2col numpy", "im2col numba", "GEMM", "conv numpy", "conv numba", "conv numba 1T", "F.conv2d"]
print(f"\nbatch {batch}, float32, median of {repeats}; times in ms, speed of the whole convolution in GMAC/s")
print(f"{'layer':>16s} " + " ".join(f"{c:>13s}" for c in cols_names) + "   GMAC/s: numpy  numba  F.conv2d")
for C, S, macs, t in rows:
    print(f"{C:3d}ch {S:2d}x{S:<2d} 3x3 " + " ".join(f"{t[c] * 1e3:13.2f}" for c in cols_names)
          + f"   {macs / t['conv numpy'] / 1e9:12.2f} {macs / t['conv numba'] / 1e9:6.2f} {macs / t['F.conv2d'] / 1e9:9.2f}")
if naive_gmacs:
    print(f"naive Python loops, 1 image of {C0}ch {S0}x{S0}: {naive_s * 1e3:.0f} ms = {naive_gmacs:.5f} GMAC/s")
for C, S, macs, t in rows:
    share = t["im2col numba"] / (t["im2col numba"] + t["GEMM"])
    speed = t["im2col numpy"] / t["im2col numba"]
    print(f"{C:3d}ch {S:2d}x{S:<2d}: the copy (Numba im2col) is {share:.0%} of im2col+GEMM; Numba im2col runs at "
          f"{speed:.2f}x the speed of the NumPy one; cols holds {C * 9 * batch * S * S * 4 / 2**20:.1f} MiB "
          f"for a {C * batch * S * S * 4 / 2**20:.1f} MiB input")
print(f"\nthe whole vs its parts (ms; Numba uses {numba.get_num_threads()} thread(s), 1T: its im2col forced to one)")
for C, S, macs, t in rows:
    print(f"{C:3d}ch {S:2d}x{S:<2d}: conv numpy {t['conv numpy'] * 1e3:7.2f} vs im2col numpy + GEMM "
          f"{(t['im2col numpy'] + t['GEMM']) * 1e3:7.2f} | conv numba {t['conv numba'] * 1e3:7.2f} vs im2col numba + "
          f"GEMM {(t['im2col numba'] + t['GEMM']) * 1e3:7.2f} | conv numba 1T {t['conv numba 1T'] * 1e3:7.2f}")
C, S, macs, t = rows[-1]
best = min(("conv numpy", "conv numba", "F.conv2d"), key=lambda m: t[m])
if naive_gmacs:
    print(f"fastest convolution on the {C}-channel layer: {best}, {macs / t[best] / 1e9:.2f} GMAC/s, "
          f"{macs / t[best] / 1e9 / naive_gmacs:.0f}x the naive loops' speed")

fig, ax = plt.subplots(figsize=(7.5, 4.2))
methods = {"conv numpy": "NumPy im2col + GEMM", "conv numba": "Numba im2col + GEMM", "F.conv2d": "F.conv2d"}
xs = np.arange(len(rows))
for m_i, (m, label) in enumerate(methods.items()):
    ax.bar(xs + (m_i - 1) * 0.27, [macs / t[m] / 1e9 for _, _, macs, t in rows], 0.27, label=label)
if naive_gmacs:
    ax.axhline(naive_gmacs, color="crimson", ls=":", label=f"naive loops ({naive_gmacs:.4f})")
ax.set_yscale("log")
ax.set_xticks(xs, [f"{C}ch {S}x{S}" for C, S, _, _ in rows])
ax.set_ylabel("GMAC/s (log scale)")
ax.set_title(f"3x3 convolution, batch {batch}, float32 (median of {repeats} runs)")
ax.legend(fontsize=8, loc="center right")
run.savefig(fig, "timings")

# %% [markdown]
# ## 5. Which path `F.conv2d` takes
# `F.conv2d` computes the same formula in one of four ways: im2col + GEMM (the
# reference), or a fast path where it wins: "pointwise" (1x1 kernels: no
# im2col needed), "depthwise" (one channel per group) or "direct" (3-wide
# kernels at stride 1, and 3x3 at stride 2, where each tap reads one of the
# input's four "phase" planes -- its even or odd rows and columns -- shifted).
# `F.conv_algorithm` says which one a layer takes for a
# given input, and why (`layer.algorithm(input_shape)` on an `nn.Conv2d`);
# `F.conv2d(..., algorithm="im2col")` forces one.

# %%
for C, S in layers:
    path, why = F.conv_algorithm((batch, C, S, S), (C, C, 3, 3), padding=1)
    print(f"{C:3d}ch {S:2d}x{S:<2d} 3x3: {path} -- {why}")
    assert path == "direct"  # the text below relies on it
print("1x1, 64->128 on 8x8:", F.conv_algorithm((batch, 64, 8, 8), (128, 64, 1, 1)))
print("3x3 stride 2, 16->32 on 32x32:", F.conv_algorithm((batch, 16, 32, 32), (32, 16, 3, 3), stride=2, padding=1))
wide = tinycnn.nn.Conv2d(512, 512, 3, padding=1, bias=False)
print("Conv2d(512, 512, 3, padding=1) on 4x4:", wide.algorithm((batch, 512, 4, 4)))

# %% [markdown]
# What to read from the table:
# * The loops are about three orders of magnitude slower than anything
#   vectorised: every multiply-add pays for Python's interpreter.
# * im2col is a pure copy (no arithmetic), yet it is a sizeable share of the
#   time: it moves k*k = 9 times the input's bytes. The GEMM does all the
#   arithmetic; its speed depends on the matrix shapes, (C_out, 9 C) @ (9 C, N H W):
#   with 16 channels the filter matrix has only 16 rows, a thin product.
# * NumPy's im2col is 9 strided slice copies (one per kernel tap), each a fast
#   C loop over the whole batch; the Numba kernel is one compiled loop nest.
#   Which one wins depends on the machine and its load: measure, do not guess.
# * A faster im2col need not make a faster convolution. Both convolutions run
#   the same GEMM, so their difference is the im2col's *inside the
#   convolution*, which need not be its time alone: the lesson prints each
#   whole next to the sum of its parts, and a variant with Numba's im2col on
#   one thread ("1T"). Two effects can show there. (1) Memory: timed alone,
#   the GEMM rereads one cols matrix that earlier calls already brought into
#   the caches; inside the convolution, cols (several MiB, more than the
#   caches) is freshly written and then read, so a whole can be slower than
#   its parts, for both paths (not always: with 16 channels cols is small).
#   The timings are medians of three: on a machine busy with other work a
#   single row can be off by several times (rerun before reading it). (2) Threads: Numba's im2col is a parallel loop on
#   Numba's thread pool, and the GEMM after it runs on BLAS's own pool; with
#   more than one thread both pools compete for the same cores at the
#   handover, which costs the Numba path alone and which "1T" removes. Which
#   im2col is faster by itself also changes with the machine and its load: on
#   a busy 2-core machine the NumPy copy can win outright. Read your own run.
# * `F.conv2d` is the framework's convolution. For these 3x3, stride-1 layers it
#   does not use im2col at all: it takes the "direct" path
#   (`tinycnn/kernels/direct_conv.py`). Flatten each zero-padded input plane:
#   the input under tap (a, b) of every output pixel is then the same plane
#   shifted by a*(W+2) + b, so the convolution is a sum of shifted, scaled
#   planes -- long contiguous loops that compile to vector instructions, with
#   no 9x copy of the input (section 5). It also pays for Tensor wrapping,
#   checks and the buffers kept for the backward pass. `ops/conv.py` lists
#   its four paths.
# * On a machine shared with other jobs, multi-threaded BLAS and Numba can be
#   *slower* than one thread (threads wait for each other); try
#   `OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1` and compare.
#
# ## Summary
# * A convolution is a matrix product between the reshaped filters (C_out, C*k*k)
#   and the im2col matrix (C*k*k, N*Ho*Wo).
# * im2col costs k*k times the input's memory, but turns the work into one
#   large GEMM that BLAS runs near peak speed.
# * On the im2col path the backward pass is two more GEMMs: the weight gradient
#   dY @ cols.T, and the input gradient W.T @ dY followed by col2im (the adjoint
#   of im2col, which adds each column entry back to its pixel). At stride 1 the
#   input gradient is itself a convolution (of dY with the flipped filters), so
#   it runs as im2col(dY) + GEMM instead.
# * That is the im2col path, not the one `F.conv2d` takes for the layers timed
#   here: `F.conv_algorithm` names "direct" for all three (section 5 prints
#   and asserts it). A convolution need not build cols: the direct path's
#   kernels read the padded input in place,
#   forward and backward (the weight gradient as shifted dot products, the input
#   gradient as a direct convolution of dY with the flipped filters), and skip
#   im2col's memory traffic. `F.conv_algorithm` tells which path a layer takes.
#
# ## Exercises
# 1. Write the backward of `conv2d_im2col` for the weights: dW = dY (C_out, N*Ho*Wo) @ cols.T.
#    Check it against `F.conv2d` with `tinycnn.gradcheck`.
# 2. A 1x1 convolution needs no im2col at all. Why? Time `F.conv2d` with a 1x1 kernel
#    against a plain `np.matmul` on the reshaped input.
# 3. How large is `cols` for the first 3x3 layer of ResNet-50 on a batch of 64
#    ImageNet images (64 channels, 56x56)? When would you process the batch in chunks?

# %%
run.done()
