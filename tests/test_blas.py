"""tinycnn's matrix products (tinycnn/kernels/blas.py): np.matmul's results, split into blocks
over tinycnn's threads with OpenBLAS at one thread, and OpenBLAS's own setting left as found."""
import threading

import numba
import numpy as np
import pytest

import tinycnn
from tinycnn.kernels import blas

rng = np.random.default_rng(0)

# (a shape, b shape): whole batch matrices, columns (N >= M), rows (M > N), a broadcast batch
# axis on either side, a 2-D operand against a 4-D one, and a ragged last block
SHAPES = [((6, 5, 7), (6, 7, 9)), ((2, 4, 9), (2, 9, 300)), ((300, 9), (9, 5)),
          ((1, 5, 7), (4, 7, 3)), ((4, 5, 7), (7, 3)), ((8, 3), (4, 2, 3, 70)), ((130, 3), (3, 1))]


@pytest.fixture
def split_everything(monkeypatch):
    """Every product split over 2 threads, however small."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba was started with one thread")
    before = tinycnn.get_num_threads()
    monkeypatch.setattr(blas, "SPLIT_MIN_MACS", 1)
    monkeypatch.setattr(blas, "_ALIGN", {"rows": 4, "cols": 8})
    tinycnn.set_num_threads(2)
    yield
    tinycnn.set_num_threads(before)


@pytest.mark.parametrize("sa, sb", SHAPES)
def test_split_product_equals_numpys(split_everything, sa, sb):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(blas.gemm(a, b), np.matmul(a, b), rtol=1e-13, atol=1e-13)


def test_strided_operands_and_out(split_everything):
    """Transposed views in, a slice of a larger array out (as the convolution calls it)."""
    a = rng.standard_normal((3, 40, 6)).astype(np.float32).transpose(0, 2, 1)    # (3, 6, 40)
    b = rng.standard_normal((3, 90, 40)).astype(np.float32).transpose(0, 2, 1)   # (3, 40, 90)
    big = np.zeros((3, 6, 100), dtype=np.float32)
    got = blas.gemm(a, b, out=big[:, :, 5:95])
    assert np.shares_memory(got, big)
    np.testing.assert_allclose(big[:, :, 5:95], np.matmul(a, b), rtol=1e-5, atol=1e-5)
    assert not big[:, :, :5].any() and not big[:, :, 95:].any()


def test_blocks_cover_the_product_once():
    for size, parts, align in [(10, 2, 4), (131072, 2, 64), (3, 2, 64), (1, 2, 1), (100, 3, 16)]:
        edges = blas._edges(size, parts, align)
        assert edges[0] == 0 and edges[-1] == size and edges == sorted(edges)


@pytest.mark.skipif(blas.OPENBLAS is None, reason="NumPy is not built with its bundled OpenBLAS")
def test_openblas_at_one_thread_inside_and_restored_after(split_everything, monkeypatch):
    seen = []
    real = np.matmul

    def spy(*args, **kwargs):
        seen.append(blas.openblas_threads())
        return real(*args, **kwargs)

    def spy_runner(runner):
        def run(*args):
            seen.append(blas.openblas_threads())
            return runner(*args)
        return run

    blas.OPENBLAS[0](2)
    monkeypatch.setattr(blas.np, "matmul", spy)
    monkeypatch.setattr(blas, "_POOL_RUNNERS", {k: spy_runner(v) for k, v in blas._POOL_RUNNERS.items()})
    blas.gemm(rng.standard_normal((64, 64)), rng.standard_normal((64, 64)))  # on Numba's pool
    blas.gemm(rng.standard_normal((64, 64)), rng.standard_normal((64, 64)).astype(np.float32))  # mixed: np.matmul
    assert len(seen) >= 2 and set(seen) == {1}
    assert blas.openblas_threads() == 2


@pytest.mark.skipif(blas.OPENBLAS is None, reason="NumPy is not built with its bundled OpenBLAS")
def test_concurrent_callers_leave_the_setting_as_found(split_everything):
    blas.OPENBLAS[0](2)
    a, b = rng.standard_normal((50, 60)), rng.standard_normal((60, 70))
    errors = []

    def work():
        try:
            for _ in range(50):
                np.testing.assert_allclose(blas.gemm(a, b), a @ b, rtol=1e-12)
        except Exception as e:  # noqa: BLE001  (reported below, from the main thread)
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert blas.openblas_threads() == 2


def test_a_failing_block_raises_and_restores(split_everything):
    before = blas.openblas_threads()
    with pytest.raises(ValueError):
        blas.gemm(np.ones((4, 3)), np.ones((3, 5)), out=np.empty((4, 6)))
    assert blas.openblas_threads() == before


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_splits_products_on_threads_of_its_own(split_everything):
    """The parent's pool threads do not exist in a forked child: it must not wait on them."""
    import multiprocessing

    a, b = rng.standard_normal((40, 30)), rng.standard_normal((30, 50))
    blas.gemm(a, b)  # the parent's pool is running
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(blas.gemm, (a, b)).get(timeout=60)
    np.testing.assert_allclose(got, a @ b, rtol=1e-12)


