"""The `tinycnn` command: help, argument errors, and train -> resume -> eval on a tiny archive."""
import subprocess
import sys

import pytest
from cifar_fake import register_tiny_model, write_archive

from tinycnn import __version__
from tinycnn.cli import main
from tinycnn.data import cifar


def run(capsys, *argv) -> tuple[int, str, str]:
    """main(argv) -> (exit code, stdout, stderr); argparse's exits become codes."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_python_dash_m_help():
    done = subprocess.run([sys.executable, "-m", "tinycnn", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in ("train", "eval", "models", "summary", "bench"):
        assert command in done.stdout


def test_version(capsys):
    assert run(capsys, "--version")[:2] == (0, f"tinycnn {__version__}\n")


@pytest.mark.parametrize("command, words", [
    ("train", ["--epochs", "--train-size", "--batch-size", "--lr", "--data", "--out", "--resume", "--seed",
               "--threads", "TINYCNN_DATA"]),
    ("eval", ["CHECKPOINT", "--data", "confusion"]),
    ("models", ["MACs", "FILTER"]),
    ("summary", ["--input", "CxHxW"]),
])
def test_subcommand_help(capsys, command, words):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    for word in words:
        assert word in out, word


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    (["train", "--batch-size", "many"], "argument --batch-size: expected a positive integer, got 'many'"),
    (["train", "--lr", "-1"], "argument --lr: expected a number >= 0, got -1"),
    (["train", "--schedule", "zigzag"], "argument --schedule: invalid choice: 'zigzag'"),
    (["train", "--milestones", "1,x"], "argument --milestones: expected comma-separated iteration counts"),
    (["summary", "resnet20", "--input", "3x32"], "argument --input: expected CxHxW, e.g. 3x32x32, got '3x32'"),
    (["eval"], "the following arguments are required: CHECKPOINT"),
])
def test_argument_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_bad_values_caught_after_parsing(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--model", "resnet7000", "--no-progress")
    assert code == 1 and "tinycnn train: error: unknown model 'resnet7000'" in err and "resnet20" in err
    code, _, err = run(capsys, "train", "--resume")
    assert code == 1 and "--resume needs --out" in err
    code, _, err = run(capsys, "summary", "nonet")
    assert code == 1 and "unknown model 'nonet'" in err
    (tmp_path / "junk.npz").write_bytes(b"junk")
    code, _, err = run(capsys, "eval", tmp_path / "junk.npz")
    assert code == 1 and "cannot read checkpoint" in err and "junk.npz" in err


def test_train_resume_eval(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "PROJECT_DATA_DIR", tmp_path / "project_data")
    data = tmp_path / "cifar-10-python.tar.gz"
    write_archive(data, per_batch=26, n_test=50, learnable=True)
    out = tmp_path / "run"
    common = ["--model", register_tiny_model(), "--epochs", "1", "--batch-size", "32", "--data", data, "--out", out]
    code, stdout, err = run(capsys, "train", *common, "--train-size", "64", "--no-progress")
    assert code == 0, err
    assert "done: test accuracy" in stdout and (out / "checkpoint.npz").exists()

    code, _, err = run(capsys, "train", "--out", out, "--resume", "--lr", "0.01", "--data", data)
    assert code == 1 and "cannot resume" in err and "--lr: the run used 0.2, given 0.01" in err
    code, stdout, err = run(capsys, "train", "--out", out, "--resume", "--data", data, "--no-progress")
    assert code == 0 and "after 1 epochs" in stdout  # already complete: nothing more to do
    code, _, err = run(capsys, "train", *common, "--no-progress")
    assert code == 1 and "already holds a run" in err

    code, stdout, err = run(capsys, "eval", out / "checkpoint.npz", "--data", data)
    assert code == 0, err
    code, tta_out, err = run(capsys, "eval", out, "--data", data, "--tta")  # a run folder works too
    assert code == 0 and "test accuracy with flip TTA" in tta_out, err
    assert "test accuracy" in stdout and "airplane" in stdout and "truck" in stdout
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_models_and_summary(capsys):
    code, out, _ = run(capsys, "models", "resnet9")
    assert code == 0 and "resnet9_fast" in out and "0.42 M" in out and "10.3 M" in out
    code, out, _ = run(capsys, "summary", "resnet9_fast", "--input", "3x64x64")
    assert code == 0 and "Total MACs / image: 41,288,960" in out  # 4x the convolutions of 32x32, the same fc


def test_bench_is_forwarded(capsys, monkeypatch):
    import tinycnn.bench

    seen = []
    monkeypatch.setattr(tinycnn.bench, "main", lambda argv: seen.append(argv) or 0)
    assert run(capsys, "bench", "layers", "--quick")[0] == 0
    assert seen == [["layers", "--quick"]]
