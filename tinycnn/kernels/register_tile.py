"""A tile of consecutive array entries held in vector registers, for Numba kernels.

Numba compiles a loop over an array into vector instructions, but a sum that runs over
several loops (all input channels and kernel rows of a convolution) lives in an array, and
every pass of every loop loads it from memory and stores it back. A value of LLVM's vector
type, <n x float>, is an ordinary local variable instead: it stays in registers for as long
as the kernel uses it, and LLVM splits a tile wider than one register into as many
registers as it needs. These four functions make such a value and work on it:

    y = zeros(a)                   # a tile of a's dtype, all zeros
    u = load(a, i)                 # a[i : i + lanes(a)]       (a 1-D, contiguous)
    y = fma(w, u, y)               # w * u + y, one rounding, w a scalar
    store(a, i, y)                 # a[i : i + lanes(a)] = y

No bounds are checked: the caller keeps i + lanes(a) <= a.size.

A tile is TILE_BYTES wide: four 512-bit registers on a CPU with AVX-512 (32 of them, so that
4 tiles of accumulators, their inputs and the broadcast weights fit), one 512-bit width
elsewhere (two AVX2 registers of 16, four NEON registers of 32). The direct convolution's
forward sums in tiles only with AVX-512 (`AVX512`; kernels/direct_conv.py says why).
"""
import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, models, register_model


def _compiles_for_avx512() -> bool:
    """Whether Numba compiles with AVX-512: with this CPU's features, unless NUMBA_CPU_FEATURES
    gives others (as Numba does; NUMBA_CPU_NAME alone keeps this CPU's features)."""
    if numba.config.CPU_FEATURES:
        return "+avx512f" in numba.config.CPU_FEATURES.split(",")
    llvm.initialize_native_target()
    return bool(llvm.get_host_cpu_features().get("avx512f", False))


AVX512 = _compiles_for_avx512()
TILE_BYTES = 256 if AVX512 else 64


def lanes_of(itemsize: int) -> int:
    """Entries a tile holds of a dtype itemsize bytes wide."""
    return TILE_BYTES // itemsize


class Tile(types.Type):
    """Numba's type of a tile: `lanes` entries of `dtype`."""

    def __init__(self, dtype, lanes):
        self.dtype, self.lanes = dtype, lanes
        super().__init__(name=f"Tile({dtype}, {lanes})")


@register_model(Tile)
class _TileModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes))


def _tile_type(array_type):
    floats = (types.float32, types.float64)
    if not isinstance(array_type, types.Array) or array_type.ndim != 1 or array_type.dtype not in floats:
        raise TypingError(f"register_tile: expected a 1-D float32 or float64 array, got {array_type}")
    return Tile(array_type.dtype, lanes_of(array_type.dtype.bitwidth // 8))


def _contiguous_tile_type(array_type):
    """The tile of a 1-D array that load and store address entry by entry (layout 'C')."""
    tile = _tile_type(array_type)
    if array_type.layout != "C":
        raise TypingError(f"register_tile: expected a contiguous array (layout 'C'), got {array_type}")
    return tile


def _address(context, builder, array_type, array, i, vector_type):
    """Pointer to a[i] as a pointer to a tile (a's entries are contiguous)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [i]), ir.PointerType(vector_type))


@intrinsic
def lanes(typingctx, a):
    """Entries of a tile of a's dtype (a compile-time constant)."""
    n = _tile_type(a).lanes

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(types.intp), n)

    return types.intp(a), codegen


@intrinsic
def zeros(typingctx, a):
    """A tile of a's dtype, all zeros."""
    tile = _tile_type(a)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(tile), None)

    return tile(a), codegen


@intrinsic
def load(typingctx, a, i):
    """a[i : i + lanes] as a tile."""
    tile = _contiguous_tile_type(a)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(tile)
        address = _address(context, builder, a, args[0], args[1], vector_type)
        return builder.load(address, align=tile.dtype.bitwidth // 8)

    return tile(a, i), codegen


@intrinsic
def store(typingctx, a, i, y):
    """a[i : i + lanes] = y."""
    if _contiguous_tile_type(a) != y:
        raise TypingError(f"register_tile.store: a tile {y} into an array of {a.dtype}")

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(y)
        address = _address(context, builder, a, args[0], args[1], vector_type)
        builder.store(args[2], address, align=y.dtype.bitwidth // 8)

    return types.none(a, i, y), codegen


@intrinsic
def fma(typingctx, w, u, y):
    """w * u + y with one rounding (LLVM's llvm.fma): w a scalar, broadcast to every lane."""
    if not isinstance(y, Tile) or u != y or w != y.dtype:
        expected = getattr(y, "dtype", "float")
        raise TypingError(f"register_tile.fma: expected a {expected} scalar and two equal tiles, got {w}, {u}, {y}")

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(y)
        undefined = ir.Constant(vector_type, ir.Undefined)
        first = builder.insert_element(undefined, args[0], ir.Constant(ir.IntType(32), 0))
        broadcast = builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(ir.IntType(32), y.lanes), None))
        name = f"llvm.fma.v{y.lanes}f{y.dtype.bitwidth}"
        function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector_type, [vector_type] * 3), name)
        return builder.call(function, [broadcast, args[1], args[2]])

    return y(w, u, y), codegen
