"""Beyond torch: antialias, cubic and lanczos in 1-D and 3-D, with their gradients.

torch 2.13 allows ``antialias=True`` only for 4-D bilinear/bicubic/lanczos and has no
cubic or lanczos for 3-D or 5-D input. upsamplex defines them per axis with the very
tables of torch's 2-D modes, so torch itself is the oracle, composed axis by axis:

* Oracle 1 (torch, separable): torch's 2-D ``F.interpolate`` on (H, W), then on the depth
  axis moved into H next to a kept W of size 2 (torch's float antialias path is wrong when
  the output width is 1 and the height changes, README "Differences from PyTorch" 3, so
  every torch call here keeps W >= 2 or its height unchanged). 1-D input is torch's 2-D
  with H = 1 kept.
* Oracle 2 (jax.image.resize, optional): where jax defines the same filter (``linear``,
  ``cubic``, ``lanczos3`` with antialias; ``cubic-pytorch`` without), in N-d at once; the
  definition differences are pinned by tests of their own.
* Gradients: the adjoint identity, central differences, the explicit transpose of the
  forward matrix, torch autograd through the composition, and bit equality across threads.
"""

import math

import numpy as np
import pytest
from _torch import F, torch
from hypothesis import given
from hypothesis import strategies as st

import _reference as ref
import upsamplex as ux
from upsamplex import _plan
from upsamplex._kernels import _resample, _tables

FLOATS = [np.float32, np.float64]
GENERIC = _tables.WALK_CODES["generic"]

# (upsamplex mode, antialias): the configurations torch has only for 4-D input
NEW_SPECS = [("linear-family", True), ("bicubic", False), ("bicubic", True), ("lanczos", True)]
ND_MODE = {1: "linear", 3: "trilinear"}
TORCH_2D = {"linear": "bilinear", "trilinear": "bilinear", "bicubic": "bicubic",
            "lanczos": "lanczos"}


def ux_mode(spec_mode, nd):
    return ND_MODE[nd] if spec_mode == "linear-family" else spec_mode


def spec_id(spec):
    mode, aa = spec
    return f"{'linear' if mode == 'linear-family' else mode}{'-aa' if aa else ''}"


def align_options(mode):
    return [None, False] if mode == "lanczos" else [None, False, True]


def spec_params(nds=(1, 3)):
    return [pytest.param(nd, spec, ac, id=f"{nd}d-{spec_id(spec)}-ac{ac}")
            for nd in nds for spec in NEW_SPECS for ac in align_options(spec[0])]


# ------------------------------------------------------------------------------------
# Oracle 1: torch's 2-D modes composed per axis (torch tensors, so autograd works too)
# ------------------------------------------------------------------------------------

def _per_axis(value, n):
    if value is None:
        return (None,) * n
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _call_kwargs(tmode, antialias, align_corners, size, scale, recompute):
    kw = {"mode": tmode, "antialias": antialias}
    if align_corners is not None:
        kw["align_corners"] = align_corners
    if size is not None:
        kw["size"] = size
    else:
        kw["scale_factor"] = scale
        kw["recompute_scale_factor"] = recompute
    return kw


def torch_axis(t, axis, tmode, antialias, align_corners, size, scale, recompute):
    """Resample one axis of tensor ``t`` with torch's 2-D mode: the axis goes to H,
    beside a W of size 2 (a copy of the data) that keeps its size."""
    moved = t.movedim(axis, -1)
    lead = moved.shape[:-1]
    flat = moved.reshape(-1, 1, moved.shape[-1], 1)
    flat = torch.cat([flat, flat], dim=3)
    kw = _call_kwargs(tmode, antialias, align_corners,
                      None if size is None else (size, 2),
                      None if scale is None else (scale, 1.0), recompute)
    out = F.interpolate(flat, **kw)[..., 0]
    return out.reshape(lead + (out.shape[-1],)).movedim(-1, axis)


def torch_hw(t, tmode, antialias, align_corners, size, scale, recompute):
    """torch's 2-D mode on the last two axes of ``t`` (any leading axes)."""
    lead = t.shape[:-2]
    x4 = t.reshape((-1, 1) + tuple(t.shape[-2:]))
    kw = _call_kwargs(tmode, antialias, align_corners, size, scale, recompute)
    out_hw = ref.output_size(t.shape[-2:], size, scale)
    if out_hw[1] == 1 and out_hw[0] != t.shape[-2]:
        # torch's width-1 quirk: compute on the transposed plane, where it is exact.
        kw = _call_kwargs(tmode, antialias, align_corners,
                          None if size is None else tuple(size)[::-1],
                          None if scale is None else tuple(scale)[::-1], recompute)
        out = F.interpolate(x4.transpose(2, 3), **kw).transpose(2, 3)
    else:
        out = F.interpolate(x4, **kw)
    return out.reshape(tuple(lead) + tuple(out.shape[-2:]))


