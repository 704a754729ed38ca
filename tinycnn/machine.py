"""The machine a measurement ran on: NumPy's float32 matrix-multiply rate, the yardstick that lets
times taken on different machines be compared (a training run records it; the benchmarks print it)."""
import time

import numpy as np


def matmul_gflops(n: int = 2048, repeat: int = 5, clock=time.perf_counter) -> float:
    """The machine's NumPy float32 matmul rate (GFLOP/s) on an n x n x n GEMM, median of `repeat`
    after one warm-up call, at the current BLAS thread count."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeat):
        start = clock()
        np.matmul(a, b, out=out)
        times.append(clock() - start)
    return 2 * n**3 / float(np.median(times)) / 1e9
