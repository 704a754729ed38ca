"""Timing helpers shared by the benchmarks: thread control and careful medians."""
import gc
import time

import numpy as np

import tinycnn


def set_threads(n: int):
    """Use n threads in NumPy's OpenBLAS, Numba and (if installed) PyTorch."""
    tinycnn.set_num_threads(n)
    torch = try_import_torch()
    if torch is not None:
        torch.set_num_threads(n)


def try_import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def settle():
    """Collect garbage and let the BLAS threads of the previous call stop spinning
    (OpenBLAS threads busy-wait ~0.1 s after a call and would slow the next one)."""
    gc.collect()
    time.sleep(0.25)


def median_times(fns: dict, repeat: int = 7, warmup: int = 1, clock=time.perf_counter) -> dict:
    """Median seconds of each zero-argument callable, the callables interleaved
    (A B A B ...) so that a change in machine load hits every one alike.

    A callable may return a dict {phase: seconds} it measured itself (e.g. the
    forward part of a forward+backward step); the result then holds the median
    of each phase, plus "total", the whole call, timed with `clock`
    (time.process_time: CPU time, robust to other programs' load when single-threaded).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: {} for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            settle()
            t0 = clock()
            result = fn()
            phases = {**(result if isinstance(result, dict) else {}), "total": clock() - t0}
            for phase, t in phases.items():
                times[name].setdefault(phase, []).append(t)
    return {name: {phase: float(np.median(ts)) for phase, ts in by_phase.items()} for name, by_phase in times.items()}
