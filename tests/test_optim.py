"""Optimisers: PyTorch's update rules (trajectories compared in float64),
parameter groups, zero_grad and state_dict round trips."""
import numpy as np
import pytest

import tinycnn
from tinycnn import optim
from tinycnn.nn import Parameter

SHAPES = [(3, 4), (4,), (2, 1, 3)]


def _params(seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal(s) for s in SHAPES]


def _grads(step, seed=1):
    r = np.random.default_rng(seed + 1000 * step)
    return [r.standard_normal(s) for s in SHAPES]


def _run_tinycnn(make, steps=10, groups=None):
    ps = [Parameter(a.copy()) for a in _params()]
    opt = make(groups(ps) if groups else ps)
    for t in range(steps):
        for p, g in zip(ps, _grads(t)):
            p.grad = tinycnn.tensor(g)
        opt.step()
    return [p.data for p in ps]


def _run_torch(torch, make, steps=10, groups=None):
    ps = [torch.tensor(a.copy(), requires_grad=True) for a in _params()]
    opt = make(groups(ps) if groups else ps)
    for t in range(steps):
        for p, g in zip(ps, _grads(t)):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in ps]


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)),
    ("Adam", dict()),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", CASES)
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours = _run_tinycnn(lambda ps: getattr(optim, name)(ps, **kwargs))
    ref = _run_torch(torch, lambda ps: getattr(torch.optim, name)(ps, **kwargs))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert not np.allclose(ours[0], _params()[0])  # the parameters did move


@pytest.mark.torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_param_groups_match_torch(name):
    """No weight decay and a smaller lr on the second group (e.g. biases)."""
    torch = pytest.importorskip("torch")

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:], "weight_decay": 0.0, "lr": 0.01}]

    kwargs = dict(lr=0.05, weight_decay=0.1) | (dict(momentum=0.9) if name == "SGD" else {})
    ours = _run_tinycnn(lambda g: getattr(optim, name)(g, **kwargs), groups=groups)
    ref = _run_torch(torch, lambda g: getattr(torch.optim, name)(g, **kwargs), groups=groups)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_sgd_one_step_by_hand():
    p = Parameter(np.array([1.0, -2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5)
    p.grad = tinycnn.tensor(np.array([0.2, 0.4]))
    opt.step()  # g = grad + 0.5 p = [0.7, -0.6]; buf = g; p -= 0.1 g
    np.testing.assert_allclose(p.data, [0.93, -1.94])
    p.grad = tinycnn.tensor(np.array([0.0, 0.0]))
    opt.step()  # g = 0.5 p; buf = 0.9 buf + g
    buf = 0.9 * np.array([0.7, -0.6]) + 0.5 * np.array([0.93, -1.94])
    np.testing.assert_allclose(p.data, np.array([0.93, -1.94]) - 0.1 * buf)


def test_float32_parameters_stay_float32_and_in_place():
    p = Parameter(np.ones(3, dtype=np.float32))
    data = p.data
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p]), optim.AdamW([p])):
        p.grad = tinycnn.ones(3)
        opt.step()
        assert p.data.dtype == np.float32 and p.data is data


def test_params_without_grad_are_skipped():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = tinycnn.tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert b not in opt.state and opt.state[a]["step"] == 1


def test_zero_grad():
    p = Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1)
    p.grad = tinycnn.tensor(np.ones(2))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, 0)
    opt.zero_grad()
    assert p.grad is None


def test_closure_is_called_and_its_loss_returned():
    p = Parameter(np.array([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and p.data[0] == pytest.approx(3.0 - 0.25 * 6.0)


def test_add_param_group_and_defaults():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [a]})


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: optim.SGD(p, lr=-1), "invalid lr"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "betas"),
        (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
        (lambda p: optim.SGD([np.ones(2)], lr=0.1), "only optimize Tensors"),
        (lambda p: optim.SGD(p[0], lr=0.1), "single Tensor"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make([Parameter(np.ones(2))])


def test_non_leaf_is_refused():
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.AdamW(ps, lr=0.01)])
def test_state_dict_round_trip_through_save(tmp_path, make):
    """Resuming from a saved optimizer continues exactly the same trajectory."""
    ps = [Parameter(a.copy()) for a in _params()]
    opt = make(ps)
    for t in range(3):
        for p, g in zip(ps, _grads(t)):
            p.grad = tinycnn.tensor(g)
        opt.step()
    tinycnn.save({"opt": opt.state_dict(), "params": [p.data for p in ps]}, tmp_path / "ckpt.npz")
    for t in range(3, 6):
        for p, g in zip(ps, _grads(t)):
            p.grad = tinycnn.tensor(g)
        opt.step()

    ckpt = tinycnn.load(tmp_path / "ckpt.npz")
    ps2 = [Parameter(a) for a in ckpt["params"]]
    opt2 = make(ps2)
    opt2.load_state_dict(ckpt["opt"])
    for t in range(3, 6):
        for p, g in zip(ps2, _grads(t)):
            p.grad = tinycnn.tensor(g)
        opt2.step()
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_is_a_copy_with_indices():
    p = Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = tinycnn.tensor(np.ones(2))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0]
    sd["state"][0]["momentum_buffer"][:] = 99
    assert opt.state[p]["momentum_buffer"][0] == 1


def test_load_state_dict_mismatch_is_named():
    opt = optim.SGD([Parameter(np.ones(2))], lr=0.1)
    other = optim.SGD([Parameter(np.ones(2)), Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters in the saved state, 1 in this"):
        opt.load_state_dict(other.state_dict())
