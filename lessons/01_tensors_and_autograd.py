# %% [markdown]
# # Lesson 01 — Tensors and autograd
#
# Every network in this course is trained by gradient descent, and every
# gradient comes from one idea: the **chain rule**, applied backwards through a
# graph of small operations. This lesson
#
# 1. computes the gradients of a tiny neuron **by hand** (numbers you can check on paper),
# 2. gets the same numbers from `tinycnn.Tensor` with one call to `.backward()`,
# 3. checks gradients numerically with `tinycnn.gradcheck`, and shows what a
#    **wrong backward** looks like in its report,
# 4. explains why the check uses float64 and a step of about 1e-6 (a figure).
#
# Run: `python lessons/01_tensors_and_autograd.py` (`--smoke` for a quick pass).

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
from _common import setup

import tinycnn
from tinycnn import Function, Tensor, gradcheck

run = setup("01")
tinycnn.manual_seed(0)

# %% [markdown]
# ## 1. A computation graph by hand
#
# A neuron with two inputs and a sigmoid: `h = sigmoid(w0*x0 + w1*x1 + w2)`.
# Written as a chain of elementary operations, each one a node of the graph:
#
#     a = w0 * x0        b = w1 * x1       c = a + b       d = c + w2
#     e = -d             f = exp(e)        g = 1 + f       h = 1 / g
#
# **Forward**: evaluate the nodes left to right. **Backward**: start from
# dh/dh = 1 and walk right to left; each node multiplies the gradient that
# arrives from its output by its *local* derivative (the chain rule):
#
#     dh/dg = -1/g^2     dh/df = dh/dg * 1     dh/de = dh/df * exp(e)
#     dh/dd = -dh/de     dh/dc = dh/dd         dh/dw2 = dh/dd
#     dh/da = dh/dc      dh/db = dh/dc         dh/dw0 = dh/da * x0 ...

# %%
w0, x0, w1, x1, w2 = 2.0, -1.0, -3.0, -2.0, -3.0

# forward, one node at a time
a = w0 * x0
b = w1 * x1
c = a + b
d = c + w2
e = -d
f = math.exp(e)
g = 1 + f
h = 1 / g

# backward, one node at a time (grad_v means dh/dv)
grad_h = 1.0
grad_g = grad_h * (-1 / g**2)
grad_f = grad_g * 1
grad_e = grad_f * math.exp(e)
grad_d = grad_e * -1
grad_c = grad_d * 1
grad_w2 = grad_d * 1
grad_a = grad_c * 1
grad_b = grad_c * 1
grad_w0, grad_x0 = grad_a * x0, grad_a * w0
grad_w1, grad_x1 = grad_b * x1, grad_b * w1

by_hand = {"w0": grad_w0, "x0": grad_x0, "w1": grad_w1, "x1": grad_x1, "w2": grad_w2}
print(f"forward: h = sigmoid({d:.1f}) = {h:.4f}")
print("backward by hand:", {k: round(v, 4) for k, v in by_hand.items()})

# The sigmoid's derivative is s(1 - s): the eight nodes collapse into one local gradient.
print(f"shortcut: dh/dd = h (1 - h) = {h * (1 - h):.4f}  (the chain above gave {grad_d:.4f})")

# %% [markdown]
# The figure draws this graph with each node's value (top) and gradient dh/dnode
# (bottom, red). Read the red numbers right to left: that is backpropagation.

# %%
nodes = {  # name: (x, y, label, value, gradient, inputs)
    "w0": (0, 4, "w0", w0, grad_w0, []), "x0": (0, 3, "x0", x0, grad_x0, []),
    "w1": (0, 2, "w1", w1, grad_w1, []), "x1": (0, 1, "x1", x1, grad_x1, []),
    "w2": (0, 0, "w2", w2, grad_w2, []),
    "a": (1, 3.5, "*", a, grad_a, ["w0", "x0"]), "b": (1, 1.5, "*", b, grad_b, ["w1", "x1"]),
    "c": (2, 2.5, "+", c, grad_c, ["a", "b"]), "d": (3, 1.5, "+", d, grad_d, ["c", "w2"]),
    "e": (4, 1.5, "neg", e, grad_e, ["d"]), "f": (5, 1.5, "exp", f, grad_f, ["e"]),
    "g": (6, 1.5, "+1", g, grad_g, ["f"]), "h": (7, 1.5, "1/x", h, grad_h, ["g"]),
}
fig, ax = plt.subplots(figsize=(11, 4.2))
for name, (x, y, label, value, grad, inputs) in nodes.items():
    for src in inputs:
        sx, sy = nodes[src][:2]
        ax.annotate("", xy=(x - 0.28, y), xytext=(sx + 0.28, sy),
                    arrowprops=dict(arrowstyle="->", color="0.5"))
    leaf = not inputs
    ax.add_patch(plt.Rectangle((x - 0.28, y - 0.3), 0.56, 0.6, fc="#dde8f5" if leaf else "#f5ecd7", ec="0.3"))
    ax.text(x, y + 0.12, label, ha="center", va="center", fontsize=9, weight="bold")
    ax.text(x, y - 0.12, f"{value:.2f}", ha="center", va="center", fontsize=9)
    ax.text(x, y - 0.36, f"{grad:.2f}", ha="center", va="top", fontsize=8, color="crimson")
