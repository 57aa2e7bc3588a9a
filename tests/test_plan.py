"""The execution plan: axes=, windows, every dtype, resize, and its bad inputs.

Oracles: torch on the axes moved to torch's layout (axes=), the plan's own full
result (windows must equal it bit for bit), OpenCV for uint16/int16 where it
has the mode, float32-computed-then-rounded for float16, and a float64 NumPy
reference for the integer area paths.
"""

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import upsamplex as ux

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(20261201)

# (mode, antialias, n_spatial)
SPECS = [("nearest", False, 2), ("nearest-exact", False, 1), ("linear", False, 1),
         ("bilinear", False, 2), ("bilinear", True, 2), ("bicubic", False, 2),
         ("bicubic", True, 2), ("lanczos", True, 2), ("trilinear", False, 3),
         ("area", False, 3), ("area", False, 2), ("nearest", False, 3)]


def _torch_result(x, axes, **kw):
    """torch on x with its axes moved to (N, C, *spatial), moved back."""
    batch = [a for a in range(x.ndim) if a not in axes]
    moved = np.moveaxis(x, list(batch) + list(axes), list(range(x.ndim)))
    bshape = moved.shape[:len(batch)]
    flat = np.ascontiguousarray(moved).reshape((1, -1) + moved.shape[len(batch):])
    y = F.interpolate(torch.from_numpy(flat), **kw).numpy()
    y = y.reshape(bshape + y.shape[2:])
    return np.moveaxis(y, list(range(x.ndim)), list(batch) + list(axes))


