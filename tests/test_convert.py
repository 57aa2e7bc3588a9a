"""The float32 <-> uint8/uint16/int16/float16 conversions of the float32-computed dtypes.

`convert` replaces NumPy's ``astype`` on the way in and ``rint``/``clip``/``astype``
on the way out (one pass, on a band still in cache). Its bits must be NumPy's:
every float16, ties, saturation, the float16 overflow threshold, in both builds
(the AVX2 one converts float16 with F16C, the portable one bit by bit), for any
strides, alignment and thread count.
"""

import numpy as np
import pytest

import upsamplex as ux
from upsamplex._kernels import _resample, float_kernels

MODULES = [_resample] + ([float_kernels()] if float_kernels() is not _resample else [])
IDS = [m.__name__.rsplit(".", 1)[1] for m in MODULES]
NARROW = [np.uint8, np.uint16, np.int16, np.float16]


def numpy_narrow(src, dtype):
    """The rounding store as NumPy computes it (the reference)."""
    if np.dtype(dtype).kind == "f":
        return src.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(src), info.min, info.max).astype(dtype)


def narrow(mod, src, dtype, threads=1):
    dst = np.empty(src.shape, dtype)
    mod.convert(src, dst, threads)
    return dst


def widen(mod, src, threads=1):
    dst = np.empty(src.shape, np.float32)
    mod.convert(src, dst, threads)
    return dst


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
def test_every_float16_widens_exactly(mod):
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    got = widen(mod, halves)
    np.testing.assert_array_equal(got, halves.astype(np.float32))
    finite = np.isfinite(halves)
    assert np.array_equal(got[finite].view(np.uint32),
                          halves[finite].astype(np.float32).view(np.uint32))  # -0.0 too


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
def test_float32_to_float16_rounds_like_numpy(mod):
    rng = np.random.default_rng(0)
    # random bit patterns over every exponent, plus each half's neighbourhood:
    # the value itself, the halfway points to its neighbours and one ulp either side
    bits = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = halves[np.isfinite(halves) & (np.abs(halves) < np.float16(65504))]
    h = finite.astype(np.float64)
    # halfway to the next half away from zero (exact in float32)
    mid = ((h + np.nextafter(finite, np.copysign(np.float16(np.inf), finite))
            .astype(np.float64)) / 2).astype(np.float32)
    cases = np.concatenate([
        bits.view(np.float32), h.astype(np.float32), mid, np.nextafter(mid, np.float32(np.inf)),
        np.nextafter(mid, np.float32(-np.inf)),
        np.float32([65504, 65519.99, 65520, 65536, 1e30, np.inf, -np.inf, 2.0 ** -24,
                    2.0 ** -25, 2.0 ** -25 * 1.0000001, 2.0 ** -26, 2.0 ** -14, 0.0, -0.0]),
    ])
    got = narrow(mod, cases, np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = cases.astype(np.float16)
    same = got.view(np.uint16) == expected.view(np.uint16)
    both_nan = np.isnan(got) & np.isnan(expected)
    assert np.all(same | both_nan), cases[~(same | both_nan)][:10]
    assert np.array_equal(np.isnan(got), np.isnan(cases))


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_integers_round_half_to_even_and_saturate(mod, dtype):
    info = np.iinfo(dtype)
    k = np.arange(float(info.min) - 3, float(info.max) + 4, dtype=np.float32)
    cases = np.concatenate([k, k + 0.5, k - 0.5, k + 0.49999997, k + 0.25, np.float32(
        [1e9, -1e9, 3e38, -3e38, np.inf, -np.inf, 0.5, 1.5, 2.5, -0.5, -1.5, 2 ** 23 + 1])])
    got = narrow(mod, cases, dtype)
    np.testing.assert_array_equal(got, numpy_narrow(cases, dtype))
    # NaN cannot come from integer inputs; documented as the lower bound
    assert narrow(mod, np.float32([np.nan]), dtype)[0] == info.min


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_integers_widen_exactly(mod, dtype):
    info = np.iinfo(dtype)
    x = np.arange(info.min, info.max + 1).astype(dtype)
    np.testing.assert_array_equal(widen(mod, x), x.astype(np.float32))


def _layouts(rng, dtype, shape):
    """Views of one array: contiguous, transposed, reversed, strided, unaligned."""
    base = (rng.standard_normal(shape) * 3000).astype(dtype)
    yield "contiguous", base
    yield "transposed", base.transpose(2, 0, 1)
    yield "reversed", base[::-1, :, ::-1]
    yield "every-2nd", base[:, ::2, 1:]
    raw = np.zeros(base.nbytes + 1, np.uint8)[1:].view(dtype).reshape(shape)
    raw[...] = base
    yield "unaligned", raw
    yield "empty", base[:, :0]
    yield "one", base[:1, :1, :1]


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("threads", [1, 2])
def test_any_strides_both_directions(mod, dtype, threads, rng):
    shape = (37, 41, 50)  # > 65536 items: the parallel branch
    for name, x in _layouts(rng, dtype, shape):
        got = widen(mod, x, threads)
        np.testing.assert_array_equal(got, x.astype(np.float32), err_msg=name)
        for fname, fv in _layouts(rng, np.float32, shape):
            out_view = np.empty(fv.shape[::-1], dtype).transpose(2, 1, 0)  # odd dst strides
            mod.convert(fv, out_view, threads)
            np.testing.assert_array_equal(out_view, numpy_narrow(fv, dtype),
                                          err_msg=f"{name} {fname}")


def test_refuses_other_pairs():
    with pytest.raises(TypeError, match=r"convert: no conversion float64 \(3,\) -> uint16"):
        _resample.convert(np.zeros(3), np.zeros(3, np.uint16), 1)
    with pytest.raises(TypeError, match=r"convert: no conversion float32 \(3,\) -> float32"):
        _resample.convert(np.zeros(3, np.float32), np.zeros(3, np.float32), 1)
    with pytest.raises(TypeError, match=r"no conversion uint16 \(3,\) -> float32 \(4,\)"):
        _resample.convert(np.zeros(3, np.uint16), np.zeros(4, np.float32), 1)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float16, np.uint8])
