"""The execution plan: one object that carries a whole resampling computation.

``Plan`` is built once per configuration from the *global* geometry: the
spatial axes, the per-axis tables (forward and adjoint), the pass order, the
dtype path (float kernels, uint8 fixed point, float32 compute for the other
dtypes, item-size gather for nearest) and the memory layout. Running it on the
whole array, on a window of the output, or on any number of threads only
chooses *which* outputs are computed, never *how*: the bits of an output element
depend on the plan alone. ``interpolate()`` is validate -> plan (cached) -> run.
"""

import itertools
import math
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from . import _validation as v
from ._axis_tables import (
    WALK,
    ByteLRU,
    LazyTable,
    axis_table_uint8,
    plan_table,
    unit_table,
)
from ._kernels import _nearest_u8, _resample_uint8, float_kernels

_resample = float_kernels()

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area",
         "lanczos")
# Modes bound to one spatial rank (torch's rule). bicubic and lanczos go beyond
# torch (2-D only there): cubic and tricubic too.
_MODE_RANK = {"linear": 1, "bilinear": 2, "trilinear": 3}
_NO_ALIGN = ("nearest", "nearest-exact", "area")
# torch allows antialias only for 2-D bilinear/bicubic/lanczos; the filter is
# defined per axis, so every rank gets it.
_ANTIALIAS_MODES = ("linear", "bilinear", "trilinear", "bicubic", "lanczos")
_SPATIAL_NAMES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}
_NEAREST = ("nearest", "nearest-exact")

# ---------------------------------------------------------------------------
# The dtype x mode policy: one table answers "is this allowed, and how?"
# ---------------------------------------------------------------------------
# float32/float64 run the float kernels; uint8 runs torch's int16 fixed point in
# 1-D and 2-D (area and 3-D compute in float32); float16, uint16 and int16
# compute in float32 and round once at the end (integers: to nearest, ties to
# even, then saturate). nearest is an exact gather by item size for every dtype.
FILTER_DTYPES = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64, np.uint8,
                                            np.uint16, np.int16))
GRAD_DTYPES = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64))
_HALVE_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.int16))
_GATHER_UNITS = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.float32),
                 8: np.dtype(np.float64)}


def _dtype_names(dtypes):
    return ", ".join(str(d) for d in dtypes)


def dtype_path(dtype, mode, n_spatial, table_mode, name="input"):
    """How a forward pass computes ``mode`` on ``dtype``: 'float', 'fixed8',
    'promote' or 'gather'; a TypeError naming what is accepted otherwise."""
    if not dtype.isnative:
        raise TypeError(
            f"{name} dtype {dtype.str} has non-native byte order; convert it first with "
            f"x.astype(x.dtype.newbyteorder('='))"
        )
    if mode in _NEAREST:
        if dtype.kind not in "biufc":
            raise TypeError(
                f"{name} dtype {dtype} is not supported; mode={mode!r} takes any numeric "
                "dtype (bool, integers, floats, complex)"
            )
        return "gather"
    if dtype in v.FLOAT_DTYPES:
        return "float"
    if dtype == np.uint8 and n_spatial <= 2 and table_mode != "area":
        return "fixed8"
    if dtype in FILTER_DTYPES:
        return "promote"
    raise TypeError(
        f"{name} dtype {dtype} is not supported by mode={mode!r}; it takes "
        f"{_dtype_names(FILTER_DTYPES)} (modes 'nearest' and 'nearest-exact' take any "
        "numeric dtype)"
    )


# ---------------------------------------------------------------------------
# Geometry: sizes and scales per spatial axis (torch 2.13's F.interpolate rules)
# ---------------------------------------------------------------------------

class Geometry(NamedTuple):
    """What a resampling does along each spatial axis."""

    in_sizes: tuple
    out_sizes: tuple
    scales: tuple  # the user's scale per axis when it reaches the kernel, else None
    table_mode: str  # key of _tables.MODE_CODES
    align_corners: bool


