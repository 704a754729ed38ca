"""Direct convolution for kernels 3 wide at stride 1 (and 3x3 at stride 2): no im2col.

im2col writes kh*kw copies of the input, and writing them takes as long as
the GEMM that reads them. For the commonest convolution of all, 3x3 at
stride 1, these kernels read the input where it lies.

The padded-width layout. Pad each input plane and flatten it, (Hp, Wp) ->
Hp*Wp. Keep output pixel (i, j) at i*Wp + j of a flat plane of the same
width Wp; the last Wp - Wo entries of each output row are junk (computed,
then dropped). Now the input under tap (a, b) of flat output position p is
at p + a*dh*Wp + b*dw, the same shift for every p:

    out[n, o, p] = sum_{c, a, b} w[o, c, a, b] * xp[n, c, p + a*dh*Wp + b*dw]      (1)

For each (c, a, b) that is one contiguous run of p, which vector instructions
load. With AVX-512 the forward takes the flat positions a tile at a time
(kernels/register_tile.py: 64 float32 in four 512-bit registers) and sums (1) for
4 output channels over every input channel and kernel row with the 4 tiles of
sums in registers (`_accumulate_tiles`): each input tile loaded feeds 4
multiply-adds, each sum is stored once. Elsewhere one pass over all p per (c, a)
serves 4 output channels and a kernel row's 3 taps, the sums loaded and stored
in each pass (`_accumulate_rows`).

Small images would make short loops and mostly junk (an 8x8 image padded to
10x10 computes 100 positions for 64), so a plane holds a grid of ky x kx
images whose neighbours share their padding: image (sy, sx) starts S = H + ph
rows below and T = W + pw columns right of the one before, so the ph zero
rows (pw zero columns) between two images are the bottom (right) padding of
one and the top (left) padding of the next. A valid output reads at most
ph rows (pw columns) past its image, which are those zeros; what lies beyond
is read only by junk outputs. (1) and (2) below hold as they are, Wp being
the width of the whole plane. `padded_width_layout` puts a plane's images side
by side, in one row of the grid (ky = 1): 8x8 images, 13 a plane, 118 wide,
942 positions reach the last output, 832 of them outputs (on a 4 x 4 grid, 1296
for 1024; each image with its own padding, 100 for 64), rounded up to whole
tiles: 944 or 960.

The weight gradient reads (1) the other way round, with the output gradient
g in the padded-width layout and zeros in its junk entries:

    dw[o, c, a, b] = sum_{n, p} g[n, o, p] * xp[n, c, p + a*dh*Wp + b*dw]           (2)

12 dot products (4 channels x 3 taps) per pass over p. With groups, a block of
4 output channels lies in one group and reads only that group's input channels.

The input gradient of a stride-1 convolution is itself a stride-1 convolution,
of g with the weight flipped in both taps and its in/out channels swapped (per
group), padded by d*(k-1) - p: each input pixel collects the outputs that read it.

    dx[n, c, i, j] = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] * gp[n, o, i + a*dh, j + b*dw]   (3)

so (1) computes it too (`input_grad_as_conv`).

Stride 2. Output (i, j) reads xp[2i + a*dh, 2j + b*dw]: every other row and column, which
no shift of one plane gives. Split the padded input into its sh*sw phase planes,
x_rs[u, v] = xp[sh*u + r, sw*v + s]; tap (a, b) then reads phase (a*dh % sh, b*dw % sw) at
(i + a*dh // sh, j + b*dw // sw), a shift again. Stacked in the padded-width layout (a slot of
Ho + (kh-1)*dh // sh rows and Wo + 2*dw // sw columns per image and phase, no padding shared):

    out[n, o, p] = sum_{c, a, b} w[o, c, a, b] * x_{phase(a,b)}[n, c, p + off(a,b)]          (4)

with off(a, b) = (a*dh // sh)*Wq + b*dw // sw: (1) with each tap reading its own phase plane
(`tap_table`; stride 1 is the one-phase case), and (2) likewise. The kernels below take the
table and serve both strides. The input gradient of a strided convolution is no stride-1
convolution of g, so it stays with col2im.

The pass of (1) that drops the junk positions also adds a bias and clamps to a range: the eval
fast path's bias and fused ReLU cost no pass of their own (kernels/epilogue.py).

`direct_conv_simple` and `direct_weight_grad_simple` are (1) and (2) in NumPy, at any
stride, one (strided) slice of the padded input per tap; the tests compare the kernels
with them. kernels/direct_layout.py holds the layout and the stacking; `Direct`
(kernels/direct_path.py) is the convolution path built on these kernels.
"""
import numpy as np
from numba import njit, prange