# ---------------------------------------------------------------- the blocks on Numba's pool


def _both_paths(monkeypatch, a, b):
    """gemm(a, b) with the blocks on Numba's pool, and with them on Python threads."""
    on_pool = blas.gemm(a, b).copy()
    monkeypatch.setattr(blas, "_POOL_RUNNERS", {})
    on_threads = blas.gemm(a, b)
    monkeypatch.undo()
    return on_pool, on_threads


def _transposed_copy(x):
    """x's values in a view whose last two axes have BLAS's transposed layout."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2)


@pytest.mark.skipif(not blas._POOL_RUNNERS, reason="NumPy's OpenBLAS has no 64-bit CBLAS symbols")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sa, sb", SHAPES)
def test_pool_blocks_give_the_bits_of_numpys_blocks(split_everything, monkeypatch, dtype, sa, sb):
    """Every layout the pool describes (plain, transposed a, transposed b, broadcast batches)
    gives the bits np.matmul gives for the same blocks, and np.matmul's values."""
    a, b = rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
    for x, y in [(a, b), (_transposed_copy(a), b), (a, _transposed_copy(b))]:
        out = np.empty(np.matmul(x, y).shape, dtype)
        if min(out.shape[-2:]) > 1:  # (matrix-vector products go to np.matmul)
            assert blas.blas_pool.plan(blas._blocks(x, y, out, 2)) is not None
        on_pool, on_threads = _both_paths(monkeypatch, x, y)
        np.testing.assert_array_equal(on_pool, on_threads)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(on_pool, np.matmul(x, y), rtol=tol, atol=tol)


def test_pool_declines_what_blas_cannot_read(split_everything):
    """Strides that are not one of BLAS's two layouts, an empty sum axis, mixed dtypes: np.matmul's path."""
    a = rng.standard_normal((12, 30)).astype(np.float32)
    b = rng.standard_normal((30, 40)).astype(np.float32)
    every_other = a[:, ::2]                                      # (12, 15), no unit stride
    assert blas.blas_pool.plan(blas._blocks(every_other, b[:15], np.empty((12, 40), np.float32), 2)) is None
    np.testing.assert_allclose(blas.gemm(every_other, b[:15]), every_other @ b[:15], rtol=1e-5, atol=1e-5)
    empty_k = blas.gemm(np.ones((12, 0), np.float32), np.ones((0, 40), np.float32))
    assert empty_k.shape == (12, 40) and not empty_k.any()
    np.testing.assert_allclose(blas.gemm(a, b.astype(np.float64)), a @ b.astype(np.float64), rtol=1e-5)


def test_shapes_that_do_not_fit_are_named():
    with pytest.raises(ValueError, match=r"\(4, 3\) and \(4, 5\)"):
        blas.gemm(np.ones((4, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"out should have shape \(4, 5\).*got \(4, 6\)"):
        blas.gemm(np.ones((4, 3)), np.ones((3, 5)), out=np.empty((4, 6)))
