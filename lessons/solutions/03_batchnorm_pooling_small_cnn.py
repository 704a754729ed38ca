# %% [markdown]
# # Solutions to lesson 03 — BatchNorm, pooling and a small CNN
#
# The exercises ask for training runs. Here they are live **mini-runs** (one
# seed, a subset, a few epochs; `--full` for longer): they show the effect
# where it is large, with the error bar of the test set printed, and they do
# not rank anything within a couple of error bars.

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import fmt_acc, mini_run, setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import nn  # noqa: E402
from tinycnn.data import DataLoader, EvalTransform  # noqa: E402

run = setup("sol03")
data = run.cifar10()
train_size, n_test = run.pick(2000, smoke=128, full=20000), run.pick(1000, smoke=100, full=10000)
epochs = run.pick(2, smoke=1, full=10)


def small_cnn(batchnorm=True, downsample="maxpool"):
    """Lesson 03's network; without BN the convs get a bias; stride-2 convs can replace max pooling."""
    def block(c_in, c_out, stride=1):
        conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batchnorm)
        return [conv, nn.BatchNorm2d(c_out), nn.ReLU()] if batchnorm else [conv, nn.ReLU()]

    if downsample == "maxpool":
        layers = block(3, 16) + [nn.MaxPool2d(2)] + block(16, 32) + [nn.MaxPool2d(2)] + block(32, 64)
    else:  # the second and third convs take stride 2 instead of the pooling before them
        layers = block(3, 16) + block(16, 32, stride=2) + block(32, 64, stride=2)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


# %% [markdown]
# ## Exercise 1: without BatchNorm
# Compare the printed losses. Without BN the same network trains more slowly
# at lr 0.1, and at lr 0.01 it barely moves in a short run: without
# normalisation the signal (and the gradient) of each layer is as small or
# large as the initialisation makes it, and small steps need many more of
# them. With BN every layer's input is at unit scale whatever the weights,
# so a large learning rate works from the first step. (Whether lr 0.1
# diverges without BN depends on the initialisation and the depth; in this
# 3-conv network it does not.)

# %%
for name, bn, lr in [("with BN, lr 0.1", True, 0.1), ("no BN, lr 0.1", False, 0.1), ("no BN, lr 0.01", False, 0.01)]:
    tinycnn.manual_seed(0)
    r = mini_run(small_cnn(bn), data, train_size, n_test, epochs, lr=lr)
    print(f"{name:16s} train loss per epoch {np.round(r['train_loss'], 3)}  test {r['acc_text']}")

# %% [markdown]
# ## Exercise 2: stride-2 convolutions instead of max pooling
# Same parameters (pooling has none) and the same counted MACs: each conv
# produces the same output size as before (16x16, then 8x8), whether a pool
# halved its input first or its stride skips every other position. What
# changes: max pooling keeps the strongest response of each 2x2 window, the
# strided conv computes only at every other position and learns what to keep;
# the pooling's own comparisons (not MACs) disappear. Accuracy after the
# mini-run is printed with its error bar.

# %%
models = {}
for kind in ("maxpool", "stride2"):
    tinycnn.manual_seed(0)
    models[kind] = small_cnn(True, kind)
    s = tinycnn.summary(models[kind], (3, 32, 32), print_table=False)
    r = mini_run(models[kind], data, train_size, n_test, epochs)
    print(f"{kind:8s}: {s.total_params:,} params, {s.total_macs / 1e6:.2f}M MACs, test {r['acc_text']}")

# %% [markdown]
# ## Exercise 3: evaluating in training mode
# In training mode BN normalises with the statistics of the batch at hand.
# With 500 images per batch those are close to the running averages and the
# accuracy barely moves; with 2 images per batch each channel is normalised
# with the mean and variance of two images: the features of one image now
# depend on the other, and the accuracy drops.

# %%
model = models["maxpool"]
x_test, y_test = data.x_test[:n_test], data.y_test[:n_test]
trained_state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
for batch in (500, 2):
    loader = DataLoader(x_test, y_test, batch_size=batch, transform=EvalTransform())
    for mode in ("eval", "train"):
        model.load_state_dict(trained_state)  # a train-mode pass updates the running stats: undo it
        getattr(model, mode)()
        correct = 0
        with tinycnn.no_grad():
            for x, y in loader:
                correct += int(np.sum(model(x).numpy().argmax(axis=1) == y))
        print(f"batch {batch:3d}, {mode:5s} mode: {fmt_acc(correct, len(y_test))}")

# %%
run.done()
