"""PyTorch interop: the zoo's twins of torchvision/timm models have their
state_dict keys, shapes and parameter counts, and (where torchvision/timm
import) the same logits given the same weights.

tests/fixtures/twins.json holds, for each twin, the keys and shapes of the
torchvision/timm state_dict (num_batches_tracked left out to keep it short:
every BatchNorm has it on both sides) and its parameter
count (1000 classes). Regenerate it in an environment with torchvision and
timm: `python tests/test_interop.py` (see `write_fixture`).
"""
import json
import pathlib
from collections import OrderedDict

import numpy as np
import pytest

import tinycnn
from tinycnn.interop import from_torch, to_torch
from tinycnn.models import create, list_models

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "twins.json"

# zoo name -> (twin name, source); OWN: this slice's models (must exist),
# RESNET_FAMILY: built in the ResNet family files (skipped while not registered).
OWN = {
    "densenet121": ("densenet121", "torchvision"),
    "mobilenet_v2": ("mobilenet_v2", "torchvision"),
    "mobilenetv1_100": ("mobilenetv1_100", "timm"),
    **{f"efficientnet_b{i}": (f"efficientnet_b{i}", "torchvision") for i in range(8)},
}
RESNET_FAMILY = {
    **{f"resnet{d}": (f"resnet{d}", "torchvision") for d in (18, 34, 50, 101, 152)},
    "wide_resnet50_2": ("wide_resnet50_2", "torchvision"),
    "resnext50_32x4d": ("resnext50_32x4d", "torchvision"),
    "se_resnet50": ("seresnet50", "timm"),
    "preact_resnet50": ("resnetv2_50", "timm"),
}
TWINS = {**OWN, **RESNET_FAMILY}
BIG = {"resnet101", "resnet152", "wide_resnet50_2", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7"}


def load_fixture() -> dict:
    return json.loads(FIXTURE.read_text())["models"]


def build(name: str):
    if name not in list_models():
        if name in OWN:
            pytest.fail(f"{name} is not registered in the zoo")
        pytest.skip(f"{name} is not registered yet (ResNet family)")
    return create(name, num_classes=1000)


def key_shapes(model) -> list:
    return [[k, list(v.shape)] for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in TWINS])
def test_state_dict_and_params_equal_twin(name):
    twin, source = TWINS[name]
    expected = load_fixture()[twin]
    assert expected["source"] == source
    model = build(name)
    ours = key_shapes(model)
    if ours != expected["state_dict"]:
        ours_d, theirs = dict((k, tuple(s)) for k, s in ours), dict((k, tuple(s)) for k, s in expected["state_dict"])
        missing = [k for k in theirs if k not in ours_d][:5]
        extra = [k for k in ours_d if k not in theirs][:5]
        shapes = [(k, ours_d[k], theirs[k]) for k in ours_d if k in theirs and ours_d[k] != theirs[k]][:5]
        pytest.fail(f"{name} vs {source} {twin}: missing {missing}, unexpected {extra}, shape mismatches {shapes}, "
                    f"same order: {list(ours_d) == list(theirs)}")
    assert tinycnn.count_params(model) == expected["params"]


def test_fixture_lists_every_twin():
    assert set(load_fixture()) == {twin for twin, _ in TWINS.values()}


# ---------------------------------------------------------------- from_torch / to_torch


def test_from_torch_converts_every_entry_and_copies():
    torch = pytest.importorskip("torch")
    sd = OrderedDict(weight=torch.ones(2, 3), running_mean=torch.zeros(3), num_batches_tracked=torch.tensor(5))
    arrays = from_torch(sd)
    assert list(arrays) == ["weight", "running_mean", "num_batches_tracked"]
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    assert arrays["weight"].dtype == np.float32 and arrays["weight"].shape == (2, 3)
    assert arrays["num_batches_tracked"].dtype == np.int64 and arrays["num_batches_tracked"].shape == ()
    arrays["weight"][0, 0] = 7.0
    assert sd["weight"][0, 0].item() == 1.0  # a copy, not a view


def test_from_torch_rejects_non_tensors():
    with pytest.raises(TypeError, match="from_torch.*'w'.*list"):
        from_torch({"w": [1.0, 2.0]})


