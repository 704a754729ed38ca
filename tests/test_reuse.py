"""Reused memory for tinycnn's large arrays (tinycnn/kernels/reuse.py): a block goes back to its
free list only when the last view of its array is gone, and a training step's arrays are made
again in the memory the previous step freed."""
import gc
import threading

import numpy as np
import pytest

import tinycnn
from tinycnn import nn
from tinycnn.kernels import reuse


@pytest.fixture
def fresh(monkeypatch):
    """An empty pool, with every array above 1 KiB pooled; counts the blocks made."""
    monkeypatch.setattr(reuse, "_free", {})
    monkeypatch.setattr(reuse, "_free_bytes", 0)
    monkeypatch.setattr(reuse, "MIN_BYTES", 1024)
    made = []
    real = reuse._block

    def counting(nbytes):
        if not reuse._free.get(nbytes):
            made.append(nbytes)
        return real(nbytes)

    monkeypatch.setattr(reuse, "_block", counting)
    yield made


def test_block_returns_only_after_the_last_view(fresh):
    a = reuse.empty((64, 32), np.float32)
    view = a[1:].T[::2]              # a view of a view
    del a
    gc.collect()
    assert reuse._free == {}          # the view still uses the memory
    view[:] = 1
    del view
    assert list(reuse._free) == [64 * 32 * 4]
    b = reuse.empty((32, 64), np.float32)   # the same size: the same block, no new one
    assert fresh == [64 * 32 * 4] and reuse._free[64 * 32 * 4] == []
    assert b.shape == (32, 64) and b.dtype == np.float32 and b.flags.c_contiguous and b.flags.writeable


def test_small_arrays_are_numpys_own(fresh):
    small = reuse.empty((4, 4), np.float64)
    assert small.flags.owndata and fresh == []


def test_apply_matches_numpy(fresh):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 30)).astype(np.float32), rng.standard_normal(30).astype(np.float32)
    got = reuse.apply(np.add, a, b)
    np.testing.assert_array_equal(got, a + b)
    assert got.dtype == np.float32 and not got.flags.owndata


def test_free_blocks_are_capped(fresh, monkeypatch):
    monkeypatch.setattr(reuse, "MAX_FREE_BYTES", 8192)
    arrays = [reuse.empty(1024, np.float32) for _ in range(3)]  # 4 KiB each
    del arrays
    assert reuse._free_bytes == 8192 and len(reuse._free[4096]) == 2


def test_threads_share_the_pool_safely(fresh):
    def work():
        for _ in range(200):
            a = reuse.empty((256, 8), np.float32)
            a[:] = 3
            assert (a == 3).all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fresh) <= 4 + 1


def test_a_second_training_step_makes_no_new_block(fresh):
    tinycnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    x, y = tinycnn.randn(16, 3, 16, 16), tinycnn.randint(0, 10, (16,))
    opt = tinycnn.optim.SGD(model.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    first = len(fresh)
    step()
    assert first > 0 and len(fresh) == first
