# %% [markdown]
# # Lesson 08 — DenseNets: every layer sees every earlier layer
#
# Huang, Liu, van der Maaten & Weinberger (CVPR 2017): inside a dense block,
# layer l gets the **concatenation** of the block input and the outputs of
# all l - 1 layers before it, and adds k new channels (the growth rate):
#
#     x_l = H_l([x_0, x_1, ..., x_{l-1}])        input channels: c_0 + (l - 1) k
#
# A ResNet adds features (x + F(x)); a DenseNet keeps them side by side, so
# later layers can reuse any earlier feature map directly. With k = 12 the
# layers are very thin, which makes DenseNets parameter-efficient; the
# concatenations make them memory-hungry. This lesson looks at the
# connectivity, the growth rate, bottleneck (B) and compression (C), feature
# reuse, and memory.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import fmt_acc, setup, shipped, shipped_acc, shipped_difference, shipped_table

import tinycnn
from tinycnn.models.densenet import DenseBlock, DenseNet, densenet_cifar
from tinycnn.train import TrainConfig, evaluate, make_loaders, make_optimizer, make_scheduler, train_one_epoch

run = setup("08")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. Dense connectivity and the growth rate
# A block of 4 layers, c_0 = 16 input channels, k = 12: each layer's input
# grows by k, the block's output has c_0 + 4k channels. We record the input
# shape of every layer's first BatchNorm with a forward hook.

# %%
block = DenseBlock(4, 16, growth_rate=12, bottleneck=False)
seen = []
hooks = [layer.norm2.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].shape))
         for layer in block.children()]
out = block(tinycnn.randn(2, 16, 8, 8))
for h in hooks:
    h.remove()
for i, shape in enumerate(seen, start=1):
    print(f"layer {i}: input {shape} = 16 + {i - 1} x 12 channels -> adds 12")
print(f"block output: {out.shape} = 16 + 4 x 12 channels")
assert [s[1] for s in seen] == [16, 28, 40, 52] and out.shape[1] == 64

# %% [markdown]
# ## 2. Bottleneck (B) and compression (C)
# * **B**: before the 3x3 conv, a 1x1 conv reduces the (growing) input to 4k
#   channels: the 3x3 then always costs 4k * k * 9 per pixel.
# * **C**: a transition layer keeps theta = 0.5 of the channels.
# Parameters of the paper's CIFAR models (Table 2) and, for the smaller ones,
# the multiply-adds counted by `tinycnn.summary`.

# %%
paper = [("DenseNet", 40, 12, False, 1.0, "1.0M"), ("DenseNet", 100, 12, False, 1.0, "7.0M"),
         ("DenseNet", 100, 24, False, 1.0, "27.2M"), ("DenseNet-BC", 100, 12, True, 0.5, "0.8M"),
         ("DenseNet-BC", 250, 24, True, 0.5, "15.3M"), ("DenseNet-BC", 190, 40, True, 0.5, "25.6M")]
paper = run.pick(paper, smoke=paper[:1] + paper[3:4])
count_macs = run.pick({(40, 12), (100, 12, True)}, smoke=set())
table = []
for name, depth, k, bottleneck, theta, published in paper:
    model = densenet_cifar(depth, k, bottleneck=bottleneck, compression=theta)
    params = tinycnn.count_params(model)
    key = (depth, k, True) if bottleneck else (depth, k)
    macs = tinycnn.summary(model, (3, 32, 32), print_table=False).total_macs if key in count_macs else None
    table.append((f"{name} (L={depth}, k={k})", params, published, macs))
print(f"{'model':>26s} {'params':>11s} {'paper':>6s} {'MMACs/img':>10s}")
for name, params, published, macs in table:
    print(f"{name:>26s} {params:11,} {published:>6s} {'' if macs is None else f'{macs / 1e6:10.1f}':>10s}")

