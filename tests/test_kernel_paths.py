"""Fast paths equal the plain table walk bit for bit, and tables are global.

The kernels pick specialised loops (periodic x2, dense RGB shuffles); each must
give exactly what walking the tables gives. Tables are built from global output
indices, so any window of the output can be computed from a slice of the
tables and the matching window of the input (what a chunked, Dask-style
caller needs).
"""

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _interpolate as interp
from upsamplex._kernels import _resample, _resample_uint8, _tables

GENERIC = _tables.WALK_CODES["generic"]


@pytest.mark.parametrize("layout", ["rgb", "planar"])
@pytest.mark.parametrize("width", [4, 5, 6, 7, 11, 16, 17, 18, 33, 100, 101])
@pytest.mark.parametrize("mode", ["linear", "aa-linear"])
def test_uint8_x2_fast_paths_are_exact(width, mode, layout):
    rng = np.random.default_rng(width)
    x = rng.integers(0, 256, (2, 3, 5, width)).astype(np.uint8)
    if layout == "rgb":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    th = interp.axis_table_uint8(mode, 5, 10, 2.0, False)
    tw = interp.axis_table_uint8(mode, width, 2 * width, 2.0, False)
    fast = np.empty((2, 3, 10, 2 * width), np.uint8)
    plain = np.empty_like(fast)
    cl = layout == "rgb"
    _resample_uint8.resample_uint8(x, fast, th[:4], tw[:4], th[4], tw[4], cl, 4, tw[5], 1)
    _resample_uint8.resample_uint8(x, plain, th[:4], tw[:4], th[4], tw[4], cl, 4, (0, 0), 1)
    if mode == "linear" and width >= 4:
        assert tw[5][1] > tw[5][0]  # the fast path really ran
    np.testing.assert_array_equal(fast, plain)


@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("width", [4, 5, 9, 32, 33])
def test_float_x2_periodic_walk_is_exact(dtype, mode, width):
    rng = np.random.default_rng(width)
    x = rng.standard_normal((2, 3, 1, 1, width)).astype(dtype)
    unit = interp.axis_table("nearest", 1, 1, None, False, dtype)
    tw = interp.axis_table(mode, width, 2 * width, 2.0, False, dtype)
    tables = [unit[:3], unit[:3], tw[:3]]
    fast = np.empty((2, 3, 1, 1, 2 * width), dtype)
    plain = np.empty_like(fast)
    _resample.resample(x, fast, tables, (1, 1, width), [unit[3], unit[3], tw[3]], False, 1)
    _resample.resample(x, plain, tables, (1, 1, width), [unit[3], unit[3], GENERIC], False, 1)
    np.testing.assert_array_equal(fast, plain)


def _window_tables(table, o0, o1):
    idx, w, cnt = table[:3]
    rows = slice(o0, o1)
    if idx.shape[1] == 1:  # a box table: cnt consecutive taps from idx
        lo, hi = int(idx[rows, 0].min()), int((idx[rows, 0] + cnt[rows]).max())
    else:
        taps = idx[rows][np.arange(idx.shape[1])[None, :] < cnt[rows][:, None]]
        lo, hi = int(taps.min()), int(taps.max()) + 1
    return (np.ascontiguousarray(idx[rows] - lo), np.ascontiguousarray(w[rows]),
            np.ascontiguousarray(cnt[rows])), lo, hi


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic", "area", "aa-linear",
                                  "aa-lanczos"])
@pytest.mark.parametrize("size_in,size_out,window", [(37, 80, (13, 51)), (90, 41, (5, 23)),
                                                     (20, 20, (3, 17))])
