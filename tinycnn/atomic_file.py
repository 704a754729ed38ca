"""Files written atomically: a temporary file in the target's folder is written, flushed to
disk, given the permissions a plain `open` would give, then renamed over the target. A crash
leaves the old file or the new one, never half of one, and a reader never sees a partial file.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path, mode: str = "w", **open_kwargs):
    """`with atomic_write(path, "wb") as f: ...` -- the file appears at `path` only if the
    block finishes; on an exception the temporary file is removed and the old `path` stays."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private (0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> Path:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def copy_file(source, target) -> Path:
    with open(source, "rb") as src, atomic_write(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return Path(target)


def save_figure(fig, path, **savefig_kwargs) -> Path:
    """`fig.savefig(path)`, atomically; the format comes from the file's suffix."""
    path = Path(path)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
