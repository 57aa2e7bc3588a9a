"""Stateful layers for small training loops, numerically equal to ``torch.nn``.

There is no autograd engine: every module caches what it needs in ``forward``
(``module(x)``) and returns the gradient with respect to its input from
``backward(grad_output)``, adding parameter gradients into ``Parameter.grad``.
A ``Sequential`` chains both directions, so a training step reads::

    loss = loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    opt.step()

Examples
--------
>>> import numpy as np
>>> from upsamplex import nn
>>> act = nn.Sequential(nn.LeakyReLU(0.1), nn.Tanh())
>>> y = act(np.array([[-1.0, 2.0]]))
>>> act.backward(np.ones_like(y)).shape
(1, 2)
"""

import errno
import math
import numbers
import os
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from numpy.lib import format as npy_format

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
from ._upsample import Upsample as _Upsample

__all__ = [
    "Parameter",
    "Module",
    "Sequential",
    "Upsample",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "MSELoss",
    "L1Loss",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _type_name(value):
    return type(value).__name__


def _float_dtype(dtype, name="dtype"):
    """float32 or float64 from a dtype-like (None means float32, torch's default)."""
    if dtype is None:
        return _FLOAT_DTYPES[0]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_type_name(value)} {value!r}")
    return bool(value)


def _check_real(value, name, *, finite=True):
    """A real number (Python or NumPy; not bool), as float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a real number, got {_type_name(value)} {value!r}")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _real_array(value, name):
    """``value`` as an array of a real numeric dtype (ints and floats; not bool/complex/str)."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything numpy cannot read is "not an array"
        raise TypeError(f"{name} must be a real numeric array, got {_type_name(value)}") from exc
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


class Parameter:
    """A trainable array: ``data`` plus the gradient accumulated into ``grad``.

    ``grad`` is None until the first ``backward``; later backward calls add to
    it (as in torch) until ``zero_grad()`` resets it to None. Assigning
    ``grad`` checks it as torch does: it must have the parameter's shape (no
    broadcasting) and a real dtype, and is stored in the parameter's dtype.

    Parameters
    ----------
    data : array_like
        Initial value; copied into a C-contiguous float32/float64 array.
    requires_grad : bool, optional
        If False, backward passes leave ``grad`` untouched and optimizers skip it.

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex.nn import Parameter
    >>> p = Parameter(np.zeros(3))
    >>> p.accumulate_grad(np.ones(3)); p.accumulate_grad(np.ones(3))
    >>> p.grad
    array([2., 2., 2.])
    """

    __slots__ = ("_data", "_grad", "requires_grad")

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Parameter):
            data = data.data
        try:
            arr = np.asarray(data)
        except Exception as exc:  # noqa: BLE001
            raise TypeError(f"Parameter data must be an array, got {_type_name(data)}") from exc
        _float_dtype(arr.dtype, "Parameter data")
        self._data = np.array(arr, order="C")
        self._grad = None
        self.requires_grad = _check_bool(requires_grad, "requires_grad")

    @property
    def data(self):
        """The values (a float32/float64 ndarray); update in place or assign a new array."""
        return self._data

    @data.setter
    def data(self, value):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"Parameter.data must be a numpy array, got {_type_name(value)}")
        _float_dtype(value.dtype, "Parameter.data")
        self._data = value

    @property
    def grad(self):
        """The accumulated gradient: None, or an array of the parameter's shape and dtype."""
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = None if value is None else self._checked_grad(value, "assigned grad")

    def _checked_grad(self, grad, what):
        grad = _real_array(grad, what)
        if grad.shape != self._data.shape:
            raise ValueError(
                f"{what} has shape {grad.shape}, but the parameter has shape {self._data.shape} "
                "(gradients are not broadcast)"
            )
        return grad if grad.dtype == self._data.dtype else grad.astype(self._data.dtype)

    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    def accumulate_grad(self, grad):
        """Add ``grad`` (the parameter's shape) into ``self.grad``, allocating it on first use."""
        if not self.requires_grad or grad is None:
            return
        grad = self._checked_grad(grad, "gradient")
        if self._grad is None:
            self._grad = np.array(grad, order="C")
        elif self._grad.flags.writeable:
            self._grad += grad
        else:  # an assigned read-only array (a broadcast view, say): do not write into it
            self._grad = self._grad + grad

    def zero_grad(self, set_to_none=True):
        """Reset the gradient: to None (default, as torch) or to zeros."""
        if _check_bool(set_to_none, "set_to_none") or self._grad is None:
            self._grad = None
        elif self._grad.flags.writeable:
            self._grad[...] = 0
        else:
            self._grad = np.zeros_like(self._data)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._data, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + repr(self._data)


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


