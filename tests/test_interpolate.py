"""Forward parity of ``ux.interpolate`` with ``torch.nn.functional.interpolate`` (torch 2.13, CPU).

Oracles: torch live (through ``_reference.torch_interpolate``, which routes around the
documented torch quirks, see test_differences.py), the float64 NumPy reference in
``_reference`` and a few golden values.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import _reference as ref
import upsamplex as ux

FLOATS = [np.float32, np.float64]
IN_SPATIAL = {1: (7,), 2: (5, 7), 3: (3, 5, 4)}
# output sizes: up, down, odd, mixed up/down, unchanged, size-1 outputs
SIZES = {
    1: [(11,), (3,), (7,), (1,), (16,)],
    2: [(9, 13), (3, 4), (5, 7), (1, 1), (8, 3), (5, 1), (1, 9)],
    3: [(5, 9, 7), (2, 3, 2), (1, 1, 1), (3, 8, 1), (6, 10, 8)],
}
# inputs with size-1 axes
IN_SPATIAL_ONES = {1: (1,), 2: (1, 6), 3: (1, 4, 1)}
SIZES_FROM_ONES = {1: [(4,), (1,)], 2: [(3, 9), (1, 3), (4, 1)], 3: [(2, 3, 3), (1, 2, 1)]}
SCALES = [1.7, 0.6, 2.3, 0.5, 3.0, 1 / 3]
RECOMPUTE = [None, False, True]


def _check(x, mode_kw, what="", **resize):
    kw = {**mode_kw, **resize}
    expected = ref.torch_interpolate(x, **kw)
    got = ux.interpolate(x, **kw)
    assert isinstance(got, np.ndarray)
    assert got.dtype == x.dtype, what
    ref.assert_matches(got, expected, kw["mode"], what or str(kw))
    return got


# ------------------------------------------------------------------------------------
# parity: size, scale_factor (with recompute), per-axis scale tuples
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_parity_size(spec, align_corners, dtype, rng):
    nd = spec[2]
    mode_kw = ref.mode_kwargs(spec, align_corners)
    for in_spatial, sizes in [(IN_SPATIAL[nd], SIZES[nd]), (IN_SPATIAL_ONES[nd], SIZES_FROM_ONES[nd])]:
        x = ref.make_input(rng, (2, 3) + in_spatial, dtype)
        for size in sizes:
            _check(x, mode_kw, f"{in_spatial}->{size}", size=size)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_parity_size_as_int(spec, align_corners, dtype, rng):
    """A bare int size applies to every spatial axis."""
    nd = spec[2]
    x = ref.make_input(rng, (1, 2) + IN_SPATIAL[nd], dtype)
    for size in (1, 4, 9):
        _check(x, ref.mode_kwargs(spec, align_corners), f"size={size}", size=size)


@pytest.mark.parametrize("recompute", RECOMPUTE, ids=lambda v: f"recompute{v}")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_parity_scale_factor(spec, align_corners, dtype, recompute, rng):
    nd = spec[2]
    x = ref.make_input(rng, (2, 3) + IN_SPATIAL[nd], dtype)
    for s in SCALES:
        _check(x, ref.mode_kwargs(spec, align_corners), f"s={s}",
               scale_factor=s, recompute_scale_factor=recompute)


SCALE_TUPLES = {
    1: [(1.5,), (0.75,)],
    # skewed (2, 1) as in torch's module tests; 1.1 on 5 keeps the size with s != 1
    2: [(1.7, 0.6), (0.6, 1.7), (2.0, 1.0), (1.1, 2.3), (0.9, 0.4)],
    3: [(1.7, 0.6, 2.3), (2.0, 1.0, 0.5), (1.3, 1.1, 3.0)],
}


@pytest.mark.parametrize("recompute", RECOMPUTE, ids=lambda v: f"recompute{v}")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_parity_scale_tuple(spec, align_corners, dtype, recompute, rng):
    nd = spec[2]
    x = ref.make_input(rng, (1, 2) + IN_SPATIAL[nd], dtype)
    for scales in SCALE_TUPLES[nd]:
        _check(x, ref.mode_kwargs(spec, align_corners), f"s={scales}",
               scale_factor=scales, recompute_scale_factor=recompute)


@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_size_and_scale_forms_agree(spec, align_corners, rng):
    """torch's test_interpolate: size form == scale form with recompute_scale_factor=True."""
    nd = spec[2]
    x = ref.make_input(rng, (1, 2) + IN_SPATIAL[nd], np.float64)
    mode_kw = ref.mode_kwargs(spec, align_corners)
    for s in (2.0, 1.7, 0.6):
        size = ref.output_size(x.shape[2:], scale_factor=s)
        a = ux.interpolate(x, size=size, **mode_kw)
        b = ux.interpolate(x, scale_factor=s, recompute_scale_factor=True, **mode_kw)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_matches_numpy_reference(spec, align_corners, dtype, rng):
    """The float64 formulas of TORCH_SEMANTICS, independent of torch."""
    nd = spec[2]
    x = ref.make_input(rng, (1, 2) + IN_SPATIAL[nd], dtype)
    mode_kw = ref.mode_kwargs(spec, align_corners)
    for resize in [{"size": SIZES[nd][0]}, {"size": SIZES[nd][1]}, {"scale_factor": 1.7},
                   {"scale_factor": 0.6, "recompute_scale_factor": True}]:
        got = ux.interpolate(x, **mode_kw, **resize)
        expected = ref.interpolate(x, **mode_kw, **resize)
        ref.assert_matches(got, expected.astype(dtype), mode_kw["mode"], str(resize))