@pytest.mark.parametrize("n_batch", [0, 1, 2, 3])
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axes_equal_torch_on_moved_axes(spec, n_batch, dtype):
    mode, antialias, n_sp = spec
    rng = np.random.default_rng(n_batch * 31 + n_sp)
    ndim = n_batch + n_sp
    shape = [int(s) for s in rng.integers(2, 4, ndim)]
    spatial = sorted(rng.choice(ndim, n_sp, replace=False).tolist())
    for a in spatial:
        shape[a] = int(rng.integers(5, 12))
    axes = tuple(rng.permutation(spatial).tolist())  # any order
    x = rng.standard_normal(shape).astype(dtype)
    x = np.moveaxis(x, 0, -1).copy()[..., ::1]  # a non-default layout
    x = np.moveaxis(x, -1, 0)
    scale = tuple(float(s) for s in rng.choice([0.6, 1.5, 2.0], n_sp))
    kw = dict(scale_factor=scale, mode=mode)
    if antialias:
        kw["antialias"] = True
    y = ux.interpolate(x, axes=axes, **kw)
    ref = _torch_result(x, axes, **kw)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_axes_none_keeps_torch_layout_and_bits():
    x = RNG.standard_normal((2, 3, 9, 11)).astype(np.float32)
    a = ux.interpolate(x, scale_factor=1.7, mode="bicubic")
    b = ux.interpolate(x, scale_factor=1.7, mode="bicubic", axes=(2, 3))
    c = ux.interpolate(x, scale_factor=1.7, mode="bicubic", axes=(-2, -1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_hwc_photo_stays_hwc_without_copy():
    img = (RNG.random((40, 60, 3)) * 255).astype(np.uint8)
    y = ux.interpolate(img, scale_factor=0.5, mode="bilinear", antialias=True, axes=(0, 1))
    assert y.shape == (20, 30, 3) and y.flags.c_contiguous
    ref = F.interpolate(torch.from_numpy(img.transpose(2, 0, 1).copy())[None],
                        scale_factor=0.5, mode="bilinear", antialias=True)
    np.testing.assert_array_equal(y, ref[0].numpy().transpose(1, 2, 0))


@pytest.mark.parametrize("case", ["hwc", "nhwc", "zyx", "strided"])
def test_no_hidden_copy(case):
    # peak memory = output + tables (+ small row buffers): no copy of the input
    if case == "hwc":
        x, kw = np.ones((1024, 1024, 3), np.float32), dict(axes=(0, 1), mode="bilinear")
    elif case == "nhwc":
        x, kw = np.ones((4, 512, 512, 3), np.float32), dict(axes=(1, 2), mode="bicubic")
    elif case == "zyx":
        x, kw = np.ones((64, 128, 128), np.float32), dict(axes=(0, 1, 2), mode="trilinear")
    else:
        x = np.ones((3, 1024, 2048), np.float32)[:, :, ::2]
        kw = dict(axes=(1, 2), mode="bilinear")
    ux.interpolate(x, scale_factor=0.5, **kw)  # warm the caches
    tracemalloc.start()
    y = ux.interpolate(x, scale_factor=0.5, **kw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < y.nbytes + (2 << 20), (peak, y.nbytes)


# ---------------------------------------------------------------------------
# Windows: any window of the global result, bit for bit
# ---------------------------------------------------------------------------

WINDOW_SPECS = [("nearest", False), ("nearest-exact", False), ("bilinear", False),
                ("bilinear", True), ("bicubic", False), ("bicubic", True),
                ("lanczos", True), ("area", False)]


@st.composite
def _window_case(draw):
    mode, antialias = draw(st.sampled_from(WINDOW_SPECS))
    dtype = draw(st.sampled_from(["float32", "float64", "uint8", "uint16", "float16"]))
    n_batch = draw(st.integers(0, 2))
    n_sp = 2 if mode == "bilinear" else draw(st.integers(1, 3))
    if dtype == "uint8" and mode in ("bilinear", "bicubic", "lanczos"):
        n_sp = draw(st.integers(1, 2)) if mode != "bilinear" else 2  # the fixed-point path
    sizes = [draw(st.integers(1, 24)) for _ in range(n_sp)]
    scales = [draw(st.sampled_from([0.3, 0.5, 0.77, 1.0, 1.3, 2.0, 3.1])) for _ in range(n_sp)]
    scales = [max(s, 1.0 / n + 1e-9) for s, n in zip(scales, sizes)]
    batch = [draw(st.integers(1, 3)) for _ in range(n_batch)]
    ndim = n_batch + n_sp
    axes = tuple(draw(st.permutations(range(ndim)))[:n_sp])
    shape = [0] * ndim
    for a, n in zip(axes, sizes):
        shape[a] = n
    rest = iter(batch)
    for a in range(ndim):
        if a not in axes:
            shape[a] = next(rest)
    return mode, antialias, dtype, tuple(shape), axes, tuple(scales), draw(st.randoms())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_window_case())
def test_window_equals_the_global_result(case):
    mode, antialias, dtype, shape, axes, scales, rand = case
    rng = np.random.default_rng(rand.getrandbits(32))
    if dtype in ("uint8", "uint16"):
        x = rng.integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    p = ux.plan(x.shape, x.dtype, scale_factor=scales, mode=mode, antialias=antialias,
                axes=axes)
    full = p(x)
    np.testing.assert_array_equal(full, ux.interpolate(x, scale_factor=scales, mode=mode,
                                                       antialias=antialias, axes=axes))
    window = []
    for n in p.out_shape:
        a = rand.randrange(n)
        window.append(slice(a, rand.randrange(a, n) + 1))
    window = tuple(window)
    part = p(x[p.input_window(window)], out_window=window)
    np.testing.assert_array_equal(part, full[window])
    if np.dtype(dtype).kind == "f":
        g = rng.standard_normal(full.shape).astype(dtype)
        grad = p.backward(g)
        in_window = []
        for n in p.in_shape:
            a = rand.randrange(n)
            in_window.append(slice(a, rand.randrange(a, n) + 1))
        in_window = tuple(in_window)
        part = p.backward(g[p.grad_window(in_window)], in_window=in_window)
        np.testing.assert_array_equal(part, grad[in_window])


@pytest.mark.parametrize("hfirst_shape", [(3, 64, 40), (3, 40, 64)])
def test_windows_in_both_pass_orders(hfirst_shape):
    # The pass order is fixed by the plan's global tables, so a window whose own
    # sizes would pick the other order still sums in the plan's order.
    x = RNG.standard_normal(hfirst_shape).astype(np.float32)
    for scale in [(0.3, 2.5), (2.5, 0.3)]:
        p = ux.plan(x.shape, x.dtype, scale_factor=scale, mode="bicubic", axes=(1, 2))
        full = p(x)
        for w in [(slice(None), slice(0, 3), slice(None)), (slice(1, 2), slice(None), slice(0, 2)),
                  (slice(None), slice(5, 9), slice(7, 30))]:
            w = tuple(slice(*s.indices(n)[:2]) for s, n in zip(w, p.out_shape))
            np.testing.assert_array_equal(p(x[p.input_window(w)], out_window=w), full[w])


def test_plan_matches_interpolate_and_reuses_out():
    x = RNG.standard_normal((2, 3, 30, 31)).astype(np.float32)
    p = ux.plan(x.shape, x.dtype, size=(17, 45), mode="bilinear", antialias=True)
    buf = np.empty(p.out_shape, np.float32)
    assert p(x, out=buf) is buf
    np.testing.assert_array_equal(buf, ux.interpolate(x, size=(17, 45), mode="bilinear",
                                                      antialias=True))
    g = RNG.standard_normal(p.out_shape).astype(np.float32)
    np.testing.assert_array_equal(
        p.backward(g), ux.interpolate_backward(g, x.shape, size=(17, 45), mode="bilinear",
                                               antialias=True))
    assert "Plan(" in repr(p) and p.axes == (2, 3)


def test_input_window_includes_edge_clamp():
    p = ux.plan((1, 1, 10), np.float64, size=20, mode="bicubic")
    # the first outputs read clamped taps: the slab starts at 0
    assert p.input_window((slice(None), slice(None), slice(0, 2))) == (
        slice(0, 1), slice(0, 1), slice(0, 3))
    assert p.input_window((slice(None), slice(None), slice(19, 20)))[2] == slice(8, 10)


def test_large_calls_run_in_bands_with_the_same_bits(monkeypatch):
    # Bands bound temporaries and let Ctrl-C through; they are windows, so the
    # bits are those of one call.
    x = RNG.standard_normal((1, 2, 61, 47)).astype(np.float32)
    for dtype in (np.float32, np.uint16, np.float16):
        xd = (x * 1000 + 30000).astype(dtype) if dtype == np.uint16 else x.astype(dtype)
        whole = ux.interpolate(xd, scale_factor=(0.7, 2.3), mode="bicubic")
        monkeypatch.setattr(ux.Plan, "_BAND_BYTES", 256)
        monkeypatch.setattr(ux.Plan, "_PROMOTE_BAND_BYTES", 256)
        ux._plan.PLAN_CACHE.clear()
        banded = ux.interpolate(xd, scale_factor=(0.7, 2.3), mode="bicubic")
        monkeypatch.undo()
        ux._plan.PLAN_CACHE.clear()
        np.testing.assert_array_equal(banded, whole)


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------

GATHER_DTYPES = [bool, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
                 np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128,
                 np.longdouble, np.clongdouble]


def _bytes_equal(a, b):
    return a.shape == b.shape and np.array_equal(np.ascontiguousarray(a).view(np.uint8),
                                                 np.ascontiguousarray(b).view(np.uint8))


@pytest.mark.parametrize("dtype", GATHER_DTYPES)
@pytest.mark.parametrize("layout", ["nchw", "hwc", "strided"])
def test_nearest_is_an_exact_gather_for_every_dtype(dtype, layout):
    x = (RNG.standard_normal((2, 3, 7, 9)) * 1000).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x.flat[::7] = np.nan  # NaN payloads survive a bitwise gather
    if layout == "hwc":
        x, axes = x[0].transpose(1, 2, 0), (0, 1)
    elif layout == "strided":
        x, axes = x[:, :, ::-1, ::2], (2, 3)
    else:
        axes = (2, 3)
    p = ux.plan(x.shape, x.dtype, size=(11, 4), mode="nearest", axes=axes)
    y = p(x)
    src_h = np.arange(11) * x.shape[axes[0]] // 11
    src_w = np.arange(4) * x.shape[axes[1]] // 4
    ref = np.take(np.take(x, src_h, axis=axes[0]), src_w, axis=axes[1])
    assert y.dtype == x.dtype and _bytes_equal(y, ref)


@pytest.mark.parametrize("labels_dtype", [np.int32, np.int64, np.uint16, bool])
def test_label_masks_keep_their_labels(labels_dtype):
    labels = RNG.integers(0, 2 if labels_dtype is bool else 1000, (64, 48)).astype(labels_dtype)
    y = ux.interpolate(labels, size=(128, 96), mode="nearest", axes=(0, 1))
    np.testing.assert_array_equal(y[::2, ::2], labels)


FILTER_SPECS = [("bilinear", False), ("bilinear", True), ("bicubic", False),
                ("bicubic", True), ("lanczos", True), ("area", False)]


@pytest.mark.parametrize("spec", FILTER_SPECS)
@pytest.mark.parametrize("scale", [0.4, 0.75, 1.6])
def test_float16_is_float32_computed_then_rounded(spec, scale):
    mode, antialias = spec
    x = RNG.standard_normal((2, 3, 13, 17)).astype(np.float16)
    y = ux.interpolate(x, scale_factor=scale, mode=mode, antialias=antialias)
    ref = ux.interpolate(x.astype(np.float32), scale_factor=scale, mode=mode,
                         antialias=antialias).astype(np.float16)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, ref)
    g = RNG.standard_normal(y.shape).astype(np.float16)
    gx = ux.interpolate_backward(g, x.shape, scale_factor=scale, mode=mode,
                                 antialias=antialias)
    gref = ux.interpolate_backward(g.astype(np.float32), x.shape, scale_factor=scale,
                                   mode=mode, antialias=antialias).astype(np.float16)
    assert gx.dtype == np.float16
    np.testing.assert_array_equal(gx, gref)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
@pytest.mark.parametrize("spec", FILTER_SPECS + [("trilinear", False)])
def test_16bit_rounds_to_nearest_then_saturates(dtype, spec):
    mode, antialias = spec
    info = np.iinfo(dtype)
    nd = 3 if mode == "trilinear" else 2
    shape = (2, 11, 13, 9)[:nd + 1]
    x = RNG.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    x.flat[::5] = info.max  # ringing of cubic/lanczos must saturate, not wrap
    x.flat[1::5] = info.min
    axes = tuple(range(1, nd + 1))
    y = ux.interpolate(x, scale_factor=1.7, mode=mode, antialias=antialias, axes=axes)
    ref = ux.interpolate(x.astype(np.float32), scale_factor=1.7, mode=mode,
                         antialias=antialias, axes=axes)
    ref = np.clip(np.rint(ref), info.min, info.max).astype(dtype)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref)


