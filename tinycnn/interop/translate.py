"""to_torch(model): a tinycnn model as a torch.nn.Module with the same weights and outputs.

tinycnn's models are written in PyTorch's idiom, so their forward code already is
PyTorch code once its names mean torch's. The translation walks the module tree:
- a leaf layer (Conv2d, BatchNorm2d, ReLU, ...) becomes the torch.nn layer of the
  same name and hyper-parameters (torch_layers.py);
- Sequential, ModuleList and ModuleDict become torch.nn's;
- any other module (a block, a model) becomes an instance of a torch.nn.Module class
  made from its own class: the same methods, their code unchanged, run with globals
  in which tinycnn's names mean torch's (`tinycnn.cat` -> `torch.cat`, `F` ->
  `torch.nn.functional`, `Tensor` -> `torch.Tensor`, a model file's helper function
  -> the same helper translated in turn). Its plain attributes (strides, flags) are
  copied.
Parameters and buffers are copied with their names, dtypes and requires_grad, so
the state_dict keys are tinycnn's. What has no torch counterpart (a custom autograd
Function, a tinycnn op torch lacks) is an error naming the module and its path.
"""
from __future__ import annotations

import types

import numpy as np

from tinycnn import nn
from tinycnn.interop.torch_layers import leaf_class, torch_drop_path_class, torch_leaf
from tinycnn.tensor import Function, Tensor

_INTERNALS = {"_parameters", "_buffers", "_modules", "_non_persistent", "_forward_hooks", "training"}


class TranslationError(TypeError):
    """A tinycnn module that to_torch cannot express with torch."""


class _Namespace:
    """A torch module seen through tinycnn's names: its attributes, plus tinycnn's extras."""

    def __init__(self, primary, extras: dict):
        self._primary, self._extras = primary, extras

    def __getattr__(self, name):
        return self._extras[name] if name in self._extras else getattr(self._primary, name)


