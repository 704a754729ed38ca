"""CIFAR loading (official archive format, lookup order, cache, errors, download), augmentation
and batching. No network: downloads are served from file:// URLs or refused by a stub."""
import hashlib
import os
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from cifar_fake import CLASSES, write_archive, write_cifar100_archive

from tinycnn.data import (
    DataLoader,
    DatasetError,
    EvalTransform,
    TrainTransform,
    cutout,
    load_cifar10,
    load_cifar100,
    normalize,
    random_crop,
    random_horizontal_flip,
    stratified_subset,
)
from tinycnn.data import cifar

REAL_ARCHIVE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar-10-python.tar.gz"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No TINYCNN_DATA, an empty project data/ folder in tmp_path, and no network."""
    monkeypatch.delenv(cifar.ENV_VAR, raising=False)
    monkeypatch.setattr(cifar, "PROJECT_DATA_DIR", tmp_path / "project_data")

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(cifar.urllib.request, "urlopen", no_network)
    return tmp_path


@pytest.fixture
def archive(isolated):
    path = isolated / "cifar-10-python.tar.gz"
    return path, write_archive(path)


# ---------------------------------------------------------------- reading the archive

def test_reads_official_layout(archive, isolated):
    path, (x_train, y_train, x_test, y_test) = archive
    d = load_cifar10(path, cache_dir=isolated / "cache")
    assert d.x_train.shape == (100, 3, 32, 32) and d.x_train.dtype == np.uint8
    assert d.x_test.shape == (20, 3, 32, 32) and d.y_test.dtype == np.int64
    np.testing.assert_array_equal(d.x_train, x_train)
    np.testing.assert_array_equal(d.y_train, y_train)
    np.testing.assert_array_equal(d.x_test, x_test)
    np.testing.assert_array_equal(d.y_test, y_test)
    assert d.classes == CLASSES


def test_cifar100(isolated):
    path = isolated / "cifar-100-python.tar.gz"
    (x_train, y_train), (x_test, y_test) = write_cifar100_archive(path)
    d = load_cifar100(isolated, cache_dir=isolated / "cache")  # a folder holding the archive
    np.testing.assert_array_equal(d.x_train, x_train)
    np.testing.assert_array_equal(d.y_train, y_train)  # the fine labels
    np.testing.assert_array_equal(d.x_test, x_test)
    assert len(d.classes) == 100 and d.classes[7] == "class7"


def test_rows_are_r_g_b_planes(tmp_path):
    path = tmp_path / "a.tar.gz"
    x_train, *_ = write_archive(path)
    raw = cifar.read_source(cifar.CIFAR10, path)
    row = x_train.reshape(100, 3072)[7]  # what the pickle holds for image 7
    assert raw["x_train"][7, 0, 0, 0] == row[0]  # red plane first
    assert raw["x_train"][7, 1, 0, 0] == row[1024]  # then green
    assert raw["x_train"][7, 2, 31, 31] == row[3071]  # blue, last pixel
    assert raw["x_train"][7, 0, 2, 5] == row[2 * 32 + 5]  # row-major within a plane


def test_extracted_folder_and_parent_folder(archive, isolated):
    path, (x_train, *_) = archive
    with tarfile.open(path) as t:
        t.extractall(isolated / "extracted", filter="data")
    folder = isolated / "extracted" / "cifar-10-batches-py"
    for given in (folder, isolated / "extracted", isolated):  # the folder, its parent, a folder with the .tar.gz
        d = load_cifar10(given, cache_dir=isolated / "cache")
        np.testing.assert_array_equal(d.x_train, x_train)


def test_lookup_order(isolated, monkeypatch):
    explicit, env, project = (isolated / n for n in ("explicit", "env", "project_data"))
    for folder, seed in ((explicit, 1), (env, 2), (project, 3)):
        folder.mkdir()
        (folder / "cifar-10-python.tar.gz").write_bytes(b"x" * seed)
    spec = cifar.CIFAR10
    assert cifar.find(spec) == project / "cifar-10-python.tar.gz"
    monkeypatch.setenv(cifar.ENV_VAR, str(env))
    assert cifar.find(spec) == env / "cifar-10-python.tar.gz"
    assert cifar.find(spec, explicit) == explicit / "cifar-10-python.tar.gz"
    monkeypatch.setenv(cifar.ENV_VAR, str(env / "cifar-10-python.tar.gz"))  # TINYCNN_DATA may name the file
    assert cifar.find(spec) == env / "cifar-10-python.tar.gz"


def test_env_var_loads(archive, isolated, monkeypatch):
    path, (x_train, *_) = archive
    monkeypatch.setenv(cifar.ENV_VAR, str(path))
    np.testing.assert_array_equal(load_cifar10(cache_dir=isolated / "cache").x_train, x_train)


