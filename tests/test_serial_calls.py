"""Tiny calls: one thread runs outside OpenMP, bound calls read only data pointers.

A kernel asked for one thread runs its loop directly (a one-thread OpenMP region
still costs a futex wake, most of a tiny call); more threads split the same
independent rows. A plan's bound call fixes the layout once and then reads only
the arrays' data. None of this may change a bit: every case is compared with the
other thread counts and with the general (unbound) path.
"""

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _axis_tables, _plan
from upsamplex._kernels import _resample

RNG = np.random.default_rng(11)


def _layouts(x):
    """The input as planar, channels-last, W-strided and reversed views."""
    cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    wide = np.zeros(x.shape[:3] + (2 * x.shape[3],), x.dtype)
    wide[..., ::2] = x
    flipped = np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    return {"planar": x, "channels_last": cl, "w_strided": wide[..., ::2],
            "reversed": flipped}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.uint16, np.int32])
@pytest.mark.parametrize("size", [(50, 90), (120, 140), (60, 70), (1, 1)])
def test_nearest_is_the_same_on_one_two_and_three_threads(dtype, size):
    # Big enough that two and three threads really split the rows (parity with
    # torch is tests/test_interpolate.py's).
    x = (RNG.random((2, 3, 60, 70)) * 200).astype(dtype)
    for name, xv in _layouts(x).items():
        for mode in ("nearest", "nearest-exact"):
            one = ux.interpolate(xv, size=size, mode=mode, num_threads=1)
            for n in (2, 3):
                np.testing.assert_array_equal(
                    ux.interpolate(xv, size=size, mode=mode, num_threads=n), one,
                    err_msg=f"{name} {mode} {n} threads")
            np.testing.assert_array_equal(ux.interpolate(x, size=size, mode=mode), one)


@pytest.mark.parametrize("mode,kw", [("nearest", dict(scale_factor=2)),
                                     ("nearest", dict(size=(5, 11))),
                                     ("bilinear", dict(scale_factor=2)),
                                     ("bicubic", dict(size=(9, 4))),
                                     ("bilinear", dict(size=(4, 5), antialias=True))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.uint16])
def test_bound_plan_calls_give_the_general_paths_bits(mode, kw, dtype):
    if dtype == np.uint16 and mode != "nearest":
        pytest.skip("uint16 resamples through float32, not a bound gather")
    x = (RNG.random((1, 3, 8, 10)) * 250).astype(dtype)
    for name, xv in _layouts(x).items():
        p = ux.plan(xv.shape, xv.dtype, mode=mode, **kw)
        expected = p(xv, num_threads=1)  # num_threads= takes the general path
        first, second = p(xv), p(xv.copy() if name == "planar" else xv)
        np.testing.assert_array_equal(first, expected, err_msg=name)
        np.testing.assert_array_equal(second, expected, err_msg=name)
        out = np.empty_like(expected)
        assert p(xv, out=out) is out
        np.testing.assert_array_equal(out, expected, err_msg=name)
        assert (first.strides == expected.strides), name  # the layout rule still holds


def test_prepared_kernel_refuses_to_run_unbound():
    x = np.zeros((1, 1, 1, 1, 4), np.float32)
    idx = np.zeros((1, 1), np.intp)
    table = (idx, np.ones((1, 1), np.float32), np.ones(1, np.intp))
    wide = (np.arange(8, dtype=np.intp)[:, None] // 2, np.ones((8, 1), np.float32),
            np.ones(8, np.intp))
    prepared = _resample.Prepared([table, table, wide], [1, 1, 4], [0, 0, 0], 2)
    with pytest.raises(RuntimeError, match="run_bound before bind"):
        prepared.run_bound(x, np.zeros((1, 1, 1, 1, 8), np.float32), 1)
    y = np.zeros((1, 1, 1, 1, 8), np.float32)
    prepared.bind(x, y, False)
    prepared.run_bound(np.arange(4, dtype=np.float32).reshape(x.shape), y, 1)
    np.testing.assert_array_equal(y.ravel(), [0, 0, 1, 1, 2, 2, 3, 3])
    with pytest.raises(TypeError, match="prepared kernel got dtype int16"):
        prepared.bind(x.astype(np.int16), y.astype(np.int16), False)


@pytest.fixture
def fresh_plans():
    _plan.PLAN_CACHE.clear()
    yield
    _plan.PLAN_CACHE.clear()


def test_plan_cache_front_memo_answers_repeats_and_clears(fresh_plans):
    x = RNG.random((1, 2, 6, 6), dtype=np.float32)
    ux.interpolate(x, scale_factor=2, mode="bilinear")
    (key,) = _plan.PLAN_CACHE._recent
    p = _plan.PLAN_CACHE._recent[key]
    ux.interpolate(x, scale_factor=2, mode="bilinear")
    assert _plan.PLAN_CACHE.get(key) is p and len(_plan.PLAN_CACHE) == 1
    _plan.PLAN_CACHE.clear()
    assert not _plan.PLAN_CACHE._recent and _plan.PLAN_CACHE.get(key) is None
    assert ux.interpolate(x, scale_factor=2, mode="bilinear").shape == (1, 2, 12, 12)
    assert _plan.PLAN_CACHE.get(key) is not p  # rebuilt after the clear


