"""A small CIFAR network in PyTorch's idiom that runs on tinycnn and on PyTorch.

The one line that picks the framework is the import below: `import tinycnn as torch`
runs everything on tinycnn; `import torch` runs the same code on PyTorch (GPUs,
DistributedDataParallel). The environment variable FRAMEWORK=torch flips it without
editing the file. Everything after the import is plain PyTorch.
"""
import os

if os.environ.get("FRAMEWORK", "tinycnn") == "torch":
    import torch
else:
    import tinycnn as torch  # the switch: the rest of the file is the same for both

nn = torch.nn
F = torch.nn.functional


class Block(nn.Module):
    """conv 3x3 -> BN -> ReLU, twice, with an identity shortcut (a ResNet basic block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + x)


class Net(nn.Module):
    """(N, 3, 32, 32) -> (N, num_classes): stem, two stages of one block, pooling, linear."""

    def __init__(self, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = Block(width)
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(2 * width), nn.ReLU())
        self.layer2 = Block(2 * width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.layer2(self.down(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))
