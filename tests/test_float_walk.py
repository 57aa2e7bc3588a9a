"""The float table walk: constant-count and periodic loops for antialias tables,
and the box form of area tables.

Every fast loop must give the bits of the plain table walk. The oracle here is
that walk written out in NumPy (one product per tap, summed in tap order in the
table's dtype: NumPy neither fuses nor reorders), so each kernel path, both
builds, both layouts and both pass orders are held to the same sums.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _axis_tables as at
from upsamplex._kernels import _resample, _tables, float_kernels

GENERIC = _tables.WALK_CODES["generic"]
MODULES = [_resample] + ([float_kernels()] if float_kernels() is not _resample else [])
MODULE_IDS = ["baseline", "avx2"][:len(MODULES)]


def walk_reference(x, table, axis):
    """``table`` applied along ``axis`` of ``x``, tap by tap, in the table's order."""
    idx, w, cnt = table[:3]
    box = idx.shape[1] == 1
    xm = np.moveaxis(x, axis, -1)
    out = np.empty(xm.shape[:-1] + (idx.shape[0],), x.dtype)
    for o in range(idx.shape[0]):
        n = int(cnt[o])
        if n == 0:
            out[..., o] = 0
            continue
        acc = None
        for j in range(n):
            i, wj = (idx[o, 0] + j, w[o, 0]) if box else (idx[o, j], w[o, j])
            term = wj * xm[..., i]
            acc = term if acc is None else acc + term
        out[..., o] = acc
    return np.moveaxis(out, -1, axis)


def expand_box(table):
    """The explicit (size_out, max count) form of a box table."""
    idx, w, cnt = table[:3]
    k = int(cnt.max())
    j = np.arange(k)[None, :]
    used = j < cnt[:, None]
    idx_e = np.where(used, idx[:, :1] + j, 0).astype(np.intp)
    w_e = np.where(used, w[:, :1], 0).astype(w.dtype)
    return idx_e, w_e, cnt.copy()


def unit(dtype):
    return at.unit_table(dtype)


def to_channels_last(x5):
    """(N, C, D, H, W) values stored with C fastest, viewed back in NCDHW order."""
    return np.ascontiguousarray(x5.transpose(0, 2, 3, 4, 1)).transpose(0, 4, 1, 2, 3)


def empty_like_layout(shape, dtype, channels_last):
    if not channels_last:
        return np.empty(shape, dtype)
    n, c, d, h, w = shape
    return np.empty((n, d, h, w, c), dtype).transpose(0, 4, 1, 2, 3)


def run_kernel(module, kernel, x5, tables, walks, channels_last, threads=1):
    """One resampling of a 5-D view with tables (D, H, W) and the W walk given."""
    shape = x5.shape[:2] + tuple(t[0].shape[0] for t in tables)
    y = empty_like_layout(shape, x5.dtype, channels_last)
    sizes = x5.shape[2:]
    if kernel == "hfirst":
        module.resample_hfirst(x5, y, *[tuple(t[:3]) for t in tables], *sizes, walks[2], 4,
                               channels_last, threads)
    else:
        module.resample(x5, y, [tuple(t[:3]) for t in tables], sizes, walks,
                        channels_last, threads)
    return y


# ------------------------------------------------------------------------------------
# antialias tables: trimmed to the widest row, their interior walked without look-ups
# ------------------------------------------------------------------------------------

AA_MODES = ["aa-linear", "aa-cubic", "aa-lanczos"]
AA_TAPS = {"aa-linear": 2, "aa-cubic": 4, "aa-lanczos": 6}


