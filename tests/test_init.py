"""nn.init: PyTorch's fan and gain conventions, and the statistics of each initialiser."""
import math

import numpy as np
import pytest

import tinycnn
from tinycnn.nn import Parameter, init

FAN_SHAPES = [(5, 3), (64, 3, 3, 3), (16, 1, 5, 5), (8, 4, 2, 3, 1), (10, 7, 1)]


@pytest.mark.parametrize("shape", FAN_SHAPES)
def test_fans_by_hand(shape):
    rf = math.prod(shape[2:])
    assert init._calculate_fan_in_and_fan_out(np.empty(shape)) == (shape[1] * rf, shape[0] * rf)


@pytest.mark.torch
@pytest.mark.parametrize("shape", FAN_SHAPES)
def test_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    ours = init._calculate_fan_in_and_fan_out(tinycnn.zeros(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fan_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(tinycnn.zeros(5))


@pytest.mark.torch
@pytest.mark.parametrize(
    "args", [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2),
             ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("selu",)]
)
def test_gain_matches_torch(args):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-15)


def test_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(tinycnn.zeros(3, 3), mode="fan_avg")


SHAPE = (256, 128, 3, 3)  # fan_in 1152, fan_out 2304; 295k samples: std known to ~0.3 %
FAN_IN, FAN_OUT = 128 * 9, 256 * 9


@pytest.mark.parametrize(
    "fill, std, bound",
    [
        (lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / FAN_OUT), None),
        (lambda w: init.kaiming_normal_(w), math.sqrt(2 / FAN_IN), None),  # leaky_relu with a=0 == relu
        (lambda w: init.kaiming_uniform_(w, a=math.sqrt(5)), 1 / math.sqrt(3 * FAN_IN), 1 / math.sqrt(FAN_IN)),
        (lambda w: init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
        (lambda w: init.xavier_uniform_(w), math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
        (lambda w: init.xavier_normal_(w, gain=2.0), 2 * math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
        (lambda w: init.normal_(w, 0.0, 0.02), 0.02, None),
        (lambda w: init.uniform_(w, -0.5, 0.5), 1 / math.sqrt(12), 0.5),
    ],
)
def test_statistics(fill, std, bound):
    w = Parameter(np.zeros(SHAPE, dtype=np.float32))
    data = w.data
    assert fill(w) is w and w.data is data and w.dtype == np.float32  # in place
    assert abs(w.data.mean()) < 4 * std / math.sqrt(w.numel())
    assert w.data.std() == pytest.approx(std, rel=0.01)
    if bound is not None:
        assert np.abs(w.data).max() <= bound
        assert np.abs(w.data).max() > 0.99 * bound


def test_trunc_normal_is_truncated_normal():
    w = tinycnn.zeros(200_000, dtype=np.float64)
    init.trunc_normal_(w, mean=1.0, std=2.0, a=0.0, b=3.0)  # [mean - std/2, mean + std] in std units
    assert w.data.min() >= 0.0 and w.data.max() <= 3.0
    # moments of N(1, 4) truncated to [0, 3] (alpha = -0.5, beta = 1)
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    alpha, beta = -0.5, 1.0
    z = cdf(beta) - cdf(alpha)
    mean = 1.0 + 2.0 * (pdf(alpha) - pdf(beta)) / z
    var = 4.0 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - ((pdf(alpha) - pdf(beta)) / z) ** 2)
    assert w.data.mean() == pytest.approx(mean, abs=0.01)
    assert w.data.var() == pytest.approx(var, rel=0.02)


def test_constant_fills():
    w = tinycnn.zeros(3, 2)
    np.testing.assert_array_equal(init.ones_(w).data, 1)
    np.testing.assert_array_equal(init.constant_(w, 0.25).data, 0.25)
    np.testing.assert_array_equal(init.zeros_(w).data, 0)
    a = np.ones(4)  # plain arrays work too (e.g. buffers)
    init.zeros_(a)
    np.testing.assert_array_equal(a, 0)


def test_draws_come_from_the_global_rng():
    tinycnn.manual_seed(5)
    a = init.kaiming_normal_(tinycnn.zeros(4, 3)).data.copy()
    tinycnn.manual_seed(5)
    np.testing.assert_array_equal(init.kaiming_normal_(tinycnn.zeros(4, 3)).data, a)


def test_zero_element_tensor_is_a_no_op():
    assert init.kaiming_uniform_(tinycnn.zeros(0, 3)).shape == (0, 3)


def test_init_refuses_other_types():
    with pytest.raises(TypeError, match="expected a Tensor, Parameter or ndarray, got list"):
        init.zeros_([1.0, 2.0])
