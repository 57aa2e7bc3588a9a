"""upsamplex: torch-free, Cython-accelerated upsampling for NumPy arrays.

Every ``torch.nn.functional.interpolate`` mode, its gradient, and transposed
convolution, equal to PyTorch's numbers, with no PyTorch at run time.
"""

from . import nn, optim  # their layers look the functional ops up at call time
from ._conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_backward,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    conv_transpose_backward,
)
from ._interpolate import interpolate, interpolate_backward, plan, resize
from ._kernels import _openmp
from ._plan import Plan
from ._upsample import Upsample

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "interpolate",
    "interpolate_backward",
    "plan",
    "Plan",
    "resize",
    "Upsample",
    "nn",
    "optim",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_backward",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_backward",
    "show_config",
]


def show_config(file=None):
    """Print how this build of upsamplex was compiled.

    Parameters
    ----------
    file : file-like, optional
        Where to write; defaults to ``sys.stdout``.

    Returns
    -------
    dict
        The same facts as a dictionary: version, whether OpenMP was linked, and
        the default thread count.

    Examples
    --------
    >>> import upsamplex as ux
    >>> cfg = ux.show_config()  # doctest: +SKIP
    """
    import sys

    import numpy as np

    info = {
        "version": __version__,
        "numpy": np.__version__,
        "openmp": _openmp.openmp_enabled(),
        "max_threads": _openmp.max_threads(),
    }
    out = sys.stdout if file is None else file
    for key, value in info.items():
        print(f"{key:>12}: {value}", file=out)
    return info
