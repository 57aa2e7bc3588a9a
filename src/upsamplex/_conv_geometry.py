"""Convolution problems: argument normalisation and geometry on 3-D spatial grids.

Every public conv entry point turns its arguments into a ``Problem``: contiguous 5-D
operands (1-D and 2-D problems get leading singleton spatial axes) and a ``Geometry``
in *convolution* terms (for a transposed convolution the output is the source grid
and ``x`` the column grid). Every user mistake is a ``TypeError`` or ``ValueError``
naming the argument; the lowering (``_conv_lowering``) only sees valid problems.
"""

import operator
from typing import NamedTuple

import numpy as np

from ._validation import FLOAT_DTYPES


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


def check_output_mask(output_mask):
    """A tuple or list of three bools (``np.bool_`` too), as documented; nothing else.

    Truthiness would accept any three-character string or three arbitrary objects.
    """
    if isinstance(output_mask, np.ndarray) and output_mask.dtype == np.bool_:
        output_mask = output_mask.tolist()
    if not isinstance(output_mask, (tuple, list)):
        raise TypeError(
            f"output_mask must be a sequence of three bools, got "
            f"{type(output_mask).__name__} {output_mask!r}"
        )
    if len(output_mask) != 3:
        raise ValueError(f"output_mask must have three entries, got {output_mask!r}")
    if not all(isinstance(m, (bool, np.bool_)) for m in output_mask):
        raise TypeError(f"output_mask must contain three bools, got {output_mask!r}")
    return tuple(bool(m) for m in output_mask)


# Geometry arguments above this are refused: with them bounded, every index the kernels
# form (Py_ssize_t) stays far from overflow, whatever the sizes that pass the other checks.
_MAX_GEOMETRY = np.iinfo(np.intp).max // 8


def _bounded(name, values):
    if max(values) > _MAX_GEOMETRY:
        raise ValueError(f"{name} must be at most {_MAX_GEOMETRY}, got {values}")
    return values


