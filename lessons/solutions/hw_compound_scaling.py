# %% [markdown]
# # Solutions to the homework on compound scaling

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn.models.efficientnet import ALPHA, BETA, GAMMA, EfficientNet  # noqa: E402

run = setup("solhw_compound")
base = run.pick(224, smoke=64)  # smoke mode: every resolution scaled by base / 224 (not the paper's sizes)


def macs(w, d, R):
    size = max(32, round(R * base / 224))
    return tinycnn.summary(EfficientNet(w, d, R, exact=True), (3, size, size), print_table=False).total_macs


# %% [markdown]
# ## Exercise 1: phi = 1 at 256 px instead of 258
# B0 at 224 px halves its maps five times down to 7 x 7. At 258 px the
# strided layers round *up* (ceil(R / 2^s)): the last maps are 9 x 9, more
# than the 8.06 x 8.06 that 258 / 32 would give, so the deep, wide layers do
# more work than r^2 predicts. At 256 = 8 x 32 every halving is exact, 8 x 8
# at the end, and the counted ratio comes closer to the law's r^2 factor.

# %%
b0 = macs(1.0, 1.0, 224)
law = ALPHA * BETA ** 2 * GAMMA ** 2
for R in (258, 256):
    ratio = macs(BETA, ALPHA, R) / b0
    print(f"phi = 1 at {R} px: {ratio:.3f}x B0's MACs; the law with this R: {ALPHA * BETA ** 2 * (R / 224) ** 2:.3f}; "
          f"with gamma = 1.15: {law:.3f}")
if base != 224:
    print("(smoke mode: reduced resolutions, so the ceil effects differ from the 224-px ones)")

# %% [markdown]
# ## Exercise 2: do the parameters follow (alpha beta^2)^phi?
# Parameters have no resolution term: the law predicts (1.2 x 1.1^2)^phi =
# 1.452^phi. Layer counts are whole numbers and channels integers, and the
# stem, the depthwise convs (linear in w) and the classifier do not scale as
# d w^2, so the counts follow the law only roughly (printed side by side).

# %%
p0 = tinycnn.count_params(EfficientNet(1.0, 1.0, 224, exact=True))
for phi in run.pick(range(4), smoke=range(2)):
    params = tinycnn.count_params(EfficientNet(BETA ** phi, ALPHA ** phi, 224, exact=True))
    print(f"phi = {phi}: {params / 1e6:5.2f}M parameters, {params / p0:.2f}x B0; (alpha beta^2)^phi = "
          f"{(ALPHA * BETA ** 2) ** phi:.2f}")

# %%
run.done()
