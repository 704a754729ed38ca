"""The direct path of the convolution (kernels/direct_conv.py, kernels/direct_path.py): 3-wide
kernels at stride 1 and 3x3 at stride 2 against naive loops, gradient checks, the same bits on
any thread count, PyTorch as an oracle, the stacked (phase) planes, and which layers it takes.

Split from test_conv.py (the convolution in general)."""
import functools

import numpy as np
import pytest
from numba import njit

import tinycnn
from tinycnn import Tensor, gradcheck
from tinycnn.kernels import direct_layout, direct_path
from tinycnn.kernels.geometry import ConvGeometry
from tinycnn.nn import functional as F

from conv_helpers import naive_conv2d, random_tensor as _t, rng


# (x shape, weight shape, padding, dilation[, groups]) for the direct kernels of 3-wide, stride-1 kernels:
# several small images a plane, side by side (and a last, partial plane), output channels not a multiple of the 4-channel block, kernel
# heights 1 to 5, no / partial / full padding, dilation, non-square images, batch 1, one channel.
DIRECT_CASES = {
    "3x3 pad 1, 5 output channels": ((2, 3, 6, 7), (5, 3, 3, 3), (1, 1), (1, 1)),
    "3x3 no padding, batch 1": ((1, 2, 5, 9), (3, 2, 3, 3), (0, 0), (1, 1)),
    "1x3 kernel, padding (0, 1)": ((2, 2, 4, 6), (4, 2, 1, 3), (0, 1), (1, 1)),
    "5x3 kernel, padding (2, 1)": ((1, 3, 7, 5), (2, 3, 5, 3), (2, 1), (1, 1)),
    "dilation 2, padding 2": ((2, 2, 7, 8), (6, 2, 3, 3), (2, 2), (2, 2)),
    "dilation (1, 2), padding (1, 3)": ((1, 1, 6, 9), (9, 1, 3, 3), (1, 3), (1, 2)),
    "one output channel": ((2, 4, 4, 4), (1, 4, 3, 3), (1, 1), (1, 1)),
    "groups 2 of 4 channels": ((2, 8, 5, 6), (8, 4, 3, 3), (1, 1), (1, 1), 2),
    "groups 4, dilation 2": ((3, 16, 5, 7), (16, 4, 3, 3), (2, 2), (2, 2), 4),
    # channels per group that are no whole blocks of 4: each group padded with zero channels
    "groups 2 of 2 in, 3 out": ((2, 4, 6, 6), (6, 2, 3, 3), (1, 1), (1, 1), 2),
    "groups 3 of 5 in, 6 out": ((2, 15, 5, 7), (18, 5, 3, 3), (1, 1), (1, 1), 3),
    "groups 2 of 7 in, 14 out, batch 1": ((1, 14, 4, 9), (28, 7, 3, 3), (1, 1), (1, 1), 2),
    # a plane holds a row of images that share their padding (11 here; on a grid of 3 rows,
    # `test_direct_path_on_a_grid_of_images`: 4 x 3 slots, one empty)
    "grid of 11 small images, padding 2, dilation 2": ((11, 2, 3, 4), (5, 2, 3, 3), (2, 2), (2, 2)),
    # no padding rows between the grid's rows, the widest padding (2*dw) between its columns
    "grid of 6 images, padding (0, 4), dilation (1, 2)": ((6, 1, 3, 4), (2, 1, 3, 3), (0, 4), (1, 2)),
}


def _direct(x, w, b, padding, dilation, groups=1):
    return F.conv2d(x, w, b, padding=padding, dilation=dilation, groups=groups, algorithm="direct")


@pytest.mark.parametrize("name", list(DIRECT_CASES))
def test_direct_path_matches_naive_loops_and_gradcheck(name):
    xs, ws, padding, dilation, *groups = DIRECT_CASES[name]
    groups = groups[0] if groups else 1
    x, w, b = _t(xs), _t(ws), _t(ws[0])
    want = naive_conv2d(x.data, w.data, b.data, (1, 1), padding, dilation, groups)
    y = _direct(x, w, b, padding, dilation, groups)
    assert y._ctx.path == "direct"
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w, b: _direct(x, w, b, padding, dilation, groups), [x, w, b])


GRID_CASES = ["grid of 11 small images, padding 2, dilation 2", "grid of 6 images, padding (0, 4), dilation (1, 2)"]


@pytest.mark.parametrize("name", GRID_CASES + ["stride 2: grid of 13 small images"])
def test_direct_path_on_a_grid_of_images(monkeypatch, name):
    """The kernels take any grid of images a plane (`padded_width_layout` lays them in one
    row): on 3 rows, with padding rows shared between the rows, they match naive loops."""
    monkeypatch.setattr(direct_path, "padded_width_layout", functools.partial(direct_layout.padded_width_layout, rows=3))
    if name.startswith("stride 2: "):
        (xs, ws, padding, groups), stride, dilation = STRIDED_CASES[name[10:]], 2, (1, 1)
    else:
        (xs, ws, padding, dilation), stride, groups = DIRECT_CASES[name], 1, 1
    x, w, b = _t(xs), _t(ws), _t(ws[0])
    assert direct_path.padded_width_layout(xs[0], *xs[2:], ConvGeometry(3, 3, stride, stride, *padding, *dilation)).ky == 3
    conv = lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups, algorithm="direct")  # noqa: E731
    want = naive_conv2d(x.data, w.data, b.data, (stride, stride), padding, dilation, groups)
    np.testing.assert_allclose(conv(x, w, b).numpy(), want, rtol=1e-12, atol=1e-12)
    assert gradcheck(conv, [x, w, b])