cv2 = None
try:
    import cv2
except ImportError:  # pragma: no cover - OpenCV is a test extra
    pass


@pytest.mark.skipif(cv2 is None, reason="OpenCV not installed")
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8])
@pytest.mark.parametrize("mode, flag, scale", [
    ("bilinear", "INTER_LINEAR", 1.7), ("bilinear", "INTER_LINEAR", 2.0),
    ("bicubic", "INTER_CUBIC", 1.5), ("area", "INTER_AREA", 0.5), ("area", "INTER_AREA", 0.25),
    ("nearest", "INTER_NEAREST", 0.5)])
@pytest.mark.parametrize("channels", [1, 3])
def test_integers_agree_with_opencv(dtype, mode, flag, scale, channels):
    info = np.iinfo(dtype)
    img = RNG.integers(info.min // 2, info.max // 2, (48, 64, channels)).astype(dtype)
    if dtype == np.uint8 and mode != "area":
        pytest.skip("uint8 follows torch's fixed point; tested against torch")
    h, w = int(48 * scale), int(64 * scale)
    ref = cv2.resize(img, (w, h), interpolation=getattr(cv2, flag))
    ref = ref.reshape(h, w, channels)
    y = ux.resize(img, (h, w), mode=mode, antialias=False)
    diff = np.abs(y.astype(np.int64) - ref.astype(np.int64))
    assert diff.max() <= 1, diff.max()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_area_on_integers_at_integer_factors_is_the_rounded_mean(dtype):
    x = RNG.integers(0, np.iinfo(dtype).max, (3, 24, 36)).astype(dtype)
    y = ux.interpolate(x, scale_factor=1 / 3, mode="area", axes=(1, 2))
    mean = x.astype(np.float64).reshape(3, 8, 3, 12, 3).mean(axis=(2, 4))
    np.testing.assert_array_equal(y, np.clip(np.rint(mean), 0, np.iinfo(dtype).max))


def test_uint8_one_axis_uses_the_fixed_point_path():
    x = RNG.integers(0, 256, (2, 3, 40)).astype(np.uint8)
    y = ux.interpolate(x, scale_factor=0.45, mode="bicubic", antialias=True)
    ref = ux.interpolate(x[:, :, None], scale_factor=(1, 0.45), mode="bicubic", antialias=True)
    np.testing.assert_array_equal(y, ref[:, :, 0])


# ---------------------------------------------------------------------------
# resize
# ---------------------------------------------------------------------------

def test_resize_antialiases_when_shrinking_only():
    img = (RNG.random((60, 80, 3)) * 255).astype(np.uint8)
    small = ux.resize(img, (30, 40))
    np.testing.assert_array_equal(
        small, ux.interpolate(img, size=(30, 40), mode="bilinear", antialias=True, axes=(0, 1)))
    big = ux.resize(img, (120, 160), mode="bicubic")
    np.testing.assert_array_equal(
        big, ux.interpolate(img, size=(120, 160), mode="bicubic", axes=(0, 1)))
    vol = RNG.standard_normal((10, 12, 14)).astype(np.float32)
    np.testing.assert_array_equal(
        ux.resize(vol, (5, 24, 14), mode="linear"),
        ux.interpolate(vol, size=(5, 24, 14), mode="trilinear", antialias=True,
                       axes=(0, 1, 2)))
    chw = RNG.standard_normal((3, 20, 20)).astype(np.float32)
    assert ux.resize(chw, (10, 30), channel_axis=0).shape == (3, 10, 30)
    assert ux.resize(chw, (10, 30), channel_axis=0, mode="nearest").shape == (3, 10, 30)


# ---------------------------------------------------------------------------
# Bad input: a ValueError/TypeError naming the argument
# ---------------------------------------------------------------------------

X = np.zeros((2, 3, 8, 8), np.float32)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(axes=(0, 4)), ValueError, r"axes entry 4 is out of range for 4-D input"),
    (dict(axes=(1, -5)), ValueError, r"axes entry -5 is out of range"),
    (dict(axes=(1, 1)), ValueError, r"axes must not repeat an axis"),
    (dict(axes=(1, -3)), ValueError, r"axes must not repeat an axis"),
    (dict(axes=()), ValueError, r"axes must name 1 to 3 spatial axes, got 0"),
    (dict(axes=(0, 1, 2, 3)), ValueError, r"axes must name 1 to 3 spatial axes, got 4"),
    (dict(axes=(1.0, 2)), TypeError, r"axes must contain integers"),
    (dict(axes="01"), TypeError, r"axes must contain integers"),
    (dict(axes=(2,), mode="bilinear"), ValueError, r"mode='bilinear' needs 2 spatial axes"),
    (dict(axes=(1, 2, 3), mode="linear"), ValueError, r"mode='linear' needs 1 spatial axis"),
    (dict(axes=(2, 3), size=(4, 4, 4)), ValueError, r"size must have 2 entries"),
    (dict(axes=(3,), scale_factor=(2, 2)), ValueError, r"scale_factor must have 1 entry"),
])
def test_axes_errors(kwargs, exc, match):
    kw = dict(scale_factor=2, mode="nearest")
    kw.update(kwargs)
    if "size" in kwargs:
        del kw["scale_factor"]
    with pytest.raises(exc, match=match):
        ux.interpolate(X, **kw)


