"""Deferred convolutions: an eval-mode BatchNorm and a ReLU folded into the convolution before
them as the model runs, with no `fuse` step.

Where no gradient is recorded, a convolution called inside a module's forward does not run at
once: it returns a `Deferred`, a Tensor whose values are computed when something first
reads them. If the first op to take it is an eval-mode BatchNorm, the BatchNorm folds itself
into the convolution's weights and bias and returns a new Deferred instead of making a pass
of its own:

    s = gamma / sqrt(running_var + eps)     (C_out,)
    W' = W * s[:, None, None, None]          (C_out, C/G, kh, kw)
    b' = (b - running_mean) * s + beta       (C_out,)

and a ReLU or ReLU6 that takes the result becomes the clamp of the convolution's store. A
residual sum of two tensors is deferred too, so that the ReLU after it clamps in the addition's
pass. Only a tensor that something reads is computed; its values are those of the ops run apart,
to float32 rounding (BatchNorm's scale multiplies the weights instead of the sums), and each
earlier Deferred still gives its own values if something else reads it. `nn.utils.fusion.fuse`
does the same folding ahead of time, once, on a copy of the model: the same bits.

The window is short: whatever is still deferred when the outermost module call returns (its
output, or what a forward hook kept) is computed then (`module_call`), while the arrays it
reads are as they were. Nothing is deferred outside a module's forward, with gradients, or
while a profiler watches the ops (it is there to see each of them).
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

from tinycnn.kernels import scale as kernels
from tinycnn.tensor import Tensor, is_grad_enabled, profiling


def fold_batch_norm(weight, bias, mean, var, eps, gamma, beta):
    """(W', b') of the convolution (weight, bias) followed by an eval-mode BatchNorm (arrays;
    bias, gamma, beta may be None: 0, 1, 0), computed in float64 and returned in the weight's
    dtype (kernels/scale.py)."""
    c_out = weight.shape[0]
    bias, gamma, beta = (np.full(c_out, value, np.float64) if a is None else a
                         for a, value in ((bias, 0.0), (gamma, 1.0), (beta, 0.0)))
    return kernels.fold_batch_norm(np.asarray(weight), bias, mean, var, eps, gamma, beta)


enabled = True  # False: every op runs as it is called (to time what deferral saves)


class _Calls(threading.local):
    depth = 0      # module calls in progress on this thread
    deferred = ()  # weak references to the Deferred tensors made in the outermost one


_calls = _Calls()


class module_call:
    """`with module_call():` around each module's forward (nn.Module.__call__): deferral is on
    inside; when the outermost call ends, every Deferred still alive is computed."""

    __slots__ = ()

    def __enter__(self):
        if _calls.depth == 0:
            _calls.deferred = []
        _calls.depth += 1

    def __exit__(self, exc_type, exc, tb):
        _calls.depth -= 1
        if _calls.depth == 0:
            deferred, _calls.deferred = _calls.deferred, ()
            if exc_type is None:
                for ref in deferred:
                    t = ref()
                    if t is not None:
                        t.data  # noqa: B018 (reading computes it)


def may_defer(*tensors) -> bool:
    """Whether an op on these Tensors may defer its output: deferral enabled, inside a module
    call, no graph recorded, no profiler watching."""
    return (enabled and _calls.depth > 0 and not profiling()
            and not (is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)))


class Deferred(Tensor):
    """An op's output (no graph), computed when first read: compute(**parts) -> array of
    `shape`. A convolution's parts are its weight (C_out, C/G, kh, kw), bias (C_out,) or None
    and clamp (lo, hi) or None, as the ops after it folded them in; a residual sum's, its clamp."""

    def __init__(self, shape, dtype, compute, **parts):
        self.requires_grad, self.grad, self._ctx = False, None, None
        self._values, self._shape, self._dtype = None, tuple(shape), np.dtype(dtype)
        self._compute, self._parts = compute, parts
        _calls.deferred.append(weakref.ref(self))

    @property
    def data(self) -> np.ndarray:
        if self._values is None:
            self._values = self._compute(**self._parts)
            self._compute = self._parts = None  # the inputs and weights can go
        return self._values

    @data.setter
    def data(self, values):
        self._values, self._compute, self._parts = values, None, None

    @property
    def shape(self) -> tuple:
        return self._shape if self._values is None else self._values.shape

    @property
    def dtype(self):
        return self._dtype if self._values is None else self._values.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _then(self, **parts) -> Deferred:
        return Deferred(self._shape, self._dtype, self._compute, **{**self._parts, **parts})

    def folds_batch_norm(self) -> bool:
        """Whether a BatchNorm reading this tensor can fold into it: a convolution not yet
        computed, and no clamp yet (a BatchNorm after a ReLU is not affine in the sums)."""
        return self._values is None and "weight" in self._parts and self._parts["clamp"] is None

    def then_batch_norm(self, mean, var, eps, gamma, beta) -> Deferred:
        """The convolution followed by an eval-mode BatchNorm (arrays; gamma, beta may be None)."""
        weight, bias = fold_batch_norm(self._parts["weight"], self._parts["bias"], mean, var, eps, gamma, beta)
        return self._then(weight=weight, bias=bias)

    def then_clamp(self, lo, hi) -> Deferred | None:
        """The output clamped to [lo, hi] (0 <= lo) as it is stored (a clamp after a clamp:
        their ranges' intersection); None where this tensor was already computed."""
        if self._values is not None:
            return None
        clamp = self._parts["clamp"]
        return self._then(clamp=(lo, hi) if clamp is None else (max(lo, clamp[0]), min(hi, clamp[1])))