# %% [markdown]
# ## 3. Feature reuse
# The paper's Fig. 5: for each layer l of a trained block, the average
# absolute weight of its first convolution on the channels that came from
# each earlier source s (the block input, layer 1, ..., layer l-1). Large
# values far from the diagonal mean that late layers read early features
# directly. We train a small DenseNet (3 blocks of 6 layers, k = 12, no B/C)
# briefly on a CIFAR-10 subset and read its weights, next to the initialised
# network. Each row is divided by its maximum (the initial weight scale
# shrinks with the fan-in). After the default short run the maps stay close
# to uniform -- every source is still read with about the same weight; the
# paper's structure (strong use of the block input and of the nearest
# layers, weak use of the transition's output in later blocks) needs the
# full training (`--full` goes part of the way).

# %%
layers_per_block = run.pick(6, smoke=3)


def small_densenet():
    return DenseNet(growth_rate=12, block_config=(layers_per_block,) * 3, num_init_features=16, bottleneck=False,
                    compression=1.0, num_classes=10, stem="cifar")


def reuse_map(dense_block, k, normalise=True):
    """(L, L) matrix: row l-1 = mean |w| of layer l's first conv (the one that reads the
    concatenation: conv1 with a bottleneck, else conv2) over the channels from source s (0 = block
    input), divided by the row's largest value (the initial weight scale ~ 1 / sqrt(fan-in)
    shrinks as l grows)."""
    layers = list(dense_block.children())
    heat = np.full((len(layers), len(layers)), np.nan)
    for l, layer in enumerate(layers, start=1):
        conv = layer.conv1 if hasattr(layer, "conv1") else layer.conv2
        w = np.abs(conv.weight.numpy())  # (out, c0 + (l-1)k, kh, kw)
        c0 = w.shape[1] - (l - 1) * k
        bounds = [0, c0] + [c0 + j * k for j in range(1, l)]
        for s in range(l):
            heat[l - 1, s] = w[:, bounds[s]:bounds[s + 1]].mean()
    return heat / np.nanmax(heat, axis=1, keepdims=True) if normalise else heat


def block_maps(net, k=12, normalise=True):
    return [reuse_map(getattr(net.features, f"denseblock{b}"), k, normalise) for b in (1, 2, 3)]


def relative_change(trained, init, k=12):
    """Per block, (mean |w| trained) / (mean |w| at init) - 1 for every (target, source) cell: what
    training changed. Not row-normalised: dividing each row by its maximum would pin that cell
    to 0 change."""
    return [t / i - 1 for t, i in zip(block_maps(trained, k, False), block_maps(init, k, False))]


tinycnn.manual_seed(0)
net = small_densenet()
init_weights = {name: p.numpy().copy() for name, p in net.named_parameters()}
init_maps = block_maps(net)
init_net = small_densenet()
init_net.load_state_dict(net.state_dict())  # a frozen copy of the initial weights
config = TrainConfig(epochs=run.pick(1, smoke=1, full=10), batch_size=run.pick(64, smoke=16), lr=0.1,
                     label_smoothing=0.0, warmup_epochs=0.3, train_size=run.pick(640, smoke=64, full=20000))
data = run.cifar10()
keep = np.random.default_rng(0).permutation(len(data.y_train))[:config.train_size]
data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
n_test = run.pick(1000, smoke=100, full=10000)
data.x_test, data.y_test = data.x_test[:n_test], data.y_test[:n_test]
train_loader, test_loader = make_loaders(config, data)
optimizer = make_optimizer(config, net)
scheduler = make_scheduler(config, optimizer, len(train_loader))
for epoch in range(1, config.epochs + 1):
    metrics = train_one_epoch(net, train_loader, optimizer, scheduler, config, epoch, progress=False)
test = evaluate(net, test_loader)
print(f"small DenseNet ({tinycnn.count_params(net):,} params), a mini-run: {config.epochs} epoch(s) on "
      f"{config.train_size} images in {metrics['train_seconds']:.1f} s, test acc "
      f"{fmt_acc(round(test['acc'] * n_test), n_test)}")
trained_maps = block_maps(net)
diff_maps = relative_change(net, init_net)
moved = [np.linalg.norm(p.numpy() - init_weights[name]) / np.linalg.norm(init_weights[name])
         for name, p in net.named_parameters() if name.endswith("conv2.weight")]