class Module:
    """Base class of every layer: parameter registry, state dicts, train/eval.

    Subclasses implement ``forward`` (which caches what the gradient needs) and
    ``backward(grad_output)`` (which returns the gradient w.r.t. the input and
    accumulates parameter gradients). Assigning a :class:`Parameter` or a
    ``Module`` to an attribute registers it, so ``named_parameters`` yields
    torch-style dotted names such as ``"0.weight"``.

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> class Scale(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.s = nn.Parameter(np.array([2.0]))
    ...     def forward(self, x):
    ...         self._cache = {"x": x, "out_shape": x.shape}
    ...         return x * self.s.data
    ...     def backward(self, grad_output):
    ...         cache, g = self._check_backward(grad_output)
    ...         self.s.accumulate_grad(np.array([np.sum(g * cache["x"])]))
    ...         return g * self.s.data
    >>> m = Scale()
    >>> m(np.ones(3))
    array([2., 2., 2.])
    >>> grad_x = m.backward(np.ones(3))
    >>> m.s.grad
    array([3.])
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError("call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            self._modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__!r} as parameter {name!r} "
                    "(upsamplex.nn.Parameter or None expected); to change the values "
                    f"assign to {name}.data"
                )
            params[name] = None
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__!r} as child module {name!r}")
            self._modules[name] = None
        object.__setattr__(self, name, value)

    # -- forward / backward -------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _check_backward(self, grad_output):
        """Return the forward cache and ``grad_output`` as an array of the cached shape."""
        cache = self._cache
        if cache is None:
            raise ValueError(
                f"{type(self).__name__}.backward() was called before forward(); "
                "run the module on an input first"
            )
        grad = _real_array(grad_output, f"{type(self).__name__}.backward(): grad_output")
        if grad.shape != tuple(cache["out_shape"]):
            raise ValueError(
                f"{type(self).__name__}.backward(): grad_output has shape {grad.shape}, "
                f"expected {tuple(cache['out_shape'])} (the shape of the last forward output)"
            )
        return cache, grad

    # -- traversal ----------------------------------------------------------
    def children(self):
        """Iterate over the direct child modules."""
        for _, module in self.named_children():
            yield module

    def named_children(self):
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def named_modules(self, prefix=""):
        """Yield ``(dotted_name, module)`` for this module and every descendant."""
        yield prefix, self
        for name, module in self.named_children():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix=""):
        """Yield ``(dotted_name, Parameter)`` pairs, each parameter once, torch-style."""
        seen = set()
        for mod_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{mod_name}.{name}" if mod_name else name), param

    def parameters(self):
        """Iterate over the parameters (pass this to an optimizer)."""
        for _, param in self.named_parameters():
            yield param

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient (to None by default, as torch)."""
        for param in self.parameters():
            param.zero_grad(set_to_none)

    def train(self, mode=True):
        """Set training mode on this module and its descendants; returns self."""
        mode = _check_bool(mode, "mode")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Equivalent to ``train(False)``; returns self."""
        return self.train(False)

    # -- state --------------------------------------------------------------
    def state_dict(self):
        """Return an ordered ``{dotted_name: array}`` with copies of every parameter."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters, in place.

        Everything is checked before anything is copied: with ``strict`` a
        missing or unexpected key raises ``KeyError``; a shape or dtype that
        differs from the parameter's raises ``ValueError``. Both name the key.
        Arrays from torch (``tensor.detach().numpy()``) load directly.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict must be a mapping of names to arrays, got {_type_name(state_dict)}"
            )
        _check_bool(strict, "strict")
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise _key_error(f"state_dict into {type(self).__name__}", missing, unexpected)
        updates = []
        for key, param in own.items():
            if key not in state_dict:
                continue
            value = _real_array(state_dict[key], f"state_dict[{key!r}]")
            _check_loaded(key, param, value.shape, value.dtype, "the state_dict")
            updates.append((param, value))
        for param, value in updates:
            param.data[...] = value
        return missing, unexpected

    def save(self, path):
        """Write ``state_dict()`` to an ``.npz`` file (numpy adds ``.npz`` if absent)."""
        np.savez(path, **self.state_dict())

    def load(self, path, strict=True):
        """Load parameters written by :meth:`save` (see :meth:`load_state_dict`).

        The file is treated as untrusted: the zip directory and every ``.npy``
        header are read and checked against the parameters (keys, dtypes,
        shapes, and each member's uncompressed size against its header) before
        any array data is read, so a crafted archive cannot make this allocate
        or decompress more than the model's own parameters. Nothing is copied
        unless the whole file checks out, and pickled objects are never loaded.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.npz`` file; if it does not exist and has no ``.npz`` suffix,
            ``path + ".npz"`` is tried (``numpy.savez`` appends it).
        strict : bool, default True
            Refuse missing and unexpected keys (``KeyError``). With False,
            unexpected members are skipped unread.

        Returns
        -------
        Module
            ``self``.

        Raises
        ------
        FileNotFoundError
            No such file.
        KeyError
            ``strict`` and the keys differ from the parameters' names.
        ValueError
            Not an ``.npz`` archive (empty, a plain ``.npy``, truncated or
            corrupt), or a member whose header, dtype, shape or size does not
            match its parameter. The message names the file and the key.
        """
        _check_bool(strict, "strict")
        own = dict(self.named_parameters())
        arrays, missing, unexpected = _read_npz(path, own, strict, type(self).__name__)
        for key, value in arrays.items():
            own[key].data[...] = value
        return self

    # -- repr ---------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + _addindent(repr(module), 2) for name, module in self.named_children()
        ]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


