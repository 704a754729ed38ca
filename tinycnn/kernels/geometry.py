"""The geometry of a 2-D convolution: kernel size, stride, padding and dilation, per axis.

`nn.Conv2d` builds one when it is constructed (`ops.conv.conv_geometry` checks the
arguments) and the same tuple travels down to the kernels' Python wrappers; only the
Numba-compiled loops take the eight ints one by one.

    kh, kw: kernel height and width
    sh, sw: stride
    ph, pw: zero padding, added on both sides
    dh, dw: dilation (the step between two taps of the kernel; 1: adjacent pixels)

Output size along one axis (PyTorch's formula): Ho = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1.
"""
from typing import NamedTuple

import numpy as np
from numba import njit


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class ConvGeometry(NamedTuple):
    """kh, kw, stride, padding and dilation of a convolution (see the module docstring).

    >>> ConvGeometry(kh=3, kw=3, ph=1, pw=1).output_size(32, 32)
    (32, 32)
    """

    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    ph: int = 0
    pw: int = 0
    dh: int = 1
    dw: int = 1

    def output_size(self, H: int, W: int) -> tuple[int, int]:
        """(Ho, Wo) of an (H, W) input."""
        return (conv_output_size(H, self.kh, self.sh, self.ph, self.dh),
                conv_output_size(W, self.kw, self.sw, self.pw, self.dw))


# ---------------------------------------------------------------- phase planes (stride > 1)
# A strided kernel reads every sh-th row and sw-th column. Split the padded input into its
# sh*sw phase planes x_rs[u, v] = xp[sh*u + r, sw*v + s]: tap (a, b) then reads one phase plane
# shifted by a constant (kernels/direct_conv.py formula (4); the depthwise kernels likewise).


def phase_taps(kh, kw, sh, sw, dh, dw, row) -> np.ndarray:
    """(kh, kw, 2) int64: for tap (a, b), the phase plane it reads, (a*dh % sh)*sw + b*dw % sw,
    and its offset there, (a*dh // sh)*row + b*dw // sw, in flat planes `row` wide. Stride 1:
    one plane, offset a*dh*row + b*dw."""
    taps = np.empty((kh, kw, 2), dtype=np.int64)
    for a in range(kh):
        for b in range(kw):
            taps[a, b] = (a * dh % sh) * sw + b * dw % sw, a * dh // sh * row + b * dw // sw
    return taps


@njit(inline="always")
def phase_range(size, room, pad, step, phase):
    """(first, end): the positions u < room of a phase plane that hold image pixels, those with
    step*u + phase - pad in [0, size) (the others are padding)."""
    first = max(0, -((phase - pad) // step))
    return first, max(first, min(room, (size - 1 - phase + pad) // step + 1))
