# %% [markdown]
# # Lesson 03 — BatchNorm, pooling and a small CNN on CIFAR-10
#
# Two layers appear in every architecture of the course:
# * **BatchNorm** (Ioffe & Szegedy 2015) normalises each channel with the
#   statistics of the current batch during training, and with running
#   averages of them at test time; then scales and shifts with learned
#   gamma, beta.
# * **Pooling** shrinks the feature map: max pooling keeps the strongest
#   response in each window, average pooling the mean; *global* average
#   pooling turns (N, C, H, W) into (N, C), the input of the classifier.
#
# Then we stack conv -> BN -> ReLU -> pool three times and train the result on
# a CIFAR-10 subset for well under a minute.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import fmt_acc, setup

import tinycnn
from tinycnn import nn
from tinycnn.data import DataLoader, EvalTransform, TrainTransform, stratified_subset
from tinycnn.nn import functional as F
from tinycnn.optim import SGD
from tinycnn.train import evaluate

run = setup("03")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. BatchNorm, by hand and with `nn.BatchNorm2d`
# For a batch x of shape (N, C, H, W), channel c:
#
#     mu_c = mean of x[:, c] over N, H, W        var_c = its (biased) variance
#     y[:, c] = gamma_c * (x[:, c] - mu_c) / sqrt(var_c + eps) + beta_c
#     running_mu_c <- (1 - momentum) * running_mu_c + momentum * mu_c   (unbiased var for running_var)
#
# We feed channels with very different means and scales and check every line.

# %%
true_mean = np.array([5.0, -2.0, 0.0, 10.0], dtype=np.float32)
true_std = np.array([1.0, 0.1, 3.0, 20.0], dtype=np.float32)


def batch_of(n):
    """n images of 4 channels, 6x6, with the channel statistics above."""
    return tinycnn.randn(n, 4, 6, 6) * true_std[:, None, None] + true_mean[:, None, None]


bn = nn.BatchNorm2d(4)
x = batch_of(16)
y = bn(x)  # training mode: batch statistics
xn = x.numpy()
mu, var = xn.mean(axis=(0, 2, 3)), xn.var(axis=(0, 2, 3))
by_hand = (xn - mu[:, None, None]) / np.sqrt(var[:, None, None] + bn.eps)
np.testing.assert_allclose(y.numpy(), by_hand, rtol=1e-4, atol=1e-4)
n_per_channel = xn.size // 4
np.testing.assert_allclose(bn.running_mean, 0.1 * mu, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var * n_per_channel / (n_per_channel - 1), rtol=1e-4)
print("channel means before BN:", np.round(mu, 2) + 0.0, " after:", np.round(y.numpy().mean(axis=(0, 2, 3)), 4) + 0.0)
print("channel stds  before BN:", np.round(np.sqrt(var), 2), " after:", np.round(y.numpy().std(axis=(0, 2, 3)), 4))
print("BatchNorm2d matches the formula; running_mean after one batch =", np.round(bn.running_mean, 3))

# %% [markdown]
# The running statistics are an exponential moving average: after k training
# batches the initial value (0 for the mean) still weighs 0.9^k. Evaluation
# mode uses them instead of the batch's statistics, so the **same input gives
# a different output in train and eval mode**, until the running averages
# have converged.

# %%
steps = run.pick(60, smoke=10)
history, gaps = [], []
x_fixed = batch_of(16)
for step in range(steps):
    bn.train()
    bn(batch_of(16))
    history.append(bn.running_mean.copy())
    bn.eval()
    y_eval = bn(x_fixed).numpy()
    bn.train()
    y_train = bn(x_fixed).numpy()
    gaps.append(float(np.abs(y_eval - y_train).mean()))
history = np.array(history)
print(f"after {steps} batches: running_mean {np.round(bn.running_mean, 2) + 0.0} (true {true_mean}); "
      f"mean |train-mode output - eval-mode output| {gaps[0]:.2f} at step 1, {gaps[-1]:.3f} at step {steps}")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