def test_explicit_path_without_data_is_an_error(isolated, monkeypatch):
    (isolated / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no cifar-10-python.tar.gz"):
        load_cifar10(isolated / "empty", cache_dir=isolated / "cache")
    monkeypatch.setenv(cifar.ENV_VAR, str(isolated / "missing.tar.gz"))
    with pytest.raises(DatasetError, match=r"\$TINYCNN_DATA .*missing.tar.gz does not exist"):
        load_cifar10(cache_dir=isolated / "cache")


# ---------------------------------------------------------------- the cache

def test_cache_is_written_once_and_reused(archive, isolated, monkeypatch):
    path, (x_train, *_) = archive
    load_cifar10(path, cache_dir=isolated / "cache")
    (folder,) = (isolated / "cache").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "x_test.npy", "x_train.npy", "y_test.npy",
                                                         "y_train.npy"]

    def must_not_decode(*args):
        raise AssertionError("the archive was decoded again instead of reading the cache")

    monkeypatch.setattr(cifar, "read_source", must_not_decode)
    d = load_cifar10(path, cache_dir=isolated / "cache")
    np.testing.assert_array_equal(d.x_train, x_train)


def test_changed_archive_gets_a_new_cache(archive, isolated):
    path, _ = archive
    load_cifar10(path, cache_dir=isolated / "cache")
    x_new, *_ = write_archive(path, per_batch=30)
    os.utime(path, ns=(1, 1))  # a different size and mtime: a different fingerprint
    d = load_cifar10(path, cache_dir=isolated / "cache")
    assert len(d.x_train) == 150
    assert len(list((isolated / "cache").iterdir())) == 2


# ---------------------------------------------------------------- broken input

def _no_cache_left(cache: Path) -> bool:
    return not cache.exists() or not any(cache.iterdir())


def test_truncated_archive(archive, isolated):
    path, _ = archive
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"cannot read .*cifar-10-python\.tar\.gz.*truncated"):
        load_cifar10(path, cache_dir=isolated / "cache")
    assert _no_cache_left(isolated / "cache")


def test_not_an_archive(isolated):
    path = isolated / "cifar-10-python.tar.gz"
    path.write_bytes(b"this is not a tar file" * 100)
    with pytest.raises(DatasetError, match="expected the official cifar-10-python.tar.gz"):
        load_cifar10(path, cache_dir=isolated / "cache")
    assert _no_cache_left(isolated / "cache")


def test_archive_missing_a_batch(isolated):
    path = isolated / "other.tar.gz"
    write_archive(path, members={"data_batch_1", "batches.meta"})
    with pytest.raises(DatasetError, match="has no cifar-10-batches-py/data_batch_2"):
        load_cifar10(path, cache_dir=isolated / "cache")
    assert _no_cache_left(isolated / "cache")


def test_damaged_pickle(isolated):
    folder = isolated / "cifar-10-batches-py"
    folder.mkdir()
    write_archive(isolated / "a.tar.gz")
    with tarfile.open(isolated / "a.tar.gz") as t:
        t.extractall(isolated, filter="data")
    (folder / "data_batch_3").write_bytes(b"\x80\x02}q\x00(garbage")
    with pytest.raises(DatasetError, match="data_batch_3 holds a damaged pickle"):
        load_cifar10(folder, cache_dir=isolated / "cache")


# ---------------------------------------------------------------- downloading

def test_no_network_message_says_where_to_put_the_archive(isolated):
    with pytest.raises(DatasetError) as info:
        load_cifar10(cache_dir=isolated / "cache")
    message = str(info.value)
    assert "download from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz failed" in message
    assert "TINYCNN_DATA" in message and "--data" in message and str(cifar.PROJECT_DATA_DIR) in message


def test_download_checks_md5(isolated, monkeypatch):
    import urllib.request

    monkeypatch.setattr(cifar.urllib.request, "urlopen", urllib.request.build_opener().open)  # file:// only here
    source = isolated / "served.tar.gz"
    write_archive(source)
    with pytest.raises(DatasetError, match="md5"):  # the fake archive is not the official one
        cifar.fetch(cifar.CIFAR10, isolated / "dl", url=source.as_uri())
    assert not any((isolated / "dl").iterdir())  # nothing half-downloaded is kept
    spec = cifar.Spec(**{**cifar.CIFAR10.__dict__, "md5": hashlib.md5(source.read_bytes()).hexdigest()})
    got = cifar.fetch(spec, isolated / "dl", url=source.as_uri())
    assert got.read_bytes() == source.read_bytes()


# ---------------------------------------------------------------- the real archive

@pytest.mark.skipif(not REAL_ARCHIVE.exists(), reason="the workplace's CIFAR-10 copy is not here")
def test_real_cifar10(monkeypatch):
    monkeypatch.setenv(cifar.ENV_VAR, str(REAL_ARCHIVE))
    d = load_cifar10()  # cached in the project's git-ignored data/cache after the first run
    assert d.x_train.shape == (50000, 3, 32, 32) and d.x_test.shape == (10000, 3, 32, 32)
    assert np.bincount(d.y_train).tolist() == [5000] * 10 and np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.classes == CLASSES
    means = d.x_train[:5000].mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(means, [0.4914, 0.4822, 0.4465], atol=0.01)  # R, G, B in that order