def torch_separable(t, mode, antialias=False, size=None, scale_factor=None,
                    align_corners=None, recompute_scale_factor=None):
    """Oracle 1 on a torch tensor (N, C, W) or (N, C, D, H, W)."""
    n = t.ndim - 2
    tmode = TORCH_2D[mode]
    sizes, scales = _per_axis(size, n), _per_axis(scale_factor, n)
    if n == 1:
        # torch 2-D with H = 1 kept: the height does not change, so no width-1 quirk.
        x4 = t[:, :, None, :]
        kw = _call_kwargs(tmode, antialias, align_corners,
                          None if size is None else (1, sizes[0]),
                          None if scale_factor is None else (1.0, scales[0]),
                          recompute_scale_factor)
        return F.interpolate(x4, **kw)[:, :, 0, :]
    hw = torch_hw(t, tmode, antialias, align_corners,
                  None if size is None else sizes[1:], None if scale_factor is None else
                  scales[1:], recompute_scale_factor)
    return torch_axis(hw, 2, tmode, antialias, align_corners, sizes[0], scales[0],
                      recompute_scale_factor)


def oracle(x, **kw):
    t = torch.from_numpy(np.ascontiguousarray(x))
    return torch_separable(t, **kw).numpy()


def rel_err(got, expected):
    scale = max(float(np.abs(expected).max()), 1e-300)
    return float(np.abs(np.asarray(got, np.float64) - np.asarray(expected, np.float64)).max()
                 ) / scale


# ------------------------------------------------------------------------------------
# the sweep: up, down, non-integer, size-1 axes, size= and scale_factor=
# ------------------------------------------------------------------------------------

# (input spatial shape, {"size": ...} or {"scale_factor": ...})
GEOMETRY = {
    1: [((11,), {"size": 4}), ((3,), {"size": 8}), ((6,), {"size": 1}), ((1,), {"size": 5}),
        ((7,), {"size": 7}), ((20,), {"scale_factor": 0.45}), ((7,), {"scale_factor": 2.5}),
        ((5,), {"scale_factor": 1.1}), ((16,), {"scale_factor": 0.25}),
        ((13,), {"scale_factor": 1 / 3})],
    3: [((7, 9, 11), {"size": (3, 4, 5)}), ((3, 4, 5), {"size": (7, 9, 11)}),
        ((7, 5, 11), {"size": (3, 12, 11)}), ((6, 5, 7), {"size": (1, 2, 1)}),
        ((1, 4, 1), {"size": (3, 2, 5)}), ((5, 6, 1), {"size": (2, 1, 3)}),
        ((9, 10, 11), {"scale_factor": 0.45}), ((8, 6, 10), {"scale_factor": (0.3, 1.7, 2.5)}),
        ((5, 6, 7), {"scale_factor": (1.1, 0.5, 1.9)}), ((12, 16, 8), {"scale_factor": 0.25})],
}


def _check(x, what="", **kw):
    got = ux.interpolate(x, **kw)
    expected = oracle(x, **kw)
    assert got.dtype == x.dtype
    ref.assert_matches(got, expected, kw["mode"], what or str(kw))
    return got, expected


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd, spec, align_corners", spec_params())
def test_matches_torch_composition(nd, spec, align_corners, dtype, rng):
    mode = ux_mode(spec[0], nd)
    for in_spatial, resize in GEOMETRY[nd]:
        x = ref.make_input(rng, (2, 3) + in_spatial, dtype)
        for recompute in ([None, True] if "scale_factor" in resize else [None]):
            kw = dict(mode=mode, antialias=spec[1], align_corners=align_corners,
                      recompute_scale_factor=recompute, **resize)
            _check(x, f"{in_spatial} {kw}", **kw)


def _layouts(x):
    """The same values as contiguous, channels-last, strided and reversed views."""
    cl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    yield "channels_last", np.moveaxis(cl, -1, 1)
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
    wide[..., ::2] = x
    yield "every-2nd-W", wide[..., ::2]
    big = np.zeros((x.shape[0], 2 * x.shape[1]) + x.shape[2:], x.dtype)
    big[:, 1::2] = x[:, :, ::-1]
    yield "every-2nd-C-reversed", big[:, 1::2][:, :, ::-1]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd, spec, align_corners", spec_params())
def test_layouts_match_contiguous(nd, spec, align_corners, dtype, rng):
    mode = ux_mode(spec[0], nd)
    for in_spatial, resize in (GEOMETRY[nd][0], GEOMETRY[nd][1], GEOMETRY[nd][7]):
        x = ref.make_input(rng, (2, 3) + in_spatial, dtype)
        kw = dict(mode=mode, antialias=spec[1], align_corners=align_corners, **resize)
        base = ux.interpolate(x, **kw)
        ref.assert_matches(base, oracle(x, **kw), mode, str(kw))
        for name, view in _layouts(x):
            np.testing.assert_array_equal(view, x)
            got = ux.interpolate(view, **kw)
            # Same tables and pass order from the geometry alone: equal bits.
            np.testing.assert_array_equal(got, base, err_msg=f"{name} {kw}")
            if name == "channels_last":
                assert got.strides[1] == got.itemsize  # stays channels-last


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_1d_equals_torch_2d_with_resampled_axis_in_h(spec, dtype, rng):
    # A second torch composition for 1-D: the axis in H beside a kept W of 2.
    mode = ux_mode(spec[0], 1)
    for in_spatial, resize in GEOMETRY[1]:
        x = ref.make_input(rng, (2, 3) + in_spatial, dtype)
        kw = dict(mode=mode, antialias=spec[1], **resize)
        (size,), (scale,) = _per_axis(resize.get("size"), 1), _per_axis(
            resize.get("scale_factor"), 1)
        expected = torch_axis(torch.from_numpy(x), 2, TORCH_2D[mode], spec[1], None, size,
                              scale, None).numpy()
        ref.assert_matches(ux.interpolate(x, **kw), expected, mode, str(kw))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