def test_dtype_errors_name_the_modes_that_accept_it():
    with pytest.raises(TypeError, match=r"int32 is not supported by mode='bilinear'.*"
                                        r"'nearest' and 'nearest-exact' take any"):
        ux.interpolate(X.astype(np.int32), scale_factor=2, mode="bilinear")
    with pytest.raises(TypeError, match=r"grad_output dtype uint16 is not supported"):
        ux.interpolate_backward(np.zeros((2, 3, 16, 16), np.uint16), X.shape, scale_factor=2)
    p = ux.plan(X.shape, np.uint8, scale_factor=2, mode="bilinear")
    with pytest.raises(TypeError, match=r"gradient is defined for float dtypes"):
        p.backward(np.zeros(p.out_shape, np.uint8))


def test_plan_call_errors():
    p = ux.plan(X.shape, X.dtype, scale_factor=2, mode="bilinear")
    with pytest.raises(TypeError, match=r"input dtype float64 does not match the plan's dtype "
                                        r"float32"):
        p(X.astype(np.float64))
    with pytest.raises(ValueError, match=r"input has shape \(2, 3, 8, 9\), expected"):
        p(np.zeros((2, 3, 8, 9), np.float32))
    with pytest.raises(TypeError, match=r"out must have dtype float32"):
        p(X, out=np.empty(p.out_shape, np.float64))
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3, 16, 16\)"):
        p(X, out=np.empty((2, 3, 16, 15), np.float32))
    w = (slice(None), slice(None), slice(0, 4), slice(0, 20))
    with pytest.raises(ValueError, match=r"out_window slice .* on axis 3 is outside the extent "
                                         r"0..16"):
        p.input_window(w)
    with pytest.raises(ValueError, match=r"out_window must have one slice per axis \(4\), got 2"):
        p.input_window((slice(0, 2), slice(0, 2)))
    with pytest.raises(ValueError, match=r"out_window slices must have step 1"):
        p.input_window((slice(None), slice(None), slice(0, 4, 2), slice(None)))
    with pytest.raises(TypeError, match=r"out_window must be a tuple of slices"):
        p.input_window([0, 1, 2, 3])
    good = (slice(None), slice(None), slice(0, 4), slice(0, 4))
    with pytest.raises(ValueError, match=r"input has shape \(2, 3, 8, 8\), but out_window needs "
                                         r"the window of shape \(2, 3, 3, 3\)"):
        p(X, out_window=good)
    with pytest.raises(ValueError, match=r"in_window slice"):
        p.grad_window((slice(None), slice(None), slice(0, 9), slice(None)))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(shape=(4, 4, 4, 4)), ValueError, r"shape must have 1 to 3 entries"),
    (dict(shape="4x4"), TypeError, r"shape must be a tuple of ints"),
    (dict(shape=(4.5, 4)), TypeError, r"shape must contain integers"),
    (dict(shape=(4, 4), mode="bogus"), ValueError, r"mode must be one of"),
    (dict(shape=(4, 4), channel_axis=3), ValueError, r"channel_axis 3 is out of range"),
    (dict(shape=(4, 4, 4), channel_axis=-1), ValueError, r"shape must give the 2 non-channel"),
])
def test_resize_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ux.resize(np.zeros((8, 8, 3), np.uint8), **kwargs)


