"""ResNet-family blocks: ResNeXt's three equivalent forms, stochastic depth,
float64 gradient checks of whole blocks, and a CIFAR ResNet against PyTorch.

Split from test_models_resnet.py (the family's registry, counts and shapes).
"""
import numpy as np
import pytest

import tinycnn
from tinycnn import models, nn
from tinycnn.models.resnet import BasicBlock, Bottleneck, PlainBlock, ShortcutA, cifar_resnet, projection
from tinycnn.models.resnext import EarlyConcatBlock, SplitTransformMergeBlock


# ---------------------------------------------------------------- ResNeXt: three equivalent forms


def randomize_batchnorm(block: nn.Module) -> nn.Module:
    """Random BN affine parameters (biases of magnitude 0.1..0.5) and running statistics."""
    rng = np.random.default_rng(1)
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[...] = rng.uniform(0.1, 0.5, m.num_features) * rng.choice([-1, 1], m.num_features)
            m.running_mean[...] = rng.normal(0, 0.2, m.num_features)
            m.running_var[...] = rng.uniform(0.5, 2.0, m.num_features)
    return block


def _grouped_block(stride: int) -> Bottleneck:
    """A ResNeXt block, C = 4 paths of d = 4 channels, with random BN statistics and affine parameters."""
    down = projection(24, 64, stride) if stride != 1 else ShortcutA(24, 64, 1)
    return randomize_batchnorm(Bottleneck(24, 16, stride, down, groups=4, base_width=16).double())


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("train", [False, True])
def test_resnext_three_forms_compute_the_same_function(stride, train):
    grouped = _grouped_block(stride)
    assert grouped.conv2.groups == 4 and grouped.conv2.weight.shape == (16, 4, 3, 3)
    split, concat = SplitTransformMergeBlock.from_grouped(grouped), EarlyConcatBlock.from_grouped(grouped)
    assert len(split.paths) == len(concat.paths) == 4
    assert tinycnn.count_params(concat) == tinycnn.count_params(grouped)
    x = tinycnn.randn(3, 24, 9, 7, dtype=np.float64)  # odd, non-square
    outs = []
    for block in (grouped, split, concat):
        block.train(train)
        outs.append(block(x).data)
    assert outs[0].shape == (3, 64, (9 - 1) // stride + 1, (7 - 1) // stride + 1)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(outs[2], outs[0], rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- stochastic depth


def _blocks(model):
    return [b for stage in (model.layer1, model.layer2, model.layer3) for b in stage]


def test_stochastic_depth_survival_decays_linearly_to_half():
    blocks = _blocks(models.create("resnet110_stochastic_depth"))
    assert len(blocks) == 54
    rates = [b.drop_path.p for b in blocks]
    np.testing.assert_allclose(rates, [0.5 * l / 54 for l in range(1, 55)])  # 1 - p_l, p_L = 0.5
    assert all(isinstance(b.drop_path, nn.Identity) for b in _blocks(models.create("resnet110")))


def test_stochastic_depth_drops_whole_branches_per_sample_in_training():
    block = BasicBlock(4, 4, drop_path_rate=0.5).double().train()
    x = tinycnn.randn(64, 4, 5, 5, dtype=np.float64)
    out = block(x).data
    with tinycnn.no_grad():  # the branch, with the same batch statistics
        branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))).data
    kept = np.maximum(x.data + branch / 0.5, 0)  # survivors are scaled by 1 / p_l
    dropped = np.maximum(x.data, 0)
    is_kept = np.array([np.allclose(o, k) for o, k in zip(out, kept, strict=True)])
    is_dropped = np.array([np.allclose(o, d) for o, d in zip(out, dropped, strict=True)])
    assert (is_kept ^ is_dropped).all()  # every sample is exactly one of the two
    assert 10 < is_kept.sum() < 54  # both happen (p = 0.5, 64 samples)


def test_stochastic_depth_eval_is_the_full_deterministic_network():
    sd, plain = cifar_resnet(8, drop_path_rate=0.5), cifar_resnet(8)
    plain.load_state_dict(sd.state_dict())
    x = tinycnn.randn(2, 3, 16, 16)
    sd.eval(), plain.eval()
    y1, y2 = sd(x).data, sd(x).data
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1, plain(x).data)
    sd.train()
    assert not np.array_equal(sd(x).data, sd(x).data)  # different paths dropped at each call


def test_drop_path_rate_works_on_every_residual_family():
    for name in ("preact_resnet110", "wrn16_4", "se_resnet20"):
        model = models.create(name, drop_path_rate=0.2)
        rates = [m.p for m in model.modules() if isinstance(m, nn.DropPath)]
        assert len(rates) > 0 and max(rates) == pytest.approx(0.2), name


# ---------------------------------------------------------------- gradients of whole blocks


@pytest.mark.parametrize("make", [
    lambda: BasicBlock(4, 6, 2, ShortcutA(4, 6, 2)),
    lambda: Bottleneck(6, 4, 2, projection(6, 16, 2), groups=2, base_width=32),
    lambda: models.preact_resnet.PreActBottleneck(6, 8, stride=2),
    lambda: models.preact_resnet.PreActBasicBlock(6, 6, dropout_rate=0.0),
    lambda: PlainBlock(4, 6, 2, ShortcutA(4, 6, 2)),
], ids=["basic_option_a", "grouped_bottleneck", "preact_bottleneck", "preact_basic", "plain"])
def test_block_gradients(make):
    block = randomize_batchnorm(make().double().eval())  # nonzero BN biases keep ReLUs off their kink at 0
    x = tinycnn.randn(2, block_in_channels(block), 5, 6, dtype=np.float64, requires_grad=True)
    assert tinycnn.gradcheck(lambda x, *params: block(x), [x, *block.parameters()], mode="random", n_directions=3)


def block_in_channels(block) -> int:
    first = next(m for m in block.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d))
    return first.in_channels if isinstance(first, nn.Conv2d) else first.num_features


# ---------------------------------------------------------------- PyTorch oracle (CIFAR ResNet, option A)


def _torch_cifar_resnet(torch, ours):
    """The same network written with torch.nn, weights copied from `ours`."""
    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.pad, self.stride = cout - cin, stride

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            shortcut = tnn.functional.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.pad))
            return torch.relu(out + shortcut)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(16)
            self.layer1 = tnn.Sequential(Block(16, 16, 1))
            self.layer2 = tnn.Sequential(Block(16, 32, 2))
            self.layer3 = tnn.Sequential(Block(32, 64, 2))
            self.fc = tnn.Linear(64, 10)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x))))))
            return self.fc(x.mean(dim=(2, 3)))

    net = Net().double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return net


@pytest.mark.torch
def test_cifar_resnet_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = cifar_resnet(8).double().train()  # option A shortcuts, batch statistics
    theirs = _torch_cifar_resnet(torch, ours).train()
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 12))
    y = ours(tinycnn.tensor(x))
    y_t = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(y.data, y_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    weights = np.random.default_rng(1).standard_normal(y.shape)
    (y * tinycnn.tensor(weights)).sum().backward()
    (y_t * torch.from_numpy(weights)).sum().backward()
    grads_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, grads_t[name].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    for name, buf in theirs.named_buffers():  # running statistics updated alike
        np.testing.assert_allclose(ours.state_dict()[name], buf.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