def test_direct_path_gradcheck_random_directions_larger():
    """Batch 19: 4 planes of 5 stacked 9x18 images, the last one partial; 7 output channels."""
    x, w = _t((19, 5, 9, 18)), _t((7, 5, 3, 3))
    assert gradcheck(lambda x, w: _direct(x, w, None, (1, 1), (1, 1)), [x, w], mode="random", n_directions=4)


def test_direct_path_gives_the_same_bits_on_any_thread_count():
    """The weight gradient sums fixed chunks of the batch in a fixed order, so the thread count
    does not change a single bit (seeded runs repeat on any machine)."""
    x0 = rng.standard_normal((20, 6, 8, 16)).astype(np.float32)
    w0 = rng.standard_normal((8, 6, 3, 3)).astype(np.float32)
    before = tinycnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            tinycnn.set_num_threads(threads)
            x, w = Tensor(x0, requires_grad=True), Tensor(w0, requires_grad=True)
            y = _direct(x, w, None, (1, 1), (1, 1))
            (y * y).sum().backward()
            results.append([y.numpy(), x.grad.numpy(), w.grad.numpy()])
    finally:
        tinycnn.set_num_threads(before)
    for one, two in zip(*results):
        assert np.array_equal(one, two)


@pytest.mark.torch
@pytest.mark.parametrize("c_out, stride", [(16, 1), (32, 2)])
def test_direct_path_matches_torch_float32_resnet_shape(c_out, stride):
    """ResNet-20's first-stage convolution (16 -> 16 channels, 32x32) and its second-stage
    downsampling one (16 -> 32, stride 2: 32x32 -> 16x16), float32, against PyTorch."""
    torch = pytest.importorskip("torch")
    x0 = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    w0 = (rng.standard_normal((c_out, 16, 3, 3)) * 0.1).astype(np.float32)
    g0 = rng.standard_normal((8, c_out, 32 // stride, 32 // stride)).astype(np.float32)
    x, w = Tensor(x0, requires_grad=True), Tensor(w0, requires_grad=True)
    y = F.conv2d(x, w, stride=stride, padding=1)
    assert y._ctx.path == "direct"
    y.backward(g0)
    tx, tw = torch.from_numpy(x0).requires_grad_(), torch.from_numpy(w0).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=1)
    ty.backward(torch.from_numpy(g0))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=2e-3)


