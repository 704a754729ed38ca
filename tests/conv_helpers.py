"""Inputs and the naive-loop reference shared by the convolution tests (test_conv.py,
test_conv_direct.py, test_conv_paths.py)."""
import numpy as np

from tinycnn import Tensor

rng = np.random.default_rng(0)


def random_tensor(shape, dtype=np.float64, requires_grad=True):
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=requires_grad)


def rng_fixed(shape):
    """A deterministic, non-random array of the shape: the same values whatever ran before."""
    return np.sin(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape)


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """Seven nested loops straight from the definition (tiny shapes only)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    C_out, Cg, kh, kw = w.shape
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((N, C_out, Ho, Wo))
    per_group = C_out // groups
    for n in range(N):
        for o in range(C_out):
            g = o // per_group
            for i in range(Ho):
                for j in range(Wo):
                    s = b[o] if b is not None else 0.0
                    for c in range(Cg):
                        for a in range(kh):
                            for bb in range(kw):
                                y, xx = i * sh + a * dh - ph, j * sw + bb * dw - pw
                                if 0 <= y < H and 0 <= xx < W:
                                    s += w[o, c, a, bb] * x[n, g * Cg + c, y, xx]
                    out[n, o, i, j] = s
    return out
