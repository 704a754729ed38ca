# %% [markdown]
# # Solutions to lesson 09b — MobileNet v2

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup, shipped  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import models  # noqa: E402
from tinycnn.data import EvalTransform  # noqa: E402
from tinycnn.models.mobilenet_v1 import DepthwiseSeparableConv  # noqa: E402
from tinycnn.models.mobilenet_v2 import InvertedResidual  # noqa: E402
from tinycnn.nn import functional as F  # noqa: E402

run = setup("sol09b")
tinycnn.manual_seed(0)

# %% [markdown]
# ## Exercise 1: a v2 block at C channels vs a v1 block at 4C
# Per output pixel a v2 block costs tC (expand) + 9tC (depthwise) + tC
# (project) = tC(2C + 9) MACs, a v1 block at 4C channels 9(4C) + (4C)^2.
# Equal when t = (36 + 16C) / (2C + 9): for C = 32, t = 548 / 73 = 7.5. So a
# v2 block with the usual t = 6 at C channels is cheaper than a v1 block at
# four times its width, while its depthwise conv works on 6C channels.

# %%
C, D = run.pick(32, smoke=8), 16
t = (36 + 16 * C) / (2 * C + 9)
print(f"C = {C}: t = {t:.3f}")
v1 = tinycnn.summary(DepthwiseSeparableConv(4 * C, 4 * C), (4 * C, D, D), print_table=False)
v2 = tinycnn.summary(InvertedResidual(C, C, 1, t), (C, D, D), print_table=False)
conv_macs = {name: sum(r.macs for r in s.rows if r.type == "Conv2d") for name, s in (("v1", v1), ("v2", v2))}
print(f"conv MACs on {D}x{D}: v1 block at {4 * C} channels {conv_macs['v1']:,} (formula "
      f"{(9 * 4 * C + (4 * C) ** 2) * D * D:,}); v2 block at {C}, t = {t:.2f}: {conv_macs['v2']:,} (formula with the "
      f"rounded hidden width {round(C * t)}: {round(C * t) * (2 * C + 9) * D * D:,})")

# %% [markdown]
# ## Exercise 2: a ReLU after the projection
# The subclass below applies ReLU to the projected output. What it would cost
# is the share of projected values that are negative: ReLU zeroes them. At
# initialisation about half are (BN centres them); the question is about a
# trained network, which needs the shipped `mobilenet_v2_cifar_035`. Until it
# ships, the same measurement runs on an untrained one, labelled as such.


# %%
class InvertedResidualReLU(InvertedResidual):
    """InvertedResidual with a ReLU after the (normally linear) projection."""

    def forward(self, x):
        out = F.relu(self.conv(x))
        return x + out if self.use_res_connect else out


def negative_share(model, images):
    """Fraction of each block's projected outputs (before any shortcut) below 0."""
    shares = []
    hooks = [m.conv.register_forward_hook(lambda mod, i, out: shares.append(float(np.mean(out.data < 0))))
             for m in model.modules() if isinstance(m, InvertedResidual)]
    with tinycnn.no_grad():
        model.eval()(images)
    for h in hooks:
        h.remove()
    return np.array(shares)


block = InvertedResidualReLU(C, C, 1, 6)
xb = tinycnn.randn(2, C, 8, 8)
residual = block(xb).numpy() - xb.numpy()  # the branch after its ReLU: never negative
print(f"InvertedResidualReLU: the branch's smallest value {residual.min():.2e} (>= 0 up to rounding)")
data = run.cifar10()
info = shipped("mobilenet_v2_cifar_035")
if info is not None:
    net, what = models.create("mobilenet_v2_cifar_035", pretrained=True), "trained (shipped)"
    images = tinycnn.tensor(EvalTransform(info["mean"], info["std"])(data.x_test[:run.pick(256, smoke=16)]))
else:
    net, what = models.create("mobilenet_v2_cifar_035"), "UNTRAINED (not the exercise's answer)"
    images = tinycnn.tensor(EvalTransform()(data.x_test[:run.pick(256, smoke=16)]))
shares = negative_share(net, images)
print(f"{what} mobilenet_v2_cifar_035: share of projected outputs a ReLU would zero, per block: "
      + " ".join(f"{s:.2f}" for s in shares))

# %%
run.done()
