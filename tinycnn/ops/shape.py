"""Ops that move elements without computing: reshape, transpose, indexing,
concatenation, padding."""
import numpy as np

from tinycnn.tensor import Function, Tensor


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
        if sorted(d % x.ndim for d in dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {dims} is not a permutation of the {x.ndim} axes of shape {x.shape}")
        self.dims = dims
        return np.transpose(x, dims)

    def backward(self, grad):
        return np.transpose(grad, np.argsort([d % grad.ndim for d in self.dims]))


class GetItem(Function):
    """x[index] for any NumPy index; repeated integer indices accumulate."""

    def forward(self, x, index):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, grad):
        out = np.zeros(self.shape, dtype=grad.dtype)
        np.add.at(out, self.index, grad)
        return out


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
        return np.pad(x, pad_width, constant_values=value)

    def backward(self, grad):
        return grad[self.slices]


def reshape(x, shape):
    return Reshape.apply(x, shape=tuple(shape))


def flatten(x, start_dim=0, end_dim=-1):
    shape = x.shape
    if len(shape) == 0:
        return reshape(x, (1,))
    s, e = start_dim % len(shape), end_dim % len(shape)
    return reshape(x, shape[:s] + (-1,) + shape[e + 1 :])


def permute(x, dims):
    return Permute.apply(x, dims=tuple(dims))


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, dims)


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem.apply(x, index=index)


def _check_same_rank(name, tensors, dim):
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of tensors")
    shapes = [t.shape for t in tensors]
    if len({len(s) for s in shapes}) != 1:
        raise ValueError(f"{name}: all tensors need the same number of dimensions, got shapes {shapes}")


def cat(tensors, dim=0):
    tensors = list(tensors)
    _check_same_rank("cat", tensors, dim)
    ndim = len(tensors[0].shape)
    d = dim % ndim
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.shape[:d] + t.shape[d + 1 :] != ref[:d] + ref[d + 1 :]:
            raise ValueError(
                f"cat: shapes must match except in dim {dim}, got {ref} and {t.shape}"
            )
    return Cat.apply(*tensors, dim=d)


concat = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    _check_same_rank("stack", tensors, dim)
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
    return Stack.apply(*tensors, dim=dim % (len(tensors[0].shape) + 1))


def pad(x, pad, value=0.0):
    """PyTorch's F.pad: `pad` lists (before, after) pairs starting from the LAST axis."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of at most {2 * x.ndim} values, got {pad}")
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if any(b < 0 or a < 0 for b, a in pairs):
        raise ValueError(f"pad: negative padding is not supported, got {pad}")
    return Pad.apply(x, pad_width=tuple(pairs), value=value)
