"""interpolate(), interpolate_backward(), resize() and plan(): validate, plan, run.

The computation itself lives in :class:`upsamplex._plan.Plan`, built from the
global geometry (torch 2.13's ``F.interpolate`` rules) and cached, since a
training loop calls the same configuration many times.
"""

import numpy as np

from . import _validation as v
from ._axis_tables import axis_table, axis_table_adjoint, axis_table_uint8  # noqa: F401
from ._plan import FILTER_DTYPES, GRAD_DTYPES, MODES, Plan, cached_plan  # noqa: F401

_PARAMS = """size : int or tuple of int, optional
        Output size of each spatial axis (in the order of `axes`). Exactly one of
        `size` and `scale_factor` is given.
    scale_factor : float or tuple of float, optional
        Multiplier for each spatial size; the output size is
        ``floor(input_size * scale_factor)``.
    mode : str, default 'nearest'
        'nearest', 'nearest-exact', 'linear' (1 spatial axis), 'bilinear' (2),
        'trilinear' (3), 'bicubic' (1-3; 2 in torch), 'area' or 'lanczos'
        (1-3; needs antialias).
    align_corners : bool, optional
        For the linear modes and bicubic: align the centres of the corner pixels
        (True) or their outer edges (False, the default when None).
    recompute_scale_factor : bool, optional
        If True, the kernel uses ``input_size / output_size`` instead of the
        given `scale_factor` (only meaningful with `scale_factor`).
    antialias : bool, default False
        Filter with a support widened by the downscaling factor (the linear
        modes, 'bicubic', 'lanczos'; any rank); matches PIL when downsampling.
    axes : int or tuple of int, optional
        The spatial axes (negative counts from the end); every other axis is a
        batch axis. None: torch's layout ``(N, C, *spatial)``."""


def _doc(func):
    func.__doc__ = func.__doc__.replace("{params}", _PARAMS)
    return func


def plan(shape, dtype, size=None, scale_factor=None, mode="nearest", align_corners=None,
         recompute_scale_factor=None, antialias=False, *, axes=None):
    """Build the execution plan of a resampling once, to run it many times.

    The plan holds everything that decides the arithmetic (per-axis tables,
    pass order, dtype path) from the global geometry, so a call costs only
    microseconds more than the kernel, and any window of the output can be
    computed from the input slab it needs, bit-identically to the whole.

    Parameters
    ----------
    shape : tuple of int
        Shape of the input arrays the plan will run on.
    dtype : dtype
        Their dtype (the output has the same).
    {params}

    Returns
    -------
    Plan
        ``p(x, out=None, out_window=None, num_threads=None)`` resamples;
        ``p.backward(g, out=None, in_window=None, num_threads=None)`` gives the
        gradient; ``p.input_window(out_window)`` / ``p.grad_window(in_window)``
        name the slabs a window reads; ``p.in_shape``, ``p.out_shape``,
        ``p.axes``, ``p.dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> x = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> p = ux.plan(x.shape, x.dtype, scale_factor=2, mode="bilinear", axes=(0, 1))
    >>> p.out_shape
    (6, 8)
    >>> w = (slice(2, 4), slice(5, 8))
    >>> p.input_window(w)
    (slice(0, 3, None), slice(2, 4, None))
    >>> np.array_equal(p(x[p.input_window(w)], out_window=w), p(x)[w])
    True
    """
    shape = _check_input_shape(shape, "shape")
    return Plan(shape, dtype, size, scale_factor, mode, align_corners, recompute_scale_factor,
                antialias, axes=axes)


