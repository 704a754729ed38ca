"""Tiny CIFAR archives in the official format, written by the tests (no network, no real data).

`write_archive(path)` writes `cifar-10-python.tar.gz` with five training batches, a test batch and
batches.meta, each a protocol-2 pickle with bytes keys, `data` rows holding the R, G, B planes.
With learnable=True each class has its own mean colour (plus noise), so a model can learn it.
"""
import io
import pickle
import tarfile

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_images(n: int, seed: int, learnable: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 3, 32, 32) uint8 and labels (n,), every class equally often (n % 10 == 0)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    if not learnable:
        return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), labels
    colours = np.random.default_rng(123).integers(30, 226, (10, 3))  # (K, 3): one colour per class
    images = colours[labels][:, :, None, None] + rng.normal(0, 25, (n, 3, 32, 32))
    return np.clip(images, 0, 255).astype(np.uint8), labels


def _pickle(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def _batch(images: np.ndarray, labels: np.ndarray, name: str) -> dict:
    return {b"batch_label": name.encode(), b"labels": [int(v) for v in labels],
            b"data": images.reshape(len(images), 3 * 32 * 32), b"filenames": [b"x.png"] * len(images)}


def write_archive(path, per_batch: int = 20, n_test: int = 20, learnable: bool = False, members=None):
    """Write a CIFAR-10-format .tar.gz to `path`; returns (x_train, y_train, x_test, y_test)."""
    x_train, y_train = make_images(5 * per_batch, seed=1, learnable=learnable)
    x_test, y_test = make_images(n_test, seed=2, learnable=learnable)
    files = {f"data_batch_{i + 1}": _pickle(_batch(x_train[i * per_batch:(i + 1) * per_batch],
                                                   y_train[i * per_batch:(i + 1) * per_batch], f"batch {i + 1}"))
             for i in range(5)}
    files["test_batch"] = _pickle(_batch(x_test, y_test, "test"))
    files["batches.meta"] = _pickle({b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072,
                                     b"num_cases_per_batch": per_batch})
    with tarfile.open(path, "w:gz") as archive:
        for name, raw in files.items():
            if members is not None and name not in members:
                continue
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return x_train, y_train, x_test, y_test


def write_cifar100_archive(path, n_train: int = 200, n_test: int = 100):
    """A CIFAR-100-format .tar.gz (cifar-100-python/train, test, meta; fine and coarse labels)."""
    rng = np.random.default_rng(0)
    parts = {}
    for name, n in (("train", n_train), ("test", n_test)):
        images, fine = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), np.arange(n) % 100
        parts[name] = (images, fine)
        parts[name + "_raw"] = _pickle({b"data": images.reshape(n, 3072), b"fine_labels": [int(v) for v in fine],
                                        b"coarse_labels": [int(v) // 5 for v in fine]})
    meta = _pickle({b"fine_label_names": [f"class{i}".encode() for i in range(100)],
                    b"coarse_label_names": [f"super{i}".encode() for i in range(20)]})
    with tarfile.open(path, "w:gz") as archive:
        for name, raw in (("train", parts["train_raw"]), ("test", parts["test_raw"]), ("meta", meta)):
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return parts["train"], parts["test"]


def register_tiny_model() -> str:
    """Register (once) `tiny_cnn_for_tests`, a 2-conv network that trains in a blink; returns its name."""
    from tinycnn import nn
    from tinycnn.models import list_models, register_model

    name = "tiny_cnn_for_tests"
    if name not in list_models():
        def tiny_cnn_for_tests(num_classes=10):
            return nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),  # (N, 8, 16, 16)
                nn.MaxPool2d(4),  # (N, 8, 4, 4)
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),  # (N, 16, 4, 4)
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),  # (N, num_classes)
            )

        register_model(tiny_cnn_for_tests)
    return name
