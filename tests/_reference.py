"""Small pure-NumPy float64 reference for interpolate, written from TORCH_SEMANTICS.md.

Every mode is separable, so each spatial axis gets a dense (O, I) matrix and the
forward pass is a chain of matrix products; the backward pass uses the
transposes. Slow and obvious on purpose: it is an oracle for formulas, not a
kernel. Index arithmetic that torch does in float32 (nearest, nearest-exact) is
emulated in float32; everything else is float64.
"""

import math

import numpy as np

LINEAR_MODES = ("linear", "bilinear", "bicubic", "trilinear")
SPATIAL_NDIM = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3, "lanczos": 2}


def _per_axis(value, n):
    if value is None:
        return [None] * n
    if isinstance(value, (tuple, list)):
        return list(value)
    return [value] * n


def output_size(in_shape, size=None, scale_factor=None):
    """Spatial output size: ``size``, or trunc(double(I) * s) per axis."""
    n = len(in_shape)
    if size is not None:
        return tuple(int(v) for v in _per_axis(size, n))
    return tuple(int(math.floor(float(i) * float(s))) for i, s in zip(in_shape, _per_axis(scale_factor, n)))


def kernel_scale(I, O, s, align_corners):
    """The scale r the kernel uses (TORCH_SEMANTICS §1.2); ``s`` is None if it does not reach it."""
    if align_corners:
        return (I - 1) / (O - 1) if O > 1 else 0.0
    if s is not None and s > 0:
        return 1.0 / s
    return I / O


