"""Pinned, intentional differences between upsamplex and torch 2.13.

Each test pins upsamplex's behaviour (with an independent oracle) and shows that torch
does something else, so a change on either side is noticed.
"""

import numpy as np
import pytest

import _reference as ref
import upsamplex as ux

# ------------------------------------------------------------------------------------
# 1. nearest: no O==I / O==2I shortcuts, in every rank (torch's 2-D/3-D channels-last
#    kernel takes them whatever s says; its 1-D kernel does not)
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("s, expected", [
    (1.1, [0, 0, 1, 2, 3]),                      # O == I, but s != 1
    (2.1, [0, 0, 0, 1, 1, 2, 2, 3, 3, 4]),       # O == 2I, but s != 2
])
def test_nearest_no_shortcut_1d_2d_3d(s, expected, dtype):
    line = np.arange(5, dtype=dtype)
    # 1-D: equal to torch's 1-D kernel
    got1 = ux.interpolate(line[None, None], scale_factor=s, mode="nearest")[0, 0]
    np.testing.assert_array_equal(got1, expected)
    np.testing.assert_array_equal(got1, ref.torch_direct(line[None, None], scale_factor=s)[0, 0])
    # 2-D: torch's 1-D result applied per axis (torch's own 2-D differs: i or i >> 1)
    x2 = (line[:, None] * 10 + line[None, :]).astype(dtype)[None, None]
    got2 = ux.interpolate(x2, scale_factor=s, mode="nearest")
    idx = np.array(expected)
    np.testing.assert_array_equal(got2[0, 0], x2[0, 0][np.ix_(idx, idx)])
    torch2 = ref.torch_direct(x2, scale_factor=s)
    shortcut = np.arange(len(expected)) * 5 // len(expected)  # i or i >> 1
    np.testing.assert_array_equal(torch2[0, 0], x2[0, 0][np.ix_(shortcut, shortcut)])
    assert not np.array_equal(got2, torch2)
    # 3-D, channels-last with C > 3 (torch's shortcut kernel for 5-D)
    x3 = np.broadcast_to(line[:, None, None], (5, 5, 5)).astype(dtype)
    x3 = np.moveaxis(np.moveaxis(np.broadcast_to(x3, (1, 4, 5, 5, 5)), 1, -1).copy(), -1, 1)
    got3 = ux.interpolate(x3, scale_factor=s, mode="nearest")
    np.testing.assert_array_equal(got3[0, 0, :, 0, 0], expected)
    assert not np.array_equal(got3, ref.torch_direct(x3, scale_factor=s))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_nearest_2d_equals_torch_1d_per_axis(layout, rng):
    """The pinned rule on a grid of explicit scales, both layouts."""
    x = rng.standard_normal((1, 5, 5, 7))
    if layout == "channels_last":
        x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    for s in [(1.1, 2.1), (1.15, 1.0), (2.05, 0.99), (1.0, 2.0), (1.7, 0.6)]:
        got = ux.interpolate(x, scale_factor=s, mode="nearest")
        idx = ref.torch_nearest_indices(x.shape[2:], x.dtype, "nearest", scale_factor=s)
        np.testing.assert_array_equal(got, ref.gather_axes(x, idx), err_msg=str(s))


def test_nearest_float64_index_precision_in_2d():
    """float64 input: indices at float64 precision (torch's 1-D and generic kernels);
    torch's small-2-D channels-last kernel always uses float32 and differs here."""
    x = np.arange(2, dtype=np.float64)[:, None] * np.ones((1, 2))
    got = ux.interpolate(x[None, None], size=(82, 2), mode="nearest")
    expected = ref.torch_direct(np.arange(2, dtype=np.float64)[None, None], size=82)[0, 0]
    assert expected[41] == 1.0
    np.testing.assert_array_equal(got[0, 0, :, 0], expected)
    assert ref.torch_direct(x[None, None], size=(82, 2))[0, 0, 41, 0] == 0.0


