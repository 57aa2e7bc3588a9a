"""The direct (few-channel) conv kernels: parity with torch, routing, threads, chunks.

``_conv_lowering.FORCE_PATH = "direct"`` sends every conv through the direct kernels
(forward, input and weight gradients), so the sweep below covers geometries the
crossover would hand to the GEMM path; the routing tests check the crossover itself.
"""

import contextlib

import numpy as np
import pytest
from _torch import F, torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import assert_close, assert_grads_close, torch_conv, torch_transpose

import upsamplex as ux
from upsamplex import _conv_lowering as lowering
from upsamplex._conv_geometry import Geometry

CONV = {1: ux.conv1d, 2: ux.conv2d, 3: ux.conv3d}
CONV_T = {1: ux.conv_transpose1d, 2: ux.conv_transpose2d, 3: ux.conv_transpose3d}


@contextlib.contextmanager
def forced(path):
    previous = lowering.FORCE_PATH
    lowering.FORCE_PATH = path
    try:
        yield
    finally:
        lowering.FORCE_PATH = previous


@st.composite
def problems(draw):
    nd = draw(st.sampled_from([1, 2, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    max_size = {1: 19, 2: 11, 3: 6}[nd]
    size = tuple(draw(st.integers(1, max_size)) for _ in range(nd))
    batch = draw(st.integers(1, 2))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return nd, groups, c_in, c_out, kernel, stride, dilation, padding, size, batch, dtype


def _arrays(rng, shape_x, shape_w, c_bias, dtype):
    x = rng.standard_normal(shape_x).astype(dtype)
    w = rng.standard_normal(shape_w).astype(dtype)
    b = rng.standard_normal(c_bias).astype(dtype)
    return x, w, b


@settings(max_examples=40, derandomize=True, deadline=None)
@given(problems())
def test_direct_conv_matches_torch(problem):
    nd, groups, c_in, c_out, kernel, stride, dilation, padding, size, batch, dtype = problem
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if any(n + 2 * p < s for n, p, s in zip(size, padding, span)):
        return  # torch refuses it too (test_conv covers the error)
    rng = np.random.default_rng(0)
    x, w, b = _arrays(rng, (batch, c_in) + size, (c_out, c_in // groups) + kernel, c_out, dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y_ref, _ = torch_conv(x, w, b, None, nd, **kw)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    y_ref, grads_ref = torch_conv(x, w, b, gy, nd, **kw)
    with forced("direct"):
        y = CONV[nd](x, w, b, **kw)
        grads = ux.conv_backward(gy, x, w, **kw)
    assert_close(y, y_ref, dtype)
    assert_grads_close(grads, grads_ref, gy, dtype)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(problems(), st.data())
def test_direct_conv_transpose_matches_torch(problem, data):
    nd, groups, c_in, c_out, kernel, stride, dilation, padding, size, batch, dtype = problem
    output_padding = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)
    )
    out = [
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, d, k, op in zip(size, stride, padding, dilation, kernel, output_padding)
    ]
    if min(out) < 1:
        return
    rng = np.random.default_rng(1)
    x, w, b = _arrays(rng, (batch, c_in) + size, (c_in, c_out // groups) + kernel, c_out, dtype)
    kw = dict(
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
    )
    y_ref, _ = torch_transpose(x, w, b, None, nd, **kw)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    y_ref, grads_ref = torch_transpose(x, w, b, gy, nd, **kw)
    with forced("direct"):
        y = CONV_T[nd](x, w, b, **kw)
        grads = ux.conv_transpose_backward(gy, x, w, **kw)
    assert_close(y, y_ref, dtype)
    assert_grads_close(grads, grads_ref, gy, dtype)


# Few-channel shapes of the benchmark class (C in {1, 3, 4, 8, 16}, k 2-4, stride 1-2),
# on the default routing, against torch.
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize(
    "c_in,c_out,k,s,p",
    [(3, 3, 3, 2, 1), (1, 1, 2, 2, 0), (4, 8, 4, 2, 1), (16, 3, 3, 1, 1), (8, 8, 3, 2, 1)],
)
def test_few_channel_class_matches_torch(transposed, c_in, c_out, k, s, p):
    dtype = np.float32
    rng = np.random.default_rng(2)
    shape_w = (c_in, c_out) if transposed else (c_out, c_in)
    x, w, b = _arrays(rng, (2, c_in, 33, 40), shape_w + (k, k), c_out, dtype)
    kw = dict(stride=s, padding=p)
    ref = torch_transpose if transposed else torch_conv
    y_ref, _ = ref(x, w, b, None, 2, **kw)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    y_ref, grads_ref = ref(x, w, b, gy, 2, **kw)
    forward = ux.conv_transpose2d if transposed else ux.conv2d
    backward = ux.conv_transpose_backward if transposed else ux.conv_backward
    assert_close(forward(x, w, b, **kw), y_ref, dtype)
    assert_grads_close(backward(gy, x, w, **kw), grads_ref, gy, dtype)


def _spy(monkeypatch):
    calls = []
    for name in ("direct_forward", "direct_transpose", "direct_grad_weight"):
        original = getattr(lowering, name)
        monkeypatch.setattr(
            lowering,
            name,
            lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a),
        )
    return calls


def test_routing_few_channels_take_the_direct_kernels(monkeypatch):
    """The seed tutorial's ConvTranspose2d (3 -> 3, k3, s2) runs direct, both ways."""
    calls = _spy(monkeypatch)
    x = np.ones((1, 3, 32, 32), np.float32)
    w = np.ones((3, 3, 3, 3), np.float32)
    y = ux.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    ux.conv_transpose_backward(y, x, w, stride=2, padding=1, output_padding=1)
    assert calls == ["direct_transpose", "direct_forward", "direct_grad_weight"]
    calls.clear()
    ux.conv2d(x, w, padding=1)
    ux.conv_backward(np.ones((1, 3, 32, 32), np.float32), x, w, padding=1)
    assert calls == ["direct_forward", "direct_transpose", "direct_grad_weight"]


def test_routing_many_channels_take_the_gemm_path(monkeypatch):
    calls = _spy(monkeypatch)
    x = np.ones((1, 64, 16, 16), np.float32)
    ux.conv2d(x, np.ones((64, 64, 3, 3), np.float32), stride=2)
    ux.conv_transpose2d(x, np.ones((64, 64, 4, 4), np.float32), stride=2)
    # 3x3 stride 1 with >= 16 channels stays on Winograd.
    ux.conv2d(np.ones((1, 16, 64, 64), np.float32), np.ones((16, 16, 3, 3), np.float32))
    # Weight gradients of more than 512 channel pairs (or of more than 128 and more than
    # 32 output channels: test_use_direct_table) take the GEMM path.
    gy = np.ones((1, 32, 16, 16))
    ux.conv_backward(gy, np.ones((1, 32, 16, 16)), np.ones((32, 32, 3, 3)), padding=1)
    assert calls == []


def test_use_direct_table():
    geom = lambda k, s, src, out: Geometry.of((k, k), (s, s), (1, 1), (1, 1), src, out)  # noqa: E731
    g64 = geom(3, 2, (64, 64), (32, 32))
    assert lowering.use_direct("transpose", g64, 1, 3, 3, 1)
    assert not lowering.use_direct("transpose", g64, 1, 32, 32, 1)
    assert lowering.use_direct("conv", geom(3, 1, (64, 64), (64, 64)), 1, 3, 3, 1)
    assert lowering.use_direct("conv", geom(3, 1, (64, 64), (64, 64)), 1, 3, 64, 1)
    assert not lowering.use_direct("conv", geom(3, 2, (64, 64), (32, 32)), 1, 64, 64, 1)
    assert not lowering.use_direct("conv", geom(3, 1, (64, 64), (64, 64)), 1, 3, 3, 0)
    assert lowering.use_direct("grad_weight", g64, 1, 3, 3, 1)
    assert lowering.use_direct("grad_weight", g64, 1, 4, 4, 1)
    assert lowering.use_direct("grad_weight", g64, 1, 8, 8, 1)
    assert lowering.use_direct("grad_weight", g64, 1, 64, 3, 1)
    assert lowering.use_direct("grad_weight", g64, 1, 16, 16, 1)
    assert lowering.use_direct("grad_weight", g64, 1, 16, 32, 1)
    assert lowering.use_direct("grad_weight", g64, 1, 2, 64, 1)
    assert not lowering.use_direct("grad_weight", g64, 1, 32, 32, 1)
    assert not lowering.use_direct("grad_weight", g64, 1, 3, 64, 1)
    assert lowering.use_direct("grad_weight", g64, 2, 32, 32, 1)  # 16 x 16 a group
    assert not lowering.use_direct("conv", geom(3, 9, (64, 64), (7, 7)), 1, 1, 1, 1)


@pytest.mark.parametrize("transposed", [False, True])
def test_direct_results_do_not_depend_on_threads_or_chunks(monkeypatch, transposed):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 37, 29)).astype(np.float32)
    w = rng.standard_normal((3, 6, 4, 3)).astype(np.float32)
    b = rng.standard_normal(6 if transposed else 3).astype(np.float32)
    forward = ux.conv_transpose2d if transposed else ux.conv2d
    backward = ux.conv_transpose_backward if transposed else ux.conv_backward
    if not transposed:
        w = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:3])  # (3, 3, 4, 3)
        b = b[:3]
    kw = dict(stride=2, padding=1)

    def run(n):
        y = forward(x, w, b, num_threads=n, **kw)
        return (y,) + backward(y, x, w, num_threads=n, **kw)

    monkeypatch.setattr(lowering, "_DIRECT_SERIAL_BELOW", 0)  # small, but on 2 threads
    with forced("direct"):
        # one thread runs outside OpenMP; three split the items unevenly
        one, two, three = run(1), run(2), run(3)
        monkeypatch.setattr(lowering, "_DIRECT_CHUNK_MACS", 1)  # one item per call
        chunked = run(2)
    for a, b_, c, d in zip(one, two, chunked, three):
        np.testing.assert_array_equal(a, b_)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(a, d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_transpose_row_class_weights_are_bit_identical(monkeypatch, dtype):
    """The transposed kernel packs the weights of rows away from the borders once per
    row class (group, depth and height phase); one item per call packs them for every
    row. Both give the same bits, with groups, dilation and strides on every axis."""
    rng = np.random.default_rng(12)
    cases = [
        # (x shape, weight shape, groups, stride, padding, dilation)
        ((2, 4, 5, 9, 11), (4, 3, 3, 4, 3), 2, (2, 3, 2), (1, 2, 1), (1, 1, 2)),
        ((1, 6, 14, 13), (6, 5, 4, 4), 1, (2, 2), (1, 1), (1, 1)),
        ((2, 6, 12, 10), (6, 2, 3, 2), 3, (3, 1), (0, 1), (2, 1)),
    ]
    for shape_x, shape_w, groups, stride, padding, dilation in cases:
        x = rng.standard_normal(shape_x).astype(dtype)
        w = rng.standard_normal(shape_w).astype(dtype)
        b = rng.standard_normal(shape_w[1] * groups).astype(dtype)
        kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        f = CONV_T[x.ndim - 2]
        with forced("direct"):
            whole = f(x, w, b, num_threads=1, **kw)
            split = f(x, w, b, num_threads=2, **kw)
            with monkeypatch.context() as m:
                m.setattr(lowering, "_DIRECT_CHUNK_MACS", 1)  # one row per call
                per_row = f(x, w, b, num_threads=1, **kw)
        y_ref, _ = torch_transpose(x, w, b, None, x.ndim - 2, **kw)
        assert_close(whole, y_ref, dtype)
        np.testing.assert_array_equal(whole, per_row)
        np.testing.assert_array_equal(whole, split)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_column_tiles_give_the_untiled_sums(dtype):
    """Rows of many taps run in column tiles (every channel block over one tile, then the
    next). An output column's sum must not depend on the tile it falls in: a window of
    the input, convolved alone (one tile), gives the same bits at the same columns."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((1, 16, 6, 300)).astype(dtype)
    w = rng.standard_normal((10, 16, 4, 4)).astype(dtype)
    b = rng.standard_normal(10).astype(dtype)
    wt = rng.standard_normal((16, 10, 4, 4)).astype(dtype)
    with forced("direct"):
        y = ux.conv2d(x, w, b)  # 297 columns: 64 rows of taps, several tiles
        yt = ux.conv_transpose2d(x, wt, b[:10], stride=(1, 2))
        for c0 in (0, 40, 101, 230):
            part = ux.conv2d(x[..., c0:c0 + 35], w, b)  # 32 columns, one tile
            np.testing.assert_array_equal(part, y[..., c0:c0 + 32])
            # transposed, stride 2: output columns 2*c0 + 6 .. of the window's interior
            part_t = ux.conv_transpose2d(x[..., c0:c0 + 35], wt, b[:10], stride=(1, 2))
            np.testing.assert_array_equal(part_t[..., 6:60], yt[..., 2 * c0 + 6:2 * c0 + 60])
    y_ref, _ = torch_conv(x, w, b, None, 2)
    assert_close(y, y_ref, dtype)


def test_direct_threads_keep_their_state_private(monkeypatch):
    """Every item's per-channel start values (the bias) are the thread's own: with them
    shared, two threads summing channel blocks of different biases raced (seen as
    errors of O(1) in about one call in three)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 8, 20, 21)).astype(np.float32)
    w = rng.standard_normal((8, 8, 4, 4)).astype(np.float32)
    b = (10 * rng.standard_normal(8)).astype(np.float32)
    monkeypatch.setattr(lowering, "_DIRECT_SERIAL_BELOW", 0)
    with forced("direct"):
        expected = (
            ux.conv2d(x, w, b, stride=2, padding=1, num_threads=1),
            ux.conv_transpose2d(x, w, b, stride=2, padding=1, num_threads=1),
        )
        for _ in range(40):
            got = (
                ux.conv2d(x, w, b, stride=2, padding=1, num_threads=2),
                ux.conv_transpose2d(x, w, b, stride=2, padding=1, num_threads=2),
            )
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])