from tinycnn.kernels import register_tile as tile
from tinycnn.kernels.direct_layout import stack_channel
from tinycnn.kernels.epilogue import store
from tinycnn.kernels.geometry import ConvGeometry

# Output channels per pass of the inner loop. Not a setting: the kernels below hold exactly
# 4 output channels in named accumulators (y0..y3, d00..d32); another value means rewriting them.
BLOCK = 4
CHUNKS = 16  # the weight gradient sums this many per-chunk partial sums (fixed: same result on any thread count)


@njit(inline="always")
def _shifted(planes, first, tap, L):
    """The L input values tap = (phase, offset) reads for the L flat outputs of a plane whose
    channel's phase planes start at row `first` of planes (rows, Hq*Wq)."""
    return planes[first + tap[0], tap[1] : tap[1] + L]


@njit(inline="always")
def _accumulate_tiles(planes, first, w, o, taps, P, acc):
    """acc (BLOCK, L) = (1) for output channels o .. o + 3 from the Cg input channels whose
    phase planes start at row `first` of planes (rows, Hq*Wq); L a whole number of tiles.
    Each tile of positions sums over all (c, a) in registers (4 tiles, one per channel)."""
    Cg, kh, L = w.shape[1], w.shape[2], acc.shape[1]
    for p in range(0, L, tile.lanes(acc[0])):
        y0, y1, y2, y3 = tile.zeros(acc[0]), tile.zeros(acc[0]), tile.zeros(acc[0]), tile.zeros(acc[0])
        for c in range(Cg):
            for a in range(kh):
                u = _shifted_tile(planes, first + c * P, taps[a, 0], p)  # tap (a, 0), positions p..
                v = _shifted_tile(planes, first + c * P, taps[a, 1], p)  # tap (a, 1)
                t = _shifted_tile(planes, first + c * P, taps[a, 2], p)  # tap (a, 2)
                y0 = _tap_row(y0, w[o, c, a], u, v, t)
                y1 = _tap_row(y1, w[o + 1, c, a], u, v, t)
                y2 = _tap_row(y2, w[o + 2, c, a], u, v, t)
                y3 = _tap_row(y3, w[o + 3, c, a], u, v, t)
        tile.store(acc[0], p, y0)
        tile.store(acc[1], p, y1)
        tile.store(acc[2], p, y2)
        tile.store(acc[3], p, y3)


@njit(inline="always", fastmath={"contract"})
def _accumulate_rows(planes, first, w, o, taps, P, acc):
    """`_accumulate_tiles`, a kernel row at a time: one pass over all L positions per (c, a),
    the 4 output channels' sums loaded and stored in each pass (the same sums, the same bits)."""
    Cg, kh, L = w.shape[1], w.shape[2], acc.shape[1]
    acc[:] = 0
    y0, y1, y2, y3 = acc[0], acc[1], acc[2], acc[3]
    for c in range(Cg):
        for a in range(kh):
            s0 = _shifted(planes, first + c * P, taps[a, 0], L)  # tap (a, 0), shifted plane  (L,)
            s1 = _shifted(planes, first + c * P, taps[a, 1], L)  # tap (a, 1)
            s2 = _shifted(planes, first + c * P, taps[a, 2], L)  # tap (a, 2)
            w00, w01, w02 = w[o, c, a, 0], w[o, c, a, 1], w[o, c, a, 2]
            w10, w11, w12 = w[o + 1, c, a, 0], w[o + 1, c, a, 1], w[o + 1, c, a, 2]
            w20, w21, w22 = w[o + 2, c, a, 0], w[o + 2, c, a, 1], w[o + 2, c, a, 2]
            w30, w31, w32 = w[o + 3, c, a, 0], w[o + 3, c, a, 1], w[o + 3, c, a, 2]
            # y + w0*u + w1*v + w2*t, from y: three fused multiply-adds (contract), as `_tap_row`
            for p in range(L):
                u, v, t = s0[p], s1[p], s2[p]
                y0[p] = y0[p] + w00 * u + w01 * v + w02 * t
                y1[p] = y1[p] + w10 * u + w11 * v + w12 * t
                y2[p] = y2[p] + w20 * u + w21 * v + w22 * t
                y3[p] = y3[p] + w30 * u + w31 * v + w32 * t


