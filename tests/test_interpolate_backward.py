"""``ux.interpolate_backward``: the exact gradient (adjoint) of ``ux.interpolate``.

Oracles: the adjoint identity <A x, g> = <x, A^T g> in float64, central finite
differences, the transposed float64 reference matrices, and torch autograd outside
the three configurations where torch's backward is not its forward's adjoint
(those are pinned in test_differences.py).
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import _reference as ref
import upsamplex as ux

IN_SPATIAL = {1: (7,), 2: (5, 7), 3: (3, 5, 4)}
RESIZES = {
    1: [{"size": (11,)}, {"size": (3,)}, {"size": (1,)}, {"size": (7,)}, {"scale_factor": 1.7},
        {"scale_factor": 0.6}, {"scale_factor": 2.3, "recompute_scale_factor": True},
        {"scale_factor": 1 / 3}, {"scale_factor": 2.0}, {"scale_factor": 1.1}],
    2: [{"size": (9, 13)}, {"size": (3, 4)}, {"size": (1, 1)}, {"size": (5, 3)},
        {"scale_factor": 1.7}, {"scale_factor": 0.6}, {"scale_factor": (2.3, 0.5)},
        {"scale_factor": 3.0, "recompute_scale_factor": True}, {"scale_factor": (1.1, 2.0)},
        {"scale_factor": (0.9, 1.3)}],
    3: [{"size": (5, 9, 7)}, {"size": (2, 3, 2)}, {"size": (1, 1, 1)},
        {"scale_factor": (1.7, 0.6, 2.3)}, {"scale_factor": 0.5},
        {"scale_factor": 1.5, "recompute_scale_factor": True}, {"scale_factor": (1.0, 2.0, 1.1)}],
}


def _resize_id(resize):
    return "-".join(f"{k[:5]}{v}" for k, v in resize.items())


def _adjoint_gap(x, g, kw):
    """|<A x, g> - <x, A^T g>| relative to |A x| |g| + |x| |A^T g|."""
    ax = ux.interpolate(x, **kw)
    atg = ux.interpolate_backward(g, x.shape, **kw)
    lhs = float(np.vdot(ax, g))
    rhs = float(np.vdot(x, atg))
    scale = np.linalg.norm(ax) * np.linalg.norm(g) + np.linalg.norm(x) * np.linalg.norm(atg)
    return abs(lhs - rhs) / max(scale, 1e-300)


@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_adjoint_identity(spec, align_corners, rng):
    nd = spec[2]
    mode_kw = ref.mode_kwargs(spec, align_corners)
    x = rng.standard_normal((2, 3) + IN_SPATIAL[nd])
    for resize in RESIZES[nd]:
        kw = {**mode_kw, **resize}
        out = ref.output_size(x.shape[2:], resize.get("size"), resize.get("scale_factor"))
        g = rng.standard_normal((2, 3) + out)
        assert _adjoint_gap(x, g, kw) < 1e-12, kw


@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_backward_is_transposed_forward_matrix(spec, align_corners):
    """Build the forward matrix column by column from unit inputs; the backward of unit
    grad_outputs must give its transpose exactly (up to float64 rounding)."""
    nd = spec[2]
    in_spatial = {1: (5,), 2: (3, 4), 3: (2, 3, 2)}[nd]
    n_in = int(np.prod(in_spatial))
    for resize in ({"size": {1: (7,), 2: (5, 3), 3: (3, 2, 4)}[nd]}, {"scale_factor": 1.7},
                   {"scale_factor": 2.0}):
        kw = {**ref.mode_kwargs(spec, align_corners), **resize}
        eye_in = np.eye(n_in).reshape((n_in, 1) + in_spatial)
        fwd = ux.interpolate(eye_in, **kw)  # (n_in, 1, *out)
        out = fwd.shape[2:]
        n_out = int(np.prod(out))
        A = fwd.reshape(n_in, n_out).T
        eye_out = np.eye(n_out).reshape((n_out, 1) + out)
        AT = ux.interpolate_backward(eye_out, (n_out, 1) + in_spatial, **kw).reshape(n_out, n_in)
        np.testing.assert_allclose(AT, A, rtol=0, atol=1e-14, err_msg=str(kw))


@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_central_finite_differences(spec, align_corners, rng):
    """d/dx_j <interpolate(x), g> by central differences, float64, small shapes."""
    nd = spec[2]
    in_spatial = {1: (5,), 2: (3, 4), 3: (2, 3, 2)}[nd]
    x = rng.standard_normal((1, 2) + in_spatial)
    for resize in ({"scale_factor": 1.7}, {"size": {1: (3,), 2: (2, 5), 3: (3, 1, 3)}[nd]}):
        kw = {**ref.mode_kwargs(spec, align_corners), **resize}
        out = ref.output_size(in_spatial, resize.get("size"), resize.get("scale_factor"))
        g = rng.standard_normal((1, 2) + out)
        grad = ux.interpolate_backward(g, x.shape, **kw)
        h = 1e-4
        fd = np.empty_like(x)
        for j in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            fd[j] = (np.vdot(ux.interpolate(xp, **kw), g) - np.vdot(ux.interpolate(xm, **kw), g)) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9, err_msg=str(kw))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_matches_torch_autograd(spec, align_corners, dtype, rng):
    nd = spec[2]
    mode_kw = ref.mode_kwargs(spec, align_corners)
    shape = (2, 3) + IN_SPATIAL[nd]
    checked = 0
    for resize in RESIZES[nd]:
        kw = {**mode_kw, **resize}
        if not ref.torch_backward_is_adjoint(shape, **kw, dtype=dtype):
            continue  # documented torch difference, see test_differences.py
        out = ref.output_size(shape[2:], resize.get("size"), resize.get("scale_factor"))
        g = rng.standard_normal((2, 3) + out).astype(dtype)
        got = ux.interpolate_backward(g, shape, **kw)
        assert got.dtype == dtype and got.shape == shape
        ref.assert_matches(got, ref.torch_grad(g, shape, **kw), kw["mode"], str(kw))
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("spec, align_corners", ref.spec_with_align_corners())
def test_matches_numpy_reference(spec, align_corners, rng):
    nd = spec[2]
    shape = (1, 2) + IN_SPATIAL[nd]
    for resize in RESIZES[nd]:
        kw = {**ref.mode_kwargs(spec, align_corners), **resize}
        out = ref.output_size(shape[2:], resize.get("size"), resize.get("scale_factor"))
        g = rng.standard_normal((1, 2) + out)
        ref.assert_matches(ux.interpolate_backward(g, shape, **kw),
                           ref.interpolate_backward(g, shape, **kw), kw["mode"], str(kw))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
def test_torch_autograd_larger_planes(mode, rng):
    """Larger 2-D planes (torch's generic paths, many threads' worth of work)."""
    shape = (2, 3, 37, 45)
    for resize in ({"size": (80, 29)}, {"scale_factor": 0.45}, {"scale_factor": (2.5, 1.5)}):
        kw = {"mode": mode, **resize}
        out = ref.output_size(shape[2:], resize.get("size"), resize.get("scale_factor"))
        g = rng.standard_normal((2, 3) + out).astype(np.float32)
        ref.assert_matches(ux.interpolate_backward(g, shape, **kw), ref.torch_grad(g, shape, **kw),
                           mode, str(kw))


# ------------------------------------------------------------------------------------
# API details: layouts, out=, empty batch, input_shape forms, threads
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_strided_grad_output(spec, rng):
    nd = spec[2]
    shape = (2, 4) + IN_SPATIAL[nd]
    kw = {**ref.mode_kwargs(spec), "scale_factor": 1.7}
    out = ref.output_size(shape[2:], scale_factor=1.7)
    g = rng.standard_normal((2, 4) + out)
    expected = ux.interpolate_backward(g, shape, **kw)
    variants = {
        "channels_last": np.moveaxis(np.moveaxis(g, 1, -1).copy(), -1, 1),
        "negative": np.ascontiguousarray(g[..., ::-1])[..., ::-1],
        "sliced": np.repeat(g, 2, axis=-1)[..., ::2],
        "fortran": np.asfortranarray(g),
    }
    for name, gv in variants.items():
        np.testing.assert_array_equal(ux.interpolate_backward(gv, shape, **kw), expected, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_out_argument(spec, dtype, rng):
    nd = spec[2]
    shape = (2, 3) + IN_SPATIAL[nd]
    kw = {**ref.mode_kwargs(spec), "size": {1: (11,), 2: (3, 9), 3: (5, 2, 6)}[nd]}
    g = rng.standard_normal((2, 3) + kw["size"]).astype(dtype)
    expected = ux.interpolate_backward(g, shape, **kw)
    out = np.full(shape, 7, dtype)
    assert ux.interpolate_backward(g, shape, **kw, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_empty_batch(spec):
    nd = spec[2]
    shape = (0, 3) + IN_SPATIAL[nd]
    kw = {**ref.mode_kwargs(spec), "scale_factor": 2.0}
    g = np.zeros((0, 3) + tuple(2 * i for i in IN_SPATIAL[nd]), np.float32)
    got = ux.interpolate_backward(g, shape, **kw)
    assert got.shape == shape and got.dtype == np.float32


def test_input_shape_forms(rng):
    g = rng.standard_normal((1, 2, 8, 10))
    expected = ux.interpolate_backward(g, (1, 2, 4, 5), scale_factor=2, mode="bilinear")
    for shape in ([1, 2, 4, 5], np.array([1, 2, 4, 5]), (np.int64(1), 2, 4, np.int32(5))):
        got = ux.interpolate_backward(g, shape, scale_factor=2, mode="bilinear")
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_num_threads_bit_identical(spec, dtype, rng):
    nd = spec[2]
    shape = {1: (3, 4, 301), 2: (2, 3, 41, 37), 3: (2, 3, 9, 11, 13)}[nd]
    for s in (1.7, 0.6):
        kw = {**ref.mode_kwargs(spec), "scale_factor": s}
        out = ref.output_size(shape[2:], scale_factor=s)
        g = rng.standard_normal(shape[:2] + out).astype(dtype)
        one = ux.interpolate_backward(g, shape, **kw, num_threads=1)
        two = ux.interpolate_backward(g, shape, **kw, num_threads=2)
        np.testing.assert_array_equal(one, two)
        np.testing.assert_array_equal(one, ux.interpolate_backward(g, shape, **kw))


# ------------------------------------------------------------------------------------
# hypothesis
# ------------------------------------------------------------------------------------


@st.composite
def configs(draw):
    spec = draw(st.sampled_from(ref.MODE_SPECS))
    mode, antialias, nd = spec
    align_corners = draw(st.sampled_from(ref.align_corners_options(mode, antialias)))
    in_spatial = tuple(draw(st.lists(st.integers(1, 8), min_size=nd, max_size=nd)))
    kw = ref.mode_kwargs(spec, align_corners)
    if draw(st.booleans()):
        kw["size"] = tuple(draw(st.lists(st.integers(1, 12), min_size=nd, max_size=nd)))
    else:
        values = st.sampled_from([1 / 3, 0.5, 0.6, 0.75, 1.0, 1.1, 1.5, 1.7, 2.0, 2.3, 3.0])
        scales = tuple(draw(st.lists(values, min_size=nd, max_size=nd)))
        kw["scale_factor"] = tuple(s if int(i * s) >= 1 else 1.0 for i, s in zip(in_spatial, scales))
        kw["recompute_scale_factor"] = draw(st.sampled_from([None, False, True]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + in_spatial
    return shape, kw, draw(st.integers(0, 2**32 - 1))


@given(configs())
def test_hypothesis_adjoint_identity(config):
    shape, kw, seed = config
    rng = np.random.default_rng(seed)
    out = ref.output_size(shape[2:], kw.get("size"), kw.get("scale_factor"))
    x = rng.standard_normal(shape)
    g = rng.standard_normal(shape[:2] + out)
    assert _adjoint_gap(x, g, kw) < 1e-12


@given(configs(), st.sampled_from([np.float32, np.float64]))
def test_hypothesis_matches_torch_autograd(config, dtype):
    shape, kw, seed = config
    assume(ref.torch_backward_is_adjoint(shape, **kw, dtype=dtype))
    out = ref.output_size(shape[2:], kw.get("size"), kw.get("scale_factor"))
    g = np.random.default_rng(seed).standard_normal(shape[:2] + out).astype(dtype)
    ref.assert_matches(ux.interpolate_backward(g, shape, **kw), ref.torch_grad(g, shape, **kw),
                       kw["mode"], str(kw))


@pytest.mark.parametrize("spec", ref.MODE_SPECS, ids=ref.spec_id)
def test_read_only_grad_output(spec, rng):
    nd = spec[2]
    shape = (2, 3) + IN_SPATIAL[nd]
    kw = {**ref.mode_kwargs(spec), "scale_factor": 2.0}
    g = rng.standard_normal((2, 3) + tuple(2 * i for i in IN_SPATIAL[nd]))
    expected = ux.interpolate_backward(g, shape, **kw)
    g.flags.writeable = False
    np.testing.assert_array_equal(ux.interpolate_backward(g, shape, **kw), expected)
    ones = np.broadcast_to(np.float64(1.0), g.shape)
    np.testing.assert_array_equal(ux.interpolate_backward(ones, shape, **kw),
                                  ux.interpolate_backward(np.ones(g.shape), shape, **kw))
