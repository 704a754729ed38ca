"""lessons/two_frameworks: the same model and training code, run on tinycnn and on
PyTorch (FRAMEWORK=torch), from the same initial weights, give the same losses."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinycnn

LESSON = Path(__file__).resolve().parent.parent / "lessons" / "two_frameworks"


def load(framework: str):
    """model.py and train.py imported afresh with FRAMEWORK=framework."""
    env, saved = os.environ.get("FRAMEWORK"), sys.modules.pop("model", None)
    os.environ["FRAMEWORK"] = framework
    try:
        modules = []
        for name in ("model", "train"):
            spec = importlib.util.spec_from_file_location(name, LESSON / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # train.py's `from model import ...` finds this framework's model
            spec.loader.exec_module(module)
            modules.append(module)
        return modules
    finally:
        sys.modules.pop("model", None), sys.modules.pop("train", None)
        if saved is not None:
            sys.modules["model"] = saved
        if env is None:
            os.environ.pop("FRAMEWORK")
        else:
            os.environ["FRAMEWORK"] = env


def test_the_switch_picks_tinycnn_by_default():
    model, train = load("tinycnn")
    assert model.torch is tinycnn and isinstance(model.Net(), tinycnn.nn.Module)


@pytest.mark.torch
def test_same_weights_same_losses_on_both_frameworks():
    torch = pytest.importorskip("torch")
    tiny_model, tiny_train = load("tinycnn")
    torch_model, torch_train = load("torch")
    assert torch_model.torch is torch
    tinycnn.manual_seed(0)
    ours = tiny_model.Net().double()
    theirs = torch_model.Net().double()
    theirs.load_state_dict(tinycnn.interop.to_torch(ours.state_dict()))  # the same initial weights
    images, labels = tiny_train.synthetic_data(n=8)
    images = images.astype(np.float64)
    batches = [(images[:4], labels[:4]), (images[4:], labels[4:])]
    losses = tiny_train.train_steps(ours, [(tinycnn.tensor(x), tinycnn.tensor(y)) for x, y in batches], "cpu")
    tlosses = torch_train.train_steps(theirs, [(torch.tensor(x), torch.tensor(y)) for x, y in batches], "cpu")
    np.testing.assert_allclose(losses, tlosses, rtol=1e-9)
    assert losses[0] != losses[1]  # the first step changed the weights
    tstate = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, tstate[key].numpy(), rtol=1e-7, atol=1e-9, err_msg=key)


def test_script_runs_on_tinycnn():
    env = {**os.environ, "FRAMEWORK": "tinycnn"}
    out = subprocess.run([sys.executable, str(LESSON / "train.py"), "--epochs", "1"], capture_output=True,
                         text=True, env=env, check=True)
    assert out.stdout.startswith("epoch 1: loss ")
