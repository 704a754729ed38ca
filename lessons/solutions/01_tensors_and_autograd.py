# %% [markdown]
# # Solutions to lesson 01 — Tensors and autograd

# %%
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import Function, Tensor, gradcheck  # noqa: E402

run = setup("sol01")
tinycnn.manual_seed(0)

# %% [markdown]
# ## Exercise 1: `x ** 3` and `maximum(x, y)`
# d(x^3)/dx = 3x^2. For maximum the gradient goes to the larger input. At a
# tie x = y the function has a kink: the central difference sees half the
# slope on each side, (max(x+eps, y) - max(x-eps, y)) / (2 eps) = 1/2, while
# any backward rule must pick a number (here: all of it to x). So gradcheck
# fails exactly at ties, and passes everywhere else.


# %%
class Cube(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x ** 3

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * 3 * x ** 2


class Maximum(Function):
    def forward(self, x, y):
        self.save_for_backward(x, y)
        return np.maximum(x, y)

    def backward(self, grad):
        x, y = self.saved_tensors
        to_x = x >= y  # ties go to x: a choice, and the reason gradcheck fails there
        return grad * to_x, grad * ~to_x


a = tinycnn.randn(3, 4, dtype=np.float64, requires_grad=True)
b = tinycnn.randn(3, 4, dtype=np.float64, requires_grad=True)
print("x ** 3:", gradcheck(Cube.apply, [a]))
print("maximum(x, y), no ties:", gradcheck(Maximum.apply, [a, b]))
tied = Tensor(a.numpy().copy(), requires_grad=True)
try:
    gradcheck(Maximum.apply, [a, tied])
    print("maximum at ties: passed (unexpected)")
except AssertionError as err:
    print("maximum at ties fails, as expected:\n" + str(err).splitlines()[0])

# %% [markdown]
# ## Exercise 2: a softplus that does not overflow
# `np.log1p(np.exp(1000))` overflows to inf; `np.logaddexp(0, x)` computes
# log(e^0 + e^x) without forming e^x. The backward, sigmoid(x) =
# 1 / (1 + exp(-x)), is already right for large positive x (exp(-1000) = 0);
# for large *negative* x, exp(-x) overflows to inf and 1 / inf = 0 is still
# the right limit, but NumPy warns. A stable sigmoid, 0.5 (1 + tanh(x / 2)),
# avoids the warning: the backward needs no change in value, only in form.


# %%
class SoftplusStable(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.logaddexp(0, x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * 0.5 * (1 + np.tanh(x / 2))  # sigmoid(x), no overflow for any x


big = Tensor(np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0]), requires_grad=True)
with np.errstate(over="ignore"):
    naive = np.log1p(np.exp(big.numpy()))
y = SoftplusStable.apply(big)
y.sum().backward()
print("log1p(exp(x)):", naive, "\nlogaddexp(0, x):", y.numpy(), "\ngradient:", big.grad.numpy())
print("gradcheck at moderate x:", gradcheck(SoftplusStable.apply, [tinycnn.randn(4, dtype=np.float64,
                                                                                  requires_grad=True)]))

# %% [markdown]
# ## Exercise 3: a ReLU network near its kinks
# The central difference of relu at a pre-activation u is exact while the
# step stays on one side of 0 (relu is linear there), and wrong as soon as
# eps times the direction moves u across 0. So the error curve drops to
# rounding level for small eps and jumps to O(1) once eps passes the distance
# of the nearest pre-activation to its kink (marked in the figure).


# %%
g = np.random.default_rng(1)
Xn, Wn, V = 0.01 * g.standard_normal((8, 6)), g.standard_normal((6, 5)), g.standard_normal((8, 6))
Xt = Tensor(Xn, requires_grad=True)
(Xt @ Tensor(Wn)).relu().sum().backward()
exact = float(np.sum(Xt.grad.numpy() * V))
kink = np.min(np.abs(Xn @ Wn) / np.maximum(np.abs(V @ Wn), 1e-30))  # the step at which a pre-activation hits 0


def f(t):
    return float(np.maximum((Xn + t * V) @ Wn, 0).sum())


eps_grid = np.logspace(-12, -1, run.pick(45, smoke=12))
errors = np.maximum([abs((f(h) - f(-h)) / (2 * h) - exact) / abs(exact) for h in eps_grid], 1e-17)
print(f"nearest kink at step {kink:.1e}; error at eps 1e-9: {errors[np.argmin(abs(np.log(eps_grid / 1e-9)))]:.1e}, "
      f"at eps 1e-2: {errors[np.argmin(abs(np.log(eps_grid / 1e-2)))]:.1e}")
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(eps_grid, errors, "o-", ms=3, label="ReLU net, central difference")
ax.axvline(kink, color="crimson", ls="--", label="step that reaches the nearest kink")
ax.set_xlabel("finite-difference step eps")
ax.set_ylabel("relative error vs exact gradient")
ax.legend(fontsize=8)
run.savefig(fig, "relu_kink")

# %%
run.done()
