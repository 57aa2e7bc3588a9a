"""Hypothesis fuzz of the resampling entry points against torch (issue "Hardening").

Wider geometry than the parity tests (axes up to 40 samples, outputs up to 60, scales
drawn from a continuum, every layout) through ``interpolate``, ``interpolate_backward``,
``resize``, ``Upsample`` and ``nn.Upsample``, and corrupted arguments through
``interpolate``. Each case either equals torch within the suite's tolerances, is a
documented difference (README, "Differences from PyTorch", routed by ``_reference``), or
is a ValueError / TypeError whose message names the argument. Derandomized under CI=true
(tests/conftest.py); the conv entry points have their own fuzz (test_conv_fuzz.py).
"""

import numpy as np
import pytest
from _torch import F, torch
from hypothesis import event, given
from hypothesis import strategies as st

import _reference as ref
import upsamplex as ux

LAYOUTS = ["contiguous", "channels_last", "negative", "sliced"]


def _layout(x, layout):
    if layout == "channels_last":
        return np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    if layout == "negative":
        return np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    if layout == "sliced":
        return np.repeat(x, 2, axis=-1)[..., ::2]
    return x


@st.composite
def resizes(draw, in_spatial):
    """size= or scale_factor= (per axis or one, recompute on or off) for ``in_spatial``."""
    nd = len(in_spatial)
    if draw(st.booleans()):
        return {"size": tuple(draw(st.lists(st.integers(1, 60), min_size=nd, max_size=nd)))}
    scale = st.floats(0.15, 4.5).map(lambda s: round(s, 3))
    scales = tuple(draw(st.lists(scale, min_size=nd, max_size=nd)))
    scales = tuple(s if int(i * s) >= 1 else round(1.01 / i, 3) + 0.001
                   for i, s in zip(in_spatial, scales))
    kw = {"scale_factor": scales if nd == 1 or draw(st.booleans()) else scales[0]}
    if not isinstance(kw["scale_factor"], tuple):
        kw["scale_factor"] = max(kw["scale_factor"], max(scales))
    kw["recompute_scale_factor"] = draw(st.sampled_from([None, False, True]))
    return kw


@st.composite
def configs(draw, dtypes=(np.float32, np.float64, np.uint8)):
    spec = draw(st.sampled_from(ref.MODE_SPECS))
    mode, antialias, nd = spec
    dtype = draw(st.sampled_from([d for d in dtypes
                                  if d != np.uint8 or mode in ref.UINT8_MODES]))
    align_corners = draw(st.sampled_from(ref.align_corners_options(mode, antialias)))
    limit = 40 if nd < 3 else 12
    in_spatial = tuple(draw(st.lists(st.integers(1, limit), min_size=nd, max_size=nd)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5))) + in_spatial
    kw = {**ref.mode_kwargs(spec, align_corners), **draw(resizes(in_spatial))}
    if nd == 3 and "size" in kw:
        kw["size"] = tuple(min(s, 16) for s in kw["size"])
    return shape, np.dtype(dtype), kw, draw(st.sampled_from(LAYOUTS)), draw(st.integers(0, 2**32 - 1))


def _torch_or_error(fn):
    try:
        return fn(), None
    except (RuntimeError, ValueError, TypeError) as exc:
        return None, exc


@given(configs())
def test_fuzz_interpolate(config):
    shape, dtype, kw, layout, seed = config
    x = _layout(ref.make_input(np.random.default_rng(seed), shape, dtype, kw["mode"]), layout)
    expected, torch_error = _torch_or_error(lambda: ref.torch_interpolate(x, **kw))
    if torch_error is not None:
        # torch refuses (e.g. an antialias or area output of 0): ours must refuse clearly
        event("torch refuses")
        with pytest.raises((ValueError, TypeError)):
            ux.interpolate(x, **kw)
        return
    got = ux.interpolate(x, **kw)
    assert got.dtype == dtype
    ref.assert_matches(got, expected, kw["mode"], str(kw))