# ------------------------------------------------------------------------------------
# 2. float antialias with output width 1: torch returns equal rows, upsamplex does not
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
def test_antialias_output_width_one(mode, dtype, rng):
    x = rng.standard_normal((1, 2, 6, 1)).astype(dtype)
    got = ux.interpolate(x, size=(3, 1), mode=mode, antialias=True)
    expected = ref.interpolate(x, size=(3, 1), mode=mode, antialias=True)
    ref.assert_matches(got, expected.astype(dtype), mode)
    assert len(np.unique(got[0, 0, :, 0])) == 3
    # torch on the transposed image is right; torch itself repeats one row
    ref.assert_matches(got, ref.torch_interpolate(x, size=(3, 1), mode=mode, antialias=True), mode)
    torch_out = ref.torch_direct(x, size=(3, 1), mode=mode, antialias=True)
    assert np.all(torch_out[0, 0, :, 0] == torch_out[0, 0, 0, 0])
    # wider inputs too
    x = rng.standard_normal((2, 3, 7, 4)).astype(dtype)
    for size in [(9, 1), (3, 1), (2, 1)]:
        got = ux.interpolate(x, size=size, mode=mode, antialias=True)
        ref.assert_matches(got, ref.interpolate(x, size=size, mode=mode, antialias=True).astype(dtype),
                           mode, str(size))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
def test_antialias_output_width_one_uint8_agrees_with_torch(mode, rng):
    """torch's uint8 path has no width-1 bug: upsamplex's uint8 matches it, and its float
    result rounds to the same values."""
    x = rng.integers(30, 221, size=(1, 3, 12, 5), dtype=np.uint8)
    got = ux.interpolate(x, size=(5, 1), mode=mode, antialias=True)
    ref.assert_matches(got, ref.torch_direct(x, size=(5, 1), mode=mode, antialias=True), mode)
    f = ux.interpolate(x.astype(np.float64), size=(5, 1), mode=mode, antialias=True)
    assert np.abs(np.round(f) - got).max() <= 2


# ------------------------------------------------------------------------------------
# 3. backward: the true adjoint of upsamplex's forward where torch's backward is not
# ------------------------------------------------------------------------------------

NON_ADJOINT_TORCH = [
    # nearest, O == I or O == 2I with s not in {1, 2}
    pytest.param((1, 2, 5), {"mode": "nearest", "scale_factor": 1.1}, id="nearest-1d-O=I"),
    pytest.param((1, 2, 5, 6), {"mode": "nearest", "scale_factor": (2.1, 1.7)}, id="nearest-2d-O=2I"),
    pytest.param((1, 2, 5, 4, 3), {"mode": "nearest", "scale_factor": (1.1, 2.0, 2.1)},
                 id="nearest-3d"),
    # bicubic, O == I with s != 1
    pytest.param((1, 2, 5, 5), {"mode": "bicubic", "scale_factor": 1.1}, id="bicubic-O=I"),
    pytest.param((1, 2, 5, 6), {"mode": "bicubic", "scale_factor": (1.1, 1.15),
                                "align_corners": False}, id="bicubic-both-axes"),
    # antialias, one axis keeps its size with s != 1
    pytest.param((1, 2, 8, 5), {"mode": "bilinear", "antialias": True, "scale_factor": (0.5, 1.1)},
                 id="aa-bilinear"),
    pytest.param((1, 2, 8, 5), {"mode": "bicubic", "antialias": True, "scale_factor": (0.5, 1.1)},
                 id="aa-bicubic"),
    pytest.param((1, 2, 5, 9), {"mode": "lanczos", "antialias": True, "scale_factor": (1.1, 0.4)},
                 id="lanczos"),
]


@pytest.mark.parametrize("recompute", [None, False])
@pytest.mark.parametrize("shape, kw", NON_ADJOINT_TORCH)
def test_backward_is_adjoint_where_torch_is_not(shape, kw, recompute, rng):
    kw = {**kw, "recompute_scale_factor": recompute}
    assert not ref.torch_backward_is_adjoint(shape, **kw)
    x = rng.standard_normal(shape)
    y = ux.interpolate(x, **kw)
    ref.assert_matches(y, ref.torch_interpolate(x, **kw), kw["mode"])  # the forwards agree
    g = rng.standard_normal(y.shape)
    grad = ux.interpolate_backward(g, shape, **kw)
    # the adjoint identity and the transposed reference matrices
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, grad), rtol=1e-12)
    ref.assert_matches(grad, ref.interpolate_backward(g, shape, **kw), kw["mode"])
    # torch's gradient is something else
    assert np.abs(grad - ref.torch_grad(g, shape, **kw)).max() > 1e-3


