"""Ops that move elements without computing: reshape, transpose, expand,
indexing, concatenation, padding."""
import numpy as np

from tinycnn.kernels.pad import constant_pad
from tinycnn.tensor import Function, Tensor


def _dim(name, dim, ndim) -> int:
    """A dim in [-ndim, ndim) as a non-negative axis, or a clear IndexError."""
    if not -ndim <= dim < ndim:
        raise IndexError(f"{name}: dim {dim} is out of range for {ndim} dimensions (expected [{-ndim}, {ndim - 1}])")
    return dim % ndim


class Reshape(Function):
    def forward(self, x, shape):
        self.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) as {shape}") from None

    def backward(self, grad):
        return grad.reshape(self.in_shape)


class Permute(Function):
    def forward(self, x, dims):
        self.dims = dims
        return np.transpose(x, dims)

    def backward(self, grad):
        return np.transpose(grad, np.argsort(self.dims))


class Expand(Function):
    """A broadcast view; the engine sums the gradient back to x's shape."""

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, grad):
        return grad


class GetItem(Function):
    """x[index] for any NumPy index; repeated integer indices accumulate."""

    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, grad):
        out = np.zeros(self.shape, dtype=grad.dtype)
        if _is_basic(self.index):
            out[self.index] = grad  # slices and integers: no element is picked twice
        else:
            np.add.at(out, self.index, grad)
        return out


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, int | np.integer | slice) for i in items)


class Cat(Function):
    def forward(self, *xs, dim):
        self.dim = dim
        self.splits = np.cumsum([x.shape[dim] for x in xs])[:-1]
        return np.concatenate(xs, axis=dim)

    def backward(self, grad):
        return tuple(np.split(grad, self.splits, axis=self.dim))


class Stack(Function):
    def forward(self, *xs, dim):
        self.dim = dim
        return np.stack(xs, axis=dim)

    def backward(self, grad):
        return tuple(np.moveaxis(grad, self.dim, 0))


class Pad(Function):
    """Constant padding; pad_width as NumPy's ((before, after), ...) per axis."""

    def forward(self, x, pad_width, value):
        self.slices = tuple(slice(b, b + n) for (b, _), n in zip(pad_width, x.shape))
        return constant_pad(x, pad_width, value)

    def backward(self, grad):
        return grad[self.slices]


def reshape(x, shape):
    return Reshape.apply(x, shape=tuple(shape))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) for start_dim=1."""
    shape = x.shape
    if len(shape) == 0:
        return reshape(x, (1,))
    s, e = _dim("flatten", start_dim, len(shape)), _dim("flatten", end_dim, len(shape))
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :])


def unsqueeze(x, dim):
    """Insert a size-1 axis at dim (in [-ndim-1, ndim])."""
    d = _dim("unsqueeze", dim, x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x, dim=None):
    """Remove size-1 axes (all of them, or only dim, if it has size 1)."""
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    if x.ndim == 0:
        return x
    d = _dim("squeeze", dim, x.ndim)
    return reshape(x, x.shape[:d] + x.shape[d + 1 :]) if x.shape[d] == 1 else x


def expand(x, shape):
    """Broadcast x to `shape` without copying; -1 keeps a dim's size (Tensor.expand)."""
    shape = tuple(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to fewer dimensions {shape}")
    full = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    if any(n != 1 and n != m for n, m in zip(x.shape, full[lead:])) or -1 in full:
        raise ValueError(f"expand: shape {x.shape} cannot be expanded to {shape} (only size-1 dims can grow)")
    return Expand.apply(x, shape=full)


def permute(x, dims):
    """Reorder the axes: x.permute(0, 2, 3, 1) takes (N, C, H, W) to (N, H, W, C)."""
    dims = tuple(dims)
    if len(dims) != x.ndim or sorted(_dim("permute", d, x.ndim) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute.apply(x, dims=tuple(d % x.ndim for d in dims))


def transpose(x, dim0, dim1):
    """Swap two axes."""
    dims = list(range(x.ndim))
    d0, d1 = _dim("transpose", dim0, x.ndim), _dim("transpose", dim1, x.ndim)
    dims[d0], dims[d1] = d1, d0
    return Permute.apply(x, dims=tuple(dims))


def getitem(x, index):
    """x[index]: integers, slices, None, Ellipsis, integer/boolean arrays or Tensors."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    return GetItem.apply(x, index=index)


def _check_same_rank(name, tensors):
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of tensors")
    shapes = [t.shape for t in tensors]
    if len({len(s) for s in shapes}) != 1:
        raise ValueError(f"{name}: all tensors need the same number of dimensions, got shapes {shapes}")


def cat(tensors, dim=0):
    """Join tensors along an existing axis; all other dims must match."""
    tensors = list(tensors)
    _check_same_rank("cat", tensors)
    ref = tensors[0].shape
    if not ref:
        raise ValueError("cat: 0-d tensors cannot be concatenated (use stack)")
    d = _dim("cat", dim, len(ref))
    for t in tensors[1:]:
        if t.shape[:d] + t.shape[d + 1 :] != ref[:d] + ref[d + 1 :]:
            raise ValueError(f"cat: shapes must match except in dim {dim}, got {ref} and {t.shape}")
    return Cat.apply(*tensors, dim=d)


concat = cat


def stack(tensors, dim=0):
    """Join same-shape tensors along a new axis at dim."""
    tensors = list(tensors)
    _check_same_rank("stack", tensors)
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
    return Stack.apply(*tensors, dim=_dim("stack", dim, tensors[0].ndim + 1))


_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode="constant", value=None):
    """PyTorch's F.pad: `pad` lists (before, after) pairs starting from the LAST
    axis, e.g. (left, right, top, bottom) for (N, C, H, W).
    mode: "constant" (fill with value, default 0), "reflect", "replicate" or "circular"."""
    x = input
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of at most {2 * x.ndim} values, got {pad}")
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(b < 0 or a < 0 for b, a in pairs):
        raise ValueError(f"pad: negative padding is not supported, got {pad}")
    if mode == "constant":
        return Pad.apply(x, pad_width=tuple(pairs), value=0.0 if value is None else value)
    if mode not in _NUMPY_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if mode == "reflect" and any(max(p) >= n for p, n in zip(pairs, x.shape) if max(p)):
        raise ValueError(f"pad: reflect padding {pad} must be smaller than the padded dims of shape {x.shape}")
    # Which source element each padded position copies, per axis; then one gather.
    index = np.ix_(*(np.pad(np.arange(n), p, mode=_NUMPY_MODES[mode]) for n, p in zip(x.shape, pairs)))
    return GetItem.apply(x, index=index)
