"""A PyTorch training script that runs on tinycnn; `FRAMEWORK=torch` runs it on PyTorch.

    python lessons/two_frameworks/train.py                   # tinycnn, on the CPU
    FRAMEWORK=torch python lessons/two_frameworks/train.py   # PyTorch, on a GPU if there is one

The framework is chosen by the one import in model.py; this file only uses PyTorch's
idioms: devices, Dataset/DataLoader with a seeded generator, a loss module with label
smoothing, SGD with momentum, a cosine schedule, gradient clipping, no_grad, argmax.
The data is synthetic (a fixed NumPy draw), so the script needs no download.
"""
import argparse

import numpy as np

from model import Net, nn, torch


def synthetic_data(n: int = 64, num_classes: int = 10, seed: int = 0):
    """n images whose class is written into their mean colour, so a few steps learn it."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    images = rng.standard_normal((n, 3, 32, 32)).astype(np.float32) + (labels / num_classes)[:, None, None, None]
    return images.astype(np.float32), labels.astype(np.int64)


def train_steps(model, batches, device, lr: float = 0.05, max_norm: float = 5.0):
    """One SGD step per (images, labels) batch; returns the losses as floats."""
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(batches))
    model.train()
    losses = []
    for images, labels in batches:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def accuracy(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            predictions = torch.argmax(model(images.to(device)), dim=1)
            correct += (predictions == labels.to(device)).sum().item()
            total += len(labels)
    return correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    images, labels = synthetic_data()
    dataset = torch.utils.data.TensorDataset(torch.tensor(images), torch.tensor(labels))
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    model = Net().to(device)
    for epoch in range(args.epochs):
        losses = train_steps(model, list(loader), device)
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, train accuracy {accuracy(model, loader, device):.2f}")


if __name__ == "__main__":
    main()
