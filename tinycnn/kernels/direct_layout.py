"""Where the direct kernels (kernels/direct_conv.py) find everything: the padded-width
layout of a batch (a grid of images a plane, neighbours sharing their padding; phase planes
at stride 2), each tap's offset in it, and the stacking of images into it.

kernels/direct_conv.py's docstring derives the layout: formulas (1) to (4).
"""
import functools
from typing import NamedTuple

import numpy as np
from numba import njit

from tinycnn.kernels.geometry import ConvGeometry, phase_range, phase_taps
from tinycnn.kernels.register_tile import lanes_of

# The flat length is rounded up to whole register tiles of float32 (a float64 tile is half as
# long): the forward computes tile by tile, with no tail loop.
VECTOR = lanes_of(4)
MIN_FLAT = 1024  # images are stacked until a plane holds this many positions


class Layout(NamedTuple):
    """Where everything lies in the padded-width layout of a convolution, kernel (kh, 3).

    A plane holds a grid of ky x kx images, Wq columns wide; image s of a plane (row
    sy = s // kx, column sx = s % kx of the grid) starts at row sy*S, column sx*T (its
    padding included): at stride 1 S = H + ph, T = W + pw, Wq = kx*T + pw (neighbours share
    their padding); at stride 2 slots of (4) and Wq = kx*T. Its output pixel (i, j) lies at flat position
    (sy*S + i)*Wq + sx*T + j. L: flat positions computed per plane (the last valid output,
    rounded up to whole tiles, VECTOR); Hq: rows of a plane, enough for every read.
    """

    kx: int
    ky: int
    S: int
    T: int
    Wq: int
    Hq: int
    L: int
    Ho: int
    Wo: int

    @property
    def k(self) -> int:
        """Images per plane."""
        return self.kx * self.ky


def padded_width_layout(N, H, W, geometry: ConvGeometry, rows: int = 1) -> Layout:
    """The Layout of a batch of N images (H, W) for a kernel (kh, 3) at stride 1 or more, the
    images of a plane in `rows` rows of the grid. One row (side by side) computes the fewest
    junk positions: each image adds its padding columns, none of its padding rows (8x8 images,
    3x3, batch 128: 1.14 positions per output against 1.27 on a square grid; docs/PERFORMANCE.md)."""
    kh, _, sh, sw, ph, pw, dh, dw = geometry
    Ho, Wo = geometry.output_size(H, W)
    if (sh, sw) == (1, 1):  # neighbours share their padding; Ho <= S, Wo <= T
        S, T, right = H + ph, W + pw, pw
    else:  # a slot per image and phase: its outputs and the rows/columns its taps reach past them
        S, T, right = Ho + (kh - 1) * dh // sh, Wo + 2 * dw // sw, 0
    k = max(1, min(N, -(-MIN_FLAT // (S * T))))  # images per plane
    ky = max(1, min(rows, k))
    kx = -(-k // ky)
    Wq = kx * T + right
    L = -(-(((ky - 1) * S + Ho - 1) * Wq + (kx - 1) * T + Wo) // VECTOR) * VECTOR
    reach = (kh - 1) * dh // sh * Wq + 2 * dw // sw  # the farthest tap's offset (`tap_table`)
    Hq = max(ky * S, -(-(reach + L) // Wq))  # the images' rows; every read
    return Layout(kx, ky, S, T, Wq, Hq, L, Ho, Wo)


@functools.lru_cache(maxsize=256)
def tap_table(layout: Layout, geometry: ConvGeometry) -> np.ndarray:
    """(kh, 3, 2) int64, read-only: for tap (a, b), the phase plane it reads and its offset
    there, (4). Cached: every call of a layer asks for the same table."""
    kh, _, sh, sw, _, _, dh, dw = geometry
    taps = phase_taps(kh, 3, sh, sw, dh, dw, layout.Wq)
    taps.flags.writeable = False
    return taps


@njit(inline="always")
def stack_channel(x, m, c, dst, k, kx, S, T, Wq, top, left, sh, sw):
    """Stacking. x: (N, C, H, W) -> dst: (P, Hq*Wq), the P = sh*sw phase planes of channel c of
    plane m, flat, Wq wide: plane m holds images m*k .. m*k + k - 1 in rows of kx; row u, column
    v of slot (sy, sx) = divmod(n % k, kx) of phase plane r*sw + s holds
    x[n, c, sh*u + r - top, sw*v + s - left]; zeros everywhere else (padding, empty slots, and
    the whole plane for a padding channel c >= C: dst is uninitialised, every entry is written).
    Stride 1 or 2 (sw): at 2 each image row is read once and dealt to its two column phases."""
    N, C, H, W = x.shape
    xf = x.reshape(x.size)  # x flat: rows found by flat index
    for phase in range(sh * sw):
        dst[phase][:] = 0  # one fill, then the image rows over it: fewer, longer loops than row by row
    if c >= C:
        return
    v0, v1 = phase_range(W, T, left, 1, 0)  # stride 1: the slot's columns inside the image
    for r in range(sh):
        plane = dst[r]
        for slot in range(min(k, N - m * k)):
            sy, sx = slot // kx, slot % kx
            for u in range(*phase_range(H, S, top, sh, r)):  # the slot's rows inside the image
                q = (sy * S + u) * Wq + sx * T  # row u of the slot
                src = (((m * k + slot) * C + c) * H + sh * u + r - top) * W  # that image row, flat in x
                if sw == 1:
                    _copy(xf, src + v0 - left, plane, q + v0, v1 - v0)
                else:
                    _split_row(xf[src : src + W], dst[2 * r], dst[2 * r + 1], q, left, T)


@njit(inline="always")
def _copy(src, i, dst, j, n):
    """dst[j : j + n] = src[i : i + n] by unsigned flat indices: no array view made per row and no
    wraparound check per index, which both cost time in this loop (docs/PERFORMANCE.md)."""
    i, j = np.uint64(i), np.uint64(j)
    for v in range(np.uint64(n)):
        dst[j + v] = src[i + v]


@njit(inline="always")
def _split_row(src, even, odd, q, left, T):
    """An image row src (W,) dealt to its two column phases at stride 2: column j to phase
    plane (j + left) % 2 (`even` for 0, `odd` for 1), column (j + left) // 2 of the slot whose
    row starts at q, for those columns < T. Taken in pairs (2t, 2t + 1), one to each plane:
    a loop of plain strided reads and contiguous writes, which vectorises (a copy of every
    other column per phase, the loop before, did not)."""
    W = src.size
    e = left % 2  # the phase of the even columns
    d0, d1 = left // 2, (left + 1) // 2  # column 2t lands at t + d0, column 2t + 1 at t + d1
    n = max(0, min(W // 2, T - d0, T - d1))  # pairs whose both columns fit the slot
    first = even if e == 0 else odd
    second = odd if e == 0 else even
    a, b = first[q + d0 : q + d0 + n], second[q + d1 : q + d1 + n]
    for t in range(n):
        a[t] = src[2 * t]
        b[t] = src[2 * t + 1]
    for j in range(2 * n, W):  # the rest one by one: an odd width's last column, or the slot's edge
        v = (j + left) // 2
        if v < T:
            if (j + left) % 2 == 0:
                even[q + v] = src[j]
            else:
                odd[q + v] = src[j]
