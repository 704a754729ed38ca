"""The one random generator behind init, dropout, drop-path, augmentation and
shuffling, so `tinycnn.manual_seed(s)` makes a whole run repeatable."""
import numpy as np

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(seed)


def rng() -> np.random.Generator:
    return _rng


def get_rng_state() -> dict:
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


class Generator:
    """torch.Generator: a random generator of its own, e.g. for a DataLoader's shuffle,
    so the order repeats whatever else draws from the global one.

    >>> g = tinycnn.Generator().manual_seed(0)
    """

    def __init__(self, device="cpu"):
        from tinycnn.device import check_cpu

        self.device = check_cpu("Generator", device)
        self._seed = 0
        self.rng = np.random.default_rng(0)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> "Generator":
        self.rng.bit_generator.state = state
        return self


def generator_rng(generator) -> np.random.Generator:
    """The NumPy generator behind a tinycnn.Generator, a NumPy Generator, or None (the global one)."""
    if generator is None:
        return _rng
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"expected a tinycnn.Generator or None, got {type(generator).__name__}")
