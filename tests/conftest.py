"""Shared test set-up: every test starts from the same random state."""
import numpy as np
import pytest

import tinycnn


@pytest.fixture(autouse=True)
def _reseed():
    """Reseed tinycnn's generator and NumPy's legacy global one before each test."""
    tinycnn.manual_seed(0)
    np.random.seed(0)


INSTALL_ORACLE = 'pip install -e ".[dev,torch]"'


def torch_skip_line(skipped_reports, torch_installed: bool) -> str | None:
    """The closing line that says how many PyTorch comparisons did not run, or None."""
    if torch_installed:
        return None
    count = sum(1 for r in skipped_reports if "torch" in r.keywords or "'torch'" in str(r.longrepr))
    if not count:
        return None
    return (f"{count} PyTorch comparisons were skipped: PyTorch, the oracle, is not installed. "
            f"Run them with: {INSTALL_ORACLE}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """Without PyTorch a quarter of the checks skip; say so at the end of the run, after the
    short summary (the outermost wrapper prints last), just above the final counts."""
    yield
    try:
        import torch  # noqa: F401
        installed = True
    except ImportError:
        installed = False
    line = torch_skip_line(terminalreporter.stats.get("skipped", []), installed)
    if line:
        terminalreporter.write_line(line, yellow=True, bold=True)
