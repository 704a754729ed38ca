"""Dropout and Dropout2d: inverted scaling, eval identity, whole-channel masks,
gradients through the mask, reproducibility from the global RNG."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import gradcheck, nn


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scale(p):
    x = tinycnn.ones(400, 500)
    out = nn.Dropout(p)(x).data
    kept = out != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)  # 200k draws: std of the rate < 0.0012
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    assert out.mean() == pytest.approx(1.0, abs=0.02)  # expectation preserved
    assert out.dtype == np.float32


@pytest.mark.torch
@pytest.mark.parametrize("p", [0.3, 0.6])
def test_dropout_matches_torch_up_to_the_random_mask(p):
    """Same rule as torch: each output is 0 or x / (1 - p), and the drop rates agree."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).uniform(1, 2, (300, 300))
    ours = F.dropout(tinycnn.tensor(x), p).data
    ref = torch.nn.functional.dropout(torch.tensor(x), p).numpy()
    for out in (ours, ref):
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-12)
    assert (ours == 0).mean() == pytest.approx((ref == 0).mean(), abs=0.01)
    t_eval = torch.nn.functional.dropout(torch.tensor(x), p, training=False).numpy()
    np.testing.assert_array_equal(F.dropout(tinycnn.tensor(x), p, training=False).data, t_eval)


def test_eval_mode_and_p_zero_are_identity():
    x = tinycnn.randn(4, 5)
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert nn.Dropout2d(0.5).eval()(tinycnn.randn(2, 3, 4, 4)).shape == (2, 3, 4, 4)


def test_p_one_zeroes_everything():
    np.testing.assert_array_equal(nn.Dropout(1.0)(tinycnn.randn(3, 4)).data, 0)


def test_gradient_is_the_mask():
    x = tinycnn.tensor(np.random.default_rng(0).standard_normal((50, 40)), requires_grad=True)
    out = F.dropout(x, 0.3)
    out.sum().backward()
    mask = out.data / x.data
    np.testing.assert_allclose(x.grad.data, mask, rtol=1e-12)


def test_gradcheck_with_fixed_seed():
    x = tinycnn.tensor(np.random.default_rng(1).standard_normal((3, 4, 2, 2)), requires_grad=True)

    def fn(x):
        tinycnn.manual_seed(0)  # the same mask at every call
        return F.dropout2d(F.dropout(x, 0.3), 0.5)

    assert gradcheck(fn, [x])


def test_dropout2d_drops_whole_channels():
    x = tinycnn.ones(64, 32, 3, 5)
    out = nn.Dropout2d(0.25)(x).data
    per_channel = out.reshape(64, 32, -1)
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # each channel all-0 or all-scaled
    kept = per_channel[:, :, 0] != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.03)
    np.testing.assert_allclose(per_channel[kept], 1 / 0.75, rtol=1e-6)


def test_randomness_comes_from_the_global_rng():
    x = tinycnn.ones(10, 10)
    tinycnn.manual_seed(3)
    a = F.dropout(x, 0.5).data
    tinycnn.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, a)
    assert not np.array_equal(F.dropout(x, 0.5).data, a)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: nn.Dropout(1.5), r"Dropout: dropout probability has to be between 0 and 1, got 1.5"),
        (lambda: F.dropout(tinycnn.ones(2), -0.1), "dropout: dropout probability"),
        (lambda: nn.Dropout2d(0.5)(tinycnn.ones(2, 3)), r"dropout2d: expected 4-D input \(N, C, H, W\), got shape"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
