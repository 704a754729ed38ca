"""The Module API: registration, traversal order and names (as PyTorch's),
state_dict / load_state_dict, train/eval, buffers, dtype casts, containers."""
from collections import OrderedDict

import numpy as np
import pytest

import tinycnn
from tinycnn import nn


def make_net(lib):
    """A small tree of every container kind, built with tinycnn or with torch (`lib`)."""
    nnl = lib.nn

    class Block(nnl.Module):
        def __init__(self, c):
            super().__init__()
            self.fc = nnl.Linear(c, c)
            self.act = nnl.ReLU()
            self.drop = nnl.Dropout(0.1)

    class Net(nnl.Module):
        def __init__(self):
            super().__init__()
            self.stem = nnl.Linear(3, 4, bias=False)
            self.blocks = nnl.Sequential(Block(4), Block(4))
            self.heads = nnl.ModuleDict({"a": nnl.Linear(4, 2), "b": nnl.Identity()})
            self.extra = nnl.ModuleList([nnl.Linear(4, 4), nnl.Sequential(nnl.Flatten(), nnl.Linear(4, 1))])

    return Net()


EXPECTED_PARAMS = ["stem.weight", "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight", "blocks.1.fc.bias",
                   "heads.a.weight", "heads.a.bias", "extra.0.weight", "extra.0.bias", "extra.1.1.weight",
                   "extra.1.1.bias"]


def test_named_parameters_order_and_names():
    net = make_net(tinycnn)
    assert [n for n, _ in net.named_parameters()] == EXPECTED_PARAMS
    assert list(net.state_dict()) == EXPECTED_PARAMS
    assert net.stem.weight.shape == (4, 3) and net.stem.bias is None
    assert len(list(net.parameters())) == len(EXPECTED_PARAMS)
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.blocks[0].named_parameters(prefix="x")] == ["x.fc.weight", "x.fc.bias"]


@pytest.mark.torch
def test_traversal_matches_torch():
    torch = pytest.importorskip("torch")
    ours, ref = make_net(tinycnn), make_net(torch)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in ref.named_children()]
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == ref_shapes


@pytest.mark.torch
def test_load_torch_state_dict_and_same_output():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    ours = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(ours(tinycnn.tensor(x)).data, ref(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_shared_module_is_listed_once_but_saved_under_both_names():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]  # as torch: deduplicated
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as torch: both paths
    net.load_state_dict(net.state_dict())


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)
        self.register_buffer("running_mean", np.zeros(3, dtype=np.float32))
        self.register_buffer("count", np.array(0, dtype=np.int64))
        self.register_buffer("scratch", np.ones(3, dtype=np.float32), persistent=False)
        self.register_buffer("unused", None)


def test_buffers():
    m = WithBuffers()
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "count", "scratch"]
    # own entries before the children's, as torch; non-persistent buffers excluded
    assert list(m.state_dict()) == ["running_mean", "count", "fc.weight", "fc.bias"]
    m.running_mean = np.full(3, 2.0, dtype=np.float32)  # re-assigning keeps it registered
    m.count = m.count + 1  # a NumPy scalar becomes a 0-d array
    assert isinstance(m.count, np.ndarray) and m.state_dict()["count"] == 1
    np.testing.assert_array_equal(m.state_dict()["running_mean"], 2.0)
    with pytest.raises(TypeError, match="buffer 'running_mean' must be a NumPy array or None, got Tensor"):
        m.running_mean = tinycnn.zeros(3)
    assert not any(isinstance(b, tinycnn.Tensor) for b in m.buffers())


def test_state_dict_is_a_copy():
    m = WithBuffers()
    sd = m.state_dict()
    sd["fc.weight"][:] = 7
    sd["running_mean"][:] = 7
    assert not (m.fc.weight.data == 7).any() and not (m.running_mean == 7).any()


def test_load_state_dict_round_trip_keeps_parameter_objects():
    src, dst = WithBuffers(), WithBuffers()
    src.running_mean[:] = 5
    weight = dst.fc.weight
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst.fc.weight is weight  # an optimizer holding it still sees the loaded values
    np.testing.assert_array_equal(dst.fc.weight.data, src.fc.weight.data)
    np.testing.assert_array_equal(dst.running_mean, 5)
    assert dst.count.dtype == np.int64


def test_load_state_dict_names_every_bad_key():
    m = WithBuffers()
    sd = m.state_dict()
    del sd["fc.bias"]
    sd["fc.weight"] = np.zeros((2, 3))
    sd["extra.weight"] = np.zeros(1)
    before = m.fc.weight.data.copy()
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert "WithBuffers" in msg
    assert "missing keys: ['fc.bias']" in msg
    assert "unexpected keys: ['extra.weight']" in msg
    assert "fc.weight: expected shape (3, 2), got (2, 3)" in msg
    np.testing.assert_array_equal(m.fc.weight.data, before)  # nothing loaded


def test_load_state_dict_non_strict():
    m = WithBuffers()
    sd = {"fc.weight": np.ones((3, 2)), "other": np.zeros(2)}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["running_mean", "count", "fc.bias"] and unexpected == ["other"]
    np.testing.assert_array_equal(m.fc.weight.data, 1)
    assert m.fc.weight.dtype == np.float32  # cast to the parameter's dtype
    with pytest.raises(RuntimeError, match="size mismatch"):
        m.load_state_dict({"fc.weight": np.ones((2, 2))}, strict=False)


