# %% [markdown]
# # Solutions to lesson 05 — Wide ResNets

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import mini_run, setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn.models.preact_resnet import PreActBasicBlock, PreActResNet  # noqa: E402
from tinycnn.models.wide_resnet import WideResNet  # noqa: E402
from tinycnn.nn import functional as F  # noqa: E402

run = setup("sol05")
tinycnn.manual_seed(0)
repeats = run.pick(3, smoke=1)

# %% [markdown]
# ## Exercise 1: WRN-40-1 and WRN-16-2
# WRN-40-1 (N = 6, k = 1: N k^2 = 6) and WRN-16-2 (N = 2, k = 2: N k^2 = 8).
# Compare images/s and GMAC/s (printed): with more parameters and MACs the
# wide one runs about as many images per second, because its fewer, bigger
# convolutions run at more GMAC/s. The ratio depends on the machine and its
# load: repeat before reading a small difference.

# %%
batch = run.pick(8, smoke=2)
family = run.pick([(40, 1), (16, 2)], smoke=[(10, 1), (10, 2)])
for depth, k in family:
    model = WideResNet(depth, k)
    s = tinycnn.summary(model, (3, 32, 32), print_table=False)
    xb, yb = tinycnn.randn(batch, 3, 32, 32), np.arange(batch) % 10

    def step(model=model, xb=xb, yb=yb):
        model.train()
        F.cross_entropy(model(xb), yb).backward()

    t = run.time({"train": step}, repeat=repeats)["train"]
    print(f"WRN-{depth}-{k}: N k^2 = {(depth - 4) // 6 * k * k}, {s.total_params:,} params, "
          f"{s.total_macs / 1e6:.1f}M MACs, {batch / t:.1f} training img/s, {3 * s.total_macs * batch / t / 1e9:.2f} GMAC/s")

# %% [markdown]
# ## Exercise 2: equal MACs, different shapes
# C = 16 at 64x64, 32 at 32x32, 64 at 16x16 and 128 at 8x8 all do
# C^2 H W 9 = the same multiply-adds. On the im2col path the GEMM is
# (C, 9C) @ (9C, N H W), and the wider layers have the squarer, more
# cache-friendly product. But `F.conv2d` takes the direct path for all four
# (printed), which sums shifted input planes: there the smallest maps tend to
# be the slowest (an 8x8 plane is a short loop, and its padding border is a
# large share of it), and the others run at similar GMAC/s. Read your run:
# the differences are small next to the noise of a shared machine.

# %%
conv_batch = run.pick(8, smoke=1)
for C, S in run.pick([(16, 64), (32, 32), (64, 16), (128, 8)], smoke=[(16, 16), (32, 8)]):
    xc, wc = tinycnn.randn(conv_batch, C, S, S), tinycnn.randn(C, C, 3, 3)
    t = run.time({"conv": lambda xc=xc, wc=wc: F.conv2d(xc, wc, padding=1)}, repeat=run.pick(5, smoke=1))["conv"]
    macs = conv_batch * C * C * S * S * 9
    print(f"C {C:3d} at {S:2d}x{S:<2d}: {macs / 1e6:.0f}M MACs, {t * 1e3:7.2f} ms, {macs / t / 1e9:5.2f} GMAC/s, "
          f"path {F.conv_algorithm(xc.shape, wc.shape, padding=1)[0]}")

# %% [markdown]
# ## Exercise 3: dropout between the convolutions
# The WRN paper adds dropout between the two convs of each block and reports
# a small gain for the wide nets (their result). Whether it helps here needs
# long runs: dropout slows the fit, and after a short run it mostly *lowers*
# the accuracy. The mini-run below (one seed, error bars printed) shows the
# mechanics; `--full` trains longer. It is not evidence either way.

# %%
data = run.cifar10()
train_size, n_test = run.pick(1000, smoke=64, full=20000), run.pick(500, smoke=50, full=10000)
for rate in (0.0, 0.3):
    tinycnn.manual_seed(0)
    wide = PreActResNet(PreActBasicBlock, [1, 1, 1], [16, 32, 64], num_classes=10, stem_chs=8, dropout_rate=rate)
    r = mini_run(wide, data, train_size, n_test, epochs=run.pick(2, smoke=1, full=15))
    print(f"wide mini WRN (N=1, k=2), dropout {rate}: train loss {r['train_loss'][-1]:.3f}, test {r['acc_text']}")

# %%
run.done()
