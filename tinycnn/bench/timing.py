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


def fwd_bwd_step(forward, grad, leaves) -> callable:
    """A callable for `median_times`: clear the leaves' grads, run `forward()`
    and `.backward(grad)` on its output, and return the seconds of the forward
    and of forward+backward ({fwd, fb}). Works for tinycnn and torch alike."""

    def step():
        for leaf in leaves:
            leaf.grad = None
        t0 = time.perf_counter()
        y = forward()
        t1 = time.perf_counter()
        y.backward(grad)
        return {"fwd": t1 - t0, "fb": time.perf_counter() - t0}

    return step


def fwd_bwd_medians(ours, theirs, repeat: int) -> dict:
    """Medians of two `fwd_bwd_step`s (theirs may be None), interleaved:
    {fwd, fb[, torch fwd, torch fb]} in seconds."""
    fns = {"ours": ours} if theirs is None else {"ours": ours, "torch": theirs}
    med = median_times(fns, repeat)
    out = {"fwd": med["ours"]["fwd"], "fb": med["ours"]["fb"]}
    if theirs is not None:
        out.update({"torch fwd": med["torch"]["fwd"], "torch fb": med["torch"]["fb"]})
    return out
