"""Data augmentation for CIFAR, vectorised over the whole batch.

Images come in as uint8 (N, 3, H, W). Cropping and flipping work on the uint8 pixels (cheap);
`normalize` turns them into float32; cutout works on the normalised floats. Every random choice
is drawn from the generator passed in (by default tinycnn's global one, `tinycnn.random.rng()`).
"""
import numpy as np

from tinycnn.random import rng as global_rng

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


def _check_images(name: str, x: np.ndarray):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"{name}: expected an ndarray of images (N, C, H, W), got {getattr(x, 'shape', type(x))}")


def normalize(x: np.ndarray, mean=CIFAR10_MEAN, std=CIFAR10_STD, dtype=np.float32) -> np.ndarray:
    """x: uint8 (N, C, H, W) in [0, 255] -> (x / 255 - mean) / std, dtype (N, C, H, W)."""
    _check_images("normalize", x)
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"normalize: {x.shape[1]} channels but {len(mean)} means and {len(std)} stds")
    scale = (1.0 / (255.0 * np.asarray(std))).astype(dtype)[:, None, None]  # (C, 1, 1)
    shift = (-np.asarray(mean) / np.asarray(std)).astype(dtype)[:, None, None]  # (C, 1, 1)
    return x.astype(dtype) * scale + shift


def random_crop(x: np.ndarray, padding: int = 4, generator: np.random.Generator | None = None) -> np.ndarray:
    """Pad each image by `padding` zeros on every side, then cut a random window of the original size.
    x: (N, C, H, W) -> (N, C, H, W); image n is shifted by (dy, dx) in [-padding, padding]."""
    _check_images("random_crop", x)
    if padding < 0:
        raise ValueError(f"random_crop: padding must be >= 0, got {padding}")
    generator = generator or global_rng()
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # (N, C, H+2p, W+2p)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, 2p+1, 2p+1, H, W)
    top = generator.integers(0, 2 * padding + 1, size=n)  # (N,)
    left = generator.integers(0, 2 * padding + 1, size=n)  # (N,)
    return windows[np.arange(n), :, top, left]  # (N, C, H, W): image n's window at (top[n], left[n])


def random_horizontal_flip(x: np.ndarray, p: float = 0.5, generator: np.random.Generator | None = None) -> np.ndarray:
    """Mirror each image left-right with probability p. x: (N, C, H, W) -> (N, C, H, W)."""
    _check_images("random_horizontal_flip", x)
    generator = generator or global_rng()
    flip = generator.random(len(x)) < p  # (N,)
    out = x.copy()
    out[flip] = x[flip, :, :, ::-1]
    return out


def cutout(x: np.ndarray, size: int, generator: np.random.Generator | None = None) -> np.ndarray:
    """Zero a size x size square (clipped at the border) at a random centre of each image
    (DeVries & Taylor, 2017). Apply after `normalize`, so the square becomes the mean colour.
    x: (N, C, H, W) -> (N, C, H, W)."""
    _check_images("cutout", x)
    generator = generator or global_rng()
    n, _, h, w = x.shape
    cy = generator.integers(0, h, size=n)[:, None, None]  # (N, 1, 1)
    cx = generator.integers(0, w, size=n)[:, None, None]  # (N, 1, 1)
    ys = np.arange(h)[None, :, None] - cy  # (N, H, 1) row offsets from the centre
    xs = np.arange(w)[None, None, :] - cx  # (N, 1, W)
    low, high = -(size // 2), size - size // 2  # the square spans offsets [low, high) around the centre
    inside = (ys >= low) & (ys < high) & (xs >= low) & (xs < high)  # (N, H, W)
    return np.where(inside[:, None], np.zeros((), x.dtype), x)


class TrainTransform:
    """The CIFAR training augmentation: random crop (zero padding), horizontal flip,
    normalisation, optional cutout. Call with uint8 (N, C, H, W), get float32 (N, C, H, W)."""

    def __init__(self, padding: int = 4, flip: bool = True, cutout: int = 0, mean=CIFAR10_MEAN, std=CIFAR10_STD):
        self.padding, self.flip, self.cutout, self.mean, self.std = padding, flip, cutout, mean, std

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None) -> np.ndarray:
        generator = generator or global_rng()
        if self.padding:
            x = random_crop(x, self.padding, generator)
        if self.flip:
            x = random_horizontal_flip(x, 0.5, generator)
        x = normalize(x, self.mean, self.std)
        if self.cutout:
            x = cutout(x, self.cutout, generator)
        return x

    def __repr__(self):
        return f"TrainTransform(padding={self.padding}, flip={self.flip}, cutout={self.cutout})"


class EvalTransform:
    """Normalisation only: uint8 (N, C, H, W) -> float32 (N, C, H, W)."""

    def __init__(self, mean=CIFAR10_MEAN, std=CIFAR10_STD):
        self.mean, self.std = mean, std

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None) -> np.ndarray:
        return normalize(x, self.mean, self.std)

    def __repr__(self):
        return "EvalTransform()"