@pytest.mark.parametrize("shape, kw", NON_ADJOINT_TORCH)
def test_with_recompute_torch_agrees_again(shape, kw, rng):
    """With recompute_scale_factor=True the scale never reaches the kernel: no difference."""
    kw = {**kw, "recompute_scale_factor": True}
    assert ref.torch_backward_is_adjoint(shape, **kw)
    y_shape = shape[:2] + ref.output_size(shape[2:], scale_factor=kw["scale_factor"])
    g = rng.standard_normal(y_shape)
    ref.assert_matches(ux.interpolate_backward(g, shape, **kw), ref.torch_grad(g, shape, **kw),
                       kw["mode"])


def test_bicubic_backward_torch_copies_only_if_every_axis_keeps_its_size(rng):
    """One axis kept (s=1.1 on 5) and one resized: torch's backward is the adjoint again."""
    shape, kw = (1, 2, 5, 7), {"mode": "bicubic", "scale_factor": (1.1, 1.7)}
    assert ref.torch_backward_is_adjoint(shape, **kw)
    g = rng.standard_normal((1, 2, 5, 11))
    ref.assert_matches(ux.interpolate_backward(g, shape, **kw), ref.torch_grad(g, shape, **kw))


# ------------------------------------------------------------------------------------
# 4. nearest-exact ties: torch's generic-path rounding in every layout
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_nearest_exact_tie_uses_generic_path(layout):
    """I=2, O=41: torch's generic path (large contiguous 2-D, or 1-D) gives 1 at index 20,
    its channels-last path gives 0. upsamplex gives the generic-path answer everywhere."""
    x = (np.arange(2, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32))[None, None]
    x = np.broadcast_to(x, (1, 4, 2, 2))
    if layout == "channels_last":
        x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)
    else:
        x = x.copy()
    small = ux.interpolate(x, size=(41, 2), mode="nearest-exact")[0, 0, :, 0]
    large = ux.interpolate(x, size=(41, 100), mode="nearest-exact")[0, 0, :, 0]
    generic = ref.torch_direct(np.ascontiguousarray(x), size=(41, 100), mode="nearest-exact")[0, 0, :, 0]
    np.testing.assert_array_equal(small, generic)
    np.testing.assert_array_equal(large, generic)
    np.testing.assert_array_equal(small, ref.nearest_exact_index(2, 41, 2 / 41))
    assert generic[20] == 1.0
    assert ref.torch_direct(x, size=(41, 2), mode="nearest-exact")[0, 0, 20, 0] == 0.0


def test_nearest_exact_every_pair_matches_generic_formula():
    """All I, O <= 64 along one axis of a 2-D image against the generic-path formula."""
    for i in range(1, 65):
        x = np.arange(i, dtype=np.float32)[None, None, :, None]
        for o in range(1, 65):
            got = ux.interpolate(x, size=(o, 1), mode="nearest-exact")[0, 0, :, 0]
            np.testing.assert_array_equal(got, ref.nearest_exact_index(i, o, i / o),
                                          err_msg=f"{i}->{o}")


def test_uint8_bicubic_unchanged_axis_resamples_like_float(rng):
    # README difference 5: with an explicit scale != 1 whose output size equals the input
    # size, torch's uint8 path copies that axis while its float path resamples it;
    # upsamplex resamples in both dtypes.
    x = rng.integers(30, 220, (1, 2, 5, 5)).astype(np.uint8)
    kw = dict(scale_factor=1.1, mode="bicubic")
    ours = ux.interpolate(x, **kw).astype(int)
    ours_float = np.round(ux.interpolate(x.astype(np.float64), **kw))
    torch_uint8 = ref.torch_direct(x, **kw).astype(int)
    assert np.abs(ours - ours_float).max() <= 2
    np.testing.assert_array_equal(torch_uint8, x)  # torch: a copy
    assert np.abs(ours - x).max() > 2


def test_area_output_size_zero_is_an_error():
    # README difference 6: torch returns an empty array; upsamplex reports the mistake.
    x = np.ones((1, 1, 1, 6), np.float32)
    assert ref.torch_direct(x, scale_factor=0.5, mode="area").shape == (1, 1, 0, 3)
    with pytest.raises(ValueError, match="output size of 0"):
        ux.interpolate(x, scale_factor=0.5, mode="area")