def _index_precision(dtype):
    """torch computes nearest indices at float64 for float64 input, else float32 (§1.2)."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def nearest_index(I, O, r, dtype=np.float32):
    """Generic (shortcut-free) path: src = min(floor(fl32(r * i)), I - 1).

    r and the product r * i are computed in the input's precision (float32 for
    float32 and uint8, float64 for float64); the product is then rounded to float32.
    """
    ft = _index_precision(dtype)
    prod = ft(r) * np.arange(O, dtype=ft)
    return np.minimum(np.floor(prod.astype(np.float32)).astype(np.int64), I - 1)


def nearest_exact_index(I, O, r, dtype=np.float32):
    """Generic path: real = fl32(r * (i + 0.5) - 0.5) (fused), clamped >= 0; floor(real + 0.5).

    As for nearest, r is kept in the input's precision. For float32 r, r * (i + 0.5)
    is exact in float64, so one rounding to float32 emulates the fused multiply-add.
    """
    rr = np.float64(_index_precision(dtype)(r))
    real = (rr * (np.arange(O, dtype=np.float64) + 0.5) - 0.5).astype(np.float32)
    real = np.maximum(real, np.float32(0))
    src = np.floor(real + np.float32(0.5)).astype(np.int64)
    return np.minimum(src, I - 1)


def _cubic_conv(t, A):
    """Keys cubic convolution weights for offsets [t+1, t, 1-t, 2-t]."""

    def w1(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def w2(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    return [w2(t + 1), w1(t), w1(1 - t), w2(2 - t)]


def _aa_filter(mode):
    if mode == "bilinear":
        return 1.0, lambda x: np.maximum(0.0, 1.0 - np.abs(x))
    if mode == "bicubic":
        a = -0.5

        def cubic(x):
            x = np.abs(x)
            return np.where(
                x < 1,
                ((a + 2) * x - (a + 3)) * x * x + 1,
                np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0),
            )

        return 2.0, cubic
    if mode == "lanczos":
        return 3.0, lambda x: np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)
    raise ValueError(mode)


def axis_matrix(mode, I, O, s=None, align_corners=None, antialias=False, dtype=np.float64):
    """Dense (O, I) float64 matrix of one spatial axis of the forward pass.

    ``s`` is the user's scale for this axis if it reaches the kernel, else None;
    ``dtype`` (the input's) only matters for the nearest modes' index precision.
    """
    M = np.zeros((O, I))
    rows = np.arange(O)
    if mode == "nearest":
        M[rows, nearest_index(I, O, kernel_scale(I, O, s, False), dtype)] = 1
        return M
    if mode == "nearest-exact":
        M[rows, nearest_exact_index(I, O, kernel_scale(I, O, s, False), dtype)] = 1
        return M
    if mode == "area":
        for o in range(O):
            start = (o * I) // O
            end = -((-(o + 1) * I) // O)
            M[o, start:end] = 1.0 / (end - start)
        return M
    r = kernel_scale(I, O, s, align_corners)
    if antialias or mode == "lanczos":
        if O == I:  # torch skips an axis whose size is unchanged, whatever s is
            return np.eye(I)
        half, F = _aa_filter(mode)
        support = half * r if r >= 1 else half
        inv = 1.0 / r if r >= 1 else 1.0
        max_taps = 2 * math.ceil(support) + 1
        for o in range(O):
            c = r * (o + 0.5)
            xmin = max(int(c - support + 0.5), 0)
            n = min(int(c + support + 0.5), I) - xmin
            n = min(max(n, 0), max_taps)
            j = np.arange(xmin, xmin + n)
            w = F((j - c + 0.5) * inv)
            total = w.sum()
            if total != 0:
                w = w / total
            M[o, j] = w
        return M
    if mode in ("linear", "bilinear", "trilinear"):
        if O == I:  # torch issue #70559: identity whatever s / align_corners say
            return np.eye(I)
        for o in range(O):
            real = r * o if align_corners else max(r * (o + 0.5) - 0.5, 0.0)
            i0 = min(int(math.floor(real)), I - 1)
            i1 = i0 + (1 if i0 < I - 1 else 0)
            l1 = min(max(real - i0, 0.0), 1.0)
            M[o, i0] += 1 - l1
            M[o, i1] += l1
        return M
    if mode == "bicubic":
        for o in range(O):
            real = r * o if align_corners else r * (o + 0.5) - 0.5
            i0 = min(int(math.floor(real)), I - 1)
            t = min(max(real - i0, 0.0), 1.0)
            for k, w in zip(range(i0 - 1, i0 + 3), _cubic_conv(t, -0.75)):
                M[o, min(max(k, 0), I - 1)] += w
        return M
    raise ValueError(f"unknown mode {mode!r}")


def axis_matrices(in_spatial, size=None, scale_factor=None, mode="nearest", align_corners=None,
                  recompute_scale_factor=None, antialias=False, dtype=np.float64):
    """One matrix per spatial axis, with torch's rules for which scale reaches the kernel."""
    n = len(in_spatial)
    out = output_size(in_spatial, size, scale_factor)
    passes_scale = scale_factor is not None and not recompute_scale_factor and mode != "area"
    scales = _per_axis(scale_factor, n) if passes_scale else [None] * n
    return [
        axis_matrix(mode, I, O, None if s is None else float(s), align_corners, antialias, dtype)
        for I, O, s in zip(in_spatial, out, scales)
    ]


def apply_axes(x, matrices):
    """Apply one matrix per trailing axis (last axis first, as torch's separable passes do)."""
    y = np.asarray(x, dtype=np.float64)
    n = len(matrices)
    for k in reversed(range(n)):
        axis = y.ndim - n + k
        y = np.moveaxis(np.tensordot(matrices[k], y, axes=([1], [axis])), 0, axis)
    return y


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """float64 reference forward."""
    mats = axis_matrices(x.shape[2:], size, scale_factor, mode, align_corners,
                         recompute_scale_factor, antialias, x.dtype)
    return apply_axes(x, mats)


def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None, mode="nearest",
                         align_corners=None, recompute_scale_factor=None, antialias=False):
    """float64 reference gradient: the transposed matrices."""
    mats = axis_matrices(tuple(input_shape[2:]), size, scale_factor, mode, align_corners,
                         recompute_scale_factor, antialias, grad_output.dtype)
    return apply_axes(grad_output, [m.T for m in mats])


