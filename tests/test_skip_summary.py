"""The closing line of a test run without PyTorch (tests/conftest.py)."""
from types import SimpleNamespace

from conftest import INSTALL_ORACLE, torch_skip_line


def _report(keywords, reason):
    return SimpleNamespace(keywords=dict.fromkeys(keywords, 1), longrepr=("file.py", 1, reason))


def test_counts_torch_marked_and_importorskip_torch_skips():
    reports = [_report(["torch", "test_a"], "Skipped: could not import 'torch'"),
               _report(["test_b"], "Skipped: could not import 'torch': No module named 'torch'"),
               _report(["test_c"], "Skipped: needs CIFAR-10")]
    line = torch_skip_line(reports, torch_installed=False)
    assert line.startswith("2 PyTorch comparisons were skipped") and line.endswith(INSTALL_ORACLE)
    assert INSTALL_ORACLE == 'pip install -e ".[dev,torch]"'


def test_silent_with_torch_or_without_torch_skips():
    assert torch_skip_line([_report(["torch"], "x")], torch_installed=True) is None
    assert torch_skip_line([_report(["test_c"], "Skipped: needs CIFAR-10")], torch_installed=False) is None