# -- loading untrusted .npz files ----------------------------------------------------
_NPY_SUFFIX = ".npy"
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error, ValueError,
               NotImplementedError)


def _key_error(where, missing, unexpected):
    parts = []
    if missing:
        parts.append("missing key(s) " + ", ".join(map(repr, missing)))
    if unexpected:
        parts.append("unexpected key(s) " + ", ".join(map(repr, unexpected)))
    return KeyError(f"error loading {where}: " + "; ".join(parts))


def _check_loaded(key, param, shape, dtype, source):
    if tuple(shape) != param.shape:
        raise ValueError(
            f"shape mismatch for {key!r}: the model has {param.shape}, {source} has "
            f"{tuple(shape)}"
        )
    if dtype != param.dtype:
        raise ValueError(
            f"dtype mismatch for {key!r}: the model has {param.dtype}, {source} has {dtype}"
        )


class _CountingReader:
    """A read-only file wrapper that counts the bytes read (the .npy header's length)."""

    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def read(self, size=-1):
        data = self.stream.read(size)
        self.count += len(data)
        return data


def _open_npz(path):
    """Open ``path`` (or ``path + '.npz'``); return (binary file, shown name)."""
    try:
        name = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}"
        ) from None
    candidates = [name] if name.endswith(".npz") else [name, name + ".npz"]
    for candidate in candidates:
        try:
            return open(candidate, "rb"), repr(candidate)  # noqa: SIM115 - caller closes
        except FileNotFoundError:
            continue
    tried = "" if len(candidates) == 1 else f" (nor {candidates[1]!r})"
    raise FileNotFoundError(errno.ENOENT, f"Module.load: no such file{tried}", name)


def _zip_archive(f, shown):
    """``f`` as a ZipFile, or a ValueError saying what the file is instead."""
    head = f.read(len(npy_format.MAGIC_PREFIX))
    if not head:
        raise ValueError(f"{shown} is empty, not an .npz archive written by Module.save")
    if head == npy_format.MAGIC_PREFIX:
        raise ValueError(
            f"{shown} is a single-array .npy file; Module.load needs the .npz archive "
            "that Module.save writes (one array per parameter)"
        )
    if head[:2] != b"PK":
        raise ValueError(f"{shown} is not an .npz archive (no zip signature)")
    f.seek(0)
    try:
        return zipfile.ZipFile(f)
    except _ZIP_ERRORS as exc:
        raise ValueError(f"{shown} is a truncated or corrupt .npz archive: {exc}") from exc


def _npy_header(zf, info, where):
    """Parse one member's .npy header: (shape, fortran_order, dtype, header length)."""
    try:
        with zf.open(info) as stream:
            reader = _CountingReader(stream)
            version = npy_format.read_magic(reader)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(reader)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(reader)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
    except (*_ZIP_ERRORS, RuntimeError) as exc:  # RuntimeError: an encrypted member
        raise ValueError(f"{where} has no valid .npy header: {exc}") from exc
    return shape, fortran, dtype, reader.count