@given(configs(dtypes=(np.float32, np.float64)))
def test_fuzz_interpolate_backward(config):
    shape, dtype, kw, _, seed = config
    rng = np.random.default_rng(seed)
    out = ref.output_size(shape[2:], kw.get("size"), kw.get("scale_factor"))
    g = rng.standard_normal(shape[:2] + out).astype(dtype)
    grad = ux.interpolate_backward(g, shape, **kw)
    assert grad.dtype == dtype and grad.shape == shape
    if ref.torch_backward_is_adjoint(shape, **kw, dtype=dtype):
        ref.assert_matches(grad, ref.torch_grad(g, shape, **kw), kw["mode"], str(kw))
    else:
        # documented difference (README 4 and 12): ours is the adjoint of the forward
        event("torch's backward is not its forward's adjoint")
        x = rng.standard_normal(shape).astype(dtype)
        y = ux.interpolate(x, **kw)
        gap = abs(np.vdot(y.astype(np.float64), g) - np.vdot(x.astype(np.float64), grad))
        assert gap <= ref.TOLERANCE[dtype] * 100 * (1 + np.abs(g).sum())


@given(configs(dtypes=(np.float32, np.float64)))
def test_fuzz_upsample_layers(config):
    """``Upsample`` and ``nn.Upsample`` forward and backward against torch.nn.Upsample."""
    shape, dtype, kw, layout, seed = config
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal(shape).astype(dtype), layout)
    t = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
    theirs = torch.nn.Upsample(**{k: v for k, v in kw.items() if k != "antialias"})
    if kw.get("antialias"):  # nn.Upsample has no antialias: torch's functional form
        y_t = F.interpolate(t, **kw)
    else:
        y_t = theirs(t)
    g = rng.standard_normal(tuple(y_t.shape)).astype(dtype)
    y_t.backward(torch.from_numpy(g))
    for layer in (ux.Upsample(**kw), ux.nn.Upsample(**kw)):
        y = layer(x)
        # against torch's functional form with the documented quirks routed around
        # (nn.Upsample calls it; its nearest shortcuts are Difference 1)
        ref.assert_matches(y, ref.torch_interpolate(x, **kw), kw["mode"], str(kw))
        grad = layer.backward(g)
        if ref.torch_backward_is_adjoint(shape, **kw, dtype=dtype):
            ref.assert_matches(grad, t.grad.numpy(), kw["mode"], str(kw))
        else:
            event("torch's backward is not its forward's adjoint")
            np.testing.assert_allclose(grad, ux.interpolate_backward(g, shape, **kw))


@st.composite
def images(draw):
    nd = draw(st.sampled_from([2, 2, 3]))
    in_spatial = tuple(draw(st.lists(st.integers(2, 30 if nd == 2 else 10),
                                     min_size=nd, max_size=nd)))
    channels = draw(st.sampled_from([(), (1,), (3,), (4,)])) if nd == 2 else ()
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic", "area",
                                 "lanczos"] if nd == 2 else ["nearest", "trilinear", "area"]))
    dtype = draw(st.sampled_from([np.float32, np.float64]
                                 + ([np.uint8] if nd == 2 and mode != "area" else [])))
    out = tuple(draw(st.lists(st.integers(1, 45 if nd == 2 else 14), min_size=nd, max_size=nd)))
    return in_spatial + channels, np.dtype(dtype), out, mode, draw(st.integers(0, 2**32 - 1))