# Tiles keep 16 registers of sums busy with AVX-512; the 8 a tile fills with AVX2 wait on their
# chains of multiply-adds, and the streaming kernel is the faster there (docs/PERFORMANCE.md).
_accumulate = _accumulate_tiles if tile.AVX512 else _accumulate_rows


@njit(inline="always")
def _shifted_tile(planes, first, tap, p):
    """The tile of input values tap = (phase, offset) reads for flat outputs p, p + 1, ... of a
    plane whose channel's phase planes start at row `first` of planes (rows, Hq*Wq)."""
    return tile.load(planes[first + tap[0]], tap[1] + p)


@njit(inline="always")
def _tap_row(y, wr, u, v, t):
    """y + wr[0]*u + wr[1]*v + wr[2]*t, one kernel row's three taps: three fused multiply-adds
    chained on y, in this order (the same sums, the same bits, whatever the tile width)."""
    return tile.fma(wr[2], t, tile.fma(wr[1], v, tile.fma(wr[0], u, y)))


@njit(inline="always", fastmath={"contract"})
def _store_block(acc, out, m, o, k, kx, S, T, Wq, bias, lo, hi):
    """Output channels o .. o + 3 of plane m's images from acc (BLOCK, L), the junk rows and
    columns (and padding channels) dropped, plus bias, clamped to [lo, hi]."""
    N, C_out, Ho, Wo = out.shape
    for s in range(min(k, N - m * k)):
        corner = s // kx * S * Wq + s % kx * T  # output (0, 0) of image s
        for r in range(min(BLOCK, C_out - o)):
            for i in range(Ho):
                store(acc[r, corner + i * Wq : corner + i * Wq + Wo], out[m * k + s, o + r, i], bias[o + r], lo, hi)


