"""The uint8 wide loops give the plain table walk's bits, and torch's.

The fixed-point kernel picks wide loops by layout (dense 3/4-byte pixels in
groups of 4 taps, rows of single samples in groups of 8, 4 or 2 rows at once);
integer sums do not depend on how taps are grouped, so each must equal walking
the table tap by tap (``plain=True``) exactly, borders and odd sizes included.
"""

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _interpolate as interp
from upsamplex._kernels import _resample_uint8

from ._torch import F, torch

MODES = ["linear", "cubic", "aa-linear", "aa-cubic", "aa-lanczos"]
# (in H, in W, out H, out W): down by non-integer factors, up, x2, size 1, odd widths
SHAPES = [(5, 7, 3, 4), (9, 33, 4, 17), (16, 100, 7, 31), (12, 64, 24, 128), (6, 1, 3, 1),
          (1, 9, 1, 5), (20, 40, 20, 13), (8, 19, 8, 40), (11, 57, 9, 23), (7, 250, 5, 61)]


def _layout(x, layout):
    if layout == "channels_last":
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    if layout == "strided":  # every other column: pixels not dense
        wide = np.repeat(x, 2, axis=3)
        return wide[..., ::2]
    return x


def _both(x, th, tw, shape, threads):
    cl = ux._validation.is_channels_last(x)
    fast = np.empty(shape, np.uint8)
    plain = np.full(shape, 7, np.uint8)
    _resample_uint8.resample_uint8(x, fast, th[:4], tw[:4], th.skip, tw.skip, cl, 4, tw.up2,
                                   threads)
    _resample_uint8.resample_uint8(x, plain, th[:4], tw[:4], th.skip, tw.skip, cl, 4, (0, 0),
                                   1, plain=True)
    return fast, plain


@pytest.mark.parametrize("layout", ["planar", "channels_last", "strided"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("mode", MODES)
def test_wide_loops_equal_the_plain_walk(mode, channels, layout):
    rng = np.random.default_rng(channels)
    for h, w, oh, ow in SHAPES:
        x = _layout(rng.integers(0, 256, (2, channels, h, w)).astype(np.uint8), layout)
        th = interp.axis_table_uint8(mode, h, oh, None, False)
        tw = interp.axis_table_uint8(mode, w, ow, None, False)
        for threads in (1, 2):
            fast, plain = _both(x, th, tw, (2, channels, oh, ow), threads)
            np.testing.assert_array_equal(fast, plain, err_msg=f"{(h, w, oh, ow)} {threads}")


@pytest.mark.parametrize("channels", [3, 4])
def test_wide_loops_at_saturation(channels):
    # Negative lobes (lanczos, cubic) on 0/255 edges drive sums out of 0..255:
    # the wide loops must clamp as the scalar code does.
    cols = (np.arange(96) // 7 % 2 * 255).astype(np.uint8)
    x = _layout(np.broadcast_to(cols, (1, channels, 16, 96)).copy(), "channels_last")
    for mode in ("aa-lanczos", "aa-cubic", "cubic"):
        for ow in (37, 50, 192):
            th = interp.axis_table_uint8(mode, 16, 11, None, False)
            tw = interp.axis_table_uint8(mode, 96, ow, None, False)
            fast, plain = _both(x, th, tw, (1, channels, 11, ow), 1)
            np.testing.assert_array_equal(fast, plain)


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(61, 97), (135, 240), (200, 130)])
def test_photo_sizes_match_torch(size, mode, channels, memory_format):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, channels, 150, 263), dtype=np.uint8)
    xt = torch.from_numpy(x)
    if memory_format == "channels_last":
        xt = xt.contiguous(memory_format=torch.channels_last)
    for antialias in (True, False):
        want = F.interpolate(xt, size=size, mode=mode, antialias=antialias).numpy()
        got = ux.interpolate(xt.numpy(), size=size, mode=mode, antialias=antialias)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("channels", [3, 4])
def test_hwc_resize_matches_torch(channels):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (121, 203, channels), dtype=np.uint8)
    want = F.interpolate(torch.from_numpy(x).permute(2, 0, 1)[None], size=(50, 77),
                         mode="bicubic", antialias=True)[0].permute(1, 2, 0).numpy()
    got = ux.resize(x, (50, 77), mode="bicubic")
    np.testing.assert_array_equal(got, want)


