"""Memory reused for tinycnn's large arrays, without touching malloc.

glibc hands a large freed block back to the kernel (it trims the heap once more than a few
tens of MiB lie free at its top, as they do at the end of every training step), so the next
array of that size is mapped again: one page fault per page on its first touch, a large
share of a CNN's training step. Changing glibc's thresholds would change them for every
library in the process (`tinycnn.keep_freed_memory()` does that, on request only). Instead,
tinycnn's kernels and ops take their large outputs from here: a freed array's memory goes
back to a free list of its size, and the next array of that size is made in it.

How an array's end is seen: each array is a view of a fresh flat array made over a pooled
block (np.frombuffer). NumPy points every view of a view at the first array up the chain
whose own base is not an ndarray: that flat array. So the flat array dies with the last view
of it, and a weak reference to it puts the block back on its free list.
"""
from __future__ import annotations

import math
import os
import threading
import weakref

import numpy as np

MIN_BYTES = 1 << 20       # smaller arrays: NumPy's own allocation, which glibc's heap reuses
MAX_FREE_BYTES = 2 << 30  # free blocks kept at most; beyond, a freed block goes back to malloc

_free: dict = {}   # nbytes -> [free blocks (uint8 arrays)]
_refs: dict = {}   # id(weak reference) -> weak reference, alive while its array is
_lock = threading.Lock()
_free_bytes = 0


def _after_fork_in_child():
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by a thread the child lacks


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _release(ref, block):
    """The last view of a pooled array died: its block goes back on the free list."""
    global _free_bytes
    with _lock:
        _refs.pop(id(ref), None)
        if _free_bytes + block.nbytes <= MAX_FREE_BYTES:
            _free.setdefault(block.nbytes, []).append(block)
            _free_bytes += block.nbytes


def _block(nbytes: int) -> np.ndarray:
    global _free_bytes
    with _lock:
        blocks = _free.get(nbytes)
        if blocks:
            _free_bytes -= nbytes
            return blocks.pop()
    return np.empty(nbytes, dtype=np.uint8)


def empty(shape, dtype) -> np.ndarray:
    """np.empty(shape, dtype), in reused memory when it is large (contents undefined)."""
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in (shape if isinstance(shape, tuple | list) else (shape,)))
    nbytes = math.prod(shape) * dtype.itemsize  # math.prod: np.prod would build an array from the tuple first
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    block = _block(nbytes)
    flat = np.frombuffer(memoryview(block), dtype=dtype)  # its base: a memoryview, not an ndarray
    ref = weakref.ref(flat, lambda r, block=block: _release(r, block))
    with _lock:
        _refs[id(ref)] = ref
    return flat.reshape(shape)                              # a view of flat, as all views of it


def empty_like(a: np.ndarray) -> np.ndarray:
    return empty(a.shape, a.dtype)


def apply(ufunc, a, b) -> np.ndarray:
    """ufunc(a, b) (e.g. np.add) for arrays, its output in reused memory when large."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    return ufunc(a, b, out=empty(shape, np.result_type(a, b)))


def clear():
    """Give every free block back to malloc (the arrays in use keep theirs)."""
    global _free_bytes
    with _lock:
        _free.clear()
        _free_bytes = 0