# ---------------------------------------------------------------------------
# Upsample with axes=, and the layer's strict scale_factor
# ---------------------------------------------------------------------------

def test_upsample_layer_takes_axes_and_antialias():
    from upsamplex import nn

    img = RNG.standard_normal((12, 10, 3)).astype(np.float32)
    for layer in (ux.Upsample(scale_factor=0.5, mode="bilinear", antialias=True, axes=(0, 1)),
                  nn.Upsample(scale_factor=0.5, mode="bilinear", antialias=True, axes=(0, 1))):
        y = layer(img)
        np.testing.assert_array_equal(
            y, ux.interpolate(img, scale_factor=0.5, mode="bilinear", antialias=True,
                              axes=(0, 1)))
        g = np.ones_like(y)
        np.testing.assert_array_equal(
            layer.backward(g), ux.interpolate_backward(g, img.shape, scale_factor=0.5,
                                                       mode="bilinear", antialias=True,
                                                       axes=(0, 1)))
        assert "axes=(0, 1)" in repr(layer) and "antialias=True" in repr(layer)


@pytest.mark.parametrize("scale", ["2", False, True, b"2"])
def test_upsample_layer_refuses_non_numeric_scale(scale):
    with pytest.raises(TypeError, match="scale_factor must be a number"):
        ux.Upsample(scale_factor=scale)(np.zeros((1, 1, 4), np.float32))