ax = axes[0]
ax.hist([xn[:, c].ravel() for c in range(4)], bins=40, histtype="step", label=[f"channel {c}" for c in range(4)])
ax.set_title("input channels: different means, scales")
ax.legend(fontsize=7)
ax = axes[1]
ax.hist([y.numpy()[:, c].ravel() for c in range(4)], bins=40, histtype="step")
ax.set_title("after BatchNorm (train mode): each ~ N(0, 1)")
ax = axes[2]
for c in range(4):
    ax.plot(np.arange(1, steps + 1), history[:, c], color=f"C{c}")
    ax.axhline(true_mean[c], color=f"C{c}", ls=":", lw=1)
ax.set_xlabel("training batches seen")
ax.set_title("running_mean (momentum 0.1) -> true mean (dotted)")
fig.tight_layout()
run.savefig(fig, "batchnorm")

# %% [markdown]
# ## 2. Pooling
# A 2x2 window with stride 2 halves height and width. The backward pass of
# max pooling sends each window's gradient to the one input that won (the
# others get 0); average pooling spreads it equally (1/4 each).

# %%
a = tinycnn.tensor(np.array([[1, 3, 2, 0], [4, 2, 1, 1], [0, 1, 5, 6], [2, 3, 7, 1]], np.float32)[None, None],
                   requires_grad=True)
mp = nn.MaxPool2d(2)(a)
mp.sum().backward()
print("input:\n", a.numpy()[0, 0], "\nmax pool 2x2:\n", mp.numpy()[0, 0], "\nits gradient w.r.t. the input:\n",
      a.grad.numpy()[0, 0])
a.zero_grad()
ap = nn.AvgPool2d(2)(a)
ap.sum().backward()
print("avg pool 2x2:\n", ap.numpy()[0, 0], "\nits gradient:\n", a.grad.numpy()[0, 0])
print("global average pooling (AdaptiveAvgPool2d(1)):", nn.AdaptiveAvgPool2d(1)(a).numpy().ravel(),
      "= the mean", a.numpy().mean())

# %% [markdown]
# ## 3. A small CNN
# Three stages of conv3x3 -> BN -> ReLU, with max pooling between them and
# global average pooling at the end, 16/32/64 channels: the same skeleton as
# the ResNets of the next lessons, without their shortcuts. The summary
# counts parameters and multiply-adds (MACs) per image with forward hooks.


# %%
def conv_bn_relu(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


model = nn.Sequential(
    conv_bn_relu(3, 16), nn.MaxPool2d(2),    # (N, 16, 16, 16)
    conv_bn_relu(16, 32), nn.MaxPool2d(2),   # (N, 32, 8, 8)
    conv_bn_relu(32, 64),                    # (N, 64, 8, 8)
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),   # (N, 64)
    nn.Linear(64, 10),                       # (N, 10) logits
)
summary = tinycnn.summary(model, input_shape=(3, 32, 32))

# %% [markdown]
# ## 4. Training on a CIFAR-10 subset
# A stratified subset (equal class proportions) of the training set, random
# crops and flips, SGD with momentum 0.9 and a learning rate that decays
# linearly to 0. The loop below is the whole of training: forward, loss,
# `zero_grad`, `backward`, `step`. `tinycnn.train` wraps the same loop with
# schedules, logging and checkpoints; here we keep it in view.

# %%
data = run.cifar10()
n_train = run.pick(5000, smoke=200, full=50000)
n_test = run.pick(2000, smoke=200, full=10000)
epochs = run.pick(4, smoke=1, full=15)
keep = stratified_subset(data.y_train, n_train, np.random.default_rng(0))
train_loader = DataLoader(data.x_train[keep], data.y_train[keep], batch_size=64, shuffle=True, drop_last=True,
                          transform=TrainTransform())
test_loader = DataLoader(data.x_test[:n_test], data.y_test[:n_test], batch_size=500, transform=EvalTransform())
optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
total_steps = epochs * len(train_loader)
print(f"training on {n_train} images ({data.source.name}), {epochs} epochs of {len(train_loader)} steps, "
      f"testing on {n_test}")