print(f"smallest row-normalised mean |w|: trained {min(np.nanmin(m) for m in trained_maps):.2f}, "
      f"initialised {min(np.nanmin(m) for m in init_maps):.2f}; largest relative change of a cell's mean |w| "
      f"{max(np.nanmax(np.abs(d)) for d in diff_maps):.1%}")
print(f"the 3x3 weights moved ||w - w0|| / ||w0|| = {np.median(moved):.3f} (median over layers; "
      f"max {max(moved):.3f}) in this run")

# %% [markdown]
# What a brief run can show, and what it cannot: after a few hundred steps
# the weights have moved only a few percent from their random start (the
# lesson prints by how much), so the maps are still mostly the initial
# weights, whose |w| is the same on every source. The difference panels
# (each cell's mean |w| after training over its mean |w| at initialisation,
# minus 1; not row-normalised) show only what training wrote; its pattern, not the near-uniform maps, is this run's
# result, and a pattern of this size can still be noise of one seed. The
# paper's structure needs full training: the maps of the shipped
# DenseNet-BC (trained with the `cifar-small` recipe on 50,000 images)
# follow, with the difference from a fresh initialisation of the same network.

# %%
bc = shipped("densenet_bc_28_12")
bc_maps = None
if bc is not None:
    tinycnn.manual_seed(0)
    bc_fresh = tinycnn.models.create("densenet_bc_28_12")
    bc_net = tinycnn.models.create("densenet_bc_28_12", pretrained=True)
    bc_init, bc_maps = block_maps(bc_fresh), block_maps(bc_net)
    bc_diff = relative_change(bc_net, bc_fresh)
    print(f"densenet_bc_28_12 ({shipped_acc(bc)[1]}): smallest row-normalised mean |w| "
          f"{min(np.nanmin(m) for m in bc_maps):.2f} (fresh init {min(np.nanmin(m) for m in bc_init):.2f}); "
          f"largest relative change of a cell's mean |w| {max(np.nanmax(np.abs(d)) for d in bc_diff):.0%}")
    print("block 3, last layer, mean |w| per source (block input first): "
          + " ".join(f"{v:.2f}" for v in bc_maps[-1][-1]))

# %% [markdown]
# How to read the trained maps (the printed row-normalised values): at
# initialisation every source gets about the same mean |w| (row minimum
# near 1). After training the weighting is no longer uniform: the most
# recent features weigh most, yet the block's input and the early layers
# keep a large share of the weight of the strongest source, i.e. deep layers
# still read early features, the reuse the paper's Figure 5 shows. The
# difference panel is negative everywhere because weight decay shrinks all
# weights over the run; what it adds is *which* sources shrank most.
#
# "Parameter-efficient" is the paper's claim (its Table 2). Our test at
# CIFAR scale: the shipped DenseNet-BC (0.10M parameters) against ResNet-8
# (0.08M), ResNet-14 (0.17M) and ResNet-20 (0.27M), all
# with the same recipe; parameters are what the claim counts, MACs and time
# are printed beside them.

# %%
shipped_table(["densenet_bc_28_12", "resnet8", "resnet14", "resnet20"], run)
print(shipped_difference("densenet_bc_28_12", "resnet8"))
print(shipped_difference("densenet_bc_28_12", "resnet14"))
print(shipped_difference("densenet_bc_28_12", "resnet20"))

# %% [markdown]
# ## 4. Memory: the price of concatenation
# A naive implementation (ours, like torchvision's default) builds the
# concatenation [x_0, ..., x_{l-1}] as a new tensor for every layer and keeps
# it for the backward pass: layer l stores c_0 + (l - 1) k channels, so a
# block's stored inputs grow **quadratically** with its depth, while the
# features themselves (the block output) grow linearly. Memory-efficient
# DenseNets (Pleiss et al. 2017) share one buffer and recompute the
# concatenation and BN in the backward pass. We measure the concatenated
# inputs that actually ran (hooks on each layer's first BatchNorm).

