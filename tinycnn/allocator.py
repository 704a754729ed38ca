"""Keeping freed memory for the next array (glibc's malloc), on request.

glibc gives a large freed block back to the kernel (munmap, or trimming the
heap), so the next array of that size is mapped again, one page fault per
page on its first touch. tinycnn's own large arrays avoid that without any
process-wide setting (tinycnn/kernels/reuse.py); the temporaries NumPy makes
inside an op, and every other library's arrays, do not.
`keep_freed_memory()` raises glibc's mmap and trim thresholds, so every freed
block stays in the heap and is reused without faults. The peak memory stays
the same; the process just does not hand memory back to the system after its
peak (the figures: docs/PERFORMANCE.md).

It changes malloc for the whole process (every library in it), so tinycnn
never does it on its own: call `tinycnn.keep_freed_memory()` in your script
if you want it. Other C libraries (macOS, musl) are left alone.
"""
import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_MMAP_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap, not their own mapping
_TRIM_THRESHOLD = (1 << 31) - 1  # never shrink the heap


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse, for the rest of the process;
    True if it took effect (False on another C library)."""
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    libc = ctypes.CDLL(path)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):  # glibc only
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