def _read_npz(path, own, strict, owner):
    """Check an .npz archive against the parameters ``own``, then read its arrays.

    Returns ``({key: array}, missing, unexpected)``; raises before reading any
    array data if any key, header, dtype, shape or member size is wrong.
    """
    f, shown = _open_npz(path)
    with f, _zip_archive(f, shown) as zf:
        members = {}
        for info in zf.infolist():
            fname = info.filename
            key = fname[: -len(_NPY_SUFFIX)] if fname.endswith(_NPY_SUFFIX) else fname
            if key in members:
                raise ValueError(f"{shown} holds key {key!r} twice; the file is corrupt or crafted")
            members[key] = info
        missing = [k for k in own if k not in members]
        unexpected = [k for k in members if k not in own]
        if strict and (missing or unexpected):
            raise _key_error(f"{shown} into {owner}", missing, unexpected)

        # Pass 1: headers and sizes only, for every member we would read.
        plan = []
        for key, param in own.items():
            info = members.get(key)
            if info is None:
                continue
            where = f"key {key!r} of {shown}"
            if info.is_dir() or not info.filename.endswith(_NPY_SUFFIX):
                raise ValueError(f"{where} is not an .npy member ({info.filename!r})")
            shape, fortran, dtype, header_len = _npy_header(zf, info, where)
            if dtype.hasobject:
                raise ValueError(
                    f"{where} holds Python objects (dtype {dtype}); Module.load never unpickles"
                )
            _check_loaded(key, param, shape, dtype, shown)
            nbytes = math.prod(shape) * dtype.itemsize
            if info.file_size != header_len + nbytes:
                raise ValueError(
                    f"{where}: the member holds {info.file_size} bytes but its header describes "
                    f"{header_len + nbytes} ({header_len}-byte header + {shape} {dtype}); the file "
                    "is corrupt or crafted"
                )
            plan.append((key, info, shape, fortran, dtype, header_len, nbytes))

        # Pass 2: the data, each member exactly as large as its parameter.
        arrays = {}
        for key, info, shape, fortran, dtype, header_len, nbytes in plan:
            try:
                with zf.open(info) as stream:
                    stream.read(header_len)
                    data = stream.read(nbytes)
                    stream.read(1)  # reach the end, so zipfile checks the CRC
            except (*_ZIP_ERRORS, RuntimeError) as exc:
                raise ValueError(f"key {key!r} of {shown} is corrupt: {exc}") from exc
            if len(data) != nbytes:
                raise ValueError(
                    f"key {key!r} of {shown} is truncated: {len(data)} of {nbytes} data bytes"
                )
            arrays[key] = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
    return arrays, missing, unexpected