@pytest.mark.parametrize("layout", ["hwc", "chw", "grey", "strided-out", "strided-planar"])
@pytest.mark.parametrize("size", [(50, 90), (20, 30), (50, 30)], ids=["up", "down", "mixed"])
@pytest.mark.parametrize("bands", [4096, 1 << 30], ids=["bands", "whole"])
def test_narrow_rows_equal_float32_rounded(dtype, layout, size, bands, rng, monkeypatch):
    """The kernels round each finished float32 row into the narrow output (every
    kernel: planar and channels-last, W pass first or not; packed, strided and
    single-channel outputs), band by band or whole: the float32 result, rounded."""
    from upsamplex import _plan
    monkeypatch.setattr(_plan.Plan, "_PROMOTE_BAND_BYTES", bands)
    x = (rng.random((45, 61, 3)) * 300 - (50 if dtype == np.int16 else 0)).astype(dtype)
    axes = (0, 1)
    if layout in ("chw", "strided-planar"):
        x, axes = np.ascontiguousarray(x.transpose(2, 0, 1)), (1, 2)
    elif layout == "grey":
        x = np.ascontiguousarray(x[..., 1])
    mode = "area" if dtype == np.uint8 else "bicubic"
    kw = dict(size=size, mode=mode, axes=axes)
    expected = numpy_narrow(ux.interpolate(x.astype(np.float32), **kw), dtype)
    if layout.startswith("strided"):
        shape = expected.shape
        big = np.zeros(tuple(2 * n + 1 for n in shape), dtype)
        out = big[1::2, 1::2, 1::2][:shape[0], :shape[1], :shape[2]]
        got = ux.interpolate(x, out=out, **kw)
        assert got is out
        assert not big[::2].any() and not big[:, ::2].any() and not big[:, :, ::2].any()
    else:
        got = ux.interpolate(x, **kw)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.uint16, np.float16])
def test_narrow_rows_in_3d(dtype, rng):
    """Depth taps combined before the W pass, then rows rounded (3-D kernels)."""
    x = (rng.random((2, 9, 11, 13)) * 1000).astype(dtype)
    for kw in (dict(scale_factor=2, mode="trilinear"), dict(size=(4, 5, 6), mode="trilinear",
               antialias=True), dict(size=(12, 7, 20), mode="bicubic")):
        for axes in ((1, 2, 3), (0, 1, 2)):
            expected = numpy_narrow(ux.interpolate(x.astype(np.float32), axes=axes, **kw),
                                    dtype)
            np.testing.assert_array_equal(ux.interpolate(x, axes=axes, **kw), expected)


def test_scratch_pool_is_bounded_and_shared_safely(rng, monkeypatch):
    """Band temporaries come back to a pool bounded in bytes; concurrent calls
    from several Python threads each get their own buffers."""
    from concurrent.futures import ThreadPoolExecutor

    from upsamplex import _plan
    monkeypatch.setattr(_plan.Plan, "_PROMOTE_BAND_BYTES", 64 << 10)
    pool = _plan.ScratchPool(1 << 20)
    monkeypatch.setattr(_plan, "SCRATCH", pool)
    images = [(rng.random((300, 200)) * 60000).astype(np.uint16) for _ in range(8)]
    kw = dict(size=(410, 170), mode="bilinear", axes=(0, 1), num_threads=1)
    expected = [numpy_narrow(ux.interpolate(im.astype(np.float32), **kw), np.uint16)
                for im in images]
    with ThreadPoolExecutor(4) as ex:
        for _ in range(3):
            got = list(ex.map(lambda im: ux.interpolate(im, **kw), images))
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_array_equal(g, e)
    kept = sum(b.nbytes for b in pool._free)
    assert 0 < kept <= 1 << 20
    big = (rng.random((1500, 1500)) * 60000).astype(np.uint16)
    monkeypatch.setattr(_plan.Plan, "_PROMOTE_BAND_BYTES", 16 << 20)
    ux.interpolate(big, size=(1600, 1600), mode="bilinear", axes=(0, 1))
    assert sum(b.nbytes for b in pool._free) <= 1 << 20  # a 10 MiB temporary is dropped
