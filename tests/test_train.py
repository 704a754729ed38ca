"""The training loop: learning on a small learnable archive, metrics files, bit-for-bit resume,
NaN handling, the schedules and the weight-decay groups."""
import json
from pathlib import Path

import numpy as np
import pytest
from cifar_fake import register_tiny_model, write_archive

import tinycnn
from tinycnn.checkpoint import CheckpointError, load_checkpoint
from tinycnn.data import cifar
from tinycnn.models import create
from tinycnn.train import TrainConfig, TrainingDiverged, fit, make_optimizer, make_scheduler, param_groups

REAL_ARCHIVE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar-10-python.tar.gz"


@pytest.fixture
def learnable(tmp_path, monkeypatch):
    """A 520/100-image archive whose classes differ in colour; caches go to tmp_path."""
    monkeypatch.setattr(cifar, "PROJECT_DATA_DIR", tmp_path / "project_data")
    path = tmp_path / "cifar-10-python.tar.gz"
    write_archive(path, per_batch=104, n_test=100, learnable=True)
    return path


def tiny(**kw) -> TrainConfig:
    """A small run of the tiny test network (the default model is used where it matters)."""
    return TrainConfig(**{"model": register_tiny_model(), "epochs": 2, "train_size": 512, "batch_size": 64,
                          "lr": 0.2, "warmup_epochs": 0.5, "eval_batch_size": 100, **kw})


def test_two_epochs_learn_and_write_the_run_folder(learnable, tmp_path):
    out = tmp_path / "run"
    history = fit(tiny(model="resnet9_fast"), out, data=learnable, progress=False)  # 512 images, 2 epochs
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["test_acc"] > 0.5  # chance is 0.1
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # the lr of each epoch's last step: the one-cycle peak is behind, the run ends at lr / 10 / 100
    assert 0.2 > history[0]["lr"] > history[1]["lr"] == pytest.approx(0.2 / 10 / 100)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "config.json", "curves.png",
                                                      "metrics.csv", "metrics.json"]
    assert json.loads((out / "metrics.json").read_text())[1]["test_acc"] == history[1]["test_acc"]
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss,train_acc") and len(rows) == 3
    assert json.loads((out / "config.json").read_text())["model"] == "resnet9_fast"
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def _weights(out) -> dict:
    return load_checkpoint(Path(out) / "checkpoint.npz")


def test_resume_gives_the_same_weights_bit_for_bit(learnable, tmp_path):
    config = tiny(epochs=2, train_size=128)
    fit(config, tmp_path / "whole", data=learnable, progress=False)

    class Killed(Exception):
        pass

    def kill_after_first_epoch(epoch, metrics):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        fit(config, tmp_path / "parts", data=learnable, progress=False, on_epoch_end=kill_after_first_epoch)
    tinycnn.manual_seed(12345)  # whatever happened to the global RNG meanwhile must not matter
    history = fit(config, tmp_path / "parts", data=learnable, resume=True, progress=False)
    assert [h["epoch"] for h in history] == [1, 2]
    whole, parts = _weights(tmp_path / "whole"), _weights(tmp_path / "parts")
    assert whole["model"].keys() == parts["model"].keys()
    for key in whole["model"]:
        np.testing.assert_array_equal(whole["model"][key], parts["model"][key], err_msg=key)
    for index, state in whole["optimizer"]["state"].items():
        for name, value in state.items():
            np.testing.assert_array_equal(value, parts["optimizer"]["state"][index][name])
    assert whole["rng"] == parts["rng"]
    assert [h["test_acc"] for h in whole["history"]] == [h["test_acc"] for h in parts["history"]]