# (kernel width, stride): taps per stride phase 1-7, the constant counts 1-4 and others.
TAP_COUNTS = [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (7, 1), (4, 2), (6, 2), (3, 3)]


@pytest.mark.parametrize("kw, sw", TAP_COUNTS)
def test_avx2_build_is_bit_identical(kw, sw):
    """The AVX2 variant (its strip taps in assembly) against the baseline build (C)."""
    from upsamplex._kernels import _conv

    try:
        from upsamplex._kernels import _conv_avx2
    except ImportError:
        pytest.skip("built without the AVX2 variant")
    if lowering._k is not _conv_avx2:
        pytest.skip("this CPU does not run AVX2")
    rng = np.random.default_rng(4)
    out_w = (45 + 2 - kw) // sw + 1
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 5, 1, 19, 45)).astype(dtype)
        w = rng.standard_normal((6, 5, 1, 3, kw)).astype(dtype)
        b = rng.standard_normal(6).astype(dtype)
        outs = []
        for module in (_conv, _conv_avx2):
            y = np.empty((2, 6, 1, 9, out_w), dtype)
            module.direct_conv(x, w, b, y, (1, 2, sw), (0, 1, 1), (1, 1, 1), 1, 0, 18, 2)
            gx = np.empty_like(x)
            module.direct_conv_transpose(
                y, w, np.empty(0, dtype), gx, (1, 2, sw), (0, 1, 1), (1, 1, 1), 1, 0, 38, 2
            )
            outs += [y, gx]
        np.testing.assert_array_equal(outs[0], outs[2])
        np.testing.assert_array_equal(outs[1], outs[3])