# %%
depths = run.pick([4, 8, 12, 16, 24, 32], smoke=[2, 4])
memory = []
for L in depths:
    blk = DenseBlock(L, 24, growth_rate=12, bottleneck=True)
    stored = []
    hooks = [layer.norm1.register_forward_hook(lambda m, i, o: stored.append(i[0].numel() * 4))
             for layer in blk.children()]
    out = blk(tinycnn.randn(1, 24, 32, 32))
    for h in hooks:
        h.remove()
    memory.append((L, sum(stored), out.numel() * 4))
print("1 image, 32x32, c0 = 24, k = 12, bottleneck layers")
print(f"{'layers':>6s} {'concatenated inputs (MB)':>25s} {'block output (MB)':>18s}")
for L, concat_bytes, out_bytes in memory:
    print(f"{L:6d} {concat_bytes / 1e6:25.2f} {out_bytes / 1e6:18.2f}")

# %%
panels = [(init_maps[0], "block 1, initialised"), (trained_maps[0], "block 1, after the mini-run"),
          (diff_maps[0], "block 1, mini-run vs init")]
if bc_maps is not None:  # the shipped, fully trained DenseNet-BC replaces the mini-run's difference
    panels += [(bc_diff[-1], "densenet_bc_28_12 block 3,\ntrained vs init")]
else:
    panels += [(diff_maps[-1], "block 3, mini-run vs init")]
fig, axes = plt.subplots(1, 5, figsize=(20, 3.8), gridspec_kw=dict(width_ratios=[1, 1, 1, 1, 1.3]))
for ax, (heat, title) in zip(axes[:4], panels, strict=True):
    is_diff = "vs init" in title
    lim = np.nanmax(np.abs(heat)) if is_diff else 1
    im = ax.imshow(heat, cmap="RdBu_r" if is_diff else "viridis", vmin=-lim if is_diff else 0, vmax=lim)
    size = heat.shape[0]
    ax.set_xticks(range(size), ["in"] + [str(s) for s in range(1, size)], fontsize=7)
    ax.set_yticks(range(size), [str(s) for s in range(1, size + 1)], fontsize=7)
    ax.set_xlabel("source (block input, layer s)")
    ax.set_ylabel("target layer l")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="mean |w|: trained / init - 1" if is_diff else "mean |w| / row max")
ax = axes[4]
ls = [m[0] for m in memory]
ax.plot(ls, [m[1] / 1e6 for m in memory], "o-", label="stored concatenations (naive)")
ax.plot(ls, [m[2] / 1e6 for m in memory], "s-", label="block output (shared buffer)")
ax.set_xlabel("layers in the dense block")
ax.set_ylabel("MB per 32x32 image (float32)")
ax.set_title("Concatenation memory: quadratic vs linear", fontsize=9)
ax.legend(fontsize=8)
fig.suptitle(f"Feature reuse: mini-run of {config.epochs} epoch(s) on {config.train_size} images, its difference "
             "from initialisation", fontsize=10)
fig.tight_layout()
run.savefig(fig, "densenet")

# %% [markdown]
# ## Summary
# * Layer l of a dense block sees c_0 + (l - 1) k channels and adds k: thin
#   layers, every earlier feature map directly reachable.
# * Bottleneck 1x1 convs (B) and compressing transitions (C) cut DenseNet-100
#   (k = 12) from 7.0M to 0.8M parameters; the paper's CIFAR-10+ error goes
#   from 4.10% to 4.51%: most of the accuracy for a ninth of the parameters.
# * In a trained block the weights on early sources stay non-zero: features
#   can be reused. A brief run barely moves the weights (printed), so its maps
#   look like the initial ones; the difference panel shows what it changed.
# * Naive concatenation stores a quadratic amount of activations per block.
# * Measured at CIFAR size (section 3, the shipped runs): DenseNet-BC is ahead of
#   ResNet-8 by about 3 points with 1.3x its parameters and level with ResNet-14
#   with 0.6x them (read the printed differences and error bars), but it costs
#   more MACs and minutes than either: efficient per parameter, not per MAC.
#
# ## Exercises
# 1. Change the growth rate to 24 in section 1 and 2: how do params and MACs scale with k?
# 2. Train the small DenseNet longer (`--full`): does the heat map become more structured?
#    Which sources do the transition layers' outputs come from?

# %%
run.done()