def test_same_seed_same_run_other_seed_other_run(learnable, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        fit(tiny(epochs=1, train_size=128, seed=seed), tmp_path / name, data=learnable, progress=False)
    a, b, c = (_weights(tmp_path / n)["model"]["0.weight"] for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_resume_refuses_other_settings_and_existing_runs(learnable, tmp_path):
    fit(tiny(epochs=1, train_size=128), tmp_path / "run", data=learnable, progress=False)
    with pytest.raises(CheckpointError, match=r"other settings \(lr: saved 0.2, now 0.1\)"):
        fit(tiny(epochs=1, train_size=128, lr=0.1), tmp_path / "run", data=learnable, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="already holds a run .* --resume"):
        fit(tiny(epochs=1, train_size=128), tmp_path / "run", data=learnable, progress=False)
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*nowhere.*checkpoint.npz"):
        fit(tiny(), tmp_path / "nowhere", data=learnable, resume=True, progress=False)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(learnable, tmp_path, monkeypatch):
    from tinycnn import train

    calls = {"n": 0}
    real_loss = train.F.cross_entropy

    def loss_that_explodes(logits, target, **kw):
        loss = real_loss(logits, target, **kw)
        if "label_smoothing" in kw:  # a training step (evaluation calls it without)
            calls["n"] += 1
            if calls["n"] == 8 + 3:  # epoch 2, step 3 (8 steps per epoch)
                return loss * float("nan")
        return loss

    monkeypatch.setattr(train.F, "cross_entropy", loss_that_explodes)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at epoch 2, step 3/8"):
        fit(tiny(epochs=3), out, data=learnable, progress=False)
    checkpoint = load_checkpoint(out / "checkpoint.npz")
    assert checkpoint["epoch"] == 1 and len(checkpoint["history"]) == 1


def test_weight_decay_only_on_conv_and_linear_weights():
    model = create("resnet9_fast")
    decay, no_decay = param_groups(model)
    assert all(p.ndim == 4 for p in decay["params"][:-1]) and decay["params"][-1].ndim == 2  # convs, then fc
    assert all(p.ndim == 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    optimizer = make_optimizer(TrainConfig(), model)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [5e-4, 0.0]
    assert optimizer.param_groups[0]["nesterov"] is True


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "multistep"])
def test_schedules(schedule):
    model = tinycnn.nn.Linear(2, 2)
    config = TrainConfig(schedule=schedule, epochs=4, lr=0.4, warmup_epochs=1, milestones=(20, 30))
    optimizer = make_optimizer(config, model)
    scheduler = make_scheduler(config, optimizer, steps_per_epoch=10)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(39):  # the lr of each of the 40 steps of the run
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    if schedule == "multistep":
        assert lrs[0] == pytest.approx(0.4) and lrs[25] == pytest.approx(0.04) and lrs[35] == pytest.approx(0.004)
    else:  # warm-up to the peak after the first epoch (10 steps), then down to (almost) zero
        assert lrs[0] < 0.1 and max(lrs) == pytest.approx(0.4) and int(np.argmax(lrs)) in (9, 10) and lrs[-1] < 0.01


@pytest.mark.slow
@pytest.mark.skipif(not REAL_ARCHIVE.exists(), reason="the workplace's CIFAR-10 copy is not here")
def test_two_epochs_on_512_real_images_beat_chance(tmp_path):
    history = fit(tiny(model="resnet9_fast", eval_batch_size=1000), tmp_path / "run", data=REAL_ARCHIVE,
                  progress=False)
    assert history[-1]["test_acc"] > 0.2  # 10,000 test images; chance is 0.1


def test_evaluate_with_flip_tta_averages_the_mirror_images_logits(learnable):
    from tinycnn.data import DataLoader, EvalTransform, load_cifar10
    from tinycnn.train import evaluate

    data = load_cifar10(learnable)
    model = create(register_tiny_model())
    loader = DataLoader(data.x_test, data.y_test, 30, transform=EvalTransform())
    plain, tta = evaluate(model, loader), evaluate(model, loader, tta=True)
    x = EvalTransform()(data.x_test)
    with tinycnn.no_grad():
        averaged = (model(tinycnn.Tensor(x)).data + model(tinycnn.Tensor(x[..., ::-1].copy())).data) / 2
    np.testing.assert_array_equal(tta["predictions"], averaged.argmax(axis=1))
    np.testing.assert_array_equal(plain["predictions"], evaluate(model, loader)["predictions"])


def test_shuffled_labels_are_a_permutation_that_nothing_can_learn(learnable, tmp_path):
    from tinycnn.train import load_dataset

    plain = load_dataset(tiny(train_size=0), learnable)
    shuffled = load_dataset(tiny(train_size=0, shuffle_labels=True), learnable)
    np.testing.assert_array_equal(shuffled.x_train, plain.x_train)  # the same images, in the same order
    np.testing.assert_array_equal(np.bincount(shuffled.y_train), np.bincount(plain.y_train))
    assert np.mean(shuffled.y_train == plain.y_train) < 0.3  # ~0.1 by chance
    np.testing.assert_array_equal(load_dataset(tiny(train_size=0, shuffle_labels=True), learnable).y_train,
                                  shuffled.y_train)  # the seed decides the permutation
    history = fit(tiny(model="resnet9_fast", shuffle_labels=True), tmp_path / "run", data=learnable, progress=False)
    assert history[-1]["test_acc"] < 0.35  # the colours that give the class away were not learnt (chance 0.1)
