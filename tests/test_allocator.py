"""tinycnn.keep_freed_memory(): freed memory kept for reuse, on request only (tinycnn/allocator.py)."""
import platform
import subprocess
import sys

import pytest

# Allocate, fill and free a 40 MiB array ten times (above the 32 MiB up to which glibc's own
# dynamic threshold would start reusing such blocks); print the page faults that took.
CODE = """
import resource, sys
import numpy as np
import tinycnn
if sys.argv[1] == "keep":
    assert tinycnn.keep_freed_memory()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(10 << 20, dtype=np.float32)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _faults(mode):
    proc = subprocess.run([sys.executable, "-c", CODE, mode], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the malloc thresholds are glibc's")
def test_freed_arrays_are_reused_only_when_asked():
    kept, default = _faults("keep"), _faults("import-only")
    # kept: the first array faults its pages in, the nine after it reuse them; after a plain
    # `import tinycnn` glibc maps every one afresh (the counts depend on the page size, 4 KiB or
    # 2 MiB, not the ratio)
    assert default > 5 * kept
