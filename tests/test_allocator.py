"""`import tinycnn` keeps freed memory for reuse (tinycnn/allocator.py)."""
import os
import platform
import subprocess
import sys

import pytest

# Allocate, fill and free a 40 MiB array ten times (above the 32 MiB up to which glibc's own
# dynamic threshold would start reusing such blocks); print the page faults that took.
CODE = """
import resource
import numpy as np
import tinycnn
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(10 << 20, dtype=np.float32)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _faults(env_value):
    env = {k: v for k, v in os.environ.items() if k != "TINYCNN_KEEP_FREED_MEMORY"}
    if env_value is not None:
        env["TINYCNN_KEEP_FREED_MEMORY"] = env_value
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the malloc thresholds are glibc's")
def test_freed_arrays_are_reused_without_page_faults_unless_turned_off():
    kept, default = _faults(None), _faults("0")
    # kept: the first array faults its pages in, the nine after it reuse them; glibc's default
    # maps every one afresh (the counts depend on the page size, 4 KiB or 2 MiB, not the ratio)
    assert default > 5 * kept
