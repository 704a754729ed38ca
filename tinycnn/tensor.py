"""The Tensor and the reverse-mode autograd engine.

A `Tensor` wraps a NumPy array. Every differentiable op is a `Function`: its
`forward` computes on arrays and may save what the backward pass needs; its
`backward` maps the gradient of the output to the gradients of the inputs.
`Tensor.backward()` walks the recorded graph in reverse topological order.
The operators and methods that forward to the ops (`t + u`, `t.sum()`, ...) are
inherited from `tensor_operators.TensorOperators`.
"""
from __future__ import annotations

import numpy as np

from tinycnn import grad_mode as _grad_mode
from tinycnn.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401  (re-exported)
from tinycnn.kernels.add import add
from tinycnn.tensor_operators import TensorOperators

DEFAULT_DTYPE = np.float32

# ---------------------------------------------------------------- profiling hook

_profiler = None


def set_profiler(profiler):
    """Route every op's forward and backward through `profiler` (None: off, the default).

    profiler.forward(fn, arrays, constants) must return fn.forward(*arrays, **constants),
    profiler.backward(fn, grad) must return fn.backward(grad); they time the calls
    (see tinycnn.bench.profile). When off, the cost is one test per op.
    """
    global _profiler
    _profiler = profiler


def profiling() -> bool:
    """Whether a profiler watches the ops (`set_profiler`)."""
    return _profiler is not None


# ---------------------------------------------------------------- Function


class Function:
    """One differentiable op, with forward and backward side by side.

    Subclasses implement
        forward(self, *arrays, **constants) -> array
        backward(self, grad) -> one gradient per array input (None if not needed)
    The instance is the op's saved context: `forward` stores on `self` what
    `backward` needs (prefer `self.save_for_backward(...)` for arrays so the
    engine can free them). `self.needs_input_grad[i]` tells whether input i
    requires a gradient, so backward may skip (return None for) the others.
    Gradients may have the broadcast shape of the output; the engine sums
    them back to each input's shape.
    """

    def __init__(self):
        self.inputs: tuple[Tensor, ...] = ()
        self._saved: tuple | None = None

    released = False

    def release(self):
        """Free the saved buffers and the inputs (their activations) after backward."""
        self._saved, self.inputs, self.released = None, (), True

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(
                f"{type(self).__name__}: nothing was saved with save_for_backward(), "
                "or the buffers were freed by an earlier backward()"
            )
        return self._saved

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **constants) -> Tensor:
        """Run the op on Tensors (or array-likes) and record it in the graph."""
        fn = cls()
        ref = next((x.dtype for x in inputs if isinstance(x, Tensor) and x.dtype.kind == "f"), None)
        tensors = tuple(x if isinstance(x, Tensor) else _constant(x, ref) for x in inputs)
        fn.needs_input_grad = tuple(_grad_mode._grad_enabled and t.requires_grad for t in tensors)
        arrays = tuple(t.data for t in tensors)
        if _profiler is None:
            out = np.asarray(fn.forward(*arrays, **constants))
        else:
            out = np.asarray(_profiler.forward(fn, arrays, constants))
        requires_grad = any(fn.needs_input_grad)
        result = Tensor(out, requires_grad=requires_grad, _raw=True)
        if requires_grad:
            fn.inputs = tensors
            result._ctx = fn
        return result


def _constant(x, ref_dtype) -> Tensor:
    """A non-Tensor op input. Scalars take the dtype of the op's float tensor
    (as in PyTorch: `x32 * 2.0` stays float32, never float64)."""
    arr = np.asarray(x)
    if ref_dtype is not None and arr.ndim == 0 and arr.dtype.kind in "fiu":
        return Tensor(arr.astype(ref_dtype), _raw=True)
    return Tensor(x)


