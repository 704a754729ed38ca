"""Gradient checking: compare the backward pass with central differences.

    from tinycnn import gradcheck          # the function (also tinycnn.gradcheck)
    x = tinycnn.randn(3, 4, dtype=np.float64, requires_grad=True)
    w = tinycnn.randn(4, 2, dtype=np.float64, requires_grad=True)
    gradcheck(lambda x, w: (x @ w).tanh(), [x, w])                  # full Jacobian
    gradcheck(lambda x, w: (x @ w).tanh(), [x, w], mode="random")   # random directions

`fn(*inputs)` must return one float64 Tensor. Inputs that are Tensors with
`requires_grad=True` are checked; every other input (integer targets, tensors
without grad, Python values) is passed through unchanged as a constant. The
checked inputs are perturbed *in place*, so `fn` may also reach them through
a closure (e.g. a module's parameters):
    gradcheck(lambda x, *params: model(x), [x, *model.parameters()])

mode="full": the whole Jacobian, both ways. Analytic: one backward pass per
output element (with a one-hot output gradient). Numeric: two forward passes
per input element, (f(x + eps e_i) - f(x - eps e_i)) / 2 eps. Cost grows as
(number of outputs + 2 * number of inputs) passes: use it on tiny shapes.

mode="random" (as Chainer's check_backward): for `n_directions` random unit
directions v of each input and a random output gradient u, compare
    analytic  <grad of <u, f(x)> w.r.t. x, v>
    numeric   (<u, f(x + eps v)> - <u, f(x - eps v)>) / 2 eps.
Cost: one backward and 2 forward passes per input per direction, whatever
the sizes -- for convolutions, batch norm and whole blocks.

An entry passes when |analytic - numeric| <= atol + rtol * |numeric|. On
failure an AssertionError reports the input, the worst element, both values
and the errors. Keep inputs away from kinks (ReLU at 0, max-pool ties): there
the derivative is undefined and the check rightly fails.

`fn` must be deterministic: it is called many times and must compute the same
function each time. A function with internal randomness (dropout, drop-path)
must reseed inside itself (`tinycnn.manual_seed(0)` as its first line) or
take its random mask from a closure; gradcheck calls fn twice on the same
input first and raises ValueError if the results differ.
"""
from __future__ import annotations

import numpy as np