@pytest.mark.parametrize("transposed", [False, True])
def test_direct_non_contiguous_inputs_and_out(transposed):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((2, 8, 3, 30)).astype(np.float64)
    x = np.swapaxes(base, 1, 2)[..., ::2]  # (2, 3, 8, 15), strided
    w = rng.standard_normal((3, 4, 3, 3))[:, ::2]  # (3, 2, 3, 3), strided
    forward = ux.conv_transpose2d if transposed else ux.conv2d
    # conv's weight (2, 3, 3, 3) is the transposed view of the same strided array.
    weight = w if transposed else np.swapaxes(w, 0, 1)
    ref = (F.conv_transpose2d if transposed else F.conv2d)(
        torch.tensor(np.ascontiguousarray(x)),
        torch.tensor(np.ascontiguousarray(weight)),
        stride=2,
        padding=1,
    ).numpy()
    y = forward(x, weight, stride=2, padding=1)
    assert_close(y, ref, np.float64)
    out = np.full(y.shape, np.nan)
    assert forward(x, weight, stride=2, padding=1, out=out) is out
    np.testing.assert_array_equal(out, y)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_direct_gradients_are_adjoint(nd):
    """⟨conv(x, w), gy⟩ = ⟨x, grad_input⟩ = ⟨w, grad_weight⟩ (bilinear in x and w)."""
    rng = np.random.default_rng(6)
    size = (9, 7, 5)[:nd]
    x = rng.standard_normal((2, 3) + size)
    w = rng.standard_normal((2, 3) + (3,) * nd)
    kw = dict(stride=2, padding=1, dilation=1)
    with forced("direct"):
        y = CONV[nd](x, w, **kw)
        gy = rng.standard_normal(y.shape)
        gx, gw, _ = ux.conv_backward(gy, x, w, **kw)
        yt = CONV_T[nd](
            gy,
            w,
            **kw,
            output_padding=tuple(n - ((o - 1) * 2 - 2 + 3) for n, o in zip(size, y.shape[2:])),
        )
    inner = float(np.vdot(y, gy))
    assert inner == pytest.approx(float(np.vdot(x, gx)), rel=1e-12)
    assert inner == pytest.approx(float(np.vdot(w, gw)), rel=1e-12)
    np.testing.assert_allclose(yt, gx, rtol=1e-12, atol=1e-12)


