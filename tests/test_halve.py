"""'area' at a factor of 2 on uint8, uint16 and int16: the exact integer box mean.

These dtypes compute 'area' in float32 and round once (to nearest, ties to even);
at a factor of 2 that float32 result is the exact mean, so the integer kernel
(_halve.h) must give its bits everywhere: every rank, kept and halved axes mixed,
any layout, strides, alignment, windows, and ties (sums at exactly .5).
"""

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _plan

RNG = np.random.default_rng(11)
DTYPES = [np.uint8, np.uint16, np.int16]


def samples(shape, dtype):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def takes_halving(plan):
    return plan._forward_pass().kind == "halve"


def float_reference(x, **kw):
    """The float32 computation rounded once, as the promoted path defines it."""
    info = np.iinfo(x.dtype)
    y = ux.interpolate(x.astype(np.float32), mode="area", **kw)
    return np.clip(np.rint(y), info.min, info.max).astype(x.dtype)


GEOMETRIES = [  # (input spatial shape, output size)
    ((8,), (4,)),
    ((2, 9), (1, 9)),
    ((6, 10), (3, 5)),
    ((6, 10), (6, 5)),
    ((4, 6, 8), (2, 3, 4)),
    ((4, 6, 8), (4, 3, 8)),
    ((4, 6, 8), (2, 6, 8)),
    ((2, 2, 2), (1, 1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_integer_halving_is_the_float32_result(dtype, geometry):
    spatial, size = geometry
    x = samples((2, 3) + spatial, dtype)
    plan = ux.plan(x.shape, x.dtype, size=size, mode="area")
    assert takes_halving(plan)
    np.testing.assert_array_equal(plan(x), float_reference(x, size=size))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_tie_rounds_to_even(dtype):
    # all 2x2 sums of small values, negative ones too for int16
    lo = -6 if dtype == np.int16 else 0
    vals = np.arange(lo, lo + 8)
    grid = np.stack(np.meshgrid(vals, vals, vals, vals, indexing="ij"), -1).reshape(-1, 4)
    x = grid.reshape(-1, 2, 2).transpose(1, 0, 2).reshape(2, -1).astype(dtype)  # (2, 2n)
    got = ux.interpolate(x, size=(1, x.shape[1] // 2), mode="area", axes=(0, 1))
    np.testing.assert_array_equal(got, float_reference(x, size=(1, x.shape[1] // 2),
                                                       axes=(0, 1)))
    np.testing.assert_array_equal(got[0], np.rint(grid.sum(1) / 4).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_strides_and_alignment(dtype):
    hwc = samples((40, 62, 3), dtype)
    kw = dict(size=(20, 31), axes=(0, 1))
    expected = float_reference(hwc, **kw)
    views = {
        "hwc": hwc,
        "chw-view": np.ascontiguousarray(hwc.transpose(2, 0, 1)).transpose(1, 2, 0),
        "reversed": np.ascontiguousarray(hwc[::-1, ::-1])[::-1, ::-1],
        "strided": np.repeat(hwc, 2, axis=2)[..., ::2],
    }
    raw = np.zeros(hwc.nbytes + 1, np.uint8)[1:].view(dtype).reshape(hwc.shape)
    raw[...] = hwc
    views["unaligned"] = raw
    for name, x in views.items():
        np.testing.assert_array_equal(x, hwc)
        np.testing.assert_array_equal(ux.interpolate(x, mode="area", **kw), expected,
                                      err_msg=name)
    big = np.zeros((41, 63, 5), dtype)
    out = big[1::2, 1::2, 1:4]
    assert ux.interpolate(hwc, mode="area", out=out, **kw) is out
    np.testing.assert_array_equal(out, expected)
    assert not big[::2].any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_windows_and_bands(dtype, monkeypatch):
    x = samples((1, 2, 30, 44), dtype)
    plan = ux.plan(x.shape, x.dtype, size=(15, 22), mode="area")
    whole = plan(x)
    np.testing.assert_array_equal(whole, float_reference(x, size=(15, 22)))
    win = (slice(None), slice(1, 2), slice(3, 11), slice(5, 20))
    slab = x[plan.input_window(win)]
    np.testing.assert_array_equal(plan(slab, out_window=win), whole[win])
    monkeypatch.setattr(_plan.Plan, "_BAND_BYTES", 64)  # many bands
    np.testing.assert_array_equal(plan(x), whole)
    np.testing.assert_array_equal(plan(x, num_threads=2), whole)


def test_only_exact_halving_of_integers_takes_the_integer_kernel():
    for dtype, shape, size in [(np.uint16, (1, 1, 9, 8), (4, 4)),    # 9 -> 4 is not /2
                               (np.float16, (1, 1, 8, 8), (4, 4)),   # float16 computes
                               (np.float32, (1, 1, 8, 8), (4, 4)),
                               (np.uint16, (1, 1, 8, 8), (8, 8))]:   # nothing halved
        assert not takes_halving(ux.plan(shape, dtype, size=size, mode="area"))
    x = samples((1, 1, 9, 8), np.uint16)
    np.testing.assert_array_equal(ux.interpolate(x, size=(4, 4), mode="area"),
                                  float_reference(x, size=(4, 4)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [2, 3, 4, 5])
def test_dense_pixels_every_rank_and_thread_count(dtype, channels):
    """Channels-last dense pixels take whole rows of pixel pairs (rows added first)."""
    cases = [((300, 260, channels), (150, 130), (0, 1)),       # H and W halved
             ((300, 260, channels), (300, 130), (0, 1)),       # W only
             ((6, 40, 64, channels), (3, 20, 32), (0, 1, 2)),  # D, H and W
             ((6, 40, 64, channels), (6, 40, 32), (0, 1, 2))]
    for shape, size, axes in cases:
        x = samples(shape, dtype)
        expected = float_reference(x, size=size, axes=axes)
        for threads in (1, 2):
            got = ux.interpolate(x, size=size, mode="area", axes=axes, num_threads=threads)
            np.testing.assert_array_equal(got, expected, err_msg=f"{shape} {threads}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [2, 3, 4, 5])
def test_dense_pixels_at_the_ends_of_the_range(dtype, channels):
    """Boxes of the largest and smallest samples: the widest sums the narrow
    accumulators (16-bit for uint8) and the rounding must hold."""
    info = np.iinfo(dtype)
    for shape, size, axes in [((8, 12, channels), (4, 6), (0, 1)),
                              ((4, 8, 12, channels), (2, 4, 6), (0, 1, 2))]:
        for fill in (info.max, info.min, info.max - 1, info.min + 1):
            x = np.full(shape, fill, dtype)
            x[..., ::2, :] = info.max  # alternate columns: half-way sums too
            expected = float_reference(x, size=size, axes=axes)
            np.testing.assert_array_equal(
                ux.interpolate(x, size=size, mode="area", axes=axes), expected)
            np.testing.assert_array_equal(
                ux.interpolate(np.full(shape, fill, dtype), size=size, mode="area",
                               axes=axes), np.full(expected.shape, fill, dtype))
