"""Lowering of convolution problems to NumPy GEMMs and the tile kernels.

Everything is phrased as *convolution* terms on 3-D spatial grids (see
``_conv_geometry``):

* conv forward            y  = W @ im2col(x)   (3x3 stride 1: Winograd F(2x2, 3x3))
* conv grad_input         gx = col2im(Wᵀ @ gy), computed as one gather per stride
                          phase: a stride-1 convolution of gy with the taps that land
                          on that phase, written onto its strided sub-grid of gx
* conv grad_weight        gW = Σ_n gy_n @ im2col(x)_nᵀ
* conv_transpose forward  is conv's grad_input, with the transposed weight read as a
                          conv weight; its backward is conv's forward (grad_input) and
                          conv's weight gradient with the roles of input and gradient
                          swapped.

Work is cut into tiles of one sample's output grid, sized so a tile of columns (at
most ``_TILE_BYTES``) stays in a core's cache between im2col and the GEMM; the only
temporaries are these per-thread tile buffers (and the per-block weight-gradient
partials). The items run on an OpenMP team in ``_kernels/_conv.pyx``, with BLAS held to
one thread by ``_conv_threads``.

Which lowering a problem takes (Winograd or im2col, the fused 1x1 backward) never
changes what it computes beyond rounding: Winograd is refused for operands whose
values its transforms would turn into NaN or overflow (``winograd_safe``).
"""

import itertools
from math import prod
from typing import NamedTuple

import numpy as np

from . import _conv_threads as threads
from ._kernels import _cpu_has_avx2


def _conv_kernels():
    # The AVX2 build of the same source when the CPU runs it: the same results bit for
    # bit (no FMA), the direct kernels twice as wide.
    if _cpu_has_avx2():
        try:
            from ._kernels import _conv_avx2

            return _conv_avx2
        except ImportError:  # built without it (non-x86, or -Dnative=true)
            pass
    from ._kernels import _conv

    return _conv


_k = _conv_kernels()

# Upper bound for one tile of columns: it should stay in a core's L2 cache until the GEMM
# has read it.
_TILE_BYTES = 2**20
# The weight gradient is summed over at least this many fixed blocks of work (when the
# batch and grid allow), so that several threads can share it.
_MIN_BLOCKS = 8
_TILE_CAP = 512
# Upper bound for the columns of one tile of a whole set of stride phases.
_SET_BYTES = 8 * 2**20
# Below this many input or output channels the Winograd transforms cost more than they save.
_WINOGRAD_MIN_CHANNELS = 16


