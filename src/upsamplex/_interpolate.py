"""interpolate() and interpolate_backward(): validate, plan, dispatch.

The plan (output sizes, the scale each axis' kernel uses) follows torch 2.13's
``F.interpolate`` rules; the per-axis tap tables it leads to are built in
:mod:`upsamplex._kernels._resample` and cached, since a training loop calls the
same configuration many times.
"""

import functools
import math
from typing import NamedTuple

import numpy as np

from . import _validation as v
from ._kernels import _resample_uint8, _tables, float_kernels

_resample = float_kernels()

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area",
         "lanczos")
# Modes bound to one input rank (torch's rule); the others take 3-D to 5-D.
# bicubic and lanczos go beyond torch (4-D only there): cubic and tricubic too.
_MODE_NDIM = {"linear": 3, "bilinear": 4, "trilinear": 5}
_NO_ALIGN = ("nearest", "nearest-exact", "area")
# torch allows antialias only for 4-D bilinear/bicubic/lanczos; the filter is
# defined per axis, so every rank gets it.
_ANTIALIAS_MODES = ("linear", "bilinear", "trilinear", "bicubic", "lanczos")
_UINT8_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "lanczos")
_SPATIAL_NAMES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}


class Plan(NamedTuple):
    """What one interpolate call does along each spatial axis."""

    in_sizes: tuple
    out_sizes: tuple
    scales: tuple  # the user's scale per axis when it reaches the kernel, else None
    table_mode: str  # key of _tables.MODE_CODES
    align_corners: bool


