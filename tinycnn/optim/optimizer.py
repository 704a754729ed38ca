"""`Optimizer`: the base class that holds parameter groups and per-parameter state."""
from __future__ import annotations

import numpy as np

from tinycnn.tensor import Tensor


class Optimizer:
    """Updates Parameters from their `.grad`.

    params: an iterable of Parameters, or of dicts ("parameter groups") each
    with a "params" list and its own options, e.g.
        SGD([{"params": weights}, {"params": biases, "weight_decay": 0}], lr=0.1, weight_decay=5e-4)
    Options missing from a group take the optimizer's defaults. A scheduler
    changes `group["lr"]`. `self.state[p]` holds the per-parameter buffers
    (momentum, Adam's moments) as NumPy arrays.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Parameters or dicts, got a single Tensor"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict):
        """Add a group (a dict with "params" and optional options)."""
        group = dict(param_group)
        params = group.get("params")
        params = [params] if isinstance(params, Tensor) else list(params or [])
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf Tensor (one computed by an op)")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear more than once in the parameter groups")
        group["params"] = params
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient. closure: an
        optional function that recomputes and returns the loss."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.data, group, self.state.setdefault(p, {}))
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, group: dict, state: dict):
        """Update p.data in place from grad (subclasses: the rule itself)."""
        raise NotImplementedError

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """{"state": {index: {name: array or number}}, "param_groups": [options
        with "params" as indices]}, as in PyTorch; arrays are copies, so the
        result can be given to tinycnn.save."""
        index, groups = {}, []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            groups.append({**group, "params": [index[id(p)] for p in group["params"]]})
        state = {
            index[id(p)]: {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        """Restore what state_dict() returned (for the same parameters, in the same order)."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved state has {len(saved)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        for i, (s, g) in enumerate(zip(saved, self.param_groups)):
            if len(s["params"]) != len(g["params"]):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: parameter group {i} has {len(s['params'])} "
                    f"parameters in the saved state, {len(g['params'])} in this optimizer"
                )
        params = {i: p for s, g in zip(saved, self.param_groups) for i, p in zip(s["params"], g["params"])}
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {k: _cast_state(v, p, k, type(self).__name__) for k, v in s.items()}
        self.param_groups = [{**s, "params": g["params"]} for s, g in zip(saved, self.param_groups)]

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _cast_state(value, p: Tensor, name: str, owner: str):
    """A saved state entry for parameter p: arrays are copied to p's dtype and checked against its shape."""
    if not isinstance(value, np.ndarray):
        return value
    if value.shape != p.shape and value.ndim != 0:
        raise ValueError(f"{owner}.load_state_dict: state '{name}' has shape {value.shape}, its parameter {p.shape}")
    return value.astype(p.dtype) if value.dtype.kind == "f" else value.copy()