# ---------------------------------------------------------------- augmentation

def test_normalize():
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 5, 6), dtype=np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    got = normalize(x, mean, std)
    want = (x / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_random_crop_is_a_shifted_copy():
    x = np.random.default_rng(0).integers(1, 256, (64, 3, 8, 10), dtype=np.uint8)
    out = random_crop(x, 2, np.random.default_rng(5))
    draw = np.random.default_rng(5)
    top, left = draw.integers(0, 5, 64), draw.integers(0, 5, 64)
    for n in range(64):
        dy, dx = top[n] - 2, left[n] - 2  # the window's shift
        shifted = np.zeros_like(x[n])
        ys, xs = slice(max(0, -dy), min(8, 8 - dy)), slice(max(0, -dx), min(10, 10 - dx))
        src_ys, src_xs = slice(max(0, dy), min(8, 8 + dy)), slice(max(0, dx), min(10, 10 + dx))
        shifted[:, ys, xs] = x[n][:, src_ys, src_xs]
        np.testing.assert_array_equal(out[n], shifted)
    assert len({(a, b) for a, b in zip(top, left)}) > 10  # many different shifts were used
    np.testing.assert_array_equal(random_crop(x, 0, np.random.default_rng(0)), x)


def test_flip():
    x = np.random.default_rng(0).integers(0, 256, (200, 3, 4, 5), dtype=np.uint8)
    out = random_horizontal_flip(x, 0.5, np.random.default_rng(1))
    flipped = np.array([np.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(flipped | kept) and 70 < flipped.sum() < 130
    np.testing.assert_array_equal(flipped, np.random.default_rng(1).random(200) < 0.5)


def test_cutout_zeroes_one_clipped_square():
    x = np.ones((50, 3, 12, 12), np.float32)
    out = cutout(x, 4, np.random.default_rng(0))
    for o in out:
        zero = o[0] == 0
        rows, cols = np.flatnonzero(zero.any(axis=1)), np.flatnonzero(zero.any(axis=0))
        assert zero.sum() == len(rows) * len(cols) and 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
        assert np.array_equal(o[1] == 0, zero) and np.array_equal(o[2] == 0, zero)  # every channel alike
    assert (out == 0).sum(axis=(1, 2, 3)).max() == 3 * 16  # some square lies fully inside


def test_train_transform_is_seeded_and_shaped():
    x = np.random.default_rng(0).integers(0, 256, (16, 3, 32, 32), dtype=np.uint8)
    t = TrainTransform(padding=4, flip=True, cutout=8)
    a, b = t(x, np.random.default_rng(3)), t(x, np.random.default_rng(3))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, t(x, np.random.default_rng(4)))
    np.testing.assert_array_equal(EvalTransform()(x), normalize(x))


def test_augmentation_rejects_bad_input():
    with pytest.raises(ValueError, match=r"random_crop: expected an ndarray of images \(N, C, H, W\)"):
        random_crop(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="normalize: 1 channels but 3 means"):
        normalize(np.zeros((1, 1, 4, 4), np.uint8))


# ---------------------------------------------------------------- subsets and batching

def test_stratified_subset():
    labels = np.repeat(np.arange(10), [100, 100, 100, 100, 100, 100, 100, 100, 100, 300])
    idx = stratified_subset(labels, 120, np.random.default_rng(0))
    assert len(idx) == 120 and len(set(idx)) == 120
    assert np.bincount(labels[idx]).tolist() == [10] * 9 + [30]
    np.testing.assert_array_equal(idx, stratified_subset(labels, 120, np.random.default_rng(0)))
    odd = stratified_subset(np.arange(50) % 10, 13, np.random.default_rng(0))
    assert len(odd) == 13 and np.bincount(np.arange(50)[odd] % 10).max() == 2
    with pytest.raises(ValueError, match="stratified_subset: size must be in"):
        stratified_subset(labels, 0)


def test_loader_covers_every_example_once_per_epoch():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1).repeat(3, axis=1)
    labels = np.arange(10)
    loader = DataLoader(images, labels, batch_size=4, shuffle=True, generator=np.random.default_rng(0))
    assert len(loader) == 3
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2]
    seen = np.concatenate([y for _, y in batches])
    assert sorted(seen) == list(range(10))
    for x, y in batches:
        np.testing.assert_array_equal(x.data[:, 0, 0, 0], y)  # images stay with their labels
    assert len(DataLoader(images, labels, batch_size=4, drop_last=True)) == 2
    again = np.concatenate([y for _, y in DataLoader(images, labels, 4, shuffle=True,
                                                      generator=np.random.default_rng(0))])
    np.testing.assert_array_equal(seen, again)  # the same seed, the same order


def test_loader_rejects_bad_arguments():
    with pytest.raises(ValueError, match="DataLoader: 3 images but 2 labels"):
        DataLoader(np.zeros((3, 3, 2, 2), np.uint8), np.zeros(2))
    with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive integer"):
        DataLoader(np.zeros((3, 3, 2, 2), np.uint8), np.zeros(3), batch_size=0)