@pytest.mark.parametrize("scale", [1.25, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("mode", AA_MODES)
def test_antialias_tables_are_trimmed_and_their_interior_is_full(mode, scale):
    size_in = 50
    t = at.axis_table(mode, size_in, int(size_in * scale), scale, False, "<f4")
    # Not shrinking: the plain mode's tap count, the border rows truncated.
    assert t.idx.shape[1] == AA_TAPS[mode] == t.count.max()
    assert t.count[0] < AA_TAPS[mode]
    walk = t.walk
    assert isinstance(walk, tuple) and len(walk) == 9
    fix_lo, fix_hi = walk[7:9]
    border = int(np.ceil(scale * AA_TAPS[mode]))  # truncated rows at each end, at most
    assert fix_lo <= border and fix_hi >= t.size_out - border
    assert np.all(t.count[fix_lo:fix_hi] == AA_TAPS[mode])
    up2_lo, up2_hi = walk[1:3]
    if scale == 2.0:  # the periodic x2 loop covers the interior too
        assert up2_lo <= AA_TAPS[mode] and up2_hi >= size_in - AA_TAPS[mode]
    else:
        assert up2_hi == up2_lo == 0


def test_shrinking_antialias_tables_keep_their_support():
    t = at.axis_table("aa-cubic", 100, 37, None, False, "<f8")
    assert t.idx.shape[1] == t.count.max() >= 10


W_CASES = [("aa-linear", 31, 62, 2.0), ("aa-cubic", 40, 80, 2.0), ("aa-lanczos", 33, 66, 2.0),
           ("aa-lanczos", 9, 18, 2.0), ("aa-cubic", 20, 30, 1.5), ("aa-lanczos", 21, 31, None),
           ("aa-linear", 17, 51, 3.0), ("aa-lanczos", 16, 48, 3.0), ("aa-cubic", 12, 13, None),
           ("linear", 31, 62, 2.0), ("cubic", 25, 50, 2.0), ("cubic", 20, 33, None),
           ("aa-cubic", 40, 20, None), ("area", 40, 20, None), ("area", 91, 13, None),
           ("area", 13, 30, None), ("area", 1000, 3, None)]


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("case", W_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_every_w_walk_equals_the_plain_table_walk(case, dtype, channels, module):
    mode, size_in, size_out, scale = case
    rng = np.random.default_rng(size_in * 7 + size_out)
    t = at.axis_table(mode, size_in, size_out, scale, False, dtype)
    x = rng.standard_normal((3, channels, 1, 1, size_in)).astype(dtype)
    expected = walk_reference(x, t, 4)
    tables = [unit(dtype), unit(dtype), t]
    for cl in (False, True):
        xv = to_channels_last(x) if cl else x
        for walk in (t.walk, GENERIC):
            walks = [tables[0].walk, tables[1].walk, walk]
            for kernel in ("resample", "hfirst"):
                got = run_kernel(module, kernel, xv, tables, walks, cl)
                np.testing.assert_array_equal(got, expected, err_msg=f"{kernel} cl={cl}")


H_CASES = [("aa-lanczos", 24, 48, 2.0), ("aa-lanczos", 15, 22, None), ("aa-cubic", 18, 36, 2.0),
           ("aa-linear", 12, 36, 3.0), ("area", 60, 7, None), ("area", 10, 23, None),
           ("cubic", 9, 27, 3.0)]


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("case", H_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
@pytest.mark.parametrize("axis", [2, 3])
def test_row_blends_equal_the_plain_table_walk(axis, case, dtype, module):
    # The vertical passes (H: row blends of one pass, D: depth taps) with every
    # count and box rows, against the same sums written out.
    mode, size_in, size_out, scale = case
    rng = np.random.default_rng(size_in)
    t = at.axis_table(mode, size_in, size_out, scale, False, dtype)
    shape = [2, 3, 1, 1, 37]
    shape[axis] = size_in
    x = rng.standard_normal(shape).astype(dtype)
    expected = walk_reference(x, t, axis)
    tables = [unit(dtype)] * 3
    tables[axis - 2] = t
    tw = at.axis_table("linear", 37, 37, None, False, dtype)  # a copied W axis
    tables[2] = tw
    walks = [tb.walk for tb in tables]
    for cl in (False, True):
        xv = to_channels_last(x) if cl else x
        for kernel in ("resample", "hfirst"):
            got = run_kernel(module, kernel, xv, tables, walks, cl, threads=2)
            np.testing.assert_array_equal(got, expected, err_msg=f"{kernel} cl={cl}")


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("mode,scale", [("aa-linear", 2.0), ("aa-cubic", 2.0),
                                        ("aa-lanczos", 2.0), ("aa-lanczos", 1.5),
                                        ("aa-cubic", 3.0), ("area", 0.3)])
def test_2d_fast_walks_equal_the_plain_walk(mode, scale, dtype, module):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 1, 19, 26)).astype(dtype)
    th = at.axis_table(mode, 19, int(19 * scale), scale, False, dtype)
    tw = at.axis_table(mode, 26, int(26 * scale), scale, False, dtype)
    tables = [unit(dtype), th, tw]
    for cl in (False, True):
        xv = to_channels_last(x) if cl else x
        for kernel in ("resample", "hfirst"):
            fast = run_kernel(module, kernel, xv, tables, [t.walk for t in tables], cl)
            plain = run_kernel(module, kernel, xv, tables, [GENERIC] * 3, cl)
            np.testing.assert_array_equal(fast, plain)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("scale", [1.5, 2, 3])
def test_antialias_upscale_is_layout_and_thread_independent(mode, scale):
    x = np.random.default_rng(5).standard_normal((2, 3, 21, 34)).astype(np.float32)
    kw = dict(scale_factor=scale, mode=mode, antialias=True)
    y = ux.interpolate(x, num_threads=1, **kw)
    xcl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(ux.interpolate(xcl, num_threads=2, **kw), y)
    g = np.random.default_rng(6).standard_normal(y.shape).astype(np.float32)
    gx = ux.interpolate_backward(g, x.shape, num_threads=1, **kw)
    np.testing.assert_array_equal(ux.interpolate_backward(g, x.shape, num_threads=2, **kw), gx)


# ------------------------------------------------------------------------------------
# area: box tables, O(size_out) memory
# ------------------------------------------------------------------------------------

@pytest.mark.parametrize("size_in,size_out", [(1000, 7), (90, 41), (10, 3), (7, 7), (5, 12),
                                              (40, 20), (2**20, 3)])
def test_area_tables_take_the_box_form_when_wider_than_two(size_in, size_out):
    t = at.axis_table("area", size_in, size_out, None, False, "<f4")
    lo = np.arange(size_out) * size_in // size_out
    hi = -(-(np.arange(1, size_out + 1) * size_in) // size_out)
    np.testing.assert_array_equal(t.count, hi - lo)
    if (hi - lo).max() > 2:
        assert t.idx.shape == (size_out, 1) and t.weights.shape == (size_out, 1)
        assert t.nbytes == size_out * (8 + 4 + 8)
    np.testing.assert_array_equal(t.idx[:, 0], lo)
    np.testing.assert_array_equal(t.weights[:, 0], (np.float32(1) / (hi - lo).astype(np.float32)))
    assert t.footprint(0, size_out) == (0, size_in)
    assert t.footprint(1, 2) == (lo[1], hi[1])


@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("size_in,size_out", [(90, 41), (100, 7), (33, 10)])
def test_box_adjoint_equals_the_explicit_tables_adjoint(size_in, size_out, dtype):
    t = at.axis_table("area", size_in, size_out, None, False, dtype)
    assert t.idx.shape[1] == 1
    explicit = expand_box(t)
    box_t = _tables.transpose_table(t.idx, t.weights, t.count, size_in)
    exp_t = _tables.transpose_table(*explicit, size_in)
    for a, b in zip(box_t, exp_t, strict=True):
        np.testing.assert_array_equal(a, b)
    # a shrinking area reads each input from at most two outputs
    assert box_t[0].shape[1] <= 2


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_box_tables_give_the_explicit_tables_bits_in_3d(dtype, module):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 17, 23, 29)).astype(dtype)
    box = [at.axis_table("area", n, m, None, False, dtype) for n, m in
           ((17, 4), (23, 5), (29, 6))]
    assert all(t.idx.shape[1] == 1 for t in box)
    explicit = [expand_box(t) for t in box]
    for cl in (False, True):
        xv = to_channels_last(x) if cl else x
        for kernel in ("resample", "hfirst"):
            got = run_kernel(module, kernel, xv, box, [t.walk for t in box], cl, threads=2)
            want = run_kernel(module, kernel, xv, explicit, [GENERIC] * 3, cl, threads=2)
            np.testing.assert_array_equal(got, want)


def test_area_windows_of_box_tables_are_exact():
    x = np.random.default_rng(2).standard_normal((2, 3, 40, 1000)).astype(np.float32)
    p = ux.plan(x.shape, x.dtype, size=(9, 13), mode="area")
    full = p(x)
    win = (slice(None), slice(None), slice(2, 7), slice(4, 11))
    np.testing.assert_array_equal(p(x[p.input_window(win)], out_window=win), full[win])


_PEAK_SCRIPT = textwrap.dedent("""
    import sys, tracemalloc
    import numpy as np
    import upsamplex as ux
    n = int(sys.argv[1]); factor = int(sys.argv[2])
    x = np.ones((1, 1, n), np.float32)
    ux.interpolate(x[..., :4096], size=4096 // factor, mode="area")  # warm imports
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    y = ux.interpolate(x, size=n // factor, mode="area")
    print(tracemalloc.get_traced_memory()[1] - base, y.nbytes)
""")


@pytest.mark.parametrize("factor", [2, 7, 1000])
def test_1d_area_downscale_peak_memory_is_output_plus_small(factor):
    # A 64 MiB signal: the table used to cost ~16-21 bytes per input sample and
    # its walk analysis as much again (a peak of 5-8x the input); now the call
    # needs its output, the box table (O(size_out)) and little else.
    n = 16 << 20
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(n), str(factor)],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    peak, out_bytes = map(int, res.stdout.split())
    # the box table: an index, a weight and a count per output sample
    bound = out_bytes + (n // factor) * 20 + (4 << 20)
    assert peak <= bound, (peak, out_bytes)


ADJOINT_CASES = [("aa-linear", 31, 62, 2.0), ("aa-lanczos", 24, 48, 2.0),
                 ("aa-cubic", 20, 30, 1.5), ("linear", 40, 20, None), ("cubic", 50, 25, None),
                 ("area", 40, 20, None), ("area", 90, 41, None), ("area", 12, 29, None)]


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
@pytest.mark.parametrize("case", ADJOINT_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_adjoint_walks_equal_the_plain_table_walk(case, dtype, module):
    # The adjoint tables (transposed, box tables included) take the same fast walks.
    mode, size_in, size_out, scale = case
    t = at.axis_table_adjoint(mode, size_in, size_out, scale, False, dtype)
    g = np.random.default_rng(size_out).standard_normal((2, 3, 1, 1, size_out)).astype(dtype)
    expected = walk_reference(g, t, 4)
    tables = [unit(dtype), unit(dtype), t]
    for cl in (False, True):
        gv = to_channels_last(g) if cl else g
        for walk in (t.walk, GENERIC):
            got = run_kernel(module, "resample", gv, tables, [0, 0, walk], cl)
            np.testing.assert_array_equal(got, expected, err_msg=f"cl={cl}")


@pytest.mark.parametrize("layout", ["planar", "channels-last"])
@pytest.mark.parametrize("mode,scale", [("bilinear", 2), ("bicubic", 1.5), ("lanczos", 2),
                                        ("lanczos", 3)])
def test_antialias_upscale_windows_are_exact(mode, scale, layout):
    # A window's tables re-derive their walks (other full-row and periodic
    # ranges): the same bits as the whole call.
    x = np.random.default_rng(4).standard_normal((1, 3, 30, 41)).astype(np.float32)
    if layout == "channels-last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    p = ux.plan(x.shape, x.dtype, scale_factor=scale, mode=mode, antialias=True)
    full = p(x)
    for win in [(slice(None), slice(None), slice(0, 9), slice(3, 60)),
                (slice(None), slice(1, 3), slice(17, 40), slice(0, 13))]:
        win = tuple(slice(s.start, min(s.stop, n)) if s.stop else s
                    for s, n in zip(win, full.shape, strict=True))
        np.testing.assert_array_equal(p(x[p.input_window(win)], out_window=win), full[win])
