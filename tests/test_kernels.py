"""Numba kernels against their readable NumPy references: im2col/col2im and
the direct depthwise convolution (forward and both backwards)."""
import numpy as np
import pytest

from tinycnn.kernels.depthwise import (
    depthwise_backward_input,
    depthwise_backward_input_reference,
    depthwise_backward_weight,
    depthwise_backward_weight_reference,
    depthwise_forward,
    depthwise_reference,
)
from tinycnn.kernels.im2col import col2im, col2im_reference, conv_output_size, im2col, im2col_reference

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
    cols = im2col(x, *g)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, im2col_reference(x, *g))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_col2im_matches_reference_and_is_the_adjoint(geometry, dtype):
    shape, *g = geometry
    cols = rng.standard_normal(im2col_reference(np.zeros(shape), *g).shape).astype(dtype)
    got = col2im(cols, shape, *g)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, col2im_reference(cols, shape, *g), rtol=tol, atol=tol)
    x = rng.standard_normal(shape)
    # <im2col(x), cols> == <x, col2im(cols)>: col2im is im2col's transpose
    np.testing.assert_allclose(np.sum(im2col(x, *g) * cols), np.sum(x * got), rtol=tol)


def test_im2col_writes_into_a_given_buffer():
    x = rng.standard_normal((2, 3, 5, 5))
    buf = np.full(10_000, np.nan)
    cols = im2col(x, 3, 3, 1, 1, 1, 1, 1, 1, out=buf)
    assert np.shares_memory(cols, buf)
    np.testing.assert_array_equal(cols, im2col_reference(x, 3, 3, 1, 1, 1, 1, 1, 1))


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
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", DEPTHWISE)
def test_depthwise_kernels_match_reference(case, dtype):
    shape, C_out, kh, kw, *geometry = case
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((C_out, kh, kw)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    out = depthwise_forward(x, w, *geometry)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, depthwise_reference(x, w, *geometry), rtol=tol, atol=tol)

    g = rng.standard_normal(out.shape).astype(dtype)
    gx = depthwise_backward_input(g, w, x.shape, *geometry)
    np.testing.assert_allclose(gx, depthwise_backward_input_reference(g, w, x.shape, *geometry), rtol=tol, atol=tol)
    gw = depthwise_backward_weight(g, x, kh, kw, *geometry)
    np.testing.assert_allclose(gw, depthwise_backward_weight_reference(g, x, kh, kw, *geometry), rtol=tol, atol=tol * 10)
    # the backwards are the adjoints of the forward: <g, f(x, w)> = <gx, x> = <gw, w>
    inner = np.sum(g.astype(np.float64) * out)
    np.testing.assert_allclose([np.sum(gx * x.astype(np.float64)), np.sum(gw * w.astype(np.float64))], [inner, inner], rtol=tol * 10)


def test_depthwise_reference_matches_im2col_reference():
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((6, 3, 3))  # multiplier 2
    cols = im2col_reference(x, 3, 3, 2, 2, 1, 1, 1, 1).reshape(3, 9, -1)  # (C, kh*kw, N*Ho*Wo)
    Ho = conv_output_size(6, 3, 2, 1, 1)
    out = np.einsum("cmk,ckp->cmp", w.reshape(3, 2, 9), cols).reshape(6, 2, Ho, Ho).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(depthwise_reference(x, w, 2, 2, 1, 1, 1, 1), out, rtol=1e-12)