@given(images())
def test_fuzz_resize(case):
    """``resize`` on (H, W[, C]) / (Z, Y, X) equals torch on the moved axes, with
    antialias when an axis shrinks (resize's documented default; in 3-D, beyond torch,
    the float64 reference)."""
    shape, dtype, out, mode, seed = case
    nd = len(out)
    image = ref.make_input(np.random.default_rng(seed), shape, dtype, mode)
    shrinks = any(o < i for o, i in zip(out, shape[:nd]))
    antialias = mode == "lanczos" or (shrinks and mode in ("bilinear", "bicubic", "trilinear"))
    got = ux.resize(image, out, mode=mode)
    assert got.shape == out + shape[nd:] and got.dtype == dtype
    nchw = np.moveaxis(image.reshape(shape[:nd] + (-1,)), -1, 0)[None]
    kw = {"mode": mode, "size": out}
    if antialias:
        kw["antialias"] = True
    if nd == 3 and antialias:  # beyond torch (3-D antialias): the float64 reference
        # (the reference's per-axis filters are named by their 2-D modes)
        expected = ref.interpolate(nchw.astype(np.float64), **{**kw, "mode": "bilinear"})
        expected = expected.astype(dtype)
    else:
        expected = ref.torch_interpolate(np.ascontiguousarray(nchw), **kw)
    expected = np.moveaxis(expected[0], 0, -1)
    ref.assert_matches(got, expected.reshape(got.shape), mode, str((shape, out, kw)))


# ---------------------------------------------------------------------------------
# corrupted arguments: a clear error naming the argument, or torch's answer
# ---------------------------------------------------------------------------------

BAD = {
    "size": [-1, 0, (3,), (3, 4, 5), 2.5, "7", (3, float("nan")), True, [3, None],
             (2**62, 3), np.float64(3.0), (3, -2)],
    "scale_factor": [0, -1.0, float("nan"), float("inf"), "2", (2,), (1, 2, 3), 1e-30,
                     True, (2, None), [1.5, "x"], -0.0],
    "mode": ["bilinearx", "linear", "trilinear", "", None, 3, "BILINEAR", "cubic", b"nearest"],
    "align_corners": ["yes", 1, 2.0, [True]],
    "recompute_scale_factor": ["no", 2, 1.0],
    "antialias": ["x", 2, None, 1.0],
    "num_threads": [0, -1, 1.5, "2", True, [2]],
    "axes": [(0,), (1, 1), (5, 6), "ab", (2.0, 3.0), (2,), (2, 3, 1), 7],
}


@given(st.sampled_from(sorted(BAD)), st.data(),
       st.sampled_from(["bilinear", "nearest", "bicubic", "area"]),
       st.sampled_from(["size", "scale_factor"]))
def test_fuzz_bad_arguments(name, data, mode, resize):
    value = data.draw(st.sampled_from(BAD[name]))
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 6)).astype(np.float32)
    kw = {"mode": mode, resize: (7, 3) if resize == "size" else 1.5}
    if name == "scale_factor":
        kw.pop("size", None)
    elif name == "size":
        kw.pop("scale_factor", None)
    kw[name] = value
    try:
        got = ux.interpolate(x, **kw)
    except (ValueError, TypeError) as exc:
        event(f"{name}: {type(exc).__name__}")
        message = str(exc)
        # axes decides how many entries size / scale_factor / the mode need: a mismatch
        # may be reported on either side
        names = (name,) if name != "axes" else ("axes", "axis", "size", "scale_factor", "mode")
        names += ("axis of length",) if name in ("size", "scale_factor") else ()
        assert any(n in message for n in names), message
        return
    # accepted: torch must accept it too (torch has no num_threads / axes) and agree
    event(f"{name}: accepted")
    torch_kw = {k: v for k, v in kw.items() if k not in ("num_threads", "axes")}
    axes = [a % x.ndim for a in value] if name == "axes" else [2, 3]
    spatial = x.ndim - len(axes)
    moved = np.moveaxis(x, axes, list(range(spatial, x.ndim)))
    lead = moved.shape[:spatial]
    nchw = np.ascontiguousarray(moved).reshape((1, -1) + moved.shape[spatial:])
    try:
        expected = ref.torch_interpolate(nchw, **torch_kw)
    except NotImplementedError:  # beyond torch (bicubic on 1 or 3 axes): the reference
        event(f"{name}: beyond torch")
        expected = ref.interpolate(nchw.astype(np.float64), **torch_kw).astype(x.dtype)
    expected = np.moveaxis(expected.reshape(lead + expected.shape[2:]),
                           list(range(spatial, x.ndim)), axes)
    ref.assert_matches(got, expected, mode, str(kw))
