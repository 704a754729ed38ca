"""MobileNet v1, MobileNetV2, EfficientNet: the papers' parameter and
mult-add figures (measured with tinycnn.summary), width/resolution/compound
scaling, channel rounding, stochastic depth, forward + backward on CIFAR.
(Exact torchvision/timm counts and keys: tests/test_interop.py.)"""
import math

import numpy as np
import pytest

import tinycnn
from tinycnn import nn
from tinycnn.models import create
from tinycnn.models.efficientnet import EfficientNet, MBConv, efficientnet, scale_channels, scale_depth
from tinycnn.models.mobilenet_v1 import DepthwiseSeparableConv, MobileNetV1, StandardConv
from tinycnn.models.mobilenet_v2 import InvertedResidual, MobileNetV2
from tinycnn.models.rounding import make_divisible


def macs(model, size=None) -> int:
    shape = model.input_size if size is None else (3, size, size)
    return tinycnn.summary(model, shape, print_table=False).total_macs


# ---------------------------------------------------------------- channel rounding


@pytest.mark.parametrize("value, expected", [(32, 32), (32 * 0.75, 24), (16 * 1.1, 16), (40 * 1.1, 48),
                                             (320 * 1.4, 448), (3, 8), (1280 * 0.35, 448), (100, 104)])
def test_make_divisible(value, expected):
    assert make_divisible(value) == expected
    assert make_divisible(value) % 8 == 0 and make_divisible(value) >= 0.9 * value


def test_scale_channels_and_depth_paper_and_exact():
    assert scale_channels(32, 1.1) == 32 and scale_channels(32, 1.1, exact=True) == 35
    assert scale_depth(3, 1.2) == 4 and scale_depth(3, 1.2, exact=True) == 4   # 3.6
    assert scale_depth(2, 1.2) == 3 and scale_depth(2, 1.2, exact=True) == 2   # 2.4: ceil vs nearest


# ---------------------------------------------------------------- MobileNet v1


def test_mobilenet_v1_224_params_match_paper():
    """Howard et al. Table 8: 1.0 MobileNet-224 has 4.2M parameters (569M mult-adds: slow test below)."""
    model = create("mobilenet_v1", num_classes=1000)
    assert model.input_size == (3, 224, 224)
    assert round(tinycnn.count_params(model) / 1e6, 1) == 4.2


@pytest.mark.parametrize("alpha, millions_params", [(0.75, 2.6), (0.5, 1.3), (0.25, 0.5)])
def test_mobilenet_v1_width_multiplier_params(alpha, millions_params):
    """Table 6: width multiplier alpha shrinks parameters ~alpha^2."""
    assert round(tinycnn.count_params(create("mobilenet_v1", num_classes=1000, width_mult=alpha)) / 1e6, 1) \
        == millions_params


def test_mobilenet_v1_small_width_and_resolution_mult_adds():
    """Table 6: 0.25 MobileNet-224 41M mult-adds; Table 7: 1.0 MobileNet-128 186M (params unchanged)."""
    assert round(macs(create("mobilenet_v1", num_classes=1000, width_mult=0.25)) / 1e6) == 41
    low_res = create("mobilenet_v1", num_classes=1000, resolution_mult=128 / 224)
    assert low_res.input_size == (3, 128, 128)
    assert round(macs(low_res) / 1e6) == 186
    assert tinycnn.count_params(low_res) == tinycnn.count_params(create("mobilenet_v1", num_classes=1000))


def test_mobilenet_v1_block_is_depthwise_separable():
    block = create("mobilenet_v1").blocks[3][0]
    assert isinstance(block, DepthwiseSeparableConv)
    assert block.conv_dw.weight.shape == (256, 1, 3, 3) and block.conv_dw.groups == 256
    assert block.conv_dw.stride == (2, 2)
    assert block.conv_pw.weight.shape == (512, 256, 1, 1)
    assert type(block.act1) is nn.ReLU  # the paper's ReLU; timm's twin uses activation=nn.ReLU6


# ---------------------------------------------------------------- MobileNetV2


def test_mobilenet_v2_params_match_paper():
    """Sandler et al. Table 4: 3.4M parameters (torchvision: 3,504,872; the
    paper's figure is truncated, not rounded). 300M MACs: slow test below."""
    assert 3.4e6 <= tinycnn.count_params(create("mobilenet_v2", num_classes=1000)) < 3.55e6