@_doc
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False, *, axes=None, out=None,
                num_threads=None):
    """Resample an array exactly as ``torch.nn.functional.interpolate``.

    Parameters
    ----------
    input : ndarray
        ``(N, C, W)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)`` (torch's layout), or
        any shape with `axes` naming its 1 to 3 spatial axes. float16/32/64,
        uint8, uint16 and int16 in every mode; any numeric dtype for 'nearest'
        and 'nearest-exact'. Any strides (views are not copied).
    {params}
    out : ndarray, optional
        Array to write the result into: exact shape and dtype, writable.
    num_threads : int, optional
        Threads to use; defaults to all cores (honours ``OMP_NUM_THREADS``).

    Returns
    -------
    ndarray
        The resampled array, dtype of `input`; the output keeps the input's
        memory layout (channels-last stays channels-last). ``out`` when given.

    See Also
    --------
    interpolate_backward : the gradient with respect to `input`.
    plan : the same computation built once, with windows.
    resize : image-shaped convenience (antialias when shrinking).
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
    >>> rgb = np.zeros((4, 6, 3), dtype=np.uint8)              # (H, W, C)
    >>> ux.interpolate(rgb, scale_factor=0.5, mode="bilinear", antialias=True,
    ...                axes=(0, 1)).shape
    (2, 3, 3)
    """
    x = v.as_array(input)
    p = cached_plan(x.shape, x.dtype, size, scale_factor, mode, align_corners,
                    recompute_scale_factor, antialias, axes)
    return p(x, out=out, num_threads=num_threads)


def _check_input_shape(input_shape, name="input_shape"):
    if isinstance(input_shape, np.ndarray):
        input_shape = input_shape.tolist()
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(
            f"{name} must be a tuple of ints, got {type(input_shape).__name__}"
        )
    shape = tuple(v.as_int(s, name) for s in input_shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"{name} must not contain negative sizes, got {shape}")
    return shape


