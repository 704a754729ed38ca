"""`Module` and `Parameter`: PyTorch's way of holding layers and weights."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from tinycnn.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module's learnable weight (requires_grad=True)."""

    def __init__(self, data, requires_grad: bool = True):
        data = data.data if isinstance(data, Tensor) else np.asarray(data)
        super().__init__(data, requires_grad=requires_grad, _raw=True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by register_forward_hook; `handle.remove()` unregisters."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self.hooks, self.id = hooks, RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)


class Module:
    """Base class of every layer and model.

    Assigning a Parameter, a Module or (via `register_buffer`) an array to an
    attribute registers it, so `parameters()`, `state_dict()`, `train()` and
    `eval()` find it. Subclasses implement `forward`.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):  # re-assigning a buffer
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True):
        """A state array that is saved in the state_dict but is not learned
        (e.g. BatchNorm's running_mean). Stored as a plain NumPy array."""
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self._buffers[name] = array
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, array)

    def register_parameter(self, name: str, param: Parameter | None):
        if param is None:
            self._parameters[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: Module | None):
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # ------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call hook(module, inputs, output) after every forward; used by
        `tinycnn.summary` to count what actually runs."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------ traversal
    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Every module in the tree (each once), depth first, self first."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{n}" if name else n, c) for n, c in m.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype) -> Module:
        """Cast every floating parameter and buffer to `dtype` (e.g. np.float64)."""
        dtype = np.dtype(dtype)
        for m in self.modules():
            for name, p in m._parameters.items():
                if p is not None and p.dtype.kind == "f":
                    p.data = p.data.astype(dtype)
                    p.grad = None
            for name, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f":
                    m._buffers[name] = b.astype(dtype)
                    object.__setattr__(m, name, m._buffers[name])
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict:
        """Parameters and persistent buffers as NumPy arrays (copies), keyed
        by dotted path as in PyTorch (`layer1.0.conv1.weight`)."""
        sd = OrderedDict()
        for mod_name, m in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in m._parameters.items():
                if p is not None:
                    sd[pre + name] = p.data.copy()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    sd[pre + name] = np.array(b, copy=True)
        return sd

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays into the parameters and buffers. With strict=True,
        missing or unexpected keys are an error; a shape mismatch always is.
        Returns (missing_keys, unexpected_keys)."""
        own = {}
        for mod_name, m in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in m._parameters.items():
                if p is not None:
                    own[pre + name] = (m, name, "param")
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    own[pre + name] = (m, name, "buffer")
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for key, (m, name, kind) in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            current = m._parameters[name].data if kind == "param" else m._buffers[name]
            if value.shape != current.shape:
                mismatched.append(f"{key}: expected shape {current.shape}, got {value.shape}")
        errors = []
        if mismatched:
            errors.append("size mismatch for " + "; ".join(mismatched))
        if strict and missing:
            errors.append(f"missing keys: {missing}")
        if strict and unexpected:
            errors.append(f"unexpected keys: {unexpected}")
        if errors:
            raise KeyError(f"load_state_dict into {type(self).__name__}: " + ". ".join(errors))
        for key, (m, name, kind) in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if kind == "param":
                p = m._parameters[name]
                p.data = value.astype(p.dtype, copy=True)
            else:
                b = m._buffers[name]
                new = value.astype(b.dtype, copy=True)
                m._buffers[name] = new
                object.__setattr__(m, name, new)
        return missing, unexpected

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
