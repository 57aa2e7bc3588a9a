"""Long axes: tables built a window at a time (LazyTable), never held whole.

A table too big for the cache used to be built whole on every call: a 16M-sample
area backward held a 320 MiB transposed table, a linear x2 of the same signal
~1.2 GiB. Plans of such axes now build only the rows each tile of the output
needs. Oracles: the same plan with whole tables (the lazy path forced on small
axes must give the very same bits, windows and both layouts included), and the
peak memory of a call measured in a fresh process.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _axis_tables as at
from upsamplex import _plan

RNG = np.random.default_rng(20261207)

# (mode, antialias, in spatial sizes, out spatial sizes)
CASES = [
    ("nearest", False, (300,), (77,)), ("nearest", False, (23, 31), (61, 12)),
    ("nearest-exact", False, (300,), (113,)), ("linear", False, (300,), (77,)),
    ("linear", False, (77,), (300,)), ("linear", False, (100,), (100,)),
    ("area", False, (300,), (77,)), ("area", False, (77,), (300,)),
    ("area", False, (300,), (150,)), ("area", False, (9, 20, 31), (5, 41, 14)),
    ("bicubic", False, (23, 40), (61, 97)), ("bicubic", True, (41, 97), (17, 40)),
    ("bilinear", True, (40, 300), (14, 77)), ("bilinear", True, (50, 50), (50, 50)),
    ("lanczos", True, (33, 97), (12, 31)), ("trilinear", False, (7, 9, 11), (13, 5, 23)),
]
DTYPES = [np.float32, np.float64, np.float16, np.uint16, np.uint8]


def _plans(monkeypatch, shape, dtype, kw):
    """(whole-table plan, lazy plan with tiles of 7 rows)."""
    whole = _plan.Plan(shape, dtype, **kw)
    monkeypatch.setattr(at, "LAZY_ABOVE", 0)
    monkeypatch.setattr(at, "_LAZY_TILE_BYTES", 1)
    monkeypatch.setattr(at, "_LAZY_MIN_ROWS", 7)
    lazy = _plan.Plan(shape, dtype, **kw)
    return whole, lazy


def _data(shape, dtype):
    if np.dtype(dtype).kind == "u":
        return RNG.integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    return (RNG.standard_normal(shape) * 10).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}{'-aa' if c[1] else ''}-{c[2]}")
def test_lazy_tables_give_the_whole_tables_bits(case, dtype, monkeypatch):
    mode, antialias, sizes_in, sizes_out = case
    if dtype == np.uint8 and len(sizes_in) < 3 and mode not in ("nearest", "nearest-exact",
                                                                 "area"):
        dtype = np.uint16  # 1-D/2-D uint8 filters: torch's fixed point, whole tables
    shape = (2, 3) + sizes_in
    kw = dict(size=sizes_out, mode=mode, antialias=antialias)
    whole, lazy = _plans(monkeypatch, shape, dtype, kw)
    assert lazy.nbytes < whole.nbytes  # the unit tables padding to 3 axes are whole
    assert any(isinstance(t, at.LazyTable) for t in lazy._forward_pass().tables)
    x = _data(shape, dtype)
    expected = whole(x)
    np.testing.assert_array_equal(lazy(x), expected)
    # channels-last and a strided input take the same tiles
    x_cl = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    np.testing.assert_array_equal(lazy(x_cl), expected)
    np.testing.assert_array_equal(lazy(np.repeat(x, 2, axis=-1)[..., ::2]), expected)
    # a window of the output from its input slab
    win = (slice(None), slice(1, 3)) + tuple(slice(n // 4, n - n // 5) for n in sizes_out)
    slab = lazy.input_window(win)
    assert slab == whole.input_window(win)
    np.testing.assert_array_equal(lazy(x[slab], out_window=win), expected[win])
    if np.dtype(dtype) in _plan.GRAD_DTYPES:
        g = _data(expected.shape, dtype)
        g_expected = whole.backward(g)
        np.testing.assert_array_equal(lazy.backward(g), g_expected)
        in_win = (slice(None), slice(None)) + tuple(slice(n // 3, n - 1) for n in sizes_in)
        g_slab = lazy.grad_window(in_win)
        assert g_slab == whole.grad_window(in_win)
        np.testing.assert_array_equal(lazy.backward(g[g_slab], in_window=in_win),
                                      g_expected[in_win])


@pytest.mark.parametrize("case", [("area", 1000, 7), ("nearest", 1000, 3), ("linear", 64, 1000),
                                  ("aa-cubic", 500, 37), ("cubic", 40, 97)])
def test_transposed_window_rows_equal_the_whole_transpose(case):
    # An adjoint window is made from the forward rows that read its inputs only.
    mode, n_in, n_out = case
    whole = at.axis_table_adjoint(mode, n_in, n_out, None, False, "<f8")
    lazy = at.LazyTable((mode, n_in, n_out, None, False, "<f8"), True, n_out, n_in,
                        at.WALK["generic"], 1.0, 7)
    for i0, i1 in [(0, n_in), (0, 1), (n_in - 1, n_in), (n_in // 3, n_in // 2 + 1)]:
        idx, w, cnt = lazy.rows(i0, i1)
        np.testing.assert_array_equal(cnt, whole.count[i0:i1])
        for r in range(i1 - i0):
            n = cnt[r]
            np.testing.assert_array_equal(idx[r, :n], whole.idx[i0 + r, :n])
            np.testing.assert_array_equal(w[r, :n], whole.weights[i0 + r, :n])


def test_huge_axis_plans_in_constant_memory_and_runs_windows():
    # 4 -> 2**29 samples: a whole table would take 12 GiB. The plan holds none
    # and a window of the output costs only that window.
    x = np.arange(4, dtype=np.float32)[None, None]
    p = ux.plan(x.shape, x.dtype, size=2**29, mode="area")
    assert p.nbytes < 1024  # its padding unit tables only
    win = (slice(None), slice(None), slice(2**29 - 5, 2**29))
    np.testing.assert_array_equal(p(x[p.input_window(win)], out_window=win),
                                  np.full((1, 1, 5), 3, np.float32))
    # backward windows too: each input of a linear x2 gets 1/4 + 3/4 + 3/4 + 1/4
    # (float64: float32 source indices are that coarse at 2**28, as torch's are)
    p = ux.plan((1, 1, 2**28), np.float64, size=2**29, mode="linear")
    assert p.nbytes < 1024  # its padding unit tables only
    in_win = (slice(None), slice(None), slice(2**27, 2**27 + 8))
    slab = p.grad_window(in_win)
    got = p.backward(np.ones([s.stop - s.start for s in slab]), in_window=in_win)
    np.testing.assert_array_equal(got, np.full((1, 1, 8), 2.0))


_PEAK = textwrap.dedent("""
    import sys, tracemalloc
    import numpy as np
    import upsamplex as ux
    mode, n, m, direction = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    x = np.ones((1, 1, n), np.float32)
    g = np.ones((1, 1, m), np.float32)
    ux.interpolate(x[..., :64], size=32, mode=mode)  # warm imports
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    if direction == "forward":
        y = ux.interpolate(x, size=m, mode=mode)
    else:
        y = ux.interpolate_backward(g, x.shape, size=m, mode=mode)
    print(tracemalloc.get_traced_memory()[1] - base, y.nbytes)
