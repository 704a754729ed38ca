"""The ResNet family of the zoo: ResNet (CIFAR, ImageNet), pre-activation
ResNet, Wide ResNet, ResNeXt, SE-ResNet and stochastic depth: registry, counts, MACs,
shapes (the blocks themselves: test_models_resnet_blocks.py).

Reference figures are independent of this code: torchvision/timm parameter
counts and state_dict keys (tests/fixtures/twins.json, generated from
torchvision 0.29 / timm 1.0), the papers' parameter counts and
torchvision's published GFLOPS (multiply-accumulates) at 224x224.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import tinycnn
from tinycnn import models, nn
from tinycnn.models.preact_resnet import cifar_preact_resnet
from tinycnn.models.resnet import BasicBlock, Bottleneck, CifarResNet, ShortcutA, cifar_resnet
from tinycnn.models.resnext import resnext_cifar
from tinycnn.models.wide_resnet import WideResNet
from tinycnn.nn import functional as F

TWINS = json.loads((Path(__file__).parent / "fixtures" / "twins.json").read_text())["models"]

# our name -> (twin's name in the fixture, its parameter count as published by torchvision/timm)
IMAGENET_TWINS = {
    "resnet18": ("resnet18", 11_689_512),
    "resnet34": ("resnet34", 21_797_672),
    "resnet50": ("resnet50", 25_557_032),
    "resnet101": ("resnet101", 44_549_160),
    "resnet152": ("resnet152", 60_192_808),
    "wide_resnet50_2": ("wide_resnet50_2", 68_883_240),
    "resnext50_32x4d": ("resnext50_32x4d", 25_028_904),
    "se_resnet50": ("seresnet50", 28_088_024),
    "preact_resnet50": ("resnetv2_50", 25_549_352),
}

# The papers' tables (millions, as printed). They count the weights of the
# convolutions and the classifier, not BatchNorm's affine parameters: with
# BN included pre-act ResNet-1001 has 10.33M and ResNeXt-29 16x64d 68.16M.
PAPER_PARAMS_M = {
    "resnet20": "0.27", "resnet32": "0.46", "resnet44": "0.66", "resnet56": "0.85", "resnet110": "1.7",
    "preact_resnet110": "1.7", "preact_resnet164": "1.7", "preact_resnet1001": "10.2",
    "wrn16_4": "2.7", "wrn28_10": "36.5", "wrn40_4": "8.9",
    "resnext29_8x64d": "34.4", "resnext29_16x64d": "68.1",
}

# torchvision's model table, GFLOPS at 224x224 (multiply-accumulates of conv and linear layers)
TORCHVISION_GMACS = {"resnet18": 1.81, "resnet34": 3.66, "resnet50": 4.09, "resnet101": 7.80, "resnet152": 11.51,
                     "wide_resnet50_2": 11.40, "resnext50_32x4d": 4.23}

# every CIFAR model of the family at batch 2, 3x32x32; the deep / wide ones are `slow`
CIFAR_MODELS = ["resnet20", "se_resnet20", "wrn16_4"] + [
    pytest.param(name, marks=pytest.mark.slow) for name in (
        "resnet32", "resnet44", "resnet56", "resnet110", "resnet110_stochastic_depth", "preact_resnet110",
        "preact_resnet164", "se_resnet56", "se_resnet110", "wrn40_4", "wrn28_10", "resnext29_8x64d",
        "resnext29_16x64d", "preact_resnet1001")
]

# small members of each family, so the default run covers every block type
SMALL_CIFAR_MODELS = {
    "resnet8_option_b": lambda: cifar_resnet(8, shortcut="B", drop_path_rate=0.3),
    "preact_resnet11_bottleneck": lambda: cifar_preact_resnet(11, bottleneck=True, se=True),
    "preact_resnet8_basic": lambda: cifar_preact_resnet(8, bottleneck=False, drop_path_rate=0.3),
    "wrn10_1_dropout": lambda: WideResNet(10, 1, dropout_rate=0.3),
    "resnext11_2x4d": lambda: resnext_cifar(2, 4, depth=11, se=True),
}


def weight_params(model: nn.Module) -> int:
    """Parameters of the convolutions and linear layers (the papers' count)."""
    return sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear) for p in m.parameters(False))


_built = {}


# the largest twins repeat the code paths of resnet18/resnet50/resnext50_32x4d with other depths or
# widths; building them (initialising 20-69M weights) is slow, so their exact checks are `slow`
SLOW_TWINS = {"resnet34", "resnet101", "resnet152", "wide_resnet50_2"}
TWIN_PARAMS = [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TWINS else name for name in IMAGENET_TWINS]