def test_mobilenet_v2_inverted_residual_structure():
    model = create("mobilenet_v2", num_classes=1000)
    assert len(model.features) == 19
    block = model.features[2]  # t=6, 16 -> 24, stride 2
    assert isinstance(block, InvertedResidual) and not block.use_res_connect
    assert block.conv[0][0].weight.shape == (96, 16, 1, 1)          # expand 6x
    assert block.conv[1][0].weight.shape == (96, 1, 3, 3)           # depthwise
    assert block.conv[2].weight.shape == (24, 96, 1, 1)             # linear bottleneck
    assert len(block.conv) == 4 and type(block.conv[1][2]) is nn.ReLU6  # no activation after the projection
    assert model.features[3].use_res_connect
    assert model.classifier[1].weight.shape == (1000, 1280)


def test_mobilenet_v2_width_mult_keeps_1280_head_below_one():
    narrow = MobileNetV2(width_mult=0.5)
    assert narrow.features[0][0].weight.shape == (16, 3, 3, 3)
    assert narrow.last_channel == 1280
    assert MobileNetV2(width_mult=1.4).last_channel == 1792


# ---------------------------------------------------------------- EfficientNet


def test_efficientnet_b0_params_match_paper():
    """Tan & Le Table 2: B0 has 5.3M parameters (0.39B FLOPs: slow test below)."""
    model = create("efficientnet_b0", num_classes=1000)
    assert model.input_size == (3, 224, 224)
    assert round(tinycnn.count_params(model) / 1e6, 1) == 5.3


def test_efficientnet_table_scaling():
    b3 = create("efficientnet_b3", num_classes=1000)
    assert b3.input_size == (3, 300, 300)
    assert b3.classifier[0].p == 0.3
    # depth 1.4: stage layers ceil([1, 2, 2, 3, 3, 4, 1] * 1.4); width 1.2: 32 -> 40 stem channels
    assert [len(stage) for stage in b3.features[1:8]] == [2, 3, 3, 5, 5, 6, 2]
    assert b3.features[0][0].weight.shape == (40, 3, 3, 3)
    assert b3.features[8][0].weight.shape == (1536, 384, 1, 1)
    b5 = create("efficientnet_b5")
    assert b5.features[0][1].eps == 1e-3 and b5.features[0][1].momentum == 0.01  # torchvision's b5-b7


def test_efficientnet_phi_compound_scaling():
    b0, phi0 = create("efficientnet_b0", num_classes=1000), efficientnet(0)
    assert tinycnn.count_params(phi0) == tinycnn.count_params(b0) and phi0.input_size == (3, 224, 224)
    phi1 = efficientnet(1)   # d = 1.2, w = 1.1, r = 224 * 1.15
    assert phi1.input_size == (3, 258, 258)
    assert [len(stage) for stage in phi1.features[1:8]] == [2, 3, 3, 4, 4, 5, 2]
    assert tinycnn.count_params(phi1) == 9_109_994  # = B2: w 1.1, d 1.2 (B2 runs at 260 px)
    exact = efficientnet(1, exact=True)
    assert exact.features[0][0].weight.shape == (35, 3, 3, 3)
    assert [len(stage) for stage in exact.features[1:8]] == [1, 2, 2, 4, 4, 5, 1]


def test_mbconv_structure_and_stochastic_depth_rates():
    model = create("efficientnet_b0_cifar")
    first, block = model.features[1][0], model.features[2][1]
    assert len(first.block) == 3  # t = 1: no expansion conv
    assert isinstance(block, MBConv) and block.use_res_connect and len(block.block) == 4
    assert block.block[2].fc1.weight.shape == (6, 144, 1, 1)  # SE squeezes to C_in / 4 = 24 / 4
    rates = [b.stochastic_depth.p for stage in model.features[1:8] for b in stage]
    np.testing.assert_allclose(rates, [0.2 * i / 16 for i in range(16)])


def test_mbconv_dropped_branch_leaves_the_shortcut():
    block = MBConv(8, 8, expand_ratio=6, kernel_size=3, stride=1, squeeze_channels=2, drop_path_rate=1.0)
    x = tinycnn.randn(2, 8, 5, 5)
    np.testing.assert_array_equal(block.train()(x).data, x.data)
    assert not np.allclose(block.eval()(x).data, x.data)


@pytest.mark.parametrize("make", [
    lambda: DepthwiseSeparableConv(4, 6, stride=2),
    lambda: InvertedResidual(4, 4, stride=1, expand_ratio=2),
    lambda: MBConv(4, 4, expand_ratio=2, kernel_size=3, stride=1, squeeze_channels=2),
    lambda: MBConv(4, 8, expand_ratio=1, kernel_size=5, stride=2, squeeze_channels=1),
], ids=["depthwise_separable", "inverted_residual", "mbconv", "mbconv_t1_stride2"])
def test_block_gradients(make):
    """float64 gradcheck of each block (training-mode BN) w.r.t. the input and every parameter."""
    block = make().double()
    x = tinycnn.randn(2, 4, 5, 6, dtype=np.float64, requires_grad=True)
    assert tinycnn.gradcheck(lambda x, *p: block(x), [x, *block.parameters()], mode="random", n_directions=4)


