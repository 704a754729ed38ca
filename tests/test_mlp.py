"""The pieces working together: a tiny MLP (Linear + ReLU, cross-entropy,
SGD or Adam) learns XOR and the two-spirals problem."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import nn, optim


def _fit(model, opt, x, y, steps, scheduler=None):
    """Full-batch training; returns the final training accuracy."""
    x, y = tinycnn.tensor(x), tinycnn.tensor(y)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
    with tinycnn.no_grad():
        return (model(x).argmax(dim=1).data == y.data).mean()


def spirals(n_per_class: int, turns: float = 1.5, noise: float = 0.1, seed: int = 0):
    """Two interleaved spirals in 2-D: x (2n, 2) float32, y (2n,) int64 in {0, 1}."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n_per_class)) * turns * 2 * np.pi  # angle
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (turns * 2 * np.pi)  # radius grows with angle
    x = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * n_per_class, 2)) / (turns * 2)
    y = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)]).astype(np.int64)
    return x.astype(np.float32), y


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.05),
])
def test_xor(make_opt):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    assert _fit(model, make_opt(model.parameters()), x, y, steps=300) == 1.0


def test_spirals():
    x, y = spirals(150)
    # a linear classifier cannot separate the spirals: the network must learn a curved boundary
    linear = nn.Linear(2, 2)
    assert _fit(linear, optim.Adam(linear.parameters(), lr=0.05), x, y, steps=200) < 0.75
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = optim.Adam(model.parameters())
    schedule = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=400)
    accuracy = _fit(model, opt, x, y, steps=400, scheduler=schedule)
    # 12 seeds tried: 0.993 to 1.0 (plain Adam at a constant lr stalls near 0.95 for some seeds)
    assert accuracy >= 0.98, f"spirals: training accuracy {accuracy:.3f} after 400 Adam + OneCycleLR steps"
