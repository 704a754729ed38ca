# %% [markdown]
# # Solutions to the homework on depthwise separable savings

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import nn  # noqa: E402
from tinycnn.models.mobilenet_v1 import DepthwiseSeparableConv  # noqa: E402
from tinycnn.nn import functional as F  # noqa: E402

run = setup("solhw_dsc")

# %% [markdown]
# ## Exercise 1: a stride-2 depthwise conv
# Both convolutions compute their outputs on the output grid, D_f x D_f =
# ceil(D / 2) squared: the standard one costs 9 M N D_f^2, the separable one
# 9 M D_f^2 (depthwise, stride 2) + M N D_f^2 (pointwise, on the already
# halved map). The ratio is still 1/N + 1/9, with D_f the *output* size.

# %%
M, N, D = 64, 128, run.pick(28, smoke=8)
standard = tinycnn.summary(nn.Conv2d(M, N, 3, stride=2, padding=1, bias=False), (M, D, D), print_table=False)
separable = tinycnn.summary(DepthwiseSeparableConv(M, N, stride=2), (M, D, D), print_table=False)
conv_macs = sum(r.macs for r in separable.rows if r.type == "Conv2d")
d_f = -(-D // 2)
print(f"{M} -> {N}, {D}x{D} input, stride 2: output {d_f}x{d_f}; standard {standard.total_macs:,} MACs "
      f"(9 M N D_f^2 = {9 * M * N * d_f ** 2:,}); separable convs {conv_macs:,} "
      f"(9 M D_f^2 + M N D_f^2 = {9 * M * d_f ** 2 + M * N * d_f ** 2:,})")
print(f"ratio {conv_macs / standard.total_macs:.4f}; 1/N + 1/9 = {1 / N + 1 / 9:.4f}")

# %% [markdown]
# ## Exercise 2: batch 1 vs batch 32
# A standard conv is a GEMM whose long side is N H W: a larger batch makes it
# longer and lets the BLAS kernel reuse each filter value over more columns,
# so its GMAC/s rise with the batch (until the product is large enough). A
# depthwise conv does 9 MACs per output value and has no channel mixing to
# reuse data: every input value is read for a handful of MACs whatever the
# batch, so it stays bound by memory and its GMAC/s change little. The gap
# between the two therefore tends to widen with the batch (printed; one
# thread recommended: `--threads 1`).

# %%
C, S = 128, run.pick(28, smoke=8)
for batch in run.pick([1, 32], smoke=[1, 4]):
    x = tinycnn.randn(batch, C, S, S)
    w_std, w_dw = tinycnn.randn(C, C, 3, 3), tinycnn.randn(C, 1, 3, 3)
    t = run.time({"standard": lambda: F.conv2d(x, w_std, padding=1),
                  "depthwise": lambda: F.conv2d(x, w_dw, padding=1, groups=C)}, repeat=run.pick(5, smoke=1))
    std_rate = batch * C * C * S * S * 9 / t["standard"] / 1e9
    dw_rate = batch * C * S * S * 9 / t["depthwise"] / 1e9
    print(f"batch {batch:2d}, {C} channels {S}x{S}: standard {std_rate:6.2f} GMAC/s, depthwise {dw_rate:6.2f} GMAC/s "
          f"(standard / depthwise {std_rate / dw_rate:.1f}x)")

# %%
run.done()
