"""The accuracy and shipped-model helpers of lessons/_common.py (fast: no lesson is run)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lessons"))
import _common  # noqa: E402

import tinycnn.models as models  # noqa: E402
from tinycnn.models import pretrained  # noqa: E402


def test_binomial_se_and_fmt_acc():
    assert _common.binomial_se(0.5, 100) == pytest.approx(0.05)
    assert _common.binomial_se(1.0, 10) == 0.0
    assert _common.fmt_acc(7880, 10000) == "78.8% ± 0.4 (n=10,000; chance 10%)"
    assert _common.fmt_acc(50, 500) == "10.0% ± 1.3 (n=500; chance 10%)"


def test_shipped_when_absent_prints_how_to_train(monkeypatch, capsys):
    monkeypatch.setattr(models, "list_pretrained", lambda: [])
    assert _common.shipped("resnet20") is None
    assert "not shipped yet: train it with `tinycnn train --recipe cifar-small --model resnet20`" in capsys.readouterr().out


def test_shipped_when_present_reads_info_and_log(monkeypatch, tmp_path):
    info = {"test_accuracy": 91.23, "test_images": 10000, "num_classes": 10, "log": "resnet20.csv"}
    (tmp_path / "manifest.json").write_text(json.dumps({"resnet20": info}))
    (tmp_path / "resnet20.csv").write_text("epoch,train_loss,test_acc\n1,2.0,0.3\n2,1.5,0.5\n")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    monkeypatch.setattr(models, "list_pretrained", lambda: ["resnet20"])
    monkeypatch.setattr(models, "pretrained_info", lambda name: dict(info))
    got = _common.shipped("resnet20")
    acc, text = _common.shipped_acc(got)
    assert acc == pytest.approx(0.9123) and text == "91.2% ± 0.3 (n=10,000; chance 10%)"
    log = _common.shipped_log(got)
    assert list(log["epoch"]) == [1, 2] and list(log["train_loss"]) == [2.0, 1.5]
