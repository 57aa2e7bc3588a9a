"""Resample dask arrays, bit-identical to in-memory :func:`upsamplex.interpolate`.

``upsamplex.dask`` is for arrays that outgrow one machine's memory: microscopy
volumes, whole-slide images, climate grids, OME-Zarr pyramids. It needs the
``dask`` extra (``pip install "upsamplex[dask]"``); ``import upsamplex`` never
imports dask.

How it stays exact
------------------
Every output block is one task. The task asks the execution plan
(:func:`upsamplex.plan`) which input window that block's tap tables touch
(``plan.input_window``), gathers exactly that slab from the input chunks it
overlaps, and runs the in-memory kernel on it with the block's *global*
position (``plan(slab, out_window=block)``). The tables, pass order and
rounding all come from the whole-array geometry, so the block holds the same
bits as the matching part of ``upsamplex.interpolate(x.compute(), ...)``. The
only extra work is the duplicated halo each slab carries; there is no
whole-array rechunk, and the graph has one task per output block on top of the
input's own graph.

Threads
-------
Each task runs the kernel with ``num_threads=1`` unless told otherwise: dask
already runs one task per worker thread, and a full OpenMP team per task would
oversubscribe the cores (``distributed`` sets ``OMP_NUM_THREADS=1`` in its
worker processes for the same reason; the local threaded scheduler sets
nothing). Pass a larger ``num_threads`` only when there are fewer blocks than
cores.

Memory
------
A task holds the input chunks its slab overlaps, the slab, the output block
and the kernel's intermediate pass (float32 for 16-bit and float16 input). By
default output blocks are as large as input blocks, so a downscale by ``f``
along ``d`` axes reads a slab about ``f**d`` input blocks large (good chunk
sizes on disk for every pyramid level). Under a tight worker memory limit,
pass ``chunks=`` of the input chunks times the scale: each slab is then about
one input chunk (a 768 MiB volume on two 256 MiB workers peaks at ~121 MiB
per worker that way; see ``tests/test_dask_memory.py``).
"""

# This module is ``upsamplex.dask``; absolute imports (the only kind Python 3
# has) make ``import dask`` below the real dask, never this file.
import bisect
import functools
import itertools
import math
import numbers
import os

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"upsamplex.dask needs dask: pip install 'upsamplex[dask]' ({exc})") from exc

import upsamplex

__all__ = ["interpolate", "interpolate_backward", "pyramid", "to_zarr", "Pyramid"]

_NEAREST = ("nearest", "nearest-exact")


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

def _check_dask_array(x, name, numpy_function):
    if not isinstance(x, da.Array):
        hint = ""
        if isinstance(x, np.ndarray):
            hint = f"; for a NumPy array use upsamplex.{numpy_function} directly"
        else:
            hint = (f"; wrap it with dask.array.from_array(...) or use "
                    f"upsamplex.{numpy_function} for an in-memory array")
        raise TypeError(f"{name} must be a dask array, got {type(x).__name__}{hint}")
    if any(math.isnan(c) for axis in x.chunks for c in axis):
        raise ValueError(
            f"{name} has unknown chunk sizes (nan), e.g. after boolean indexing; call "
            f"{name}.compute_chunk_sizes() first so each output block's input window is known"
        )


