"""Resizing whole image sets, for training a model at another resolution than CIFAR's 32x32
(EfficientNet's resolution scaling): bilinear interpolation with half-pixel centres, PyTorch's
`F.interpolate(x, size, mode="bilinear", align_corners=False)`, done once on the uint8 dataset.

Each output row is a weighted sum of two input rows, so the resize is two matrix products:
    out[n, c] = Mh @ x[n, c] @ Mw^T     Mh: (size, H), Mw: (size, W), two non-zeros per row
"""
import numpy as np


def interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): output pixel i samples the input at (i + 0.5) * n_in / n_out - 0.5 (clamped to
    the first pixel, as PyTorch does), mixing its two neighbours linearly."""
    position = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)  # (n_out,)
    low = np.minimum(np.floor(position).astype(np.int64), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    frac = position - low
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix


def resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """x: float (N, C, H, W) -> (N, C, size, size), same dtype."""
    if x.ndim != 4:
        raise ValueError(f"resize_bilinear: expected images (N, C, H, W), got shape {x.shape}")
    if not isinstance(size, int | np.integer) or size <= 0:
        raise ValueError(f"resize_bilinear: expected a positive int size, got {size!r}")
    mh = interpolation_matrix(x.shape[2], size).astype(x.dtype)  # (size, H)
    mw = interpolation_matrix(x.shape[3], size).astype(x.dtype)  # (size, W)
    return mh @ x @ mw.T  # (N, C, size, W) -> (N, C, size, size)


def resize_images(x: np.ndarray, size: int, chunk: int = 2000) -> np.ndarray:
    """uint8 images (N, C, H, W) -> uint8 (N, C, size, size), rounded; `chunk` images at a time
    so the float copy stays small."""
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"resize_images: expected uint8 images (N, C, H, W), got {x.dtype} of shape {x.shape}")
    if x.shape[2:] == (size, size):
        return x
    out = np.empty((len(x), x.shape[1], size, size), np.uint8)
    for i in range(0, len(x), chunk):
        out[i:i + chunk] = np.clip(np.rint(resize_bilinear(x[i:i + chunk].astype(np.float32), size)), 0, 255)
    return out
