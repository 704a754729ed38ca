"""DropPath (stochastic depth): statistics, scaling, eval identity, gradients."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import gradcheck, nn


def test_identity_in_eval_and_for_p_zero():
    x = tinycnn.randn(4, 3, 2, 2)
    layer = nn.DropPath(0.5).eval()
    assert layer(x) is x
    assert F.drop_path(x, 0.0, training=True) is x
    assert F.drop_path(x, 0.5) is x  # training defaults to False, as in timm


def test_whole_samples_dropped_with_probability_p_and_survivors_scaled():
    p = 0.3
    x = tinycnn.ones(4000, 2, 3, 3)
    y = nn.DropPath(p)(x).data
    per_sample = y.reshape(4000, -1)
    assert np.all(per_sample == per_sample[:, :1])  # a sample is kept or dropped as a whole
    np.testing.assert_allclose(np.unique(per_sample), [0.0, 1 / (1 - p)], rtol=1e-6)
    dropped = np.mean(per_sample[:, 0] == 0)
    assert abs(dropped - p) < 0.03  # 4 standard deviations
    assert abs(y.mean() - 1.0) < 0.05  # the expectation is unchanged


def test_p_one_drops_everything_and_bad_p_raises():
    assert np.all(F.drop_path(tinycnn.randn(5, 3), 1.0, training=True).data == 0)
    with pytest.raises(ValueError, match=r"DropPath: p must be a probability in \[0, 1\], got 1.5"):
        nn.DropPath(1.5)
    with pytest.raises(ValueError, match="drop_path: p must be a probability"):
        F.drop_path(tinycnn.randn(2, 2), -0.1, training=True)


def test_randomness_comes_from_tinycnn_rng():
    x = tinycnn.randn(64, 3)
    tinycnn.manual_seed(7)
    a = F.drop_path(x, 0.5, training=True).data
    tinycnn.manual_seed(7)
    b = F.drop_path(x, 0.5, training=True).data
    np.testing.assert_array_equal(a, b)


def test_gradcheck_with_a_fixed_mask():
    def fn(x):
        tinycnn.manual_seed(3)
        return F.drop_path(x, 0.4, training=True)

    x = tinycnn.Tensor(np.random.default_rng(0).normal(size=(6, 2, 3)), requires_grad=True)
    assert gradcheck(fn, [x])


def test_in_a_residual_block_the_shortcut_always_gets_the_gradient():
    x = tinycnn.Tensor(np.ones((8, 2)), requires_grad=True)
    tinycnn.manual_seed(0)
    branch = F.drop_path(x * 3.0, 0.5, training=True)
    (x + branch).sum().backward()
    kept = branch.data[:, 0] != 0
    np.testing.assert_allclose(x.grad.data[kept], 1 + 3.0 / 0.5)
    np.testing.assert_allclose(x.grad.data[~kept], 1.0)
    assert kept.any() and (~kept).any()


def test_batch_mode_drops_the_whole_batch_with_probability_p():
    p = 0.3
    x = tinycnn.ones(8, 2, 3, 3)
    outcomes = [float(nn.DropPath(p, mode="batch")(x).data.ravel()[0]) for _ in range(2000)]
    for y in (nn.DropPath(p, mode="batch")(x).data for _ in range(5)):
        assert np.all(y == y.ravel()[0])  # one draw for the whole batch
    np.testing.assert_allclose(np.unique(outcomes), [0.0, 1 / (1 - p)], rtol=1e-6)
    assert abs(np.mean(np.array(outcomes) == 0) - p) < 0.045  # 4 standard deviations
    with pytest.raises(ValueError, match="DropPath: mode must be 'row' or 'batch', got 'sample'"):
        nn.DropPath(0.1, mode="sample")
    assert "mode='batch'" in repr(nn.DropPath(0.1, mode="batch"))


def test_batch_mode_gradcheck_kept_and_dropped():
    x = tinycnn.Tensor(np.random.default_rng(0).normal(size=(3, 2, 2)), requires_grad=True)
    for seed in range(6):  # some seeds keep the branch, some drop it
        def fn(x, seed=seed):
            tinycnn.manual_seed(seed)
            return F.drop_path(x, 0.5, training=True, mode="batch")

        assert gradcheck(fn, [x])


def test_skip_decides_the_following_forward_and_only_in_batch_mode_training():
    x = tinycnn.ones(4, 3)
    layer = nn.DropPath(0.5, mode="batch")
    decisions = []
    for seed in range(20):
        tinycnn.manual_seed(seed)
        skipped = layer.skip()
        decisions.append(skipped)
        if not skipped:  # a kept branch is scaled, never dropped by a second draw
            np.testing.assert_allclose(layer(x).data, 2.0)
    assert any(decisions) and not all(decisions)
    assert not nn.DropPath(0.5).skip() and not nn.DropPath(0.5, mode="batch").eval().skip()


def test_a_skipped_block_runs_no_convolution_and_returns_its_shortcut():
    from tinycnn.models import create

    model = create("resnet20_stochastic_depth")
    calls = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(lambda *args: calls.append(1))
    x = tinycnn.randn(2, 3, 32, 32)
    model.eval()(x)
    full = len(calls)  # 19 convolutions: the stem and two per block
    ran = []
    for seed in range(5):
        calls.clear()
        tinycnn.manual_seed(seed)
        model.train()(x)
        ran.append(len(calls))
    assert full == 19 and min(ran) < full and all(n % 2 == 1 for n in ran)  # whole blocks skipped
    block = model.layer3[2]
    block.drop_path.p = 1.0 - 1e-12  # always dropped
    y = block.train()(tinycnn.randn(2, 64, 8, 8) * 0 + 1.5)
    np.testing.assert_array_equal(y.data, 1.5)  # relu(identity)


@pytest.mark.parametrize("shape, dtype", [((5, 3, 4, 2), np.float32), ((1, 7), np.float64), ((600, 16, 8, 8), np.float32)])
def test_scale_samples_kernel_matches_the_broadcast_product(shape, dtype):
    """The per-sample product DropPath uses (kernels/scale.py): batch 1, 2-D, and one large
    enough to run on the thread pool; bit for bit the NumPy product."""
    from tinycnn.kernels.scale import scale_samples, scale_samples_reference

    rng = np.random.default_rng(0)
    x, s = rng.standard_normal(shape).astype(dtype), (rng.random(shape[0]) > 0.3).astype(dtype) * dtype(1.25)
    got = scale_samples(x, s)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_array_equal(got, scale_samples_reference(x, s))


def test_scale_samples_op_gradcheck_and_shape_error():
    from tinycnn.ops.arithmetic import scale_samples

    x = tinycnn.Tensor(np.random.default_rng(1).standard_normal((3, 2, 5)), requires_grad=True)
    assert gradcheck(lambda x: scale_samples(x, [0.0, 2.0, -0.5]), [x])
    with pytest.raises(ValueError, match=r"one factor per sample, shape \(3,\), got \(2,\)"):
        scale_samples(x, [1.0, 2.0])