# --------------------------------------------------------------------------------------
# torch oracle helpers (torch is imported lazily: it is a test-only dependency)
# --------------------------------------------------------------------------------------

NEAREST_MODES = ("nearest", "nearest-exact")


def _to_torch(x):
    import torch

    if any(st < 0 for st in x.strides):
        x = x.copy()  # torch.from_numpy rejects negative strides
    return torch.from_numpy(x)


def torch_direct(x, **kwargs):
    """Plain ``F.interpolate`` on a view of ``x`` with the same strides."""
    import torch.nn.functional as F

    return F.interpolate(_to_torch(x), **kwargs).numpy()


def _spatial_scales(kwargs, n):
    return _per_axis(kwargs.get("scale_factor"), n)


def torch_nearest_indices(in_spatial, dtype, mode, size=None, scale_factor=None,
                          recompute_scale_factor=None):
    """Per-axis source indices from torch's 1-D kernel (its generic, shortcut-free path).

    The index precision follows the input dtype (uint8 behaves like float32).
    """
    import torch
    import torch.nn.functional as F

    tdtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    n = len(in_spatial)
    sizes = _per_axis(size, n)
    scales = _per_axis(scale_factor, n)
    idx = []
    for I, O, s in zip(in_spatial, sizes, scales):
        ramp = torch.arange(I, dtype=tdtype)[None, None]
        kw = {"size": O} if O is not None else {
            "scale_factor": s, "recompute_scale_factor": recompute_scale_factor}
        idx.append(F.interpolate(ramp, mode=mode, **kw)[0, 0].numpy().astype(np.int64))
    return idx


def gather_axes(x, indices):
    """Apply per-axis index maps to the trailing axes of ``x``."""
    n = len(indices)
    for k, ix in enumerate(indices):
        x = np.take(x, ix, axis=x.ndim - n + k)
    return x


def torch_interpolate(x, **kwargs):
    """torch's answer, with the documented torch quirks routed around.

    * nearest / nearest-exact: torch's 1-D kernel applied per axis (no O==I/2I
      shortcut, generic tie rounding, input-dtype index precision) — the
      behaviour upsamplex pins in every rank.
    * float antialias with output W == 1 (torch bug): computed on the H/W
      transposed tensor, where the separable passes are exact.
    """
    mode = kwargs.get("mode", "nearest")
    if mode in NEAREST_MODES:
        idx = torch_nearest_indices(x.shape[2:], x.dtype, mode, kwargs.get("size"),
                                    kwargs.get("scale_factor"),
                                    kwargs.get("recompute_scale_factor"))
        return np.ascontiguousarray(gather_axes(x, idx))
    if x.dtype == np.uint8 and x.ndim == 4 and x.shape[1] > 1:
        out = output_size(x.shape[2:], kwargs.get("size"), kwargs.get("scale_factor"))
        if out == (1, 1) or (out[1] == 1 and out[0] != x.shape[2] and x.shape[1] > 4):
            # torch 2.13 trips an INTERNAL ASSERT (UpSampleKernelAVXAntialias.h:269) for
            # uint8 bilinear/bicubic to 1x1 with C=3 contiguous, and with more than 4
            # channels repeats the first row when the output width is 1 (Difference 3):
            # resample channel by channel, where neither happens.
            return np.concatenate([torch_direct(np.ascontiguousarray(x[:, c:c + 1]), **kwargs)
                                   for c in range(x.shape[1])], axis=1)
    if (x.dtype == np.uint8 and mode == "bicubic" and not kwargs.get("antialias")
            and uint8_bicubic_skips_axis(x.shape[2:], **kwargs)):
        # torch's uint8 path skips an axis whose size is unchanged even when the explicit
        # scale is not 1; upsamplex resamples it as the float path does (README,
        # "Differences from PyTorch"): compare with torch's float64 answer, rounded.
        ref = torch_direct(x.astype(np.float64), **kwargs)
        return np.clip(np.round(ref), 0, 255).astype(np.uint8)
    if kwargs.get("antialias") and x.dtype != np.uint8 and x.ndim == 4:
        out = output_size(x.shape[2:], kwargs.get("size"), kwargs.get("scale_factor"))
        if out[1] == 1 and out[0] > 1:
            kw = dict(kwargs)
            for key in ("size", "scale_factor"):
                if isinstance(kw.get(key), (tuple, list)):
                    kw[key] = tuple(kw[key])[::-1]
            return np.ascontiguousarray(
                torch_direct(x.transpose(0, 1, 3, 2), **kw).transpose(0, 1, 3, 2))
    return torch_direct(x, **kwargs)


