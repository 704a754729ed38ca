"""tinycnn.interop.to_torch: every model of the zoo as a torch.nn.Module with the same
state_dict keys, weights and outputs (float64, eval mode), the same training step on
one, and a clear error for what it cannot translate."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import nn
from tinycnn.interop import TranslationError, to_torch
from tinycnn.models import create, input_size, list_models
from tinycnn.ops import to_dtype

pytestmark = pytest.mark.torch

# the largest models: the same code paths as smaller ones of their family, at many times the cost
SLOW = {"resnet101", "resnet152", "wide_resnet50_2", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
        "preact_resnet1001", "resnext29_16x64d", "resnext29_8x64d", "wrn28_10", "efficientnet_b4", "densenet121",
        "preact_resnet164", "resnet110", "resnet110_stochastic_depth", "se_resnet110", "densenet_bc_100_12"}


def _input(name):
    size = input_size(name)[1]
    size = 64 if size == 224 else size  # ImageNet models: global pooling takes a smaller image
    return np.random.default_rng(0).standard_normal((2, 3, size, size))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in list_models()])
def test_zoo_model_gives_the_same_logits_in_torch(name):
    torch = pytest.importorskip("torch")
    model = create(name).double().eval()
    tmodel = to_torch(model)
    assert isinstance(tmodel, torch.nn.Module) and not tmodel.training
    assert list(tmodel.state_dict()) == list(model.state_dict())
    x = _input(name)
    with tinycnn.no_grad():
        ours = model(tinycnn.tensor(x)).numpy()
    with torch.no_grad():
        theirs = tmodel(torch.from_numpy(x)).numpy()
    assert theirs.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * np.abs(theirs).max(), err_msg=name)


@pytest.mark.parametrize("name", ["resnet20_stochastic_depth", "efficientnet_cifar_tiny", "densenet_bc_28_12"])
def test_training_step_gives_the_same_loss_and_gradients(name):
    """Training mode (BatchNorm batch statistics; drop rates set to 0 so both draw nothing)."""
    torch = pytest.importorskip("torch")
    model = create(name).double()
    for m in model.modules():
        if isinstance(m, nn.DropPath | nn.Dropout):
            m.p = 0.0
    tmodel = to_torch(model)
    x, y = np.random.default_rng(0).standard_normal((4, 3, 32, 32)), np.array([0, 3, 5, 9])
    loss = F.cross_entropy(model(tinycnn.tensor(x)), y, label_smoothing=0.1)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y), label_smoothing=0.1)
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
    tparams = dict(tmodel.named_parameters())
    for key, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[key].grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=key)
    tstate = tmodel.state_dict()
    for key, value in model.state_dict().items():  # the running statistics moved alike
        np.testing.assert_allclose(value, tstate[key].numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


def test_stochastic_depth_and_dropout_run_in_train_mode():
    torch = pytest.importorskip("torch")
    tmodel = to_torch(create("resnet20_stochastic_depth"))
    assert tmodel.training
    torch.manual_seed(0)
    out = tmodel(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10)


def test_float32_model_stays_float32_and_keeps_requires_grad():
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].weight.requires_grad = False
    tmodel = to_torch(model)
    assert tmodel[0].weight.dtype == torch.float32 and not tmodel[0].weight.requires_grad
    assert tmodel[2].weight.requires_grad


class _Double(tinycnn.Function):
    def forward(self, x):
        return 2 * x

    def backward(self, grad):
        return 2 * grad


class CustomOp(nn.Module):
    def forward(self, x):
        return _Double.apply(x)


class UsesToDtype(nn.Module):
    def forward(self, x):
        return to_dtype(x, np.float64)


def test_untranslatable_layer_names_the_class_its_path_and_what_it_uses():
    pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), CustomOp()))
    with pytest.raises(TranslationError, match=r"cannot translate CustomOp at '1\.1'.*uses _Double, a tinycnn "
                                               r"autograd Function; expected tinycnn ops or layers that PyTorch has"):
        to_torch(model)
    with pytest.raises(TranslationError, match=r"UsesToDtype at '<root>'.*calls tinycnn's tinycnn.ops.elementwise.to_dtype \(as 'to_dtype'\), which has no torch"):
        to_torch(UsesToDtype())


def test_user_blocks_with_helpers_and_super_translate():
    torch = pytest.importorskip("torch")

    def twice(x):
        return tinycnn.cat([x, x], dim=1)

    class Base(nn.Module):
        factor = 3.0  # a class attribute

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.scale = 0.5

        def forward(self, x):
            return twice(self.fc(x)) * self.scale * self.factor

    class Child(Base):
        def forward(self, x):
            return F.relu(super().forward(x))

    model = Child().double()
    x = np.random.default_rng(0).standard_normal((2, 3))
    with torch.no_grad():
        theirs = to_torch(model)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(tinycnn.tensor(x)).numpy(), theirs, rtol=1e-12)
