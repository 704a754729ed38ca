"""Batching: a DataLoader over in-memory image arrays, and stratified subsets."""
import numpy as np

from tinycnn.random import rng as global_rng
from tinycnn.tensor import Tensor


class DataLoader:
    """Iterate over (images, labels) in batches.

    images: uint8 (N, C, H, W); labels: int (N,). Each batch is `transform(images[idx], generator)`
    as a Tensor (B, C, H, W) and the labels as an int64 ndarray (B,). With shuffle=True the order
    is drawn anew every epoch from `generator` (default: tinycnn's global RNG, so
    `tinycnn.manual_seed` makes the order repeatable). drop_last drops an incomplete last batch.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int = 128, shuffle: bool = False,
                 drop_last: bool = False, transform=None, generator: np.random.Generator | None = None):
        if len(images) != len(labels):
            raise ValueError(f"DataLoader: {len(images)} images but {len(labels)} labels")
        if not isinstance(batch_size, int | np.integer) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.transform, self.generator = transform, generator

    def __len__(self) -> int:
        full, rest = divmod(len(self.images), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        generator = self.generator or global_rng()
        n = len(self.images)
        order = generator.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if self.shuffle:
                idx = np.sort(idx)  # same batch, read in memory order (faster gather)
            x = self.images[idx]
            if self.transform is not None:
                x = self.transform(x, generator)
            yield Tensor(x), self.labels[idx]


def stratified_subset(labels: np.ndarray, size: int, generator: np.random.Generator | None = None) -> np.ndarray:
    """Indices of `size` examples drawn at random with the classes in the same proportions as in
    `labels` (largest remainders get the leftover places). labels: (N,) -> sorted indices (size,)."""
    labels = np.asarray(labels)
    if not 0 < size <= len(labels):
        raise ValueError(f"stratified_subset: size must be in [1, {len(labels)}], got {size}")
    generator = generator or global_rng()
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / len(labels)  # (K,) ideal number per class
    take = np.floor(exact).astype(int)
    leftover = size - take.sum()
    take[np.argsort(-(exact - take), kind="stable")[:leftover]] += 1
    chosen = [generator.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))