def normalize_axes(axes, ndim, name="input"):
    """``axes`` as a tuple of non-negative ints, or None for torch's layout."""
    if axes is None:
        return None
    if isinstance(axes, np.ndarray):
        axes = axes.tolist()
    if not isinstance(axes, (tuple, list)):
        axes = (axes,)
    out = []
    for a in axes:
        a = v.as_int(a, "axes")
        if not -ndim <= a < ndim:
            raise ValueError(
                f"axes entry {a} is out of range for {ndim}-D {name} (valid: {-ndim} to "
                f"{ndim - 1})"
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axes must not repeat an axis, got {tuple(axes)!r}")
    if not 1 <= len(out) <= 3:
        raise ValueError(
            f"axes must name 1 to 3 spatial axes, got {len(out)}: {tuple(axes)!r}"
        )
    return tuple(out)


def _check_rank(shape, mode, axes, name):
    ndim = len(shape)
    if axes is not None:
        n_spatial = len(axes)
        need = _MODE_RANK.get(mode)
        if need is not None and n_spatial != need:
            raise ValueError(
                f"mode={mode!r} needs {need} spatial ax{'is' if need == 1 else 'es'}, got "
                f"axes={axes!r} ({n_spatial})"
            )
        return n_spatial
    if ndim < 3 or ndim > 5:
        hint = ""
        if ndim in (1, 2):
            example = "x[None, None]" if ndim == 2 else "x[None, None, :]"
            spatial = "(0, 1)" if ndim == 2 else "0"
            hint = (f"; add batch and channel axes first, e.g. {example} for a single "
                    f"image or signal, or name the spatial axes with axes={spatial}")
        raise ValueError(
            f"{name} must be 3-D, 4-D or 5-D (N, C, *spatial) with 1 to 3 spatial "
            f"dimensions, got {ndim}D {name} of shape {tuple(shape)}{hint}"
        )
    need = _MODE_RANK.get(mode)
    if need is not None and ndim != need + 2:
        raise ValueError(
            f"mode={mode!r} needs {need + 2}-D {name} (N, C, "
            f"{', '.join(_SPATIAL_NAMES[need])}), got {ndim}-D {name} of shape "
            f"{tuple(shape)}"
        )
    return ndim - 2


def _check_flags(mode, align_corners, antialias, recompute_scale_factor):
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a string, one of {MODES}, got {type(mode).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}; got {mode!r}")
    if align_corners is not None:
        if not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(
                f"align_corners must be a bool or None, got {type(align_corners).__name__}"
            )
        if mode in _NO_ALIGN:
            raise ValueError(
                "align_corners can only be set with the interpolating modes linear | "
                f"bilinear | bicubic | trilinear | lanczos, got mode={mode!r}"
            )
    if not isinstance(antialias, (bool, np.bool_)):
        raise TypeError(f"antialias must be a bool, got {type(antialias).__name__}")
    if antialias and mode not in _ANTIALIAS_MODES:
        raise ValueError(
            "antialias=True is only supported for modes 'linear', 'bilinear', "
            f"'trilinear', 'bicubic' and 'lanczos', got mode={mode!r}"
        )
    if mode == "lanczos":
        if not antialias:
            raise ValueError("mode='lanczos' requires antialias=True")
        if align_corners:
            raise ValueError("mode='lanczos' does not support align_corners=True")
    if recompute_scale_factor is not None and not isinstance(
        recompute_scale_factor, (bool, np.bool_)
    ):
        raise TypeError(
            "recompute_scale_factor must be a bool or None, got "
            f"{type(recompute_scale_factor).__name__}"
        )


def geometry(in_sizes, size, scale_factor, mode, align_corners, recompute_scale_factor,
             antialias, name="input"):
    """Output sizes and kernel scales per spatial axis."""
    n_spatial = len(in_sizes)
    if any(s < 1 for s in in_sizes):
        raise ValueError(f"{name} spatial sizes must be positive, got {in_sizes}")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be given, got both")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor must be given")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size")
        out_sizes = tuple(v.as_int(s, "size") for s in v.as_tuple(size, n_spatial, "size"))
        if any(s < 1 for s in out_sizes):
            raise ValueError(f"size must contain positive integers, got {out_sizes}")
        scales = (None,) * n_spatial
    else:
        factors = tuple(v.as_float(s, "scale_factor")
                        for s in v.as_tuple(scale_factor, n_spatial, "scale_factor"))
        for s in factors:
            if not math.isfinite(s) or s <= 0:
                raise ValueError(f"scale_factor must be positive and finite, got {s}")
        out_sizes = []
        for axis, (n_in, s) in enumerate(zip(in_sizes, factors, strict=True)):
            # torch truncates the double product: 3 * 2.3 = 6.8999... gives 6.
            n_out = math.floor(float(n_in) * s)
            if n_out < 1:
                raise ValueError(
                    f"scale_factor {s} gives an output size of {n_out} along spatial axis "
                    f"{axis} (input size {n_in}); the output needs at least 1 sample"
                )
            out_sizes.append(n_out)
        out_sizes = tuple(out_sizes)
        keep = not recompute_scale_factor and mode != "area"
        scales = factors if keep else (None,) * n_spatial
    if antialias:
        table_mode = {"bicubic": "aa-cubic", "lanczos": "aa-lanczos"}.get(mode, "aa-linear")
    else:
        table_mode = {"linear": "linear", "bilinear": "linear", "trilinear": "linear",
                      "bicubic": "cubic"}.get(mode, mode)
    return Geometry(tuple(in_sizes), out_sizes, scales, table_mode, bool(align_corners))


# ---------------------------------------------------------------------------
# Passes: the tables and order of one direction (forward or adjoint)
# ---------------------------------------------------------------------------

class Pass(NamedTuple):
    """One direction of a plan, on the kernels' (N, C, D, H, W) view."""

    tables: tuple  # (D, H, W) AxisTables, or (H, W) FixedTables for 'fixed8'
    kind: str  # 'float', 'fixed8', 'gather', 'halve' (integer area at a factor of 2)
    hfirst: bool  # W pass first (fixed by the global tables: both layouts, every window)
    n_pad: int  # leading unit axes the 3 kernel axes have beyond the plan's spatial axes

    def spatial_tables(self):
        return self.tables[len(self.tables) - (3 - self.n_pad):]


_GATHER_COST = 3.0  # a table-driven gather costs about 3 contiguous multiply-adds


def _prefer_hfirst(tables):
    """W pass first (per input row) vs H first (per output row), by estimated cost."""
    td, th, tw = tables
    size_ih, size_iw = th.size_in, tw.size_in
    size_od, size_oh, size_ow = td.size_out, th.size_out, tw.size_out
    w_cost = 0.3 if tw.walk == WALK["copy"] else _GATHER_COST * tw.mean_taps
    v_first = size_od * size_oh * (size_iw * td.mean_taps * th.mean_taps + size_ow * w_cost)
    h_first = size_od * (size_ih * (size_iw * td.mean_taps + size_ow * w_cost)
                         + size_oh * size_ow * th.mean_taps)
    return h_first < v_first