def test_any_output_window_from_table_slices(mode, size_in, size_out, window):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 1, 1, size_in))
    table = interp.axis_table(mode, size_in, size_out, None, False, "<f8")
    unit = interp.axis_table("nearest", 1, 1, None, False, "<f8")
    walks = [unit[3], unit[3], GENERIC]
    full = np.empty((3, 2, 1, 1, size_out))
    _resample.resample(x, full, [unit[:3], unit[:3], table[:3]], (1, 1, size_in), walks,
                       False, 1)
    sub, lo, hi = _window_tables(table, *window)
    part = np.empty((3, 2, 1, 1, window[1] - window[0]))
    _resample.resample(np.ascontiguousarray(x[..., lo:hi]), part, [unit[:3], unit[:3], sub],
                       (1, 1, hi - lo), walks, False, 1)
    np.testing.assert_array_equal(part, full[..., window[0]:window[1]])


@pytest.mark.parametrize("channels", [1, 3, 5])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_layouts_take_different_fast_paths_to_the_same_bits(mode, channels):
    # Planar and channels-last x2 run different specialised loops; same tables, same
    # order of operations, so the same bits.
    x = np.random.default_rng(1).standard_normal((2, channels, 6, 40)).astype(np.float32)
    y = ux.interpolate(x, scale_factor=2, mode=mode)
    xcl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(y, ux.interpolate(xcl, scale_factor=2, mode=mode))


@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("kind", ["area", "aa-linear", "aa-cubic", "adjoint-linear",
                                  "adjoint-cubic"])
@pytest.mark.parametrize("size_in", [16, 17, 40, 101])
def test_float_decimation_walk_is_exact(dtype, kind, size_in):
    rng = np.random.default_rng(size_in)
    unit = interp.axis_table("nearest", 1, 1, None, False, dtype)
    if kind.startswith("adjoint"):
        mode = kind.split("-")[1]
        table = interp.axis_table_adjoint(mode, size_in, 2 * size_in, 2.0, False, dtype)
        width = 2 * size_in
    else:
        table = interp.axis_table(kind, size_in, size_in // 2, None, False, dtype)
        width = size_in
    if size_in % 2 == 0:  # exact halving: the fast path must run
        assert isinstance(table[3], tuple) and table[3][4] > table[3][3]
    x = rng.standard_normal((2, 3, 1, 1, width)).astype(dtype)
    out_len = table[0].shape[0]
    fast = np.empty((2, 3, 1, 1, out_len), dtype)
    plain = np.empty_like(fast)
    tables = [unit[:3], unit[:3], table[:3]]
    _resample.resample(x, fast, tables, (1, 1, width), [unit[3], unit[3], table[3]], False, 1)
    _resample.resample(x, plain, tables, (1, 1, width), [unit[3], unit[3], GENERIC], False, 1)
    np.testing.assert_array_equal(fast, plain)


CASES = [((2, 5, 17, 23), "bilinear", 2, False), ((2, 5, 17, 23), "bicubic", 1.7, False),
         ((2, 3, 40, 41), "area", 0.5, False), ((1, 3, 30, 31), "bilinear", 0.45, True),
         ((2, 3, 5, 6, 7), "trilinear", 2, False), ((3, 4, 50), "linear", 2.5, False),
         ((2, 4, 9, 12), "nearest", 1.5, False)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,mode,scale,antialias", CASES)
def test_cpu_specific_build_gives_the_same_bits(shape, mode, scale, antialias, dtype,
                                                monkeypatch):
    # The AVX2 build of the float kernels (chosen at import on CPUs that have it) is
    # compiled without FMA contraction: it must match the baseline build exactly.
    from upsamplex import _plan
    from upsamplex._kernels import float_kernels

    fast = float_kernels()
    if fast is _resample:
        pytest.skip("no CPU-specific build on this machine")
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    kw = dict(scale_factor=scale, mode=mode, antialias=antialias)
    results = []
    for module in (fast, _resample):
        monkeypatch.setattr(_plan, "_resample", module)
        y = ux.interpolate(x, **kw)
        results.append((y, ux.interpolate_backward(np.ones_like(y), x.shape, **kw)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
