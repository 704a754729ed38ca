"""CIFAR-10 and CIFAR-100 from the official python archives.

Where the archive is looked for, in order:
  1. an explicit path (`--data PATH`): the archive itself, the extracted folder
     (`cifar-10-batches-py/`), or a folder holding either;
  2. the environment variable `TINYCNN_DATA` (same forms);
  3. the project's `data/` folder.
If none has it, the official archive is downloaded into `data/` and its md5 is checked.
The archive is read once and cached as uint8 `.npy` files (images (N, 3, 32, 32), labels (N,))
in `data/cache/`; later loads read the cache (a fraction of a second).
"""
import hashlib
import json
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "TINYCNN_DATA"
PROJECT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


class DatasetError(RuntimeError):
    """The dataset could not be found, downloaded or read."""


@dataclass(frozen=True)
class Spec:
    """How one dataset's official archive is laid out."""

    name: str
    archive: str  # file name of the .tar.gz
    folder: str  # folder inside the archive
    url: str
    md5: str
    train_members: tuple[str, ...]
    test_members: tuple[str, ...]
    label_key: bytes
    meta_member: str
    names_key: bytes


CIFAR10 = Spec(
    name="cifar10",
    archive="cifar-10-python.tar.gz",
    folder="cifar-10-batches-py",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    train_members=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_members=("test_batch",),
    label_key=b"labels",
    meta_member="batches.meta",
    names_key=b"label_names",
)

CIFAR100 = Spec(
    name="cifar100",
    archive="cifar-100-python.tar.gz",
    folder="cifar-100-python",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    train_members=("train",),
    test_members=("test",),
    label_key=b"fine_labels",
    meta_member="meta",
    names_key=b"fine_label_names",
)