class Sequential(Module):
    """Chain modules: ``forward`` runs them in order, ``backward`` in reverse.

    Parameters
    ----------
    *modules : Module
        The layers, named ``"0"``, ``"1"``, ... (or pass one ``OrderedDict``
        of ``name -> Module``).

    Examples
    --------
    >>> from upsamplex import nn
    >>> model = nn.Sequential(nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1, rng=0), nn.ReLU())
    >>> model
    Sequential(
      (0): ConvTranspose2d(8, 16, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))
      (1): ReLU()
    )
    >>> len(model), [name for name, _ in model.named_parameters()]
    (2, ['0.weight', '0.bias'])
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = modules[0].items()
        else:
            items = ((str(i), m) for i, m in enumerate(modules))
        for name, module in items:
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"Sequential module names must be non-empty strings without "
                                 f"'.', got {name!r}")
            if not isinstance(module, Module):
                raise TypeError(f"Sequential expects Module instances, got {type(module).__name__}")
            setattr(self, name, module)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential expects Module instances, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if not (isinstance(index, slice) or _is_int(index)):
            raise TypeError(
                f"Sequential indices must be integers or slices, got {_type_name(index)}"
            )
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        try:
            return items[index][1]
        except IndexError:
            raise IndexError(
                f"index {index} is out of range for Sequential of length {len(self)}"
            ) from None

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def backward(self, grad_output):
        for module in reversed(list(self)):
            grad_output = module.backward(grad_output)
        return grad_output


# -- elementwise activations ----------------------------------------------------------
# np.where branches per element: on a mixed mask (half of a ReLU's inputs are negative)
# it runs at ~15 ns an element, 10x slower than the activation's own arithmetic. Selecting
# with integer bit masks gives the same bits without a branch.
_UINT_OF_SIZE = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _bit_mask(mask, uint):
    """``mask`` as all-ones (True) / zero (False) words of ``uint``."""
    bits = mask.astype(uint)
    np.negative(bits, out=bits)  # unsigned: 1 -> all ones, 0 -> 0
    return bits


def _zero_where(mask, a):
    """``np.where(mask, 0, a)``, bit for bit (NaN and -0.0 in ``a`` kept where not masked)."""
    uint = _UINT_OF_SIZE.get(a.dtype.itemsize) if a.dtype.kind == "f" else None
    if uint is None:
        return np.where(mask, a.dtype.type(0), a)
    bits = _bit_mask(mask, uint)
    np.invert(bits, out=bits)
    np.bitwise_and(bits, a.view(uint), out=bits)
    return bits.view(a.dtype)


def _select(mask, a, b):
    """``np.where(mask, a, b)`` for float arrays of one shape and dtype, bit for bit."""
    uint = _UINT_OF_SIZE.get(a.dtype.itemsize) if a.dtype.kind == "f" else None
    if uint is None or a.dtype != b.dtype or a.shape != b.shape or mask.shape != a.shape:
        return np.where(mask, a, b)
    bits = _bit_mask(mask, uint)
    out = np.bitwise_and(bits, a.view(uint))
    np.invert(bits, out=bits)
    np.bitwise_and(bits, b.view(uint), out=bits)
    np.bitwise_or(out, bits, out=out)
    return out.view(a.dtype)


class _Elementwise(Module):
    """Shared forward/backward plumbing: cache one array, apply a local derivative."""

    def forward(self, x):
        x = _real_array(x, f"{type(self).__name__} input")
        out = self._f(x)
        self._cache = {"saved": self._saved(x, out), "out_shape": out.shape}
        return out

    def backward(self, grad_output):
        cache, grad = self._check_backward(grad_output)
        return self._df(grad, cache["saved"])

    def _saved(self, x, out):
        return out


class ReLU(_Elementwise):
    """``max(x, 0)``; the gradient passes where the output is positive (torch's rule).

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> relu = nn.ReLU()
    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    >>> relu.backward(np.ones(3))
    array([0., 0., 1.])
    """

    def _f(self, x):
        # torch's clamp_min: x < 0 ? 0 : x, so NaN and -0.0 pass through unchanged
        return _zero_where(x < 0, x)

    def _df(self, grad, out):
        # torch's threshold_backward: out <= 0 ? 0 : grad (a NaN output passes the gradient)
        return _zero_where(out <= 0, grad)


class LeakyReLU(_Elementwise):
    """``x if x > 0 else negative_slope * x``.

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> nn.LeakyReLU(0.1)(np.array([-2.0, 3.0]))
    array([-0.2,  3. ])
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = _check_real(negative_slope, "negative_slope")

    def _f(self, x):
        return _select(x > 0, x, x * self.negative_slope)

    def _saved(self, x, out):
        return x

    def _df(self, grad, x):
        return _select(x > 0, grad, grad * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``.

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> nn.Sigmoid()(np.array([0.0]))
    array([0.5])
    """

    def _f(self, x):
        e = np.exp(-np.abs(x))
        return _select(x >= 0, 1 / (1 + e), e / (1 + e))

    def _df(self, grad, out):
        return grad * (1 - out) * out  # torch's sigmoid_backward order of operations


class Tanh(_Elementwise):
    """Hyperbolic tangent.

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> nn.Tanh()(np.array([0.0]))
    array([0.])
    """

    def _f(self, x):
        return np.tanh(x)

    def _df(self, grad, out):
        return grad * (1 - out * out)  # torch's tanh_backward


# -- upsampling --------------------------------------------------------------------
class Upsample(Module, _Upsample):
    """:class:`upsamplex.Upsample` as a :class:`Module`, for use in a :class:`Sequential`.

    Everything it does (arguments, checks, forward, backward, repr) is
    :class:`upsamplex.Upsample`'s, so the two cannot disagree; this class only
    adds the Module protocol (no parameters, ``train``/``eval``, ``state_dict``).

    Parameters
    ----------
    size, scale_factor, mode, align_corners, recompute_scale_factor
        As :class:`upsamplex.Upsample` and :func:`upsamplex.interpolate`.

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> up = nn.Upsample(scale_factor=2, mode="bilinear")
    >>> up
    Upsample(scale_factor=2.0, mode='bilinear')
    >>> y = up(np.ones((1, 1, 2, 2)))
    >>> up.backward(np.ones_like(y))
    array([[[[4., 4.],
             [4., 4.]]]])
    """

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        _Upsample.__init__(self, *args, **kwargs)

    # Module comes first in the MRO (its registry and __call__), so name the
    # methods whose definition must be upsamplex.Upsample's.
    forward = _Upsample.forward
    backward = _Upsample.backward
    __repr__ = _Upsample.__repr__


# -- convolutions ------------------------------------------------------------------
def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _ntuple(value, n, name):
    """An int or a sequence of exactly ``n`` ints (as torch's _pair/_triple), as a tuple."""
    if _is_int(value):
        return (int(value),) * n
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if not all(_is_int(v) for v in value):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if len(value) != n:
        raise ValueError(
            f"{name} must be an int or a tuple of {n} ints, got {tuple(value)!r} "
            f"(length {len(value)})"
        )
    return tuple(int(v) for v in value)


def _positive_int(value, name):
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive int, got {_type_name(value)} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _make_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is not None and not _is_int(rng):
        raise TypeError(
            f"rng must be None, an int seed or a numpy.random.Generator, got {_type_name(rng)}"
        )
    if rng is not None and rng < 0:
        raise ValueError(f"rng seed must be non-negative, got {rng}")
    return np.random.default_rng(rng)


class _ConvNd(Module):
    """Shared machinery of ``Conv{1,2,3}d`` and ``ConvTranspose{1,2,3}d``."""

    _n = 2
    _transposed = False

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
        groups=1, bias=True, dilation=1, padding_mode="zeros", *, dtype=np.float32, rng=None,
    ):
        super().__init__()
        n, name = self._n, type(self).__name__
        in_channels = _positive_int(in_channels, "in_channels")
        out_channels = _positive_int(out_channels, "out_channels")
        groups = _positive_int(groups, "groups")
        bias = _check_bool(bias, "bias")
        dtype = _float_dtype(dtype)
        if in_channels % groups:
            raise ValueError(f"in_channels must be divisible by groups ({in_channels} % {groups})")
        if out_channels % groups:
            raise ValueError(
                f"out_channels must be divisible by groups ({out_channels} % {groups})"
            )
        if not isinstance(padding_mode, str) or padding_mode != "zeros":
            raise ValueError(
                f'Only "zeros" padding mode is supported for {name}, got {padding_mode!r}'
            )
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride, n, "stride")
        self.dilation = _ntuple(dilation, n, "dilation")
        if min(self.kernel_size) <= 0:
            raise ValueError(f"kernel_size must be positive, got {self.kernel_size}")
        if min(self.stride) <= 0:
            raise ValueError(f"stride must be positive, got {self.stride}")
        if min(self.dilation) <= 0:
            raise ValueError(f"dilation must be positive, got {self.dilation}")
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                allowed = "an int or a tuple"
                if not self._transposed:
                    allowed = "'same', 'valid', " + allowed
                raise ValueError(f"padding must be {allowed} for {name}, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding")
            if min(self.padding) < 0:
                raise ValueError(f"padding must be non-negative, got {self.padding}")
        self.output_padding = _ntuple(output_padding, n, "output_padding")
        for d, (op, s, dl) in enumerate(zip(self.output_padding, self.stride, self.dilation)):
            if op < 0 or not (op < s or op < dl):
                raise ValueError(
                    "output_padding must be non-negative and smaller than either stride or "
                    f"dilation, but got output_padding={self.output_padding}, "
                    f"stride={self.stride}, dilation={self.dilation} (dimension {d})"
                )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.groups = groups
        self.padding_mode = padding_mode
        generator = _make_rng(rng)
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        nbytes = math.prod(shape) * dtype.itemsize
        try:
            if nbytes > np.iinfo(np.intp).max:
                raise MemoryError
            weight = np.zeros(shape, dtype)
        except MemoryError:
            raise ValueError(
                f"{name}({in_channels}, {out_channels}, kernel_size={self.kernel_size}, "
                f"groups={groups}) needs a weight of shape {shape} ({nbytes / 2**30:.3g} GiB of "
                f"{dtype}), more than can be allocated; check in_channels, out_channels and "
                "kernel_size"
            ) from None
        self.weight = Parameter(weight)
        self.bias = Parameter(np.zeros(self.out_channels, dtype)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, rng=None):
        """Redraw weight and bias from torch's default distribution."""
        # torch: kaiming_uniform_(a=sqrt(5)) == U(+-1/sqrt(fan_in)), fan_in = w.shape[1] * prod(k)
        # for both conv and conv-transpose; the bias uses the same bound.
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        generator = _make_rng(rng)
        self.weight.data[...] = generator.uniform(-bound, bound, self.weight.shape)
        if self.bias is not None:
            self.bias.data[...] = generator.uniform(-bound, bound, self.bias.shape)

    def _prepare_input(self, x):
        """Validate ``x``; return it batched plus whether a batch axis was added."""
        x = np.asarray(x)
        n, name = self._n, type(self).__name__
        if x.ndim not in (n + 1, n + 2):
            raise ValueError(
                f"{name} expects a {n + 2}-D (N, C, *spatial) or {n + 1}-D unbatched input, "
                f"got shape {x.shape}"
            )
        unbatched = x.ndim == n + 1
        if unbatched:
            x = x[None]
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{name}: expected input with {self.in_channels} channels, "
                f"got {x.shape[1]} channels (input shape {x.shape[1:] if unbatched else x.shape})"
            )
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"{name}: input dtype {x.dtype} does not match the parameters' dtype "
                f"{self.weight.dtype}; cast the input (x.astype(np.{self.weight.dtype})) or build "
                f"the layer with dtype=np.{x.dtype}"
            )
        return x, unbatched

    def _finish(self, x, out, unbatched, **extra):
        out_shape = out.shape[1:] if unbatched else out.shape
        self._cache = {"x": x, "unbatched": unbatched, "out_shape": out_shape, **extra}
        return out[0] if unbatched else out

    def _accumulate(self, cache, grad, grads):
        grad_input, grad_weight, grad_bias = grads
        self.weight.accumulate_grad(grad_weight)
        if self.bias is not None:
            self.bias.accumulate_grad(grad_bias)
        return grad_input[0] if cache["unbatched"] else grad_input

    def _mask(self):
        return (True, self.weight.requires_grad, self.bias is not None and self.bias.requires_grad)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Conv(_ConvNd):
    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
        groups=1, bias=True, padding_mode="zeros", *, dtype=np.float32, rng=None,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, 0, groups, bias,
            dilation, padding_mode, dtype=dtype, rng=rng,
        )

    def forward(self, x):
        """Convolve ``x`` of shape (N, C_in, *spatial) or (C_in, *spatial)."""
        x, unbatched = self._prepare_input(x)
        bias = None if self.bias is None else self.bias.data
        # padding may be 'same' / 'valid': the functional op places torch's odd
        # extra element of 'same' padding itself.
        out = _CONV[self._n](
            x, self.weight.data, bias, stride=self.stride, padding=self.padding,
            dilation=self.dilation, groups=self.groups,
        )
        return self._finish(x, out, unbatched)

    def backward(self, grad_output):
        """Return the gradient w.r.t. the input; add weight/bias gradients."""
        cache, grad = self._check_backward(grad_output)
        if cache["unbatched"]:
            grad = grad[None]
        grads = conv_backward(
            grad, cache["x"], self.weight.data, stride=self.stride, padding=self.padding,
            dilation=self.dilation, groups=self.groups, output_mask=self._mask(),
        )
        return self._accumulate(cache, grad, grads)