def _hashable(value):
    """size / scale_factor / axes as plain hashable Python values (lists become tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, np.ndarray):
        return tuple(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_num_threads(num_threads):
    if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral):
        raise TypeError(f"num_threads must be a positive int, got {type(num_threads).__name__}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads}")
    return int(num_threads)


# ---------------------------------------------------------------------------
# Plans: built once per process from plain arguments (they travel to workers
# as a tuple, so a plan object never has to be pickled).
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _plan(args):
    shape, dtype, size, scale_factor, mode, align_corners, rsf, antialias, axes = args
    return upsamplex.plan(shape, np.dtype(dtype), size, scale_factor, mode, align_corners, rsf,
                          antialias, axes=axes)


def _plan_args(shape, dtype, size, scale_factor, mode, align_corners, recompute_scale_factor,
               antialias, axes):
    args = (tuple(int(s) for s in shape), np.dtype(dtype).str, _hashable(size),
            _hashable(scale_factor), mode, align_corners, recompute_scale_factor, antialias,
            _hashable(axes))
    try:
        hash(args)
    except TypeError:
        # Unhashable odd values: let the plan itself name what is wrong with them.
        upsamplex.plan(shape, dtype, size, scale_factor, mode, align_corners,
                       recompute_scale_factor, antialias, axes=axes)
        raise TypeError("size, scale_factor and axes must be numbers or sequences of "
                        "numbers") from None
    return args, _plan(args)


# ---------------------------------------------------------------------------
# Output chunks
# ---------------------------------------------------------------------------

def _auto_chunks(src, out_shape, spatial):
    """Output chunks whose blocks hold about as many bytes as one input block.

    Batch axes keep the input's chunks (their length does not change). Each
    resampled axis starts from the input's chunk length, clipped to the output
    length; when clipping (a downscale smaller than a chunk) shrinks the block,
    the still-growable axes grow evenly until the block is back to the input
    block's size. Chunks are regular with a ragged last one, as zarr wants.
    """
    target = math.prod(src.chunksize)
    sizes = {a: max(1, min(int(src.chunksize[a]), int(out_shape[a]))) for a in spatial}
    batch_elems = math.prod(int(src.chunksize[a]) for a in range(src.ndim) if a not in spatial)
    for _ in range(4):
        have = batch_elems * math.prod(sizes.values())
        growable = [a for a in spatial if sizes[a] < out_shape[a]]
        if have >= target or not growable or have == 0:
            break
        factor = (target / have) ** (1.0 / len(growable))
        for a in growable:
            sizes[a] = min(int(out_shape[a]), max(sizes[a], int(sizes[a] * factor)))
    chunks = []
    for a in range(src.ndim):
        if a in spatial:
            chunks.append(sizes[a])
        else:
            chunks.append(src.chunks[a])
    return da.core.normalize_chunks(tuple(chunks), shape=tuple(out_shape))


def _out_chunks(chunks, src, out_shape, spatial, dtype):
    if chunks is None:
        return _auto_chunks(src, out_shape, spatial)
    ndim = len(out_shape)
    if isinstance(chunks, (tuple, list)) and len(chunks) != ndim:
        raise ValueError(
            f"chunks must have one entry per axis of the output ({ndim} axes, shape "
            f"{tuple(out_shape)}), got {len(chunks)}: {chunks!r}"
        )
    try:
        return da.core.normalize_chunks(chunks, shape=tuple(out_shape), dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"chunks {chunks!r} do not fit the output shape "
                         f"{tuple(out_shape)}: {exc}") from None


# ---------------------------------------------------------------------------
# The graph: one task per output block, pulling the slab it needs
# ---------------------------------------------------------------------------

def _run_block(direction, plan_args, block, win_shape, dst_slices, src_slices, dtype, nthreads,
               parts):
    """One output block: stitch the slab from its input pieces, run the kernel."""
    plan = _plan(plan_args)
    if len(parts) == 1 and all(d.start == 0 and d.stop == n
                               for d, n in zip(dst_slices[0], win_shape)):
        slab = parts[0][src_slices[0]]  # one input chunk covers the slab: a view, no copy
    else:
        slab = np.empty(win_shape, dtype=dtype)
        for part, dst, srcs in zip(parts, dst_slices, src_slices):
            slab[dst] = part[srcs]
    if direction == "forward":
        return plan(slab, out_window=block, num_threads=nthreads)
    return plan.backward(slab, in_window=block, num_threads=nthreads)


def _pieces(window, bounds):
    """Per axis: the source chunks a window overlaps, with where each piece goes."""
    per_axis = []
    for sl, b in zip(window, bounds):
        first = bisect.bisect_right(b, sl.start) - 1
        last = bisect.bisect_left(b, sl.stop)  # chunks first..last-1 overlap [start, stop)
        axis = []
        for i in range(first, last):
            lo, hi = max(sl.start, b[i]), min(sl.stop, b[i + 1])
            axis.append((i, slice(lo - b[i], hi - b[i]), slice(lo - sl.start, hi - sl.start)))
        per_axis.append(axis)
    return per_axis


def _pull(src, direction, plan_args, out_shape, out_chunks, window_of, out_dtype, nthreads):
    name = f"upsamplex-{direction}-" + tokenize(src, direction, plan_args, out_chunks, nthreads)
    bounds = [tuple(itertools.accumulate(c, initial=0)) for c in src.chunks]
    starts = [tuple(itertools.accumulate(c, initial=0)) for c in out_chunks]
    src_dtype = src.dtype
    dsk = {}
    for index in itertools.product(*(range(len(c)) for c in out_chunks)):
        block = tuple(slice(starts[a][i], starts[a][i + 1]) for a, i in enumerate(index))
        key = (name,) + index
        if any(s.stop == s.start for s in block):
            shape = tuple(s.stop - s.start for s in block)
            dsk[key] = (np.empty, shape, out_dtype)
            continue
        window = tuple(window_of(block))
        win_shape = tuple(s.stop - s.start for s in window)
        keys, dst, srcs = [], [], []
        for combo in itertools.product(*_pieces(window, bounds)):
            keys.append((src.name,) + tuple(c[0] for c in combo))
            srcs.append(tuple(c[1] for c in combo))
            dst.append(tuple(c[2] for c in combo))
        dsk[key] = (_run_block, direction, plan_args, block, win_shape, tuple(dst), tuple(srcs),
                    src_dtype, nthreads, keys)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[src])
    return da.Array(graph, name, out_chunks, dtype=out_dtype,
                    meta=np.empty((0,) * len(out_shape), dtype=out_dtype))


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------

def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False, *, axes=None, chunks=None,
                num_threads=1):
    """Lazily resample a dask array, bit-identical to :func:`upsamplex.interpolate`.

    Parameters
    ----------
    x : dask.array.Array
        The input. Without ``axes`` it is laid out ``(N, C, *spatial)`` as in
        torch; with ``axes`` any layout works.
    size, scale_factor, mode, align_corners, recompute_scale_factor, antialias, axes
        Exactly as in :func:`upsamplex.interpolate`.
    chunks : int, tuple or str, optional
        Chunks of the output, in any form ``dask.array`` accepts, one entry per
        axis. By default the batch axes keep the input's chunks and each output
        block holds about as many bytes as one input block; ragged edges are fine.
    num_threads : int, optional
        OpenMP threads per task (default 1: dask already runs one task per
        worker thread).

    Returns
    -------
    dask.array.Array
        Lazy; ``.compute()`` equals ``upsamplex.interpolate(x.compute(), ...)``
        bit for bit.

    Examples
    --------
    >>> import dask.array as da
    >>> import upsamplex.dask as uxd
    >>> x = da.ones((1, 1, 100, 100), dtype="float32", chunks=32)
    >>> y = uxd.interpolate(x, scale_factor=2.5, mode="bicubic")
    >>> y.shape, y.chunksize
    ((1, 1, 250, 250), (1, 1, 32, 32))
    >>> float(y[0, 0, 120, 7].compute())
    1.0
    """
    _check_dask_array(x, "x", "interpolate")
    num_threads = _check_num_threads(num_threads)
    plan_args, plan = _plan_args(x.shape, x.dtype, size, scale_factor, mode, align_corners,
                                 recompute_scale_factor, antialias, axes)
    out_shape = tuple(plan.out_shape)
    out_chunks = _out_chunks(chunks, x, out_shape, tuple(plan.axes), plan.dtype)
    return _pull(x, "forward", plan_args, out_shape, out_chunks, plan.input_window,
                 np.dtype(plan.dtype), num_threads)


def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None,
                         mode="nearest", align_corners=None, recompute_scale_factor=None,
                         antialias=False, *, axes=None, chunks=None, num_threads=1):
    """Lazily compute interpolate's gradient for a dask ``grad_output``.

    Bit-identical to :func:`upsamplex.interpolate_backward` on the computed
    array: each block of the result pulls the ``grad_output`` window its
    adjoint tables touch (``plan.grad_window``).

    Parameters
    ----------
    grad_output : dask.array.Array
        Gradient with respect to interpolate's output.
    input_shape : tuple of int
        Shape of interpolate's input (the shape of the result).
    size, scale_factor, mode, align_corners, recompute_scale_factor, antialias, axes
        The arguments of the forward call.
    chunks : int, tuple or str, optional
        Chunks of the result; by default about ``grad_output``'s block size.
    num_threads : int, optional
        OpenMP threads per task (default 1).

    Returns
    -------
    dask.array.Array
        The gradient with respect to the input, lazily.

    Examples
    --------
    >>> import dask.array as da
    >>> import upsamplex.dask as uxd
    >>> g = da.ones((1, 1, 8, 8), dtype="float64", chunks=3)
    >>> gx = uxd.interpolate_backward(g, (1, 1, 4, 4), scale_factor=2, mode="nearest")
    >>> float(gx.sum().compute())
    64.0
    """
    _check_dask_array(grad_output, "grad_output", "interpolate_backward")
    num_threads = _check_num_threads(num_threads)
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in input_shape):
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}")
    plan_args, plan = _plan_args(input_shape, grad_output.dtype, size, scale_factor, mode,
                                 align_corners, recompute_scale_factor, antialias, axes)
    if tuple(grad_output.shape) != tuple(plan.out_shape):
        raise ValueError(
            f"grad_output has shape {tuple(grad_output.shape)}, but interpolate with these "
            f"arguments gives {tuple(plan.out_shape)} for input_shape {tuple(input_shape)}"
        )
    in_shape = tuple(plan.in_shape)
    out_chunks = _out_chunks(chunks, grad_output, in_shape, tuple(plan.axes), plan.dtype)
    return _pull(grad_output, "backward", plan_args, in_shape, out_chunks, plan.grad_window,
                 np.dtype(plan.dtype), num_threads)


# ---------------------------------------------------------------------------
# Pyramids and OME-Zarr
# ---------------------------------------------------------------------------

class Pyramid(list):
    """The levels of a pyramid (a list of dask arrays), with where their pixels sit.

    ``scales[k]`` and ``translations[k]`` map level ``k``'s pixel indices to
    level-0 pixel coordinates per axis: level-``k`` pixel ``i`` has its centre at
    ``i * scales[k][a] + translations[k][a]`` level-0 pixels along axis ``a``.
    """

    def __init__(self, levels, scales, translations, axes, mode):
        super().__init__(levels)
        self.scales = [tuple(s) for s in scales]
        self.translations = [tuple(t) for t in translations]
        self.axes = tuple(axes)
        self.mode = mode


def _step_transform(mode, align_corners, n_in, n_out):
    """(scale, translation) of one resampling step, in input pixels per output pixel.

    Half-pixel modes (area, linear, cubic, antialiased) put output pixel ``i``'s
    centre at ``(i + 0.5) * s - 0.5`` input pixels, ``s = n_in / n_out``: for a
    2x area downscale that is the centre of the 2-pixel box, a shift of +0.5.
    ``nearest`` copies input ``floor(i * s)`` and ``nearest-exact`` input
    ``floor((i + 0.5) * s)``: exact positions for integer factors.
    """
    if align_corners:
        return ((n_in - 1) / (n_out - 1) if n_out > 1 else 1.0), 0.0
    s = n_in / n_out
    if mode == "nearest":
        return s, 0.0
    if mode == "nearest-exact":
        return s, float(min(math.floor(0.5 * s), n_in - 1))
    return s, 0.5 * (s - 1.0)


def _check_factor(factor, n_axes):
    values = factor if isinstance(factor, (tuple, list)) else (factor,) * n_axes
    if len(values) != n_axes:
        raise ValueError(f"factor must be an int or one int per resampled axis ({n_axes}), "
                         f"got {factor!r}")
    out = []
    for f in values:
        if isinstance(f, bool) or not isinstance(f, numbers.Integral):
            raise TypeError(f"factor must be an int or a tuple of ints, got {factor!r}")
        if f < 1:
            raise ValueError(f"factor must be at least 1 along every axis, got {factor!r}")
        out.append(int(f))
    if all(f == 1 for f in out):
        raise ValueError(f"factor must be above 1 along at least one axis, got {factor!r}")
    return tuple(out)


def pyramid(x, levels, factor=2, mode="area", *, axes=None, source="previous", align_corners=None,
            antialias=False, chunks=None, num_threads=1):
    """Lazily build a multiscale pyramid: ``x`` and ``levels - 1`` downscaled copies.

    Level ``k`` has length ``n_{k-1} // factor`` along each resampled axis. Each
    level is computed with :func:`interpolate` (``size=`` those lengths), so it
    equals the in-memory chain bit for bit.

    Parameters
    ----------
    x : dask.array.Array
        Level 0.
    levels : int
        Number of arrays in the result, level 0 (``x`` itself) included.
    factor : int or tuple of int, optional
        Downscale factor per level and resampled axis (default 2; 1 leaves an
        axis alone, e.g. a coarse z).
    mode : str, optional
        Interpolation mode (default ``"area"``: the mean of each box).
    axes : tuple of int, optional
        The resampled axes, as in :func:`upsamplex.interpolate`.
    source : {"previous", "full"}, optional
        Build level ``k`` from level ``k - 1`` (default: each level reads an
        input ``factor**d`` times smaller, so the whole pyramid costs about one
        pass over ``x``) or from ``x`` itself (every level reads all of ``x``;
        slower, measured in ``benchmarks/bench_dask.py``, and for ``area`` on
        divisible sizes the same boxes up to float rounding).
    align_corners, antialias : optional
        As in :func:`upsamplex.interpolate`.
    chunks : optional
        Output chunks for every level (see :func:`interpolate`); by default
        each level keeps the input's block size in bytes.
    num_threads : int, optional
        OpenMP threads per task (default 1).

    Returns
    -------
    Pyramid
        A list of dask arrays with ``scales`` / ``translations`` (level-0 pixel
        units) that :func:`to_zarr` writes as OME-Zarr coordinate transformations.

    Examples
    --------
    >>> import dask.array as da
    >>> import upsamplex.dask as uxd
    >>> vol = da.zeros((64, 64, 64), dtype="float32", chunks=32)
    >>> p = uxd.pyramid(vol, levels=3, axes=(0, 1, 2))
    >>> [lvl.shape for lvl in p]
    [(64, 64, 64), (32, 32, 32), (16, 16, 16)]
    >>> p.translations[1]
    (0.5, 0.5, 0.5)
    """
    _check_dask_array(x, "x", "interpolate")
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral):
        raise TypeError(f"levels must be an int, got {type(levels).__name__}")
    if levels < 1:
        raise ValueError(f"levels must be at least 1 (level 0 is the input), got {levels}")
    if source not in ("previous", "full"):
        raise ValueError(f"source must be 'previous' or 'full', got {source!r}")
    # The plan normalises axes (negative values, defaults) and checks mode / dtype once.
    _, base = _plan_args(x.shape, x.dtype, None, 1.0, mode, align_corners, None, antialias, axes)
    spatial = tuple(base.axes)
    factors = _check_factor(factor, len(spatial))
    sizes = [tuple(int(x.shape[a]) for a in spatial)]
    for k in range(1, levels):
        nxt = tuple(n // f for n, f in zip(sizes[-1], factors))
        for a, n_prev, n, f in zip(spatial, sizes[-1], nxt, factors):
            if n < 1:
                raise ValueError(
                    f"levels={levels} with factor={factor!r} would shrink axis {a} (length "
                    f"{x.shape[a]}) below 1 sample at level {k} ({n_prev} // {f}); at most "
                    f"{k} levels fit"
                )
        sizes.append(nxt)

    result = [x]
    scales = [(1.0,) * x.ndim]
    translations = [(0.0,) * x.ndim]
    for k in range(1, levels):
        src = result[-1] if source == "previous" else x
        src_sizes = sizes[k - 1] if source == "previous" else sizes[0]
        result.append(interpolate(src, size=sizes[k], mode=mode, align_corners=align_corners,
                                  antialias=antialias, axes=spatial, chunks=chunks,
                                  num_threads=num_threads))
        scale = list(scales[-1] if source == "previous" else scales[0])
        trans = list(translations[-1] if source == "previous" else translations[0])
        for a, n_in, n_out in zip(spatial, src_sizes, sizes[k]):
            s, t = _step_transform(mode, align_corners, n_in, n_out)
            # Compose: level-k index -> source-level coordinate -> level-0 coordinate.
            trans[a] = scale[a] * t + trans[a]
            scale[a] = scale[a] * s
        scales.append(tuple(scale))
        translations.append(tuple(trans))
    return Pyramid(result, scales, translations, spatial, mode)


_DEFAULT_NAMES = {1: ("x",), 2: ("y", "x"), 3: ("z", "y", "x")}
_AXIS_TYPES = {"x": "space", "y": "space", "z": "space", "c": "channel", "t": "time"}


def _axis_names(ndim, spatial, axis_names):
    if axis_names is not None:
        names = tuple(axis_names)
        if len(names) != ndim or not all(isinstance(n, str) for n in names):
            raise ValueError(f"axis_names must be {ndim} strings, one per axis, got "
                             f"{axis_names!r}")
        if len(set(names)) != ndim:
            raise ValueError(f"axis_names must be distinct, got {axis_names!r}")
        return names
    others = [a for a in range(ndim) if a not in spatial]
    if len(spatial) > 3 or len(others) > 2:
        raise ValueError(f"pass axis_names= for a {ndim}-D array with {len(spatial)} resampled "
                         "axes; OME-Zarr names at most t, c, z, y, x")
    names = [""] * ndim
    for a, n in zip(spatial, _DEFAULT_NAMES[len(spatial)]):
        names[a] = n
    for a, n in zip(others, ("c",) if len(others) == 1 else ("t", "c")):
        names[a] = n
    return tuple(names)


def _is_regular(chunks):
    return all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in chunks)


def to_zarr(levels, store, *, overwrite=False, axis_names=None, pixel_size=None, units=None,
            name=None, compute=True):
    """Write pyramid levels as an OME-Zarr multiscales group (NGFF 0.5, zarr v3).

    Level ``k`` goes to array ``"k"``; its ``coordinateTransformations`` put
    every pixel centre where the resampling really put it (for a 2x area
    downscale: ``scale`` 2 and ``translation`` +0.5 level-0 pixels).

    Parameters
    ----------
    levels : Pyramid, list of dask.array.Array or dask.array.Array
        From :func:`pyramid` (its transforms are used), or plain arrays (then
        each level's scale is the size ratio to level 0 and its translation the
        half-pixel shift ``(scale - 1) / 2``, right for area / linear / cubic).
    store : str, os.PathLike or zarr store
        Where to write the group.
    overwrite : bool, optional
        Replace an existing group or array at ``store``; without it, an existing
        target is an error.
    axis_names : sequence of str, optional
        One name per axis; by default the resampled axes are ``z, y, x`` (the
        last ones) and the others ``c`` or ``t, c``.
    pixel_size : sequence of float, optional
        Level-0 physical pixel size per axis (default 1).
    units : sequence of str or None, optional
        Unit per axis (e.g. ``"micrometer"``), written into ``axes``.
    name : str, optional
        The multiscale's name.
    compute : bool, optional
        Write now (default) or return a ``dask.delayed`` that writes when computed.

    Returns
    -------
    zarr.Group or dask.delayed.Delayed
        The written group (or the delayed write when ``compute=False``).

    Examples
    --------
    >>> import dask.array as da, tempfile, os
    >>> import upsamplex.dask as uxd
    >>> p = uxd.pyramid(da.zeros((1, 32, 32), dtype="uint16", chunks=16), 2, axes=(1, 2))
    >>> g = uxd.to_zarr(p, os.path.join(tempfile.mkdtemp(), "img.zarr"))
    >>> g.attrs["ome"]["multiscales"][0]["datasets"][1]["coordinateTransformations"][1]
    {'type': 'translation', 'translation': [0.0, 0.5, 0.5]}
    """
    import zarr  # only when writing

    if isinstance(levels, da.Array):
        levels = [levels]
    if not isinstance(levels, (list, tuple)) or not levels:
        raise TypeError(f"levels must be a non-empty list of dask arrays (e.g. from "
                        f"pyramid()), got {type(levels).__name__}")
    for k, lvl in enumerate(levels):
        _check_dask_array(lvl, f"levels[{k}]", "interpolate")
    ndim = levels[0].ndim
    if any(lvl.ndim != ndim for lvl in levels):
        raise ValueError(f"all levels must have the same number of axes, got "
                         f"{[lvl.ndim for lvl in levels]}")
    if isinstance(levels, Pyramid):
        scales, translations, spatial = levels.scales, levels.translations, levels.axes
    else:
        shape0 = levels[0].shape
        spatial = tuple(a for a in range(ndim)
                        if any(lvl.shape[a] != shape0[a] for lvl in levels))
        spatial = spatial or tuple(range(max(0, ndim - 3), ndim))
        scales, translations = [], []
        for lvl in levels:
            s = tuple(shape0[a] / lvl.shape[a] for a in range(ndim))
            scales.append(s)
            translations.append(tuple(0.5 * (v - 1.0) for v in s))
    names = _axis_names(ndim, spatial, axis_names)
    px = (1.0,) * ndim if pixel_size is None else tuple(float(p) for p in pixel_size)
    if len(px) != ndim or not all(math.isfinite(p) and p > 0 for p in px):
        raise ValueError(f"pixel_size must be {ndim} positive numbers, got {pixel_size!r}")
    if units is not None and len(units) != ndim:
        raise ValueError(f"units must have {ndim} entries (None for none), got {units!r}")

    if isinstance(store, (str, os.PathLike)) and os.path.exists(store) and not overwrite:
        raise ValueError(f"store {os.fspath(store)!r} already exists; pass overwrite=True to "
                         "replace it")
    try:
        group = zarr.open_group(store, mode="w" if overwrite else "w-", zarr_format=3)
    except (FileExistsError, zarr.errors.ContainsGroupError,
            zarr.errors.ContainsArrayError) as exc:
        raise ValueError(f"store {store!r} already holds zarr data; pass overwrite=True to "
                         f"replace it ({exc})") from None

    axes_meta = []
    for a, n in enumerate(names):
        entry = {"name": n}
        if n in _AXIS_TYPES:
            entry["type"] = _AXIS_TYPES[n]
        if units is not None and units[a] is not None:
            entry["unit"] = units[a]
        axes_meta.append(entry)
    datasets, sources, targets = [], [], []
    for k, lvl in enumerate(levels):
        if not _is_regular(lvl.chunks):
            lvl = lvl.rechunk(lvl.chunksize)
        arr = group.create_array(str(k), shape=lvl.shape, dtype=lvl.dtype, chunks=lvl.chunksize,
                                 dimension_names=names)
        sources.append(lvl)
        targets.append(arr)
        datasets.append({"path": str(k), "coordinateTransformations": [
            {"type": "scale", "scale": [float(s * p) for s, p in zip(scales[k], px)]},
            {"type": "translation",
             "translation": [float(t * p) for t, p in zip(translations[k], px)]},
        ]})
    multiscale = {"axes": axes_meta, "datasets": datasets}
    if name is not None:
        multiscale["name"] = str(name)
    if isinstance(levels, Pyramid):
        multiscale["type"] = levels.mode
        multiscale["metadata"] = {"method": "upsamplex.dask.pyramid", "mode": levels.mode,
                                  "version": upsamplex.__version__}
    group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    stored = da.store(sources, targets, lock=False, compute=compute)
    return group if compute else stored