def uint8_bicubic_skips_axis(in_spatial, size=None, scale_factor=None,
                             recompute_scale_factor=None, **_):
    """True where torch's uint8 bicubic would skip an unchanged axis with scale != 1."""
    if scale_factor is None or recompute_scale_factor:
        return False
    out = output_size(in_spatial, None, scale_factor)
    scales = _per_axis(scale_factor, len(in_spatial))
    return any(o == i and float(s) != 1.0 for i, o, s in zip(in_spatial, out, scales))


def torch_grad(grad_output, input_shape, **kwargs):
    """Input gradient from torch autograd: ``F.interpolate(t).backward(grad_output)``."""
    import torch
    import torch.nn.functional as F

    g = _to_torch(np.ascontiguousarray(grad_output))
    t = torch.zeros(tuple(input_shape), dtype=g.dtype, requires_grad=True)
    F.interpolate(t, **kwargs).backward(g)
    return t.grad.numpy()


def _torch_nearest_backward_index(I, O, s, mode):
    """Source index of each output in torch's nearest backward: float32 arithmetic always.

    ``nearest_idx`` / ``nearest_exact_idx`` in UpSampleMoreKernel.cpp: the scale is the
    float32 ``1 / s`` (or ``float(I) / O``), the product is float32, and nearest takes
    the O == I / O == 2I shortcuts.
    """
    o = np.arange(O, dtype=np.float32)
    scale = np.float32(1.0 / s) if s is not None and s > 0 else np.float32(I) / np.float32(O)
    if mode == "nearest":
        if O == I:
            return np.arange(O)
        if O == 2 * I:
            return np.arange(O) >> 1
        src = np.floor(o * scale)
    else:
        src = np.floor((o + np.float32(0.5)) * scale)
    return np.minimum(src.astype(np.int64), I - 1)


def _torch_nearest_forward_index(I, O, s, mode, dtype):
    """Source index of each output in torch's 1-D nearest forward (read off torch)."""
    import torch.nn.functional as F

    kw = {"size": O} if s is None else {"scale_factor": s, "recompute_scale_factor": False}
    x = _to_torch(np.arange(I, dtype=dtype))[None, None]
    return F.interpolate(x, mode=mode, **kw)[0, 0].numpy().astype(np.int64)


