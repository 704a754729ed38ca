"""Training checkpoints: a full round trip and clear errors for bad files."""
import numpy as np
import pytest

import tinycnn
from tinycnn.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from tinycnn.optim import SGD
from tinycnn.optim.lr_scheduler import OneCycleLR


def _state(seed: int):
    tinycnn.manual_seed(seed)
    model = tinycnn.nn.Sequential(tinycnn.nn.Linear(4, 3), tinycnn.nn.BatchNorm1d(3))
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    scheduler = OneCycleLR(optimizer, 0.1, total_steps=10)
    return model, optimizer, scheduler


def _one_step(model, optimizer, scheduler):
    x = tinycnn.randn(5, 4)
    model(x).sum().backward()
    optimizer.step()
    scheduler.step()


def test_round_trip_restores_everything(tmp_path):
    model, optimizer, scheduler = _state(0)
    _one_step(model, optimizer, scheduler)
    history = [{"epoch": 1, "test_acc": 0.5}]
    save_checkpoint(tmp_path / "c.npz", model, optimizer, scheduler, 1, history, {"model": "x", "lr": 0.1})
    expected_draw = tinycnn.random.rng().random(3)  # what the RNG gives after the checkpoint

    model2, optimizer2, scheduler2 = _state(7)  # different weights and RNG state
    checkpoint = load_checkpoint(tmp_path / "c.npz")
    assert restore(checkpoint, model2, optimizer2, scheduler2) == 1
    assert checkpoint["history"] == history and checkpoint["config"] == {"model": "x", "lr": 0.1}
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=k)
    np.testing.assert_array_equal(tinycnn.random.rng().random(3), expected_draw)
    assert optimizer2.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert scheduler2.last_epoch == scheduler.last_epoch
    # both continue identically
    tinycnn.manual_seed(3)
    _one_step(model, optimizer, scheduler)
    tinycnn.manual_seed(3)
    _one_step(model2, optimizer2, scheduler2)
    np.testing.assert_array_equal(model[0].weight.data, model2[0].weight.data)


def test_truncated_checkpoint(tmp_path):
    model, optimizer, scheduler = _state(0)
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, optimizer, scheduler, 1, [], {})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*c\.npz"):
        load_checkpoint(path)


def test_garbage_and_missing_checkpoints(tmp_path):
    (tmp_path / "g.npz").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*g\.npz"):
        load_checkpoint(tmp_path / "g.npz")
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.npz")


def test_a_saved_state_dict_is_not_a_training_checkpoint(tmp_path):
    model, _, _ = _state(0)
    tinycnn.save(model.state_dict(), tmp_path / "w.npz")
    with pytest.raises(CheckpointError, match="not a tinycnn training checkpoint: it has no model, optimizer"):
        load_checkpoint(tmp_path / "w.npz")
