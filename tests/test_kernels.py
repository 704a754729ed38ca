"""Numba kernels against their readable NumPy references: im2col/col2im, the
depthwise convolution and the direct 3-wide convolution (forward and both backwards)."""
import numpy as np
import pytest

from tinycnn.kernels.depthwise import (
    depthwise_backward,
    depthwise_backward_input_reference,
    depthwise_backward_weight_reference,
    depthwise_forward,
    depthwise_reference,
)
from tinycnn.kernels.direct_conv import direct_conv_simple, direct_weight_grad_simple, input_grad_as_conv
from tinycnn.kernels.direct_path import Direct
from tinycnn.kernels.geometry import ConvGeometry, conv_output_size
from tinycnn.kernels.im2col import col2im, col2im_reference, im2col, im2col_reference

rng = np.random.default_rng(0)

# (x shape, kh, kw, sh, sw, ph, pw, dh, dw)
GEOMETRIES = [
    ((2, 3, 7, 5), 3, 3, 1, 1, 1, 1, 1, 1),
    ((2, 3, 7, 5), 3, 2, 2, 1, 1, 2, 1, 2),
    ((1, 2, 6, 6), 1, 1, 2, 2, 0, 0, 1, 1),
    ((3, 2, 5, 8), 2, 3, 1, 3, 0, 1, 2, 1),
    ((1, 1, 3, 3), 3, 3, 1, 1, 2, 2, 1, 1),  # padding larger than half the kernel: all-zero rows
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_im2col_matches_reference(geometry, dtype):
    shape, *g = geometry
    x = rng.standard_normal(shape).astype(dtype)
    g = ConvGeometry(*g)
    cols = im2col(x, g)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, im2col_reference(x, g))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_col2im_matches_reference_and_is_the_adjoint(geometry, dtype):
    shape, *g = geometry
    g = ConvGeometry(*g)
    cols = rng.standard_normal(im2col_reference(np.zeros(shape), g).shape).astype(dtype)
    got = col2im(cols, shape, g)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, col2im_reference(cols, shape, g), rtol=tol, atol=tol)
    x = rng.standard_normal(shape)
    # <im2col(x), cols> == <x, col2im(cols)>: col2im is im2col's transpose
    np.testing.assert_allclose(np.sum(im2col(x, g) * cols), np.sum(x * got), rtol=tol)


def test_im2col_writes_into_a_given_buffer():
    x = rng.standard_normal((2, 3, 5, 5))
    buf = np.full(10_000, np.nan)
    g = ConvGeometry(kh=3, kw=3, ph=1, pw=1)
    cols = im2col(x, g, out=buf)
    assert np.shares_memory(cols, buf)
    np.testing.assert_array_equal(cols, im2col_reference(x, g))


def depthwise_backward_input(grad, weight, x_shape, geometry):
    """The input gradient alone: grad (N, C_out, Ho, Wo), weight (C_out, kh, kw) -> (N, C, H, W)."""
    return depthwise_backward(grad, tuple(x_shape), weight, True, False, geometry)[0]


def depthwise_backward_weight(grad, x, geometry):
    """The weight gradient alone: grad (N, C_out, Ho, Wo), x (N, C, H, W) -> (C_out, kh, kw)."""
    weight = np.zeros((grad.shape[1], geometry.kh, geometry.kw), dtype=grad.dtype)  # not read: gives the shape
    return depthwise_backward(grad, x, weight, False, True, geometry)[1]