""")


@pytest.mark.parametrize("case", [("area", 2, "backward"), ("area", 7, "backward"),
                                  ("area", 0.25, "forward"), ("area", 0.25, "backward"),
                                  ("linear", 0.5, "forward"), ("linear", 0.5, "backward"),
                                  ("nearest", 3, "backward"), ("bicubic", 0.5, "forward"),
                                  ("bicubic", 0.5, "backward")],
                         ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_long_signal_peak_memory_is_its_output_plus_a_few_tiles(case):
    # 4M samples (16 MiB). Before: the whole table of the call's direction,
    # 20-48 bytes per sample of the longer side, 80-800 MiB here (at 16M samples,
    # area /2 backward peaked at 665 MiB for a 64 MiB gradient, linear x2
    # backward at 3.1 GiB; now 73-80 MiB).
    mode, factor, direction = case
    n = 4 << 20
    m = int(n / factor)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", _PEAK, mode, str(n), str(m), direction],
                         capture_output=True, text=True, env=env, timeout=300, check=True)
    peak, out_bytes = map(int, res.stdout.split())
    assert peak <= out_bytes + (24 << 20), (peak >> 20, out_bytes >> 20)


def test_whole_tables_that_cannot_be_held_are_a_clear_error():
    # uint8's fixed point takes its precision from the whole axis, so its tables
    # are held whole: absurd axes are refused before anything is allocated.
    x = np.zeros((1, 1, 4), np.uint8)
    with pytest.raises(ValueError, match="tap table, too large"):
        ux.interpolate(x, size=2**28, mode="linear")
    with pytest.raises(ValueError, match="tap table, too large"):
        ux.interpolate(x[:, :, None], size=(1, 2**28), mode="bicubic")


@pytest.mark.parametrize("kw", [dict(size=(2**62, 3)), dict(scale_factor=(2.0**61, 1))])
def test_an_output_no_array_can_hold_is_refused_naming_the_argument(kw):
    # No table refuses it any more (long axes are lazy): the plan does, up front.
    x = np.zeros((1, 2, 5, 6), np.float32)
    arg = next(iter(kw))
    with pytest.raises(ValueError, match=f"^{arg} gives an output of shape .* too large"):
        ux.interpolate(x, mode="bilinear", **kw)
    with pytest.raises(ValueError, match=f"^{arg} gives an output"):
        ux.plan(x.shape, x.dtype, mode="nearest", **kw)


@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("mode,scale", [("linear", 2.0), ("cubic", 2.0), ("aa-lanczos", 2.0),
                                        ("linear", None), ("cubic", 2.5)])
@pytest.mark.parametrize("window", [(0, 200), (1, 200), (37, 162), (120, 199), (3, 24)])
@pytest.mark.parametrize("layout", ["planar", "rgb"])
def test_x2_windows_take_the_periodic_walk_with_the_plain_walks_bits(dtype, mode, scale,
                                                                      window, layout):
    # A tile or Dask block of a x2 axis reads a few taps more than half its
    # outputs: the periodic x2 loop covers it too (any start parity), exactly.
    from upsamplex._kernels import float_kernels

    kernels = float_kernels()
    size_in = 100
    size_out = int(size_in * (scale or 2.0))
    table = at.axis_table(mode, size_in, size_out, scale, False, dtype)
    sub, lo = table.window(*window)
    unit = at.unit_table(dtype)
    rng = np.random.default_rng(window[0])
    x = rng.standard_normal((2, 3, 1, 1, sub.size_in)).astype(dtype)
    y_fast = np.empty((2, 3, 1, 1, sub.size_out), dtype)
    y_plain = np.empty_like(y_fast)
    if layout == "rgb":
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
        y_fast = np.moveaxis(np.empty((2, 1, 1, sub.size_out, 3), dtype), -1, 1)
        y_plain = np.empty_like(y_fast)  # keeps the channels-last strides
    tables = [unit[:3], unit[:3], sub[:3]]
    walks = [unit.walk, unit.walk]
    kernels.resample(x, y_fast, tables, (1, 1, sub.size_in), walks + [sub.walk],
                     layout == "rgb", 1)
    kernels.resample(x, y_plain, tables, (1, 1, sub.size_in), walks + [GENERIC],
                     layout == "rgb", 1)
    np.testing.assert_array_equal(y_fast, y_plain)
    if scale == 2.0 and window[1] - window[0] > 40:
        assert isinstance(sub.walk, tuple) and sub.walk[2] > sub.walk[1]  # the x2 loop ran
    # and the window is that slice of the whole result
    xw = rng.standard_normal((2, 3, 1, 1, size_in)).astype(dtype)
    whole = np.empty((2, 3, 1, 1, size_out), dtype)
    kernels.resample(xw, whole, [unit[:3], unit[:3], table[:3]], (1, 1, size_in),
                     walks + [table.walk], False, 1)
    part = np.empty((2, 3, 1, 1, sub.size_out), dtype)
    kernels.resample(np.ascontiguousarray(xw[..., lo:lo + sub.size_in]), part, tables,
                     (1, 1, sub.size_in), walks + [sub.walk], False, 1)
    np.testing.assert_array_equal(part, whole[..., window[0]:window[1]])


GENERIC = at.WALK["generic"]


def test_area_axes_beyond_64_bit_index_arithmetic_are_refused():
    # area windows are o * size_in // size_out in int64: past that, a clear error
    # (before: a table-size error; long axes are lazy now, so this guards it).
    with pytest.raises(ValueError, match="beyond 64-bit index arithmetic"):
        ux.plan((1, 1, 2**33), np.float32, size=2**31, mode="area")
    ux.plan((1, 1, 2**31), np.float32, size=2**31, mode="area")  # within range: planned