def _halves(geom, dtype):
    """Whether 'area' on these integer samples only halves (and keeps) axes: there
    the float32 result is the exact box mean, so the integer kernel (_halve.h)
    gives its bits."""
    return (geom.table_mode == "area" and dtype in _HALVE_DTYPES
            and all(i in (o, 2 * o) for i, o in zip(geom.in_sizes, geom.out_sizes, strict=True))
            and any(i == 2 * o > 0 for i, o in zip(geom.in_sizes, geom.out_sizes, strict=True)))


def _make_pass(geom, kind, table_dtype, adjoint=False):
    n_spatial = len(geom.in_sizes)
    n_pad = 3 - n_spatial
    args = [(geom.table_mode, geom.in_sizes[a], geom.out_sizes[a], geom.scales[a],
             geom.align_corners) for a in range(n_spatial)]
    if kind == "fixed8":
        unit = axis_table_uint8("linear", 1, 1, None, False)
        tables = tuple([unit] * (2 - n_spatial) + [axis_table_uint8(*a) for a in args])
        return Pass(tables, kind, False, n_pad)
    unit = unit_table(table_dtype)
    # The pass order is a choice for 2-D and 3-D float passes only (_prefer_hfirst).
    stats = kind == "float" and n_spatial > 1
    tables = tuple([unit] * n_pad + [plan_table(*a, table_dtype, adjoint, stats)
                                     for a in args])
    hfirst = kind == "float" and _prefer_hfirst(tables)
    return Pass(tables, kind, hfirst, n_pad)


# ---------------------------------------------------------------------------
# Running a pass on the kernels' views
# ---------------------------------------------------------------------------

def _compatible_strides(arr):
    """Element-aligned data and strides: the kernels walk typed pointers (an
    unaligned float load is undefined behaviour in C, and slow where it works)."""
    item = arr.itemsize
    return arr.flags.aligned and all(s % item == 0 for s in arr.strides)


