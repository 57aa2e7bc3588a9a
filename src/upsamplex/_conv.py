"""Convolution and transposed convolution (1-D/2-D/3-D), forward and backward: the API.

Equal to ``torch.nn.functional.conv{1,2,3}d`` / ``conv_transpose{1,2,3}d`` and their
autograd gradients. This module holds the public functions and their documentation;
the work is split by concern:

* ``_conv_geometry``  arguments -> a validated problem on 3-D spatial grids;
* ``_conv_lowering``  the problem -> im2col / stride-phase gathers / Winograd around
                      NumPy GEMMs (see there for the algebra);
* ``_conv_threads``   the team size of the GEMM kernels, BLAS held to one thread.
"""

import numpy as np

from . import _conv_geometry as geometry
from . import _conv_lowering as lowering
from ._validation import allocate, check_num_threads, check_out

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


# --------------------------------------------------------------------------- output buffers


def _output_buffer(out, shape, dtype, inputs, args):
    """Return a contiguous buffer of ``shape`` to compute into (``out`` itself when possible).

    ``args`` names the geometry arguments the shape follows from, for the error when it
    cannot be allocated (a huge padding or stride, not a lack of memory, is the usual cause).
    """
    if out is None:
        try:
            # np.empty first: allocate's size check costs more than a small conv.
            return np.empty(shape, dtype)
        except (MemoryError, ValueError):
            pass
        try:
            return allocate(shape, dtype)
        except ValueError as exc:
            raise ValueError(f"{exc}: it follows from {args}") from None
    check_out(out, shape, dtype)
    # Unlike interpolate, an out= that overlaps an operand is allowed: compute aside.
    if (
        out.flags.c_contiguous
        and out.flags.aligned
        and not any(np.may_share_memory(out, a) for a in inputs if a is not None)
    ):
        return out
    return np.empty(shape, dtype)


def _deliver(buffer, out):
    if out is None or buffer is out:
        return buffer
    out[...] = buffer
    return out


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
        and BLAS uses its own threads). Results do not depend on it. In a process
        forked from one that had imported upsamplex it is always 1 (threads do not
        survive ``fork``). Ctrl-C stops the workers after their current tile.""",
    "mask": """output_mask : tuple or list of 3 bool, default (True, True, True)
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
        For inconsistent shapes, channels, groups or geometry, an empty output, an
        output too large to allocate, or an ``out`` whose elements overlap.""",
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


# Tiny calls. A call signature (shapes, dtypes, strides, plain geometry arguments)
# that a first call validated, and that the direct kernel runs as one chunk on one
# thread, is bound to that kernel call: later calls skip validation and dispatch
# (the per-call Python cost is most of a small convolution). Same kernel, same
# arguments: the same bits.
_BOUND = {}
_BOUND_SIZE = 64


def _bound(transposed, nd, x, weight, bias, args, out, num_threads):
    """``(key, bound call or None)`` of a call; key None where calls are never bound."""
    if out is not None or num_threads is not None or lowering.FORCE_PATH is not None:
        return None, None
    key = geometry._cache_key(transposed, nd, x, weight, bias, args)
    if key is None:
        return None, None
    key += (x.strides, x.flags.aligned, weight.strides, weight.flags.aligned,
            None if bias is None else (bias.strides, bias.flags.aligned))
    return key, _BOUND.get(key)


def _bind(key, problem, x, weight, bias, transposed):
    """Remember the bound call of ``problem`` under ``key`` when it has one."""
    dtype = problem.x5.dtype
    operands = (x, weight) if bias is None else (x, weight, bias)
    if key is None or not all(a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned
                              for a in operands):
        return  # (these calls convert or copy an operand first)
    y5_shape = problem.y_shape[:2] + (problem.geom.src if transposed else problem.geom.out)
    run = lowering.bound_direct(problem, transposed, y5_shape)
    if run is None:
        return
    public_shape = problem.y_shape if problem.batched else problem.y_shape[1:]

    def call(x, weight, bias):
        y = np.empty(public_shape, dtype)
        run(x, weight, bias, y)  # (contiguous: the 5-D views are the same memory)
        return y

    if len(_BOUND) >= _BOUND_SIZE:
        _BOUND.clear()
    _BOUND[key] = call


def _conv_nd(nd, x, weight, bias, stride, padding, dilation, groups, out, num_threads):
    key, bound = _bound(False, nd, x, weight, bias, (stride, padding, dilation, groups), out,
                        num_threads)
    if bound is not None:
        return bound(x, weight, bias)
    problem = geometry.conv_problem(nd, x, weight, bias, stride, padding, dilation, groups)
    num_threads = check_num_threads(num_threads)
    public_shape = problem.y_shape if problem.batched else problem.y_shape[1:]
    buffer = _output_buffer(out, public_shape, problem.x5.dtype, (x, weight, bias), problem.args)
    y5 = buffer.reshape(problem.y_shape[:2] + problem.geom.out)
    lowering.conv_forward(problem, y5, num_threads)
    _bind(key, problem, x, weight, bias, transposed=False)
    return _deliver(buffer, out)


def _conv_transpose_nd(
    nd, x, weight, bias, stride, padding, output_padding, groups, dilation, out, num_threads
):
    key, bound = _bound(True, nd, x, weight, bias,
                        (stride, padding, output_padding, dilation, groups), out, num_threads)
    if bound is not None:
        return bound(x, weight, bias)
    problem = geometry.transpose_problem(
        nd, x, weight, bias, stride, padding, output_padding, dilation, groups
    )
    num_threads = check_num_threads(num_threads)
    public_shape = problem.y_shape if problem.batched else problem.y_shape[1:]
    buffer = _output_buffer(out, public_shape, problem.x5.dtype, (x, weight, bias), problem.args)
    y5 = buffer.reshape(problem.y_shape[:2] + problem.geom.src)
    lowering.conv_transpose_forward(problem, y5, num_threads)
    _bind(key, problem, x, weight, bias, transposed=True)
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


def _bias_grad(gy5, mask, num_threads):
    return lowering.bias_grad(gy5, num_threads) if mask[2] else None


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
    mask = geometry.check_output_mask(output_mask)
    nd = geometry.spatial_rank(weight)
    problem = geometry.conv_problem(nd, x, weight, None, stride, padding, dilation, groups)
    num_threads = check_num_threads(num_threads)
    gy5 = geometry.check_grad_output(problem, grad_output)
    grad_input, grad_weight = lowering.conv_grads(problem, gy5, mask, num_threads)
    if grad_input is not None:
        grad_input = geometry.as_x(grad_input, problem)
    if grad_weight is not None:
        grad_weight = grad_weight.reshape(np.shape(weight))
    return grad_input, grad_weight, _bias_grad(gy5, mask, num_threads)


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
    mask = geometry.check_output_mask(output_mask)
    nd = geometry.spatial_rank(weight)
    problem = geometry.transpose_problem(
        nd, x, weight, None, stride, padding, output_padding, dilation, groups
    )
    num_threads = check_num_threads(num_threads)
    gy5 = geometry.check_grad_output(problem, grad_output)
    grad_input, grad_weight = lowering.conv_transpose_grads(problem, gy5, mask, num_threads)
    if grad_input is not None:
        grad_input = geometry.as_x(grad_input, problem)
    if grad_weight is not None:
        grad_weight = grad_weight.reshape(np.shape(weight))
    return grad_input, grad_weight, _bias_grad(gy5, mask, num_threads)