def test_output_size_truncates_the_double_product():
    """O = trunc(double(I) * s): 3 * 2.3 = 6.8999... gives 6."""
    x = np.zeros((1, 1, 3))
    assert ux.interpolate(x, scale_factor=2.3, mode="linear").shape == (1, 1, 6)
    x = np.zeros((1, 1, 10, 10))
    assert ux.interpolate(x, scale_factor=(0.29, 1.05)).shape == (1, 1, 2, 10)


# ------------------------------------------------------------------------------------
# memory layouts, strides, out=, empty batch
# ------------------------------------------------------------------------------------


def _layouts(base):
    """Views of the same kind of data with different strides: name -> array."""
    nd = base.ndim - 2
    views = {"contiguous": base}
    big = np.repeat(np.repeat(base, 2, axis=-1), 3, axis=2) if nd >= 1 else base
    sl = [slice(None), slice(None)] + [slice(None)] * nd
    sl[2] = slice(None, None, 3)
    sl[-1] = slice(1, None, 2) if nd > 1 else slice(None, None, 2)
    views["sliced"] = big[tuple(sl)]
    if nd >= 2:
        perm = list(range(base.ndim))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        views["transposed"] = base.transpose(perm).copy().transpose(perm)
    views["channels_last"] = np.moveaxis(np.moveaxis(base, 1, -1).copy(), -1, 1)
    views["negative_strides"] = base[..., ::-1]
    views["fortran"] = np.asfortranarray(base)
    views["batch_sliced"] = np.concatenate([base, base])[::2]
    return views


