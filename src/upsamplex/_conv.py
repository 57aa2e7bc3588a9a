"""Convolution and transposed convolution (1-D/2-D/3-D), forward and backward.

Equal to ``torch.nn.functional.conv{1,2,3}d`` / ``conv_transpose{1,2,3}d`` and their
autograd gradients. Everything is lowered to *convolution* terms around NumPy GEMMs:

* conv forward            y  = W @ im2col(x)   (3x3 stride 1: Winograd F(2x2, 3x3))
* conv grad_input         gx = col2im(Wᵀ @ gy), computed as one gather per stride
                          phase: a stride-1 convolution of gy with the taps that land
                          on that phase, written onto its strided sub-grid of gx
* conv grad_weight        gW = Σ_n gy_n @ im2col(x)_nᵀ
* conv_transpose forward  is conv's grad_input, with the transposed weight
  ``(C_in, C_out/groups, *k)`` read as a conv weight ``(M, C/groups, *k)``;
  its backward is conv's forward (grad_input) and conv's weight gradient with
  the roles of input and gradient swapped.

1-D and 2-D problems run on the 3-D kernels with leading singleton axes. Work is cut
into tiles of one sample's output grid, sized so a tile of columns (at most
``_TILE_BYTES``) stays in a core's cache between im2col and the GEMM; the only
temporaries are these per-thread tile buffers (and the per-block weight-gradient
partials). Tiles run on ``num_threads`` worker threads, each calling BLAS
single-threaded, so our threads and BLAS's never compete for the cores.
"""

import ctypes
import functools
import itertools
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from math import prod
from typing import NamedTuple

import numpy as np

from ._kernels import _conv as _k
from ._validation import FLOAT_DTYPES, check_num_threads, check_out

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_backward",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_backward",
]

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


# --------------------------------------------------------------------------- validation


def _float_array(name, value):
    arr = np.asarray(value)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {arr.dtype}")
    return arr


