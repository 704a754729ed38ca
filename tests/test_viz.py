"""tinycnn.viz: SE excitations collected per class, their spread, the PNG."""
from pathlib import Path

import numpy as np
import pytest
from cifar_fake import make_images

import tinycnn
from tinycnn import nn
from tinycnn.data import CIFAR
from tinycnn.viz import (class_spread, collect_excitations, pick_depths, plot_excitations, se_blocks, small_se_resnet,
                         train_or_load_se_resnet)


def tiny_model():
    return small_se_resnet(blocks_per_stage=1, widths=(4, 8, 8), se_ratio=1 / 2)


def test_collect_excitations_per_class_means_match_a_manual_average():
    tinycnn.manual_seed(0)
    model = tiny_model()
    g = np.random.default_rng(1)
    x = g.normal(size=(7, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 2, 2, 0, 3, 2, 0])
    means = collect_excitations(model, x, y, num_classes=4, batch_size=3)
    blocks = se_blocks(model)
    assert list(means) == [name for name, _ in blocks] == ["layer1.0.se", "layer2.0.se", "layer3.0.se"]
    assert [m.shape for m in means.values()] == [(4, 4), (4, 8), (4, 8)]
    # the reference: one forward of all images at once, then a plain average per class
    model.eval()
    with tinycnn.no_grad():
        model(tinycnn.tensor(x))
    for name, se in blocks:
        s = se.last_excitation  # (7, C)
        for k in (0, 2, 3):
            np.testing.assert_allclose(means[name][k], s[y == k].mean(axis=0), rtol=1e-5, atol=1e-6)
        assert np.all(np.isnan(means[name][1]))  # class 1 has no image
        assert np.all((means[name][[0, 2, 3]] > 0) & (means[name][[0, 2, 3]] < 1))


def test_collect_excitations_restores_training_mode_and_normalises_uint8():
    model = tiny_model()
    model.train()
    x = np.random.default_rng(0).integers(0, 256, size=(4, 3, 8, 8), dtype=np.uint8)
    means = collect_excitations(model, x, np.array([0, 1, 0, 1]), num_classes=2)
    assert model.training and all(m.training for m in model.modules())
    assert all(np.isfinite(m).all() for m in means.values())


def test_collect_excitations_errors_name_the_function():
    model = tiny_model()
    x = np.zeros((2, 3, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="collect_excitations: labels must be in"):
        collect_excitations(model, x, np.array([0, 5]), num_classes=3)
    with pytest.raises(ValueError, match="collect_excitations: expected images"):
        collect_excitations(model, x, np.array([0]), num_classes=3)
    with pytest.raises(ValueError, match="has no nn.SqueezeExcitation"):
        collect_excitations(nn.Sequential(nn.Conv2d(3, 2, 1)), x, np.array([0, 1]), num_classes=2)


def test_class_spread_is_zero_for_identical_classes_and_grows_with_differences():
    same = np.tile(np.linspace(0.2, 0.8, 6), (3, 1))  # (K=3, C=6), every class alike
    different = same + np.array([[-0.1], [0.0], [0.1]])
    spread = class_spread({"a": same, "b": different})
    assert spread["a"] == pytest.approx(0.0, abs=1e-15)
    assert spread["b"] == pytest.approx(np.std([-0.1, 0.0, 0.1]))


def test_pick_depths_spans_first_to_last():
    names = [f"b{i}" for i in range(9)]
    assert pick_depths(names, 4) == ["b0", "b3", "b5", "b8"]
    assert pick_depths(names[:2], 4) == ["b0", "b1"]


def test_plot_excitations_writes_a_png(tmp_path):
    g = np.random.default_rng(0)
    means = {f"layer{i}.0.se": g.uniform(0, 1, size=(10, 8 * i)) for i in (1, 2, 3)}
    path = plot_excitations(means, [f"c{k}" for k in range(10)], tmp_path / "se.png", title="test")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_train_or_load_se_resnet_trains_saves_then_loads_the_same_weights(tmp_path):
    x_train, y_train = make_images(40, seed=1, learnable=True)
    x_test, y_test = make_images(20, seed=2, learnable=True)
    data = CIFAR(x_train, y_train, x_test, y_test, [f"c{k}" for k in range(10)], Path("fake"))
    checkpoint = tmp_path / "se.npz"
    logs = []
    tinycnn.manual_seed(0)
    trained, loaded = train_or_load_se_resnet(checkpoint, data, epochs=1, train_size=40, batch_size=20,
                                              blocks_per_stage=1, widths=(4, 8, 8), log=logs.append)
    assert not loaded and checkpoint.is_file() and any("epoch 1/1" in line for line in logs)
    again, loaded = train_or_load_se_resnet(checkpoint, data, blocks_per_stage=1, widths=(4, 8, 8), log=logs.append)
    assert loaded
    for (name, a), (_, b) in zip(trained.state_dict().items(), again.state_dict().items(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    means = collect_excitations(again, x_test, y_test, num_classes=10)
    assert [m.shape for m in means.values()] == [(10, 4), (10, 8), (10, 8)]
