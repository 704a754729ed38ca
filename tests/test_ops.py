"""Every differentiable op, gradient-checked in float64 against central
differences (tinycnn.gradcheck): the full Jacobian on the tiny shapes of
op_cases.CASES, and random-direction checks on larger inputs.

    pytest tests/test_ops.py --collect-only -q   # lists the checked ops
"""
import numpy as np
import pytest
from op_cases import CASES, REQUIRED_OPS, normal, tensors

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import gradcheck


def test_every_required_op_has_a_case():
    assert REQUIRED_OPS <= {c.op for c in CASES}, REQUIRED_OPS - {c.op for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradcheck_full(case):
    assert gradcheck(case.fn, tensors(case))


LARGE = [
    ("matmul", lambda a, b: a @ b, (normal(8, 16, 12), normal(12, 10))),
    ("mul-broadcast", lambda a, b: a * b, (normal(6, 5, 8), normal(5, 1))),
    ("softmax", lambda a: F.softmax(a, 1), (normal(16, 10),)),
    ("log_softmax", lambda a: F.log_softmax(a, 1), (normal(16, 10) * 5,)),
    ("var", lambda a: a.var((0, 2)), (normal(8, 6, 7),)),
    ("getitem", lambda a: a[np.arange(40) % 7, 1:], (normal(7, 9),)),
    ("cross_entropy", lambda x: F.cross_entropy(x, np.arange(32) % 10, label_smoothing=0.1), (normal(32, 10),)),
    ("chain", lambda a, b: ((a @ b).tanh() * 2 - 1).sigmoid().mean(0), (normal(20, 15), normal(15, 9))),
]


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in LARGE], ids=[c[0] for c in LARGE])
def test_gradcheck_random_directions(fn, inputs):
    xs = [tinycnn.Tensor(x, requires_grad=True) for x in inputs]
    assert gradcheck(fn, xs, mode="random", n_directions=4)


def test_cross_entropy_stable_for_huge_logits():
    x = tinycnn.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], dtype=np.float64, requires_grad=True)
    t = np.array([0, 0])
    loss = F.cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 1e4])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [-1, 1, 0]], atol=1e-12)
    for dtype in (np.float32, np.float64):
        x = tinycnn.tensor([[1e4, -1e4, 3.0]], dtype=dtype, requires_grad=True)
        loss = F.cross_entropy(x, np.array([2]), label_smoothing=0.1)
        loss.backward()
        assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()


def test_log_softmax_and_softmax_stable_for_huge_logits():
    x = tinycnn.tensor([[1e4, 0.0, -1e4]], dtype=np.float32)
    np.testing.assert_allclose(F.softmax(x, 1).numpy(), [[1, 0, 0]])
    np.testing.assert_allclose(F.log_softmax(x, 1).numpy(), [[0, -1e4, -2e4]])
    np.testing.assert_allclose(F.sigmoid(tinycnn.tensor([-1e4, 1e4])).numpy(), [0, 1])