class _ConvTranspose(_ConvNd):
    _transposed = True

    def _output_padding(self, x, output_size):
        """torch's ``_ConvTransposeNd._output_padding``: derive it from ``output_size``."""
        if output_size is None:
            return self.output_padding
        n = self._n
        if isinstance(output_size, (str, bytes)) or not isinstance(
            output_size, (tuple, list, np.ndarray)
        ) or not all(_is_int(s) for s in output_size):
            raise TypeError(
                f"{type(self).__name__}: output_size must be a sequence of ints, got "
                f"{output_size!r}"
            )
        output_size = [int(s) for s in output_size]
        if len(output_size) in (n + 1, n + 2) and len(output_size) == x.ndim:
            output_size = output_size[-n:]
        elif len(output_size) == n + 2:
            output_size = output_size[2:]
        if len(output_size) != n:
            raise ValueError(
                f"{type(self).__name__}: for {n + 2}D input, output_size must have {n} or "
                f"{n + 2} elements (got {len(output_size)})"
            )
        in_sizes = list(x.shape[-n:])
        min_sizes = [
            (i - 1) * s - 2 * p + d * (k - 1) + 1
            for i, s, p, d, k in zip(
                in_sizes, self.stride, self.padding, self.dilation, self.kernel_size
            )
        ]
        max_sizes = [lo + s - 1 for lo, s in zip(min_sizes, self.stride)]
        if any(not lo <= o <= hi for o, lo, hi in zip(output_size, min_sizes, max_sizes)):
            raise ValueError(
                f"requested an output size of {output_size}, but valid sizes range from "
                f"{min_sizes} to {max_sizes} (for an input of {in_sizes})"
            )
        return tuple(o - lo for o, lo in zip(output_size, min_sizes))

    def forward(self, x, output_size=None):
        """Transposed convolution of ``x``; ``output_size`` picks the output padding."""
        x_in = np.asarray(x)
        output_padding = self._output_padding(x_in, output_size)
        x, unbatched = self._prepare_input(x_in)
        bias = None if self.bias is None else self.bias.data
        out = _CONV_TRANSPOSE[self._n](
            x, self.weight.data, bias, stride=self.stride, padding=self.padding,
            output_padding=output_padding, groups=self.groups, dilation=self.dilation,
        )
        return self._finish(x, out, unbatched, output_padding=output_padding)

    def backward(self, grad_output):
        """Return the gradient w.r.t. the input; add weight/bias gradients."""
        cache, grad = self._check_backward(grad_output)
        if cache["unbatched"]:
            grad = grad[None]
        grads = conv_transpose_backward(
            grad, cache["x"], self.weight.data, stride=self.stride, padding=self.padding,
            output_padding=cache["output_padding"], groups=self.groups,
            dilation=self.dilation, output_mask=self._mask(),
        )
        return self._accumulate(cache, grad, grads)


