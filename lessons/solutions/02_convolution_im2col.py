# %% [markdown]
# # Solutions to lesson 02 — Convolution as im2col + GEMM

# %%
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # lessons/, where _common lives
from _common import setup  # noqa: E402

import tinycnn  # noqa: E402
from tinycnn import Function, Tensor, gradcheck  # noqa: E402
from tinycnn.kernels.geometry import ConvGeometry  # noqa: E402
from tinycnn.kernels.im2col import im2col_reference  # noqa: E402
from tinycnn.nn import functional as F  # noqa: E402

run = setup("sol02")
tinycnn.manual_seed(0)

# %% [markdown]
# ## Exercise 1: the weight gradient of im2col + GEMM
# y = W (C_out, C k k) @ cols (C k k, N Ho Wo), so dL/dW = dY @ cols.T with dY
# reshaped to (C_out, N Ho Wo), the layout the forward produced. We wrap the
# forward in a `Function` of W alone (x fixed), gradcheck it, and compare the
# result with the weight gradient of `F.conv2d`.


# %%
class Im2colConvW(Function):
    """y = conv(x, W) by im2col + GEMM, as a function of W: W (C_out, C, k, k) -> y (N, C_out, Ho, Wo)."""

    def forward(self, w, x=None, geometry=None):
        self.cols = im2col_reference(x, geometry)                        # (C k k, N Ho Wo)
        self.w_shape = w.shape
        Ho, Wo = geometry.output_size(*x.shape[2:])
        y = w.reshape(w.shape[0], -1) @ self.cols                       # (C_out, N Ho Wo)
        return y.reshape(w.shape[0], x.shape[0], Ho, Wo).transpose(1, 0, 2, 3)

    def backward(self, grad):
        dy = grad.transpose(1, 0, 2, 3).reshape(self.w_shape[0], -1)     # (C_out, N Ho Wo)
        return (dy @ self.cols.T).reshape(self.w_shape)


geometry = ConvGeometry(kh=3, kw=3, ph=1, pw=1)
x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
w = tinycnn.randn(4, 3, 3, 3, dtype=np.float64, requires_grad=True)
print("gradcheck of dW = dY @ cols.T:", gradcheck(lambda w: Im2colConvW.apply(w, x=x, geometry=geometry), [w]))
Im2colConvW.apply(w, x=x, geometry=geometry).sum().backward()
ours = w.grad.numpy().copy()
w.zero_grad()
F.conv2d(Tensor(x), w, padding=1).sum().backward()
print(f"max |ours - F.conv2d's dW| = {np.abs(ours - w.grad.numpy()).max():.1e}")

# %% [markdown]
# ## Exercise 2: a 1x1 convolution is a matrix product
# With a 1x1 kernel every output pixel reads exactly one input pixel, so
# cols would be the input itself: x[n] reshaped to (C, H W) is already the
# matrix, and y[n] = W (C_out, C) @ x[n]. No copy is needed.

# %%
batch = run.pick(32, smoke=2)
xs = tinycnn.randn(batch, 64, 16, 16)
ws = tinycnn.randn(128, 64, 1, 1)
x3, w2 = xs.numpy().reshape(batch, 64, 256), ws.numpy().reshape(128, 64)
t = run.time({"F.conv2d 1x1": lambda: F.conv2d(xs, ws), "np.matmul": lambda: np.matmul(w2, x3)},
             repeat=run.pick(5, smoke=1))
assert np.allclose(F.conv2d(xs, ws).numpy().reshape(batch, 128, 256), np.matmul(w2, x3), atol=1e-4)
print(f"batch {batch}, 64 -> 128 channels, 16x16: F.conv2d {t['F.conv2d 1x1'] * 1e3:.2f} ms, "
      f"np.matmul {t['np.matmul'] * 1e3:.2f} ms; path {F.conv_algorithm(xs.shape, ws.shape)[0]}")
print("(any gap is F.conv2d's own overhead: Tensor wrapping, checks, buffers for the backward)")

# %% [markdown]
# ## Exercise 3: the size of cols for ResNet-50's first 3x3 layer
# cols has C k k rows and N Ho Wo columns: 64 * 9 = 576 rows and
# 64 * 56 * 56 = 200,704 columns.

# %%
rows, cols_n = 64 * 9, 64 * 56 * 56
print(f"cols: {rows} x {cols_n:,} = {rows * cols_n / 1e6:.1f}M entries = {rows * cols_n * 4 / 2**20:.0f} MiB in "
      f"float32, 9x the {64 * 64 * 56 * 56 * 4 / 2**20:.0f} MiB input")
print("Chunk the batch when cols would not fit the memory you can spare (or, for speed, the last-level "
      "cache): per image it is 576 x 3,136 = 6.9 MiB, so chunks of a few images keep it cache-sized; "
      "the GEMM stays large enough to run near full speed.")

# %%
run.done()