def test_to_torch_round_trip_and_errors():
    torch = pytest.importorskip("torch")
    sd = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1.5], dtype=np.float64)}
    tensors = to_torch(sd)
    assert tensors["a"].dtype == torch.float32 and tensors["b"].dtype == torch.float64
    back = from_torch(tensors)
    for k in sd:
        np.testing.assert_array_equal(back[k], sd[k])
    with pytest.raises(TypeError, match="to_torch.*'a'.*expected a NumPy array"):
        to_torch({"a": [1, 2]})


def test_state_dicts_load_strictly_both_ways():
    torch = pytest.importorskip("torch")
    model = tinycnn.nn.Sequential(tinycnn.nn.Conv2d(3, 4, 3, bias=False), tinycnn.nn.BatchNorm2d(4))
    twin = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4))
    with torch.no_grad():
        twin[1].running_var.fill_(2.0)
        twin[1].num_batches_tracked.fill_(3)
    model.load_state_dict(from_torch(twin.state_dict()))
    np.testing.assert_array_equal(model[0].weight.data, twin[0].weight.detach().numpy())
    assert model[1].running_var.tolist() == [2.0] * 4 and int(model[1].num_batches_tracked) == 3
    twin.load_state_dict(to_torch(model.state_dict()))


# ---------------------------------------------------------------- logits parity (needs torchvision / timm)


def _torch_twin(name):
    torch = pytest.importorskip("torch")
    twin, source = TWINS[name]
    if source == "torchvision":
        tv = pytest.importorskip("torchvision")
        model = tv.models.get_model(twin, num_classes=1000)
    else:
        timm = pytest.importorskip("timm")
        model = timm.create_model(twin, pretrained=False, num_classes=1000)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=gen))
    return torch, model.eval()


@pytest.mark.torch
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in TWINS])
def test_logits_equal_twin_with_same_weights(name):
    torch, twin = _torch_twin(name)
    model = build(name)
    model.load_state_dict(from_torch(twin.state_dict()))
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    with tinycnn.no_grad():
        got = model(tinycnn.tensor(x)).data
    assert got.dtype == np.float32
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}: logits differ")


def write_fixture(path=FIXTURE):
    """Dump every twin's state_dict keys/shapes and parameter count (needs
    torch, torchvision and timm); one entry per line for readable diffs."""
    import timm
    import torch
    import torchvision

    about = (f"state_dict keys/shapes (num_batches_tracked excluded) and parameter counts of torchvision "
             f"{torchvision.__version__} and timm {timm.__version__} models (1000 classes), generated with "
             f"torch {torch.__version__.split('+')[0]}")
    lines = ["{", f'  "_about": {json.dumps(about)},', '  "models": {']
    for i, (twin, source) in enumerate(sorted(set(TWINS.values()), key=list(TWINS.values()).index)):
        model = torchvision.models.get_model(twin) if source == "torchvision" else timm.create_model(twin)
        entries = [[k, list(v.shape)] for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
        params = sum(p.numel() for p in model.parameters())
        lines.append(f'    {json.dumps(twin)}: {{"source": "{source}", "params": {params}, "state_dict": [')
        lines += [f"      {json.dumps(e)}," for e in entries]
        lines[-1] = lines[-1].rstrip(",")
        lines.append("    ]},")
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  }", "}"]
    pathlib.Path(path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write_fixture()


def test_from_torch_takes_a_torch_module():
    torch = pytest.importorskip("torch")
    twin = torch.nn.Linear(3, 2)
    model = tinycnn.nn.Linear(3, 2)
    model.load_state_dict(from_torch(twin))
    np.testing.assert_array_equal(model.weight.numpy(), twin.weight.detach().numpy())


def test_mobilenetv1_100_is_timm_s_relu6_and_mobilenet_v1_the_paper_s_relu():
    acts = {type(m).__name__ for m in create("mobilenetv1_100").modules() if "ReLU" in type(m).__name__}
    assert acts == {"ReLU6"}
    assert {type(m).__name__ for m in create("mobilenet_v1").modules() if "ReLU" in type(m).__name__} == {"ReLU"}
