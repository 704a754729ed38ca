"""Shipped weights: publishing a finished run, `create(name, pretrained=True)`, `list_pretrained`,
`pretrained_info`, the hash check; and the weights actually shipped in tinycnn/pretrained/ against
the real CIFAR-10 test images (quick: recorded logits on a few images; slow: the whole test set)."""
import json
from pathlib import Path

import numpy as np
import pytest
from cifar_fake import register_tiny_model, write_archive

import tinycnn
from tinycnn.checkpoint import CheckpointError
from tinycnn.data import cifar
from tinycnn.data.resize import resize_images
from tinycnn.models import create, list_pretrained, pretrained, pretrained_info
from tinycnn.models.pretrained import PretrainedError, load_pretrained_state, read_manifest
from tinycnn.publish import command_of, publish_run, record_run
from tinycnn.results import read_runs_record
from tinycnn.summary import summary
from tinycnn.train import TrainConfig, fit, make_config

REAL_ARCHIVE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar-10-python.tar.gz"
SHIPPED = sorted(read_manifest())
REQUIRED = {"test_accuracy", "mean", "std", "resolution", "recipe", "epochs", "train_seconds", "command", "sha256"}


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A 2-epoch run of the tiny test network on a learnable fake archive, published into a
    temporary pretrained folder that the API then reads."""
    monkeypatch.setattr(cifar, "PROJECT_DATA_DIR", tmp_path / "project_data")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "pretrained")
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_archive(archive, per_batch=104, n_test=100, learnable=True)
    config = TrainConfig(model=register_tiny_model(), epochs=2, train_size=512, batch_size=64, lr=0.2,
                         warmup_epochs=0.5, eval_batch_size=100)
    fit(config, tmp_path / "run", data=archive, progress=False)
    info = publish_run(tmp_path / "run", data=archive)
    return info, archive, tmp_path / "pretrained"


def test_a_published_run_loads_with_its_recorded_logits(published):
    info, archive, folder = published
    name = register_tiny_model()
    assert list_pretrained() == [name]
    assert REQUIRED <= set(pretrained_info(name)) and pretrained_info(name) == info
    assert sorted(p.name for p in folder.iterdir()) == sorted(["manifest.json", f"{name}.npz", "runs.json", "logs"])
    assert info["log"] == "logs/run.csv"
    assert info["test_images"] == 100 and 50 < info["test_accuracy"] <= 100  # learnable: far above chance
    assert abs(info["test_accuracy"] - info["float32_test_accuracy"]) <= (0.05 if info["dtype"] == "float16" else 100)
    model = create(name, pretrained=True).eval()
    x = cifar.load_cifar10(archive).x_test[:len(info["sample_logits"])]
    logits = model(tinycnn.Tensor(_normalise(x, info))).data
    np.testing.assert_allclose(logits, info["sample_logits"], atol=2e-3)
    assert logits.argmax(axis=1).tolist() == info["sample_predictions"]
    assert (folder / info["log"]).read_text().startswith("epoch,")


def test_the_manifest_is_a_copy_and_names_what_is_missing(published):
    name = register_tiny_model()
    pretrained_info(name)["test_accuracy"] = -1
    assert pretrained_info(name)["test_accuracy"] > 0
    with pytest.raises(KeyError, match="no pretrained weights for 'resnet20'.*tiny_cnn_for_tests"):
        pretrained_info("resnet20")
    with pytest.raises(ValueError, match="no shipped weights for 'resnet20'"):
        create("resnet20", pretrained=True)
    with pytest.raises(ValueError, match="the weights have 10 classes, got num_classes=3"):
        create(name, num_classes=3, pretrained=True)


def test_a_damaged_or_missing_weight_file_is_refused_by_name(published):
    info, _, folder = published
    name = register_tiny_model()
    path = folder / info["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PretrainedError, match=rf"{path.name} of '{name}' is damaged: its sha256 is [0-9a-f]{{64}}, "
                                              rf"the manifest expects {info['sha256']}"):
        create(name, pretrained=True)
    path.unlink()
    with pytest.raises(PretrainedError, match=rf"{path.name} of '{name}' is missing"):
        load_pretrained_state(name)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(PretrainedError, match="cannot read the pretrained manifest"):
        list_pretrained()


def test_an_unfinished_run_is_not_published(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "PROJECT_DATA_DIR", tmp_path / "project_data")
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_archive(archive, per_batch=20, n_test=20)
    config = TrainConfig(model=register_tiny_model(), epochs=2, train_size=100, batch_size=50, eval_batch_size=20)

    class Stop(Exception):
        pass

    def stop(epoch, metrics):
        raise Stop

    with pytest.raises(Stop):
        fit(config, tmp_path / "run", data=archive, progress=False, on_epoch_end=stop)
    with pytest.raises(CheckpointError, match="is not finished: 1 of 2 epochs"):
        publish_run(tmp_path / "run", data=archive, directory=tmp_path / "pretrained")


def test_the_command_repeats_the_recipe_and_what_differs_from_it():
    assert command_of(make_config("cifar-small", model="wrn10_2")) == \
        "tinycnn train --recipe cifar-small --model wrn10_2"
    config = make_config("cifar-small", model="resnet20", seed=1, epochs=3, nesterov=False, milestones=(5, 9))
    assert command_of(config) == ("tinycnn train --recipe cifar-small --model resnet20 --epochs 3 "
                                  "--no-nesterov --milestones 5,9 --seed 1")
    control = make_config("cifar-small", model="se_resnet20", shuffle_labels=True, flip=False)
    assert command_of(control) == ("tinycnn train --recipe cifar-small --model se_resnet20 --shuffle-labels"
                                   "  # and flip=False: no command-line option")


def _normalise(x_uint8, info) -> np.ndarray:
    """(N, 3, 32, 32) uint8 -> float32 at the weights' resolution (resized as in training), normalised
    with their own mean and std."""
    if info["resolution"] != 32:
        x_uint8 = resize_images(x_uint8, info["resolution"])
    mean = np.array(info["mean"], np.float32).reshape(1, 3, 1, 1)
    std = np.array(info["std"], np.float32).reshape(1, 3, 1, 1)
    return ((x_uint8.astype(np.float32) / 255 - mean) / std).astype(np.float32)


# ---------------------------------------------------------------- the shipped weights

def _real_test_set():
    if not REAL_ARCHIVE.exists():
        pytest.skip(f"the real CIFAR-10 archive is not at {REAL_ARCHIVE}")
    return cifar.load_cifar10(REAL_ARCHIVE)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_and_give_their_recorded_logits(name):
    info = pretrained_info(name)
    assert REQUIRED <= set(info) and info["test_images"] == 10000
    model = create(name, pretrained=True).eval()  # the hash is checked here
    x = _real_test_set().x_test[:len(info["sample_logits"])]
    logits = model(tinycnn.Tensor(_normalise(x, info))).data
    np.testing.assert_allclose(logits, info["sample_logits"], atol=2e-3)
    assert logits.argmax(axis=1).tolist() == info["sample_predictions"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_reach_their_recorded_test_accuracy(name):
    info, data = pretrained_info(name), _real_test_set()
    model = create(name, pretrained=True).eval()
    correct = 0
    with tinycnn.no_grad():
        for start in range(0, 10000, 500):
            logits = model(tinycnn.Tensor(_normalise(data.x_test[start:start + 500], info))).data
            correct += int(np.sum(logits.argmax(axis=1) == data.y_test[start:start + 500]))
    assert abs(100 * correct / 10000 - info["test_accuracy"]) <= 0.1


def test_the_manifest_in_the_package_is_consistent():
    folder = pretrained.PRETRAINED_DIR
    for name, info in read_manifest().items():
        assert (folder / info["file"]).exists() and (folder / info["log"]).exists(), name
        assert REQUIRED <= set(info), name
    runs = read_runs_record()
    for key, run in runs.items():
        assert (folder / run["log"]).exists() and 0 < run["test_acc"] <= 1 and run["command"].startswith("tinycnn train"), key
    listed = {info["file"] for info in read_manifest().values()} | {run["log"] for run in runs.values()}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()
    assert on_disk - {"manifest.json", "runs.json"} == listed  # nothing shipped that the record does not describe
    for name, info in read_manifest().items():  # MACs counted at the resolution the model runs at
        size = info["resolution"]
        assert summary(create(name), (3, size, size), print_table=False).total_macs == info["macs"], name
    json.dumps(read_manifest())


def test_the_pretrained_command_adds_lists_and_verifies(published, tmp_path, capsys):
    from tinycnn.cli import main

    info, archive, folder = published
    name = register_tiny_model()
    assert main(["pretrained", "add", str(tmp_path / "run"), "--data", str(archive)]) == 0  # again: replaced
    assert list_pretrained() == [name] and pretrained_info(name)["test_accuracy"] == info["test_accuracy"]
    assert main(["pretrained", "list"]) == 0
    assert f"{info['test_accuracy']:6.2f}%" in capsys.readouterr().out
    assert main(["pretrained", "verify", "--data", str(archive)]) == 0
    assert f"{name}: {info['test_accuracy']:.2f}% measured" in capsys.readouterr().out
    assert main(["pretrained", "info", name]) == 0
    assert json.loads(capsys.readouterr().out) == pretrained_info(name)


def test_results_pool_seeds_into_a_table_and_a_figure(tmp_path, monkeypatch, capsys):
    from cifar_fake import write_archive

    from tinycnn.cli import main
    from tinycnn.results import collect, family_of

    monkeypatch.setattr(cifar, "PROJECT_DATA_DIR", tmp_path / "project_data")
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_archive(archive, per_batch=20, n_test=20, learnable=True)
    for seed in (0, 1):
        config = TrainConfig(model=register_tiny_model(), epochs=1, train_size=100, batch_size=50,
                             eval_batch_size=20, seed=seed)
        fit(config, tmp_path / "runs" / f"tiny-s{seed}", data=archive, progress=False)
    (tmp_path / "runs" / "unfinished").mkdir()
    rows = collect(tmp_path / "runs", test_images=20)
    assert len(rows) == 1 and rows[0]["seeds"] == 2 and rows[0]["seed_spread"] is not None
    assert rows[0]["params"] > 0 and rows[0]["macs"] > 0
    assert main(["results", str(tmp_path / "runs"), "--plot", str(tmp_path / "fig.png"), "--text-chart"]) == 0
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert "M MACs per image (log scale)" in capsys.readouterr().out
    assert [family_of(m) for m in ("preact_resnet20", "resnet20_stochastic_depth", "se_resnet20", "resnet8",
                                   "mobilenet_v1_cifar_0125_standard", "efficientnet_cifar_tiny_depth", "plain20")] == \
        ["pre-act ResNet", "stochastic depth", "SENet", "ResNet", "MobileNet v1", "EfficientNet", "plain net"]


def test_text_chart_places_each_model_by_accuracy_and_cost():
    from tinycnn.results import text_chart

    rows = [{"model": m, "variant": v, "test_acc": a, "macs": c, "seconds": 60.0}
            for m, v, a, c in (("low", "", 0.70, 1e6), ("high", "", 0.90, 100e6), ("control", "shuffled labels", 0.1, 1e6))]
    lines = text_chart(rows, "macs", width=21, height=5).splitlines()
    assert lines[0] == " 90.0 |" + " " * 20 + "b" and lines[4] == " 70.0 |a" + " " * 20
    assert lines[6].split() == ["1", "M", "MACs", "per", "image", "(log", "scale)", "100"]
    assert "a low, b high" in " ".join(lines[7:]) and "control" not in "\n".join(lines)


def test_a_run_is_recorded_without_its_weights_and_results_read_the_record(published, tmp_path, capsys):
    from tinycnn.cli import main
    from tinycnn.results import collect

    info, archive, folder = published
    config = TrainConfig(model=register_tiny_model(), epochs=1, train_size=128, batch_size=64,
                         eval_batch_size=100, seed=1, shuffle_labels=True)
    fit(config, tmp_path / "control", data=archive, progress=False)
    assert main(["pretrained", "add", str(tmp_path / "control"), "--log-only"]) == 0
    assert "recorded" in capsys.readouterr().out
    record = read_runs_record()
    assert sorted(record) == ["control", "run"] and record["control"]["variant"] == "shuffled labels"
    assert "--shuffle-labels" in record["control"]["command"] and (folder / "logs" / "control.csv").exists()
    assert list_pretrained() == [register_tiny_model()]  # no weights shipped for the control
    rows = collect(test_images=100)  # no folder: the shipped record
    assert sorted(r["variant"] for r in rows) == ["", "shuffled labels"]
    assert main(["results"]) == 0 and "shuffled labels" in capsys.readouterr().out
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(CheckpointError, match="no finished run"):
        record_run(tmp_path / "unfinished")