def test_uint8_many_channels_output_width_one(rng):
    # README difference 3, uint8 side: with more than 4 channels torch's separable uint8
    # path repeats the first row when the output width is 1; upsamplex gives each row
    # its own value, within 1 of the float64 answer.
    x = rng.integers(0, 256, (1, 5, 5, 3)).astype(np.uint8)
    kw = dict(size=(2, 1), mode="bilinear")
    ours = ux.interpolate(x, **kw).astype(int)
    float_ref = np.round(ux.interpolate(x.astype(np.float64), **kw))
    torch_uint8 = ref.torch_direct(x, **kw).astype(int)
    assert np.abs(ours - float_ref).max() <= 1
    np.testing.assert_array_equal(torch_uint8[:, :, 0], torch_uint8[:, :, 1])  # torch: a copy
    assert np.abs(ours[:, :, 0] - ours[:, :, 1]).max() > 2


@pytest.mark.parametrize("mode", ["linear", "bicubic"])
def test_float64_long_axes_are_exact_where_torch_rounds_the_source_index(mode):
    # Difference 7: torch computes the source coordinate of float64 linear/cubic in
    # float32 on long axes (>= 8192 samples); upsamplex keeps float64 throughout.
    import torch
    import torch.nn.functional as F

    n_in, n_out = 10000, 12345
    x = np.random.default_rng(7).standard_normal((1, 1, n_in))
    if mode == "linear":
        ours = ux.interpolate(x, size=n_out, mode=mode)
        theirs = F.interpolate(torch.from_numpy(x), size=n_out, mode=mode).numpy()
    else:  # torch's bicubic is 2-D: a (1, n) image
        x4 = x[:, :, None]
        ours = ux.interpolate(x4, size=(1, n_out), mode=mode)[:, :, 0]
        theirs = F.interpolate(torch.from_numpy(x4), size=(1, n_out), mode=mode).numpy()[:, :, 0]
    # float64 reference: the exact sample positions, by the torch formula
    o = np.arange(n_out)
    src = (o + 0.5) * (n_in / n_out) - 0.5
    if mode == "linear":
        src = np.maximum(src, 0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        lam = src - i0
        ref = (1 - lam) * x[0, 0, i0] + lam * x[0, 0, np.minimum(i0 + 1, n_in - 1)]
    else:
        i0 = np.floor(src).astype(int)
        t = src - i0
        a = -0.75

        def near(d):
            return ((a + 2) * d - (a + 3)) * d * d + 1

        def far(d):
            return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

        w = [far(t + 1), near(t), near(1 - t), far(2 - t)]
        ref = sum(wj * x[0, 0, np.clip(i0 - 1 + j, 0, n_in - 1)] for j, wj in enumerate(w))
    scale = np.abs(ref).max()
    assert np.abs(ours[0, 0] - ref).max() / scale < 1e-10
    assert np.abs(theirs[0, 0] - ref).max() / scale > 1e-6


# ------------------------------------------------------------------------------------
# 12. nearest backward with size= (or a scale): torch recomputes the indices in float32
# ------------------------------------------------------------------------------------

NEAREST_NON_ADJOINT = [  # (shape, kwargs, is torch's float32 backward non-adjoint too?)
    pytest.param((1, 2, 2), {"mode": "nearest-exact", "size": 41}, True, id="exact-2-to-41"),
    pytest.param((1, 2, 2), {"mode": "nearest", "size": 82}, False, id="nearest-2-to-82"),
    pytest.param((1, 1, 3, 904), {"mode": "nearest", "size": (5, 1524)}, False, id="nearest-2d"),
    pytest.param((1, 1, 2, 2, 3), {"mode": "nearest-exact", "size": (41, 3, 4)}, True,
                 id="exact-3d"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kw, float32_too", NEAREST_NON_ADJOINT)
def test_nearest_backward_is_adjoint_where_torch_is_not(shape, kw, float32_too, dtype, rng):
    torch_differs = dtype == np.float64 or float32_too
    assert ref.torch_backward_is_adjoint(shape, **kw, dtype=dtype) != torch_differs
    x = rng.standard_normal(shape).astype(dtype)
    y = ux.interpolate(x, **kw)
    np.testing.assert_array_equal(y, ref.torch_interpolate(x, **kw))  # the forwards agree
    g = rng.standard_normal(y.shape).astype(dtype)
    grad = ux.interpolate_backward(g, shape, **kw)
    # the transposed forward (the reference builds its matrix in the dtype of g)
    np.testing.assert_allclose(grad, ref.interpolate_backward(g, shape, **kw), rtol=1e-6,
                               atol=1e-6)
    theirs = ref.torch_grad(g, shape, **kw)
    if torch_differs:
        assert np.abs(grad - theirs).max() > 1e-2
    else:
        np.testing.assert_allclose(grad, theirs, rtol=1e-6, atol=1e-6)
