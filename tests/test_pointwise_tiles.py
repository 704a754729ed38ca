"""The 1x1 convolution in register tiles (kernels/pointwise_tiles.py), where it fits (AVX-512, no
groups, whole tiles of pixels): against naive loops and the GEMMs, bias and clamp in its stores,
output channels that are no whole block of 4, batch 1, float32 and float64, the input gradient
through the same kernel (gradient check), the same bits on any thread count, PyTorch as oracle."""
import numpy as np
import pytest

import tinycnn
from tinycnn import Tensor, gradcheck
from tinycnn.kernels import pointwise_tiles, register_tile
from tinycnn.kernels.blas import gemm
from tinycnn.kernels.gemm import Pointwise
from tinycnn.kernels.geometry import ConvGeometry
from tinycnn.nn import functional as F

from conv_helpers import naive_conv2d, rng

needs_tiles = pytest.mark.skipif(not register_tile.AVX512, reason="no AVX-512: 1x1 convolutions stay with the GEMMs")
ONE_BY_ONE = ConvGeometry(1, 1, 1, 1, 0, 0)

# (x shape, output channels): 8x8 and 16x16 images are whole tiles of float32 and float64 pixels,
# 7 and 5 output channels are no whole blocks of 4; batch 1
# 4x4 images: 64 // 16 (float32) or 32 // 16 (float64) images share a tile
CASES = [((2, 5, 8, 8), 7), ((1, 3, 16, 16), 4), ((3, 12, 8, 8), 5), ((2, 1, 8, 16), 9), ((8, 6, 4, 4), 10)]


def test_fits_only_whole_tiles_of_pixels_without_groups():
    lanes32 = register_tile.lanes_of(4)
    assert pointwise_tiles.fits((2, 8, 8, 8), np.float32, 1) == register_tile.AVX512
    assert pointwise_tiles.fits((8, 8, 4, 4), np.float32, 1) == register_tile.AVX512  # 4 images a tile
    assert not pointwise_tiles.fits((6, 8, 4, 4), np.float32, 1)   # the batch no multiple of 4
    assert not pointwise_tiles.fits((8, 8, 3, 3), np.float32, 1)   # 9 pixels: neither
    assert not pointwise_tiles.fits((2, 8, 8, 8), np.float32, 2)   # groups
    assert not pointwise_tiles.fits((2, 8, 8, 8), np.float16, 1)
    assert not pointwise_tiles.fits((2, 8, 0, 8), np.float32, 1)
    assert pointwise_tiles.fits((2, 8, 1, lanes32 * 3), np.float32, 1) == register_tile.AVX512


@needs_tiles
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs, c_out", CASES)
def test_kernel_matches_naive_loops_with_bias_and_clamp(xs, c_out, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((c_out, xs[1])).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    want = naive_conv2d(x, w[:, :, None, None], b, (1, 1), (0, 0), (1, 1), 1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(pointwise_tiles.pointwise_tiles(x, w, b), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(pointwise_tiles.pointwise_tiles(x, w, b, (0.0, 1.0)), np.clip(want, 0, 1), rtol=tol, atol=tol)
    no_bias = naive_conv2d(x, w[:, :, None, None], None, (1, 1), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(pointwise_tiles.pointwise_tiles(x, w), no_bias, rtol=tol, atol=tol)


@needs_tiles
def test_the_path_takes_the_tiles_and_agrees_with_the_gemms():
    """Pointwise's forward and input gradient go through the tiles where they fit; the GEMMs
    they replace give the same values to float32 rounding."""
    x = rng.standard_normal((4, 24, 8, 8)).astype(np.float32)
    w = rng.standard_normal((40, 24, 1, 1)).astype(np.float32)
    g = rng.standard_normal((4, 40, 8, 8)).astype(np.float32)
    by_gemm = gemm(w.reshape(1, 40, 24), x.reshape(4, 1, 24, 64)).reshape(4, 40, 8, 8)
    np.testing.assert_allclose(Pointwise().forward(x, w, ONE_BY_ONE, 1), by_gemm, rtol=1e-5, atol=1e-4)
    gx_gemm = gemm(w.reshape(1, 40, 24).transpose(0, 2, 1), g.reshape(4, 1, 40, 64)).reshape(x.shape)
    np.testing.assert_allclose(Pointwise().grad_input(g, w, x.shape, ONE_BY_ONE, 1), gx_gemm, rtol=1e-5, atol=1e-4)


@needs_tiles
@pytest.mark.parametrize("xs", [(2, 3, 8, 8), (4, 3, 4, 4)])  # whole tiles an image; 2 images a tile
def test_gradcheck_through_the_tiles(xs):
    x = Tensor(rng.standard_normal(xs), requires_grad=True)
    w = Tensor(rng.standard_normal((5, 3, 1, 1)), requires_grad=True)
    b = Tensor(rng.standard_normal(5), requires_grad=True)
    y = F.conv2d(x, w, b)
    assert y._ctx.path == "pointwise"
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b), [x, w, b])


@needs_tiles
def test_the_same_bits_on_any_thread_count():
    x = rng.standard_normal((6, 10, 16, 16)).astype(np.float32)
    w = rng.standard_normal((13, 10)).astype(np.float32)
    before = tinycnn.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            tinycnn.set_num_threads(threads)
            outs.append(pointwise_tiles.pointwise_tiles(x, w))
    finally:
        tinycnn.set_num_threads(before)
    assert np.array_equal(*outs)


@pytest.mark.torch
def test_pointwise_matches_torch_float32_mobilenet_shape():
    """A MobileNetV2 expansion (24 -> 144 channels, 8x8), forward and both gradients, float32."""
    torch = pytest.importorskip("torch")
    x0 = rng.standard_normal((8, 24, 8, 8)).astype(np.float32)
    w0 = (rng.standard_normal((144, 24, 1, 1)) * 0.2).astype(np.float32)
    g0 = rng.standard_normal((8, 144, 8, 8)).astype(np.float32)
    x, w = Tensor(x0, requires_grad=True), Tensor(w0, requires_grad=True)
    y = F.conv2d(x, w)
    assert y._ctx.path == "pointwise"
    y.backward(g0)
    tx, tw = torch.from_numpy(x0).requires_grad_(), torch.from_numpy(w0).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw)
    ty.backward(torch.from_numpy(g0))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=2e-3)