from tinycnn.tensor import Tensor, enable_grad, no_grad


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, mode="full", n_directions=3, seed=0) -> bool:
    """Check `fn`'s analytic gradients against central differences; True or AssertionError.

    fn: callable(*inputs) -> float64 Tensor (any shape, 0-d included).
    inputs: a Tensor or a sequence; float64 Tensors with requires_grad=True are checked.
    mode: "full" (whole Jacobian) or "random" (n_directions random projections, seeded by `seed`).
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = _checked_inputs(inputs)
    if mode not in ("full", "random"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'random', got {mode!r}")
    saved = [(t.data, t.grad) for t in checked]
    try:
        for t in checked:  # perturb private copies; the originals are put back below
            t.data = np.array(t.data, dtype=np.float64, copy=True)
        y0 = _forward(fn, inputs)
        if not np.array_equal(y0, _forward(fn, inputs), equal_nan=True):
            raise ValueError(
                "gradcheck: fn gave different outputs for the same inputs; it must be deterministic "
                "(reseed with tinycnn.manual_seed inside fn, or fix its random masks in a closure)"
            )
        if mode == "full":
            _check_full(fn, inputs, checked, y0, eps, atol, rtol)
        else:
            _check_random(fn, inputs, checked, y0, eps, atol, rtol, n_directions, seed)
    finally:
        for t, (data, grad) in zip(checked, saved):
            t.data, t.grad = data, grad
    return True


# ---------------------------------------------------------------- helpers


def _checked_inputs(inputs) -> list[Tensor]:
    checked = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            continue
        if x.dtype.kind == "f" and x.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {x.dtype}; central differences need float64 "
                "(use .double() or dtype=np.float64)"
            )
        if x.requires_grad:
            if not x.is_leaf:
                raise ValueError(
                    f"gradcheck: input {i} is not a leaf tensor; pass x.detach().requires_grad_() instead"
                )
            checked.append(x)
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, nothing to check")
    return checked


def _forward(fn, inputs) -> np.ndarray:
    """fn(*inputs) as a float64 array, without recording a graph."""
    with no_grad():
        y = fn(*inputs)
    _check_output(y)
    return np.array(y.data, copy=True)


def _check_output(y):
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(y).__name__}")
    if y.dtype != np.float64:
        raise TypeError(f"gradcheck: fn must return a float64 Tensor, got dtype {y.dtype}")


def _backward(fn, inputs, checked, out_grads) -> list[list[np.ndarray]]:
    """For each output gradient u in out_grads: the gradients of <u, fn(inputs)>
    w.r.t. each checked input (zeros where the input is not reached)."""
    with enable_grad():
        y = fn(*inputs)
    _check_output(y)
    result = []
    for u in out_grads:
        for t in checked:
            t.grad = None
        if y.requires_grad:
            y.backward(u, retain_graph=True)
        grads = []
        for t in checked:
            if t.grad is None:
                grads.append(np.zeros_like(t.data))
                continue
            if t.grad.shape != t.shape or t.grad.dtype != np.float64:
                raise AssertionError(
                    f"gradcheck: the gradient of an input of shape {t.shape} (float64) came back "
                    f"with shape {t.grad.shape} and dtype {t.grad.dtype}"
                )
            grads.append(np.array(t.grad.data, copy=True))
        result.append(grads)
    return result


def _numeric(fn, inputs, t, direction, eps, project) -> float | np.ndarray:
    """Central difference of project(fn) along `direction` of input t."""
    base = t.data.copy()
    t.data = base + eps * direction
    plus = project(_forward(fn, inputs))
    t.data = base - eps * direction
    minus = project(_forward(fn, inputs))
    t.data = base
    return (plus - minus) / (2 * eps)


def _check_full(fn, inputs, checked, y0, eps, atol, rtol):
    n_out = y0.size
    units = list(np.eye(n_out, dtype=np.float64).reshape(n_out, *y0.shape))  # one identity: row j is e_j
    analytic = _backward(fn, inputs, checked, units)  # [output j][input k] -> grad array
    for k, t in enumerate(checked):
        jac_a = np.stack([analytic[j][k].ravel() for j in range(n_out)]) if n_out else np.zeros((0, t.data.size))
        jac_n = np.empty_like(jac_a)
        for i in range(t.data.size):
            e_i = np.zeros(t.shape)
            e_i.flat[i] = 1.0
            jac_n[:, i] = _numeric(fn, inputs, t, e_i, eps, np.ravel)
        _report(jac_a, jac_n, atol, rtol, lambda j, i, t=t, k=k: (
            f"input {_name(inputs, t)} (shape {t.shape}), element {_index(i, t.shape)}, "
            f"of output element {_index(j, y0.shape)} (output shape {y0.shape})"
        ))


def _check_random(fn, inputs, checked, y0, eps, atol, rtol, n_directions, seed):
    g = np.random.default_rng(seed)
    for d in range(n_directions):
        u = g.standard_normal(y0.shape)
        (grads,) = _backward(fn, inputs, checked, [u])
        for t, grad in zip(checked, grads):
            v = g.standard_normal(t.shape)
            v /= np.linalg.norm(v) or 1.0
            analytic = np.array([[np.sum(grad * v)]])
            numeric = np.array([[_numeric(fn, inputs, t, v, eps, lambda y, u=u: np.sum(u * y))]])
            _report(analytic, numeric, atol, rtol, lambda j, i, t=t, d=d: (
                f"input {_name(inputs, t)} (shape {t.shape}), random direction {d} "
                f"(a unit vector; projection <u, output> with u ~ N(0, 1), output shape {y0.shape})"
            ))


def _report(analytic, numeric, atol, rtol, where):
    err = np.abs(analytic - numeric)
    bad = ~(err <= atol + rtol * np.abs(numeric))  # NaN counts as bad
    if not bad.any():
        return
    excess = np.where(bad, np.nan_to_num(err / (atol + rtol * np.abs(numeric)), nan=np.inf), -1.0)
    j, i = np.unravel_index(np.argmax(excess), excess.shape)
    a, n = analytic[j, i], numeric[j, i]
    rel = err[j, i] / max(abs(n), 1e-300)
    raise AssertionError(
        f"gradcheck failed: {bad.sum()} of {bad.size} entries out of tolerance (atol={atol}, rtol={rtol}).\n"
        f"  worst: {where(j, i)}\n"
        f"  analytic {float(a)!r}  numeric {float(n)!r}  abs error {err[j, i]:.3e}  rel error {rel:.3e}"
    )


def _name(inputs, t) -> int:
    return next(i for i, x in enumerate(inputs) if x is t)


def _index(flat, shape) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()