def _unbroadcast(grad: np.ndarray, shape: tuple, fn: Function) -> np.ndarray:
    """Sum `grad` over the axes along which an input of `shape` was broadcast."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0 or any(n != 1 and n != g for n, g in zip(shape, grad.shape[extra:])):
        raise RuntimeError(
            f"{type(fn).__name__}.backward returned a gradient of shape {grad.shape} "
            f"for an input of shape {shape}"
        )
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


# ---------------------------------------------------------------- Tensor


def _as_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    arr = np.asarray(data)
    if arr.dtype == np.float64 and not isinstance(data, np.ndarray | np.generic):
        arr = arr.astype(DEFAULT_DTYPE)  # Python floats become float32, as in PyTorch
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: expected numeric data, got dtype {arr.dtype}")
    return arr


class Tensor(TensorOperators):
    """A NumPy array that remembers how it was computed.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy()
    array([2., 4.], dtype=float32)
    """

    __array_priority__ = 1000  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None, *, _raw: bool = False):
        if not _raw:
            data = _as_array(data, dtype)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {data.dtype}")
        self.data: np.ndarray = data
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self._ctx: Function | None = None

    # ------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): expected a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __bool__(self):
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def detach(self) -> Tensor:
        return Tensor(self.data, _raw=True)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def zero_grad(self):
        self.grad = None

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = "" if self.dtype == DEFAULT_DTYPE else f", dtype={self.dtype}"
        extra += ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    # ------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph: bool = False):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        grad: the gradient of some scalar w.r.t. self, same shape as self;
        may be omitted only when self holds a single element.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no grad_fn")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicit only for a single-element output, "
                    f"got shape {self.shape}; pass grad= of that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape}, expected {self.shape}")

        grads = {id(self): grad}
        summed = set()  # ids whose gradient is a sum this loop allocated: safe to add into in place
        for t in _topological_order(self):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            fn = t._ctx
            if fn is None:  # a leaf: accumulate into .grad
                if t.grad is None:
                    t.grad = Tensor(np.array(g, dtype=t.dtype), _raw=True)  # a copy: g may be shared
                else:
                    t.grad.data += g
                continue
            if fn.released:
                raise RuntimeError(
                    f"backward(): the graph through {type(fn).__name__} was freed by an earlier "
                    "backward(); pass retain_graph=True to the first call to backward twice"
                )
            in_grads = fn.backward(g) if _profiler is None else _profiler.backward(fn, g)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if len(in_grads) != len(fn.inputs):
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned {len(in_grads)} gradients "
                    f"for {len(fn.inputs)} inputs"
                )
            for x, gx in zip(fn.inputs, in_grads):
                if gx is None or not x.requires_grad:
                    continue
                gx = _unbroadcast(np.asarray(gx, dtype=x.dtype), x.shape, fn)
                key = id(x)
                if key not in grads:
                    grads[key] = gx  # may be shared with another input (add returns grad twice): never written to
                elif key in summed:
                    grads[key] += gx
                else:
                    grads[key] = add(grads[key], gx)  # one parallel pass (a ResNet block's input feeds two paths)
                    summed.add(key)
            if not retain_graph:
                fn.release()

    # ------------------------------------------------------------ no graph
    # comparisons give boolean tensors, argmax/argmin index tensors; they record no graph
    def __lt__(self, other):
        return Tensor(self.data < _data(other), _raw=True)

    def __le__(self, other):
        return Tensor(self.data <= _data(other), _raw=True)

    def __gt__(self, other):
        return Tensor(self.data > _data(other), _raw=True)

    def __ge__(self, other):
        return Tensor(self.data >= _data(other), _raw=True)

    def eq(self, other):
        return Tensor(self.data == _data(other), _raw=True)

    # elementwise, as PyTorch's (`(pred == y).sum()`); hashing stays by identity (__hash__ above)
    __eq__ = eq

    def __ne__(self, other):
        return Tensor(self.data != _data(other), _raw=True)

    def argmax(self, dim=None, keepdim=False):
        return Tensor(np.asarray(np.argmax(self.data, axis=dim, keepdims=keepdim)), _raw=True)

    def argmin(self, dim=None, keepdim=False):
        return Tensor(np.asarray(np.argmin(self.data, axis=dim, keepdims=keepdim)), _raw=True)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors reachable from `root`, each after every tensor that uses it.

    Iterative depth-first search, so a 1000-layer network does not hit
    Python's recursion limit.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t._ctx is not None:
            for x in t._ctx.inputs:
                if x.requires_grad and id(x) not in visited:
                    stack.append((x, False))
    order.reverse()  # root first
    return order