class Translator:
    def __init__(self, torch):
        self.torch = torch
        nn_space = _Namespace(torch.nn, {"DropPath": torch_drop_path_class(), "functional": torch.nn.functional})
        self.modules = {"tinycnn": _Namespace(torch, {"nn": nn_space}), "tinycnn.nn": nn_space,
                        "tinycnn.nn.functional": torch.nn.functional, "tinycnn.ops": torch}
        self.classes: dict[type, type] = {}
        self.functions: dict = {}

    # ------------------------------------------------------------ the module tree
    def module(self, m: nn.Module, path: str):
        leaf = leaf_class(type(m))
        if leaf is not None:
            out = torch_leaf(m, leaf, self.torch)
        else:
            out = self.torch_class(type(m), path)()
        self.copy_state(m, out, path, copy_attributes=leaf is None)
        return out.train(m.training)

    def copy_state(self, m: nn.Module, out, path: str, copy_attributes: bool):
        torch = self.torch
        for name, child in m._modules.items():
            sub = f"{path}.{name}" if path else name
            setattr(out, name, None) if child is None else out.add_module(name, self.module(child, sub))
        for name, p in m._parameters.items():
            param = None if p is None else torch.nn.Parameter(torch.from_numpy(p.data.copy()), p.requires_grad)
            out.register_parameter(name, param)
        for name, b in m._buffers.items():
            value = None if b is None else torch.from_numpy(np.array(b, copy=True))
            out.register_buffer(name, value, persistent=name not in m._non_persistent)
        if not copy_attributes:
            return
        registered = set(m._modules) | set(m._parameters) | set(m._buffers) | _INTERNALS
        for name, value in vars(m).items():
            if name not in registered:
                setattr(out, name, self.torch.from_numpy(value.data.copy()) if isinstance(value, Tensor) else value)

    # ------------------------------------------------------------ classes and their code
    def torch_class(self, cls: type, path: str) -> type:
        """The torch class of a tinycnn class: the same hierarchy (so `super()` works), each
        class with its own methods translated; tinycnn's containers become torch.nn's."""
        if cls in self.classes:
            return self.classes[cls]
        tnn = self.torch.nn
        containers = {nn.Sequential: tnn.Sequential, nn.ModuleList: tnn.ModuleList, nn.ModuleDict: tnn.ModuleDict,
                      nn.Module: tnn.Module}
        if cls in containers:
            return containers[cls]
        bases = tuple(self.torch_class(b, path) for b in cls.__bases__ if issubclass(b, nn.Module))
        out = type(cls.__name__, bases, {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                         "__doc__": cls.__doc__})
        self.classes[cls] = out
        where = f"{cls.__name__} at '{path or '<root>'}'"
        for klass in [cls] + [b for b in cls.__bases__ if not issubclass(b, nn.Module)]:  # mixins' methods too
            for name, value in vars(klass).items():
                if name != "__init__":
                    self._copy_method(out, name, value, where)
        return out

    def _copy_method(self, out: type, name: str, value, where: str):
        if isinstance(value, types.FunctionType):
            setattr(out, name, self.function(value, where, out))
        elif isinstance(value, staticmethod | classmethod):
            setattr(out, name, type(value)(self.function(value.__func__, where, out)))
        elif isinstance(value, property):
            fns = [None if f is None else self.function(f, where, out) for f in (value.fget, value.fset)]
            setattr(out, name, property(*fns, doc=value.__doc__))
        elif not (name.startswith("__") and name.endswith("__")):  # a class attribute (expansion = 4)
            setattr(out, name, self.value(value, name, where))

    def function(self, fn: types.FunctionType, where: str, owner: type | None = None):
        """`fn` with globals in which tinycnn's names mean torch's (itself when none does)."""
        key = (fn, owner)
        if key in self.functions:
            return self.functions[key]
        self.functions[key] = fn  # a recursive helper refers to itself unchanged meanwhile
        changed = {}
        for name in _global_names(fn.__code__):
            if name in fn.__globals__:
                value = fn.__globals__[name]
                new = self.value(value, name, f"{where}: {fn.__qualname__}")
                if new is not value:
                    changed[name] = new
        closure = self._closure(fn, where, owner)
        if not changed and closure is fn.__closure__:
            return fn
        new = types.FunctionType(fn.__code__, {**fn.__globals__, **changed}, fn.__name__, fn.__defaults__, closure)
        new.__kwdefaults__, new.__qualname__, new.__doc__ = fn.__kwdefaults__, fn.__qualname__, fn.__doc__
        self.functions[key] = new
        return new

    def _closure(self, fn, where: str, owner: type | None):
        """fn's closure cells, translated: `__class__` (zero-argument super()) becomes the torch
        class, a captured helper function its translation; the same tuple when nothing changes."""
        if not fn.__closure__:
            return fn.__closure__
        cells = []
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                value = cell.cell_contents
            except ValueError:  # not yet bound
                cells.append(cell)
                continue
            new = owner if var == "__class__" and owner is not None else self.value(value, var, where)
            cells.append(cell if new is value else types.CellType(new))
        return fn.__closure__ if all(a is b for a, b in zip(cells, fn.__closure__)) else tuple(cells)

    def value(self, value, name: str, where: str):
        """What a global `name` of tinycnn code means in torch."""
        torch = self.torch
        if isinstance(value, types.ModuleType):
            if value.__name__ in self.modules:
                return self.modules[value.__name__]
            if value.__name__.startswith("tinycnn"):
                raise TranslationError(f"to_torch: cannot translate {where}: it uses the module {value.__name__}, "
                                       "which has no PyTorch counterpart")
            return value
        if value is Tensor:
            return torch.Tensor
        if value is nn.Parameter:
            return torch.nn.Parameter
        if isinstance(value, type) and issubclass(value, Function):
            raise TranslationError(f"to_torch: cannot translate {where}: it uses {value.__name__}, a tinycnn "
                                   "autograd Function; expected tinycnn ops or layers that PyTorch has")
        if isinstance(value, type) and value.__module__.startswith("tinycnn.nn"):
            return getattr(self.modules["tinycnn.nn"], value.__name__, value)
        if isinstance(value, types.FunctionType) and value.__module__.startswith("tinycnn"):
            return self._library_function(value, name, where)
        if isinstance(value, types.FunctionType):
            return self.function(value, where)
        return value

    def _library_function(self, fn, name: str, where: str):
        if not _is_library(fn.__module__):
            return self.function(fn, where)  # a model file's helper: translated in turn
        for space in (self.torch.nn.functional, self.torch) if fn.__module__.startswith("tinycnn.nn") \
                else (self.torch, self.torch.nn.functional):
            if hasattr(space, fn.__name__):
                return getattr(space, fn.__name__)
        raise TranslationError(f"to_torch: cannot translate {where}: it calls tinycnn's {fn.__module__}.{fn.__name__} "
                               f"(as {name!r}), which has no torch or torch.nn.functional counterpart of that name")


def _is_library(module_name: str) -> bool:
    """tinycnn's ops and layers (mapped to torch's by name), not its model files (translated)."""
    return module_name.startswith("tinycnn") and not module_name.startswith("tinycnn.models")


def _global_names(code) -> set:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