@_doc
def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None,
                         mode="nearest", align_corners=None, recompute_scale_factor=None,
                         antialias=False, *, axes=None, out=None, num_threads=None):
    """Gradient of :func:`interpolate` with respect to its input.

    The exact adjoint of upsamplex's forward: ``<interpolate(x), g> ==
    <x, interpolate_backward(g, x.shape, ...)>`` to rounding. Each input
    element gathers from the outputs that read it, so the result does not
    depend on `num_threads`.

    Parameters
    ----------
    grad_output : ndarray
        Gradient with respect to the forward's output, float16, float32 or
        float64 (float16 computes in float32), of the shape the forward produced.
    input_shape : tuple of int
        Shape of the forward's input.
    {params}
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
    if g.dtype not in GRAD_DTYPES:
        raise TypeError(
            f"grad_output dtype {g.dtype} is not supported; expected float16, float32 or "
            "float64"
        )
    p = cached_plan(shape, g.dtype, size, scale_factor, mode, align_corners,
                    recompute_scale_factor, antialias, axes, name="input_shape")
    return p.backward(g, out=out, num_threads=num_threads)


_RESIZE_MODES = {"nearest": "nearest", "nearest-exact": "nearest-exact", "area": "area",
                 "linear": "linear", "bilinear": "linear", "trilinear": "linear",
                 "cubic": "bicubic", "bicubic": "bicubic", "lanczos": "lanczos"}
_LINEAR_BY_RANK = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resize(image, shape, *, mode="bilinear", antialias=None, channel_axis=None, out=None,
           num_threads=None):
    """Resize an image-shaped array: ``(H, W)``, ``(H, W, C)``, ``(Z, Y, X)``, ...

    A convenience over :func:`interpolate` with image-library defaults.

    Parameters
    ----------
    image : ndarray
        Any dtype :func:`interpolate` takes for `mode`.
    shape : tuple of int
        The new sizes of the spatial axes, in array order: ``(height, width)``
        for an image, as NumPy shapes are -- *not* PIL's ``(width, height)``
        ``size`` nor OpenCV's ``dsize=(width, height)``. Axes after the last one
        `shape` covers are kept as they are (channels), as scikit-image does.
    mode : str, default 'bilinear'
        'nearest', 'nearest-exact', 'linear' (or 'bilinear' / 'trilinear': the
        linear filter in however many axes `shape` has), 'bicubic' ('cubic'),
        'area' or 'lanczos'.
    antialias : bool, optional
        None (default): on when any axis shrinks and the mode has a filter to
        widen -- the behaviour of PIL, scikit-image and ``jax.image.resize``.
        torch's ``interpolate`` defaults to False instead, which aliases when
        shrinking. 'lanczos' always antialiases.
    channel_axis : int, optional
        An axis that is never resized (e.g. ``0`` for ``(C, H, W)``); then `shape`
        names every other axis, in order.
    out, num_threads
        As in :func:`interpolate`.

    Returns
    -------
    ndarray
        The resized image, same dtype and layout.

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> photo = np.zeros((480, 640, 3), dtype=np.uint8)
    >>> ux.resize(photo, (240, 320)).shape              # (H, W): antialias on
    (240, 320, 3)
    >>> ux.resize(np.zeros((3, 8, 8), np.float32), (4, 4), channel_axis=0).shape
    (3, 4, 4)
    """
    key = None
    if (type(image) is np.ndarray and type(shape) is tuple and type(mode) is str
            and type(antialias) in _RESIZE_FLAG_TYPES
            and type(channel_axis) in _RESIZE_AXIS_TYPES):
        key = (image.shape, image.dtype, shape, tuple(map(type, shape)), mode, antialias,
               channel_axis)
        p = _RESIZE_PLANS.get(key)
        if p is not None:
            return p(image, out=out, num_threads=num_threads)
    x = v.as_array(image, "image")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__}")
    if not isinstance(mode, str) or mode not in _RESIZE_MODES:
        raise ValueError(
            f"mode must be one of {', '.join(repr(m) for m in _RESIZE_MODES)}; got {mode!r}"
        )
    if channel_axis is not None:
        c = v.as_int(channel_axis, "channel_axis")
        if not -x.ndim <= c < x.ndim:
            raise ValueError(
                f"channel_axis {c} is out of range for a {x.ndim}-D image"
            )
        spatial = tuple(a for a in range(x.ndim) if a != c % x.ndim)
        if len(shape) != len(spatial):
            raise ValueError(
                f"shape must give the {len(spatial)} non-channel axes of a {x.ndim}-D "
                f"image with channel_axis={channel_axis}, got {len(shape)}: {tuple(shape)}"
            )
    else:
        if not 1 <= len(shape) <= x.ndim:
            raise ValueError(
                f"shape must have 1 to {x.ndim} entries for a {x.ndim}-D image, got "
                f"{len(shape)}: {tuple(shape)}"
            )
        spatial = tuple(range(len(shape)))
    if len(spatial) > 3:
        raise ValueError(f"resize handles 1 to 3 spatial axes, got {len(spatial)}")
    size = tuple(v.as_int(s, "shape") for s in shape)
    base = _RESIZE_MODES[mode]
    if base == "linear":
        base = _LINEAR_BY_RANK[len(spatial)]
    if antialias is None:
        shrinks = any(n < x.shape[a] for n, a in zip(size, spatial, strict=True))
        antialias = shrinks and base not in ("nearest", "nearest-exact", "area")
    antialias = bool(antialias) or base == "lanczos"
    p = cached_plan(x.shape, x.dtype, size, None, base, None, None, antialias, spatial)
    if key is not None and p.nbytes <= _RESIZE_PLAN_BYTES:
        if len(_RESIZE_PLANS) >= _RESIZE_PLANS_KEPT:
            _RESIZE_PLANS.clear()
        _RESIZE_PLANS[key] = p
    return p(x, out=out, num_threads=num_threads)


# The plans of recent resize calls by their raw arguments: a repeated call skips
# the argument checks and the plan cache's key (its per-call cost on small images).
# Only small plans: the plan cache's byte bound stays the memory bound.
_RESIZE_PLANS = {}
_RESIZE_PLANS_KEPT = 32
_RESIZE_PLAN_BYTES = 256 << 10
_RESIZE_FLAG_TYPES = (type(None), bool)
_RESIZE_AXIS_TYPES = (type(None), int)
