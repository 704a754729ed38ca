"""Keeping freed memory for the next array (glibc's malloc), on request.

glibc gives a large freed block back to the kernel (munmap, or trimming the
heap), so the next array of that size is mapped again, one page fault per
page on its first touch. A training step frees and allocates the same
activation-sized arrays over and over, so the faults become a sizeable share
of its time (`tinycnn bench profile` counts them; docs/PERFORMANCE.md).
`keep_freed_memory()` raises glibc's mmap and trim thresholds, so freed blocks
stay in the heap and are reused without faults. The peak memory stays the
same; the process just does not hand memory back to the system after its peak.

It changes malloc for the whole process (every library in it), so tinycnn
never does it on its own at import: call `tinycnn.keep_freed_memory()` in
your script, as the `tinycnn` command does. Other C libraries (macOS, musl)
are left alone.
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