def test_direct_size_one_and_tiny_cases():
    rng = np.random.default_rng(7)
    for shape_x, shape_w, kw in [
        ((1, 1, 1, 1), (1, 1, 1, 1), dict(padding=1)),
        ((1, 1, 1, 5), (1, 1, 1, 2), dict(stride=2)),
        ((3, 2, 2, 1), (4, 2, 2, 1), dict(padding=(1, 0), dilation=2)),
    ]:
        x = rng.standard_normal(shape_x)
        w = rng.standard_normal(shape_w)
        y_ref, _ = torch_conv(x, w, None, None, 2, **kw)
        gy = rng.standard_normal(tuple(y_ref.shape))
        _, grads_ref = torch_conv(x, w, None, gy, 2, **kw)
        with forced("direct"):
            assert_close(ux.conv2d(x, w, **kw), y_ref, np.float64)
            assert_grads_close(ux.conv_backward(gy, x, w, **kw), grads_ref, gy, np.float64)


def test_direct_empty_batch_falls_back():
    with forced("direct"):
        y = ux.conv_transpose2d(np.zeros((0, 3, 4, 4)), np.ones((3, 3, 3, 3)), stride=2)
    assert y.shape == (0, 3, 9, 9)


def test_cached_validation_still_refuses_what_the_full_check_refuses():
    """A validated call is remembered by key; equal-hashing bad arguments (True == 1,
    a float array where a float32 one was cached) must still raise."""
    x = np.ones((1, 2, 6, 6), np.float32)
    w = np.ones((2, 2, 3, 3), np.float32)
    first = ux.conv2d(x, w, stride=1, padding=1)
    np.testing.assert_array_equal(ux.conv2d(x, w, stride=1, padding=1), first)
    with pytest.raises(TypeError, match="stride must contain ints"):
        ux.conv2d(x, w, stride=True, padding=1)
    with pytest.raises(TypeError, match="stride must contain ints"):
        ux.conv2d(x, w, stride=(True, 1), padding=1)
    with pytest.raises(TypeError, match="weight dtype float64 does not match"):
        ux.conv2d(x, w.astype(np.float64), stride=1, padding=1)
    with pytest.raises(ValueError, match="bias must have shape"):
        ux.conv2d(x, w, np.ones(3, np.float32), stride=1, padding=1)
    # A strided x of the cached shape is copied, not misread.
    xs = np.ones((1, 2, 6, 12), np.float32)[..., ::2]
    np.testing.assert_array_equal(ux.conv2d(xs, w, stride=1, padding=1), first)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_direct_grad_weight_wide_kernels_and_channel_blocks(dtype, stride):
    """Kernels wider than one register block of taps (7 = 4 + 3), output channels that
    leave a partial block (5 = 3 + 2, 4 + 1), rows of 1..21 outputs (masked tails)."""
    rng = np.random.default_rng(9)
    for width in (7, 14, 30, 47):
        x = rng.standard_normal((2, 2, 5, width)).astype(dtype)
        w = rng.standard_normal((5, 2, 2, 7)).astype(dtype)
        kw = dict(stride=(1, stride), padding=(1, 3), dilation=(1, 1 + (width % 2)))
        y_ref, _ = torch_conv(x, w, None, None, 2, **kw)
        gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
        _, grads_ref = torch_conv(x, w, None, gy, 2, **kw)
        with forced("direct"):
            grads = ux.conv_backward(gy, x, w, output_mask=(False, True, False), **kw)
        assert_close(grads[1], grads_ref[1], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels, width, padding", [(64, 20, 1), (64, 16, 0), (128, 6, 1)])
def test_direct_grad_weight_groups_summed_over_several_calls(dtype, channels, width, padding):
    """Groups of rows whose gathered source rows exceed the kernel's L2 budget are summed
    in several calls: the first stores its sums, the middle ones add, the last adds into
    the float64 lanes. 4 taps high: 64 channels at width 20 take 18 rows a call against 21
    a group; at 16, 25 against 32; 128 channels at 5 outputs a row, 21 against 64 (four
    calls, a middle one among them)."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, channels, 23, width)).astype(dtype)
    w = rng.standard_normal((2, channels, 4, 4)).astype(dtype)
    kw = dict(padding=padding)
    y_ref, _ = torch_conv(x, w, None, None, 2, **kw)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    _, grads_ref = torch_conv(x, w, None, gy, 2, **kw)
    with forced("direct"):
        one = ux.conv_backward(gy, x, w, output_mask=(False, True, False), num_threads=1, **kw)
        two = ux.conv_backward(gy, x, w, output_mask=(False, True, False), num_threads=2, **kw)
    assert_close(one[1], grads_ref[1], dtype)
    np.testing.assert_array_equal(one[1], two[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_stride_phases_listed_and_walked_edges(dtype):
    """Source rows split into stride phases: the few entries outside the interior are
    listed once per call (at most 32 of them) or, past that, walked per phase. Widths,
    strides and paddings on both sides of that limit, and widths under one vector of
    the stride-2 split, against torch."""
    rng = np.random.default_rng(11)
    for width in (1, 3, 8, 15, 17, 33, 70):
        for stride in (1, 2, 3, 5):
            for padding in (0, 1, 3, 6):
                x = rng.standard_normal((1, 2, width)).astype(dtype)
                w = rng.standard_normal((3, 2, 3)).astype(dtype)
                if width + 2 * padding < 3:
                    continue
                kw = dict(stride=stride, padding=padding)
                y_ref, _ = torch_conv(x, w, None, None, 1, **kw)
                gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
                y_ref, grads_ref = torch_conv(x, w, None, gy, 1, **kw)
                with forced("direct"):
                    y = ux.conv1d(x, w, **kw)
                    grads = ux.conv_backward(gy, x, w, **kw)
                assert_close(y, y_ref, dtype)
                assert_grads_close(grads, grads_ref, gy, dtype)


def test_direct_grad_weight_ignores_source_columns_no_output_reads():
    """Source columns past the last output's taps (inf here) must not reach the weight
    gradient: the kernel reads whole 8-lane strips past the row and masks them."""
    rng = np.random.default_rng(10)
    for width, stride in ((13, 2), (21, 3), (10, 1)):
        x = rng.standard_normal((1, 3, 4, width)).astype(np.float32)
        w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
        kw = dict(stride=(1, stride), padding=(1, 0))
        y_ref, _ = torch_conv(x, w, None, None, 2, **kw)
        used = (y_ref.shape[-1] - 1) * stride + 2  # columns any tap of any output reads
        x[..., used:] = np.inf
        gy = rng.standard_normal(tuple(y_ref.shape)).astype(np.float32)
        _, grads_ref = torch_conv(x, w, None, gy, 2, **kw)
        with forced("direct"):
            gw = ux.conv_backward(gy, x, w, output_mask=(False, True, False), **kw)[1]
        assert np.isfinite(gw).all()
        assert_close(gw, grads_ref[1], np.float32)


def test_avx2_build_weight_gradient_is_bit_identical():
    """The weight gradient's 8 fixed lanes and its stride-phase split give the same bits
    in the baseline (SSE) and AVX2 builds."""
    from upsamplex._kernels import _conv

    try:
        from upsamplex._kernels import _conv_avx2
    except ImportError:
        pytest.skip("built without the AVX2 variant")
    if lowering._k is not _conv_avx2:
        pytest.skip("this CPU does not run AVX2")
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        for stride in (1, 2, 3):
            x = rng.standard_normal((2, 5, 1, 19, 45)).astype(dtype)
            ow = (45 + 2 - 5) // stride + 1
            gy = rng.standard_normal((2, 6, 1, 9, ow)).astype(dtype)
            outs = []
            for module in (_conv, _conv_avx2):
                partials = np.empty((3, 6, 5, 1, 3, 5))
                module.direct_grad_weight(
                    x, gy, partials, (1, 2, stride), (0, 1, 1), (1, 1, 1), 1, 0, 3, 2
                )
                outs.append(partials)
            np.testing.assert_array_equal(outs[0], outs[1])
