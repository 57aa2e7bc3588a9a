"""The Upsample layer: interpolate() with its arguments bound, and its backward."""

import numpy as np

from ._interpolate import interpolate, interpolate_backward


class Upsample:
    """Upsample (or downsample) arrays; ``torch.nn.Upsample`` without torch.

    Parameters
    ----------
    size : int or tuple of int, optional
        Output spatial size.
    scale_factor : float or tuple of float, optional
        Multiplier for the spatial size (stored as float, as torch does).
    mode : str, default 'nearest'
        Any mode of :func:`upsamplex.interpolate`.
    align_corners : bool, optional
        For the linear modes and bicubic.
    recompute_scale_factor : bool, optional
        As in :func:`upsamplex.interpolate`.
    antialias : bool, default False
        As in :func:`upsamplex.interpolate`.
    axes : int or tuple of int, optional
        The spatial axes of the inputs (None: torch's ``(N, C, *spatial)``).

    Notes
    -----
    Like torch, the arguments are checked when the layer is called. ``backward``
    uses the shape seen by the last forward call.

    Examples
    --------
    >>> import numpy as np
    >>> import upsamplex as ux
    >>> up = ux.Upsample(scale_factor=2, mode="bilinear")
    >>> up
    Upsample(scale_factor=2.0, mode='bilinear')
    >>> y = up(np.ones((1, 1, 2, 2), dtype=np.float32))
    >>> y.shape
    (1, 1, 4, 4)
    >>> up.backward(np.ones_like(y)).sum()
    np.float32(16.0)
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None, antialias=False, *, axes=None):
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(_as_float(s) for s in scale_factor)
        elif scale_factor is not None:
            self.scale_factor = _as_float(scale_factor)
        else:
            self.scale_factor = None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        self.antialias = antialias
        self.axes = axes
        self._input_shape = None

    def _kwargs(self):
        return dict(size=self.size, scale_factor=self.scale_factor, mode=self.mode,
                    align_corners=self.align_corners,
                    recompute_scale_factor=self.recompute_scale_factor,
                    antialias=self.antialias, axes=self.axes)

    def forward(self, input, *, out=None, num_threads=None):
        """Resample `input`; remembers its shape for :meth:`backward`."""
        result = interpolate(input, out=out, num_threads=num_threads, **self._kwargs())
        self._input_shape = np.shape(input)
        return result

    __call__ = forward

    def backward(self, grad_output, *, out=None, num_threads=None):
        """Gradient with respect to the input of the last :meth:`forward` call."""
        if self._input_shape is None:
            raise ValueError(
                "Upsample.backward() was called before forward(); call the layer on an "
                "input first so it knows the input shape"
            )
        return interpolate_backward(grad_output, self._input_shape, out=out,
                                    num_threads=num_threads, **self._kwargs())

    def __repr__(self):
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        info += f", mode={self.mode!r}"
        if self.align_corners is not None:
            info += f", align_corners={self.align_corners!r}"
        if self.recompute_scale_factor is not None:
            info += f", recompute_scale_factor={self.recompute_scale_factor!r}"
        if self.antialias:
            info += ", antialias=True"
        if self.axes is not None:
            info += f", axes={self.axes!r}"
        return f"Upsample({info})"


def _as_float(value):
    # Real numbers are stored as float (torch's rule); anything else (a string,
    # a bool) is left as given for interpolate() to refuse with a clear message.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return value
    return float(value)