@pytest.mark.parametrize("hw, resize", [((9, 13), {"size": (1, 4, 5)}),
                                        ((4, 5), {"size": (1, 9, 7)}),
                                        ((8, 7), {"size": (1, 3, 1)}),
                                        ((10, 12), {"scale_factor": (1.0, 0.4, 0.3)}),
                                        ((6, 6), {"scale_factor": (1.0, 2.5, 0.5)})])
def test_depth_one_equals_torch_2d(spec, hw, resize, dtype, rng):
    """A 3-D result on an input of depth 1 (D 1 -> 1) is torch's own 2-D result."""
    mode = ux_mode(spec[0], 3)
    x = ref.make_input(rng, (2, 3, 1) + hw, dtype)
    kw = dict(mode=mode, antialias=spec[1], **resize)
    kw2 = dict(mode=TORCH_2D[mode], antialias=spec[1],
               **{k: tuple(v)[1:] for k, v in resize.items()})
    # torch_interpolate routes around torch's own width-1 quirk (see module docstring).
    expected = ref.torch_interpolate(x[:, :, 0], **kw2)
    ref.assert_matches(ux.interpolate(x, **kw)[:, :, 0], expected, mode, str(kw))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_matches_numpy_matrix_reference(spec, dtype, rng):
    # A third, torch-free oracle: _reference's dense per-axis matrices (float64).
    mode = ux_mode(spec[0], 3)
    x = ref.make_input(rng, (2, 2, 7, 5, 9), dtype)
    for kw in ({"size": (3, 9, 4)}, {"scale_factor": (0.4, 1.5, 0.6)}):
        args = dict(mode=mode, antialias=spec[1], **kw)
        ref_mode = {"trilinear": "bilinear"}.get(mode, mode)
        mats = ref.axis_matrices(x.shape[2:], kw.get("size"), kw.get("scale_factor"),
                                 ref_mode, None, None, spec[1])
        expected = ref.apply_axes(x, mats)
        ref.assert_matches(ux.interpolate(x, **args), expected, mode, str(args))


# ------------------------------------------------------------------------------------
# hypothesis: random shapes and scales against Oracle 1
# ------------------------------------------------------------------------------------

