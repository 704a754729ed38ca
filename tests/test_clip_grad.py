"""nn.utils.clip_grad_norm_ / clip_grad_value_ against torch.nn.utils."""
import math

import numpy as np
import pytest

import tinycnn
from tinycnn import nn


def _with_grads(seed=0):
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(rng.standard_normal(s)) for s in [(3, 4), (4,), (2, 2, 2)]]
    for p in params:
        p.grad = tinycnn.tensor(rng.standard_normal(p.shape) * 3)
    return params


@pytest.mark.torch
@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (0.3, math.inf), (2.0, 3)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = pytest.importorskip("torch")
    ours = _with_grads()
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in ours]
    for t, p in zip(theirs, ours):
        t.grad = torch.tensor(p.grad.numpy())
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    ours = _with_grads()
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in ours]
    for t, p in zip(theirs, ours):
        t.grad = torch.tensor(p.grad.numpy())
    nn.utils.clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_clip_grad_norm_scales_to_max_norm_and_skips_missing_grads():
    params = _with_grads() + [nn.Parameter(np.ones(2))]  # no grad: skipped, as in PyTorch
    before = nn.utils.clip_grad_norm_(params, 1.0)
    after = np.sqrt(sum((p.grad.numpy() ** 2).sum() for p in params if p.grad is not None))
    assert before.item() > 1.0 and after == pytest.approx(1.0, rel=1e-5)
    assert nn.utils.clip_grad_norm_(nn.Linear(2, 2).parameters(), 1.0).item() == 0.0


def test_clip_grad_bad_input_names_expected_and_received():
    with pytest.raises(ValueError, match="max_norm must be a non-negative number, got -1.0"):
        nn.utils.clip_grad_norm_(_with_grads(), -1.0)
    with pytest.raises(ValueError, match="clip_value must be a non-negative number, got -2"):
        nn.utils.clip_grad_value_(_with_grads(), -2)
    params = _with_grads()
    params[0].grad.data[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="is nan, expected a finite number"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
