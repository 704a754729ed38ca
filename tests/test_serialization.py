"""tinycnn.save / tinycnn.load: round trips, atomic writes, clear errors."""
import os
import pickle
import zipfile

import numpy as np
import pytest

import tinycnn
from tinycnn import nn, optim


def _checkpoint():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(tinycnn.randn(5, 3)).sum().backward()
    opt.step()
    sched = optim.lr_scheduler.StepLR(opt, step_size=2)
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": np.random.default_rng(7).bit_generator.state,
        "epoch": 12,
        "metrics": {"acc": [0.5, 0.75], "best": np.float32(0.75), "loss": float("nan"), "note": None},
        "flags": (True, False),
        "empty": {"list": [], "dict": {}, "tuple": ()},
        "ints": np.arange(6, dtype=np.int64).reshape(2, 3),
        "scalar0d": np.array(3.5),
        "label": "résumé ✓",
    }


def _assert_same(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_round_trip_nested_checkpoint(tmp_path):
    ckpt = _checkpoint()
    tinycnn.save(ckpt, tmp_path / "ckpt.npz")
    _assert_same(ckpt, tinycnn.load(tmp_path / "ckpt.npz"))


def test_rng_state_round_trip_restores_the_stream(tmp_path):
    tinycnn.manual_seed(3)
    tinycnn.save({"rng": tinycnn.get_rng_state()}, tmp_path / "rng.npz")
    expected = tinycnn.randn(4).data
    tinycnn.set_rng_state(tinycnn.load(tmp_path / "rng.npz")["rng"])
    np.testing.assert_array_equal(tinycnn.randn(4).data, expected)


def test_model_state_dict_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    tinycnn.save(model.state_dict(), str(tmp_path / "model.npz"))  # str paths too
    other = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    other.load_state_dict(tinycnn.load(tmp_path / "model.npz"))
    x = tinycnn.randn(2, 3)
    np.testing.assert_array_equal(model(x).data, other(x).data)


def test_tensors_are_stored_as_arrays(tmp_path):
    tinycnn.save({"t": tinycnn.ones(2, 2), "p": nn.Parameter(np.zeros(3))}, tmp_path / "t.npz")
    out = tinycnn.load(tmp_path / "t.npz")
    assert isinstance(out["t"], np.ndarray) and out["t"].dtype == np.float32
    assert isinstance(out["p"], np.ndarray) and out["p"].shape == (3,)


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "ckpt.npz"
    tinycnn.save(_checkpoint(), path)
    with np.load(path, allow_pickle=False) as archive:  # readable by NumPy alone, no pickle needed
        assert all(archive[name].dtype != object for name in archive.files)


def test_write_leaves_no_temporary_file(tmp_path):
    tinycnn.save({"a": np.ones(3)}, tmp_path / "x.npz")
    tinycnn.save({"a": np.zeros(3)}, tmp_path / "x.npz")  # overwrite
    assert os.listdir(tmp_path) == ["x.npz"]
    np.testing.assert_array_equal(tinycnn.load(tmp_path / "x.npz")["a"], np.zeros(3))


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    tinycnn.save({"a": np.ones(3)}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        tinycnn.save({"a": np.zeros(3)}, path)
    assert os.listdir(tmp_path) == ["x.npz"]
    np.testing.assert_array_equal(tinycnn.load(path)["a"], np.ones(3))


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"f": print}, r"cannot store a builtin_function_or_method at obj\['f'\]"),
        ({"a": [1, {2.5: 1}]}, r"dict keys must be str or int, got 2.5 at obj\['a'\]\[1\]"),
        ({"o": np.array([object()])}, "dtype object"),
        ({"s": {1, 2}}, "cannot store a set"),
    ],
)
def test_unsupported_objects_are_refused(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        tinycnn.save(obj, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def _bad_file(tmp_path, kind):
    good = tmp_path / "good.npz"
    tinycnn.save({"w": np.arange(1000.0)}, good)
    raw = good.read_bytes()
    bad = tmp_path / f"{kind}.bin"
    if kind == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif kind == "corrupt":
        i = len(raw) // 3  # inside the array's data: the zip CRC check catches it
        bad.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :])
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "text":
        bad.write_text("hello")
    elif kind == "npy":
        np.save(bad.with_suffix(".npy"), np.ones(3))
        bad = bad.with_suffix(".npy")
    elif kind == "foreign_npz":
        with open(bad, "wb") as f:
            np.savez(f, a=np.ones(3))
    elif kind == "pickle":
        bad.write_bytes(pickle.dumps({"a": 1}))
    elif kind == "zip":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("readme.txt", "not numpy")
    return bad


@pytest.mark.parametrize(
    "kind, match",
    [
        ("truncated", "truncated or corrupt"),
        ("corrupt", "truncated or corrupt"),
        ("empty", "truncated or corrupt"),
        ("text", "is not a tinycnn checkpoint"),
        ("npy", "single .npy array"),
        ("foreign_npz", "has no manifest"),
        ("pickle", "is not a tinycnn checkpoint"),
        ("zip", "has no manifest"),
    ],
)
def test_bad_files_give_a_clear_error_naming_the_file(tmp_path, kind, match):
    bad = _bad_file(tmp_path, kind)
    with pytest.raises(ValueError, match=match) as info:
        tinycnn.load(bad)
    assert str(bad) in str(info.value)
    assert "tinycnn checkpoint" in str(info.value)  # says what was expected


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        tinycnn.load(tmp_path / "nope.npz")


def test_wrong_format_version_is_named(tmp_path):
    import json

    manifest = json.dumps({"format": "tinycnn-checkpoint", "version": 99, "root": 1}).encode()
    path = tmp_path / "future.npz"
    with open(path, "wb") as f:
        np.savez(f, __tinycnn_manifest__=np.frombuffer(manifest, dtype=np.uint8))
    with pytest.raises(ValueError, match="version 99"):
        tinycnn.load(path)


def test_saved_file_has_the_usual_permissions(tmp_path):
    path = tmp_path / "x.npz"
    tinycnn.save({"a": 1}, path)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