ax.set_xlim(-0.5, 7.5)
ax.set_ylim(-0.9, 4.5)
ax.axis("off")
ax.set_title("h = sigmoid(w0*x0 + w1*x1 + w2): values (black) and dh/dnode (red), computed by hand")
run.savefig(fig, "graph_by_hand")

# %% [markdown]
# ## 2. The same with `Tensor`
#
# A `Tensor` wraps a NumPy array. When at least one input has
# `requires_grad=True`, each operation records a `Function` node that knows its
# inputs and its local backward rule. `h.backward()` visits the nodes in reverse
# topological order and accumulates dh/dleaf into each leaf's `.grad`.

# %%
leaf = {k: Tensor(v, requires_grad=True, dtype=np.float64) for k, v in
        {"w0": w0, "x0": x0, "w1": w1, "x1": x1, "w2": w2}.items()}
ht = 1 / (1 + (-(leaf["w0"] * leaf["x0"] + leaf["w1"] * leaf["x1"] + leaf["w2"])).exp())


def recorded_ops(t):
    """The Function nodes behind t, from the output back to the leaves (breadth first)."""
    names, frontier = [], [t]
    while frontier:
        nxt = []
        for u in frontier:
            if u._ctx is not None:
                names.append(type(u._ctx).__name__)
                nxt += [v for v in u._ctx.inputs if v.requires_grad]
        frontier = nxt
    return names


print("graph recorded behind h (output first):", " <- ".join(recorded_ops(ht)))
ht.backward()
for k, t in leaf.items():
    print(f"  dh/d{k}: Tensor {t.grad.item():+.6f}   by hand {by_hand[k]:+.6f}")
    assert abs(t.grad.item() - by_hand[k]) < 1e-12
print("Tensor gradients match the hand computation.")

# %% [markdown]
# Two details that surprise everyone once:
# * **Gradients accumulate.** A second backward adds to `.grad`; optimisers call
#   `zero_grad()` before each step.
# * **Broadcasting is undone in backward.** A bias of shape (3,) added to a
#   batch (4, 3) receives the gradient summed over the batch axis.

# %%
x = tinycnn.randn(4, 3, dtype=np.float64)
bias = tinycnn.zeros(3, dtype=np.float64, requires_grad=True)
(x + bias).sum().backward()
print("bias.grad after one backward: ", bias.grad.numpy())
(x + bias).sum().backward()
print("after a second backward:      ", bias.grad.numpy(), "(accumulated)")
bias.zero_grad()
print("after zero_grad():            ", bias.grad)

# %% [markdown]
# ## 3. Gradient checking
#
# How do we know a backward rule is right? Compare it with **central
# differences**, (f(x + eps v) - f(x - eps v)) / (2 eps), which need only the
# forward pass. `tinycnn.gradcheck(fn, inputs)` does it for every input element
# (`mode="full"`, tiny shapes) or along random directions (`mode="random"`, any
# size: cost independent of the number of elements). Inputs must be float64.

# %%
X = tinycnn.randn(5, 4, dtype=np.float64, requires_grad=True)
W = tinycnn.randn(4, 3, dtype=np.float64, requires_grad=True)
print("full Jacobian check of tanh(X @ W):  ", gradcheck(lambda X, W: (X @ W).tanh(), [X, W]))
print("random-direction check of the same:  ", gradcheck(lambda X, W: (X @ W).tanh(), [X, W], mode="random"))

# %% [markdown]
# ### A wrong backward
# Now we write our own operation, the softplus `log(1 + exp(x))`, as a
# `Function`: `forward` on arrays, `backward` mapping the output gradient to the
# input gradient. Its derivative is `sigmoid(x)`. The buggy version returns
# `exp(x)` instead (a classic slip: forgetting to divide by 1 + exp(x)).


