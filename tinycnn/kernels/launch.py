"""Calling the parallel Numba kernels.

Waking Numba's thread pool costs tens of microseconds, and much more on a
busy machine; on a tiny array (gradient checks, the last layers of a small
batch) that is more than the work itself. Such calls run on one thread.
"""
import numba

SERIAL_BELOW = 1 << 18  # elements touched by one call


def launch(kernel, work: int, *args):
    """kernel(*args), on one thread when `work` (elements touched) is small."""
    if work >= SERIAL_BELOW:
        return kernel(*args)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(threads)