# ---------------------------------------------------------------------------
# Ctrl-C during a long call
# ---------------------------------------------------------------------------

def test_long_interpolate_honours_ctrl_c_promptly():
    # One long call (no loop to hide behind): it runs in bands, and the
    # interrupt is raised between two of them, long before the call would end.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import os, signal, sys, threading, time
        import numpy as np
        import upsamplex as ux
        # Python keeps SIGINT ignored when it starts with it ignored (a background job).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        ux.Plan._BAND_BYTES = 1 << 20
        x = np.ones((1, 1, 6000, 6000), np.float32)
        kw = dict(scale_factor=0.4, mode="lanczos", antialias=True, num_threads=1)
        t0 = time.perf_counter()
        ux.interpolate(x, **kw)
        full = time.perf_counter() - t0
        threading.Timer(0.1 * full, os.kill, (os.getpid(), signal.SIGINT)).start()
        t0 = time.perf_counter()
        try:
            ux.interpolate(x, **kw)
        except KeyboardInterrupt:
            print(full, time.perf_counter() - t0)
            sys.exit(0)
        sys.exit(1)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    full, stopped = (float(t) for t in proc.stdout.split())
    assert stopped < 0.5 * full, (full, stopped)


# ---------------------------------------------------------------------------
# Caches are bounded in bytes, not entries
# ---------------------------------------------------------------------------