# %%
class SoftplusWrong(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.log1p(np.exp(x))

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * np.exp(x)  # BUG: d/dx log(1 + e^x) = e^x / (1 + e^x)


class Softplus(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.log1p(np.exp(x))

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad / (1 + np.exp(-x))  # sigmoid(x)


z = tinycnn.randn(3, 4, dtype=np.float64, requires_grad=True)
try:
    gradcheck(SoftplusWrong.apply, [z])
except AssertionError as err:
    print("gradcheck on the wrong backward says:\n" + str(err))
print("\ngradcheck on the fixed backward:", gradcheck(Softplus.apply, [z]))

# %% [markdown]
# The report names the input, the worst element, and both numbers: the analytic
# gradient is exp(x), the numeric one is sigmoid(x), and their ratio is
# 1 + exp(x). That is usually enough to find the bug.
#
# ## 4. Why float64 and eps near 1e-6?
# A central difference has two errors: **truncation** (the Taylor remainder,
# ~ eps^2) and **rounding** (the two forward values agree in most digits, so
# their difference loses ~ machine_eps / eps of relative precision). Their sum
# is smallest in between. We measure it on `sum(tanh(X @ W))` along a random
# direction, against the exact analytic derivative.

# %%
def directional_error(dtype, eps, central=True):
    """|numeric - analytic| / |analytic| of d/dt sum(tanh((X + t V) @ W)) at t=0."""
    g = np.random.default_rng(1)
    Xn, Wn, V = g.standard_normal((8, 6)), g.standard_normal((6, 5)), g.standard_normal((8, 6))
    Xt = Tensor(Xn, requires_grad=True)
    (Xt @ Tensor(Wn)).tanh().sum().backward()
    exact = float(np.sum(Xt.grad.numpy() * V))

    def f(t):
        return float((Tensor((Xn + t * V).astype(dtype)) @ Tensor(Wn.astype(dtype))).tanh().sum().item())

    numeric = (f(eps) - f(-eps)) / (2 * eps) if central else (f(eps) - f(0.0)) / eps
    return abs(numeric - exact) / abs(exact)


eps_grid = np.logspace(-12, -1, run.pick(45, smoke=12))
curves = {
    "float64, central": [directional_error(np.float64, h) for h in eps_grid],
    "float64, one-sided": [directional_error(np.float64, h, central=False) for h in eps_grid],
    "float32, central": [directional_error(np.float32, h) for h in eps_grid],
}
fig, ax = plt.subplots(figsize=(6.5, 4.2))
for label, errs in curves.items():
    errs = np.maximum(errs, 1e-17)  # a lucky exact hit would be log(0)
    ax.loglog(eps_grid, errs, "o-", ms=3, label=label)
    best = int(np.argmin(errs))
    print(f"{label:20s} best eps {eps_grid[best]:.1e}  relative error {errs[best]:.1e}"
          f"   at eps=1e-6: {errs[np.argmin(abs(np.log(eps_grid / 1e-6)))]:.1e}")
ax.axvline(1e-6, color="0.6", ls="--", lw=1)
ax.text(1.2e-6, 3e1, "gradcheck's eps", fontsize=8, color="0.4")
ax.set_xlabel("finite-difference step eps")
ax.set_ylabel("relative error vs exact gradient")
ax.set_title("Rounding (left) vs truncation (right) error")
ax.legend()
run.savefig(fig, "finite_difference_error")

# %% [markdown]
# In float32 a step below ~1e-7 vanishes entirely when added to x (relative
# error 1: the two forward values are identical), and even the best steps
# (~1e-3..1e-2) leave errors of about 1e-6..1e-4 (the best is printed) that
# jump from point to point: too coarse
# to tell a subtly wrong gradient from a right one. In float64 central
# differences reach 1e-10 or better near eps = 1e-5..1e-6 (one-sided ones only
# 1e-9, at eps ~ 1e-8), so gradcheck's default tolerances
# (atol 1e-5, rtol 1e-4) leave a wide margin for real bugs. That is why every
# layer's test in tinycnn runs gradcheck in float64.
#
# ## Summary
# * A network is a graph of small ops; backprop = chain rule applied in reverse
#   topological order, each node multiplying by its local derivative.
# * `Tensor` records the graph, `.backward()` fills `.grad` of the leaves;
#   gradients accumulate and broadcasting is summed back.
# * `gradcheck` compares analytic with numeric gradients (float64, eps ~ 1e-6)
#   and points at the worst element when a backward is wrong.
#
# ## Exercises
# 1. Write `Function`s for `x ** 3` and for `maximum(x, y)` and gradcheck them.
#    Where does the check of `maximum` fail, and why (hint: ties)?
# 2. Replace `Softplus.forward` by one that does not overflow for x = 1000
#    (`np.logaddexp(0, x)`); does the backward need to change?
# 3. Redo the figure in section 4 for a ReLU network with inputs near 0.
#    What happens to the curves when the step crosses the kink?

# %%
run.done()