@st.composite
def configs(draw):
    nd = draw(st.sampled_from([1, 3]))
    spec = draw(st.sampled_from(NEW_SPECS))
    mode = ux_mode(spec[0], nd)
    in_spatial = tuple(draw(st.integers(1, 12)) for _ in range(nd))
    kw = {"mode": mode, "antialias": spec[1]}
    if draw(st.booleans()):
        kw["size"] = tuple(draw(st.integers(1, 14)) for _ in range(nd))
    else:
        scales = []
        for n_in in in_spatial:
            s = draw(st.sampled_from([0.25, 1 / 3, 0.45, 0.5, 0.7, 1.0, 1.1, 1.5, 2.0, 2.5, 3.3]))
            scales.append(s if math.floor(n_in * s) >= 1 else 1.5)  # every output size >= 1
        kw["scale_factor"] = tuple(scales)
        kw["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
    ac = draw(st.sampled_from(align_options(spec[0])))
    if ac is not None:
        kw["align_corners"] = ac
    dtype = draw(st.sampled_from(FLOATS))
    return in_spatial, kw, dtype


@given(configs(), st.integers(0, 2**32 - 1))
def test_hypothesis_random_geometry_matches_torch_composition(config, seed):
    in_spatial, kw, dtype = config
    x = ref.make_input(np.random.default_rng(seed), (1, 2) + in_spatial, dtype)
    _check(x, f"{in_spatial} {kw}", **kw)


# ------------------------------------------------------------------------------------
# gradients
# ------------------------------------------------------------------------------------

GRAD_CASES = [
    (1, (2, 3, 11), {"size": 4}), (1, (2, 3, 5), {"scale_factor": 2.5}),
    (1, (1, 2, 1), {"size": 3}),
    (3, (1, 2, 7, 6, 9), {"size": (3, 9, 4)}), (3, (2, 1, 5, 6, 7), {"scale_factor": 0.45}),
    (3, (1, 2, 4, 3, 5), {"scale_factor": (2.0, 0.5, 1.7)}),
    (3, (1, 1, 1, 5, 6), {"size": (1, 2, 9)}),
]
GRAD_IDS = [f"{nd}d-{shape}-{next(iter(kw))}" for nd, shape, kw in GRAD_CASES]


def _grad_kw(nd, spec, resize, align_corners=None):
    return dict(mode=ux_mode(spec[0], nd), antialias=spec[1], align_corners=align_corners,
                **resize)


@pytest.mark.parametrize("case", GRAD_CASES, ids=GRAD_IDS)
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_adjoint_identity(spec, case, rng):
    nd, shape, resize = case
    for ac in align_options(spec[0]):
        kw = _grad_kw(nd, spec, resize, ac)
        x = rng.standard_normal(shape)
        y = ux.interpolate(x, **kw)
        g = rng.standard_normal(y.shape)
        gx = ux.interpolate_backward(g, x.shape, **kw)
        lhs, rhs = float(np.vdot(y, g)), float(np.vdot(x, gx))
        assert abs(lhs - rhs) <= 1e-12 * (np.abs(y).sum() * np.abs(g).max() + 1), kw
        # float32 follows the same tables: equal to float64 to float32 rounding.
        g32 = ux.interpolate_backward(g.astype(np.float32), x.shape, **kw)
        ref.assert_matches(g32, gx.astype(np.float32), kw["mode"], str(kw))


def _forward_matrix(shape, kw):
    n_in = int(np.prod(shape))
    cols = []
    for j in range(n_in):
        e = np.zeros(n_in)
        e[j] = 1
        cols.append(ux.interpolate(e.reshape(shape), **kw).ravel())
    return np.stack(cols, axis=1), cols[0].size


def _backward_matrix(shape, out_shape, kw):
    n_out = int(np.prod(out_shape))
    cols = []
    for j in range(n_out):
        e = np.zeros(n_out)
        e[j] = 1
        cols.append(ux.interpolate_backward(e.reshape(out_shape), shape, **kw).ravel())
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("case", [c for c in GRAD_CASES if np.prod(c[1]) <= 200],
                         ids=[i for c, i in zip(GRAD_CASES, GRAD_IDS) if np.prod(c[1]) <= 200])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_backward_is_the_transpose_of_the_forward_matrix(spec, case):
    nd, shape, resize = case
    for ac in align_options(spec[0]):
        kw = _grad_kw(nd, spec, resize, ac)
        a, _ = _forward_matrix(shape, kw)
        out_shape = ux.interpolate(np.zeros(shape), **kw).shape
        b = _backward_matrix(shape, out_shape, kw)
        assert b.shape == a.T.shape
        assert np.abs(b - a.T).max() <= 1e-14 * np.abs(a).max(), kw


@pytest.mark.parametrize("case", GRAD_CASES, ids=GRAD_IDS)
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_central_differences(spec, case, rng):
    nd, shape, resize = case
    kw = _grad_kw(nd, spec, resize)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(ux.interpolate(x, **kw).shape)
    gx = ux.interpolate_backward(g, x.shape, **kw)
    h = 1e-4
    flat = x.ravel()
    for j in rng.choice(flat.size, size=min(12, flat.size), replace=False):
        xp, xm = flat.copy(), flat.copy()
        xp[j] += h
        xm[j] -= h
        fd = (np.vdot(ux.interpolate(xp.reshape(shape), **kw), g)
              - np.vdot(ux.interpolate(xm.reshape(shape), **kw), g)) / (2 * h)
        assert abs(fd - gx.ravel()[j]) <= 1e-8 * (1 + abs(fd)), (kw, j)


@pytest.mark.parametrize("case", GRAD_CASES, ids=GRAD_IDS)
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_backward_matches_torch_autograd_through_composition(spec, case, rng):
    # torch autograd through Oracle 1 is the transpose of torch's own per-axis matrices,
    # where torch's backward is the adjoint of its forward (README Differences item 4).
    nd, shape, resize = case
    kw = _grad_kw(nd, spec, resize)
    scales = _per_axis(resize.get("scale_factor"), nd)
    out = ref.output_size(shape[2:], resize.get("size"), resize.get("scale_factor"))
    if any(s is not None and o == i and s != 1 for i, o, s in zip(shape[2:], out, scales)):
        pytest.skip("torch's backward is not its forward's adjoint here (an axis keeps "
                    "its size with a scale != 1)")
    x = rng.standard_normal(shape)
    g = rng.standard_normal(ux.interpolate(x, **kw).shape)
    t = torch.from_numpy(x).requires_grad_(True)
    torch_separable(t, **kw).backward(torch.from_numpy(g))
    ref.assert_matches(ux.interpolate_backward(g, shape, **kw), t.grad.numpy(), kw["mode"],
                       str(kw))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd, shape, resize", [
    (3, (2, 4, 40, 40, 40), {"scale_factor": 0.5}),
    (3, (1, 2, 12, 14, 16), {"size": (27, 31, 35)}),
    (1, (4, 8, 6000), {"scale_factor": 0.4}),
], ids=["3d-down", "3d-up", "1d-down"])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_bits_do_not_depend_on_thread_count(spec, nd, shape, resize, dtype, rng):
    kw = _grad_kw(nd, spec, resize)
    x = rng.standard_normal(shape).astype(dtype)
    y1 = ux.interpolate(x, num_threads=1, **kw)
    y2 = ux.interpolate(x, num_threads=2, **kw)
    g = rng.standard_normal(y1.shape).astype(dtype)
    b1 = ux.interpolate_backward(g, shape, num_threads=1, **kw)
    b2 = ux.interpolate_backward(g, shape, num_threads=2, **kw)
    # Both calls are big enough for the threaded path (_plan._SERIAL_BELOW).
    assert max(y1.size, x.size) >= _plan._SERIAL_BELOW
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(b1, b2)


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_backward_layouts_and_out_give_the_same_bits(spec, nd, rng):
    shape = (2, 3, 9, 7, 8) if nd == 3 else (2, 3, 17)
    kw = _grad_kw(nd, spec, {"scale_factor": 0.6 if nd == 1 else (0.6, 1.5, 0.4)})
    g = rng.standard_normal((2, 3) + ref.output_size(shape[2:], None, kw["scale_factor"]))
    base = ux.interpolate_backward(g, shape, **kw)
    g_cl = np.moveaxis(np.ascontiguousarray(np.moveaxis(g, 1, -1)), -1, 1)
    got = ux.interpolate_backward(g_cl, shape, **kw)
    np.testing.assert_array_equal(got, base)
    assert got.strides[1] == got.itemsize  # channels-last in, channels-last out
    out = np.full(shape, np.nan)
    assert ux.interpolate_backward(g, shape, out=out, **kw) is out
    np.testing.assert_array_equal(out, base)


