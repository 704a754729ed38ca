"""tinycnn.summary / count_params: shapes, parameters and MACs counted with
forward hooks on the layers that actually run."""
import numpy as np
import pytest

import tinycnn
from tinycnn import nn
from tinycnn.nn import functional as F
from tinycnn.summary import layer_macs


class Branchy(nn.Module):
    """A conv, a grouped strided conv, a Linear called twice, one layer that never runs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)  # (8, H, W)
        self.bn = nn.BatchNorm2d(8)
        self.gconv = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4, bias=False)  # (8, H/2, W/2)
        self.unused = nn.Linear(5, 5)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.gconv(F.relu(self.bn(self.conv(x))))
        x = self.pool(x).flatten(1)
        return self.head(self.fc(self.fc(x)))


H, W = 6, 10  # non-square
EXPECTED_MACS = (
    8 * H * W * 3 * 9  # conv: output elements * in_channels * kh * kw
    + 8 * (H // 2) * (W // 2) * (8 // 4) * 9  # grouped: output elements * (in_channels / groups) * 9
    + 2 * 8 * 8  # fc, twice
    + 8 * 4  # head
)


def test_macs_are_counted_from_the_layers_that_ran():
    model = Branchy()
    s = tinycnn.summary(model, (3, H, W), print_table=False)
    assert s.total_macs == EXPECTED_MACS
    assert [r.name for r in s.rows] == ["conv", "bn", "gconv", "pool", "fc", "fc", "head"]  # `unused` never ran
    assert [r.macs for r in s.rows] == [8 * H * W * 27, 0, 8 * 15 * 18, 0, 64, 64, 32]
    assert s.rows[0].output_shape == (1, 8, H, W) and s.rows[2].output_shape == (1, 8, H // 2, W // 2)
    assert s["total_macs"] == s.total_macs  # dict-style access


def test_macs_are_per_image_and_params_counted_once():
    model = Branchy()
    s1 = tinycnn.summary(model, (3, H, W), batch_size=1, print_table=False)
    s3 = tinycnn.summary(model, (3, H, W), batch_size=3, print_table=False)
    assert s3.total_macs == s1.total_macs == EXPECTED_MACS
    assert s3.rows[0].output_shape == (3, 8, H, W)
    fc_rows = [r for r in s1.rows if r.name == "fc"]
    assert [r.params for r in fc_rows] == [8 * 8 + 8, 0]  # a reused layer's weights appear once
    assert sum(r.params for r in s1.rows) == s1.total_params - (5 * 5 + 5)  # all but `unused`


def test_count_params_and_trainable():
    model = Branchy()
    expected = (8 * 3 * 9 + 8) + 2 * 8 + 8 * 2 * 9 + (5 * 5 + 5) + (8 * 8 + 8) + (8 * 4 + 4)
    assert tinycnn.count_params(model) == expected
    model.conv.weight.requires_grad = False
    assert tinycnn.count_params(model, trainable_only=True) == expected - 8 * 3 * 9
    s = tinycnn.summary(model, (3, H, W), print_table=False)
    assert (s.total_params, s.trainable_params) == (expected, expected - 8 * 3 * 9)


def test_modes_restored_hooks_removed_and_running_stats_untouched():
    model = Branchy().train()
    model.bn.eval()  # a mixed state must come back exactly
    tinycnn.summary(model, (3, H, W), print_table=False)
    assert model.training and model.conv.training and not model.bn.training
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    np.testing.assert_array_equal(model.bn.running_mean, np.zeros(8, np.float32))  # ran in eval mode
    assert model.bn.num_batches_tracked == 0


def test_hooks_removed_and_modes_restored_when_forward_fails():
    model = Branchy().train()
    with pytest.raises(ValueError, match="Conv2d"):
        tinycnn.summary(model, (4, H, W), print_table=False)  # wrong number of channels
    assert model.training and model.bn.training
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_prints_a_table(capsys):
    s = tinycnn.summary(Branchy(), (3, H, W))
    out = capsys.readouterr().out
    assert out.strip() == str(s).strip()
    for text in ("gconv", "Conv2d", "(1, 8, 3, 5)", f"{EXPECTED_MACS:,}", "Total params"):
        assert text in out


def test_float64_model_and_bad_batch_size():
    model = Branchy().double()
    assert tinycnn.summary(model, (3, H, W), print_table=False).total_macs == EXPECTED_MACS
    with pytest.raises(ValueError, match="summary: batch_size"):
        tinycnn.summary(model, (3, H, W), batch_size=0)


def test_layer_macs_of_other_layers_is_zero():
    y = tinycnn.zeros(2, 8, 3, 3)
    assert layer_macs(nn.ReLU(), y) == 0
    assert layer_macs(nn.Conv2d(4, 8, (1, 3), groups=2), y) == 8 * 9 * 2 * 3