@njit(cache=True, parallel=True, fastmath={"contract"})
def _forward(x, w, out, k, kx, S, T, Wq, Hq, L, taps, top, left, sh, sw, per_group, parts, bias, lo, hi):
    """(1), plus bias and a clamp to [lo, hi] in the same pass (the eval path's fused
    activation: ReLU is [0, inf]; no clamp is [-inf, inf]). x: (N, C, H, W); w: (C_out rounded
    up to BLOCK, C/G, kh, 3); out: (N, C_out, Ho, Wo); taps: `tap_table`; (top, left): the
    padding; per_group: output channels per group (a multiple of BLOCK), w.shape[0] without
    groups; bias: (C_out,). A task is one plane (Layout) and a share of its output blocks
    (`parts` tasks a plane: enough for every thread when the planes are few). It stacks the
    (phase) planes it reads (`stack_channel`) into memory of its own and computes from them
    while they lie in cache: a separate stacking pass would write them all to memory and read
    them back."""
    Cg, P = w.shape[1], sh * sw
    M = -(-x.shape[0] // k)
    blocks = w.shape[0] // BLOCK
    for task in prange(M * parts):
        m, part = task // parts, task % parts
        b0, b1 = part * blocks // parts, (part + 1) * blocks // parts
        c_lo = b0 * BLOCK // per_group * Cg  # the input channels of the share's groups
        c_hi = ((b1 * BLOCK - 1) // per_group + 1) * Cg
        planes = np.empty(((c_hi - c_lo) * P, Hq * Wq), dtype=out.dtype)  # (rows, Hq*Wq)
        for c in range(c_lo, c_hi):
            stack_channel(x, m, c, planes[(c - c_lo) * P : (c - c_lo + 1) * P], k, kx, S, T, Wq, top, left, sh, sw)
        acc = np.empty((BLOCK, L), dtype=out.dtype)  # 4 flat output planes, padded width
        for b in range(b0, b1):
            o = b * BLOCK
            _accumulate(planes, (o // per_group * Cg - c_lo) * P, w, o, taps, P, acc)
            _store_block(acc, out, m, o, k, kx, S, T, Wq, bias, lo, hi)


@njit(cache=True, parallel=True, fastmath={"contract", "reassoc"})
def _weight_grad(x, g, parts, k, kx, S, T, Wq, Hq, L, taps, top, left, sh, sw, per_group):
    """(2), one partial sum per chunk of planes. x: (N, C, H, W) the layer's input; g: (N,
    C_out, Ho, Wo) its output gradient; parts: (chunks, C_out rounded up to BLOCK, C/G, kh, 3),
    zeroed here; per_group as in `_forward`. Each chunk stacks plane by plane, into memory of its
    own, the (phase) planes of x and those of g with each output pixel where (1) puts it and
    zeros in the junk entries (`stack_channel`), and sums while they lie in cache."""
    chunks, C_out4, Cg, kh, _ = parts.shape
    M, C, P = -(-x.shape[0] // k), x.shape[1], sh * sw
    for chunk in prange(chunks):
        parts[chunk] = 0
        xs = np.empty((C * P, Hq * Wq), dtype=x.dtype)  # (rows, Hq*Wq)
        gs = np.empty((C_out4, Hq * Wq), dtype=x.dtype)
        for m in range(chunk * M // chunks, (chunk + 1) * M // chunks):
            for c in range(C):
                stack_channel(x, m, c, xs[c * P : (c + 1) * P], k, kx, S, T, Wq, top, left, sh, sw)
            for o in range(C_out4):
                stack_channel(g, m, o, gs[o : o + 1], k, kx, S, T, Wq, 0, 0, 1, 1)
            _weight_grad_plane(xs, gs, parts[chunk], L, taps, P, per_group)


@njit(inline="always", fastmath={"contract", "reassoc"})
def _weight_grad_plane(xs, gs, part, L, taps, P, per_group):
    """part (C_out4, C/G, kh, 3) += (2) over one plane: xs its input's (phase) planes, gs its
    output gradient's, both (rows, Hq*Wq)."""
    C_out4, Cg, kh, _ = part.shape
    zero = xs.dtype.type(0)
    for o in range(0, C_out4, BLOCK):
        g0, g1, g2, g3 = gs[o, :L], gs[o + 1, :L], gs[o + 2, :L], gs[o + 3, :L]
        c0 = o // per_group * Cg
        for c in range(Cg):
            for a in range(kh):
                s0 = _shifted(xs, (c0 + c) * P, taps[a, 0], L)
                s1 = _shifted(xs, (c0 + c) * P, taps[a, 1], L)
                s2 = _shifted(xs, (c0 + c) * P, taps[a, 2], L)
                d00 = d01 = d02 = d10 = d11 = d12 = zero  # d_rb: output channel o + r, tap (a, b)
                d20 = d21 = d22 = d30 = d31 = d32 = zero
                for p in range(L):
                    u, v, t = s0[p], s1[p], s2[p]
                    d00 += g0[p] * u
                    d01 += g0[p] * v
                    d02 += g0[p] * t
                    d10 += g1[p] * u
                    d11 += g1[p] * v
                    d12 += g1[p] * t
                    d20 += g2[p] * u
                    d21 += g2[p] * v
                    d22 += g2[p] * t
                    d30 += g3[p] * u
                    d31 += g3[p] * v
                    d32 += g3[p] * t
                part[o, c, a, 0] += d00
                part[o, c, a, 1] += d01
                part[o, c, a, 2] += d02
                part[o + 1, c, a, 0] += d10
                part[o + 1, c, a, 1] += d11
                part[o + 1, c, a, 2] += d12
                part[o + 2, c, a, 0] += d20
                part[o + 2, c, a, 1] += d21
                part[o + 2, c, a, 2] += d22
                part[o + 3, c, a, 0] += d30
                part[o + 3, c, a, 1] += d31
                part[o + 3, c, a, 2] += d32


def _round_up(n, m):
    return -(-n // m) * m


# ---------------------------------------------------------------- NumPy reference


def _tap_slice(xp, geometry: ConvGeometry, a, b, Ho, Wo):
    """What tap (a, b) reads of the padded input xp (..., Hp, Wp): rows a*dh + sh*i, columns
    b*dw + sw*j, for the (Ho, Wo) outputs (i, j)."""
    _, _, sh, sw, _, _, dh, dw = geometry
    return xp[..., a * dh : a * dh + sh * (Ho - 1) + 1 : sh, b * dw : b * dw + sw * (Wo - 1) + 1 : sw]


def direct_conv_simple(x, weight, geometry: ConvGeometry, groups=1):
    """(1) in NumPy, any kernel and stride: a sum over the taps (a, b) of the padded input
    shifted by (a*dh, b*dw) (every sh-th row, sw-th column), each slice times one weight per
    (output, input) channel. x: (N, C, H, W); weight: (C_out, C/G, kh, kw) -> (N, C_out, Ho, Wo)."""
    N, C, H, W = x.shape
    C_out, Cg, kh, kw = weight.shape
    _, _, _, _, ph, pw, _, _ = geometry
    G, (Ho, Wo) = groups, geometry.output_size(H, W)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))                   # (N, C, Hp, Wp)
    xp = xp.reshape(N, G, Cg, H + 2 * ph, W + 2 * pw)                       # (N, G, C/G, Hp, Wp)
    w = weight.reshape(G, C_out // G, Cg, kh, kw)                           # (G, C_out/G, C/G, kh, kw)
    out = np.zeros((N, G, C_out // G, Ho, Wo), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            shifted = _tap_slice(xp, geometry, a, b, Ho, Wo)                  # (N, G, C/G, Ho, Wo)
            out += np.einsum("goc,ngcij->ngoij", w[..., a, b], shifted)
    return out.reshape(N, C_out, Ho, Wo)


def direct_weight_grad_simple(grad, x, geometry: ConvGeometry, groups=1):
    """(2) in NumPy, any stride: dw[o, c, a, b] sums grad times the slice that tap (a, b) read.
    grad: (N, C_out, Ho, Wo); x: (N, C, H, W) -> (C_out, C/G, kh, kw)."""
    N, C, H, W = x.shape
    C_out, Ho, Wo = grad.shape[1:]
    kh, kw, _, _, ph, pw, _, _ = geometry
    G, Cg = groups, C // groups
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))).reshape(N, G, Cg, H + 2 * ph, W + 2 * pw)
    g = grad.reshape(N, G, C_out // G, Ho, Wo)                              # (N, G, C_out/G, Ho, Wo)
    gw = np.empty((G, C_out // G, Cg, kh, kw), dtype=grad.dtype)
    for a in range(kh):
        for b in range(kw):
            shifted = _tap_slice(xp, geometry, a, b, Ho, Wo)                  # (N, G, C/G, Ho, Wo)
            gw[..., a, b] = np.einsum("ngoij,ngcij->goc", g, shifted)
    return gw.reshape(C_out, Cg, kh, kw)


def input_grad_as_conv(weight, geometry: ConvGeometry, groups):
    """(3): the weight and geometry of the stride-1 convolution of grad that gives dx.
    weight: (C_out, C/G, kh, kw) -> (flipped weight (C, C_out/G, kh, kw), ConvGeometry)."""
    C_out, Cg, kh, kw = weight.shape
    _, _, _, _, ph, pw, dh, dw = geometry
    G = groups
    w = weight.reshape(G, C_out // G, Cg, kh, kw)[..., ::-1, ::-1]          # w[o, c, kh-1-a, kw-1-b]
    w = w.transpose(0, 2, 1, 3, 4).reshape(G * Cg, C_out // G, kh, kw)      # in/out swapped: (C, C_out/G, kh, kw)
    return w, ConvGeometry(kh, kw, 1, 1, dh * (kh - 1) - ph, dw * (kw - 1) - pw, dh, dw)


def input_grad_is_a_conv(geometry: ConvGeometry) -> bool:
    """Whether (3) holds: stride 1, and padding within the kernel's reach d*(k-1)."""
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    return sh == sw == 1 and ph <= dh * (kh - 1) and pw <= dw * (kw - 1)