# ------------------------------------------------------------------------------------
# windows: any output window from the matching slices of the tables (chunked callers)
# ------------------------------------------------------------------------------------

def _window_table(table, o0, o1):
    idx, w, cnt = table[:3]
    rows = slice(o0, o1)
    taps = idx[rows][np.arange(idx.shape[1])[None, :] < cnt[rows][:, None]]
    lo, hi = int(taps.min()), int(taps.max()) + 1
    return (np.ascontiguousarray(idx[rows] - lo), np.ascontiguousarray(w[rows]),
            np.ascontiguousarray(cnt[rows])), lo, hi


def _kernel(path, x5, tables, sizes_in, out_shape):
    y = np.empty(out_shape, x5.dtype)
    if path == "resample":
        _resample.resample(x5, y, [t[:3] for t in tables], sizes_in, [GENERIC] * 3, False, 1)
    else:
        td, th, tw = tables
        _resample.resample_hfirst(x5, y, td[:3], th[:3], tw[:3], *sizes_in, GENERIC, 4, False,
                                  1)
    return y


WINDOW_CASES = [((13, 11, 17), {"size": (5, 20, 7)}, ((1, 4), (6, 15), (2, 6))),
                ((16, 12, 20), {"scale_factor": 0.25}, ((1, 3), (0, 2), (2, 5))),
                ((9, 10, 11), {"scale_factor": (0.45, 2.5, 1.1)}, ((0, 2), (7, 19), (3, 9)))]