_CONV = {1: conv1d, 2: conv2d, 3: conv3d}
_CONV_TRANSPOSE = {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}

_CONV_DOC = """{n}-D {what}, equal to ``torch.nn.{name}``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or tuple of {n} ints
    stride : int or tuple, default 1
    padding : {padding}
    {output_padding}groups : int, default 1
        Blocked connections; both channel counts must be divisible by it.
    bias : bool, default True
    dilation : int or tuple, default 1
    padding_mode : {{'zeros'}}
        Only zero padding is supported.
    dtype : {{np.float32, np.float64}}, default np.float32
    rng : int, numpy.random.Generator or None
        Seed or generator for torch's default initialisation,
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.shape[1] * prod(kernel_size).

    Attributes
    ----------
    weight : Parameter
        Shape {wshape}.
    bias : Parameter or None
        Shape (out_channels,).

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> layer = nn.{name}({example})
    >>> layer
    {example_repr}
    >>> y = layer(np.zeros({example_in}, dtype=np.float32))
    >>> grad_x = layer.backward(np.ones_like(y))
"""


def _conv_class(n, transposed):
    base = _ConvTranspose if transposed else _Conv
    name = f"ConvTranspose{n}d" if transposed else f"Conv{n}d"
    spatial = (8,) * n
    if transposed:
        example, ex_repr = "8, 4, 4, stride=2, padding=1, rng=0", (
            f"{name}(8, 4, kernel_size={(4,) * n}, stride={(2,) * n}, padding={(1,) * n})"
        )
    else:
        example, ex_repr = "8, 4, 3, padding=1, rng=0", (
            f"{name}(8, 4, kernel_size={(3,) * n}, stride={(1,) * n}, padding={(1,) * n})"
        )
    doc = _CONV_DOC.format(
        n=n, name=name, what="transposed convolution" if transposed else "convolution",
        padding="int or tuple, default 0" + ("" if transposed else "; or 'same' / 'valid'"),
        output_padding=(
            "output_padding : int or tuple, default 0\n"
            "        Extra size on one side of the output; ``forward(x, output_size=...)``\n"
            "        sets it from a requested size instead.\n    "
            if transposed else ""
        ),
        wshape="(in_channels, out_channels // groups, *kernel_size)" if transposed
        else "(out_channels, in_channels // groups, *kernel_size)",
        example=example, example_repr=ex_repr, example_in=(1, 8, *spatial),
    )
    return type(name, (base,), {"_n": n, "__doc__": doc, "__module__": __name__})