def plan_interpolate(shape, dtype, size, scale_factor, mode, align_corners,
                     recompute_scale_factor, antialias, name="input"):
    """Validate interpolate's arguments for an input of ``shape``/``dtype``."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a string, one of {MODES}, got {type(mode).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}; got {mode!r}")
    ndim = len(shape)
    if ndim < 3 or ndim > 5:
        hint = ""
        if ndim in (1, 2):
            example = "x[None, None]" if ndim == 2 else "x[None, None, :]"
            hint = (f"; add batch and channel axes first, e.g. {example} for a single "
                    "image or signal")
        raise ValueError(
            f"{name} must be 3-D, 4-D or 5-D (N, C, *spatial) with 1 to 3 spatial "
            f"dimensions, got {ndim}D {name} of shape {tuple(shape)}{hint}"
        )
    need = _MODE_NDIM.get(mode)
    if need is not None and ndim != need:
        raise ValueError(
            f"mode={mode!r} needs {need}-D {name} (N, C, "
            f"{', '.join(_SPATIAL_NAMES[need - 2])}), got {ndim}-D {name} of shape "
            f"{tuple(shape)}"
        )
    if align_corners is not None:
        if not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(
                f"align_corners must be a bool or None, got {type(align_corners).__name__}"
            )
        if mode in _NO_ALIGN:
            raise ValueError(
                "align_corners can only be set with the interpolating modes linear | "
                f"bilinear | bicubic | trilinear, got mode={mode!r}"
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
    dtype = np.dtype(dtype)
    if not dtype.isnative:
        raise TypeError(
            f"{name} dtype {dtype.str} has non-native byte order; convert it first with "
            f"x.astype(x.dtype.newbyteorder('='))"
        )
    if dtype == np.uint8:
        if mode not in ("nearest", "nearest-exact") and ndim != 4:
            raise TypeError(
                f"mode={mode!r} on uint8 {name} needs 4-D input (N, C, H, W), got {ndim}-D; "
                "convert to float32 for 1-D or 3-D resampling"
            )
        if mode not in _UINT8_MODES:
            raise TypeError(
                f"mode={mode!r} does not support uint8 {name}; supported: float32, float64"
            )
    elif dtype not in v.FLOAT_DTYPES:
        raise TypeError(
            f"{name} dtype {dtype} is not supported; expected float32 or float64 "
            f"(or uint8 for {', '.join(_UINT8_MODES)})"
        )
    if recompute_scale_factor is not None and not isinstance(
        recompute_scale_factor, (bool, np.bool_)
    ):
        raise TypeError(
            "recompute_scale_factor must be a bool or None, got "
            f"{type(recompute_scale_factor).__name__}"
        )

    n_spatial = ndim - 2
    in_sizes = tuple(int(s) for s in shape[2:])
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
        table_mode = {"linear": "aa-linear", "bilinear": "aa-linear",
                      "trilinear": "aa-linear", "bicubic": "aa-cubic",
                      "lanczos": "aa-lanczos"}[mode]
    else:
        table_mode = {"linear": "linear", "bilinear": "linear", "trilinear": "linear",
                      "bicubic": "cubic"}.get(mode, mode)
    return Plan(in_sizes, out_sizes, scales, table_mode, bool(align_corners))


# ---------------------------------------------------------------------------
# Tables (cached, read-only)
# ---------------------------------------------------------------------------

def _freeze(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


_TABLE_BYTES_MAX = 4 << 30
_TABLE_BYTES_CACHED = 64 << 20  # bigger tables are rebuilt per call, not kept alive


def _check_table_size(table_mode, size_in, size_out):
    """Refuse, with a clear error, a table that would not fit in memory.

    A table holds an index and a weight per output sample and tap; its size is
    about the axis length times the taps, so only absurdly long axes hit this.
    """
    ratio = size_in / size_out
    if table_mode in ("nearest", "nearest-exact"):
        taps = 1
    elif table_mode == "linear":
        taps = 2
    elif table_mode == "cubic":
        taps = 4
    elif table_mode == "area":
        taps = math.ceil(ratio) + 1
    else:
        taps = 2 * math.ceil(_tables.AA_HALF_WIDTH[table_mode] * max(ratio, 1.0)) + 1
    n_bytes = size_out * taps * 16
    if n_bytes > _TABLE_BYTES_MAX:
        raise ValueError(
            f"resampling an axis of length {size_in} to {size_out} needs a "
            f"{v._human_bytes(n_bytes)} tap table, too large to allocate; resample in "
            f"stages or split the array along that axis"
        )
    return n_bytes


def _cache_small_tables(build):
    """lru_cache for tables of ordinary size; huge ones are rebuilt, not kept alive."""
    cached = functools.lru_cache(maxsize=256)(build)

    @functools.wraps(build)
    def table(table_mode, size_in, size_out, *args):
        if _check_table_size(table_mode, size_in, size_out) > _TABLE_BYTES_CACHED:
            return build(table_mode, size_in, size_out, *args)
        return cached(table_mode, size_in, size_out, *args)

    return table


@_cache_small_tables
def axis_table(table_mode, size_in, size_out, scale, align_corners, dtype_str):
    """Forward tap table of one axis, with the walk the kernels use for it."""
    idx, w, cnt = _tables.build_table(table_mode, size_in, size_out, scale, align_corners,
                                        np.dtype(dtype_str))
    return _freeze(idx, w, cnt) + (_walk_code(idx, w, cnt, size_in), float(cnt.mean()))


@_cache_small_tables
def axis_table_adjoint(table_mode, size_in, size_out, scale, align_corners, dtype_str):
    """Transposed table of one axis: input index <- the outputs that read it."""
    idx, w, cnt = axis_table(table_mode, size_in, size_out, scale, align_corners, dtype_str)[:3]
    idx_t, w_t, cnt_t = _tables.transpose_table(idx, w, cnt, size_in)
    return _freeze(idx_t, w_t, cnt_t) + (_walk_code(idx_t, w_t, cnt_t, size_out),
                                         float(cnt_t.mean()))


@_cache_small_tables
def axis_table_uint8(table_mode, size_in, size_out, scale, align_corners):
    """Fixed-point table of one axis: contiguous windows with int16 weights."""
    idx, w, cnt, walk = axis_table(table_mode, size_in, size_out, scale, align_corners, "f8")[:4]
    # Transposing twice merges repeated border taps into contiguous windows.
    idx_t, w_t, cnt_t = _tables.transpose_table(idx, w, cnt, size_in)
    idx_w, w_w, cnt_w = _tables.transpose_table(idx_t, w_t, cnt_t, size_out)
    q, precision = _tables.quantize_table(w_w, cnt_w)
    skip = walk == _tables.WALK_CODES["copy"]
    up2 = _periodic_x2(idx_w, q, size_in) if idx_w.shape[1] == 2 else (0, 0)
    up2 = tuple(int(v) for v in up2)
    if up2[1] > up2[0] and not np.all(cnt_w[2 * up2[0]:2 * up2[1]] == 2):
        up2 = (0, 0)
    return _freeze(idx_w, q, cnt_w) + (precision, skip, up2)


def _walk_code(idx, w, cnt, size_in):
    """How the kernels walk this axis: a code, or (code, lo, hi) for periodic x2."""
    codes = _tables.WALK_CODES
    size_out, k = idx.shape
    if k == 1 and np.all(cnt == 1) and np.all(w == 1):
        if size_out == size_in and np.array_equal(idx[:, 0], np.arange(size_out)):
            return codes["copy"]
        return codes["gather"]
    if k in (2, 4) and np.all(cnt == k):
        code = codes["tap2" if k == 2 else "tap4"]
    else:
        code = codes["generic"]
    up = _periodic_x2(idx, w, size_in) if code != codes["generic"] else (0, 0)
    down = _periodic_down2(idx, w, cnt)
    if up[1] > up[0] or down[1] > down[0]:
        return (code,) + up + down
    return code


def _periodic_down2(idx, w, cnt):
    """(lo, hi, taps, off): outputs lo..hi-1 read taps at 2o + off with row lo's weights.

    The run around the middle row where every row repeats it shifted by 2;
    (0, 0, 0, 0) when there is none worth a loop.
    """
    size_out = idx.shape[0]
    mid = size_out // 2
    n = int(cnt[mid])
    if size_out < 8 or n < 2 or n > idx.shape[1]:
        return (0, 0, 0, 0)
    off = int(idx[mid, 0]) - 2 * mid
    o = np.arange(size_out)
    same = ((cnt == n)
            & np.all(idx[:, :n] == 2 * o[:, None] + off + np.arange(n), axis=1)
            & np.all(w[:, :n] == w[mid, :n], axis=1))
    if not same[mid]:
        return (0, 0, 0, 0)
    lo = mid - int(np.argmin(same[mid::-1])) + 1 if not same[:mid + 1].all() else 0
    hi = mid + int(np.argmin(same[mid:])) if not same[mid:].all() else size_out
    return (lo, hi, n, off) if hi - lo >= 4 else (0, 0, 0, 0)


def _periodic_x2(idx, w, size_in):
    """Range [lo, hi) of i where outputs 2i, 2i+1 repeat rows 2lo, 2lo+1 shifted by i - lo.

    Exact comparison: the fast loop must use the very weights the table holds.
    """
    size_out, k = idx.shape
    lo = k // 2  # far enough from the border that no tap is clamped
    hi = size_in - lo
    if size_out != 2 * size_in or hi - lo < 2:
        return 0, 0
    o = np.arange(2 * lo, 2 * hi)
    parity = o % 2
    shift = o // 2 - lo
    ref_idx = idx[2 * lo + parity] + shift[:, None]
    ref_w = w[2 * lo + parity]
    contiguous = np.all(np.diff(idx[2 * lo:2 * lo + 2], axis=1) == 1)
    if contiguous and np.array_equal(idx[o], ref_idx) and np.array_equal(w[o], ref_w):
        return lo, hi
    return 0, 0


def _tables_5d(plan, dtype_str, adjoint=False):
    """Tables for the (D, H, W) axes of the 5-D view; missing axes are 1 -> 1."""
    n_pad = 3 - len(plan.in_sizes)
    tables = []
    for axis in range(3):
        if axis < n_pad:
            tables.append(axis_table("nearest", 1, 1, None, False, dtype_str))
            continue
        a = axis - n_pad
        args = (plan.table_mode, plan.in_sizes[a], plan.out_sizes[a], plan.scales[a],
                plan.align_corners, dtype_str)
        tables.append(axis_table_adjoint(*args) if adjoint else axis_table(*args))
    return tables


def _as_5d(arr):
    index = (slice(None), slice(None)) + (None,) * (5 - arr.ndim) + (Ellipsis,)
    return arr[index]


def _compatible_strides(arr):
    item = arr.itemsize
    return all(s % item == 0 for s in arr.strides)


def _output_order(ndim, channels_last):
    if channels_last:
        return (0,) + tuple(range(2, ndim)) + (1,)
    return None


def _run(x, y, tables, sizes_in, channels_last, num_threads, nearest, fresh):
    """Run one float/uint8 kernel from 5-D views ``x`` into ``y``."""
    if not _compatible_strides(x):
        x = np.ascontiguousarray(x)
        channels_last = False
    # The kernels write W-contiguous rows (planar) or C-contiguous pixels.
    item = y.itemsize
    fits = (y.strides[1] == item) if channels_last else (y.strides[4] == item or y.shape[4] == 1)
    fits = fits and _compatible_strides(y)
    target = y if fits else v.allocate(y.shape, y.dtype,
                                       (0, 2, 3, 4, 1) if channels_last else None)
    # A caller's array far larger than the caches is written with streaming
    # stores (no read-for-ownership). Not a fresh one: its pages were just zeroed
    # by the kernel, so its lines are likely cached and plain stores win.
    stream = not fresh and target is y and target.nbytes > _STREAM_ABOVE
    if nearest:
        _resample.nearest(x, target, tables[0][0][:, 0].copy(), tables[1][0][:, 0].copy(),
                          tables[2][0][:, 0].copy(), channels_last, num_threads, stream)
    elif _prefer_hfirst(tables, sizes_in):
        # The order is chosen from the tables alone, so both layouts sum in the
        # same order and give identical bits.
        td, th, tw = tables
        n_planes = x.shape[0] * (1 if channels_last else x.shape[1]) * td[0].shape[0]
        block = _block_size(th[0].shape[0], n_planes, num_threads)
        _resample.resample_hfirst(x, target, td[:3], th[:3], tw[:3], *sizes_in, tw[3],
                                  block, channels_last, num_threads, stream)
    else:
        _resample.resample(x, target, [t[:3] for t in tables], sizes_in,
                           [t[3] for t in tables], channels_last, num_threads)
    if target is not y:
        np.copyto(y, target)


def _block_size(n_rows, n_planes, num_threads):
    """Output rows per job: big enough to share the W pass, small enough that
    every thread gets several jobs."""
    want_jobs = 4 * num_threads
    per_plane = max(1, -(-want_jobs // max(n_planes, 1)))
    return int(min(64, max(4, -(-n_rows // per_plane))))


_STREAM_ABOVE = 32 << 20  # bytes; well past this machine's last-level cache
_GATHER_COST = 3.0  # a table-driven gather costs about 3 contiguous multiply-adds


def _prefer_hfirst(tables, sizes_in):
    """W pass first (per input row) vs H first (per output row), by estimated cost."""
    td, th, tw = tables
    size_ih, size_iw = sizes_in[1], sizes_in[2]
    size_od, size_oh, size_ow = td[0].shape[0], th[0].shape[0], tw[0].shape[0]
    taps_d, taps_h = td[4], th[4]
    w_cost = 0.3 if tw[3] == _tables.WALK_CODES["copy"] else _GATHER_COST * tw[4]
    v_first = size_od * size_oh * (size_iw * taps_d * taps_h + size_ow * w_cost)
    h_first = size_od * (size_ih * (size_iw * taps_d + size_ow * w_cost)
                         + size_oh * size_ow * taps_h)
    return h_first < v_first


# Below this many output samples a call runs on one thread: waking an OpenMP
# team costs more than the work (torch's parallel_for grain plays this role).
_SERIAL_BELOW = 1 << 15


def _threads_for(n_out, num_threads):
    return 1 if n_out < _SERIAL_BELOW else num_threads


def _forward(x, y, plan, num_threads, fresh):
    num_threads = _threads_for(y.size, num_threads)
    channels_last = v.is_channels_last(x)
    x5, y5 = _as_5d(x), _as_5d(y)
    sizes_in = (1,) * (3 - len(plan.in_sizes)) + plan.in_sizes
    if x.dtype == np.uint8 and plan.table_mode not in ("nearest", "nearest-exact"):
        th = axis_table_uint8(plan.table_mode, plan.in_sizes[0], plan.out_sizes[0],
                              plan.scales[0], plan.align_corners)
        tw = axis_table_uint8(plan.table_mode, plan.in_sizes[1], plan.out_sizes[1],
                              plan.scales[1], plan.align_corners)
        xin = x if _compatible_strides(x) else np.ascontiguousarray(x)
        block = _block_size(y.shape[2], y.shape[0] * (1 if channels_last else y.shape[1]),
                            num_threads)
        _resample_uint8.resample_uint8(xin, y, th[:4], tw[:4], th[4], tw[4],
                                       channels_last and xin is x, block, tw[5], num_threads)
        return
    # uint8 nearest computes its indices in float32, as torch does.
    dtype_str = "f4" if x.dtype == np.uint8 else x.dtype.str
    tables = _tables_5d(plan, dtype_str)
    nearest = plan.table_mode in ("nearest", "nearest-exact")
    _run(x5, y5, tables, sizes_in, channels_last, num_threads, nearest, fresh)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False, *, out=None, num_threads=None):
    """Resample an (N, C, *spatial) array exactly as ``torch.nn.functional.interpolate``.

    Parameters
    ----------
    input : ndarray, shape (N, C, W), (N, C, H, W) or (N, C, D, H, W)
        float32 or float64 in every mode; uint8 for 'nearest', 'nearest-exact',
        'bilinear', 'bicubic' and 'lanczos'. Any strides (views are not copied).
    size : int or tuple of int, optional
        Output spatial size. Exactly one of `size` and `scale_factor` is given.
    scale_factor : float or tuple of float, optional
        Multiplier for the spatial size; the output size is
        ``floor(input_size * scale_factor)``.
    mode : str, default 'nearest'
        'nearest', 'nearest-exact', 'linear' (3-D), 'bilinear' (4-D), 'bicubic'
        (4-D), 'trilinear' (5-D), 'area' or 'lanczos' (4-D, needs antialias).
    align_corners : bool, optional
        For the linear modes and bicubic: align the centres of the corner pixels
        (True) or their outer edges (False, the default when None).
    recompute_scale_factor : bool, optional
        If True, the kernel uses ``input_size / output_size`` instead of the
        given `scale_factor` (only meaningful with `scale_factor`).
    antialias : bool, default False
        Filter with a support widened by the downscaling factor ('bilinear',
        'bicubic', 'lanczos' on 4-D input); matches PIL when downsampling.
    out : ndarray, optional
        Array to write the result into: exact shape and dtype, writable.
    num_threads : int, optional
        Threads to use; defaults to all cores (honours ``OMP_NUM_THREADS``).

    Returns
    -------
    ndarray
        The resampled array, dtype of `input`; channels-last input gives a
        channels-last output. ``out`` when given.

    See Also
    --------
    interpolate_backward : the gradient with respect to `input`.
    Upsample : the same operation as a layer object.

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    >>> ux.interpolate(x, scale_factor=2, mode="bilinear")[0, 0, 0]
    array([0.  , 0.25, 0.75, 1.25, 1.75, 2.  ], dtype=float32)
    >>> ux.interpolate(x, size=(3, 3), mode="nearest")[0, 0]
    array([[0., 1., 2.],
           [0., 1., 2.],
           [3., 4., 5.]], dtype=float32)
    """
    x = v.as_array(input)
    plan = plan_interpolate(x.shape, x.dtype, size, scale_factor, mode, align_corners,
                            recompute_scale_factor, antialias)
    num_threads = v.check_num_threads(num_threads)
    out_shape = x.shape[:2] + plan.out_sizes
    if out is None:
        y = v.allocate(out_shape, x.dtype, _output_order(x.ndim, v.is_channels_last(x)))
    else:
        y = v.check_out(out, out_shape, x.dtype, x)
    if y.size:
        _forward(x, y, plan, num_threads, out is None)
    return y


def _check_input_shape(input_shape):
    if isinstance(input_shape, np.ndarray):
        input_shape = input_shape.tolist()
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(
            f"input_shape must be a tuple of ints, got {type(input_shape).__name__}"
        )
    shape = tuple(v.as_int(s, "input_shape") for s in input_shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"input_shape must not contain negative sizes, got {shape}")
    return shape


def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None,
                         mode="nearest", align_corners=None, recompute_scale_factor=None,
                         antialias=False, *, out=None, num_threads=None):
    """Gradient of :func:`interpolate` with respect to its input.

    The exact adjoint of upsamplex's forward: ``<interpolate(x), g> ==
    <x, interpolate_backward(g, x.shape, ...)>`` to rounding. Each input
    element gathers from the outputs that read it, so the result does not
    depend on `num_threads`.

    Parameters
    ----------
    grad_output : ndarray
        Gradient with respect to the forward's output, float32 or float64, of
        the shape the forward produced.
    input_shape : tuple of int
        Shape of the forward's input.
    size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
        As passed to :func:`interpolate`.
    out : ndarray, optional
        Array of shape `input_shape` and the dtype of `grad_output` to write into.
    num_threads : int, optional
        Threads to use; defaults to all cores.

    Returns
    -------
    ndarray
        Gradient with respect to the input, shape `input_shape`.

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> g = np.ones((1, 1, 4), dtype=np.float64)
    >>> ux.interpolate_backward(g, (1, 1, 2), scale_factor=2, mode="linear")
    array([[[2., 2.]]])
    """
    g = v.as_array(grad_output, "grad_output")
    shape = _check_input_shape(input_shape)
    if g.dtype not in v.FLOAT_DTYPES:
        raise TypeError(
            f"grad_output dtype {g.dtype} is not supported; expected float32 or float64"
        )
    plan = plan_interpolate(shape, g.dtype, size, scale_factor, mode, align_corners,
                            recompute_scale_factor, antialias, name="input_shape")
    num_threads = v.check_num_threads(num_threads)
    expected = shape[:2] + plan.out_sizes
    if g.shape != expected:
        raise ValueError(
            f"grad_output has shape {g.shape}, expected {expected}: the output shape of "
            f"interpolate for an input of shape {shape} with these arguments"
        )
    channels_last = v.is_channels_last(g)
    if out is None:
        gx = v.allocate(shape, g.dtype, _output_order(len(shape), channels_last))
    else:
        gx = v.check_out(out, shape, g.dtype, g, "grad_output")
    if gx.size:
        num_threads = _threads_for(max(gx.size, g.size), num_threads)
        tables = _tables_5d(plan, g.dtype.str, adjoint=True)
        sizes_in = (1,) * (3 - len(shape) + 2) + plan.out_sizes
        _run(_as_5d(g), _as_5d(gx), tables, sizes_in, channels_last, num_threads, False,
             out is None)
    return gx
