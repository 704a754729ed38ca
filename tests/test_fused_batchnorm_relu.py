"""BatchNorm and the ReLU / ReLU6 after it in one pass (training and eval): the kernels' fused
clamp and gradient mask, `F.batch_norm(..., activation=)`, `nn.BatchNormAct2d`, and `fuse` on a
model in training mode (nn/utils/fusion.py)."""
import copy

import numpy as np
import pytest

import tinycnn
from op_counter import OpCounter
import tinycnn.nn.functional as F
from tinycnn import Tensor, gradcheck, nn
from tinycnn.kernels import batchnorm as K
from tinycnn.kernels.activation import relu6_backward_reference, relu_backward_reference
from tinycnn.nn.utils.fusion import fuse

rng = np.random.default_rng(0)
ACTS = [("relu", (0.0, np.inf), relu_backward_reference, F.relu),
        ("relu6", (0.0, 6.0), relu6_backward_reference, F.relu6)]


def _x(*shape, dtype=np.float64, scale=1.0):
    return rng.normal(0.5, scale, shape).astype(dtype)


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, clamp, backward_ref, _", ACTS)
def test_kernels_with_the_clamp_match_batch_norm_then_activation(dtype, name, clamp, backward_ref, _):
    x = _x(6, 3, 13, dtype=dtype, scale=3.0)                 # (N, C, M); outputs beyond 6 too
    w, b = np.array([1.0, 3.0, -2.0], dtype), np.array([0.0, 2.0, 1.0], dtype)
    x[0, 1, :4] = (6.0 - 2.0) / 3.0                          # outputs near 6 and 0
    out, mean, var = K.batch_norm_train_forward(x, w, b, 1e-5, clamp)
    plain, mean0, var0 = K.batch_norm_train_forward(x, w, b, 1e-5)
    np.testing.assert_array_equal(out, np.clip(plain, *clamp))
    np.testing.assert_array_equal(mean, mean0)
    g = _x(*x.shape, dtype=dtype)
    inv_std = 1 / np.sqrt(var + 1e-5)
    got = K.batch_norm_backward(x, g, mean, inv_std, w, out, clamp)
    want = K.batch_norm_backward_reference(x, backward_ref(g, out), mean, inv_std, w)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b_ in zip(got, want):
        np.testing.assert_allclose(a, b_, rtol=tol, atol=tol)
    scale, offset = w / 2, b - 1
    np.testing.assert_array_equal(K.batch_norm_affine(x, scale, offset, clamp),
                                  np.clip(K.batch_norm_affine(x, scale, offset), *clamp))


def test_nan_stays_nan_through_the_fused_clamp():
    x = _x(4, 2, 5, dtype=np.float32)
    x[1, 0, 2] = np.nan
    out, _, _ = K.batch_norm_train_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32), 1e-5, (0.0, np.inf))
    assert np.isnan(out[:, 0]).all() and not np.isnan(out[:, 1]).any()  # the channel's statistics are NaN


# ---------------------------------------------------------------- the functional and the module


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name, _, __, act", ACTS)
def test_functional_matches_the_two_ops_and_gradchecks(training, name, _, __, act):
    x = Tensor(_x(3, 4, 5, 3, scale=4.0), requires_grad=True)   # non-square, ReLU6's both kinks reached
    w, b = Tensor(_x(4) + 1, requires_grad=True), Tensor(_x(4), requires_grad=True)
    mean, var = _x(4), rng.uniform(0.5, 2.0, 4)
    fused = lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=training, activation=name)  # noqa: E731
    apart = lambda x, w, b: act(F.batch_norm(x, mean.copy(), var.copy(), w, b, training=training))  # noqa: E731
    grads = []
    for fn in (fused, apart):
        for t in (x, w, b):
            t.grad = None
        y = fn(x, w, b)
        (y * Tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape))).sum().backward()
        grads.append((y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()))
    for a, b_ in zip(*grads):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)
    assert gradcheck(fused, [x, w, b])


def test_functional_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="expected activation None or one of"):
        F.batch_norm(Tensor(_x(2, 3, 4, 4)), None, None, training=True, activation="gelu")


def test_the_relu_after_a_fused_batch_norm_passes_its_output_through():
    bn = nn.BatchNormAct2d(4).double()
    y = bn(Tensor(_x(2, 4, 3, 3), requires_grad=True))
    assert F.relu(y) is y                                    # no second pass, gradient already masked
    assert F.relu6(y) is not y                               # [0, inf) is not within ReLU6's range
    with tinycnn.no_grad():
        z = bn(Tensor(_x(2, 4, 3, 3)))
    assert F.relu(z).data is z.data and F.relu(z) is not z