def _int_tuple(name, value, nd):
    """Normalise an int or a tuple of ``nd`` ints (a 1-tuple is broadcast, as torch does)."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if len(items) == 1:
            items = items * nd
        if len(items) != nd:
            raise ValueError(
                f"{name} must be an int or a tuple of {nd} ints, got {value!r} "
                f"(length {len(value)})"
            )
    else:
        items = (value,) * nd
    result = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"{name} must contain ints, got {value!r}")
        try:
            result.append(operator.index(item))
        except TypeError:
            raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}") from None
    return tuple(result)


def _positive_int(name, value):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def _output_mask(output_mask):
    try:
        mask = tuple(bool(m) for m in output_mask)
    except TypeError:
        raise TypeError(
            f"output_mask must be a sequence of three bools, got {output_mask!r}"
        ) from None
    if len(mask) != 3:
        raise ValueError(f"output_mask must have three entries, got {output_mask!r}")
    return mask


def _spatial_geometry(nd, stride, padding, dilation, output_padding=None):
    stride = _int_tuple("stride", stride, nd)
    dilation = _int_tuple("dilation", dilation, nd)
    if min(stride) < 1:
        raise ValueError(f"stride must be positive, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"dilation must be positive, got {dilation}")
    if isinstance(padding, str):
        return stride, padding, dilation
    padding = _int_tuple("padding", padding, nd)
    if min(padding) < 0:
        raise ValueError(f"padding must be non-negative, got {padding}")
    if output_padding is None:
        return stride, padding, dilation
    output_padding = _int_tuple("output_padding", output_padding, nd)
    if min(output_padding) < 0:
        raise ValueError(f"output_padding must be non-negative, got {output_padding}")
    for op, s, d in zip(output_padding, stride, dilation):
        # torch accepts op < stride OR op < dilation (e.g. op=1, stride=1, dilation=2).
        if op >= s and op >= d:
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    return stride, padding, dilation, output_padding


def _check_dtypes(x, **others):
    for name, arr in others.items():
        if arr is not None and arr.dtype != x.dtype:
            raise TypeError(f"{name} dtype {arr.dtype} does not match x dtype {x.dtype}")


def _batched(nd, x):
    """Return (x with a batch axis, whether the caller passed a batch)."""
    if x.ndim == nd + 2:
        return x, True
    if x.ndim == nd + 1:
        return x[np.newaxis], False
    raise ValueError(
        f"x must have {nd + 2} dimensions (N, C, *spatial) or {nd + 1} (C, *spatial) "
        f"for a {nd}-D convolution, got shape {x.shape}"
    )


def _to5d(arr, nd):
    """View an (N, C, *spatial) array as 3-D spatial with leading singleton axes."""
    arr = np.ascontiguousarray(arr)
    return arr.reshape(arr.shape[:2] + (1,) * (3 - nd) + arr.shape[2:])


def _pad3(values, fill):
    return (fill,) * (3 - len(values)) + tuple(values)


class _Geometry(NamedTuple):
    """A problem in convolution terms, on 3-D spatial grids."""

    kernel: tuple
    stride: tuple
    padding: tuple  # padding before each axis (after-padding follows from ``out``)
    dilation: tuple
    src: tuple  # spatial size of the convolution input
    out: tuple  # spatial size of the convolution output

    @classmethod
    def of(cls, kernel, stride, padding, dilation, src, out):
        return cls(
            _pad3(kernel, 1),
            _pad3(stride, 1),
            _pad3(padding, 0),
            _pad3(dilation, 1),
            _pad3(src, 1),
            _pad3(out, 1),
        )

    @property
    def pure_matmul(self):
        # 1x1 kernel, stride 1, no padding: im2col and col2im are the identity.
        return (
            max(self.kernel) == 1
            and max(self.stride) == 1
            and max(self.padding) == 0
            and self.src == self.out
        )

    def kernel_args(self):
        return self.kernel, self.stride, self.padding, self.dilation, self.out


class _Problem(NamedTuple):
    nd: int
    batched: bool
    x5: np.ndarray  # (N, C, D, H, W) contiguous
    w5: np.ndarray  # conv-shaped weight (M, C/groups, kd, kh, kw) contiguous
    bias: np.ndarray | None
    groups: int
    geom: _Geometry
    x_shape: tuple  # batched shape of x
    y_shape: tuple  # batched shape of the forward output


def _check_channels(what, x_channels, w_shape, groups, w_channel_axis):
    if w_shape[0] % groups:
        raise ValueError(
            f"groups={groups} must divide the weight's first dimension, got weight of "
            f"shape {w_shape}"
        )
    if x_channels % groups:
        raise ValueError(f"groups={groups} must divide the {x_channels} input channels of x")
    expected = w_shape[1] * groups if w_channel_axis == 1 else w_shape[0]
    if x_channels != expected:
        raise ValueError(
            f"{what}: x has {x_channels} channels but weight of shape {w_shape} with "
            f"groups={groups} expects {expected} channels"
        )


def _prepare(nd, x, weight, bias, groups, transposed):
    x = _float_array("x", x)
    weight = _float_array("weight", weight)
    bias = None if bias is None else np.ascontiguousarray(_float_array("bias", bias))
    _check_dtypes(x, weight=weight, bias=bias)
    x, batched = _batched(nd, x)
    if weight.ndim != nd + 2:
        layout = "(C_in, C_out/groups, *k)" if transposed else "(C_out, C_in/groups, *k)"
        raise ValueError(
            f"weight must have {nd + 2} dimensions {layout} for a {nd}-D convolution, "
            f"got shape {weight.shape}"
        )
    groups = _positive_int("groups", groups)
    if 0 in x.shape[1:]:
        raise ValueError(f"x must have non-zero channel and spatial sizes, got shape {x.shape}")
    if 0 in weight.shape:
        raise ValueError(f"weight must not have zero-size dimensions, got shape {weight.shape}")
    name = "conv_transpose" if transposed else "conv"
    _check_channels(name, x.shape[1], weight.shape, groups, 0 if transposed else 1)
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(
            f"bias must have shape ({out_channels},) (one entry per output channel), "
            f"got shape {bias.shape}"
        )
    return x, weight, bias, groups, batched, out_channels


def _too_small(out_size, in_size, detail=""):
    raise ValueError(
        f"calculated output size {tuple(out_size)} is too small for input size "
        f"{tuple(in_size)}{detail}"
    )


def _conv_problem(nd, x, weight, bias, stride, padding, dilation, groups):
    x, weight, bias, groups, batched, out_channels = _prepare(
        nd, x, weight, bias, groups, transposed=False
    )
    stride, padding, dilation = _spatial_geometry(nd, stride, padding, dilation)
    in_size = x.shape[2:]
    kernel = weight.shape[2:]
    span = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
    if padding == "same":
        if max(stride) != 1:
            raise ValueError(f"padding='same' needs stride 1, got stride={stride}")
        # Only the padding before each axis matters to im2col; torch puts the odd
        # extra element of 'same' padding after the input, which out_size encodes.
        padding = tuple(s // 2 for s in span)
        out_size = tuple(in_size)
    else:
        if padding == "valid":
            padding = (0,) * nd
        elif isinstance(padding, str):
            raise ValueError(f"padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        out_size = tuple(
            (i + 2 * p - s_ - 1) // st + 1 for i, p, s_, st in zip(in_size, padding, span, stride)
        )
    if min(out_size) < 1:
        _too_small(
            out_size,
            in_size,
            f": padded input {tuple(i + 2 * p for i, p in zip(in_size, padding))} is "
            f"smaller than the dilated kernel {tuple(s + 1 for s in span)}",
        )
    geom = _Geometry.of(kernel, stride, padding, dilation, in_size, out_size)
    y_shape = (x.shape[0], out_channels) + out_size
    return _Problem(
        nd, batched, _to5d(x, nd), _to5d(weight, nd), bias, groups, geom, x.shape, y_shape
    )


def _transpose_problem(nd, x, weight, bias, stride, padding, output_padding, dilation, groups):
    x, weight, bias, groups, batched, out_channels = _prepare(
        nd, x, weight, bias, groups, transposed=True
    )
    if isinstance(padding, str):
        raise TypeError(f"padding must be an int or a tuple of ints, got {padding!r}")
    stride, padding, dilation, output_padding = _spatial_geometry(
        nd, stride, padding, dilation, output_padding
    )
    in_size = x.shape[2:]
    kernel = weight.shape[2:]
    out_size = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, d, k, op in zip(in_size, stride, padding, dilation, kernel, output_padding)
    )
    if min(out_size) < 1:
        _too_small(out_size, in_size)
    # In conv terms the transposed output is the source grid and x is the column grid.
    geom = _Geometry.of(kernel, stride, padding, dilation, out_size, in_size)
    y_shape = (x.shape[0], out_channels) + out_size
    return _Problem(
        nd, batched, _to5d(x, nd), _to5d(weight, nd), bias, groups, geom, x.shape, y_shape
    )


def _grad_output(problem, grad_output):
    gy = _float_array("grad_output", grad_output)
    _check_dtypes(problem.x5, grad_output=gy)
    shape = problem.y_shape if problem.batched else problem.y_shape[1:]
    if gy.shape != shape:
        raise ValueError(f"grad_output must have shape {shape}, got shape {gy.shape}")
    return _to5d(gy.reshape(problem.y_shape), problem.nd)


# --------------------------------------------------------------------------- output buffers


def _output_buffer(out, shape, dtype, inputs):
    """Return a contiguous buffer of ``shape`` to compute into (``out`` itself when possible)."""
    if out is None:
        return np.empty(shape, dtype)
    check_out(out, shape, dtype)
    # Unlike interpolate, an out= that overlaps an operand is allowed: compute aside.
    if out.flags.c_contiguous and not any(
        np.may_share_memory(out, a) for a in inputs if a is not None
    ):
        return out
    return np.empty(shape, dtype)


def _deliver(buffer, out):
    if out is None or buffer is out:
        return buffer
    out[...] = buffer
    return out


# --------------------------------------------------------------------------- threads


def _find_blas_thread_setters():
    """``openblas_set_num_threads_local`` of each OpenBLAS loaded in this process.

    It sets the BLAS thread count of the *calling* thread only (OpenBLAS >= 0.3.27), which
    lets our worker threads run single-threaded GEMMs without touching anyone else's
    BLAS settings. Empty when NumPy uses another BLAS or the library can't be found.
    """
    paths = set()
    try:  # optional: threadpoolctl knows where every BLAS of the process lives
        from threadpoolctl import threadpool_info

        paths.update(i["filepath"] for i in threadpool_info() if i["internal_api"] == "openblas")
    except Exception:  # noqa: BLE001 - any failure just means "not found this way"
        pass
    if not paths:
        try:
            with open("/proc/self/maps") as maps:
                for line in maps:
                    path = line.split(maxsplit=5)[-1].strip()
                    if "openblas" in os.path.basename(path).lower():
                        paths.add(path)
        except OSError:
            pass
    setters = []
    for path in sorted(paths):
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_int]
        setter.restype = ctypes.c_int
        setters.append(setter)
    return tuple(setters)


@functools.cache
def _blas_thread_setters():
    return _find_blas_thread_setters()


def _single_threaded_blas():
    for setter in _blas_thread_setters():
        setter(1)


@functools.cache
def _executor(n_threads):
    # Worker threads run one GEMM at a time each: BLAS's own threads would oversubscribe.
    return ThreadPoolExecutor(
        n_threads, thread_name_prefix="upsamplex-conv", initializer=_single_threaded_blas
    )


def _parallel(n_items, make_worker, num_threads):
    """Call ``work(i)`` for each ``i < n_items``, ``work = make_worker()`` once per thread.

    The calling thread and ``num_threads - 1`` pool threads take items as they become
    free (a busy machine then slows one thread, not the whole call). Each item writes
    outputs of its own, so results do not depend on the thread count. Without control
    over BLAS threads everything runs here, serially, and the GEMMs use BLAS's own pool.
    """
    counter = itertools.count()  # next() on it is atomic under the GIL

    def loop():
        work = make_worker()
        for i in counter:
            if i >= n_items:
                return
            work(i)

    setters = _blas_thread_setters()
    if not setters:
        loop()
        return
    n_threads = min(num_threads, n_items)
    pool = _executor(n_threads - 1) if n_threads > 1 else None
    futures = [pool.submit(loop) for _ in range(n_threads - 1)] if pool else []
    previous = [setter(1) for setter in setters]  # this thread works too, on one BLAS thread
    try:
        loop()
    finally:
        for setter, value in zip(setters, previous):
            setter(value)
        for future in futures:
            future.result()


# --------------------------------------------------------------------------- GEMM + kernels


def _tile_length(rows, n_out, itemsize):
    """Output positions per tile, so a tile of columns stays in the core's L2 cache."""
    tile = min(_TILE_CAP, _TILE_BYTES // max(1, rows * itemsize))
    if tile >= 64:
        tile -= tile % 64  # whole GEMM kernel blocks
    return max(1, min(n_out, tile))


def _tiles(n_out, tile):
    return [(p0, min(p0 + tile, n_out)) for p0 in range(0, n_out, tile)]


def _conv_offsets(geom):
    """Per-axis tap offsets of a convolution: the source index is o*stride + offset."""
    return tuple(
        (np.arange(k, dtype=np.intp) * d - p)[np.newaxis]
        for k, d, p in zip(geom.kernel, geom.dilation, geom.padding)
    )


def _im2col_pass(src5, geom, groups, num_threads, weight=None, dst5=None, bias=None, lhs5=None):
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
    identity = geom.pure_matmul
    if identity and lhs5 is not None:
        # No columns to keep in cache: one GEMM per sample, with the long reduction
        # (K = the grid) that BLAS runs best.
        tiles = [(0, n_out)]
    else:
        tiles = _tiles(n_out, _tile_length(rows, n_out, src5.itemsize))
    if lhs5 is None:
        per_sample = len(tiles)
    else:
        # The weight gradient sums over samples and tiles: each item sums a fixed block
        # of tiles into a partial of its own; the partials are added in item order.
        per_sample = min(len(tiles), -(-_MIN_BLOCKS // max(1, n_samples)))
        # Partials hold gWᵀ: cols @ lhsᵀ runs faster in BLAS than lhs @ colsᵀ.
        partials = np.empty((n_samples * per_sample, groups, cg_k, mg), src5.dtype)
        lhs = lhs5.reshape(n_samples, groups, mg, n_out)
    if dst5 is not None:
        w_mat = weight.reshape(groups, mg, cg_k)
        dst = dst5.reshape(n_samples, m_total, n_out)
    offsets = _conv_offsets(geom)
    if identity:
        src_flat = src5.reshape(n_samples, groups, cg_k, n_out)

    def make_worker():
        cols_buffer = None if identity else np.empty(rows * tiles[0][1], src5.dtype)
        product = np.empty((groups, cg_k, mg), src5.dtype) if lhs5 is not None else None

        def work(item):
            n, block = divmod(item, per_sample)
            first = block * len(tiles) // per_sample
            last = (block + 1) * len(tiles) // per_sample
            for t in range(first, last):
                p0, p1 = tiles[t]
                if identity:
                    cols = src_flat[n, :, :, p0:p1]
                else:
                    cols = cols_buffer[: rows * (p1 - p0)].reshape(rows, p1 - p0)
                    _k.im2col(src5[n], cols, *offsets, geom.stride, geom.out, p0, p1)
                    cols = cols.reshape(groups, cg_k, p1 - p0)
                if dst5 is not None:
                    y = dst[n, :, p0:p1]
                    np.matmul(w_mat, cols, out=y.reshape(groups, mg, p1 - p0))
                    if bias is not None:
                        _k.add_bias(y, bias)
                if lhs5 is not None:
                    target = partials[item] if t == first else product
                    np.matmul(cols, lhs[n, :, :, p0:p1].transpose(0, 2, 1), out=target)
                    if t != first:
                        partials[item] += product

        return work

    _parallel(n_samples * per_sample, make_worker, num_threads)
    if lhs5 is None:
        return None
    grad_w = partials.sum(axis=0) if len(partials) else np.zeros(partials.shape[1:], src5.dtype)
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
    for residue in itertools.product(*(range(s) for s in geom.stride)):
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


def _col2im_pass(g5, weight, geom, groups, num_threads, dst5, bias=None):
    """``dst5 = col2im(weightᵀ @ g5) + bias`` (conv's input gradient), as stride-phase gathers."""
    n_samples, m_total = g5.shape[:2]
    channels = dst5.shape[1]
    mg, cg = m_total // groups, channels // groups
    dtype = g5.dtype
    if geom.pure_matmul:
        n_out = prod(geom.out)
        w_t = weight.reshape(groups, mg, cg).transpose(0, 2, 1)
        g_flat = g5.reshape(n_samples, groups, mg, n_out)
        dst = dst5.reshape(n_samples, channels, n_out)
        tiles = _tiles(n_out, _tile_length(m_total, n_out, g5.itemsize))

        def make_identity_worker():
            def work(item):
                n, t = divmod(item, len(tiles))
                p0, p1 = tiles[t]
                y = dst[n, :, p0:p1]
                np.matmul(w_t, g_flat[n, :, :, p0:p1], out=y.reshape(groups, cg, p1 - p0))
                if bias is not None:
                    _k.add_bias(y, bias)

            return work

        _parallel(n_samples * len(tiles), make_identity_worker, num_threads)
        return
    bias_arr = np.empty(0, dtype) if bias is None else bias
    phases = _phase_sets(weight, geom, groups)
    n_grid = max(prod(ph.grid) for ph in phases)
    # Tiles sized by one phase's columns: the GEMM of one phase then reads columns that
    # are still in cache, and the calls run long enough for threads not to convoy on the GIL.
    tile = _tile_length(max(ph.rows // len(ph.residues) for ph in phases), n_grid, g5.itemsize)
    # ... but a set of many phases (large strides) keeps its columns within a bound.
    tile = max(1, min(tile, _SET_BYTES // (max(1, *(ph.rows for ph in phases)) * g5.itemsize)))
    n_tiles = -(-n_grid // tile)
    no_rows = np.empty((0, 1), dtype)
    unit = (1, 1, 1)

    def make_worker():
        cols_buffer = np.empty(max(ph.rows for ph in phases) * tile, dtype)
        tile_buffer = np.empty(channels * max(len(ph.residues) for ph in phases) * tile, dtype)

        def work(item):
            # One tile of every phase: the phases' sub-grids interleave in memory, so
            # together they fill whole cache lines of the output while those are hot.
            n, t = divmod(item, n_tiles)
            for ph in phases:
                p0, p1 = t * tile, min((t + 1) * tile, prod(ph.grid))
                if p0 >= p1:
                    continue
                width = p1 - p0
                out = no_rows
                if ph.weight is not None:
                    cols = cols_buffer[: ph.rows * width].reshape(ph.rows, width)
                    _k.im2col(g5[n], cols, *ph.offsets, unit, ph.grid, p0, p1)
                    stack = len(ph.weight)
                    out = tile_buffer[: stack * cg * width].reshape(stack, cg, width)
                    np.matmul(ph.weight, cols.reshape(stack, ph.rows // stack, width), out=out)
                    out = out.reshape(stack * cg, width)
                _k.store_phases(out, dst5[n], bias_arr, ph.residues, geom.stride, ph.grid, p0, p1)

        return work

    _parallel(n_samples * n_tiles, make_worker, num_threads)


# Winograd F(2x2, 3x3) (Lavin & Gray 2015): the weight transform is G g G^T.
_WINOGRAD_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_WINOGRAD_GG = np.kron(_WINOGRAD_G, _WINOGRAD_G)


def _winograd_ok(geom, groups, channels, m_total):
    """3x3, stride 1, undilated 2-D convolutions with enough channels to pay for the transforms."""
    return (
        geom.kernel == (1, 3, 3)
        and geom.stride == (1, 1, 1)
        and geom.dilation == (1, 1, 1)
        and geom.src[0] == 1
        and groups == 1
        and min(channels, m_total) >= _WINOGRAD_MIN_CHANNELS
    )


def _winograd_weight(weight, dtype):
    """U[4a + b, m, c] = (G w[m, c] G^T)[a, b], computed in float64.

    Row-major flattening turns G g G^T into (G ⊗ G) vec(g): one (M*C, 9) @ (9, 16) GEMM.
    """
    m_total, channels = weight.shape[:2]
    u = weight.reshape(m_total * channels, 9).astype(np.float64) @ _WINOGRAD_GG.T
    return np.ascontiguousarray(u.T, dtype=dtype).reshape(16, m_total, channels)


def _winograd_pass(src5, weight, dst5, bias, pad, num_threads):
    """``dst5 = conv(src5, weight) + bias`` for a 3x3 stride-1 kernel by Winograd F(2x2, 3x3).

    ``weight`` is (M, C, 3, 3); ``pad`` the (top, left) padding (the far side follows from
    the size of ``dst5``). Each work item transforms a block of 2x2 output tiles, runs the
    16 (M, C) @ (C, tiles) GEMMs as one stacked matmul and transforms back.
    """
    n_samples, channels = src5.shape[:2]
    m_total = weight.shape[0]
    dtype = src5.dtype
    out_h, out_w = dst5.shape[3:]
    n_tx = -(-out_w // 2)
    n_blocks = -(-out_h // 2) * n_tx
    u = _winograd_weight(weight, dtype)
    bias_arr = np.empty(0, dtype) if bias is None else bias
    width = _tile_length(16 * (channels + m_total), n_blocks, src5.itemsize)
    n_items = -(-n_blocks // width)

    def make_worker():
        tiles_buffer = np.empty(16 * channels * width, dtype)
        products_buffer = np.empty(16 * m_total * width, dtype)

        def work(item):
            n, b = divmod(item, n_items)
            t0, t1 = b * width, min((b + 1) * width, n_blocks)
            tiles = tiles_buffer[: 16 * channels * (t1 - t0)].reshape(16, channels, t1 - t0)
            _k.winograd_input(src5[n, :, 0], tiles, pad[0], pad[1], n_tx, t0, t1)
            products = products_buffer[: 16 * m_total * (t1 - t0)].reshape(16, m_total, t1 - t0)
            np.matmul(u, tiles, out=products)
            _k.winograd_output(products, dst5[n, :, 0], bias_arr, n_tx, t0, t1)

        return work

    _parallel(n_samples * n_items, make_worker, num_threads)


def _as_x(arr5, problem):
    """Reshape an x-shaped 5-D result back to the caller's x layout."""
    arr = arr5.reshape(problem.x_shape)
    return arr if problem.batched else arr[0]


# --------------------------------------------------------------------------- public API

_PARAMS = {
    "x": """x : array_like, shape (N, C_in, *spatial) or (C_in, *spatial)
        Input, float32 or float64. Unbatched input gives an unbatched output.""",
    "w_conv": """weight : array_like, shape (C_out, C_in / groups, *kernel_size)
        Filters, same dtype as ``x``.""",
    "w_tr": """weight : array_like, shape (C_in, C_out / groups, *kernel_size)
        Filters in torch's ConvTranspose layout, same dtype as ``x``.""",
    "bias": """bias : array_like, shape (C_out,), optional
        Added to every output position of each channel.""",
    "geometry": """stride : int or tuple of int, default 1
        Step between kernel applications (positive).
    padding : int or tuple of int, default 0
        Implicit zero padding on both sides of each spatial axis (non-negative).""",
    "dilation": """dilation : int or tuple of int, default 1
        Spacing between kernel taps (positive).""",
    "output_padding": """output_padding : int or tuple of int, default 0
        Extra size added to one side of each output axis; must be smaller than either
        the stride or the dilation of that axis.""",
    "groups": """groups : int, default 1
        Number of blocked connections; divides ``C_in`` and ``C_out``.""",
    "out": """out : ndarray, optional
        Array of the output's shape and dtype to write the result into.""",
    "threads": """num_threads : int, optional
        Worker threads; all cores by default. Each runs its GEMMs on one BLAS thread
        (when NumPy's BLAS is OpenBLAS; otherwise the work runs in the calling thread
        and BLAS uses its own threads). Results do not depend on it.""",
    "mask": """output_mask : sequence of 3 bool, default (True, True, True)
        Which of (grad_input, grad_weight, grad_bias) to compute; the others are None.""",
    "grads": """grad_input : ndarray or None
        Gradient with respect to ``x``, shaped like ``x``.
    grad_weight : ndarray or None
        Gradient with respect to ``weight``, shaped like ``weight``.
    grad_bias : ndarray or None
        Gradient with respect to the bias, shape (C_out,).""",
    "raises": """Raises
    ------
    TypeError
        For unsupported dtypes (only float32 and float64), mismatched dtypes, or
        non-integer geometry arguments.
    ValueError
        For inconsistent shapes, channels, groups or geometry, or an empty output.""",
}


_SPATIAL = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}

_FORWARD_SECTIONS = """Parameters
    ----------
    {x}
    {w}
    {bias}
    {geometry}{same}
    {middle}
    {out}
    {threads}

    Returns
    -------
    ndarray, shape (N, C_out, {out_axes}) or (C_out, {out_axes})
        Per axis ``{size}``.

    {raises}"""


def _fill_doc(func):
    func.__doc__ = func.__doc__.format(**_PARAMS)
    return func


def _forward_doc(nd, transposed):
    """Fill a forward function's ``{sections}`` from the shared parameter text."""
    if transposed:
        fields = dict(
            w=_PARAMS["w_tr"],
            same="",
            middle="\n    ".join(_PARAMS[k] for k in ("output_padding", "groups", "dilation")),
            size="(I - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1",
        )
    else:
        fields = dict(
            w=_PARAMS["w_conv"],
            same="\n        May also be ``'valid'`` (no padding) or ``'same'`` (stride 1 only).",
            middle="\n    ".join(_PARAMS[k] for k in ("dilation", "groups")),
            size="(I + 2*padding - dilation*(k - 1) - 1) // stride + 1",
        )
    out_axes = ", ".join(f"{axis}_out" for axis in _SPATIAL[nd])
    sections = _FORWARD_SECTIONS.format(out_axes=out_axes, **fields, **_PARAMS)

    def decorate(func):
        func.__doc__ = func.__doc__.replace("{sections}", sections)
        return func

    return decorate


def _conv_nd(nd, x, weight, bias, stride, padding, dilation, groups, out, num_threads):
    problem = _conv_problem(nd, x, weight, bias, stride, padding, dilation, groups)
    num_threads = check_num_threads(num_threads)
    public_shape = problem.y_shape if problem.batched else problem.y_shape[1:]
    buffer = _output_buffer(out, public_shape, problem.x5.dtype, (x, weight, bias))
    y5 = buffer.reshape(problem.y_shape[:2] + problem.geom.out)
    geom = problem.geom
    if _winograd_ok(geom, problem.groups, problem.x5.shape[1], y5.shape[1]):
        w = problem.w5[:, :, 0]
        _winograd_pass(problem.x5, w, y5, problem.bias, geom.padding[1:], num_threads)
    else:
        _im2col_pass(problem.x5, geom, problem.groups, num_threads, problem.w5, y5, problem.bias)
    return _deliver(buffer, out)


def _conv_transpose_nd(
    nd, x, weight, bias, stride, padding, output_padding, groups, dilation, out, num_threads
):
    problem = _transpose_problem(
        nd, x, weight, bias, stride, padding, output_padding, dilation, groups
    )
    num_threads = check_num_threads(num_threads)
    public_shape = problem.y_shape if problem.batched else problem.y_shape[1:]
    buffer = _output_buffer(out, public_shape, problem.x5.dtype, (x, weight, bias))
    y5 = buffer.reshape(problem.y_shape[:2] + problem.geom.src)
    _col2im_pass(
        problem.x5, problem.w5, problem.geom, problem.groups, num_threads, y5, problem.bias
    )
    return _deliver(buffer, out)


@_forward_doc(1, transposed=False)
def conv1d(
    x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None, num_threads=None
):
    """1-D convolution (cross-correlation), equal to ``torch.nn.functional.conv1d``.

    {sections}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> ux.conv1d(x, np.ones((1, 1, 2)))
    array([[[1., 3., 5., 7.]]])
    """
    return _conv_nd(1, x, weight, bias, stride, padding, dilation, groups, out, num_threads)


@_forward_doc(2, transposed=False)
def conv2d(
    x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None, num_threads=None
):
    """2-D convolution (cross-correlation), equal to ``torch.nn.functional.conv2d``.

    {sections}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.ones((1, 2, 4, 4), dtype=np.float32)
    >>> w = np.ones((3, 2, 3, 3), dtype=np.float32)
    >>> y = ux.conv2d(x, w, padding=1)
    >>> y.shape, y[0, 0, 1, 1], y[0, 0, 0, 0]
    ((1, 3, 4, 4), np.float32(18.0), np.float32(8.0))
    """
    return _conv_nd(2, x, weight, bias, stride, padding, dilation, groups, out, num_threads)


@_forward_doc(3, transposed=False)
def conv3d(
    x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None, num_threads=None
):
    """3-D convolution (cross-correlation), equal to ``torch.nn.functional.conv3d``.

    {sections}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.ones((2, 4, 4, 4))
    >>> ux.conv3d(x, np.ones((1, 2, 2, 2, 2)), stride=2).shape
    (1, 2, 2, 2)
    """
    return _conv_nd(3, x, weight, bias, stride, padding, dilation, groups, out, num_threads)


@_forward_doc(1, transposed=True)
def conv_transpose1d(
    x,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    out=None,
    num_threads=None,
):
    """1-D transposed convolution, equal to ``torch.nn.functional.conv_transpose1d``.

    {sections}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.array([[[1.0, 2.0, 3.0]]])
    >>> ux.conv_transpose1d(x, np.ones((1, 1, 2)), stride=2)
    array([[[1., 1., 2., 2., 3., 3.]]])
    """
    return _conv_transpose_nd(
        1, x, weight, bias, stride, padding, output_padding, groups, dilation, out, num_threads
    )


@_forward_doc(2, transposed=True)
def conv_transpose2d(
    x,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    out=None,
    num_threads=None,
):
    """2-D transposed convolution, equal to ``torch.nn.functional.conv_transpose2d``.

    {sections}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.ones((1, 4, 8, 8), dtype=np.float32)
    >>> w = np.ones((4, 2, 4, 4), dtype=np.float32)
    >>> ux.conv_transpose2d(x, w, stride=2, padding=1).shape
    (1, 2, 16, 16)
    """
    return _conv_transpose_nd(
        2, x, weight, bias, stride, padding, output_padding, groups, dilation, out, num_threads
    )


@_forward_doc(3, transposed=True)
def conv_transpose3d(
    x,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    out=None,
    num_threads=None,
):
    """3-D transposed convolution, equal to ``torch.nn.functional.conv_transpose3d``.

    {sections}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.ones((3, 2, 2, 2))
    >>> ux.conv_transpose3d(x, np.ones((3, 1, 2, 2, 2)), stride=2).shape
    (1, 4, 4, 4)
    """
    return _conv_transpose_nd(
        3, x, weight, bias, stride, padding, output_padding, groups, dilation, out, num_threads
    )


def _spatial_rank(weight):
    weight = np.asarray(weight)
    if not 3 <= weight.ndim <= 5:
        raise ValueError(
            f"weight must have 3, 4 or 5 dimensions (1-D, 2-D or 3-D convolution), "
            f"got shape {weight.shape}"
        )
    return weight.ndim - 2


def _bias_grad(gy5, mask):
    # Σ over batch and space, in the gradient's dtype (torch does the same).
    return gy5.sum(axis=(0, 2, 3, 4)) if mask[2] else None


@_fill_doc
def conv_backward(
    grad_output,
    x,
    weight,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    output_mask=(True, True, True),
    num_threads=None,
):
    """Gradients of :func:`conv1d`/:func:`conv2d`/:func:`conv3d`.

    The spatial rank (1, 2 or 3) is ``weight.ndim - 2``, which also tells a batched
    ``x`` from an unbatched one.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the convolution's output.
    {x}
    {w_conv}
    {geometry}
    {dilation}
    {groups}
    {mask}
    {threads}

    Returns
    -------
    {grads}

    {raises}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> w = np.ones((1, 1, 2))
    >>> gx, gw, gb = ux.conv_backward(np.ones((1, 1, 4)), x, w)
    >>> gx, gw, gb
    (array([[[1., 2., 2., 2., 1.]]]), array([[[ 6., 10.]]]), array([4.]))
    """
    mask = _output_mask(output_mask)
    nd = _spatial_rank(weight)
    problem = _conv_problem(nd, x, weight, None, stride, padding, dilation, groups)
    num_threads = check_num_threads(num_threads)
    gy5 = _grad_output(problem, grad_output)
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
        grad_w_t = _im2col_pass(gy5, geom, groups, num_threads, w_t, dst5=gx5, lhs5=problem.x5)
        grad_weight = grad_w_t.reshape(groups, cg, mg).transpose(0, 2, 1)
        grad_weight = grad_weight.reshape(np.shape(weight))
        return _as_x(gx5, problem), grad_weight, _bias_grad(gy5, mask)
    if mask[0]:
        gx5 = np.empty_like(problem.x5)
        if _winograd_ok(geom, groups, gy5.shape[1], gx5.shape[1]) and max(geom.padding) <= 2:
            # The input gradient of a 3x3 stride-1 conv is a 3x3 stride-1 conv of the
            # gradient with the flipped, transposed kernel and padding 2 - padding.
            w_flip = np.ascontiguousarray(problem.w5[:, :, 0, ::-1, ::-1].transpose(1, 0, 2, 3))
            pad = (2 - geom.padding[1], 2 - geom.padding[2])
            _winograd_pass(gy5, w_flip, gx5, None, pad, num_threads)
        else:
            _col2im_pass(gy5, problem.w5, geom, groups, num_threads, gx5)
        grad_input = _as_x(gx5, problem)
    if mask[1]:
        grad_weight = _im2col_pass(problem.x5, geom, groups, num_threads, lhs5=gy5)
        grad_weight = grad_weight.reshape(np.shape(weight))
    return grad_input, grad_weight, _bias_grad(gy5, mask)


@_fill_doc
def conv_transpose_backward(
    grad_output,
    x,
    weight,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    output_mask=(True, True, True),
    num_threads=None,
):
    """Gradients of :func:`conv_transpose1d`/:func:`conv_transpose2d`/:func:`conv_transpose3d`.

    The spatial rank (1, 2 or 3) is ``weight.ndim - 2``, which also tells a batched
    ``x`` from an unbatched one.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the transposed convolution's output.
    {x}
    {w_tr}
    {geometry}
    {output_padding}
    {groups}
    {dilation}
    {mask}
    {threads}

    Returns
    -------
    {grads}

    {raises}

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.array([[[1.0, 2.0, 3.0]]])
    >>> w = np.ones((1, 1, 2))
    >>> gx, gw, gb = ux.conv_transpose_backward(np.ones((1, 1, 6)), x, w, stride=2)
    >>> gx, gw, gb
    (array([[[2., 2., 2.]]]), array([[[6., 6.]]]), array([6.]))
    """
    mask = _output_mask(output_mask)
    nd = _spatial_rank(weight)
    problem = _transpose_problem(
        nd, x, weight, None, stride, padding, output_padding, dilation, groups
    )
    num_threads = check_num_threads(num_threads)
    gy5 = _grad_output(problem, grad_output)
    grad_input = grad_weight = None
    if mask[0] or mask[1]:
        # conv_transpose's input gradient is a conv of grad_output, and its weight
        # gradient reuses the same columns: one im2col sweep serves both.
        gx5 = np.empty_like(problem.x5) if mask[0] else None
        grad_weight = _im2col_pass(
            gy5,
            problem.geom,
            problem.groups,
            num_threads,
            weight=problem.w5,
            dst5=gx5,
            lhs5=problem.x5 if mask[1] else None,
        )
        if mask[0]:
            grad_input = _as_x(gx5, problem)
        if mask[1]:
            grad_weight = grad_weight.reshape(np.shape(weight))
    return grad_input, grad_weight, _bias_grad(gy5, mask)