def torch_backward_is_adjoint(input_shape, size=None, scale_factor=None, mode="nearest",
                              align_corners=None, recompute_scale_factor=None, antialias=False,
                              dtype=None):
    """False in the configurations where torch's backward is not its forward's adjoint.

    Three need an explicit scale_factor with recompute off (TORCH_SEMANTICS §2.1):
    nearest with O in {I, 2I} but s not in {1, 2} on some axis; bicubic with O == I on
    every axis (torch's backward then copies) but s != 1 on some; antialias with an
    unchanged axis but s != 1 on it. Found by experiment: bicubic's copy is all-or-nothing.
    The fourth is nearest / nearest-exact with ``size`` or a scale: the backward computes
    the source indices in plain float32 arithmetic, the forward from the double scale
    (float64) or with a fused multiply-add (nearest-exact), and on some axes (2 -> 41,
    904 -> 1524, ...) the two pick different sources.
    """
    in_spatial = tuple(input_shape[2:])
    out = output_size(in_spatial, size, scale_factor)
    if mode in ("nearest", "nearest-exact"):
        dtype = np.dtype(dtype or np.float32)
        scales = (_per_axis(scale_factor, len(in_spatial)) if not recompute_scale_factor
                  else [None] * len(in_spatial))
        for I, O, s in zip(in_spatial, out, scales):
            s = None if s is None else float(s)
            if not np.array_equal(_torch_nearest_forward_index(I, O, s, mode, dtype),
                                  _torch_nearest_backward_index(I, O, s, mode)):
                return False
    if scale_factor is None or recompute_scale_factor:
        return True
    scales = [float(s) for s in _per_axis(scale_factor, len(in_spatial))]
    if mode == "bicubic" and not antialias and out == in_spatial and any(s != 1 for s in scales):
        return False
    for I, O, s in zip(in_spatial, out, scales):
        if mode == "nearest" and O in (I, 2 * I) and s not in (1.0, 2.0):
            return False
        if (antialias or mode == "lanczos") and O == I and s != 1.0:
            return False
    return True


TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 2e-5}


def assert_matches(got, expected, mode=None, what=""):
    """The suite's tolerances against torch: f64 1e-10 and f32 2e-5 relative to
    max|expected|; uint8 +-1 (+-2 for bicubic and lanczos)."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    if got.size == 0:
        return
    if got.dtype == np.uint8:
        atol = 2 if mode in ("bicubic", "lanczos") else 1
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64)).max()
        assert diff <= atol, f"{what}: uint8 max |diff| {diff} > {atol}"
        return
    rtol = TOLERANCE[got.dtype]
    scale = max(float(np.abs(expected).max()), 1e-300)
    err = float(np.abs(got.astype(np.float64) - expected.astype(np.float64)).max()) / scale
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"


def make_input(rng, shape, dtype, mode=None):
    """Random input: N(0, 1) floats; uint8 over the full range, [30, 220] for bicubic
    and lanczos (as torch's own tests do: uint8 clamps between passes, TORCH_SEMANTICS §1.3)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        lo, hi = (30, 221) if mode in ("bicubic", "lanczos") else (0, 256)
        return rng.integers(lo, hi, size=shape, dtype=np.uint8)
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------------------
# the configuration space shared by the forward and backward tests
# --------------------------------------------------------------------------------------

# (mode, antialias, number of spatial dims)
MODE_SPECS = [
    ("nearest", False, 1), ("nearest", False, 2), ("nearest", False, 3),
    ("nearest-exact", False, 1), ("nearest-exact", False, 2), ("nearest-exact", False, 3),
    ("linear", False, 1), ("bilinear", False, 2), ("bicubic", False, 2), ("trilinear", False, 3),
    ("area", False, 1), ("area", False, 2), ("area", False, 3),
    ("bilinear", True, 2), ("bicubic", True, 2), ("lanczos", True, 2),
]
UINT8_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "lanczos")


def spec_id(spec):
    mode, antialias, nd = spec
    return f"{mode}{'-aa' if antialias and mode != 'lanczos' else ''}-{nd}d"


def align_corners_options(mode, antialias=False):
    if mode == "lanczos":
        return [None, False]
    if mode in LINEAR_MODES:
        return [None, False, True]
    return [None]


def mode_kwargs(spec, align_corners=None):
    mode, antialias, _ = spec
    kw = {"mode": mode}
    if antialias:
        kw["antialias"] = True
    if align_corners is not None:
        kw["align_corners"] = align_corners
    return kw


def spec_with_align_corners():
    """(spec, align_corners) pairs with readable ids, for pytest.mark.parametrize."""
    import pytest

    return [
        pytest.param(spec, ac, id=f"{spec_id(spec)}-ac{ac}")
        for spec in MODE_SPECS
        for ac in align_corners_options(spec[0], spec[1])
    ]