def test_table_and_plan_caches_stay_within_their_byte_budgets():
    from upsamplex import _axis_tables, _plan

    x = np.zeros((1, 1, 200_000), np.float32)
    for n_out in range(1000, 60_000, 997):  # a long signal to many lengths
        ux.interpolate(x, size=n_out, mode="area")
        ux.interpolate(x, size=n_out, mode="bicubic", antialias=True)
    for cache in (_axis_tables.TABLE_CACHE, _plan.PLAN_CACHE):
        assert 0 < cache.bytes <= cache.max_bytes, (cache.bytes, cache.max_bytes)
    # a table bigger than a quarter of the budget is never built whole, nor kept:
    # the plan builds the windows each call needs (tests/test_long_axes.py)
    big = ux.plan((1, 1, 6_000_000), np.float32, size=5_000_000, mode="bicubic",
                  antialias=True)
    assert big.nbytes < 1024
    big(np.zeros(big.in_shape, np.float32))
    key = ("forward", "aa-cubic", 6_000_000, 5_000_000, None, False, "<f4")
    assert _axis_tables.TABLE_CACHE.get(key) is None


def test_num_threads_none_respects_cgroup_quota(monkeypatch):
    from upsamplex import _cpu, _validation

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_cpu, "_quota_cache", [1])
    assert _validation.check_num_threads(None) == 1


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_unaligned_inputs_and_outputs_give_the_aligned_bits(mode):
    # The kernels read typed pointers: an unaligned view is realigned first
    # (UBSan: a misaligned float load is undefined behaviour).
    x = RNG.standard_normal((2, 3, 9, 11)).astype(np.float32)
    raw = np.empty(x.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(x.shape)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    want = ux.interpolate(x, scale_factor=1.5, mode=mode)
    np.testing.assert_array_equal(ux.interpolate(unaligned, scale_factor=1.5, mode=mode), want)
    raw_out = np.empty(want.nbytes + 1, np.uint8)
    out = raw_out[1:].view(np.float32).reshape(want.shape)
    ux.interpolate(x, scale_factor=1.5, mode=mode, out=out)
    np.testing.assert_array_equal(out, want)


class _AlignedOnly:
    """The float/uint8 kernels, refusing any unaligned array they are handed."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        fn = getattr(self._module, name)
        if not callable(fn) or isinstance(fn, type):
            return fn

        def checked(*args, **kwargs):
            for a in args:
                if isinstance(a, np.ndarray):
                    assert a.flags.aligned, f"{name} got an unaligned array"
            return fn(*args, **kwargs)

        return checked


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic", "area"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_unaligned_contiguous_input_reaches_the_kernels_aligned(mode, dtype, monkeypatch):
    # A C-contiguous but unaligned buffer (as a pickle frame can hand out) is copied
    # before the kernels read typed pointers from it: UBSan's misaligned-load report.
    from upsamplex import _plan

    monkeypatch.setattr(_plan, "_resample", _AlignedOnly(_plan._resample))
    monkeypatch.setattr(_plan, "_resample_uint8", _AlignedOnly(_plan._resample_uint8))
    x = (RNG.standard_normal((2, 3, 9, 11)) * 50 + 100).astype(dtype)
    raw = np.empty(x.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(dtype).reshape(x.shape)
    unaligned[...] = x
    assert unaligned.flags.c_contiguous and (dtype == np.uint8 or not unaligned.flags.aligned)
    want = ux.interpolate(x, scale_factor=1.5, mode=mode, num_threads=1)
    got = ux.interpolate(unaligned, scale_factor=1.5, mode=mode, num_threads=1)
    np.testing.assert_array_equal(got, want)