@njit
def _stack_all(x, out, k, kx, S, T, top, left, sh, sw):
    """Every channel (and `out`'s padding channels) of every plane, as the kernels stack them
    one task at a time: out (M, C'*P, Hq, Wq)."""
    P, (M, rows, Hq, Wq) = sh * sw, out.shape
    flat = out.reshape(M * rows, Hq * Wq)
    for m in range(M):
        for c in range(rows // P):
            first = m * rows + c * P
            direct_layout.stack_channel(x, m, c, flat[first : first + P], k, kx, S, T, Wq, top, left, sh, sw)


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("N, H, W, padding, top_left", [(11, 3, 4, (2, 2), (2, 2)), (7, 5, 6, (1, 1), (0, 0)), (1, 4, 9, (0, 2), (0, 2))])
def test_stacked_planes_place_each_image_in_its_grid_slot_and_zero_the_rest(N, H, W, padding, top_left, rows):
    """Every entry of a stacked plane is written (the kernels stack into uninitialised memory):
    the image where its Layout says, zeros elsewhere, for the input (top, left = padding) and
    the gradient (0, 0)."""
    geometry = ConvGeometry(3, 3, 1, 1, *padding, 1, 1)
    lay = direct_layout.padded_width_layout(N, H, W, geometry, rows)
    x = rng.standard_normal((N, 2, H, W))
    out = np.full((-(-N // lay.k), 3, lay.Hq, lay.Wq), np.nan)  # one padding channel
    _stack_all(x, out, lay.k, lay.kx, lay.S, lay.T, *top_left, 1, 1)
    want = np.zeros_like(out)
    for n in range(N):
        sy, sx = divmod(n % lay.k, lay.kx)
        r, q = sy * lay.S + top_left[0], sx * lay.T + top_left[1]
        want[n // lay.k, :2, r : r + H, q : q + W] = x[n]
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("N, H, W, padding", [(11, 7, 6, (1, 1)), (3, 8, 9, (0, 2)), (1, 5, 5, (2, 0))])
def test_stacked_phase_planes_hold_every_other_row_and_column_of_the_padded_image(N, H, W, padding, rows):
    """At stride 2 each channel becomes 4 phase planes: slot (sy, sx) of phase (r, s) holds the
    padded image's rows r, r+2, ... and columns s, s+2, ...; zeros in the rest of the slot, the
    empty slots and the padding channel."""
    geometry = ConvGeometry(3, 3, 2, 2, *padding, 1, 1)
    lay = direct_layout.padded_width_layout(N, H, W, geometry, rows)
    x = rng.standard_normal((N, 2, H, W))
    out = np.full((-(-N // lay.k), 3 * 4, lay.Hq, lay.Wq), np.nan)  # one padding channel
    _stack_all(x, out, lay.k, lay.kx, lay.S, lay.T, *padding, 2, 2)
    want = np.zeros_like(out)
    big = np.zeros((N, 2, 2 * lay.S + 2, 2 * lay.T + 2))  # the padded image, room for every slot row
    big[:, :, padding[0] : padding[0] + H, padding[1] : padding[1] + W] = x
    for n in range(N):
        sy, sx = divmod(n % lay.k, lay.kx)
        for r in range(2):
            for s in range(2):
                phase = big[n, :, r : r + 2 * lay.S : 2, s : s + 2 * lay.T : 2]  # (2, S, T)
                want[n // lay.k, r * 2 + s : 8 : 4, sy * lay.S : (sy + 1) * lay.S, sx * lay.T : (sx + 1) * lay.T] = phase
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("stride", [1, 2])
def test_forward_tasks_sharing_a_plane_give_the_same_bits(monkeypatch, stride):
    """With few planes, each plane's output blocks are shared among several tasks (each stacking
    the plane, and only its groups' channels): the output is the same, bit for bit, however
    many tasks share a plane, and it matches naive loops. Groups 2 of 8 output channels, a
    bias and a clamp; 2 planes of 3 images."""
    x = rng.standard_normal((5, 6, 9, 10)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32)
    geometry = ConvGeometry(3, 3, stride, stride, 1, 1, 1, 1)
    outs = []
    for tasks_per_thread in (1, 3, 100):  # 1, 2 and 4 (every block) tasks a plane on 2 threads
        monkeypatch.setattr(direct_path, "TASKS_PER_THREAD", tasks_per_thread)
        outs.append(direct_path.Direct().forward(x, w, geometry, 2, bias, (0.0, 2.0)))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    want = naive_conv2d(x.astype(np.float64), w.astype(np.float64), bias, (stride,) * 2, (1, 1), (1, 1), 2)
    np.testing.assert_allclose(outs[0], np.clip(want, 0, 2), rtol=1e-5, atol=1e-5)


# (x shape, weight shape, padding, groups): 3x3 kernels at stride 2 through the direct path
STRIDED_CASES = {
    "ResNet downsampling shape, 16 -> 32": ((3, 16, 8, 8), (32, 16, 3, 3), (1, 1), 1),
    "odd non-square image, 5 -> 6 channels": ((2, 5, 7, 9), (6, 5, 3, 3), (1, 1), 1),
    "no padding, batch 1": ((1, 3, 9, 6), (4, 3, 3, 3), (0, 0), 1),
    "padding (2, 0)": ((2, 2, 6, 7), (3, 2, 3, 3), (2, 0), 1),
    "groups 2 of 3 in, 6 out": ((2, 6, 6, 6), (12, 3, 3, 3), (1, 1), 2),
    "grid of 13 small images": ((13, 2, 4, 5), (4, 2, 3, 3), (1, 1), 1),
}


@pytest.mark.parametrize("name", list(STRIDED_CASES))
def test_direct_path_at_stride_2_matches_naive_loops_and_gradcheck(name):
    xs, ws, padding, groups = STRIDED_CASES[name]
    x, w, b = _t(xs), _t(ws), _t(ws[0])

    def conv(x, w, b):
        return F.conv2d(x, w, b, stride=2, padding=padding, groups=groups, algorithm="direct")

    y = conv(x, w, b)
    assert y._ctx.path == "direct"
    np.testing.assert_allclose(y.numpy(), naive_conv2d(x.data, w.data, b.data, (2, 2), padding, (1, 1), groups),
                               rtol=1e-12, atol=1e-12)
    assert gradcheck(conv, [x, w, b])


def test_direct_path_takes_stride_2_where_it_is_faster_and_leaves_the_rest_to_im2col():
    assert F.conv_algorithm((128, 16, 32, 32), (32, 16, 3, 3), stride=2, padding=1)[0] == "direct"
    assert F.conv_algorithm((128, 32, 16, 16), (64, 32, 3, 3), stride=2, padding=1)[0] == "direct"
    assert F.conv_algorithm((128, 64, 8, 8), (128, 64, 3, 3), stride=2, padding=1)[0] == "im2col"  # 4x4 outputs
    assert F.conv_algorithm((128, 128, 16, 16), (256, 128, 3, 3), stride=2, padding=1)[0] == "im2col"  # many channels
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(_t((1, 2, 8, 8)), _t((2, 2, 3, 3)), stride=2, dilation=2, padding=2, algorithm="direct")
