"""Thread control: tinycnn.set_num_threads / get_num_threads and TINYCNN_NUM_THREADS."""
import os
import subprocess
import sys

import numba
import pytest

import tinycnn


@pytest.fixture
def restore_threads():
    before = tinycnn.get_num_threads()
    yield
    tinycnn.set_num_threads(before["numba"])
    if before["blas"] is not None:
        tinycnn.threads._BLAS[0](before["blas"])


def test_set_and_get_both_pools(restore_threads):
    tinycnn.set_num_threads(1)
    got = tinycnn.get_num_threads()
    assert got["numba"] == 1
    assert got["blas"] in (1, None)  # None only with a BLAS other than NumPy's bundled OpenBLAS
    tinycnn.set_num_threads(2)
    assert tinycnn.get_num_threads()["numba"] == min(2, numba.config.NUMBA_NUM_THREADS)


def test_numba_capped_at_its_pool_size(restore_threads):
    tinycnn.set_num_threads(10_000)
    assert tinycnn.get_num_threads()["numba"] == numba.config.NUMBA_NUM_THREADS


def test_bundled_openblas_found():
    import numpy as np

    if "openblas" not in str(np.show_config(mode="dicts")).lower():
        pytest.skip("NumPy is not built with OpenBLAS")
    assert tinycnn.get_num_threads()["blas"] is not None


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_bad_values_raise(bad):
    with pytest.raises(ValueError, match="set_num_threads: expected a positive integer"):
        tinycnn.set_num_threads(bad)


def _python(code, env_value):
    env = {**os.environ, "TINYCNN_NUM_THREADS": env_value}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_env_var_applied_at_import():
    proc = _python("import tinycnn; t = tinycnn.get_num_threads(); print(t['numba'], t['blas'])", "1")
    assert proc.returncode == 0, proc.stderr
    numba_threads, blas_threads = proc.stdout.split()
    assert numba_threads == "1"
    assert blas_threads in ("1", "None")


def test_env_var_bad_value_names_the_variable():
    proc = _python("import tinycnn", "two")
    assert proc.returncode != 0
    assert "TINYCNN_NUM_THREADS: expected a positive integer, got 'two'" in proc.stderr


@pytest.mark.parametrize("preset, expected", [(None, "4"), ("12", "12")])
def test_import_lets_idle_openblas_threads_sleep_unless_told_otherwise(preset, expected):
    """OPENBLAS_THREAD_TIMEOUT (read when NumPy's OpenBLAS loads) is set to 4 by `import tinycnn`,
    an explicit setting is kept."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    code = "import tinycnn, os, sys; print(os.environ['OPENBLAS_THREAD_TIMEOUT'], 'numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected, "True"]
