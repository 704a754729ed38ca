"""BatchNorm folded into the convolution before it (tinycnn/nn/utils/fusion.py): the eval fast
path matches the unfused model, pair by pair and for whole models of the zoo."""
import numpy as np
import pytest

import tinycnn
from tinycnn import nn
from tinycnn.nn.utils.fusion import fuse, fuse_conv_bn_eval, fuse_conv_bn_weights

rng = np.random.default_rng(0)


def _randomise_stats(model):
    """Running statistics and affine parameters away from their initial 0/1, so folding shows."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = rng.normal(0, 0.3, m.num_features)
            m.running_var[...] = rng.uniform(0.3, 3, m.num_features)
            if m.weight is not None:
                m.weight.data[...] = rng.normal(1, 0.3, m.num_features)
                m.bias.data[...] = rng.normal(0, 0.3, m.num_features)
    return model


@pytest.mark.parametrize("c_in, c_out, k, stride, groups, bias, affine", [
    (3, 8, 3, 1, 1, True, True), (6, 4, (3, 1), 2, 2, False, True), (5, 5, 3, 1, 5, False, False),
    (4, 7, 1, 1, 1, True, True)])
def test_pair_matches_bn_of_conv(c_in, c_out, k, stride, groups, bias, affine):
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=1, groups=groups, bias=bias, dtype=np.float64)
    seq = _randomise_stats(nn.Sequential(conv, nn.BatchNorm2d(c_out, affine=affine))).double().eval()
    x = tinycnn.tensor(rng.standard_normal((1, c_in, 7, 5)))
    fused = fuse_conv_bn_eval(seq[0], seq[1])
    with tinycnn.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), seq(x).numpy(), rtol=1e-12, atol=1e-12)
    assert fused is not conv and fused.weight.dtype == np.float64


def test_training_mode_folds_nothing():
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    with pytest.raises(ValueError, match="only for eval mode"):
        fuse_conv_bn_eval(conv, bn)
    fused = fuse(nn.Sequential(conv, bn), tinycnn.zeros(1, 3, 8, 8))  # training: no ReLU to fuse either
    assert type(fused[0]) is nn.Conv2d and type(fused[1]) is nn.BatchNorm2d


@pytest.mark.parametrize("name, left", [("resnet20", 0), ("mobilenet_v2_cifar", 0), ("se_resnet20", 0),
                                        ("preact_resnet20", 10), ("densenet_bc_28_12", None)])
def test_whole_models_match_the_eval_graph(name, left):
    """Every BatchNorm that follows a convolution is folded (pre-activation and DenseNet's
    BatchNorms read additions and concatenations and stay); float32 outputs agree."""
    model = _randomise_stats(tinycnn.models.create(name)).eval()
    x = tinycnn.tensor(rng.standard_normal((3, 3, 32, 32)).astype(np.float32))
    fused = fuse(model, x[:1])
    count = lambda m: sum(isinstance(b, nn.BatchNorm2d) for b in m.modules())  # noqa: E731
    assert count(fused) < count(model)
    if left is not None:
        assert count(fused) == left
    with tinycnn.no_grad():
        want, got = model(x).numpy(), fused(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert count(model) > count(fused)  # the original is untouched (not inplace)


class _TwoReaders(nn.Module):
    """The convolution's output is read by the BatchNorm and by the addition: not foldable."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_a_convolution_read_twice_is_left_alone():
    model = _randomise_stats(_TwoReaders()).eval()
    fused = fuse(model, tinycnn.zeros(1, 3, 8, 8))
    assert isinstance(fused.bn, nn.BatchNorm2d)


@pytest.mark.torch
def test_weights_match_torch_fuse_conv_bn_weights():
    torch = pytest.importorskip("torch")
    from torch.nn.utils.fusion import fuse_conv_bn_weights as torch_fuse

    w, b = rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    rm, rv, g, beta = rng.standard_normal(6), rng.uniform(0.5, 2, 6), rng.standard_normal(6), rng.standard_normal(6)
    ours = fuse_conv_bn_weights(w, b, rm, rv, 1e-3, g, beta)
    theirs = torch_fuse(*(torch.from_numpy(a) for a in (w, b, rm, rv)), 1e-3, torch.from_numpy(g), torch.from_numpy(beta))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.data, t.detach().numpy(), rtol=1e-12)