# ---------------------------------------------------------------- CIFAR variants: forward + backward


@pytest.mark.parametrize("name, channels", [("mobilenet_v1_cifar", 1024), ("mobilenet_v2_cifar", 1280),
                                           ("efficientnet_b0_cifar", 1280)])
def test_cifar_forward_backward(name, channels):
    model = create(name, num_classes=10)
    pool = model.global_pool if name == "mobilenet_v1_cifar" else model.avgpool
    pooled = []
    pool.register_forward_hook(lambda module, inputs, output: pooled.append(inputs[0].shape))
    logits = model(tinycnn.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert pooled == [(2, channels, 4, 4)]  # total stride 8: the last feature map is 4x4
    loss = tinycnn.nn.functional.cross_entropy(logits, tinycnn.tensor(np.array([1, 8])))
    loss.backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and np.isfinite(p.grad.data).all(), key


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="MobileNetV1: width_mult"):
        MobileNetV1(width_mult=0)
    with pytest.raises(ValueError, match="MobileNetV2: width_mult"):
        MobileNetV2(width_mult=-1)
    with pytest.raises(ValueError, match="InvertedResidual: stride must be 1 or 2, got 3"):
        InvertedResidual(8, 8, 3, 6)
    with pytest.raises(ValueError, match="EfficientNet: width_mult and depth_mult must be positive"):
        EfficientNet(depth_mult=0)
    with pytest.raises(ValueError, match="MBConv: stride must be 1 or 2, got 0"):
        MBConv(8, 8, 6, 3, 0, 2)


# ---------------------------------------------------------------- slow: larger forwards


@pytest.mark.slow
def test_mobilenet_v1_224_mult_adds_match_paper():
    """Howard et al. Table 8: 1.0 MobileNet-224, 569M mult-adds."""
    assert round(macs(create("mobilenet_v1", num_classes=1000)) / 1e6) == 569


@pytest.mark.slow
def test_mobilenet_v2_224_macs_match_paper():
    """Sandler et al. Table 4: 300M MACs at 224x224."""
    assert round(macs(create("mobilenet_v2", num_classes=1000), 224) / 1e6, -1) == 300


@pytest.mark.slow
@pytest.mark.parametrize("name, billions", [("efficientnet_b0", 0.39), ("efficientnet_b1", 0.70),
                                            ("efficientnet_b2", 1.0), ("efficientnet_b3", 1.8)])
def test_efficientnet_flops_match_paper(name, billions):
    """Tan & Le Table 2 FLOPs (mult-adds) at each model's resolution."""
    assert math.isclose(macs(create(name, num_classes=1000)) / 1e9, billions, rel_tol=0.06)


@pytest.mark.slow
@pytest.mark.parametrize("phi", [1, 2, 3])
def test_efficientnet_exact_scaling_flops_close_to_two_to_the_phi(phi):
    """alpha * beta^2 * gamma^2 = 1.92: exact scaling multiplies MACs by ~1.92^phi.
    Measured: 2.13, 3.66, 7.22 for phi = 1, 2, 3 (integer layer counts: 3 * 1.2 = 3.6 -> 4
    makes phi = 1 11% dearer); with the paper's rounding: 2.57, 4.69, 8.43."""
    ratio = macs(efficientnet(phi, exact=True)) / macs(efficientnet(0, exact=True))
    assert abs(ratio / 1.92 ** phi - 1) < 0.12


def test_conv_mobilenet_has_the_same_layout_with_standard_convolutions():
    separable, standard = create("mobilenet_v1_cifar_0125"), create("mobilenet_v1_cifar_0125_standard")
    blocks = [m for m in separable.modules() if isinstance(m, DepthwiseSeparableConv)]
    convs = [m for m in standard.modules() if isinstance(m, StandardConv)]
    assert len(blocks) == len(convs) == 13
    for b, c in zip(blocks, convs):  # same channels and strides, block by block
        assert (b.conv_dw.in_channels, b.conv_pw.out_channels, b.conv_dw.stride) == \
            (c.conv.in_channels, c.conv.out_channels, c.conv.stride)
    s1 = tinycnn.summary(separable, (3, 32, 32), print_table=False)
    s2 = tinycnn.summary(standard, (3, 32, 32), print_table=False)
    assert 6 < s2.total_macs / s1.total_macs < 8  # each block costs 1 / (1/N + 1/9) times more
    assert standard(tinycnn.randn(2, 3, 32, 32)).shape == (2, 10)
