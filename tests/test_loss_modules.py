"""The loss modules of tinycnn.nn (PyTorch's names, options and defaults) against
torch.nn's. The functions behind them are gradient-checked and compared with PyTorch
case by case in op_cases.py (test_ops.py, test_ops_torch.py)."""
import numpy as np
import pytest

import tinycnn
from tinycnn import nn

rng = np.random.default_rng(0)
LOGITS, LABELS = rng.standard_normal((6, 4)), np.array([0, 3, -100, 1, 1, 2])
VALUES, PROBS = rng.standard_normal((3, 4)), rng.uniform(0.1, 0.9, (3, 4))
WEIGHT = rng.uniform(0.5, 2.0, 4)

MODULES = [  # (name, kwargs, input, target); T: build the kwargs for torch
    ("CrossEntropyLoss", {}, LOGITS, np.abs(LABELS) % 4),
    ("CrossEntropyLoss", {"weight": WEIGHT, "label_smoothing": 0.1}, LOGITS, LABELS),
    ("CrossEntropyLoss", {"reduction": "none", "ignore_index": 1}, LOGITS, np.abs(LABELS) % 4),
    ("NLLLoss", {"weight": WEIGHT}, LOGITS, LABELS),
    ("MSELoss", {"reduction": "sum"}, VALUES, PROBS),
    ("L1Loss", {}, VALUES, PROBS),
    ("BCEWithLogitsLoss", {"pos_weight": WEIGHT}, VALUES, PROBS),
    ("BCELoss", {"weight": PROBS}, PROBS[::-1].copy(), PROBS),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, kwargs, x, target", MODULES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MODULES)])
def test_loss_module_matches_torch(name, kwargs, x, target):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, name)(**kwargs)
    theirs = getattr(torch.nn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                         for k, v in kwargs.items()})
    tx, ttx = tinycnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss, tloss = ours(tx, tinycnn.tensor(target)), theirs(ttx, torch.tensor(target))
    np.testing.assert_allclose(loss.numpy(), tloss.detach().numpy(), rtol=1e-12, atol=1e-14)
    loss.sum().backward()
    tloss.sum().backward()
    np.testing.assert_allclose(tx.grad.numpy(), ttx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_loss_module_defaults_are_pytorch_s():
    ce = nn.CrossEntropyLoss()
    assert (ce.weight, ce.ignore_index, ce.reduction, ce.label_smoothing) == (None, -100, "mean", 0.0)
    assert "weight" not in ce.state_dict()
    assert "weight" in nn.CrossEntropyLoss(weight=np.ones(3)).state_dict()  # a buffer, as in PyTorch


def test_loss_bad_input_names_expected_and_received():
    with pytest.raises(ValueError, match="reduction must be one of .* got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\), one per class, got \(3,\)"):
        nn.CrossEntropyLoss(weight=np.ones(3))(tinycnn.tensor(LOGITS), np.zeros(6, np.int64))
    with pytest.raises(IndexError, match=r"\[0, 3\] \(or be ignore_index=-100\), got min -1"):
        nn.CrossEntropyLoss()(tinycnn.tensor(LOGITS), np.array([-1, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"input shape \(3, 4\) and target shape \(4,\) differ"):
        nn.L1Loss()(tinycnn.tensor(VALUES), np.zeros(4))
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\], got min"):
        nn.BCELoss()(tinycnn.tensor(VALUES), PROBS)
