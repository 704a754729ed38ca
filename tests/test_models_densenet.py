"""DenseNet: parameter counts (paper Table 2, torchvision), the dense
connectivity (channel growth, compression), forward + backward on CIFAR."""
import numpy as np
import pytest

import tinycnn
from tinycnn.models import create
from tinycnn.models.densenet import DenseBlock, DenseNet, densenet_cifar


@pytest.mark.parametrize("name, millions", [("densenet40_12", 1.0), ("densenet_bc_100_12", 0.8)])
def test_cifar_param_counts_match_paper(name, millions):
    """Huang et al. Table 2: DenseNet (L=40, k=12) 1.0M, DenseNet-BC (L=100, k=12) 0.8M."""
    assert round(tinycnn.count_params(create(name)) / 1e6, 1) == millions


def test_densenet121_param_count_is_torchvisions():
    assert tinycnn.count_params(create("densenet121", num_classes=1000)) == 7_978_856


def test_layer_counts_and_channels_follow_depth_growth_and_compression():
    plain, bc = create("densenet40_12"), create("densenet_bc_100_12")
    blocks = [m for m in plain.features if isinstance(m, DenseBlock)]
    assert [len(list(b.children())) for b in blocks] == [12, 12, 12]
    assert plain.features.conv0.weight.shape == (16, 3, 3, 3)
    # no compression: 16 + 3 * 12 * 12 = 448 channels reach the classifier
    assert plain.classifier.weight.shape == (10, 16 + 3 * 12 * 12)
    assert not hasattr(blocks[0].denselayer1, "conv1")  # no bottleneck
    # BC: stem 2k = 24; block 1: 24 + 16*12 = 216 -> 108; block 2: 108 + 192 = 300 -> 150; block 3: 342
    assert bc.features.conv0.weight.shape == (24, 3, 3, 3)
    assert bc.features.transition1.conv.weight.shape == (108, 216, 1, 1)
    assert bc.features.transition2.conv.weight.shape == (150, 300, 1, 1)
    assert bc.classifier.weight.shape == (10, 342)
    assert bc.features.denseblock1.denselayer16.conv1.weight.shape == (48, 24 + 15 * 12, 1, 1)  # 4k bottleneck


def test_dense_block_concatenates_input_and_every_layer():
    block = DenseBlock(num_layers=3, in_channels=5, growth_rate=4, bottleneck=False).eval()
    x = tinycnn.randn(2, 5, 6, 7)
    with tinycnn.no_grad():
        out = block(x)
        assert out.shape == (2, 5 + 3 * 4, 6, 7)
        np.testing.assert_array_equal(out.data[:, :5], x.data)  # the input is passed on unchanged
        first = block.denselayer1([x])
        np.testing.assert_allclose(out.data[:, 5:9], first.data, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bottleneck", [False, True])
def test_dense_block_gradients(bottleneck):
    """float64 gradcheck of a 2-layer block (training-mode BN) w.r.t. the input and every parameter."""
    block = DenseBlock(num_layers=2, in_channels=3, growth_rate=2, bn_size=2, bottleneck=bottleneck).double()
    x = tinycnn.randn(2, 3, 4, 5, dtype=np.float64, requires_grad=True)
    params = list(block.parameters())
    assert tinycnn.gradcheck(lambda x, *p: block(x), [x, *params], mode="random", n_directions=4)


@pytest.mark.parametrize("name", ["densenet40_12", "densenet_bc_100_12"])
def test_cifar_forward_backward(name):
    model = create(name, num_classes=10)
    x = tinycnn.randn(2, 3, 32, 32)
    logits = model(x)
    assert logits.shape == (2, 10)
    loss = tinycnn.nn.functional.cross_entropy(logits, tinycnn.tensor(np.array([3, 7])))
    loss.backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and np.isfinite(p.grad.data).all(), key
    assert np.abs(model.features.conv0.weight.grad.data).sum() > 0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="densenet_cifar: depth must be 3 \\* 2 \\* n \\+ 4, got 41"):
        densenet_cifar(41, bottleneck=True)
    with pytest.raises(ValueError, match="DenseNet: compression"):
        DenseNet(compression=0.0)
    with pytest.raises(ValueError, match="DenseNet: stem must be"):
        DenseNet(stem="tiny")


@pytest.mark.slow
def test_densenet121_forward_and_macs_at_224():
    """torchvision reports 2.83 GFLOPS (MACs) for densenet121 at 224x224."""
    s = tinycnn.summary(create("densenet121", num_classes=1000), (3, 224, 224), print_table=False)
    assert s.total_params == 7_978_856
    assert round(s.total_macs / 1e9, 2) == 2.83
    assert s.rows[-1].output_shape == (1, 1000)
