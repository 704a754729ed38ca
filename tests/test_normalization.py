"""BatchNorm: Numba kernels vs NumPy references, gradient checks, PyTorch as oracle."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import gradcheck, nn
from tinycnn.kernels import batchnorm as K


def _x(*shape, dtype=np.float64, requires_grad=True, loc=0.0, scale=1.0, seed=0):
    data = np.random.default_rng(seed).normal(loc, scale, shape).astype(dtype)
    return tinycnn.Tensor(data, requires_grad=requires_grad)


# ---------------------------------------------------------------- kernels vs references


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_match_numpy_references(dtype):
    rng = np.random.default_rng(1)
    x = (rng.normal(3.0, 2.0, (5, 4, 11))).astype(dtype)
    w, b = rng.normal(size=4).astype(dtype), rng.normal(size=4).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    out, mean, var = K.batch_norm_train_forward(x, w, b, 1e-5)
    ref = K.batch_norm_train_forward_reference(x, w, b, 1e-5)
    assert out.dtype == dtype
    for got, want in zip((out, mean, var), ref):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    g = rng.normal(size=x.shape).astype(dtype)
    inv_std = 1 / np.sqrt(var + 1e-5)
    got = K.batch_norm_backward(x, g, mean, inv_std, w)
    ref = K.batch_norm_backward_reference(x, g, mean, inv_std, w)
    assert got[0].dtype == dtype
    for a, b_ in zip(got, ref):
        np.testing.assert_allclose(a, b_, rtol=tol, atol=tol)
    np.testing.assert_allclose(K.batch_norm_affine(x, w, b), K.batch_norm_affine_reference(x, w, b), rtol=tol, atol=tol)
    got = K.batch_norm_eval_backward(x, g, mean, inv_std, w)
    ref = K.batch_norm_eval_backward_reference(x, g, mean, inv_std, w)
    assert got[0].dtype == dtype
    for a, b_ in zip(got, ref):
        np.testing.assert_allclose(a, b_, rtol=tol, atol=tol)


def _every_batch_norm_kernel(x, g, scale, offset):
    """Every output of the BatchNorm kernels on x, g (N, C, M): the affine pass, with a clamp,
    training forward (output, mean, var), its backward with and without a ReLU6 gate, and the
    eval backward."""
    out, mean, var = K.batch_norm_train_forward(x, scale, offset, 1e-5)
    gated, _, _ = K.batch_norm_train_forward(x, scale, offset, 1e-5, (0.0, 6.0))
    inv_std = 1 / np.sqrt(var + 1e-5)
    return (K.batch_norm_affine(x, scale, offset), K.batch_norm_affine(x, scale, offset, (0.0, 6.0)), out, mean, var,
            *K.batch_norm_backward(x, g, mean, inv_std, scale),
            *K.batch_norm_backward(x, g, mean, inv_std, scale, gated, (0.0, 6.0)),
            *K.batch_norm_eval_backward(x, g, mean, inv_std, scale))


def test_batch_norm_kernels_give_the_same_bits_on_any_thread_count():
    """The affine passes run in parallel over samples and the reductions over PARTS fixed runs of
    samples (on arrays large enough for `launch` to use every thread; 19 samples: runs of 1 and 2):
    1 and 2 threads give the same bits, and match the references."""
    from tinycnn.kernels.launch import SERIAL_BELOW
    rng = np.random.default_rng(3)
    x = rng.normal(size=(19, 5, SERIAL_BELOW // 64 + 3)).astype(np.float32)  # more than SERIAL_BELOW values
    g = rng.normal(size=x.shape).astype(np.float32)
    scale, offset = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    before = tinycnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            tinycnn.set_num_threads(threads)
            results.append(_every_batch_norm_kernel(x, g, scale, offset))
    finally:
        tinycnn.set_num_threads(before)
    for one, two in zip(*results):
        assert np.array_equal(one, two)
    affine, clamped, out, mean, var, dx, dgamma, dbeta = results[0][:8]
    np.testing.assert_allclose(affine, K.batch_norm_affine_reference(x, scale, offset), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(clamped, np.clip(affine, 0.0, 6.0))
    for got, want in zip((out, mean, var), K.batch_norm_train_forward_reference(x, scale, offset, 1e-5)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    want = K.batch_norm_backward_reference(x, g, mean, 1 / np.sqrt(var + 1e-5), scale)
    for got, ref in zip((dx, dgamma, dbeta), want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_eval_backward_of_an_empty_batch_gives_zero_parameter_gradients():
    x = np.zeros((0, 3, 4), np.float32)
    dx, dweight, dbias = K.batch_norm_eval_backward(x, x, np.zeros(3), np.ones(3), np.ones(3, np.float32))
    assert dx.shape == (0, 3, 4)
    np.testing.assert_array_equal(dweight, np.zeros(3))
    np.testing.assert_array_equal(dbias, np.zeros(3))


def test_float32_variance_is_accurate_with_a_large_mean():
    # sum(x^2) - sum(x)^2 in float32 would lose every digit here; the shifted algorithm does not
    x = np.random.default_rng(2).normal(1e4, 1e-2, (64, 2, 50)).astype(np.float32)
    _, mean, var = K.batch_norm_train_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32), 1e-5)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2)), rtol=1e-6)


# ---------------------------------------------------------------- gradient checks


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 3, 2), (1, 2, 3, 1)])
def test_batch_norm_training_gradcheck_full(shape):
    x = _x(*shape)
    w = _x(shape[1], seed=1)
    b = _x(shape[1], seed=2)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])


def test_batch_norm_training_gradcheck_random_directions():
    x = _x(4, 6, 7, 5, loc=2.0, scale=3.0)
    w, b = _x(6, seed=1), _x(6, seed=2)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b], mode="random")


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3, 2)])
def test_batch_norm_eval_gradcheck_full(shape):
    x, w, b = _x(*shape), _x(shape[1], seed=1), _x(shape[1], seed=2)
    mean = np.random.default_rng(3).normal(size=shape[1])
    var = np.random.default_rng(4).uniform(0.5, 2.0, size=shape[1])
    assert gradcheck(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False), [x, w, b])


def test_module_gradcheck_without_affine():
    bn = nn.BatchNorm2d(3, affine=False).double()
    assert gradcheck(bn, [_x(2, 3, 4, 3)])
    assert gradcheck(bn, [_x(4, 3, 6, 5)], mode="random")


# ---------------------------------------------------------------- module behaviour


def test_state_dict_keys_and_buffers():
    bn = nn.BatchNorm2d(4)
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert sd["num_batches_tracked"].dtype == np.int64 and sd["num_batches_tracked"].shape == ()
    assert sd["running_mean"].shape == (4,) and sd["running_var"].shape == (4,)
    assert list(nn.BatchNorm1d(3, affine=False, track_running_stats=False).state_dict()) == []


def test_num_batches_tracked_counts_training_steps_only():
    bn = nn.BatchNorm2d(2)
    x = _x(3, 2, 4, 4, dtype=np.float32, requires_grad=False)
    bn(x), bn(x)
    bn.eval()
    bn(x)
    assert int(bn.num_batches_tracked) == 2


def test_float32_stays_float32():
    bn = nn.BatchNorm2d(3)
    x = _x(4, 3, 5, 5, dtype=np.float32)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and bn.weight.grad.dtype == np.float32
    assert bn.running_mean.dtype == np.float32
    bn.eval()
    assert bn(x).dtype == np.float32


def test_training_output_is_normalised():
    y = nn.BatchNorm2d(3)(_x(8, 3, 5, 4, loc=5.0, scale=3.0, dtype=np.float32)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)


def test_no_grad_training_still_updates_running_stats():
    bn = nn.BatchNorm2d(2)
    with tinycnn.no_grad():
        bn(_x(4, 2, 3, 3, loc=1.0, dtype=np.float32))
    assert np.all(bn.running_mean > 0.05)


def test_bad_input_errors():
    bn2, bn1 = nn.BatchNorm2d(4), nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\): expected 4 channels in dim 1, got 3"):
        bn2(_x(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input of shape \(N, C, H, W\), got 3-D"):
        bn2(_x(4, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected input of shape \(N, C\) or \(N, C, L\), got 4-D"):
        bn1(_x(2, 4, 5, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn1(_x(1, 4))
    with pytest.raises(ValueError, match=r"batch_norm: weight should have shape \(3,\)"):
        F.batch_norm(_x(2, 3, 4), None, None, _x(4), training=True)
    with pytest.raises(ValueError, match="num_features must be positive"):
        nn.BatchNorm2d(0)


# ---------------------------------------------------------------- PyTorch as oracle


def _torch_bn(torch, cls_name, ours, **kwargs):
    tbn = getattr(torch.nn, cls_name)(ours.num_features, **kwargs).double()
    if ours.affine:
        with torch.no_grad():
            tbn.weight.copy_(torch.from_numpy(ours.weight.data))
            tbn.bias.copy_(torch.from_numpy(ours.bias.data))
    return tbn


def _step_both(torch, ours, theirs, x_np, g_np, x_grad_rtol, x_grad_atol):
    """One forward + backward of both layers on x_np with output gradient g_np; outputs and
    every gradient must agree (parameter gradients are then zeroed for the next step)."""
    x = tinycnn.Tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    y.backward(g_np)
    ty.backward(torch.from_numpy(g_np))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=x_grad_rtol, atol=x_grad_atol)
    if ours.affine:
        np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(ours.bias.grad.data, theirs.bias.grad.numpy(), rtol=1e-9, atol=1e-10)
        ours.zero_grad()
        theirs.zero_grad()


def _compare_steps(torch, cls_name, shape, steps=4, **kwargs):
    """Train ours and torch's layer side by side for a few steps, then eval."""
    ours = getattr(nn, cls_name)(shape[1], **kwargs).double()
    if ours.affine:
        ours.weight.data[:] = np.linspace(0.5, 1.5, shape[1])
        ours.bias.data[:] = np.linspace(-1, 1, shape[1])
    theirs = _torch_bn(torch, cls_name, ours, **kwargs)
    rng = np.random.default_rng(5)
    for step in range(steps):
        x_np = rng.normal(step, 1 + step, shape)
        _step_both(torch, ours, theirs, x_np, rng.normal(size=shape), x_grad_rtol=1e-9, x_grad_atol=1e-10)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
    ours.eval(), theirs.eval()
    x_np = rng.normal(1, 2, shape)
    _step_both(torch, ours, theirs, x_np, rng.normal(size=shape), x_grad_rtol=1e-10, x_grad_atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize(
    "cls_name, shape, kwargs",
    [
        ("BatchNorm2d", (4, 3, 5, 7), {}),
        ("BatchNorm2d", (1, 2, 3, 4), {"momentum": None}),
        ("BatchNorm2d", (3, 4, 2, 2), {"momentum": 0.3, "eps": 1e-3}),
        ("BatchNorm2d", (3, 2, 4, 4), {"affine": False}),
        ("BatchNorm2d", (3, 2, 4, 4), {"track_running_stats": False}),
        ("BatchNorm1d", (6, 5), {}),
        ("BatchNorm1d", (3, 4, 7), {"momentum": None}),
    ],
)
def test_matches_torch_over_training_steps_then_eval(cls_name, shape, kwargs):
    torch = pytest.importorskip("torch")
    _compare_steps(torch, cls_name, shape, **kwargs)


@pytest.mark.torch
def test_loads_a_torch_state_dict():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.BatchNorm2d(3)
    theirs(torch.randn(4, 3, 5, 5) * 2 + 1)
    ours = nn.BatchNorm2d(3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert int(ours.num_batches_tracked) == 1
    theirs.eval(), ours.eval()
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(tinycnn.Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-6)