def imagenet(name: str) -> nn.Module:
    """Build each ImageNet model once per session (construction is the slow part)."""
    if name not in _built:
        _built[name] = models.create(name, num_classes=1000)
    return _built[name]


# ---------------------------------------------------------------- registry


def test_registry_lists_the_family():
    names = set(models.list_models())
    assert set(IMAGENET_TWINS) | set(PAPER_PARAMS_M) | {"resnet110_stochastic_depth", "se_resnet20", "se_resnet56",
                                                         "se_resnet110"} <= names


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("name", TWIN_PARAMS)
def test_imagenet_param_count_equals_twin_exactly(name):
    twin, published = IMAGENET_TWINS[name]
    assert TWINS[twin]["params"] == published
    assert tinycnn.count_params(imagenet(name)) == published


@pytest.mark.parametrize("name", TWIN_PARAMS)
def test_imagenet_state_dict_keys_and_shapes_equal_twin(name):
    twin, _ = IMAGENET_TWINS[name]
    ours = [(k, list(v.shape)) for k, v in imagenet(name).state_dict().items() if not k.endswith("num_batches_tracked")]
    assert ours == [(k, shape) for k, shape in TWINS[twin]["state_dict"]]  # same keys, shapes and order


def test_a_few_torchvision_keys_spelled_out():
    sd = imagenet("resnet50").state_dict()
    assert sd["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert sd["layer1.0.downsample.1.running_var"].shape == (256,)
    assert sd["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)  # stride 2 on the 3x3 (v1.5)
    assert sd["fc.weight"].shape == (1000, 2048)
    assert imagenet("resnet50").layer2[0].conv2.stride == (2, 2)
    assert imagenet("resnext50_32x4d").state_dict()["layer1.0.conv2.weight"].shape == (128, 4, 3, 3)  # 32 groups of 4
    assert Bottleneck(256, 64, base_width=128).conv2.weight.shape == (128, 128, 3, 3)  # wide_resnet50_2's layer1


PAPER_PARAMS = [pytest.param(name, marks=pytest.mark.slow) if name == "resnext29_16x64d" else name
                for name in PAPER_PARAMS_M]  # 16x64d: the 8x64d code with twice the cardinality, 68M weights


@pytest.mark.parametrize("name", PAPER_PARAMS)
def test_cifar_param_count_matches_paper(name):
    figure = PAPER_PARAMS_M[name]
    decimals = len(figure.split(".")[1])
    model = models.create(name)
    assert f"{weight_params(model) / 1e6:.{decimals}f}" == figure


def test_option_b_adds_exactly_the_projections():
    a, b = models.create("resnet20"), models.create("resnet20", shortcut="B")
    projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # 1x1 conv + BN at the two downsamplings
    assert tinycnn.count_params(b) - tinycnn.count_params(a) == projections
    assert isinstance(a.layer2[0].downsample, ShortcutA) and isinstance(b.layer2[0].downsample, nn.Sequential)


def test_se_adds_two_fc_layers_per_block():
    """SE-ResNet-20, r = 16: per block C -> C/16 -> C with biases."""
    extra = sum(3 * (c * (c // 16) + c // 16 + (c // 16) * c + c) for c in (16, 32, 64))
    assert tinycnn.count_params(models.create("se_resnet20")) - tinycnn.count_params(models.create("resnet20")) == extra


# ---------------------------------------------------------------- MACs


def test_resnet20_macs():
    model = models.create("resnet20")
    s = tinycnn.summary(model, (3, 32, 32), print_table=False)
    assert s.total_params == tinycnn.count_params(model)
    assert abs(s.total_macs / 1e6 - 41) < 0.5  # ~41M mult-adds (40.55M)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_imagenet_macs_from_a_64x64_pass(name):
    """Every feature map of a 64x64 input is exactly 2/7 the side of a
    224x224 one's (224 -> 112 -> ... -> 7 vs 64 -> 32 -> ... -> 2), so the
    convolutions' MACs scale by (2/7)^2 and the fc's do not."""
    model = imagenet(name)
    s = tinycnn.summary(model, (3, 64, 64), print_table=False)
    fc = 1000 * model.fc.in_features
    assert round(((s.total_macs - fc) * 49 / 4 + fc) / 1e9, 2) == TORCHVISION_GMACS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION_GMACS)
def test_imagenet_macs_at_224(name):
    s = tinycnn.summary(imagenet(name), (3, 224, 224), print_table=False)
    assert round(s.total_macs / 1e9, 2) == TORCHVISION_GMACS[name]
    assert s.rows[-1].output_shape == (1, 1000)


# ---------------------------------------------------------------- forward / backward


def check_forward_backward(model):
    x = tinycnn.randn(2, 3, 32, 32)
    logits = model(x)
    assert logits.shape == (2, 10) and np.isfinite(logits.data).all()
    F.cross_entropy(logits, tinycnn.tensor(np.array([3, 7]))).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, pname
        assert np.isfinite(p.grad.data).all(), pname


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_cifar_model_forward_backward(name):
    check_forward_backward(models.create(name, num_classes=10))


@pytest.mark.parametrize("name", SMALL_CIFAR_MODELS)
def test_small_family_member_forward_backward(name):
    check_forward_backward(SMALL_CIFAR_MODELS[name]())


@pytest.mark.parametrize("name", ["resnet18", "se_resnet50", "preact_resnet50"])
def test_imagenet_model_forward_small_resolution(name):
    model = imagenet(name).eval()
    with tinycnn.no_grad():
        y = model(tinycnn.randn(1, 3, 64, 64))
    assert y.shape == (1, 1000) and np.isfinite(y.data).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGENET_TWINS)
def test_imagenet_model_forward_backward_224(name):
    model = models.create(name, num_classes=1000)
    y = model(tinycnn.randn(1, 3, 224, 224))
    assert y.shape == (1, 1000)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_option_a_shortcut_subsamples_and_pads_zeros():
    x = tinycnn.randn(2, 3, 5, 6, dtype=np.float64)
    y = ShortcutA(3, 7, stride=2)(x)
    assert y.shape == (2, 7, 3, 3)
    np.testing.assert_array_equal(y.data[:, :3], x.data[:, :, ::2, ::2])
    np.testing.assert_array_equal(y.data[:, 3:], 0)


def test_preact_block_matches_its_formula():
    """x_{l+1} = x_l + conv2(relu(bn2(conv1(relu(bn1(x_l)))))), no ReLU after the sum."""
    model = models.create("preact_resnet110").double().eval()
    block = model.stages[0].blocks[1]
    x = tinycnn.randn(2, 16, 8, 8, dtype=np.float64)
    with tinycnn.no_grad():
        expected = x + block.conv2(F.relu(block.norm2(block.conv1(F.relu(block.norm1(x))))))
        np.testing.assert_allclose(block(x).data, expected.data, rtol=1e-12, atol=1e-12)
        assert (block(x).data < 0).any()  # nothing clips the identity path


def test_plain_block_is_the_basic_block_without_its_shortcut():
    """plain20 has resnet20's layers and keys; its blocks compute relu(bn2(conv2(relu(bn1(conv1(x)))))),
    and the same weights in resnet20 differ exactly by the shortcut."""
    plain, resnet = models.create("plain20").double().eval(), models.create("resnet20").double().eval()
    resnet.load_state_dict(plain.state_dict())
    x = tinycnn.randn(2, 16, 8, 8, dtype=np.float64)
    with tinycnn.no_grad():
        for p_block, r_block in ((plain.layer1[1], resnet.layer1[1]), (plain.layer2[0], resnet.layer2[0])):
            branch = p_block.bn2(p_block.conv2(F.relu(p_block.bn1(p_block.conv1(x)))))
            np.testing.assert_allclose(p_block(x).data, F.relu(branch).data, rtol=1e-12, atol=1e-12)
            shortcut = r_block.downsample(x) if r_block.downsample is not None else x
            np.testing.assert_allclose(r_block(x).data, F.relu(branch + shortcut).data, rtol=1e-12, atol=1e-12)
            x = p_block(x)
    with pytest.raises(ValueError, match="residual branch"):
        models.create("plain20", se=True)


def test_wrn_dropout_sits_between_the_convolutions():
    wrn = WideResNet(16, 2, dropout_rate=0.3)
    block = wrn.stages[1].blocks[0]
    assert isinstance(block.dropout, nn.Dropout) and block.dropout.p == 0.3
    assert isinstance(models.create("wrn16_4").stages[0].blocks[0].dropout, nn.Identity)
    assert wrn(tinycnn.randn(2, 3, 32, 32)).shape == (2, 10)


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError, match="cifar_resnet: depth must be 6n"):
        cifar_resnet(21)
    with pytest.raises(ValueError, match="WideResNet: depth must be 6N"):
        WideResNet(27, 10)
    with pytest.raises(ValueError, match="CifarResNet: shortcut must be"):
        CifarResNet(BasicBlock, [1, 1, 1], shortcut="C")
    with pytest.raises(ValueError, match="stochastic_depth_rates"):
        models.create("resnet20", drop_path_rate=1.0)