@dataclass
class CIFAR:
    """A loaded dataset. x_*: uint8 (N, 3, 32, 32) RGB; y_*: int64 (N,); classes: names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: Path


def load_cifar10(data: str | os.PathLike | None = None, cache_dir=None, download: bool = True) -> CIFAR:
    """CIFAR-10: 50,000 training and 10,000 test images, 10 classes (see the module docstring)."""
    return load(CIFAR10, data, cache_dir, download)


def load_cifar100(data: str | os.PathLike | None = None, cache_dir=None, download: bool = True) -> CIFAR:
    """CIFAR-100 (fine labels): 50,000 training and 10,000 test images, 100 classes."""
    return load(CIFAR100, data, cache_dir, download)


def load(spec: Spec, data=None, cache_dir=None, download: bool = True) -> CIFAR:
    source = find(spec, data)
    if source is None:
        if not download:
            raise DatasetError(_not_found_message(spec, data, reason="downloading is switched off"))
        source = fetch(spec, PROJECT_DATA_DIR)
    cache = Path(cache_dir) if cache_dir is not None else PROJECT_DATA_DIR / "cache"
    folder = cache / f"{spec.name}-{_fingerprint(source)}"
    if not (folder / "meta.json").exists():
        _write_cache(folder, read_source(spec, source))
    return _read_cache(folder, source)


# ---------------------------------------------------------------- finding the archive

def find(spec: Spec, data=None) -> Path | None:
    """The archive file or extracted folder, by the lookup order; None if nowhere.
    An explicit path or TINYCNN_DATA that holds nothing usable is an error, not a fallback."""
    for origin, path in (("the given path", data), (f"${ENV_VAR}", os.environ.get(ENV_VAR))):
        if path:
            if not Path(path).expanduser().exists():
                raise DatasetError(f"{spec.name}: {origin} {path} does not exist")
            found = _look_in(spec, Path(path).expanduser())
            if found is None:
                raise DatasetError(
                    f"{spec.name}: {origin} {path} holds no {spec.archive} and no {spec.folder}/ folder"
                )
            return found
    return _look_in(spec, PROJECT_DATA_DIR)


def _look_in(spec: Spec, path: Path) -> Path | None:
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    if (path / spec.train_members[0]).is_file():  # the extracted folder itself
        return path
    for candidate in (path / spec.folder, path / spec.archive):
        if candidate.exists():
            return candidate
    return None


def _not_found_message(spec: Spec, data, reason: str) -> str:
    return (
        f"{spec.name}: dataset not found ({reason}). Looked in: "
        f"{data or '(no --data given)'}, ${ENV_VAR}={os.environ.get(ENV_VAR, '(unset)')}, {PROJECT_DATA_DIR}.\n"
        f"Put {spec.archive} (from {spec.url}) into {PROJECT_DATA_DIR}, "
        f"or point to it with --data PATH or the environment variable {ENV_VAR}=PATH."
    )


# ---------------------------------------------------------------- downloading

def fetch(spec: Spec, folder: Path, url: str | None = None) -> Path:
    """Download the official archive into `folder` with a progress bar and check its md5."""
    from tqdm import tqdm

    url = url or spec.url
    target = folder / spec.archive
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (spec.archive + ".part")
    md5 = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {spec.archive}") as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    md5.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise DatasetError(_not_found_message(spec, None, reason=f"download from {url} failed: {error}")) from None
    if md5.hexdigest() != spec.md5:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"{spec.name}: the download from {url} has md5 {md5.hexdigest()}, expected {spec.md5}; "
            "nothing was kept, try again"
        )
    os.replace(partial, target)
    return target


# ---------------------------------------------------------------- reading the pickles

def read_source(spec: Spec, source: Path) -> dict:
    """Decode the archive (or extracted folder) into uint8 images and int64 labels."""
    expected = f"the official {spec.archive} ({spec.folder}/ with {', '.join(spec.train_members + spec.test_members)})"
    try:
        if source.is_dir():
            def read(member):
                return _unpickle(spec, source / member, (source / member).read_bytes())
        else:
            archive = tarfile.open(source, "r:*")
            members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}

            def read(member):
                if member not in members:
                    raise DatasetError(f"{spec.name}: {source} has no {spec.folder}/{member}; expected {expected}")
                return _unpickle(spec, source, archive.extractfile(members[member]).read())
        train = [read(m) for m in spec.train_members]
        test = [read(m) for m in spec.test_members]
        meta = read(spec.meta_member)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DatasetError(
            f"{spec.name}: cannot read {source}: {type(error).__name__}: {error} "
            f"(truncated or not a tar.gz archive?); expected {expected}"
        ) from None
    classes = [name.decode() for name in meta[spec.names_key]]
    return {
        "x_train": np.concatenate([_images(spec, source, d) for d in train]),
        "y_train": np.concatenate([_labels(spec, source, d, len(classes)) for d in train]),
        "x_test": np.concatenate([_images(spec, source, d) for d in test]),
        "y_test": np.concatenate([_labels(spec, source, d, len(classes)) for d in test]),
        "classes": classes,
    }


def _unpickle(spec: Spec, where: Path, raw: bytes) -> dict:
    try:
        batch = pickle.loads(raw, encoding="bytes")
    except Exception as error:  # a damaged pickle can raise almost anything
        raise DatasetError(f"{spec.name}: {where} holds a damaged pickle ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{spec.name}: {where} holds a {type(batch).__name__}, expected a dict batch")
    return batch


def _images(spec: Spec, where: Path, batch: dict) -> np.ndarray:
    data = np.asarray(batch.get(b"data"))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(
            f"{spec.name}: {where}: 'data' should be uint8 (N, 3072), got {data.dtype} {data.shape}"
        )
    return data.reshape(-1, 3, 32, 32)  # rows are the R, G and B planes, each 32x32 row-major


def _labels(spec: Spec, where: Path, batch: dict, num_classes: int) -> np.ndarray:
    labels = np.asarray(batch.get(spec.label_key, []), dtype=np.int64)
    if len(labels) != len(batch[b"data"]) or labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise DatasetError(
            f"{spec.name}: {where}: expected {len(batch[b'data'])} labels in [0, {num_classes}), "
            f"got {len(labels)} in [{labels.min(initial=0)}, {labels.max(initial=0)}]"
        )
    return labels


# ---------------------------------------------------------------- the .npy cache

def _fingerprint(source: Path) -> str:
    """Names the cache after the source's path, size and modification time."""
    stat = source.stat()
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _write_cache(folder: Path, arrays: dict):
    """Write into a temporary folder, then rename it: a cache is complete or absent."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", arrays[name])
        (tmp / "meta.json").write_text(json.dumps({"classes": arrays["classes"]}))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same cache first
            if not (folder / "meta.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_cache(folder: Path, source: Path) -> CIFAR:
    arrays = {name: np.load(folder / f"{name}.npy") for name in _ARRAYS}
    classes = json.loads((folder / "meta.json").read_text())["classes"]
    return CIFAR(**arrays, classes=classes, source=source)