# (x shape, C_out, kh, kw, sh, sw, ph, pw, dh, dw)
DEPTHWISE = [
    ((2, 3, 6, 5), 3, 3, 3, 1, 1, 1, 1, 1, 1),
    ((2, 3, 7, 6), 6, 3, 3, 2, 2, 1, 1, 1, 1),  # channel multiplier 2, stride 2
    ((1, 2, 8, 7), 2, 3, 5, 1, 2, 2, 1, 2, 1),  # dilation, non-square everything
    ((2, 4, 5, 5), 4, 5, 5, 1, 1, 2, 2, 1, 1),
    # stride 1 stacks small images per buffer (a partial last stack here): kernel widths 1 to 4,
    # channel multiplier 3, dilation
    ((7, 2, 4, 3), 6, 3, 3, 1, 1, 1, 1, 1, 1),
    ((5, 3, 4, 6), 3, 2, 4, 1, 1, 1, 2, 1, 1),
    ((3, 2, 6, 5), 2, 1, 2, 1, 1, 0, 1, 1, 2),
    ((9, 2, 3, 3), 4, 3, 1, 1, 1, 2, 0, 2, 1),
    # stride 2 reads phase planes (stacked small images too): 5x5, dilation, no padding, odd sizes
    ((9, 2, 4, 5), 2, 3, 3, 2, 2, 1, 1, 1, 1),
    ((2, 3, 9, 7), 3, 5, 5, 2, 2, 2, 2, 1, 1),
    ((3, 2, 8, 8), 4, 3, 3, 2, 2, 2, 2, 2, 2),
    ((2, 2, 7, 6), 2, 3, 3, 2, 2, 0, 0, 1, 1),
    ((2, 2, 9, 7), 2, 2, 2, 2, 2, 0, 0, 1, 1),  # 2x2 at stride 2: the last row and column read by no output
    ((2, 2, 7, 6), 2, 3, 3, 2, 1, 1, 1, 1, 1),  # stride (2, 1): the row-by-row kernel
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", DEPTHWISE)
def test_depthwise_kernels_match_reference(case, dtype):
    shape, C_out, kh, kw, *geometry = case
    geometry = ConvGeometry(kh, kw, *geometry)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((C_out, kh, kw)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    out = depthwise_forward(x, w, geometry)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, depthwise_reference(x, w, geometry), rtol=tol, atol=tol)

    g = rng.standard_normal(out.shape).astype(dtype)
    gx = depthwise_backward_input(g, w, x.shape, geometry)
    np.testing.assert_allclose(gx, depthwise_backward_input_reference(g, w, x.shape, geometry), rtol=tol, atol=tol)
    gw = depthwise_backward_weight(g, x, geometry)
    np.testing.assert_allclose(gw, depthwise_backward_weight_reference(g, x, geometry), rtol=tol, atol=tol * 10)
    # the backwards are the adjoints of the forward: <g, f(x, w)> = <gx, x> = <gw, w>
    inner = np.sum(g.astype(np.float64) * out)
    np.testing.assert_allclose([np.sum(gx * x.astype(np.float64)), np.sum(gw * w.astype(np.float64))], [inner, inner], rtol=tol * 10)


def test_depthwise_reference_matches_im2col_reference():
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((6, 3, 3))  # multiplier 2
    g = ConvGeometry(kh=3, kw=3, sh=2, sw=2, ph=1, pw=1)
    cols = im2col_reference(x, g).reshape(3, 9, -1)  # (C, kh*kw, N*Ho*Wo)
    Ho = conv_output_size(6, 3, 2, 1, 1)
    out = np.einsum("cmk,ckp->cmp", w.reshape(3, 2, 9), cols).reshape(6, 2, Ho, Ho).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(depthwise_reference(x, w, g), out, rtol=1e-12)


# (x shape, weight shape, ph, pw, dh, dw, groups[, stride]) for the direct kernels: 3-wide
# kernels at stride 1, 3x3 at stride 2
DIRECT = [
    ((2, 3, 6, 7), (5, 3, 3, 3), 1, 1, 1, 1, 1),
    ((3, 2, 5, 9), (4, 2, 1, 3), 0, 1, 1, 1, 1),
    ((2, 8, 5, 6), (8, 4, 3, 3), 2, 2, 2, 1, 2),
    ((13, 4, 4, 4), (6, 4, 5, 3), 2, 0, 1, 2, 1),  # stacked small images, a partial last stack
]
STRIDED = [
    ((2, 3, 8, 8), (5, 3, 3, 3), 1, 1, 1, 1, 1, 2),
    ((3, 4, 7, 10), (8, 2, 3, 3), 1, 0, 1, 1, 2, 2),  # odd height, groups
    ((17, 2, 4, 4), (4, 2, 3, 3), 1, 1, 1, 1, 1, 2),  # 2x2 outputs, a grid of them, a partial last plane
]


def _geometry(ws, ph, pw, dh, dw, stride=1):
    return ConvGeometry(ws[2], ws[3], stride, stride, ph, pw, dh, dw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", DIRECT + STRIDED)
def test_direct_kernels_match_numpy_reference(case, dtype):
    """The Numba kernels of the direct path against formulas (1)/(4), (2) and (3) written as
    (strided) slices; the input gradient is (1) applied to grad with the flipped weight at
    stride 1, col2im's at stride 2 (checked through the adjoint identity)."""
    xs, ws, ph, pw, dh, dw, groups, *stride = case
    g = _geometry(ws, ph, pw, dh, dw, *stride)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    path = Direct()
    out = path.forward(x, w, g, groups)
    np.testing.assert_allclose(out, direct_conv_simple(x, w, g, groups), rtol=tol, atol=tol)
    grad = rng.standard_normal(out.shape).astype(dtype)
    gw = path.grad_weight(grad, x, g, groups)
    np.testing.assert_allclose(gw, direct_weight_grad_simple(grad, x, g, groups), rtol=tol, atol=tol)
    gx = path.grad_input(grad, w, x.shape, g, groups)
    gx_simple = gx if stride else direct_conv_simple(grad, *input_grad_as_conv(w, g, groups), groups)
    np.testing.assert_allclose(gx, gx_simple, rtol=tol, atol=tol)
    # the references are the adjoints of the forward: <grad, conv(x, w)> = <gx, x> = <gw, w>
    inner = np.sum(grad.astype(np.float64) * out)
    np.testing.assert_allclose([np.sum(gx_simple * x.astype(np.float64)),
                                np.sum(direct_weight_grad_simple(grad, x, g, groups) * w.astype(np.float64))],
                               [inner, inner], rtol=tol * 10)



@pytest.mark.parametrize("sh, sw", [(1, 1), (2, 2), (2, 3)])
def test_direct_reference_matches_im2col_reference(sh, sw):
    """(1) as shifted slices is the convolution im2col + GEMM computes (any kernel, stride, groups)."""
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((6, 2, 3, 2))
    g = ConvGeometry(kh=3, kw=2, sh=sh, sw=sw, ph=1, pw=2, dh=2, dw=1)
    cols = im2col_reference(x, g).reshape(2, 2 * 3 * 2, -1)                 # (G, C/G*kh*kw, N*Ho*Wo)
    Ho, Wo = g.output_size(6, 5)
    out = np.matmul(w.reshape(2, 3, -1), cols).reshape(6, 2, Ho, Wo).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(direct_conv_simple(x, w, g, groups=2), out, rtol=1e-12, atol=1e-12)
