# %% [markdown]
# # Lesson 11 — SENet: squeeze, excitation, scale
#
# Hu, Shen & Sun (CVPR 2018; ILSVRC 2017 winner): a convolution mixes
# channels only locally. A **squeeze-and-excitation** block lets the network
# reweight its channels using global information, per image:
#
#     squeeze     z = global average pool of U           (N, C)
#     excitation  s = sigmoid(W2 relu(W1 z))              (N, C), W1: C -> C/r, W2: C/r -> C
#     scale       out = U * s (channel by channel)        (N, C, H, W)
#
# In SE-ResNet the block sits on the residual branch, before the addition.
# It costs almost nothing (two tiny FC layers on a C-vector) and gave
# ResNet-50 about the accuracy of ResNet-101 (ImageNet top-1 error 23.3%
# vs 24.8%). This lesson writes the block out by hand, measures its overhead
# in ResNets, and looks at what the excitations learn (`tinycnn.viz`).

# %%
import numpy as np
from _common import setup

import tinycnn
from tinycnn import models, nn
from tinycnn.viz import class_spread, collect_excitations, plot_excitations, train_or_load_se_resnet

run = setup("11")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. The block by hand
# We compute squeeze, excitation and scale with plain NumPy from the
# weights of an `nn.SqueezeExcitation(64, 4)` (r = 16) and compare with its
# forward. Its FC layers are 1 x 1 convolutions (torchvision's layout):
# weights (C/r, C, 1, 1) and (C, C/r, 1, 1).

# %%
C, r = 64, 16
se = nn.SqueezeExcitation(C, C // r)
U = tinycnn.randn(2, C, 8, 8)
z = U.numpy().mean(axis=(2, 3))                                         # squeeze: (N, C)
w1, b1 = se.fc1.weight.numpy()[:, :, 0, 0], se.fc1.bias.numpy()         # (C/r, C), (C/r,)
w2, b2 = se.fc2.weight.numpy()[:, :, 0, 0], se.fc2.bias.numpy()         # (C, C/r), (C,)
s = 1 / (1 + np.exp(-(np.maximum(z @ w1.T + b1, 0) @ w2.T + b2)))       # excitation: (N, C) in (0, 1)
by_hand = U.numpy() * s[:, :, None, None]                                # scale: (N, C, H, W)
out = se(U)
err = np.abs(out.numpy() - by_hand).max()
assert err < 1e-5 and np.allclose(se.last_excitation, s, atol=1e-6)
print(f"SE(64, r=16) by hand vs nn.SqueezeExcitation: max |difference| {err:.1e}; "
      f"excitation of image 0, first 6 channels: {np.round(s[0, :6], 3)}")
print(f"parameters: 2 C^2 / r + C + C/r = {2 * C * C // r + C + C // r} "
      f"(counted: {tinycnn.count_params(se)})")

# %% [markdown]
# ## 2. What SE costs in a ResNet
# Parameters and multiply-adds (`tinycnn.summary`) of CIFAR ResNets with and
# without SE (r = 16), and of ResNet-50 (parameters only: the paper lists
# 25.6M / 3.86 GFLOPs without and 28.1M / 3.87 GFLOPs with SE).

# %%
pairs = run.pick([("resnet20", "se_resnet20"), ("resnet56", "se_resnet56")], smoke=[("resnet20", "se_resnet20")])
print(f"{'model':>12s} {'params':>10s} {'MMACs/img':>10s} {'+params':>8s} {'+MACs':>7s}")
for plain, with_se in pairs:
    sp = tinycnn.summary(models.create(plain), (3, 32, 32), print_table=False)
    ss = tinycnn.summary(models.create(with_se), (3, 32, 32), print_table=False)
    for name, s_ in ((plain, sp), (with_se, ss)):
        extra = "" if s_ is sp else (f"{ss.total_params / sp.total_params - 1:8.1%} "
                                     f"{ss.total_macs / sp.total_macs - 1:7.2%}")
        print(f"{name:>12s} {s_.total_params:10,} {s_.total_macs / 1e6:10.2f} {extra}")
p50 = tinycnn.count_params(models.create("resnet50", num_classes=1000))
p50se = tinycnn.count_params(models.create("se_resnet50", num_classes=1000))
print(f"{'resnet50':>12s} {p50:10,}")
print(f"{'se_resnet50':>12s} {p50se:10,} {p50se / p50 - 1:8.1%}   (ImageNet, 1000 classes)")

# %% [markdown]
# ## 3. What the excitations learn
# The paper's Fig. 6: the mean excitation of each channel, per class, at
# several depths. Early SE blocks weigh the channels alike for every class
# (low-level features are shared); late blocks differ from class to class.
# `tinycnn.viz.train_or_load_se_resnet` loads a checkpoint of a small
# SE-ResNet from the output folder if one is there, else trains one briefly
# with `tinycnn.train`'s loop and saves it; `collect_excitations` runs the
# test images through it and averages each SE block's gate values per class.
# After the default 2-epoch run the pattern is only beginning. `--full`
# trains the same SE-ResNet-14 for 6 epochs on 15000 images (about 15
# minutes on our loaded 2-core machine, 63% training accuracy); in our run the
# spread across classes was ~0.011 in both stage-1 blocks, 0.024 and 0.014
# in stage 2 and 0.071 in both stage-3 blocks: the paper's picture.

# %%
n_blocks = run.pick(2, smoke=1)
widths = run.pick((8, 16, 32), smoke=(4, 8, 8))
epochs = run.pick(2, smoke=1, full=6)
train_size = run.pick(3000, smoke=64, full=15000)
n_test = run.pick(1000, smoke=100, full=10000)
data = run.cifar10()
checkpoint = run.out / f"11_se_resnet_n{n_blocks}_w{widths[0]}_e{epochs}_{train_size}.npz"
model, loaded = train_or_load_se_resnet(checkpoint, data, epochs=epochs, train_size=train_size,
                                        blocks_per_stage=n_blocks, widths=widths)
x_test, y_test = data.x_test[:n_test], data.y_test[:n_test]
means = collect_excitations(model, x_test, y_test, num_classes=10)
spread = class_spread(means)
how = "loaded" if loaded else f"trained {epochs} epoch(s) on {train_size} images"
print(f"SE-ResNet-{6 * n_blocks + 2} (widths {widths}), {how}; excitations of {n_test} test images")
for name, value in spread.items():
    print(f"  {name:12s} C = {means[name].shape[1]:3d}  spread across classes {value:.4f}  "
          f"mean excitation {np.nanmean(means[name]):.3f}")
path = plot_excitations(means, data.classes, run.out / "11_se_excitations.png",
                        title=f"SE-ResNet-{6 * n_blocks + 2} on CIFAR-10 ({epochs} epoch(s), {train_size} images: "
                              f"a short run) - mean excitation per class")
print(f"saved figure: {path}")

# %% [markdown]
# ## Summary
# * SE = global pooling (squeeze), a 2-layer bottleneck MLP with a sigmoid
#   (excitation), a channel-wise product (scale).
# * In a ResNet it adds a few % parameters and well under 1% multiply-adds.
# * The excitations are per image: in a trained network late blocks become
#   class-specific, early ones stay class-agnostic.
#
# ## Exercises
# 1. Replace the sigmoid by a softmax over channels: what changes in what the
#    block can express?
# 2. Train with `--full` and compare the spread per depth with the short run.

# %%
run.done()
