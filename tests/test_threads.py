"""Thread control: tinycnn.set_num_threads / get_num_threads and TINYCNN_NUM_THREADS."""
import os
import subprocess
import sys

import numba
import pytest

import tinycnn
from tinycnn.kernels import blas


@pytest.fixture
def restore_threads():
    before = tinycnn.get_num_threads()
    yield
    tinycnn.set_num_threads(before)


def test_set_and_get(restore_threads):
    tinycnn.set_num_threads(1)
    assert tinycnn.get_num_threads() == 1
    tinycnn.set_num_threads(2)
    assert tinycnn.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)


def test_capped_at_numbas_pool_size(restore_threads):
    tinycnn.set_num_threads(10_000)
    assert tinycnn.get_num_threads() == numba.config.NUMBA_NUM_THREADS


def test_the_users_own_blas_setting_is_left_alone(restore_threads):
    before = blas.openblas_threads()
    tinycnn.set_num_threads(1)
    assert blas.openblas_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_bad_values_raise(bad):
    with pytest.raises(ValueError, match="set_num_threads: expected a positive integer"):
        tinycnn.set_num_threads(bad)


def _python(code, env_value=None):
    env = dict(os.environ)
    env.pop("TINYCNN_NUM_THREADS", None)
    if env_value is not None:
        env["TINYCNN_NUM_THREADS"] = env_value
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_env_var_applied_at_import():
    proc = _python("import tinycnn; print(tinycnn.get_num_threads())", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1"]


def test_env_var_bad_value_names_the_variable():
    proc = _python("import tinycnn", "two")
    assert proc.returncode != 0
    assert "TINYCNN_NUM_THREADS: expected a positive integer, got 'two'" in proc.stderr


def test_import_changes_no_environment_variable():
    """`import tinycnn` leaves the host process's environment as it found it (in either
    import order), so a script gets the same speed whatever it imports first."""
    code = ("import os, sys; before = dict(os.environ)\n"
            "if sys.argv[1] == 'numpy-first': import numpy\n"
            "import tinycnn, tinycnn.nn\n"
            "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    # a bare environment: this test process's own may hold what an earlier import set
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "SYSTEMROOT")}
    for order in ("numpy-first", "tinycnn-first"):
        proc = subprocess.run([sys.executable, "-c", code, order], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "[]", order