def _tile_length(rows, n_out, itemsize):
    """Output positions per tile, so a tile of columns stays in the core's L2 cache."""
    tile = min(_TILE_CAP, _TILE_BYTES // max(1, rows * itemsize))
    if tile >= 64:
        tile -= tile % 64  # whole GEMM kernel blocks
    return max(1, min(n_out, tile))


def _conv_offsets(geom):
    """Per-axis tap offsets of a convolution: the source index is o*stride + offset."""
    return tuple(
        (np.arange(k, dtype=np.intp) * d - p)[np.newaxis]
        for k, d, p in zip(geom.kernel, geom.dilation, geom.padding)
    )


def _run(kernel, n_items, num_threads, make_args):
    """``kernel(*make_args(team), team)`` on a team of threads, BLAS on one thread inside."""
    with threads.one_blas_thread as blas_held:
        team = threads.team_size(num_threads, n_items, blas_held)
        kernel(*make_args(team), team)


def im2col_pass(src5, geom, groups, num_threads, weight=None, dst5=None, bias=None, lhs5=None):
    """One sweep over ``cols = im2col(src5)``, tile by tile of each sample's output grid.

    With ``dst5``: ``dst5 = weight @ cols + bias`` (convolution forward).
    With ``lhs5``: returns ``Σ_n lhs5_n @ cols_nᵀ`` shaped like a conv weight.
    """
    n_samples, channels = src5.shape[:2]
    n_taps, n_out = prod(geom.kernel), prod(geom.out)
    cg_k = channels // groups * n_taps
    rows = channels * n_taps
    m_total = (dst5 if dst5 is not None else lhs5).shape[1]
    mg = m_total // groups
    dtype = src5.dtype
    identity = geom.pure_matmul
    if identity and lhs5 is not None:
        # No columns to keep in cache: one GEMM per sample, with the long reduction
        # (K = the grid) that BLAS runs best.
        tile = max(1, n_out)
    else:
        tile = _tile_length(rows, n_out, src5.itemsize)
    n_tiles = -(-n_out // tile)
    if lhs5 is None:
        per_sample = n_tiles
    else:
        # The weight gradient sums over samples and tiles: each item sums a fixed block
        # of tiles into a partial of its own; the partials are added in item order.
        per_sample = min(n_tiles, -(-_MIN_BLOCKS // max(1, n_samples)))
        # Partials hold gWᵀ: cols @ lhsᵀ runs faster in BLAS than lhs @ colsᵀ.
        partials = np.empty((n_samples * per_sample, groups, cg_k, mg), dtype)
        lhs = lhs5.reshape(n_samples, groups, mg, n_out)
    dst = np.empty((0, 0, 0), dtype)
    if dst5 is not None:
        w_mat = weight.reshape(groups, mg, cg_k)
        dst = dst5.reshape(n_samples, m_total, n_out)
    offsets = _conv_offsets(geom)
    if identity:
        src_flat = src5.reshape(n_samples, groups, cg_k, n_out)

    def make_args(team):
        cols = np.empty((0 if identity else team, rows * tile), dtype)
        products = np.empty((team, groups, cg_k, mg), dtype) if lhs5 is not None else None

        def gemm(item, t, thread):
            n = item // per_sample
            p0, p1 = t * tile, min((t + 1) * tile, n_out)
            if identity:
                tile_cols = src_flat[n, :, :, p0:p1]
            else:
                tile_cols = cols[thread, : rows * (p1 - p0)].reshape(groups, cg_k, p1 - p0)
            if dst5 is not None:
                out = dst[n, :, p0:p1].reshape(groups, mg, p1 - p0)
                np.matmul(w_mat, tile_cols, out=out)
            if lhs5 is not None:
                first = item % per_sample * n_tiles // per_sample
                target = partials[item] if t == first else products[thread]
                np.matmul(tile_cols, lhs[n, :, :, p0:p1].transpose(0, 2, 1), out=target)
                if t != first:
                    partials[item] += target

        bias_arr = np.empty(0, dtype) if bias is None else bias
        geometry = (*offsets, geom.stride, geom.out, tile, per_sample)
        return (src5, cols, *geometry, dst, bias_arr, gemm)

    _run(_k.im2col_gemm, n_samples * per_sample, num_threads, make_args)
    if lhs5 is None:
        return None
    grad_w = partials.sum(axis=0) if len(partials) else np.zeros(partials.shape[1:], dtype)
    return grad_w.transpose(0, 2, 1).reshape((m_total, channels // groups) + geom.kernel)


class _PhaseSet(NamedTuple):
    """Stride phases that share a sub-grid and tap counts: one im2col, GEMM and store call."""

    residues: np.ndarray  # (P, 3): output positions q*stride + residue along each axis
    grid: tuple  # number of such positions along each axis
    offsets: tuple  # per axis (P, taps): tap offsets into the input grid (step 1)
    weight: np.ndarray | None  # (P*groups, C/groups, M/groups * taps); None: no taps
    rows: int  # rows of its columns, P * M * taps


def _phase_sets(w5, geom, groups):
    """Split conv's input gradient (col2im) into one gather per stride phase.

    Along an axis with stride s, output position j = s*q + r receives tap κ exactly when
    (r + padding - κ*dilation) is a multiple of s, from input position q + δ with
    δ = (r + padding - κ*dilation) / s. So each residue r is a stride-1 convolution of
    the input with the taps of that residue, writing the sub-grid j ≡ r (mod s). Phases
    are batched into one set when they all have the same sub-grid and tap counts (the
    usual case, e.g. kernel 4 stride 2); otherwise each phase is a set of its own.
    """
    m_total, cg = w5.shape[:2]
    mg = m_total // groups
    phases = []
    # Residues r >= n have no position on an axis of n: iterating only r < min(s, n)
    # keeps a huge stride from costing a loop over all of its residues.
    for residue in itertools.product(*(range(min(s, n)) for s, n in zip(geom.stride, geom.src))):
        grid = tuple(-(-(n - r) // s) for n, r, s in zip(geom.src, residue, geom.stride))
        if min(grid) < 1:
            continue
        taps = [
            [k for k in range(kernel) if (r + p - k * d) % s == 0]
            for r, p, d, s, kernel in zip(
                residue, geom.padding, geom.dilation, geom.stride, geom.kernel
            )
        ]
        offsets = tuple(
            np.array([[(r + p - k * d) // s for k in ks]], dtype=np.intp).reshape(1, len(ks))
            for ks, r, p, d, s in zip(taps, residue, geom.padding, geom.dilation, geom.stride)
        )
        n_taps = prod(len(ks) for ks in taps)
        weight = None
        if n_taps:
            w = w5[np.ix_(range(m_total), range(cg), *taps)].reshape(groups, mg, cg, n_taps)
            weight = np.ascontiguousarray(w.transpose(0, 2, 1, 3)).reshape(groups, cg, mg * n_taps)
        residues = np.array([residue], dtype=np.intp)
        phases.append(_PhaseSet(residues, grid, offsets, weight, m_total * n_taps))
    first = phases[0]
    if len(phases) > 1 and all(
        ph.weight is not None
        and ph.grid == first.grid
        and [o.shape for o in ph.offsets] == [o.shape for o in first.offsets]
        for ph in phases
    ):
        return [
            _PhaseSet(
                np.concatenate([ph.residues for ph in phases]),
                first.grid,
                tuple(np.concatenate(axis) for axis in zip(*(ph.offsets for ph in phases))),
                np.concatenate([ph.weight for ph in phases]),
                first.rows * len(phases),
            )
        ]
    return phases


def col2im_pass(g5, weight, geom, groups, num_threads, dst5, bias=None):
    """``dst5 = col2im(weightᵀ @ g5) + bias`` (conv's input gradient), as stride-phase gathers."""
    n_samples, m_total = g5.shape[:2]
    channels = dst5.shape[1]
    mg, cg = m_total // groups, channels // groups
    dtype = g5.dtype
    bias_arr = np.empty(0, dtype) if bias is None else bias
    if geom.pure_matmul:
        n_out = prod(geom.out)
        w_t = weight.reshape(groups, mg, cg).transpose(0, 2, 1)
        g_flat = g5.reshape(n_samples, groups, mg, n_out)
        dst = dst5.reshape(n_samples, channels, n_out)
        tile = _tile_length(m_total, n_out, g5.itemsize)
        n_tiles = -(-n_out // tile)
        no_offsets = np.zeros((1, 1), np.intp)

        def make_identity_args(team):
            def gemm(item, t, thread):
                n = item // n_tiles
                p0, p1 = t * tile, min((t + 1) * tile, n_out)
                out = dst[n, :, p0:p1].reshape(groups, cg, p1 - p0)
                np.matmul(w_t, g_flat[n, :, :, p0:p1], out=out)

            cols = np.empty((0, 0), dtype)  # the gradient is its own columns
            geometry = (no_offsets,) * 3 + ((1, 1, 1), geom.out, tile, n_tiles)
            return (g5, cols, *geometry, dst, bias_arr, gemm)

        _run(_k.im2col_gemm, n_samples * n_tiles, num_threads, make_identity_args)
        return
    phases = _phase_sets(weight, geom, groups)
    n_grid = max(prod(ph.grid) for ph in phases)
    # Tiles sized by one phase's columns: the GEMM of one phase then reads columns that
    # are still in cache, and the calls run long enough to pay for taking the GIL.
    tile = _tile_length(max(ph.rows // len(ph.residues) for ph in phases), n_grid, g5.itemsize)
    # ... but a set of many phases (large strides) keeps its columns within a bound.
    tile = max(1, min(tile, _SET_BYTES // (max(1, *(ph.rows for ph in phases)) * g5.itemsize)))
    n_tiles = -(-n_grid // tile)
    sets = [(ph.residues, ph.grid, ph.offsets, ph.weight is not None) for ph in phases]

    def make_args(team):
        cols = np.empty((team, max(ph.rows for ph in phases) * tile), dtype)
        tiles = np.empty((team, channels * max(len(ph.residues) for ph in phases) * tile), dtype)

        def gemm(item, k, thread):
            ph = phases[k]
            t = item % n_tiles
            width = min((t + 1) * tile, prod(ph.grid)) - t * tile
            stack = len(ph.weight)
            tile_cols = cols[thread, : ph.rows * width].reshape(stack, ph.rows // stack, width)
            out = tiles[thread, : stack * cg * width].reshape(stack, cg, width)
            np.matmul(ph.weight, tile_cols, out=out)

        return (g5, cols, tiles, sets, dst5, bias_arr, geom.stride, tile, gemm)

    _run(_k.phase_gemm, n_samples * n_tiles, num_threads, make_args)


# Winograd F(2x2, 3x3) (Lavin & Gray 2015): the weight transform is G g G^T.
_WINOGRAD_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_WINOGRAD_GG = np.kron(_WINOGRAD_G, _WINOGRAD_G)


def winograd_ok(geom, groups, channels, m_total):
    """3x3, stride 1, undilated 2-D convolutions with enough channels to pay for the transforms."""
    return (
        geom.kernel == (1, 3, 3)
        and geom.stride == (1, 1, 1)
        and geom.dilation == (1, 1, 1)
        and geom.src[0] == 1
        and groups == 1
        and min(channels, m_total) >= _WINOGRAD_MIN_CHANNELS
    )


def winograd_safe(src5, weight):
    """Whether Winograd gives what the direct sum gives for these values.

    Its transforms add and subtract neighbouring inputs, so an ``inf`` becomes
    ``inf - inf = NaN`` where the direct sum (and torch) gives ``inf``, and they grow
    magnitudes: an input tile entry is a sum of up to 4 inputs, a weight tile entry
    up to 2.25 times the largest weight, one output up to 9 sums of ``C`` such
    products. Unless all of that stays below the dtype's maximum (with a factor 2 to
    spare) the direct path runs instead: two reductions over the operand, little next
    to the convolution. NaN operands go there too (every comparison with NaN fails).
    """
    limit = float(np.finfo(src5.dtype).max) / 2
    a = max(float(src5.max()), -float(src5.min()))
    b = max(float(weight.max()), -float(weight.min()))
    channels = src5.shape[1]
    bound = 81.0 * channels * (4.0 * a) * (2.25 * b)
    return 4.0 * a < limit and 2.25 * b < limit and bound < limit


def _winograd_weight(weight, dtype):
    """U[4a + b, m, c] = (G w[m, c] G^T)[a, b], computed in float64.

    Row-major flattening turns G g G^T into (G ⊗ G) vec(g): one (M*C, 9) @ (9, 16) GEMM.
    """
    m_total, channels = weight.shape[:2]
    u = weight.reshape(m_total * channels, 9).astype(np.float64) @ _WINOGRAD_GG.T
    return np.ascontiguousarray(u.T, dtype=dtype).reshape(16, m_total, channels)


def winograd_pass(src5, weight, dst5, bias, pad, num_threads):
    """``dst5 = conv(src5, weight) + bias`` for a 3x3 stride-1 kernel by Winograd F(2x2, 3x3).

    ``weight`` is (M, C, 3, 3); ``pad`` the (top, left) padding (the far side follows from
    the size of ``dst5``). Each work item transforms a block of 2x2 output tiles, runs the
    16 (M, C) @ (C, tiles) GEMMs as one stacked matmul and transforms back.
    """
    n_samples, channels = src5.shape[:2]
    m_total = weight.shape[0]
    dtype = src5.dtype
    out_h, out_w = dst5.shape[3:]
    n_blocks = -(-out_h // 2) * -(-out_w // 2)
    u = _winograd_weight(weight, dtype)
    bias_arr = np.empty(0, dtype) if bias is None else bias
    width = _tile_length(16 * (channels + m_total), n_blocks, src5.itemsize)
    n_items = -(-n_blocks // width)

    def make_args(team):
        tiles = np.empty((team, 16 * channels * width), dtype)
        products = np.empty((team, 16 * m_total * width), dtype)

        def gemm(item, step, thread):
            b = item % n_items
            blocks = min((b + 1) * width, n_blocks) - b * width
            tile = tiles[thread, : 16 * channels * blocks].reshape(16, channels, blocks)
            out = products[thread, : 16 * m_total * blocks].reshape(16, m_total, blocks)
            np.matmul(u, tile, out=out)

        return (src5[:, :, 0], tiles, products, dst5[:, :, 0], bias_arr, *pad, width, gemm)

    _run(_k.winograd_gemm, n_samples * n_items, num_threads, make_args)


# --------------------------------------------------------------------------- direct kernels

# One call of a direct kernel does at most about this many multiply-adds (~0.05 s on one
# core): signals such as Ctrl-C are handled between calls.
_DIRECT_CHUNK_MACS = 2**26
# The weight gradient's sum is split into at least this many fixed blocks per output
# channel group of work (whatever the thread count), so that threads can share it.
_DIRECT_MIN_ITEMS = 16
# None: choose by use_direct; "direct" / "gemm": force one path (tests, benchmarks).
FORCE_PATH = None


# The crossover, measured (process CPU time, one thread, float32, N=2, 64x64 input, this
# machine's AVX2 build; ratio = GEMM-path time / direct time, > 1: direct is faster):
#
# direct_conv (conv forward; conv_transpose's input gradient), by (C/groups, M/groups):
#   (1,1) 2.7   (3,3) 2.0   (8,8) 1.2   (16,16) 1.1   (32,32) 1.15  (64,3) 2.2  (32,8) 1.6
#   (3,64) 0.63 (8,32) 0.70 — k3 s1; k3 s2 (a 32-wide output): (8,8) 1.6 (16,16) 0.87
#   (32,32) 0.78 (3,64) 0.99 (8,32) 0.64 (32,8) 1.6 (64,3) 1.9; as conv_transpose's
#   input gradient (k4 s2, 64-wide output): (16,16) 1.4 (32,32) 1.7 (3,64) 0.91.
#   k3 s1 (3,16) 1.4-1.8, k4 s1 (3,16) 1.9 (16,16) 1.5 (8,8) 2.7 (4,4) 3.7.
#   Since full strips are stored without a memcpy call per channel (process CPU time,
#   N=2): k3 s1 64x64 (3,64) 1.38 (8,32) 1.36, 32x32 (8,32) 1.46 (4,16) 1.85, 128x128
#   (3,32) 1.60; k3 s2 64x64 (16,32) 1.74 (16,64) 1.20; k4 s2 32x32 (3,64) 1.84, 64x64
#   (32,32) 1.77: the direct kernel up to 1024 pairs, whatever the width.
# direct_transpose (conv_transpose forward; conv's input gradient), (C/groups, M/groups):
#   k4 s2: (1,1) 4.7 (3,3) 2.8 (8,8) 1.6 (16,16) 1.15 (32,32) 0.83 (3,64) 1.3 (64,3) 1.8
#   k3 s2: (3,3) 6.5 (16,16) 1.4 (32,32) 0.80 (8,32) 1.75; conv's input gradient, k3 s1:
#   (16,16) 1.45 (32,32) 0.81 (3,64) 1.75 (64,3) 1.5.
# direct_grad_weight (register blocks of 2-4 output channels x up to 4 taps, 8 fixed
#   lanes; process CPU time, the --few sweep's shapes), (C/groups, M/groups): (3,3) k3 s2
#   transposed 4.3-4.6 (3,16) k3 s1 1.6 (8,8) k3 s2 2.0 (8,16) k4 s2 transposed 1.1
#   (3,32) k3 s1 transposed 1.2 (64,3) k3 s1 2.1 (32,8) k2 s2 transposed 1.3;
#   (16,16) k4 s1 0.80 (3,64) k4 s2 0.83: many output channels re-read the gathered
#   source rows once per L1-sized chunk of them, and their register blocks are short.
#   Since the 4-tap blocks keep their vectors in registers and groups are no longer
#   zeroed and added twice (1 thread; 2 threads within 0.1 of these): (16,16) k4 s1 1.09
#   k3 s2 1.31-1.57 k4 s2 1.59 k2 s2 1.70, (32,16) k3 s2 1.22, (16,32) k4 s2 1.08, (8,32)
#   k3 s1 0.97, (32,32) k4 s2 0.88, (3,64) k4 s2 1.00, (4,64) k3 s1 0.78: direct up to
#   512 pairs where at most 32 output channels.
# Winograd-eligible problems (3x3 stride 1, >= 16 channels) keep Winograd, which is on
# par with the direct kernel there (16,16: 2.8 ms vs 2.5 ms).
_DIRECT_CONV_MAX_PAIRS = 1024
_DIRECT_TRANSPOSE_MAX_PAIRS = 512
_DIRECT_GRAD_WEIGHT_MAX_PAIRS = 128
_DIRECT_GRAD_WEIGHT_FEW_M = 8
_DIRECT_GRAD_WEIGHT_MID_PAIRS = 512
_DIRECT_GRAD_WEIGHT_MID_M = 32


def use_direct(kind, geom, groups, channels, m_total, n_samples, winograd=True):
    """Whether a direct kernel beats im2col + GEMM (or Winograd) on this problem.

    ``kind`` is ``"conv"`` (``direct_forward``), ``"transpose"`` (``direct_transpose``)
    or ``"grad_weight"``; ``channels`` and ``m_total`` are the input and output channels
    of the convolution in conv terms (``geom.src`` is its input grid). ``winograd=False``:
    the choice where Winograd is not an option (refused for the operands' values).
    """
    if FORCE_PATH is not None:
        return FORCE_PATH == "direct" and n_samples > 0
    # Rows are split into their stride phases (a buffer of stride * width per row).
    if n_samples == 0 or geom.pure_matmul or max(geom.kernel) > 64 or max(geom.stride) > 8:
        return False
    cg, mg = channels // groups, m_total // groups
    if kind == "grad_weight":
        # The register blocks run over output channels, the gathered source rows over
        # input channels: many of the latter cost little more than rows of the former.
        return (
            cg * mg <= _DIRECT_GRAD_WEIGHT_MAX_PAIRS
            or mg <= _DIRECT_GRAD_WEIGHT_FEW_M
            or (cg * mg <= _DIRECT_GRAD_WEIGHT_MID_PAIRS and mg <= _DIRECT_GRAD_WEIGHT_MID_M)
        )
    if winograd and winograd_ok(geom, groups, channels, m_total):
        return False
    if kind == "transpose":
        return cg * mg <= _DIRECT_TRANSPOSE_MAX_PAIRS
    return cg * mg <= _DIRECT_CONV_MAX_PAIRS


def _bias_or_empty(bias, dtype):
    return np.empty(0, dtype) if bias is None else bias


# Below this many multiply-adds a direct call runs on one thread: waking the OpenMP team
# costs more than the work (callgrind: a 3->3 channel 3x3 conv of 16x16 is ~60k
# instructions of kernel; GOMP's wake-up and join of a second thread ~10-50 us).
_DIRECT_SERIAL_BELOW = 1 << 18


def _in_chunks(n_rows, macs_per_row, num_threads, call):
    if n_rows * macs_per_row < _DIRECT_SERIAL_BELOW:
        num_threads = 1
    chunk = max(1, _DIRECT_CHUNK_MACS // max(1, macs_per_row))
    for r0 in range(0, n_rows, chunk):
        call(r0, min(n_rows, r0 + chunk), num_threads)


def _forward_work(n, m_total, w_shape, geom, groups):
    """(rows, multiply-adds per row) of the direct forward kernel."""
    taps = w_shape[1] * prod(geom.kernel)
    return (_k.direct_items(n, groups, geom.out[0], geom.out[1]),
            m_total // groups * taps * geom.out[2])


def _transpose_work(n, channels, g_channels, geom, groups):
    """(rows, multiply-adds per row) of the direct transposed kernel."""
    # Each output element gathers about (M/groups) * taps / stride products.
    taps = (g_channels // groups) * max(1, prod(geom.kernel) // prod(geom.stride))
    return (_k.direct_items(n, groups, geom.src[0], geom.src[1]),
            channels // groups * taps * geom.src[2])


def bound_direct(problem, transposed, y5_shape):
    """The direct kernel call of a problem that runs as one chunk on one thread,
    bound to its geometry: ``run(x, weight, bias, y)`` on contiguous arrays of its
    shapes; None when it takes another path. For repeated tiny calls (the same
    kernel call as the dispatch makes: the same bits)."""
    if FORCE_PATH is not None:
        return None
    geom, groups, x5 = problem.geom, problem.groups, problem.x5
    n, out_channels = problem.y_shape[:2]
    if transposed:
        if not use_direct("transpose", geom, groups, out_channels, x5.shape[1], n):
            return None
        rows, macs = _transpose_work(n, out_channels, x5.shape[1], geom, groups)
    else:
        sizes = (geom, groups, x5.shape[1], out_channels, n)
        if winograd_ok(*sizes[:4]) or not use_direct("conv", *sizes, winograd=False):
            return None
        rows, macs = _forward_work(n, out_channels, problem.w5.shape, geom, groups)
    if rows * macs >= _DIRECT_SERIAL_BELOW:  # (which is also one chunk)
        return None
    return _k.DirectCall(transposed, x5.dtype == np.float64, x5.shape, problem.w5.shape,
                         y5_shape, geom.stride, geom.padding, geom.dilation, groups, rows)


def direct_forward(src5, weight, bias, dst5, geom, groups, num_threads):
    """``dst5 = conv(src5, weight) + bias`` by the direct kernel."""
    n, m_total = dst5.shape[:2]
    bias = _bias_or_empty(bias, src5.dtype)
    _in_chunks(
        *_forward_work(n, m_total, weight.shape, geom, groups),
        num_threads,
        lambda r0, r1, threads: _k.direct_conv(
            src5,
            weight,
            bias,
            dst5,
            geom.stride,
            geom.padding,
            geom.dilation,
            groups,
            r0,
            r1,
            threads,
        ),
    )


def direct_transpose(g5, weight, bias, dst5, geom, groups, num_threads):
    """``dst5 = col2im(weightᵀ @ g5) + bias`` (conv's input gradient) by the direct kernel."""
    n, channels = dst5.shape[:2]
    bias = _bias_or_empty(bias, g5.dtype)
    _in_chunks(
        *_transpose_work(n, channels, g5.shape[1], geom, groups),
        num_threads,
        lambda r0, r1, threads: _k.direct_conv_transpose(
            g5,
            weight,
            bias,
            dst5,
            geom.stride,
            geom.padding,
            geom.dilation,
            groups,
            r0,
            r1,
            threads,
        ),
    )


def direct_grad_weight(src5, lhs5, geom, groups, num_threads):
    """``Σ_n lhs5_n @ im2col(src5)_nᵀ`` shaped like a conv weight, by the direct kernel."""
    n, channels = src5.shape[:2]
    m_total = lhs5.shape[1]
    cg = channels // groups
    n_rows = n * geom.out[0] * geom.out[1]
    macs_per_block_row = m_total * cg * prod(geom.kernel) * geom.out[2]
    # Fixed blocks of rows, from the problem alone: enough for the threads, each small
    # enough to be interrupted between calls. Their partials are added in order.
    n_blocks = max(_DIRECT_MIN_ITEMS, -(-n_rows * macs_per_block_row // _DIRECT_CHUNK_MACS))
    n_blocks = max(1, min(n_blocks, _k.direct_grad_weight_groups(n_rows, geom.out[2])))
    partials = np.empty((n_blocks, m_total, cg) + geom.kernel, np.float64)
    if n_rows * macs_per_block_row < _DIRECT_SERIAL_BELOW:
        num_threads = 1
    per_call = max(1, n_blocks * _DIRECT_CHUNK_MACS // max(1, n_rows * macs_per_block_row))
    for b0 in range(0, n_blocks, per_call):
        b1 = min(n_blocks, b0 + per_call)
        _k.direct_grad_weight(
            src5,
            lhs5,
            partials[b0:b1],
            geom.stride,
            geom.padding,
            geom.dilation,
            groups,
            b0,
            n_blocks,
            num_threads,
        )
    return partials.sum(axis=0).astype(src5.dtype, copy=False)


def bias_grad(gy5, num_threads):
    """``gy5`` summed over the batch and space (a conv's bias gradient), in its dtype.

    Summed in float64 lanes by one kernel pass and rounded once (NumPy's pairwise sum in
    the dtype cost about two instructions a sample); a strided gradient is copied first, so
    the sum does not depend on the layout.
    """
    n, m = gy5.shape[:2]
    if gy5.size == 0:
        return np.zeros(m, gy5.dtype)
    sums = np.empty(m, np.float64)
    if gy5.size < _DIRECT_SERIAL_BELOW:
        num_threads = 1
    _k.channel_sums(np.ascontiguousarray(gy5).reshape(n, m, -1), sums, num_threads)
    return sums.astype(gy5.dtype)


# --------------------------------------------------------------------------- dispatch


def conv_forward(problem, y5, num_threads):
    """``y5 = conv(x) + bias`` of a conv problem, by Winograd or im2col."""
    geom = problem.geom
    sizes = (geom, problem.groups, problem.x5.shape[1], y5.shape[1], len(y5))
    winograd = winograd_ok(*sizes[:4]) and winograd_safe(problem.x5, problem.w5)
    if use_direct("conv", *sizes, winograd=winograd):
        direct_forward(problem.x5, problem.w5, problem.bias, y5, geom, problem.groups, num_threads)
    elif winograd:
        w = problem.w5[:, :, 0]
        winograd_pass(problem.x5, w, y5, problem.bias, geom.padding[1:], num_threads)
    else:
        im2col_pass(problem.x5, geom, problem.groups, num_threads, problem.w5, y5, problem.bias)


def conv_transpose_forward(problem, y5, num_threads):
    """``y5 = conv_transpose(x) + bias``: conv's input gradient of x, by phase gathers."""
    geom, groups = problem.geom, problem.groups
    if use_direct("transpose", geom, groups, y5.shape[1], problem.x5.shape[1], len(y5)):
        direct_transpose(problem.x5, problem.w5, problem.bias, y5, geom, groups, num_threads)
        return
    col2im_pass(problem.x5, problem.w5, problem.geom, problem.groups, num_threads, y5, problem.bias)


def conv_grads(problem, gy5, mask, num_threads):
    """``(grad_input, grad_weight)`` of a conv problem, 5-D and conv-weight shaped.

    Entries ``mask`` leaves out are None.
    """
    geom, groups = problem.geom, problem.groups
    sizes = (geom, groups, problem.x5.shape[1], gy5.shape[1], len(gy5))
    direct = (
        mask[0] and use_direct("transpose", *sizes),
        mask[1] and use_direct("grad_weight", *sizes),
    )
    grad_input, grad_weight = _gemm_conv_grads(
        problem, gy5, (mask[0] and not direct[0], mask[1] and not direct[1]), num_threads
    )
    if direct[0]:
        grad_input = np.empty_like(problem.x5)
        direct_transpose(gy5, problem.w5, None, grad_input, geom, groups, num_threads)
    if direct[1]:
        grad_weight = direct_grad_weight(problem.x5, gy5, geom, groups, num_threads)
    return grad_input, grad_weight


def _gemm_conv_grads(problem, gy5, mask, num_threads):
    grad_input = grad_weight = None
    geom, groups = problem.geom, problem.groups
    if mask[0] and mask[1] and geom.pure_matmul:
        # 1x1: gx = Wᵀ gy and gWᵀ = Σ_n x_n gy_nᵀ both read gy; one sweep, sample by
        # sample, reads each gy_n once from memory (the transposed conv's backward form).
        m_total, cg = problem.w5.shape[:2]
        mg = m_total // groups
        w_t = problem.w5.reshape(groups, mg, cg).transpose(0, 2, 1)
        w_t = np.ascontiguousarray(w_t).reshape((groups * cg, mg) + geom.kernel)
        gx5 = np.empty_like(problem.x5)
        grad_w_t = im2col_pass(gy5, geom, groups, num_threads, w_t, dst5=gx5, lhs5=problem.x5)
        grad_weight = grad_w_t.reshape(groups, cg, mg).transpose(0, 2, 1)
        return gx5, np.ascontiguousarray(grad_weight)
    if mask[0]:
        gx5 = np.empty_like(problem.x5)
        if (
            winograd_ok(geom, groups, gy5.shape[1], gx5.shape[1])
            and max(geom.padding) <= 2
            and winograd_safe(gy5, problem.w5)
        ):
            # The input gradient of a 3x3 stride-1 conv is a 3x3 stride-1 conv of the
            # gradient with the flipped, transposed kernel and padding 2 - padding.
            w_flip = np.ascontiguousarray(problem.w5[:, :, 0, ::-1, ::-1].transpose(1, 0, 2, 3))
            pad = (2 - geom.padding[1], 2 - geom.padding[2])
            winograd_pass(gy5, w_flip, gx5, None, pad, num_threads)
        else:
            col2im_pass(gy5, problem.w5, geom, groups, num_threads, gx5)
        grad_input = gx5
    if mask[1]:
        grad_weight = im2col_pass(problem.x5, geom, groups, num_threads, lhs5=gy5)
    return grad_input, grad_weight


def conv_transpose_grads(problem, gy5, mask, num_threads):
    """``(grad_input, grad_weight)`` of a transposed conv problem (None where not in ``mask``)."""
    grad_input = grad_weight = None
    geom, groups = problem.geom, problem.groups
    # In conv terms grad_output is the input and x the output.
    sizes = (geom, groups, gy5.shape[1], problem.x5.shape[1], len(gy5))
    if mask[0] and use_direct("conv", *sizes):
        grad_input = np.empty_like(problem.x5)
        direct_forward(gy5, problem.w5, None, grad_input, geom, groups, num_threads)
        mask = (False, mask[1], mask[2])
    if mask[1] and use_direct("grad_weight", *sizes):
        grad_weight = direct_grad_weight(gy5, problem.x5, geom, groups, num_threads)
        mask = (mask[0], False, mask[2])
    if mask[0] or mask[1]:
        # conv_transpose's input gradient is a conv of grad_output, and its weight
        # gradient reuses the same columns: one im2col sweep serves both.
        gx5 = np.empty_like(problem.x5) if mask[0] else None
        gemm_grad_weight = im2col_pass(
            gy5,
            problem.geom,
            problem.groups,
            num_threads,
            weight=problem.w5,
            dst5=gx5,
            lhs5=problem.x5 if mask[1] else None,
        )
        if mask[0]:
            grad_input = gx5
        if mask[1]:  # else the direct kernel's (or none)
            grad_weight = gemm_grad_weight
    return grad_input, grad_weight