def _block_size(n_rows, n_planes, num_threads):
    """Output rows per job: big enough to share the W pass, small enough that
    every thread gets several jobs."""
    want_jobs = 4 * num_threads
    per_plane = max(1, -(-want_jobs // max(n_planes, 1)))
    return int(min(64, max(4, -(-n_rows // per_plane))))


_STREAM_ABOVE = 32 << 20  # bytes; well past this machine's last-level cache
# Below this many output samples a call runs on one thread: waking an OpenMP
# team costs more than the work (torch's parallel_for grain plays this role).
_SERIAL_BELOW = 1 << 15


def _run_kernel(x, y, kind, tables, hfirst, num_threads, fresh):
    """Run one kernel from 5-D views ``x`` into ``y`` (same dtype; or a float32
    ``x`` and a uint8/uint16/int16/float16 ``y`` the float kernels round into)."""
    if not _compatible_strides(x):
        # A copy, also when ``x`` is already contiguous but unaligned (a buffer
        # from a pickle frame or a byte offset): ascontiguousarray would keep it.
        x = np.array(x, order="C")
    channels_last = v.is_channels_last(x)
    if kind == "fixed8":
        th, tw = tables
        x4, y4 = x[:, :, 0], y[:, :, 0]
        planes = y4.shape[0] * (1 if channels_last else y4.shape[1])
        block = _block_size(y4.shape[2], planes, num_threads)
        _resample_uint8.resample_uint8(x4, y4, th[:4], tw[:4], th.skip, tw.skip,
                                       channels_last, block, tw.up2, num_threads)
        return
    td, th, tw = tables
    if kind == "gather" and x.dtype == np.uint8 and _gather_u8(td, th, tw).run(
            x, y, channels_last, num_threads):
        return  # dense 1..4-byte pixels: moved whole, repeated rows copied
    # The kernels write W-contiguous rows (planar) or C-contiguous pixels; the
    # halving kernel takes any element-aligned strides, a narrow output any strides
    # (its rows are converted as they finish).
    narrow = y.dtype != x.dtype
    item = y.itemsize
    rows_fit = kind == "halve" or ((y.strides[1] == item) if channels_last else
                                   (y.strides[4] == item or y.shape[4] == 1))
    fits = narrow or (rows_fit and _compatible_strides(y))
    target = y if fits else v.allocate(y.shape, y.dtype,
                                       (0, 2, 3, 4, 1) if channels_last else None)
    # A caller's array far larger than the caches is written with streaming
    # stores (no read-for-ownership). Not a fresh one: its pages were just zeroed
    # by the kernel, so its lines are likely cached and plain stores win.
    stream = not fresh and target is y and target.nbytes > _STREAM_ABOVE and not narrow
    if kind == "halve":
        _resample.halve(x, target, num_threads)
    elif kind == "gather":
        _resample.nearest(x, target, td.idx[:, 0].copy(), th.idx[:, 0].copy(),
                          tw.idx[:, 0].copy(), channels_last, num_threads, stream)
    elif hfirst:
        # The order comes from the plan's global tables, so both layouts and
        # every window sum in the same order and give identical bits.
        n_planes = x.shape[0] * (1 if channels_last else x.shape[1]) * td.size_out
        block = _block_size(th.size_out, n_planes, num_threads)
        _resample.resample_hfirst(x, target, td[:3], th[:3], tw[:3], td.size_in, th.size_in,
                                  tw.size_in, tw.walk, block, channels_last, num_threads,
                                  stream)
    else:
        _resample.resample(x, target, [t[:3] for t in tables],
                           [t.size_in for t in tables], [t.walk for t in tables],
                           channels_last, num_threads)
    if target is not y:
        np.copyto(y, target)


_GATHER_U8 = OrderedDict()  # (ids of the 3 tables) -> (the tables, their GatherU8)


def _gather_u8(td, th, tw):
    """The byte-pixel gather of these tables, analysed once: the entry holds the
    tables, so their ids stay theirs while it is cached."""
    key = (id(td), id(th), id(tw))
    hit = _GATHER_U8.get(key)
    if hit is None:
        gather = _nearest_u8.GatherU8(td.idx[:, 0], th.idx[:, 0], tw.idx[:, 0], tw.size_in)
        hit = _GATHER_U8[key] = ((td, th, tw), gather)
        while len(_GATHER_U8) > 32:
            _GATHER_U8.popitem(last=False)
    return hit[1]


def _gather_view(arr):
    """``arr`` reinterpreted for the item-size gather: same bytes, a unit dtype
    the nearest kernel has, and a trailing axis when the item is wider."""
    item = arr.dtype.itemsize
    unit = _GATHER_UNITS.get(item)
    if unit is not None and all(s % item == 0 for s in arr.strides):
        return arr.view(unit) if arr.dtype != unit else arr
    for size in (8, 4, 2, 1):
        if item % size == 0 and all(s % size == 0 for s in arr.strides):
            break
    face = dict(arr.__array_interface__)
    face["typestr"] = _GATHER_UNITS[size].str
    face["descr"] = [("", face["typestr"])]
    face["shape"] = arr.shape + (item // size,)
    face["strides"] = arr.strides + (size,)
    return np.asarray(_Interface(face, arr))


class _Interface:
    """Array-interface holder keeping the base alive (as numpy's as_strided does)."""

    def __init__(self, interface, base):
        self.__array_interface__ = interface
        self.base = base


def _merge_leading(arr, n):
    """View of ``arr`` with its first ``n`` axes merged into one, or None."""
    shape = (math.prod(arr.shape[:n]),) + arr.shape[n:]
    try:
        return arr.reshape(shape, copy=False)
    except TypeError:  # numpy < 2.1: no copy= keyword
        view = arr.view()
        try:
            view.shape = shape
        except AttributeError:
            return None
        return view
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------

class Plan:
    """A resampling computation, fixed once, run many times.

    Made by :func:`upsamplex.plan`; see there for the arguments. Calling the plan
    gives exactly what :func:`upsamplex.interpolate` gives with the same
    arguments, with only microseconds of overhead; ``out_window`` computes any
    window of the global result from the input slab :meth:`input_window` names,
    bit for bit, which is what chunked and distributed callers need.

    Attributes
    ----------
    in_shape, out_shape : tuple of int
        Shapes of the input and of the output.
    dtype : numpy.dtype
        The input's (and output's) dtype.
    axes : tuple of int
        The spatial axes (non-negative); all others are batch axes.
    mode : str
    antialias, align_corners : bool
    """

    __slots__ = ("in_shape", "out_shape", "dtype", "axes", "mode", "antialias",
                 "align_corners", "geometry", "_torch_layout", "_perm", "_n_batch", "_path",
                 "_table_dtype", "_fwd", "_bwd", "nbytes", "_fast")

    def __init__(self, shape, dtype, size=None, scale_factor=None, mode="nearest",
                 align_corners=None, recompute_scale_factor=None, antialias=False, *,
                 axes=None, name="input"):
        _check_flags(mode, align_corners, antialias, recompute_scale_factor)
        shape = tuple(shape)
        dtype = np.dtype(dtype)
        ndim = len(shape)
        axes = normalize_axes(axes, ndim, name)
        n_spatial = _check_rank(shape, mode, axes, name)
        self._torch_layout = axes is None
        if axes is None:
            axes = tuple(range(2, ndim))
        in_sizes = tuple(shape[a] for a in axes)
        geom = geometry(in_sizes, size, scale_factor, mode, align_corners,
                        recompute_scale_factor, antialias, name)
        self._path = dtype_path(dtype, mode, n_spatial, geom.table_mode, name)
        out_shape = list(shape)
        for a, n in zip(axes, geom.out_sizes, strict=True):
            out_shape[a] = n
        # No array can hold it: refused here, naming the argument (the tables of
        # long axes are built lazily, so nothing else refuses it before a call).
        v.check_output_size(out_shape, dtype,
                            f"{'size' if size is not None else 'scale_factor'} gives an ")
        batch = tuple(a for a in range(ndim) if a not in axes)
        perm = batch + axes
        self.in_shape = shape
        self.out_shape = tuple(out_shape)
        self.dtype = dtype
        self.axes = axes
        self.mode = mode
        self.antialias = bool(antialias)
        self.align_corners = bool(align_corners)
        self.geometry = geom
        self._perm = None if perm == tuple(range(ndim)) else perm
        self._n_batch = len(batch)
        # Tables in the precision torch uses for this dtype: float64 for float64,
        # float32 otherwise (uint8 nearest indices too, as torch computes them).
        self._table_dtype = "<f8" if dtype == np.float64 else "<f4"
        self._fwd = None
        self._bwd = None
        self._fast = {}  # (strides, dtype, shape) of an input -> its bound fast call
        self.nbytes = 0
        self._forward_pass()

    def __repr__(self):
        return (f"Plan(in_shape={self.in_shape}, out_shape={self.out_shape}, "
                f"dtype={self.dtype}, axes={self.axes}, mode={self.mode!r}"
                f"{', antialias=True' if self.antialias else ''})")

    # -- passes ------------------------------------------------------------
    def _forward_pass(self):
        if self._fwd is None:
            kind = {"promote": "float"}.get(self._path, self._path)
            if self._path == "promote" and _halves(self.geometry, self.dtype):
                kind = "halve"
            fixed = self._path == "fixed8"
            self._fwd = _make_pass(self.geometry, kind, None if fixed else self._table_dtype)
            self.nbytes += sum(t.nbytes for t in self._fwd.tables)
        return self._fwd

    def _backward_pass(self):
        if self._bwd is None:
            if self.dtype not in GRAD_DTYPES:
                raise TypeError(
                    f"the gradient is defined for float dtypes ({_dtype_names(GRAD_DTYPES)}); "
                    f"this plan is for {self.dtype}"
                )
            # The adjoint of every mode (nearest too) is a weighted gather.
            self._bwd = _make_pass(self.geometry, "float", self._table_dtype, adjoint=True)
            self.nbytes += sum(t.nbytes for t in self._bwd.tables)
        return self._bwd

    # -- windows -----------------------------------------------------------
    def _ranges(self, window, shape, name):
        """A window (tuple of slices, one per axis) as ``(start, stop)`` pairs."""
        if window is None:
            return [(0, n) for n in shape]
        if isinstance(window, slice):
            window = (window,)
        if not isinstance(window, tuple) or not all(isinstance(s, slice) for s in window):
            raise TypeError(f"{name} must be a tuple of slices, one per axis, got "
                            f"{type(window).__name__}")
        if len(window) != len(shape):
            raise ValueError(f"{name} must have one slice per axis ({len(shape)}), got "
                             f"{len(window)}")
        ranges = []
        for axis, (s, n) in enumerate(zip(window, shape, strict=True)):
            start = 0 if s.start is None else v.as_int(s.start, name)
            stop = n if s.stop is None else v.as_int(s.stop, name)
            if s.step not in (None, 1):
                raise ValueError(f"{name} slices must have step 1, got {s} on axis {axis}")
            if not 0 <= start <= stop <= n:
                raise ValueError(
                    f"{name} slice {s} on axis {axis} is outside the extent 0..{n} of the "
                    "array it windows (negative or out-of-range bounds are not allowed)"
                )
            ranges.append((start, stop))
        return ranges

    def _footprint(self, pass_, ranges):
        spatial = pass_.spatial_tables()
        src = list(ranges)
        for a, t in zip(self.axes, spatial, strict=True):
            o0, o1 = ranges[a]
            src[a] = t.footprint(o0, o1) if o1 > o0 else (0, 0)
        return src

    def input_window(self, out_window):
        """The input slab that the output window ``out_window`` reads.

        Parameters
        ----------
        out_window : tuple of slice
            One slice per axis (step 1) inside ``out_shape``.

        Returns
        -------
        tuple of slice
            One slice per axis of the input: batch axes as given, spatial axes
            the span of the taps the window's outputs read (edge clamping
            included).
        """
        ranges = self._ranges(out_window, self.out_shape, "out_window")
        return tuple(slice(a, b) for a, b in self._footprint(self._forward_pass(), ranges))

    def grad_window(self, in_window):
        """The slab of ``grad_output`` that the gradient on ``in_window`` reads."""
        ranges = self._ranges(in_window, self.in_shape, "in_window")
        return tuple(slice(a, b) for a, b in self._footprint(self._backward_pass(), ranges))

    # -- running -----------------------------------------------------------
    def __call__(self, x, *, out=None, out_window=None, num_threads=None):
        """Resample ``x`` (the whole input, or the slab ``input_window(out_window)``)."""
        if out_window is None and num_threads is None and type(x) is np.ndarray:
            fast = self._fast.get((x.strides, x.dtype, x.shape))
            if fast is None and len(self._fast) < 8:
                fast = self._fast[(x.strides, x.dtype, x.shape)] = self._bind_fast(x)
            if fast and x.flags.aligned:
                return fast(x, out)
        x = v.as_array(x)
        if x.dtype != self.dtype:
            raise TypeError(f"input dtype {x.dtype} does not match the plan's dtype "
                            f"{self.dtype}")
        return self._execute(self._forward_pass(), x, out, out_window, num_threads,
                             self.in_shape, self.out_shape, "out_window", "input")

    def backward(self, grad_output, *, out=None, in_window=None, num_threads=None):
        """Gradient with respect to the input, given ``grad_output``.

        With ``in_window``, ``grad_output`` is the slab ``grad_window(in_window)``
        of the full gradient and the result is that window of the input gradient.
        """
        g = v.as_array(grad_output, "grad_output")
        pass_ = self._backward_pass()
        if g.dtype != self.dtype:
            raise TypeError(f"grad_output dtype {g.dtype} does not match the plan's dtype "
                            f"{self.dtype}")
        return self._execute(pass_, g, out, in_window, num_threads, self.out_shape,
                             self.in_shape, "in_window", "grad_output")

    def _execute(self, pass_, x, out, window, num_threads, src_shape, dst_shape, wname,
                 xname):
        num_threads = v.check_num_threads(num_threads)
        ranges = self._ranges(window, dst_shape, wname)
        # Where ``x`` sits in the global source: a window's slab is its
        # footprint; None for the whole source.
        source = None if window is None else self._footprint(pass_, ranges)
        if source is None:
            expected = src_shape
        else:
            expected = tuple(b - a for a, b in source)
        if x.shape != expected:
            if window is None:
                raise ValueError(
                    f"{xname} has shape {x.shape}, expected {expected}"
                    + ("" if xname == "input" else
                       f": the output shape of interpolate for an input of shape "
                       f"{self.in_shape} with these arguments")
                )
            raise ValueError(
                f"{xname} has shape {x.shape}, but {wname} needs the window of shape "
                f"{expected} given by plan.{'input' if xname == 'input' else 'grad'}_window"
            )
        shape = tuple(b - a for a, b in ranges)
        if out is None:
            y = v.allocate(shape, x.dtype, self._output_order(x))
        else:
            y = v.check_out(out, shape, x.dtype, x, xname)
        if y.size:
            threads = 1 if y.size < _SERIAL_BELOW and x.size < _SERIAL_BELOW else num_threads
            origin = None if source is None else [a for a, _ in source]
            self._run_bands(pass_, x, y, ranges, origin, threads, out is None)
        return y

    def _bind_fast(self, x):
        """A call bound to this input layout: the kernel prepared with its
        tables and bound to the strides, so a call passes only the arrays' data;
        False where the general path is needed. Same kernels, same tables, same
        order: the same bits. Empty arrays take the general path, which runs no
        kernel for them (the kernels' setup divides by the batch size)."""
        if (x.size == 0 or x.dtype != self.dtype or x.shape != self.in_shape
                or self._path not in ("float", "gather", "fixed8") or self._n_batch > 2
                or not _compatible_strides(x) or x.dtype.itemsize not in _GATHER_UNITS):
            return False
        pass_ = self._forward_pass()
        if any(isinstance(t, LazyTable) for t in pass_.tables):
            return False  # long axes run tile by tile (_run_bands)
        unit = _GATHER_UNITS[x.dtype.itemsize] if self._path == "gather" else x.dtype
        order = self._output_order(x)
        y = v.allocate(self.out_shape, x.dtype, order)
        if max(y.nbytes, x.nbytes) > self._BAND_BYTES:
            return False
        perm = self._perm
        lead = (None,) * (2 - self._n_batch)
        index = lead + (slice(None),) * self._n_batch + (None,) * (3 - len(self.axes)) + (
            Ellipsis,)

        def view(a):
            if a.dtype != unit:
                a = a.view(unit)
            return (a.transpose(perm) if perm is not None else a)[index]

        x5, y5 = view(x), view(y)
        channels_last = v.is_channels_last(x5)
        item = y.itemsize
        if not (y5.strides[1] == item if channels_last else
                (y5.strides[4] == item or y5.shape[4] == 1)):
            return False
        tables = pass_.tables
        if pass_.kind == "fixed8":
            th, tw = tables
            planes = x5.shape[0] * (1 if channels_last else x5.shape[1])
            threads = v.check_num_threads(None)
            fixed = _resample_uint8.U8Call(
                x5[:, :, 0], y5[:, :, 0], th[:4], tw[:4], th.skip, tw.skip, channels_last,
                _block_size(y5.shape[3], planes, threads), tw.up2, threads).run

            class _Prepared:  # the uint8 kernel with its tables and layout bound
                @staticmethod
                def run_bound(x, y, threads, stream):
                    fixed(x, y, threads)

            prepared = _Prepared
        elif pass_.kind == "gather":
            kernel_order, block = 2, 4
        elif pass_.hfirst:
            threads = v.check_num_threads(None)
            td, th = tables[0], tables[1]
            n_planes = x5.shape[0] * (1 if channels_last else x5.shape[1]) * td.size_out
            kernel_order, block = 1, _block_size(th.size_out, n_planes, threads)
        else:
            kernel_order, block = 0, 4
        if pass_.kind != "fixed8":
            prepared = _resample.Prepared([t[:3] for t in tables],
                                          [t.size_in for t in tables],
                                          [t.walk for t in tables], kernel_order, block)
            prepared.bind(x5, y5, channels_last)
        if pass_.kind == "gather" and unit == np.uint8:
            general = prepared
            gather_u8 = _nearest_u8.GatherU8(*(t.idx[:, 0] for t in tables),
                                             tables[2].size_in).run

            class _Prepared:  # byte pixels moved whole, else the general gather
                @staticmethod
                def run_bound(x, y, threads, stream):
                    if not gather_u8(view(x), view(y), channels_last, threads):
                        general.run_bound(x, y, threads, stream)

            prepared = _Prepared
        y_strides, dtype = y.strides, y.dtype
        phys = None if order is None else tuple(self.out_shape[a] for a in order)
        inverse = None if order is None else tuple(np.argsort(order).tolist())
        n_out, n_in = y.size, x.size
        small = n_out < _SERIAL_BELOW and n_in < _SERIAL_BELOW
        out_shape = self.out_shape

        def call(x, out):
            if out is None:
                y = np.empty(out_shape if phys is None else phys, dtype)
                if inverse is not None:
                    y = y.transpose(inverse)
                stream = False
            else:
                y = v.check_out(out, out_shape, dtype, x)
                if y.strides != y_strides or not y.flags.aligned:
                    return self(x, out=out, num_threads=v.check_num_threads(None))
                stream = y.nbytes > _STREAM_ABOVE
            threads = 1 if small else v.check_num_threads(None)
            prepared.run_bound(x, y, threads, stream)
            return y

        return call if n_out else False

    def _output_order(self, x):
        """Memory order of a new output: today's rule in torch's layout (planar
        or channels-last), otherwise the input's own axis order."""
        if self._torch_layout:
            if v.is_channels_last(x):
                return (0,) + tuple(range(2, x.ndim)) + (1,)
            return None
        if x.flags.c_contiguous:
            return None
        order = sorted(range(x.ndim),
                       key=lambda a: (-abs(x.strides[a]) if x.shape[a] > 1 else 0, a))
        return None if order == list(range(x.ndim)) else tuple(order)

    # Work per kernel call: float32-computed dtypes convert one band at a time
    # (bounded temporaries); very large calls are split so Ctrl-C is honoured
    # between bands. Bands are windows, so the bits do not change.
    _PROMOTE_BAND_BYTES = 4 << 20
    _BAND_BYTES = 128 << 20

    def _run_bands(self, pass_, x, y, ranges, origin, threads, fresh):
        """Outputs ``ranges`` into ``y``, tile by tile along the long (lazy-table)
        axes, then band by band within the work budget."""
        tables = pass_.spatial_tables()
        lazy = [(a, t.tile_rows) for a, t in zip(self.axes, tables, strict=True)
                if isinstance(t, LazyTable)]
        if not lazy:
            self._run_budget(pass_, x, y, ranges, origin, threads, fresh)
            return
        band_origin = origin if origin is not None else [0] * x.ndim
        spans = [range(0, y.shape[a], step) for a, step in lazy]
        for starts in itertools.product(*spans):
            sub = list(ranges)
            yi = [slice(None)] * y.ndim
            for (a, step), r0 in zip(lazy, starts, strict=True):
                r1 = min(y.shape[a], r0 + step)
                sub[a] = (ranges[a][0] + r0, ranges[a][0] + r1)
                yi[a] = slice(r0, r1)
            self._run_budget(pass_, x, y[tuple(yi)], sub, band_origin, threads, fresh)

    def _run_budget(self, pass_, x, y, ranges, origin, threads, fresh):
        promote = ((self._path == "promote" and pass_.kind != "halve")
                   or (pass_ is self._bwd and self.dtype == np.float16))
        scratch = {} if promote else None  # float32 buffers of the promoted dtypes
        try:
            self._run_bands_of(pass_, x, y, ranges, origin, threads, fresh, scratch)
        finally:
            if scratch:
                SCRATCH.give_back(scratch.values())

    def _run_bands_of(self, pass_, x, y, ranges, origin, threads, fresh, scratch):
        axis = self.axes[0]
        rows = y.shape[axis]
        if scratch is not None:
            # the float32 copy of each input band is what the promoted budget bounds
            # (the kernels round output rows straight into y)
            bands = max(-(-x.size * 4 // self._PROMOTE_BAND_BYTES),
                        -(-y.nbytes // self._BAND_BYTES))
            step = -(-rows // max(bands, 1))
        else:
            # the work grows with the input too (a large downscale reads a lot)
            per_row = max(y.size, x.size) * y.itemsize // max(rows, 1)
            step = max(1, self._BAND_BYTES // max(per_row, 1))
        if step >= rows or rows < 2:
            self._run_window(pass_, x, y, ranges, origin, threads, fresh, scratch)
            return
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            sub = list(ranges)
            sub[axis] = (ranges[axis][0] + r0, ranges[axis][0] + r1)
            yi = [slice(None)] * y.ndim
            yi[axis] = slice(r0, r1)
            band_origin = origin if origin is not None else [0] * x.ndim
            self._run_window(pass_, x, y[tuple(yi)], sub, band_origin, threads, fresh,
                             scratch)

    def _run_window(self, pass_, x, y, ranges, origin, threads, fresh, scratch):
        """Outputs ``ranges`` of the global result into ``y``; ``x`` starts at
        ``origin`` of the global source (None: ``x`` is the whole source).
        ``scratch``: a dict of reusable float32 buffers when the pass computes in
        float32 for another dtype, else None."""
        tables = list(pass_.tables)
        first = len(tables) - len(self.axes)  # plan axes are the last kernel axes
        index = [slice(None)] * x.ndim
        for i, a in enumerate(self.axes):
            o0, o1 = ranges[a]
            table = tables[first + i]
            if ((o0, o1) == (0, table.size_out) and not isinstance(table, LazyTable)
                    and (origin is None or (origin[a] == 0 and x.shape[a] == table.size_in))):
                # the whole axis of the whole source (a band's other axes): the table
                # as it is, not a window re-derived per band
                continue
            sub, lo = table.window(o0, o1)
            start = lo - (0 if origin is None else origin[a])
            index[a] = slice(start, start + sub.size_in)
            tables[first + i] = sub
        x = x[tuple(index)]
        if pass_.kind == "gather":
            x, y = _gather_view(x), _gather_view(y)
        if scratch is not None and x.dtype != np.float32:
            xf = _scratch_like(x, scratch, "x")
            _resample.convert(x, xf, threads)
            x = xf
        # (a float32 x and a narrower y: the kernels round each finished row into y)
        for xv, yv in self._kernel_views(x, y):
            _run_kernel(xv, yv, pass_.kind, tables, pass_.hfirst, threads, fresh)

    def _kernel_views(self, x, y):
        """Pairs of (N, C, D, H, W) views of ``x`` and ``y``: batch axes become N
        and C (merged, or looped over when their strides can't merge)."""
        if x.ndim > len(self.in_shape):  # the trailing item axis of a wide gather
            # the trailing byte axis is the fastest batch axis: C
            nd = len(self.in_shape)
            perm = self._perm if self._perm is not None else tuple(range(nd))
            perm = perm[:self._n_batch] + (nd,) + perm[self._n_batch:]
            n_batch = self._n_batch + 1
        else:
            perm = self._perm
            n_batch = self._n_batch
        xs = x.transpose(perm) if perm is not None else x
        ys = y.transpose(perm) if perm is not None else y
        n_sp = len(self.axes)
        if n_batch > 2:
            xm, ym = _merge_leading(xs, n_batch - 1), _merge_leading(ys, n_batch - 1)
            if xm is None or ym is None:
                for index in np.ndindex(xs.shape[:n_batch - 2]):
                    yield from self._pad(xs[index], ys[index], 2, n_sp)
                return
            xs, ys, n_batch = xm, ym, 2
        yield from self._pad(xs, ys, n_batch, n_sp)

    @staticmethod
    def _pad(xs, ys, n_batch, n_sp):
        lead = (None,) * (2 - n_batch)
        index = lead + (slice(None),) * n_batch + (None,) * (3 - n_sp) + (Ellipsis,)
        yield xs[index], ys[index]


class ScratchPool:
    """float32 buffers kept between calls, up to ``max_bytes`` in all; thread-safe.

    The float32 band temporaries of 16-bit and float16 resampling are a few MiB:
    allocated fresh, every band would pay the kernel's page faults (under 4 MiB
    NumPy asks for no huge pages), which cost more than the conversions.
    """

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._free = []
        self._lock = threading.Lock()

    def take(self, size):
        """A 1-D float32 buffer of at least ``size`` items."""
        with self._lock:
            fits = [i for i, b in enumerate(self._free) if b.size >= size]
            if fits:  # the smallest that fits
                return self._free.pop(min(fits, key=lambda i: self._free[i].size))
        return np.empty(max(size, 1), np.float32)

    def give_back(self, bufs):
        with self._lock:
            self._free.extend(bufs)
            self._free.sort(key=len, reverse=True)  # keep the largest within the bound
            kept, total = [], 0
            for b in self._free:
                if total + b.nbytes <= self.max_bytes:
                    kept.append(b)
                    total += b.nbytes
            self._free = kept


SCRATCH = ScratchPool(16 << 20)


def _scratch_like(a, scratch, slot):
    """A float32 array of ``a``'s shape and memory order (like ``np.empty_like``),
    in the buffer ``scratch[slot]`` (taken from the pool; a larger one when
    too small)."""
    buf = scratch.get(slot)
    if buf is None or buf.size < a.size:
        if buf is not None:
            SCRATCH.give_back([buf])
        buf = scratch[slot] = SCRATCH.take(a.size)
    if a.flags.c_contiguous:
        return buf[:a.size].reshape(a.shape)
    order = sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))
    return (buf[:a.size].reshape([a.shape[i] for i in order])
            .transpose(np.argsort(order)))


# ---------------------------------------------------------------------------
# A small cache of plans (bounded in the bytes of their tables)
# ---------------------------------------------------------------------------

PLAN_CACHE = ByteLRU(64 << 20)


_PLAIN = frozenset((int, float, bool, str, type(None)))


def _key_part(value):
    # The type is part of the key: 2 and 2.0 and True hash alike, but a plan
    # made for one must not answer a call with another (bool is refused).
    kind = type(value)
    if kind in _PLAIN:
        return kind, value
    if kind is tuple or kind is list:
        return (kind,) + tuple(map(_key_part, value))
    if kind is np.ndarray:
        return ("ndarray", value.dtype.str, value.shape, tuple(value.ravel().tolist()))
    return kind, value


def cached_plan(shape, dtype, size, scale_factor, mode, align_corners,
                recompute_scale_factor, antialias, axes, name="input"):
    """A plan for these arguments, from the cache when it was made before."""
    try:
        # Hashable arguments as they are, with their types and their items' (the
        # sequence ones; nested sequences never make a plan); others by _key_part.
        # (Spelled out flat: this key is most of a tiny call's lookup.)
        key = (shape, dtype, name, size, scale_factor, mode, align_corners,
               recompute_scale_factor, antialias, axes, type(size), type(scale_factor),
               type(mode), type(align_corners), type(recompute_scale_factor),
               type(antialias), type(axes),
               tuple(map(type, size)) if type(size) is tuple else None,
               tuple(map(type, scale_factor)) if type(scale_factor) is tuple else None,
               tuple(map(type, axes)) if type(axes) is tuple else None)
        hit = PLAN_CACHE.get(key)  # (hashing here: TypeError when unhashable)
    except TypeError:
        args = (size, scale_factor, mode, align_corners, recompute_scale_factor, antialias,
                axes)
        try:
            key = (shape, dtype, name) + tuple(map(_key_part, args))
            hit = PLAN_CACHE.get(key)
        except TypeError:
            key = hit = None
    if hit is not None:
        return hit
    p = Plan(shape, dtype, size, scale_factor, mode, align_corners, recompute_scale_factor,
             antialias, axes=axes, name=name)
    if key is not None:
        PLAN_CACHE.put(key, p, max(p.nbytes, 1024))
    return p