def test_train_eval_propagates():
    net = make_net(tinycnn)
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.blocks.train()
    assert net.blocks[1].drop.training and not net.training and not net.heads.training
    with pytest.raises(ValueError, match="mode must be a bool"):
        net.train("no")


def test_train_calls_overridden_train_of_children():
    class FrozenBN(nn.Module):
        def train(self, mode=True):
            return super().train(False)  # always evaluation mode

    net = nn.Sequential(nn.Linear(2, 2), FrozenBN())
    net.train()
    assert net[0].training and not net[1].training


def test_double_and_float_cast_parameters_and_float_buffers():
    m = WithBuffers()
    m.fc.weight.grad = tinycnn.zeros(3, 2)
    assert m.double() is m
    assert m.fc.weight.dtype == np.float64 and m.running_mean.dtype == np.float64
    assert m._buffers["running_mean"] is m.running_mean
    assert m.count.dtype == np.int64  # integer buffers untouched
    assert m.fc.weight.grad is None
    out = m.fc(tinycnn.tensor(np.ones((1, 2))))
    assert out.dtype == np.float64
    m.float()
    assert m.fc.bias.dtype == np.float32 and m.state_dict()["running_mean"].dtype == np.float32


def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(np.ones(2))
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'w'"):
        m.w = tinycnn.ones(2)
    m.w = None  # allowed: an absent parameter, as bias=False
    assert "w" in m._parameters and list(m.parameters()) == []
    m.child = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="cannot assign int as child module 'child'"):
        m.child = 3
    del m.child
    assert list(m.children()) == []
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", np.zeros(1))
    with pytest.raises(KeyError, match="attribute 'train' already exists"):
        m.add_module("train", nn.Identity())
    with pytest.raises(TypeError, match="must be a Parameter or None"):
        m.register_parameter("v", tinycnn.ones(2))

    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="call super\\(\\).__init__\\(\\)"):
        Forgot()


def test_zero_grad_and_requires_grad():
    m = nn.Linear(2, 2)
    m(tinycnn.ones(1, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert (m.weight.grad.data == 0).all()
    m.zero_grad()
    assert m.weight.grad is None
    m.requires_grad_(False)
    assert not m(tinycnn.ones(1, 2)).requires_grad


def test_forward_hook_and_apply():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seen = []
    handle = m[0].register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    m(tinycnn.ones(4, 2))
    handle.remove()
    m(tinycnn.ones(4, 2))
    assert seen == [(4, 3)]
    visited = []
    m.apply(lambda mod: visited.append(type(mod).__name__))
    assert visited == ["Linear", "ReLU", "Sequential"]  # children first, as torch


def test_repr():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(inplace=True), nn.Dropout(0.2))
    assert repr(m) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU(inplace=True)\n  (2): Dropout(p=0.2, inplace=False)\n)"
    )


# ------------------------------------------------------------ containers
def test_sequential_indexing_and_slicing():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and list(s) == [a, b, c]
    assert s[0] is a and s[-1] is c
    head = s[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    x = tinycnn.ones(5, 2)
    np.testing.assert_array_equal(s(x).data, c(b(a(x))).data)
    with pytest.raises(IndexError, match="index 3 is out of range for length 3"):
        s[3]
    s[1] = nn.Tanh()
    assert isinstance(s[1], nn.Tanh) and list(dict(s.named_children())) == ["0", "1", "2"]
    del s[0]
    assert list(dict(s.named_children())) == ["0", "1"] and s[1] is c  # renumbered, as torch
    assert [k for k in s.state_dict()] == ["1.weight", "1.bias"]
    s.append(nn.Sigmoid())
    assert len(s) == 3


def test_sequential_from_ordered_dict():
    s = nn.Sequential(OrderedDict([("conv", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(s.state_dict()) == ["conv.weight", "conv.bias"] and isinstance(s[1], nn.ReLU)


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
    assert list(layers.state_dict())[:2] == ["1.weight", "1.bias"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers.state_dict())[:2] == ["0.weight", "0.bias"]
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        layers(tinycnn.ones(1, 2))


def test_module_dict():
    d = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.ReLU()})
    assert list(d) == ["b", "a"] and "a" in d and len(d) == 2
    d["c"] = nn.Tanh()
    assert list(d.keys()) == ["b", "a", "c"]
    assert isinstance(d.pop("a"), nn.ReLU) and list(d) == ["b", "c"]
    with pytest.raises(KeyError, match="no module named 'zz'"):
        d["zz"]
    d.clear()
    assert len(d) == 0 and list(d.parameters()) == []


def test_slicing_a_sequential_subclass():
    class ConvBNAct(nn.Sequential):  # as torchvision's Conv2dNormActivation
        def __init__(self, c):
            super().__init__(nn.Linear(c, c), nn.ReLU())

    block = ConvBNAct(3)
    head = block[:1]
    assert type(head) is nn.Sequential and head[0] is block[0]
