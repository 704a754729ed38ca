"""`Module` and `Parameter`: PyTorch's way of holding layers and weights."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from tinycnn.device import parse_to
from tinycnn.ops.deferred import module_call
from tinycnn.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module's learnable weight (requires_grad=True)."""

    def __init__(self, data, requires_grad: bool = True):
        data = data.data if isinstance(data, Tensor) else np.asarray(data)
        super().__init__(data, requires_grad=requires_grad, _raw=True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def _as_buffer(module, name: str, value):
    """Buffers are plain NumPy arrays (a NumPy scalar becomes a 0-d array)."""
    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    raise TypeError(
        f"{type(module).__name__}: buffer '{name}' must be a NumPy array or None, got {type(value).__name__}"
    )


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list
    unexpected_keys: list


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
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            buffers.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter '{name}' "
                    "(Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} as child module '{name}' "
                    "(Module or None expected)"
                )
            modules[name] = None
        elif name in buffers:
            value = _as_buffer(self, name, value)
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self._non_persistent.discard(name)
        object.__delattr__(self, name)

    def _check_new_name(self, kind: str, name: str):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{type(self).__name__}.{kind}: name must be a non-empty string without '.', got {name!r}")
        stores = {"register_parameter": self._parameters, "register_buffer": self._buffers, "add_module": self._modules}
        if hasattr(self, name) and name not in stores[kind]:
            raise KeyError(f"{type(self).__name__}.{kind}: attribute '{name}' already exists")

    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True):
        """A state array that is saved in the state_dict but is not learned
        (e.g. BatchNorm's running_mean). Stored as a plain NumPy array."""
        self._check_new_name("register_buffer", name)
        self._buffers[name] = array = _as_buffer(self, name, array)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, array)

    def register_parameter(self, name: str, param: Parameter | None):
        self._check_new_name("register_parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"{type(self).__name__}.register_parameter: '{name}' must be a Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None):
        self._check_new_name("add_module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}.add_module: '{name}' must be a Module or None, got {type(module).__name__}"
            )
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        with module_call():  # ops inside may defer their outputs (tinycnn/ops/deferred.py)
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

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path `target` ("" is self), e.g. "layer1.0.conv1"."""
        module = self
        for i, name in enumerate(target.split(".") if target else []):
            child = module._modules.get(name)
            if child is None:
                raise AttributeError(f"get_submodule: {type(module).__name__} at "
                                     f"{'.'.join(target.split('.')[:i]) or 'the top'} has no submodule {name!r}")
            module = child
        return module

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

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, m in mods:
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and in every submodule (Dropout, BatchNorm
        behave differently in training and in evaluation)."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, *args, **kwargs) -> Module:
        """As PyTorch: `to(dtype)` casts every floating parameter and buffer (e.g. to
        np.float64); `to("cpu")` / `to(tinycnn.device("cpu"))` changes nothing, any other
        device is an error (tinycnn runs on the CPU only)."""
        dtype = parse_to(f"{type(self).__name__}.to", *args, **kwargs)
        if dtype is None:
            return self
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

    def cpu(self) -> Module:
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ------------------------------------------------------------ state
    def _state_entries(self) -> Iterator[tuple[str, Module, str, str]]:
        """(key, module, attribute name, "param" | "buffer") for every entry of
        the state_dict. As in PyTorch, a module reached by two paths appears
        under both names (tied weights are saved twice)."""
        stack = [("", self)]
        while stack:
            pre, m = stack.pop()
            for name, p in m._parameters.items():
                if p is not None:
                    yield pre + name, m, name, "param"
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    yield pre + name, m, name, "buffer"
            stack.extend(reversed([(f"{pre}{n}.", c) for n, c in m.named_children()]))

    def state_dict(self) -> OrderedDict:
        """Parameters and persistent buffers as NumPy arrays (copies), keyed
        by dotted path as in PyTorch (`layer1.0.conv1.weight`)."""
        sd = OrderedDict()
        for key, m, name, kind in self._state_entries():
            value = m._parameters[name].data if kind == "param" else m._buffers[name]
            sd[key] = np.array(value, copy=True)
        return sd

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers (cast to their dtype).

        With strict=True, missing or unexpected keys are an error; a shape
        mismatch always is. The error lists every bad key; nothing is loaded
        then. Returns (missing_keys, unexpected_keys).
        """
        own = {key: (m, name, kind) for key, m, name, kind in self._state_entries()}
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        values, mismatched = {}, []
        for key, (m, name, kind) in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            values[key] = value = value.data if isinstance(value, Tensor) else np.asarray(value)
            current = m._parameters[name].data if kind == "param" else m._buffers[name]
            if value.shape != current.shape:
                mismatched.append(f"{key}: expected shape {current.shape}, got {value.shape}")
        errors = []
        if strict and missing:
            errors.append(f"missing keys: {missing}")
        if strict and unexpected:
            errors.append(f"unexpected keys: {unexpected}")
        if mismatched:
            errors.append("size mismatch for " + "; ".join(mismatched))
        if errors:
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + ". ".join(errors))
        for key, value in values.items():
            m, name, kind = own[key]
            if kind == "param":
                p = m._parameters[name]
                p.data = value.astype(p.dtype, copy=True)
            else:
                new = value.astype(m._buffers[name].dtype, copy=True)
                m._buffers[name] = new
                object.__setattr__(m, name, new)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