steps_log, epoch_log = [], []
step, start = 0, time.perf_counter()
for epoch in range(1, epochs + 1):
    model.train()
    for x, y in train_loader:
        for group in optimizer.param_groups:  # linear decay of the learning rate to 0
            group["lr"] = 0.1 * (1 - step / total_steps)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        steps_log.append((step, float(loss.item()), float(np.mean(logits.numpy().argmax(1) == y))))
    test = evaluate(model, test_loader)
    seconds = time.perf_counter() - start
    epoch_log.append((step, test["loss"], test["acc"]))
    recent = np.array(steps_log[-len(train_loader):])
    print(f"epoch {epoch}: train loss {recent[:, 1].mean():.3f} acc {recent[:, 2].mean():.1%} | "
          f"test loss {test['loss']:.3f} acc {fmt_acc(round(test['acc'] * n_test), n_test)} | "
          f"{step * 64 / seconds:.0f} img/s, {seconds:.0f} s")

# %%
steps_arr = np.array(steps_log)
epoch_arr = np.array(epoch_log)


def smooth(v, k=10):
    k = min(k, len(v))
    return np.convolve(v, np.ones(k) / k, mode="valid")


fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
k = min(10, len(steps_arr))
axes[0].plot(steps_arr[:, 0], steps_arr[:, 1], color="0.8", lw=0.8, label="train loss (batch)")
axes[0].plot(steps_arr[k - 1:, 0], smooth(steps_arr[:, 1]), color="tab:blue", label=f"train loss ({k}-batch mean)")
axes[0].plot(epoch_arr[:, 0], epoch_arr[:, 1], "o-", color="tab:red", label="test loss")
axes[0].set_xlabel("step")
axes[0].set_title("cross-entropy loss")
axes[0].legend(fontsize=8)
axes[1].plot(steps_arr[k - 1:, 0], smooth(steps_arr[:, 2]), color="tab:blue", label="train accuracy (batch mean)")
axes[1].plot(epoch_arr[:, 0], epoch_arr[:, 2], "o-", color="tab:red", label="test accuracy")
se = 1.96 * np.sqrt(epoch_arr[:, 2] * (1 - epoch_arr[:, 2]) / n_test)  # binomial 95% band of the test images
axes[1].fill_between(epoch_arr[:, 0], epoch_arr[:, 2] - se, epoch_arr[:, 2] + se, color="tab:red", alpha=0.2)
axes[1].axhline(0.1, color="0.6", ls=":", label="chance")
axes[1].set_xlabel("step")
axes[1].set_title("accuracy")
axes[1].legend(fontsize=8)
fig.suptitle(f"small CNN ({summary.total_params:,} params, {summary.total_macs / 1e6:.1f} M MACs/img), "
             f"{n_train} CIFAR-10 training images, {epochs} epochs")
fig.tight_layout()
run.savefig(fig, "training_curves")

# %% [markdown]
# ## Summary
# * BatchNorm normalises each channel with the batch's statistics in training
#   and with running averages at test time; call `model.eval()` before testing.
# * Pooling reduces resolution; max pooling routes the gradient to the winner,
#   global average pooling gives one number per channel for the classifier.
# * A 3-stage conv-BN-ReLU network with ~25k parameters learns CIFAR-10 well
#   above chance in under a minute of CPU time (printed); a network this small underfits, and
#   the next lessons are about going deeper and wider without losing
#   trainability.
#
# ## Exercises
# 1. Remove the three BatchNorm layers (use `bias=True` in the convolutions)
#    and train again with the same learning rate. Then with lr 0.01. What happens?
# 2. Replace the max pooling layers by stride-2 convolutions. Compare
#    parameters, MACs and accuracy.
# 3. Evaluate the trained model in *training* mode (`model.train()` before
#    `evaluate`, which sets eval mode: copy its loop). How much does the
#    accuracy change with batch size 500? With batch size 2?

# %%
run.done()