Conv1d, Conv2d, Conv3d = (_conv_class(n, False) for n in (1, 2, 3))
ConvTranspose1d, ConvTranspose2d, ConvTranspose3d = (_conv_class(n, True) for n in (1, 2, 3))


# -- losses ------------------------------------------------------------------------
class _Loss(Module):
    """``loss(input, target)`` returns the loss; ``backward()`` its gradient w.r.t. input."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if not isinstance(reduction, str):
            raise TypeError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"{reduction} is not a valid value for reduction (expected 'mean', 'sum' or "
                "'none')"
            )
        self.reduction = reduction

    def forward(self, input, target):
        input = np.asarray(input)
        if input.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                f"{type(self).__name__}: input must be float32 or float64, got {input.dtype}"
            )
        name = type(self).__name__
        # the prediction's dtype wins
        target = _real_array(target, f"{name}: target").astype(input.dtype, copy=False)
        if target.shape != input.shape:
            raise ValueError(
                f"{type(self).__name__}: target shape {target.shape} differs from input shape "
                f"{input.shape}"
            )
        diff = input - target
        per_element = self._elementwise(diff)
        out_shape = input.shape if self.reduction == "none" else ()
        self._cache = {"diff": diff, "out_shape": out_shape}
        if self.reduction == "mean":
            return per_element.mean()
        if self.reduction == "sum":
            return per_element.sum()
        return per_element

    def backward(self, grad_output=None):
        """Gradient w.r.t. the prediction; ``grad_output`` defaults to 1 unless reduction='none'."""
        if grad_output is None:
            if self.reduction == "none" and self._cache is not None:
                raise ValueError(
                    f"{type(self).__name__}(reduction='none').backward() needs grad_output "
                    "with the shape of the loss"
                )
            grad_output = 1.0
        cache, grad = self._check_backward(grad_output)
        diff = cache["diff"]
        grad = grad.astype(diff.dtype, copy=False)
        count = diff.size if self.reduction == "mean" else 1
        return self._grad(diff, grad, count)


class MSELoss(_Loss):
    """Mean squared error, ``(input - target) ** 2`` reduced by ``reduction``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> loss_fn = nn.MSELoss()
    >>> float(loss_fn(np.array([1.0, 3.0]), np.array([0.0, 0.0])))
    5.0
    >>> loss_fn.backward()
    array([1., 3.])
    """

    def _elementwise(self, diff):
        return diff * diff

    def _grad(self, diff, grad, count):
        norm = diff.dtype.type(2.0 / count)  # torch: norm * (input - target) * grad
        return norm * diff * grad


class L1Loss(_Loss):
    """Mean absolute error; the gradient uses ``sign`` with ``sign(0) = 0`` (as torch).

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn
    >>> loss_fn = nn.L1Loss()
    >>> float(loss_fn(np.array([1.0, -3.0, 0.0]), np.zeros(3)))
    1.3333333333333333
    >>> loss_fn.backward()
    array([ 0.33333333, -0.33333333,  0.        ])
    """

    def _elementwise(self, diff):
        return np.abs(diff)

    def _grad(self, diff, grad, count):
        # autograd of abs(d).mean(): (grad / numel) * sgn(d)
        return (grad / diff.dtype.type(count)) * np.sign(diff)