NEAREST_SHAPES = [(8, 9, 16, 18), (17, 31, 8, 15), (10, 10, 13, 27), (1, 1, 3, 4),
                  (12, 40, 12, 40), (9, 7, 9, 14), (6, 33, 40, 33), (20, 21, 7, 63),
                  (5, 64, 10, 32), (3, 67, 3, 33), (4, 35, 2, 17)]


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_byte_pixel_nearest_matches_torch(mode, channels, memory_format):
    # x2 (widening stores), halving (every other pixel), identity rows,
    # non-integer factors (per-pixel moves) and repeated rows (copies).
    rng = np.random.default_rng(channels)
    for h, w, oh, ow in NEAREST_SHAPES:
        xt = torch.from_numpy(rng.integers(0, 256, (2, channels, h, w), dtype=np.uint8))
        if memory_format == "channels_last":
            xt = xt.contiguous(memory_format=torch.channels_last)
        want = F.interpolate(xt, size=(oh, ow), mode=mode).numpy()
        for threads in (1, 2):
            got = ux.interpolate(xt.numpy(), size=(oh, ow), mode=mode, num_threads=threads)
            np.testing.assert_array_equal(got, want, err_msg=f"{(h, w, oh, ow)} {threads}")
            plan = ux.plan(want.shape[:2] + (h, w), np.uint8, size=(oh, ow), mode=mode)
            np.testing.assert_array_equal(plan(xt.numpy(), num_threads=threads), want)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_byte_pixel_nearest_hwc_and_strided(channels):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (37, 50, channels), dtype=np.uint8)
    ref = torch.from_numpy(x).permute(2, 0, 1)[None]
    for size in ((74, 100), (18, 25), (50, 61)):
        want = F.interpolate(ref, size=size, mode="nearest")[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(ux.resize(x, size, mode="nearest"), want)
    # every other column: pixels not dense, the general gather runs
    sub = x[:, ::2]
    want = F.interpolate(torch.from_numpy(np.ascontiguousarray(sub)).permute(2, 0, 1)[None],
                         size=(20, 30), mode="nearest")[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(ux.resize(sub, (20, 30), mode="nearest"), want)


def test_byte_pixel_gather_refuses_layouts_it_has_no_loop_for():
    from upsamplex._kernels import _nearest_u8

    x = np.zeros((1, 5, 1, 4, 6), np.uint8).transpose(0, 1, 2, 3, 4)
    cl = np.zeros((1, 1, 4, 6, 5), np.uint8).transpose(0, 4, 1, 2, 3)  # 5 channels
    y = np.zeros((1, 5, 1, 4, 6), np.uint8)
    src = (np.zeros(1, np.intp), np.arange(4), np.arange(6))
    assert _nearest_u8.gather_u8(x, y, *src, False, 1) is True
    y_cl = np.zeros((1, 1, 4, 6, 5), np.uint8).transpose(0, 4, 1, 2, 3)
    assert _nearest_u8.gather_u8(cl, y_cl, *src, True, 1) is False
    assert _nearest_u8.gather_u8(x.astype(np.uint16), y.astype(np.uint16), *src, False,
                                 1) is False


def _shuffle_built():
    from upsamplex._kernels import _nearest_u8

    return _nearest_u8.shuffle_table(np.arange(64) // 2, 40, 1) is not None


@pytest.mark.parametrize("P", [1, 2, 3, 4])
def test_byte_shuffle_rows_equal_the_plain_gather(P):
    """Rows gathered by byte shuffles (one or two 16-byte windows a block, moved back
    from the row's end, the rest of the row by the scalar loop) give the plain gather's
    bytes, for windows anywhere in the row and unsorted source indices."""
    from upsamplex._kernels import _nearest_u8

    if not _shuffle_built():
        pytest.skip("built without byte shuffles")
    rng = np.random.default_rng(P)
    windows = set()
    for trial in range(300):
        size_iw = int(rng.integers(-(-32 // P), 90))
        size_ow = int(rng.integers(-(-16 // P), 120))
        span = int(rng.choice([16 // P, 32 // P]))  # pixels a block may read across
        per = 16 // P
        src_w = np.empty(size_ow, np.intp)
        for b0 in range(0, size_ow, per):
            lo = int(rng.integers(0, size_iw - span + 1))
            src_w[b0:b0 + per] = lo + rng.integers(0, span, min(per, size_ow - b0))
        table = _nearest_u8.shuffle_table(src_w, size_iw, P)
        assert table is not None, (size_iw, src_w)
        windows.add(table[1].shape[1])
        assert np.all(table[0] >= 0) and np.all(table[0] + table[1].shape[1] <= size_iw * P)
        x = rng.integers(0, 256, (2, 3, size_iw * P), dtype=np.uint8)
        want = x.reshape(2, 3, size_iw, P)[:, :, src_w]
        src_h = np.array([2, 0, 1, 1], np.intp)
        for channels_last in (True, False):
            if channels_last:
                xv = x.reshape(2, 1, 3, size_iw, P).transpose(0, 4, 1, 2, 3)
                y = np.full((2, 1, 4, size_ow, P), 7, np.uint8)
                yv = y.transpose(0, 4, 1, 2, 3)
                if P == 1:  # one channel: planar strides, the planar loop runs
                    continue
            else:
                if P != 1:
                    continue
                xv = x.reshape(2, 1, 1, 3, size_iw)
                y = np.full((2, 1, 1, 4, size_ow), 7, np.uint8)
                yv = y
            for threads in (1, 2):
                assert _nearest_u8.gather_u8(xv, yv, np.zeros(1, np.intp), src_h, src_w,
                                             channels_last, threads)
                got = y.reshape(2, 4, size_ow, P)
                np.testing.assert_array_equal(got, want[:, src_h], err_msg=str(src_w))
    assert windows == {16, 32}


@pytest.mark.parametrize("P", [1, 2, 3, 4])
def test_byte_shuffle_table_refuses_steep_downscales_and_short_rows(P):
    from upsamplex._kernels import _nearest_u8

    if not _shuffle_built():
        pytest.skip("built without byte shuffles")
    per = 16 // P
    # a block reading across more than 32 bytes: every pixel 3 apart
    assert _nearest_u8.shuffle_table(np.arange(40) * 3, 120, P) is None
    # rows shorter than a window (output or source)
    assert _nearest_u8.shuffle_table(np.zeros(per - 1, np.intp) if per > 1
                                     else np.zeros(0, np.intp), 40, P) is None
    assert _nearest_u8.shuffle_table(np.arange(40) % 3, 15 // P, P) is None
    # x0.7 and x1.5 rows take it
    for size_iw, size_ow in ((100, 70), (100, 150)):
        src = np.minimum((np.arange(size_ow) + 0.5) * size_iw / size_ow, size_iw - 1)
        assert _nearest_u8.shuffle_table(src.astype(np.intp), size_iw, P) is not None


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_byte_shuffle_scales_match_torch(mode, channels, memory_format):
    # the non-integer factors where whole rows go through the shuffles: 0.45 to 2
    rng = np.random.default_rng(channels + 10)
    xt = torch.from_numpy(rng.integers(0, 256, (1, channels, 23, 117), dtype=np.uint8))
    if memory_format == "channels_last":
        xt = xt.contiguous(memory_format=torch.channels_last)
    for ow in (53, 60, 71, 82, 99, 116, 130, 175, 233):
        want = F.interpolate(xt, size=(19, ow), mode=mode).numpy()
        got = ux.interpolate(xt.numpy(), size=(19, ow), mode=mode)
        np.testing.assert_array_equal(got, want, err_msg=str(ow))


def _random_window_table(rng, size_in, size_out, k, precision=14):
    # Windows anywhere in the row (not only where a resize puts them): the last
    # outputs' taps far from the row's end take the wide loops there too, and
    # an output's count may be shorter than its pair partner's.
    cnt = rng.integers(1, min(k, size_in) + 1, size_out)
    first = np.array([rng.integers(0, size_in - c + 1) for c in cnt], dtype=np.intp)
    idx = first[:, None] + np.arange(k)
    w = np.zeros((size_out, k), np.int16)
    for o, c in enumerate(cnt):
        raw = rng.random(c) - 0.15  # some negative lobes; sums of ~1 with overshoot
        w[o, :c] = np.round(raw / raw.sum() * (1 << precision) * rng.uniform(0.8, 1.2))
    return idx, w, cnt.astype(np.intp), precision


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("layout", ["planar", "channels_last"])
def test_wide_loops_equal_the_plain_walk_on_any_window(channels, layout):
    rng = np.random.default_rng(10 + channels)
    for h, w, oh, ow, k in [(9, 40, 9, 2, 5), (10, 61, 10, 3, 9), (12, 97, 12, 31, 13),
                            (6, 20, 6, 7, 20), (13, 128, 13, 64, 4), (8, 33, 8, 1, 3)]:
        x = _layout(rng.integers(0, 256, (1, channels, h, w)).astype(np.uint8), layout)
        th = interp.axis_table_uint8("aa-linear", h, oh, None, False)
        for _ in range(4):
            tw = _random_window_table(rng, w, ow, k)
            # the same table as a resize would hand over: no skip, no x2 period
            fast = np.empty((1, channels, oh, ow), np.uint8)
            plain = np.full((1, channels, oh, ow), 7, np.uint8)
            cl = layout == "channels_last"
            _resample_uint8.resample_uint8(x, fast, th[:4], tw, False, False, cl, 4, (0, 0), 1)
            _resample_uint8.resample_uint8(x, plain, th[:4], tw, False, False, cl, 4, (0, 0), 1,
                                           plain=True)
            np.testing.assert_array_equal(fast, plain, err_msg=f"{(h, w, oh, ow, k)}")


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
@pytest.mark.parametrize("size", [(5, 40), (9, 13), (60, 7)])
def test_long_vertical_windows_match_torch(size, memory_format):
    # /140 in H: hundreds of taps a row blend (past the H pass's weights on
    # the stack), odd and even counts, row lengths off the 32-byte step.
    rng = np.random.default_rng(6)
    xt = torch.from_numpy(rng.integers(0, 256, (1, 3, 700, 45), dtype=np.uint8))
    if memory_format == "channels_last":
        xt = xt.contiguous(memory_format=torch.channels_last)
    for mode in ("bilinear", "bicubic"):
        want = F.interpolate(xt, size=size, mode=mode, antialias=True).numpy()
        for threads in (1, 2):
            got = ux.interpolate(xt.numpy(), size=size, mode=mode, antialias=True,
                                 num_threads=threads)
            np.testing.assert_array_equal(got, want)