def test_module_matches_batchnorm2d_then_relu_and_keeps_its_state_dict():
    plain, fused = nn.BatchNorm2d(5).double(), nn.BatchNormAct2d(5, act_layer=nn.ReLU6).double()
    assert fused.state_dict().keys() == plain.state_dict().keys()
    assert "act_layer='relu6'" in repr(fused)
    x = Tensor(_x(4, 5, 3, 6, scale=5.0))
    for mode in ("train", "eval"):
        getattr(plain, mode)(), getattr(fused, mode)()
        np.testing.assert_allclose(fused(x).numpy(), F.relu6(plain(x)).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fused.running_var, plain.running_var)
    assert int(fused.num_batches_tracked) == int(plain.num_batches_tracked) == 1
    with pytest.raises(ValueError, match="expected act_layer"):
        nn.BatchNormAct2d(5, act_layer="gelu")


def test_from_batch_norm_shares_the_parameters():
    bn = nn.BatchNorm2d(3)
    fused = nn.BatchNormAct2d.from_batch_norm(bn, "relu")
    assert fused.weight is bn.weight and fused.running_mean is bn.running_mean
    assert fused._parameters is not bn._parameters
    with pytest.raises(TypeError, match="expected a BatchNorm2d"):
        nn.BatchNormAct2d.from_batch_norm(nn.BatchNorm1d(3))


def test_module_against_pytorch():
    torch = pytest.importorskip("torch")
    x = _x(4, 3, 5, 4, dtype=np.float32, scale=2.0)
    g = _x(4, 3, 5, 4, dtype=np.float32)
    ours = nn.BatchNormAct2d(3)
    xt = Tensor(x, requires_grad=True)
    (ours(xt) * Tensor(g)).sum().backward()
    theirs = torch.nn.BatchNorm2d(3)
    xT = torch.tensor(x, requires_grad=True)
    (torch.relu(theirs(xT)) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xT.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5)


# ---------------------------------------------------------------- fuse() in training mode


def _step(model, x, y):
    """One training step's forward and backward: (logits, {name: grad}, ops run)."""
    with OpCounter() as counter:
        logits = model(x)
        F.cross_entropy(logits, y).backward()
    return logits.numpy(), {k: p.grad.numpy() for k, p in model.named_parameters()}, counter.ops


@pytest.mark.parametrize("name, fused_bns", [("resnet20", 10), ("preact_resnet20", 19), ("densenet_bc_28_12", 27),
                                             ("mobilenet_v1_cifar_025", 27)])
def test_fuse_in_training_keeps_the_step(name, fused_bns):
    """Every BatchNorm a ReLU alone reads becomes a BatchNormAct2d; the step's logits, every
    gradient and the running statistics stay those of the model (float64: to rounding)."""
    tinycnn.manual_seed(0)
    model = tinycnn.models.create(name).double()
    x, y = Tensor(_x(4, 3, 32, 32)), Tensor(np.arange(4))
    fused = fuse(model, x[:1])
    assert model.training and fused.training
    assert sum(isinstance(m, nn.BatchNormAct2d) for m in fused.modules()) == fused_bns
    assert list(fused.state_dict()) == list(model.state_dict())
    (want, want_grads, ops0), (got, got_grads, ops1) = _step(model, x, y), _step(fused, x, y)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for k in want_grads:
        np.testing.assert_allclose(got_grads[k], want_grads[k], rtol=1e-9, atol=1e-12 * np.abs(want_grads[k]).max())
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(fused.state_dict()[k], v, rtol=1e-12)
    relus = lambda ops: ops.get("ReLU", 0) + ops.get("ReLU6", 0)  # noqa: E731
    assert relus(ops0) - relus(ops1) == fused_bns


def test_fuse_in_training_leaves_a_batch_norm_read_twice():
    class BNReadTwice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()

        def forward(self, x):
            y = self.bn(self.conv(x))
            return self.relu(y) + y

    fused = fuse(BNReadTwice(), tinycnn.zeros(1, 3, 8, 8))
    assert type(fused.bn) is nn.BatchNorm2d


def test_trained_fused_model_fuses_for_eval_and_loads_into_the_plain_one():
    """fuse for training, then the eval fuse of that model: BatchNorms folded into ConvAct2d
    layers with the BatchNormAct2d's activation; its state_dict loads into the plain model."""
    tinycnn.manual_seed(1)
    model = tinycnn.models.create("resnet8")
    x = Tensor(_x(2, 3, 32, 32, dtype=np.float32))
    trained = fuse(model, x[:1])
    _step(trained, x, Tensor(np.arange(2)))
    plain = copy.deepcopy(model)
    plain.load_state_dict(trained.state_dict())
    plain.eval(), trained.eval()
    served = fuse(trained, x[:1])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in served.modules())
    with tinycnn.no_grad():
        want = plain(x).numpy()
        np.testing.assert_allclose(served(x).numpy(), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
        np.testing.assert_allclose(trained(x).numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
