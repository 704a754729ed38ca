"""BatchNorm and pooling rows of `tinycnn bench layers` (`--only bn-pool`).

Each row times one layer of a CIFAR network at the benchmark's batch size:
tinycnn's forward and forward+backward beside PyTorch's (same thread count,
interleaved, median; see timing.median_times), and the ratio tinycnn/PyTorch.
"""

import numpy as np

import tinycnn
from tinycnn import nn
from tinycnn.bench.table import layer_row
from tinycnn.bench.timing import fwd_bwd_medians, fwd_bwd_step

TITLE = "BatchNorm and pooling layers"

# (label, tinycnn layer, torch layer name and arguments, C, H=W, eval mode)
LAYERS = [
    ("BatchNorm2d train (ResNet-20)", "BatchNorm2d", (16,), 16, 32, False),
    ("BatchNorm2d train (ResNet-20)", "BatchNorm2d", (32,), 32, 16, False),
    ("BatchNorm2d train (ResNet-20)", "BatchNorm2d", (64,), 64, 8, False),
    ("BatchNorm2d train (MobileNetV2)", "BatchNorm2d", (144,), 144, 32, False),
    ("BatchNorm2d train (MobileNetV2)", "BatchNorm2d", (576,), 576, 8, False),
    ("BatchNorm2d eval", "BatchNorm2d", (64,), 64, 8, True),
    ("MaxPool2d(3, 2, 1)", "MaxPool2d", (3, 2, 1), 64, 32, False),
    ("MaxPool2d(2)", "MaxPool2d", (2,), 16, 32, False),
    ("AvgPool2d(2) (DenseNet-40 transition)", "AvgPool2d", (2,), 160, 32, False),
    ("AdaptiveAvgPool2d(1) (ResNet-20 head)", "AdaptiveAvgPool2d", (1,), 64, 8, False),
    ("AdaptiveAvgPool2d(1) (MobileNetV2 head)", "AdaptiveAvgPool2d", (1,), 1280, 4, False),
]


def rows(batch, torch, repeat) -> list:
    """Table rows [label, input shape, fwd ms, torch fwd, ratio, fwd+bwd ms, torch f+b, ratio]."""
    out = []
    for label, name, args, c, h, eval_mode in LAYERS:
        ours = getattr(nn, name)(*args)
        theirs = getattr(torch.nn, name)(*args) if torch is not None else None
        if eval_mode:
            ours.eval()
            theirs = theirs.eval() if theirs is not None else None
        t = time_module_pair(ours, theirs, (batch, c, h, h), torch, repeat)
        out.append(layer_row(label, (batch, c, h, h), t))
    return out


def time_module_pair(ours, theirs, shape, torch, repeat) -> dict:
    """Median forward and forward+backward seconds of a layer on a float32 input
    of `shape` (distinct values: no max-pool ties), tinycnn and (if `theirs`)
    PyTorch interleaved. Returns {fwd, fb[, torch fwd, torch fb]}."""
    n = int(np.prod(shape))
    x = (np.random.default_rng(0).permutation(n).reshape(shape) / n).astype(np.float32)
    tx = tinycnn.Tensor(x, requires_grad=True)
    g = np.ones(ours(tx).shape, np.float32)

    mine = fwd_bwd_step(lambda: ours(tx), g, (tx,))
    torch_step = None
    if theirs is not None:
        px, pg = torch.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(g)
        torch_step = fwd_bwd_step(lambda: theirs(px), pg, (px,))
    return fwd_bwd_medians(mine, torch_step, repeat)
