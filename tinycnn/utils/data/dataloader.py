"""DataLoader: a Dataset's items in batches, as PyTorch's (in this process; no workers)."""
from __future__ import annotations

import numpy as np

from tinycnn.random import generator_rng
from tinycnn.utils.data.collate import collate


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` items, collated by `collate_fn`
    (default: `default_collate`).

    shuffle=True draws a new order every epoch from `generator` (a tinycnn.Generator;
    default: tinycnn's global generator, so `tinycnn.manual_seed` repeats it).
    drop_last drops an incomplete last batch. num_workers, pin_memory and the other
    PyTorch options that tune loading are accepted and have no effect: items are read
    in this process.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None, generator=None, **kwargs):
        if batch_size is None or isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
                or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if sampler is not None or batch_sampler is not None:
            raise ValueError("DataLoader: sampler and batch_sampler are not supported; use shuffle and generator")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, int(batch_size), shuffle, drop_last
        self.collate_fn, self.generator = collate_fn, generator
        generator_rng(generator)  # a bad generator fails here, not at the first epoch

    def __len__(self) -> int:
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        return generator_rng(self.generator).permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        order = self._order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = [int(i) for i in order[start:start + self.batch_size]]
            items = [self.dataset[i] for i in indices]
            yield self.collate_fn(items) if self.collate_fn is not None else collate(items, indices)