@pytest.mark.parametrize("path", ["resample", "hfirst"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", WINDOW_CASES, ids=["size", "quarter", "mixed-scales"])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_any_3d_output_window_from_table_slices(spec, case, dtype, path, rng):
    in_spatial, resize, window = case
    mode = ux_mode(spec[0], 3)
    x = rng.standard_normal((2, 3) + in_spatial).astype(dtype)
    p = ux.plan(x.shape, x.dtype, mode=mode, antialias=spec[1], **resize)
    tables = p._forward_pass().tables
    full = _kernel(path, x, tables, in_spatial, p.out_shape)
    if path == ("hfirst" if p._forward_pass().hfirst else "resample"):
        # The plain table walk is what the public call computes, bit for bit.
        np.testing.assert_array_equal(full, ux.interpolate(x, **resize, mode=mode,
                                                           antialias=spec[1]))
    subs, slab = [], []
    for table, (o0, o1) in zip(tables, window):
        sub, lo, hi = _window_table(table, o0, o1)
        subs.append(sub)
        slab.append(slice(lo, hi))
    xs = np.ascontiguousarray(x[(Ellipsis,) + tuple(slab)])
    part = _kernel(path, xs, subs, xs.shape[2:],
                   x.shape[:2] + tuple(o1 - o0 for o0, o1 in window))
    np.testing.assert_array_equal(
        part, full[(Ellipsis,) + tuple(slice(o0, o1) for o0, o1 in window)])


# input windows for the gradient (within each case's input shape)
GRAD_WINDOWS = [((2, 9), (3, 8), (5, 12)), ((4, 11), (0, 5), (7, 20)), ((1, 5), (2, 4), (0, 6))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case, window", list(zip(WINDOW_CASES, GRAD_WINDOWS)),
                         ids=["size", "quarter", "mixed-scales"])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_any_3d_gradient_window_from_adjoint_table_slices(spec, case, window, dtype, rng):
    # The backward walks the transposed tables with the same kernels: a window of the
    # input gradient comes from the matching slab of grad_output, bit for bit.
    in_spatial, resize, _ = case
    mode = ux_mode(spec[0], 3)
    p = ux.plan((2, 3) + in_spatial, dtype, mode=mode, antialias=spec[1], **resize)
    g = rng.standard_normal(p.out_shape).astype(dtype)
    tables = p._backward_pass().tables
    full = _kernel("resample", g, tables, p.out_shape[2:], p.in_shape)
    kw = dict(mode=mode, antialias=spec[1], **resize)
    ref.assert_matches(full, ux.interpolate_backward(g, (2, 3) + in_spatial, **kw), mode)
    subs, slab = [], []
    for table, (i0, i1) in zip(tables, window):
        sub, lo, hi = _window_table(table, i0, i1)
        subs.append(sub)
        slab.append(slice(lo, hi))
    gs = np.ascontiguousarray(g[(Ellipsis,) + tuple(slab)])
    part = _kernel("resample", gs, subs, gs.shape[2:],
                   (2, 3) + tuple(i1 - i0 for i0, i1 in window))
    np.testing.assert_array_equal(
        part, full[(Ellipsis,) + tuple(slice(i0, i1) for i0, i1 in window)])


def test_both_pass_orders_match_the_oracle(rng):
    # interpolate picks the W-first or the rows-first kernel from the tables; on the
    # new modes both must agree with the oracle (their sums are ordered differently).
    x = rng.standard_normal((1, 2, 9, 30, 40))
    for kw in ({"size": (4, 60, 80)}, {"size": (4, 10, 12)}):
        for spec in NEW_SPECS:
            mode = ux_mode(spec[0], 3)
            p = ux.plan(x.shape, x.dtype, mode=mode, antialias=spec[1], **kw)
            tables = p._forward_pass().tables
            a = _kernel("resample", x, tables, x.shape[2:], p.out_shape)
            b = _kernel("hfirst", x, tables, x.shape[2:], p.out_shape)
            expected = oracle(x, mode=mode, antialias=spec[1], **kw)
            ref.assert_matches(a, expected, mode)
            ref.assert_matches(b, expected, mode)


# ------------------------------------------------------------------------------------
# what is still undefined: clear errors
# ------------------------------------------------------------------------------------

X3 = np.zeros((1, 2, 8), np.float32)
X5 = np.zeros((1, 2, 4, 4, 4), np.float32)


@pytest.mark.parametrize("x, kw, exc, match", [
    (X3, {"mode": "lanczos"}, ValueError, r"lanczos.*requires antialias=True"),
    (X5, {"mode": "lanczos"}, ValueError, r"lanczos.*requires antialias=True"),
    (X5, {"mode": "lanczos", "antialias": True, "align_corners": True}, ValueError,
     r"lanczos.*does not support align_corners=True"),
    (X3, {"mode": "lanczos", "antialias": True, "align_corners": True}, ValueError,
     r"align_corners"),
    (X5, {"mode": "area", "antialias": True}, ValueError, r"antialias=True is only supported"),
    (X3, {"mode": "nearest", "antialias": True}, ValueError, r"antialias.*got mode='nearest'"),
    (X5, {"mode": "nearest-exact", "antialias": True}, ValueError, r"antialias"),
    (X5, {"mode": "bilinear", "antialias": True}, ValueError, r"bilinear.*needs 4-D.*got 5-D"),
    (X3, {"mode": "trilinear", "antialias": True}, ValueError, r"trilinear.*needs 5-D"),
    (X5, {"mode": "linear", "antialias": True}, ValueError, r"linear.*needs 3-D.*got 5-D"),
    (X5, {"mode": "bicubic", "antialias": 1}, TypeError, r"antialias must be a bool"),
    (X3.astype(np.int32), {"mode": "bicubic"}, TypeError, r"int32 is not supported.*float16"),
    (X5.astype(np.complex64), {"mode": "lanczos", "antialias": True}, TypeError,
     r"complex64 is not supported"),
])
def test_still_undefined_is_a_clear_error(x, kw, exc, match):
    with pytest.raises(exc, match=match) as info:
        ux.interpolate(x, size=3, **kw)
    assert not isinstance(info.value, RuntimeError)
    if x.dtype.kind == "f":
        # The gradient validates through the same plan and names its own argument.
        with pytest.raises(exc, match=match):
            ux.interpolate_backward(np.zeros(x.shape[:2] + (3,) * (x.ndim - 2), x.dtype),
                                    x.shape, size=3, **kw)


@pytest.mark.parametrize("x", [X3, X5], ids=["3d", "5d"])
def test_integer_gradient_is_a_clear_error(x):
    with pytest.raises(TypeError, match="dtype"):
        ux.interpolate_backward(np.zeros(x.shape[:2] + (3,) * (x.ndim - 2), np.uint8),
                                x.shape, size=3, mode="bicubic")


# ------------------------------------------------------------------------------------
# other dtypes ride on the same tables: uint8 1-D (torch's fixed point), uint8/uint16
# 3-D and float16 (computed in float32, rounded once)
# ------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_uint8_1d_equals_torch_uint8_2d_with_h_kept(spec, rng):
    mode = ux_mode(spec[0], 1)
    for in_spatial, resize in GEOMETRY[1]:
        x = ref.make_input(rng, (2, 3) + in_spatial, np.uint8, TORCH_2D[mode])
        kw2 = {k: ((1, v) if k == "size" else (1.0, v)) for k, v in resize.items()}
        expected = ref.torch_interpolate(x[:, :, None], mode=TORCH_2D[mode],
                                         antialias=spec[1], **kw2)[:, :, 0]
        got = ux.interpolate(x, mode=mode, antialias=spec[1], **resize)
        assert got.dtype == np.uint8
        ref.assert_matches(got, expected, TORCH_2D[mode], f"{in_spatial} {resize}")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_integer_3d_is_the_float_result_rounded_once(spec, dtype, rng):
    mode = ux_mode(spec[0], 3)
    top = np.iinfo(dtype).max
    for in_spatial, resize in GEOMETRY[3][:4] + GEOMETRY[3][6:8]:
        x = rng.integers(0, top + 1, (1, 2) + in_spatial).astype(dtype)
        kw = dict(mode=mode, antialias=spec[1], **resize)
        got = ux.interpolate(x, **kw)
        assert got.dtype == dtype
        expected = np.clip(np.rint(oracle(x.astype(np.float64), **kw)), 0, top)
        # float32 arithmetic, one rounding: at most one unit from the float64 answer.
        assert np.abs(got.astype(np.int64) - expected).max() <= 1, kw
        same = ux.interpolate(x.astype(np.float32), **kw)
        np.testing.assert_array_equal(got, np.clip(np.rint(same), 0, top).astype(dtype))


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_float16_is_the_float32_result_rounded_once(spec, nd, rng):
    mode = ux_mode(spec[0], nd)
    for in_spatial, resize in GEOMETRY[nd][:3]:
        x = rng.standard_normal((2, 3) + in_spatial).astype(np.float16)
        kw = dict(mode=mode, antialias=spec[1], **resize)
        got = ux.interpolate(x, **kw)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(
            got, ux.interpolate(x.astype(np.float32), **kw).astype(np.float16))


# ------------------------------------------------------------------------------------
# the plan API: any window from its input slab, forward and backward, bit for bit
# ------------------------------------------------------------------------------------

PLAN_WINDOWS = {
    3: [((13, 11, 17), {"size": (5, 20, 7)}, (1, 4), (6, 15), (2, 6)),
        ((16, 12, 20), {"scale_factor": 0.25}, (1, 3), (0, 2), (2, 5)),
        ((9, 10, 11), {"scale_factor": (0.45, 2.5, 1.1)}, (0, 2), (7, 19), (3, 9))],
    1: [((40,), {"scale_factor": 0.3}, (3, 9)), ((9,), {"size": 31}, (0, 13)),
        ((25,), {"size": 25}, (4, 20))],
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("spec", NEW_SPECS, ids=spec_id)
def test_plan_windows_equal_the_global_result(spec, nd, dtype, rng):
    mode = ux_mode(spec[0], nd)
    for in_spatial, resize, *spatial_window in PLAN_WINDOWS[nd]:
        x = rng.standard_normal((2, 3) + in_spatial).astype(dtype)
        kw = dict(mode=mode, antialias=spec[1], **resize)
        p = ux.plan(x.shape, x.dtype, **kw)
        full = p(x)
        np.testing.assert_array_equal(full, ux.interpolate(x, **kw))
        ref.assert_matches(full, oracle(x, **kw), mode, str(kw))
        w = (slice(1, 2), slice(0, 3)) + tuple(slice(a, b) for a, b in spatial_window)
        np.testing.assert_array_equal(p(x[p.input_window(w)], out_window=w), full[w])
        g = rng.standard_normal(full.shape).astype(dtype)
        grad = p.backward(g)
        np.testing.assert_array_equal(grad, ux.interpolate_backward(g, x.shape, **kw))
        # an input window of the same extents, clipped to the input
        iw = (slice(0, 1), slice(1, 3)) + tuple(
            slice(min(a, n - 1), min(b, n)) for (a, b), n in zip(spatial_window, in_spatial))
        np.testing.assert_array_equal(p.backward(g[p.grad_window(iw)], in_window=iw),
                                      grad[iw])


# ------------------------------------------------------------------------------------
# Oracle 2: jax.image.resize (optional; ``pip install jax``)
# ------------------------------------------------------------------------------------

@pytest.fixture
def jax_x64():
    jax = pytest.importorskip("jax")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", previous)


def jax_resize(jax, x, out_spatial, method, antialias):
    shape = x.shape[:2] + tuple(out_spatial)
    return np.asarray(jax.image.resize(jax.numpy.asarray(x), shape, method=method,
                                       antialias=antialias))


# (upsamplex spec, jax method, jax antialias): the same filter by definition
JAX_SAME = [(("linear-family", True), "linear", True), (("bicubic", True), "cubic", True),
            (("lanczos", True), "lanczos3", True), (("bicubic", False), "cubic-pytorch", False)]
# jax compiles every new shape (~1 s here), so the default run checks one down, one up
# and one mixed N-d case per filter in float64; the rest are marked slow.
JAX_FAST = [(np.float64, (11,), (4,)), (np.float64, (5,), (13,)),
            (np.float64, (7, 5, 11), (3, 12, 6))]
JAX_SLOW = [(np.float32, (11,), (4,)), (np.float32, (7, 5, 11), (3, 12, 6))] + [
    (dtype, i, o) for dtype in FLOATS for i, o in
    [((3,), (8,)), ((7,), (3,)), ((16,), (4,)), ((7, 9, 11), (3, 4, 5)),
     ((3, 4, 5), (7, 9, 11)), ((12, 16, 8), (3, 4, 2)), ((6, 5, 7), (2, 2, 14))]]
JAX_CASES = ([pytest.param(*c, id=f"{c[0].__name__}-{c[1]}-{c[2]}") for c in JAX_FAST]
             + [pytest.param(*c, id=f"{c[0].__name__}-{c[1]}-{c[2]}", marks=pytest.mark.slow)
                for c in JAX_SLOW])


def _min_lanczos_offset(n_in, n_out):
    """Smallest nonzero |sample - tap| / kernel_scale over one axis (jax's cutoff variable)."""
    inv = n_in / n_out
    scale = max(inv, 1.0)
    sample = (np.arange(n_out) + 0.5) * inv - 0.5
    d = np.abs(sample[:, None] - np.arange(n_in)[None, :]) / scale
    d = d[d > 1e-12]
    return float(d.min()) if d.size else np.inf


@pytest.mark.parametrize("dtype, in_spatial, out_spatial", JAX_CASES)
@pytest.mark.parametrize("spec, method, jax_aa", JAX_SAME,
                         ids=[f"{spec_id(s)}-vs-{m}" for s, m, _ in JAX_SAME])
def test_matches_jax_image_resize(jax_x64, spec, method, jax_aa, dtype, in_spatial,
                                  out_spatial, rng):
    mode = ux_mode(spec[0], len(in_spatial))
    if method == "lanczos3" and min(_min_lanczos_offset(i, o) for i, o in
                                    zip(in_spatial, out_spatial)) < 1e-3:
        pytest.skip("jax's Lanczos kernel is 1 there (test_jax_lanczos_differs_near_taps)")
    x = ref.make_input(rng, (2, 3) + in_spatial, dtype)
    got = ux.interpolate(x, size=out_spatial, mode=mode, antialias=spec[1])
    expected = jax_resize(jax_x64, x, out_spatial, method, jax_aa)
    assert expected.dtype == dtype
    ref.assert_matches(got, expected, mode, f"{in_spatial}->{out_spatial} {method}")


@pytest.mark.parametrize("in_spatial, out_spatial", [((11,), (4,)), ((7, 5, 11), (3, 12, 6))])
def test_jax_linear_without_antialias_is_torch_linear(jax_x64, in_spatial, out_spatial, rng):
    # Not new to upsamplex, but it shows jax's antialias=False is plain interpolation
    # (two taps, clamped at the borders) when downsampling.
    mode = ND_MODE[len(in_spatial)]
    x = rng.standard_normal((2, 3) + in_spatial)
    got = ux.interpolate(x, size=out_spatial, mode=mode)
    ref.assert_matches(got, jax_resize(jax_x64, x, out_spatial, "linear", False), mode)


def test_jax_cubic_is_not_torch_bicubic_without_antialias(jax_x64, rng):
    # Definition difference: jax "cubic" is Keys A = -0.5 and drops (renormalises)
    # out-of-range taps; torch's bicubic is A = -0.75 with clamped (replicated) taps.
    # jax's "cubic-pytorch" is the torch one (test_matches_jax_image_resize).
    x = rng.standard_normal((1, 1, 9, 10, 11))
    got = ux.interpolate(x, size=(13, 17, 19), mode="bicubic")
    assert rel_err(got, jax_resize(jax_x64, x, (13, 17, 19), "cubic", False)) > 1e-2
    # With antialias both are A = -0.5 renormalised, upsampling included.
    got_aa = ux.interpolate(x, size=(13, 17, 19), mode="bicubic", antialias=True)
    ref.assert_matches(got_aa, jax_resize(jax_x64, x, (13, 17, 19), "cubic", False), "bicubic")


def test_jax_lanczos_differs_near_taps(jax_x64, rng):
    # Definition difference: jax's Lanczos kernel returns exactly 1 for |x| <= 1e-3
    # instead of sinc(x) sinc(x / 3) (1 - 1.8e-6 at 1e-3). Where a sample falls that close
    # to an input tap (x measured in filter units), jax differs by up to ~1e-6 relative.
    n_in, n_out = 3001, 1000   # output 2 samples 0.0025 px (8.3e-4 filter units) from a tap
    assert _min_lanczos_offset(n_in, n_out) < 1e-3
    x = rng.standard_normal((1, 1, n_in))
    got = ux.interpolate(x, size=n_out, mode="lanczos", antialias=True)
    err = rel_err(got, jax_resize(jax_x64, x, (n_out,), "lanczos3", True))
    assert 1e-8 < err < 1e-5
    ref.assert_matches(got, oracle(x, mode="lanczos", antialias=True, size=n_out), "lanczos")
