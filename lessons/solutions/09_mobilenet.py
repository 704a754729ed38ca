# %% [markdown]
# # Solutions to lesson 09 — MobileNet
#
# The accuracies here are the paper's (Howard et al. 2017, Tables 6 and 7,
# ImageNet top-1), not measured by us; the MACs are counted by `tinycnn.summary`.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import models, nn  # noqa: E402

run = setup("sol09")
base = run.pick(224, smoke=64)  # smoke mode: smaller inputs, so the counts are not the paper's
paper_top1 = {(1.0, 224): 70.6, (0.75, 224): 68.4, (1.0, 192): 69.1}


def counted(alpha, R):
    model = models.create("mobilenet_v1", num_classes=1000, width_mult=alpha, resolution_mult=R / 224 * base / 224)
    return model, tinycnn.summary(model, model.input_size, print_table=False)


# %% [markdown]
# ## Exercise 1: alpha = 0.75 at 224 px or alpha = 1 at 192 px?
# Accuracy lost per MAC saved, against 1.0 MobileNet-224: the smaller the
# better. The width multiplier saves more MACs (~alpha^2) and loses more
# accuracy; the printed ratio says which loses less per MAC saved.

# %%
full_macs = counted(1.0, 224)[1].total_macs
per_mac = {}
for alpha, R in ((0.75, 224), (1.0, 192)):
    macs = counted(alpha, R)[1].total_macs
    lost = paper_top1[1.0, 224] - paper_top1[alpha, R]
    saved = (full_macs - macs) / 1e6
    print(f"alpha {alpha} at {R} px: {macs / 1e6:.0f}M MACs (saves {saved:.0f}M), paper top-1 {paper_top1[alpha, R]}% "
          f"(loses {lost:.1f} points): {100 * lost / saved:.2f} points per 100M MACs saved")
    per_mac[f"alpha {alpha} at {R} px"] = lost / saved
print(f"less accuracy lost per MAC saved: {min(per_mac, key=per_mac.get)} (by the paper's accuracies)")
if base != 224:
    print("(smoke mode: MACs at reduced inputs, so the per-MAC figures are not the paper's)")

# %% [markdown]
# ## Exercise 2: the share of MACs in 1x1 convolutions
# Every depthwise separable block is a 3x3 depthwise conv (9 MACs per output
# value) and a 1x1 pointwise conv (M MACs per output value, with M input
# channels in the hundreds): the pointwise convs dominate.

# %%
model, s = counted(1.0, 224)
modules = dict(model.named_modules())
pointwise = sum(r.macs for r in s.rows
                if isinstance(modules.get(r.name), nn.Conv2d) and modules[r.name].kernel_size == (1, 1))
print(f"1x1 convolutions: {pointwise / s.total_macs:.1%} of {s.total_macs / 1e6:.0f}M MACs (the paper: 95%)")

# %%
run.done()
