"""Files are written atomically and with the permissions a plain open() gives."""
import os
import stat

import pytest

from tinycnn.atomic_file import atomic_write, copy_file, write_text


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_get_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text(tmp_path / "a.json", "{}")
    copy_file(plain, tmp_path / "b.txt")
    assert _mode(tmp_path / "a.json") == _mode(plain)  # not mkstemp's private 0600
    assert _mode(tmp_path / "b.txt") == _mode(plain)
    assert (tmp_path / "b.txt").read_text() == "x"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target) as f:
            f.write("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]