def test_front_memo_is_bounded_in_entries_and_bytes():
    cache = _axis_tables.ByteLRU(64 << 20)
    small, big = object(), object()
    for i in range(3 * cache.RECENT):
        cache.put(("small", i), small, 1024)
        assert len(cache._recent) <= cache.RECENT
    cache.put("big", big, cache.RECENT_BYTES + 1)
    assert "big" not in cache._recent and cache.get("big") is big
    assert "big" not in cache._recent  # read from the LRU, never memoised
    assert len(cache) == 3 * cache.RECENT + 1
    # an entry the LRU evicted can still be answered from the memo, never beyond it
    tight = _axis_tables.ByteLRU(4 * 1024)
    for i in range(8):
        tight.put(i, i, 1024)
    assert tight.bytes <= tight.max_bytes and len(tight._recent) <= tight.RECENT


# ---------------------------------------------------------------------------
# Planar float32 rows gathered 8 outputs per lane permute (AVX2 build)
# ---------------------------------------------------------------------------

from upsamplex._kernels import float_kernels  # noqa: E402

MODULES = [_resample] + ([float_kernels()] if float_kernels() is not _resample else [])


@pytest.mark.parametrize("size_iw,size_ow", [(8, 12), (9, 13), (100, 150), (37, 61),
                                             (64, 200), (50, 47), (16, 7), (10, 10),
                                             (7, 30), (20, 40)])
def test_row_gather_table_reads_inside_the_row(size_iw, size_ow):
    src = np.minimum(((np.arange(size_ow) + 0.5) * (size_iw / size_ow)).astype(np.intp),
                     size_iw - 1)
    copy_w, repeat, blocks = _resample._row_gather(src, size_iw, True, True)
    assert _resample._row_gather(src, size_iw, False, True) == (False, 0, None)
    assert _resample._row_gather(src, size_iw, True, False)[2] is None  # 4-byte samples only
    if size_iw == size_ow:
        assert copy_w and blocks is None
        return
    if size_ow % size_iw == 0:
        assert repeat == size_ow // size_iw and blocks is None
        return
    avx2 = float_kernels()._row_gather(src, size_iw, True, True)[2]
    if blocks is None and avx2 is None:
        # Only where some block of 8 outputs spans more than 8 inputs, or a row is short.
        spans = [src[i + 7] - src[i] for i in range(0, size_ow - 7, 8)]
        assert size_ow < 8 or size_iw < 8 or max(spans) > 7
        return
    table = blocks if blocks is not None else avx2
    base, lanes = table[:, 0], table[:, 1:]
    assert (base >= 0).all() and (base + 8 <= size_iw).all()
    assert ((lanes >= 0) & (lanes < 8)).all()
    np.testing.assert_array_equal((base[:, None] + lanes).ravel(), src[:len(table) * 8])


@pytest.mark.parametrize("module", MODULES, ids=["baseline", "avx2"][:len(MODULES)])
@pytest.mark.parametrize("size_iw,size_ow", [(8, 12), (9, 13), (100, 150), (37, 61),
                                             (64, 200), (50, 47), (33, 64)])
@pytest.mark.parametrize("stream", [False, True])
def test_permuted_rows_equal_the_scalar_gather(module, size_iw, size_ow, stream):
    x = RNG.standard_normal((2, 3, 1, 5, size_iw)).astype(np.float32)
    src_h = np.arange(5, dtype=np.intp)[::-1].copy()
    src_w = np.minimum((np.arange(size_ow) * (size_iw / size_ow)).astype(np.intp),
                       size_iw - 1)
    expected = x[:, :, :, src_h][..., src_w]
    for threads in (1, 2):
        y = np.full((2, 3, 1, 5, size_ow), np.nan, np.float32)
        module.nearest(x, y, np.zeros(1, np.intp), src_h, src_w, False, threads, stream)
        np.testing.assert_array_equal(y, expected)
        # an offset, unaligned output row and a strided input row: the scalar path
        y = np.full((2, 3, 1, 5, size_ow + 1), np.nan, np.float32)[..., 1:]
        module.nearest(x, y, np.zeros(1, np.intp), src_h, src_w, False, threads, stream)
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("scale", [1.5, 1.25, 2.5, 3.3, 0.9, 1.07])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float64])
def test_planar_nearest_upscales_match_torch(mode, scale, dtype):
    torch = pytest.importorskip("torch")
    x = (RNG.standard_normal((2, 3, 17, 43)) * 100).astype(dtype)
    expected = torch.nn.functional.interpolate(  # (torch has no int32 kernel: a gather)
        torch.from_numpy(x.astype(np.float64)), scale_factor=scale, mode=mode).numpy().astype(
        dtype)
    for n in (1, 2):
        np.testing.assert_array_equal(ux.interpolate(x, scale_factor=scale, mode=mode,
                                                     num_threads=n), expected)
    np.testing.assert_array_equal(ux.interpolate(x, scale_factor=scale, mode=mode), expected)
    big = np.concatenate([x] * 8)  # past the bound call's size: the general path
    np.testing.assert_array_equal(
        ux.interpolate(big, scale_factor=scale, mode=mode)[:2], expected)