LAYOUT_DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", LAYOUT_DTYPES + [np.uint8])
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_strided_inputs(spec, align_corners, dtype, rng):
    mode, antialias, nd = spec
    if dtype == np.uint8 and (mode not in ref.UINT8_MODES):
        pytest.skip("uint8 not supported for this mode")
    base = ref.make_input(rng, (2, 4) + IN_SPATIAL[nd], dtype, mode)
    mode_kw = ref.mode_kwargs(spec, align_corners)
    for size in (SIZES[nd][0], SIZES[nd][1]):
        views = _layouts(base)
        for name, x in views.items():
            got = _check(x, mode_kw, f"{name} -> {size}", size=size)
            if name != "channels_last":  # checked on its own below
                # the same values whatever the strides
                np.testing.assert_array_equal(
                    got, ux.interpolate(np.ascontiguousarray(x), size=size, **mode_kw), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_channels_last_in_channels_last_out(spec, dtype, rng):
    mode, antialias, nd = spec
    if dtype == np.uint8 and mode not in ref.UINT8_MODES:
        pytest.skip("uint8 not supported for this mode")
    x = ref.make_input(rng, (2, 5) + IN_SPATIAL[nd], dtype, mode)
    x_cl = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    kw = {**ref.mode_kwargs(spec), "size": SIZES[nd][0]}
    out = ux.interpolate(x_cl, **kw)
    assert np.moveaxis(out, 1, -1).flags.c_contiguous, "channels-last input must give channels-last output"
    out_c = ux.interpolate(x, **kw)
    assert out_c.flags.c_contiguous
    np.testing.assert_array_equal(out, out_c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_out_argument(spec, dtype, rng):
    mode, antialias, nd = spec
    if dtype == np.uint8 and mode not in ref.UINT8_MODES:
        pytest.skip("uint8 not supported for this mode")
    x = ref.make_input(rng, (2, 3) + IN_SPATIAL[nd], dtype, mode)
    kw = {**ref.mode_kwargs(spec), "scale_factor": 1.7}
    expected = ux.interpolate(x, **kw)
    out = np.full(expected.shape, 7, dtype=dtype)
    result = ux.interpolate(x, **kw, out=out)
    assert result is out
    np.testing.assert_array_equal(out, expected)
    ref.assert_matches(out, ref.torch_interpolate(x, **kw), mode)


@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_out_argument_strided(spec, rng):
    """out= may be a non-contiguous view (here channels-last): values land in the right places."""
    nd = spec[2]
    x = ref.make_input(rng, (2, 3) + IN_SPATIAL[nd], np.float64)
    kw = {**ref.mode_kwargs(spec), "size": SIZES[nd][0]}
    expected = ux.interpolate(x, **kw)
    out = np.moveaxis(np.zeros(np.moveaxis(expected, 1, -1).shape), -1, 1)
    assert ux.interpolate(x, **kw, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_empty_batch(spec, dtype, rng):
    mode, antialias, nd = spec
    if dtype == np.uint8 and mode not in ref.UINT8_MODES:
        pytest.skip("uint8 not supported for this mode")
    x = np.zeros((0, 3) + IN_SPATIAL[nd], dtype=dtype)
    kw = {**ref.mode_kwargs(spec), "size": SIZES[nd][0]}
    got = ux.interpolate(x, **kw)
    assert got.shape == ref.torch_direct(x, **kw).shape == (0, 3) + SIZES[nd][0]
    assert got.dtype == dtype
    got = ux.interpolate(x, scale_factor=2.0, **ref.mode_kwargs(spec))
    assert got.shape == (0, 3) + tuple(2 * i for i in IN_SPATIAL[nd])


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic", "area"])
def test_empty_batch_on_every_fast_path(mode, dtype):
    """An empty batch through the bound fast call of every layout and channel count:
    the planar 3/4-channel uint8 pixel loops once divided by the batch size (a
    process-killing SIGFPE for a 1x1 RGB image scaled by 1.5)."""
    if dtype == np.uint8 and mode not in ref.UINT8_MODES:
        return
    for c in (1, 2, 3, 4):
        for hw in ((1, 1), (1, 3), (5, 1), (9, 13)):
            for scale in (0.6, 1.5, 2.0):
                size = tuple(max(1, int(i * scale)) for i in hw)
                for x in (np.zeros((0, c) + hw, dtype),
                          np.moveaxis(np.zeros((0,) + hw + (c,), dtype), -1, 1)):
                    for antialias in {False, mode in ("bilinear", "bicubic")}:
                        y = ux.interpolate(x, size=size, mode=mode, antialias=antialias)
                        assert y.shape == (0, c) + size and y.dtype == dtype


# ------------------------------------------------------------------------------------
# uint8
# ------------------------------------------------------------------------------------

UINT8_SPECS = [s for s in ref.MODE_SPECS if s[0] in ref.UINT8_MODES]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("spec, align_corners", [
    p for p in ref.spec_with_align_corners() if p.values[0][0] in ref.UINT8_MODES])
def test_uint8_parity(spec, align_corners, layout, rng):
    mode, antialias, nd = spec
    for channels in (1, 3, 4, 5):
        x = ref.make_input(rng, (2, channels) + IN_SPATIAL[nd], np.uint8, mode)
        if layout == "channels_last":
            x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
        mode_kw = ref.mode_kwargs(spec, align_corners)
        for size in SIZES[nd]:
            _check(x, mode_kw, f"C={channels} -> {size}", size=size)
        for s in (1.7, 0.6, 1 / 3):
            _check(x, mode_kw, f"C={channels} s={s}", scale_factor=s)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("mode, antialias", [
    ("nearest", False), ("nearest-exact", False), ("bilinear", False), ("bicubic", False),
    ("bilinear", True), ("bicubic", True), ("lanczos", True)])
def test_uint8_sample_270_to_130(mode, antialias, layout, rng):
    """torch's sample_inputs_interpolate: uint8 270 -> 130 in both memory formats."""
    x = ref.make_input(rng, (1, 3, 270, 270), np.uint8, mode)
    if layout == "channels_last":
        x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    kw = {"mode": mode, "size": (130, 130)}
    if antialias:
        kw["antialias"] = True
    _check(x, kw)


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_reference_input_345x456_to_270(mode, dtype, antialias, rng):
    """torch's reference_inputs: 345x456 -> 270, with and without antialias."""
    x = ref.make_input(rng, (1, 3, 345, 456), dtype, mode)
    _check(x, {"mode": mode, "antialias": antialias}, size=(270, 270))


@pytest.mark.parametrize("sizes", [(399, 437), (437, 399), (403, 377), (377, 403)],
                         ids=lambda s: f"{s[0]}to{s[1]}")
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_uint8_interp_size_bug_sizes(sizes, layout, rng):
    """torch's test_upsamplingBiLinear2d_consistency_interp_size_bug sizes."""
    i, o = sizes
    x = ref.make_input(rng, (1, 3, i, 32), np.uint8)
    if layout == "channels_last":
        x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    for antialias in (False, True):
        _check(x, {"mode": "bilinear", "antialias": antialias}, size=(o, 32))
        _check(x.swapaxes(2, 3), {"mode": "bilinear", "antialias": antialias}, size=(32, o))


@pytest.mark.parametrize("mode, antialias", [("bilinear", False), ("bilinear", True)])
def test_uint8_close_to_float(mode, antialias, rng):
    """torch's _consistency test: uint8 result is within 1 of the rounded float result."""
    x = ref.make_input(rng, (1, 3, 40, 37), np.uint8)
    got = ux.interpolate(x, size=(23, 61), mode=mode, antialias=antialias).astype(np.int64)
    f = ux.interpolate(x.astype(np.float32), size=(23, 61), mode=mode, antialias=antialias)
    assert np.abs(got - np.clip(np.round(f), 0, 255)).max() <= 1


# ------------------------------------------------------------------------------------
# nearest against torch's own N-D call where torch has no path quirk
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_nearest_2d_large_matches_torch_generic_path(mode, dtype, rng):
    """oH + oW > 128 on a contiguous input: torch uses its generic 2-D kernel."""
    for in_hw, out_hw in [((13, 17), (100, 41)), ((2, 5), (41, 97)), ((50, 60), (30, 110)),
                          ((7, 9), (70, 90))]:
        x = ref.make_input(rng, (1, 2) + in_hw, dtype)
        got = ux.interpolate(x, size=out_hw, mode=mode)
        np.testing.assert_array_equal(got, ref.torch_direct(x, size=out_hw, mode=mode))


@pytest.mark.parametrize("nd", [2, 3])
def test_nearest_with_size_matches_torch_directly(nd, rng):
    """With size (not scale), torch's O==I / O==2I shortcuts agree with the formula."""
    x = ref.make_input(rng, (2, 3) + IN_SPATIAL[nd], np.float32)
    for size in SIZES[nd] + [tuple(2 * i for i in IN_SPATIAL[nd])]:
        got = ux.interpolate(x, size=size, mode="nearest")
        np.testing.assert_array_equal(got, ref.torch_direct(x, size=size, mode="nearest"))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nearest_1d_every_small_size_pair(mode, dtype):
    """Every (I, O) with I, O <= 40 against torch's 1-D kernel (exact index maps)."""
    import torch
    import torch.nn.functional as F

    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    for i in range(1, 41):
        x = np.arange(i, dtype=dtype)[None, None]
        for o in range(1, 41):
            got = ux.interpolate(x, size=o, mode=mode)
            expected = F.interpolate(torch.arange(i, dtype=tdtype)[None, None], size=o, mode=mode)
            np.testing.assert_array_equal(got[0, 0], expected[0, 0].numpy(), err_msg=f"{i}->{o}")


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nearest_1d_scales_match_torch(mode, dtype):
    import torch
    import torch.nn.functional as F

    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    for i in range(1, 41):
        x = np.arange(i, dtype=dtype)[None, None]
        for s in [1.7, 0.6, 2.3, 0.5, 3.0, 1 / 3, 1.1, 1.00001, 2.00001, 1.3, 0.9]:
            if int(i * s) < 1:
                continue
            got = ux.interpolate(x, scale_factor=s, mode=mode)
            t = torch.arange(i, dtype=tdtype)[None, None]
            expected = F.interpolate(t, scale_factor=s, mode=mode)[0, 0].numpy()
            np.testing.assert_array_equal(got[0, 0], expected, err_msg=f"I={i} s={s}")


def test_nearest_exact_rescale_near_one():
    """torch's test_upsamplingNearestExact1d_rescale: s=1.00001 is the identity,
    s=2.00001 duplicates every pixel."""
    x = np.arange(1, 11, dtype=np.float32)[None, None]
    np.testing.assert_array_equal(ux.interpolate(x, scale_factor=1.00001, mode="nearest-exact"), x)
    np.testing.assert_array_equal(ux.interpolate(x, scale_factor=2.00001, mode="nearest-exact"),
                                  np.repeat(x, 2, axis=-1))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("in_out", [(20, 11), (10, 15)])
def test_nearest_correctness_opencv_skimage(mode, in_out):
    """torch's _correctness cases: nearest = OpenCV INTER_NEAREST, nearest-exact = skimage/PIL."""
    i, o = in_out
    x = np.arange(i, dtype=np.float64)[None, None]
    scale = i / o
    if mode == "nearest":
        expected = np.minimum(np.floor(np.arange(o) * scale), i - 1)
    else:
        expected = np.minimum(np.floor((np.arange(o) + 0.5) * scale), i - 1)
    np.testing.assert_array_equal(ux.interpolate(x, size=o, mode=mode)[0, 0], expected)


# ------------------------------------------------------------------------------------
# golden values, tutorial-style exact outputs, torch's own sample cases
# ------------------------------------------------------------------------------------


def test_tutorial_bilinear_2x3_doubled():
    x = np.arange(6, dtype=np.float64).reshape(1, 1, 2, 3)
    got = ux.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    expected = np.array([
        [0.0, 0.25, 0.75, 1.25, 1.75, 2.0],
        [0.75, 1.0, 1.5, 2.0, 2.5, 2.75],
        [2.25, 2.5, 3.0, 3.5, 4.0, 4.25],
        [3.0, 3.25, 3.75, 4.25, 4.75, 5.0],
    ])
    np.testing.assert_allclose(got[0, 0], expected, rtol=0, atol=1e-15)
    got = ux.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    expected = np.array([
        [0.0, 0.4, 0.8, 1.2, 1.6, 2.0],
        [1.0, 1.4, 1.8, 2.2, 2.6, 3.0],
        [2.0, 2.4, 2.8, 3.2, 3.6, 4.0],
        [3.0, 3.4, 3.8, 4.2, 4.6, 5.0],
    ])
    np.testing.assert_allclose(got[0, 0], expected, rtol=0, atol=1e-14)


def test_tutorial_nearest_and_area():
    x = np.arange(6, dtype=np.float64).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(
        ux.interpolate(x, scale_factor=2, mode="nearest")[0, 0],
        [[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]])
    np.testing.assert_array_equal(ux.interpolate(x, size=(1, 1), mode="area")[0, 0], [[2.5]])
    # area upsampling 2 -> 3: [x0, (x0 + x1) / 2, x1]
    np.testing.assert_array_equal(
        ux.interpolate(np.array([[[2.0, 4.0]]]), size=3, mode="area")[0, 0], [2.0, 3.0, 4.0])


@pytest.mark.parametrize("mode", ["area", "bilinear"])
def test_small_scale_2x2_to_1(mode):
    """torch's test_upsampling_small_scale: 2x2 -> 1 gives 2.5."""
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    kw = {"mode": mode, "scale_factor": 0.5}
    np.testing.assert_array_equal(ux.interpolate(x, **kw), [[[[2.5]]]])


def test_bicubic_not_recompute_scale_factor_opencv_golden():
    """torch's test_upsampling_not_recompute_scale_factor: bicubic s=2.3 (OpenCV values)."""
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    got = ux.interpolate(x, scale_factor=2.3, mode="bicubic", align_corners=False,
                         recompute_scale_factor=False)
    expected = ref.torch_direct(x, scale_factor=2.3, mode="bicubic", align_corners=False,
                                recompute_scale_factor=False)
    ref.assert_matches(got, expected)
    assert got.shape == (1, 2, 4, 4)


PIL_GOLDEN_8X8_TO_2X2 = {
    "bilinear": [17.035713, 20.25, 42.75, 45.964287],
    "bicubic": [15.1205635, 18.760439, 44.23956, 47.879436],
    "lanczos": [14.267627, 18.097038, 44.902962, 48.732372],
}


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_pil_golden_8x8_to_2x2(mode, layout):
    """torch's PIL golden values: arange(3*8*8) 8x8 -> 2x2, antialiased."""
    x = np.arange(3 * 8 * 8, dtype=np.float32).reshape(1, 3, 8, 8)
    if layout == "channels_last":
        x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    got = ux.interpolate(x, size=(2, 2), mode=mode, antialias=True)
    np.testing.assert_allclose(got[0, 0].ravel(), PIL_GOLDEN_8X8_TO_2X2[mode], rtol=0, atol=1e-4)
    ref.assert_matches(got, ref.torch_direct(np.ascontiguousarray(x), size=(2, 2), mode=mode,
                                             antialias=True))
    ref.assert_matches(got, ref.interpolate(x, size=(2, 2), mode=mode, antialias=True).astype(np.float32))


@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_torch_sample_inputs(spec, align_corners, rng):
    """torch's sample_inputs_interpolate: N=2, C=3, 4 -> {3, 5}; s in {1.7, 0.6} x recompute."""
    nd = spec[2]
    mode_kw = ref.mode_kwargs(spec, align_corners)
    for dtype in FLOATS:
        x = ref.make_input(rng, (2, 3) + (4,) * nd, dtype)
        for size in (3, 5):
            _check(x, mode_kw, f"4->{size}", size=size)
        for s in (1.7, 0.6):
            for recompute in (False, True):
                _check(x, mode_kw, f"s={s}", scale_factor=s, recompute_scale_factor=recompute)
        # uneven shapes
        x = ref.make_input(rng, (2, 3) + (4, 6, 5)[:nd], dtype)
        _check(x, mode_kw, "uneven", size=(5, 3, 7)[:nd])


@pytest.mark.parametrize("mode, align_corners", [
    ("nearest", None), ("nearest-exact", None), ("linear", False), ("bilinear", False),
    ("bicubic", False), ("trilinear", False)])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_spatial_invariance(mode, align_corners, nd, rng):
    """torch's spatial-invariance tests: s=3; output[:15] of a 9-wide input (nonzero only in
    its first 4) equals the output of its first 5."""
    spec = next((s for s in ref.MODE_SPECS if s[0] == mode and s[2] == nd and not s[1]), None)
    if spec is None:
        pytest.skip(f"{mode} is not a {nd}-D mode")
    x9 = np.zeros((1, 1) + (9,) * nd)
    x9[(0, 0) + (slice(0, 4),) * nd] = rng.standard_normal((4,) * nd)
    kw = {**ref.mode_kwargs(spec, align_corners), "scale_factor": 3}
    out9 = ux.interpolate(x9, **kw)
    out5 = ux.interpolate(np.ascontiguousarray(x9[(Ellipsis,) + (slice(0, 5),) * nd]), **kw)
    np.testing.assert_allclose(out9[(Ellipsis,) + (slice(0, 15),) * nd], out5, rtol=0, atol=1e-14)


@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_constant_input_stays_constant(spec, align_corners):
    """All-ones input (torch's test_upsamplingBiMode2d): every mode reproduces constants."""
    nd = spec[2]
    x = np.full((1, 2) + IN_SPATIAL[nd], 3.0)
    for resize in ({"size": SIZES[nd][0]}, {"size": SIZES[nd][1]}, {"scale_factor": 1.7}):
        got = ux.interpolate(x, **ref.mode_kwargs(spec, align_corners), **resize)
        np.testing.assert_allclose(got, 3.0, rtol=1e-14)


# ------------------------------------------------------------------------------------
# hypothesis: random small configurations against torch
# ------------------------------------------------------------------------------------


@st.composite
def configs(draw, dtypes=(np.float32, np.float64, np.uint8)):
    spec = draw(st.sampled_from(ref.MODE_SPECS))
    mode, antialias, nd = spec
    ok_dtypes = [d for d in dtypes if d != np.uint8 or mode in ref.UINT8_MODES]
    dtype = draw(st.sampled_from(ok_dtypes))
    align_corners = draw(st.sampled_from(ref.align_corners_options(mode, antialias)))
    in_spatial = tuple(draw(st.lists(st.integers(1, 9), min_size=nd, max_size=nd)))
    n = draw(st.integers(0, 2))
    c = draw(st.integers(1, 4))
    kw = ref.mode_kwargs(spec, align_corners)
    if draw(st.booleans()):
        kw["size"] = tuple(draw(st.lists(st.integers(1, 13), min_size=nd, max_size=nd)))
    else:
        scale_values = st.sampled_from([0.5, 0.6, 1 / 3, 0.75, 1.0, 1.1, 1.5, 1.7, 2.0, 2.3, 3.0])
        scales = tuple(draw(st.lists(scale_values, min_size=nd, max_size=nd)))
        if any(int(i * s) < 1 for i, s in zip(in_spatial, scales)):
            scales = tuple(max(s, 1.0) for s in scales)
        kw["scale_factor"] = scales if draw(st.booleans()) or nd == 1 else scales[0]
        if not isinstance(kw["scale_factor"], tuple) and any(
                int(i * kw["scale_factor"]) < 1 for i in in_spatial):
            kw["scale_factor"] = 1.0
        kw["recompute_scale_factor"] = draw(st.sampled_from(RECOMPUTE))
    layout = draw(st.sampled_from(["contiguous", "channels_last", "negative", "sliced"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, c) + in_spatial, dtype, kw, layout, seed


def _apply_layout(x, layout):
    if layout == "channels_last":
        return np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    if layout == "negative":
        return np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    if layout == "sliced":
        return np.repeat(x, 2, axis=-1)[..., ::2]
    return x


@given(configs())
def test_hypothesis_parity_with_torch(config):
    shape, dtype, kw, layout, seed = config
    x = _apply_layout(ref.make_input(np.random.default_rng(seed), shape, dtype, kw["mode"]), layout)
    _check(x, kw, str(kw))


@given(configs(dtypes=(np.float64,)))
def test_hypothesis_matches_numpy_reference(config):
    shape, dtype, kw, layout, seed = config
    x = _apply_layout(ref.make_input(np.random.default_rng(seed), shape, dtype), layout)
    ref.assert_matches(ux.interpolate(x, **kw), ref.interpolate(x, **kw), kw["mode"], str(kw))


# ------------------------------------------------------------------------------------
# threads and build
# ------------------------------------------------------------------------------------


def test_show_config_reports_openmp():
    import io

    cfg = ux.show_config(file=io.StringIO())
    assert cfg["openmp"] is True


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_num_threads_bit_identical(spec, dtype, rng):
    mode, antialias, nd = spec
    if dtype == np.uint8 and mode not in ref.UINT8_MODES:
        pytest.skip("uint8 not supported for this mode")
    shape = {1: (3, 4, 301), 2: (2, 3, 41, 37), 3: (2, 3, 9, 11, 13)}[nd]
    x = ref.make_input(rng, shape, dtype, mode)
    for resize in ({"scale_factor": 1.7}, {"scale_factor": 0.6}):
        kw = {**ref.mode_kwargs(spec), **resize}
        one = ux.interpolate(x, **kw, num_threads=1)
        two = ux.interpolate(x, **kw, num_threads=2)
        default = ux.interpolate(x, **kw)
        np.testing.assert_array_equal(one, two)
        np.testing.assert_array_equal(one, default)


def test_accepts_numpy_integer_sizes_and_scales():
    x = np.zeros((1, 1, 4, 6))
    assert ux.interpolate(x, size=(np.int64(3), np.int32(5))).shape == (1, 1, 3, 5)
    assert ux.interpolate(x, scale_factor=np.float32(2.0)).shape == (1, 1, 8, 12)
    assert ux.interpolate(x, scale_factor=2).shape == (1, 1, 8, 12)
    assert ux.interpolate(x, size=[3, 5]).shape == (1, 1, 3, 5)


# ------------------------------------------------------------------------------------
# long axes: float32 index arithmetic (torch fuses r * (i + 0.5) - 0.5 into one rounding)
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_long_axis(spec, align_corners, dtype, rng):
    """Source coordinates near 1000: an ulp of float32 there is 6e-5, so any difference in
    how the index is rounded shows up beyond the float32 tolerance."""
    mode, antialias, nd = spec
    if dtype == np.uint8 and mode not in ref.UINT8_MODES:
        pytest.skip("uint8 not supported for this mode")
    mode_kw = ref.mode_kwargs(spec, align_corners)
    for long_in, resize in [(1000, {"size": 777}), (345, {"size": 270}), (999, {"scale_factor": 0.6}),
                            (611, {"scale_factor": 1.7}), (700, {"scale_factor": 2.3})]:
        shape = (1, 2) + (2,) * (nd - 1) + (long_in,)
        x = ref.make_input(rng, shape, dtype, mode)
        kw = dict(resize)
        if "size" in kw:
            kw["size"] = tuple(x.shape[2:-1]) + (kw["size"],)
        else:
            kw["scale_factor"] = (1.0,) * (nd - 1) + (kw["scale_factor"],)
        _check(x, mode_kw, f"{long_in} {resize}", **kw)
        # the same along the first spatial axis
        xt = np.ascontiguousarray(np.swapaxes(x, 2, -1))
        kwt = {k: tuple(v)[::-1] for k, v in kw.items()}
        _check(xt, mode_kw, f"first axis {long_in} {resize}", **kwt)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_large_images(spec, align_corners, dtype, layout, rng):
    mode, antialias, nd = spec
    if dtype == np.uint8 and mode not in ref.UINT8_MODES:
        pytest.skip("uint8 not supported for this mode")
    in_spatial = {1: (3001,), 2: (181, 243), 3: (23, 31, 37)}[nd]
    x = ref.make_input(rng, (2, 4) + in_spatial, dtype, mode)
    if layout == "channels_last":
        x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    mode_kw = ref.mode_kwargs(spec, align_corners)
    for s in (0.37, 1.7, 2.0, (3.1, 0.5, 1.3)[:nd]):
        _check(x, mode_kw, f"s={s}", scale_factor=s)


# ------------------------------------------------------------------------------------
# inputs upsamplex must accept without writing to them
# ------------------------------------------------------------------------------------

def _input_kinds(x):
    ro = x.copy()
    ro.flags.writeable = False
    unaligned = np.empty(x.nbytes + 1, np.uint8)[1:].view(x.dtype).reshape(x.shape)
    unaligned[...] = x
    return {
        "read_only": ro,
        "broadcast": np.broadcast_to(x[:, :1], x.shape),  # zero stride, read-only
        "unaligned": unaligned,
    }


@pytest.mark.parametrize("kind", ["read_only", "broadcast", "unaligned"])
@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_special_inputs(spec, kind, rng):
    nd = spec[2]
    x = ref.make_input(rng, (2, 3) + IN_SPATIAL[nd], np.float32)
    xin = _input_kinds(x)[kind]
    before = xin.copy()
    kw = {**ref.mode_kwargs(spec), "size": SIZES[nd][0]}
    got = ux.interpolate(xin, **kw)
    np.testing.assert_array_equal(got, ux.interpolate(np.ascontiguousarray(xin), **kw))
    np.testing.assert_array_equal(xin, before)


@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_input_is_not_modified(spec, rng):
    nd = spec[2]
    for dtype in ([np.float32, np.float64] + ([np.uint8] if spec[0] in ref.UINT8_MODES else [])):
        x = ref.make_input(rng, (2, 3) + IN_SPATIAL[nd], dtype, spec[0])
        x_cl = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
        for xin in (x, x_cl, x[..., ::-1]):
            before = xin.copy()
            ux.interpolate(xin, **ref.mode_kwargs(spec), scale_factor=1.7)
            np.testing.assert_array_equal(xin, before)
