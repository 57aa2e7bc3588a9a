"""Argument normalisation shared by the public functions.

Every check raises ``TypeError`` (wrong kind of thing) or ``ValueError`` (right
kind, wrong value) with a message naming the argument, what it got and what it
expected. Kernels only ever see validated arguments.
"""

import math
import numbers
import operator
import os

import numpy as np

from . import _cpu
from ._kernels import _openmp

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_MAX_THREADS = max(8, 4 * (os.cpu_count() or 1))


def _type_name(value):
    return type(value).__name__


def as_array(value, name="input"):
    """Return ``value`` as an ndarray without copying an ndarray."""
    if isinstance(value, np.ndarray):
        return value
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a numpy array, got {_type_name(value)}")
    try:
        return np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - any failure means "not array-like"
        raise TypeError(f"{name} must be a numpy array, got {_type_name(value)}") from exc


def check_num_threads(num_threads):
    """The thread count a call runs on: ``None`` -> the OpenMP default (honours
    OMP_NUM_THREADS); else a positive int, capped.

    In a process forked from one that had imported upsamplex it is always 1, whatever
    was asked: GNU libgomp's thread pool does not survive ``fork`` (a parallel region of
    more than one thread would wait forever for the parent's threads), and neither do
    conv's worker threads. The argument is still validated there.
    """
    if num_threads is not None:
        if isinstance(num_threads, (bool, np.bool_)) or not isinstance(
            num_threads, (numbers.Integral, np.integer)
        ):
            raise TypeError(
                f"num_threads must be a positive integer or None, got {_type_name(num_threads)}"
            )
        num_threads = int(num_threads)
        if num_threads < 1:
            raise ValueError(
                f"num_threads must be a positive integer or None, got {num_threads}"
            )
    if _openmp.in_forked_child():
        return 1
    if num_threads is None:
        # OpenMP's default team (honours OMP_NUM_THREADS and threadpoolctl), capped
        # by a cgroup CPU quota: a container given 2 CPUs of 64 runs 2 threads.
        return min(_cpu.default_threads(_openmp.max_threads()), _MAX_THREADS)
    # More threads than this only oversubscribes the cores; a huge request
    # must not try to start thousands of OS threads.
    return min(num_threads, _MAX_THREADS)


def as_int(value, name):
    """An integer argument (Python or NumPy int, not bool, not float)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must contain integers, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must contain integers, got {_type_name(value)} {value!r}"
        ) from None


def as_float(value, name):
    """A real-number argument (int or float, Python or NumPy, not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(
            f"{name} must be a number or a tuple of numbers, got {_type_name(value)} {value!r}"
        )
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"{name} must be real, got {value!r}")
    return float(value)


def as_tuple(value, n, name):
    """Expand a scalar to ``n`` entries, or check a sequence has ``n`` entries."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return (value.item(),) * n
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{name} must have {n} entr{'y' if n == 1 else 'ies'} "
                f"(one per spatial dimension), got {len(value)}: {tuple(value)!r}"
            )
        return tuple(value)
    return (value,) * n


def check_out(out, shape, dtype, source=None, source_name="input"):
    """Validate a caller-provided output array (exact shape and dtype, writable,
    not overlapping ``source``, which the kernels read while they write)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {_type_name(out)}")
    if out.shape != tuple(shape):
        raise ValueError(f"out must have shape {tuple(shape)}, got shape {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable, got a read-only array")
    if _self_overlapping(out):
        raise ValueError(
            f"out must not have overlapping elements (a zero stride, e.g. from "
            f"np.broadcast_to, writes many results into one element), got strides "
            f"{out.strides} for shape {out.shape}"
        )
    if source is not None and out.size and np.may_share_memory(out, source):
        raise ValueError(f"out overlaps the {source_name}; pass a separate array")
    return out


def _self_overlapping(arr):
    """True unless the elements of ``arr`` provably occupy distinct memory.

    Sorted by stride, each axis of length > 1 must step past everything the faster
    axes span. Every array NumPy creates, and every view or transpose of one, passes;
    a zero stride (broadcasting) or an ``as_strided`` overlap does not. (A rare
    interleaving that does not overlap is refused too: ``out=`` then needs a copy.)
    """
    if arr.size <= 1:
        return False
    extent = arr.itemsize
    for stride, size in sorted((abs(st), n) for st, n in zip(arr.strides, arr.shape) if n > 1):
        if stride < extent:
            return True
        extent = stride * (size - 1) + extent
    return False


def allocate(shape, dtype, order_axes=None):
    """``np.empty`` with a clear error for outputs too large to allocate.

    ``order_axes`` optionally gives the memory order (slowest first) of the
    logical axes, e.g. ``(0, 2, 3, 1)`` for channels-last.
    """
    dtype = np.dtype(dtype)
    check_output_size(shape, dtype)
    try:
        if order_axes is None:
            return np.empty(shape, dtype=dtype)
        physical = np.empty([shape[a] for a in order_axes], dtype=dtype)
        return physical.transpose(np.argsort(order_axes))
    except MemoryError:
        raise _too_large(shape, dtype) from None


def check_output_size(shape, dtype, lead=""):
    """Refuse a shape no array can hold (its byte count overflows the index type);
    ``lead`` starts the message (e.g. the argument that asked for it)."""
    dtype = np.dtype(dtype)
    if math.prod(shape) > np.iinfo(np.intp).max // max(dtype.itemsize, 1):
        raise _too_large(shape, dtype, lead)


def _too_large(shape, dtype, lead=""):
    n_bytes = math.prod(shape) * dtype.itemsize
    return ValueError(f"{lead}output of shape {tuple(shape)} ({dtype}) is too large to "
                      f"allocate ({_human_bytes(n_bytes)})")


def _human_bytes(n):
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} EiB"


def is_channels_last(arr):
    """True when channels are the fastest axis of a (N, C, *spatial) array with C > 1."""
    if arr.ndim < 3 or arr.shape[1] <= 1:
        return False
    item = arr.itemsize
    if arr.strides[1] != item:
        return False
    return all(abs(arr.strides[d]) >= item * arr.shape[1] or arr.shape[d] == 1
               for d in range(2, arr.ndim))