def _spatial_geometry(nd, stride, padding, dilation, output_padding=None):
    stride = _bounded("stride", _int_tuple("stride", stride, nd))
    dilation = _bounded("dilation", _int_tuple("dilation", dilation, nd))
    if min(stride) < 1:
        raise ValueError(f"stride must be positive, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"dilation must be positive, got {dilation}")
    if isinstance(padding, str):
        return stride, padding, dilation
    padding = _bounded("padding", _int_tuple("padding", padding, nd))
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
    # Aligned too: the kernels load whole floats (an unaligned load is undefined in C).
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = np.require(arr, requirements=("C", "A"))
    return arr.reshape(arr.shape[:2] + (1,) * (3 - nd) + arr.shape[2:])


def _pad3(values, fill):
    return (fill,) * (3 - len(values)) + tuple(values)


class Geometry(NamedTuple):
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


class Problem(NamedTuple):
    nd: int
    batched: bool
    x5: np.ndarray  # (N, C, D, H, W) contiguous
    w5: np.ndarray  # conv-shaped weight (M, C/groups, kd, kh, kw) contiguous
    bias: np.ndarray | None
    groups: int
    geom: Geometry
    x_shape: tuple  # batched shape of x
    y_shape: tuple  # batched shape of the forward output
    args: str  # the geometry arguments, for errors about the output they give


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
    bias = None if bias is None else np.require(_float_array("bias", bias), requirements=("C", "A"))
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


# --------------------------------------------------------------------------- cached geometry
#
# A small conv costs less than validating its arguments, and training loops repeat the
# same call. The outcome of a successful validation depends only on the operands'
# shapes and dtypes and on the geometry arguments, so it is kept per key. Only plain
# ints, tuples of them and strings go into a key: ``True == 1`` hashes alike, and a
# cached entry must never accept what the full check refuses.
_CACHE_SIZE = 256
_cache = {}


def _cache_key(transposed, nd, x, weight, bias, args):
    if type(x) is not np.ndarray or type(weight) is not np.ndarray:
        return None
    if bias is not None and type(bias) is not np.ndarray:
        return None
    for a in args:  # ints, strs and tuples of ints only (2, 2.0 and True hash alike)
        kind = type(a)
        if not (kind is int or kind is str
                or kind is tuple and all(type(v) is int for v in a)):
            return None
    bias_key = None if bias is None else (bias.shape, bias.dtype.num, bias.flags.c_contiguous)
    return (transposed, nd, x.shape, x.dtype.num, weight.shape, weight.dtype.num, bias_key) + args


def _cached_problem(key, x, weight, bias):
    """The ``Problem`` of a call whose arguments were validated before, or None."""
    entry = _cache.get(key)
    if entry is None:
        return None
    batched, x_shape, geom, y_shape, args, nd = entry
    x5 = _to5d(x if batched else x[np.newaxis], nd)
    w5 = _to5d(weight, nd)
    if bias is not None and not (bias.flags.c_contiguous and bias.flags.aligned):
        bias = np.require(bias, requirements=("C", "A"))
    return Problem(nd, batched, x5, w5, bias, key[-1], geom, x_shape, y_shape, args)


def _remember(key, problem):
    if key is None:
        return problem
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    p = problem
    _cache[key] = (p.batched, p.x_shape, p.geom, p.y_shape, p.args, p.nd)
    return problem


def conv_problem(nd, x, weight, bias, stride, padding, dilation, groups):
    key = _cache_key(False, nd, x, weight, bias, (stride, padding, dilation, groups))
    cached = None if key is None else _cached_problem(key, x, weight, bias)
    if cached is not None:
        return cached
    return _remember(key, _conv_problem(nd, x, weight, bias, stride, padding, dilation, groups))


def transpose_problem(nd, x, weight, bias, stride, padding, output_padding, dilation, groups):
    args = (stride, padding, output_padding, dilation, groups)
    key = _cache_key(True, nd, x, weight, bias, args)
    cached = None if key is None else _cached_problem(key, x, weight, bias)
    if cached is not None:
        return cached
    return _remember(
        key,
        _transpose_problem(nd, x, weight, bias, stride, padding, output_padding, dilation, groups),
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
    geom = Geometry.of(kernel, stride, padding, dilation, in_size, out_size)
    y_shape = (x.shape[0], out_channels) + out_size
    args = f"stride={stride}, padding={padding}, dilation={dilation}"
    return Problem(
        nd, batched, _to5d(x, nd), _to5d(weight, nd), bias, groups, geom, x.shape, y_shape, args
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
    geom = Geometry.of(kernel, stride, padding, dilation, out_size, in_size)
    y_shape = (x.shape[0], out_channels) + out_size
    args = (
        f"stride={stride}, padding={padding}, output_padding={output_padding}, dilation={dilation}"
    )
    return Problem(
        nd, batched, _to5d(x, nd), _to5d(weight, nd), bias, groups, geom, x.shape, y_shape, args
    )


def check_grad_output(problem, grad_output):
    gy = _float_array("grad_output", grad_output)
    _check_dtypes(problem.x5, grad_output=gy)
    shape = problem.y_shape if problem.batched else problem.y_shape[1:]
    if gy.shape != shape:
        raise ValueError(f"grad_output must have shape {shape}, got shape {gy.shape}")
    return _to5d(gy.reshape(problem.y_shape), problem.nd)


def as_x(arr5, problem):
    """Reshape an x-shaped 5-D result back to the caller's x layout."""
    arr = arr5.reshape(problem.x_shape)
    return arr if problem.batched else arr[0]


def spatial_rank(weight):
    weight = np.asarray(weight)
    if not 3 <= weight.ndim <= 5:
        raise ValueError(
            f"weight must have 3, 4 or 5 dimensions (1-D, 2-D or 3-D convolution), "
            f"got shape {weight.shape}"
        )
    return weight.ndim - 2
