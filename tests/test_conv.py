"""conv{1,2,3}d / conv_transpose{1,2,3}d and their backward, against torch 2.13."""

import os

import numpy as np
import pytest
from _torch import F, torch  # without torch: stand-ins, and the tests calling them skip
from hypothesis import example, given, settings
from hypothesis import strategies as st

import upsamplex as ux
from upsamplex import _conv, _conv_lowering, _conv_threads
from upsamplex._kernels import _conv as kernels
from upsamplex._kernels import _openmp

TOL = {np.float32: 2e-5, np.float64: 1e-10}
CONV = {1: ux.conv1d, 2: ux.conv2d, 3: ux.conv3d}
CONV_T = {1: ux.conv_transpose1d, 2: ux.conv_transpose2d, 3: ux.conv_transpose3d}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def assert_close(ours, ref, dtype, scale=None):
    """Max error <= TOL * scale; scale defaults to max|ref|.

    A sum whose terms cancel (a bias gradient) is only as accurate as its terms: pass
    their size as ``scale`` (see ``assert_grads_close``).
    """
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else ref
    assert ours.shape == ref.shape
    assert ours.dtype == ref.dtype
    if scale is None:
        scale = np.abs(ref).max(initial=0.0)
    scale = max(scale, 1e-30)
    err = np.abs(ours - ref).max(initial=0.0)
    assert err <= TOL[dtype] * scale, f"max error {err:.3g} vs scale {scale:.3g}"


def assert_grads_close(grads, grads_ref, gy, dtype):
    """(grad_input, grad_weight, grad_bias) against torch's; None references are skipped."""
    for i, (ours, ref) in enumerate(zip(grads, grads_ref)):
        if ref is None:  # no bias given to torch
            continue
        terms = np.abs(gy).sum(axis=(0,) + tuple(range(2, gy.ndim))).max() if i == 2 else None
        assert_close(ours, ref, dtype, scale=terms)


def torch_reference(function, x, w, b, gy, **kw):
    """Forward of a torch function and, given ``gy``, its autograd gradients."""
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    y = function(xt, wt, bt, **kw)
    if gy is None:
        return y, None
    y.backward(torch.tensor(gy))
    return y, (xt.grad, wt.grad, None if bt is None else bt.grad)


def torch_transpose(x, w, b, gy, nd, **kw):
    return torch_reference(TORCH_CONV_T[nd], x, w, b, gy, **kw)


def torch_conv(x, w, b, gy, nd, **kw):
    return torch_reference(TORCH_CONV[nd], x, w, b, gy, **kw)


# (stride, padding, output_padding, dilation, groups, kernel): output_padding is used by
# conv_transpose only and is < stride or < dilation in every case.
CASES = [
    (1, 0, 0, 1, 1, 1),  # 1x1 kernel: the pure-matmul path
    (1, 0, 0, 1, 1, 3),
    (2, 1, 1, 1, 1, 4),
    (2, 0, 0, 1, 2, 3),
    (3, 2, 2, 1, 1, 5),
    (1, 1, 1, 2, 1, 3),  # output_padding allowed by dilation although stride is 1
    (2, 2, 1, 3, 3, 2),
    (1, 0, 0, 1, 6, 3),  # depthwise
    (4, 1, 3, 1, 1, 2),  # stride larger than the kernel: gaps in the output
    ((2, 1, 3), (1, 0, 2), (1, 0, 0), (1, 2, 1), 1, (3, 2, 4)),  # per-axis tuples
]


def per_axis(value, nd):
    return value[-nd:] if isinstance(value, tuple) else value


def make_case(rng, case, nd, dtype, batch=2, c_in=6, c_out=6, size=5):
    stride, padding, output_padding, dilation, groups, kernel = (per_axis(v, nd) for v in case)
    ks = kernel if isinstance(kernel, tuple) else (kernel,) * nd
    shape = tuple(size + i for i in range(nd))  # odd, unequal sizes per axis
    x = rng.standard_normal((batch, c_in) + shape).astype(dtype)
    w = rng.standard_normal((c_in, c_out // groups) + ks).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, w, b, kw, output_padding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("case", CASES)
def test_conv_transpose_matches_torch(case, nd, dtype):
    rng = np.random.default_rng(0)
    x, w, b, kw, op = make_case(rng, case, nd, dtype)
    y_ref, _ = torch_transpose(x, w, b, None, nd, output_padding=op, **kw)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    y_ref, grads_ref = torch_transpose(x, w, b, gy, nd, output_padding=op, **kw)
    assert_close(CONV_T[nd](x, w, b, output_padding=op, **kw), y_ref, dtype)
    grads = ux.conv_transpose_backward(gy, x, w, output_padding=op, **kw)
    assert_grads_close(grads, grads_ref, gy, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("case", CASES)
def test_conv_matches_torch(case, nd, dtype):
    rng = np.random.default_rng(1)
    x, w, b, kw, _ = make_case(rng, case, nd, dtype, size=9)
    w = np.ascontiguousarray(np.swapaxes(w, 0, 1)).reshape((6, 6 // kw["groups"]) + w.shape[2:])
    y_ref, _ = torch_conv(x, w, b, None, nd, **kw)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    y_ref, grads_ref = torch_conv(x, w, b, gy, nd, **kw)
    assert_close(CONV[nd](x, w, b, **kw), y_ref, dtype)
    assert_grads_close(ux.conv_backward(gy, x, w, **kw), grads_ref, gy, dtype)


# torch warns that even kernels with 'same' need a padded copy; we need none.
@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_conv_string_padding(padding, kernel, dilation):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 11, 12))
    w = rng.standard_normal((4, 3, kernel, kernel))
    gy_shape = tuple(torch_conv(x, w, None, None, 2, padding=padding, dilation=dilation)[0].shape)
    gy = rng.standard_normal(gy_shape)
    y_ref, grads_ref = torch_conv(x, w, None, gy, 2, padding=padding, dilation=dilation)
    assert_close(ux.conv2d(x, w, padding=padding, dilation=dilation), y_ref, np.float64)
    grads = ux.conv_backward(gy, x, w, padding=padding, dilation=dilation)
    for ours, ref in zip(grads[:2], grads_ref[:2]):
        assert_close(ours, ref, np.float64)


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", [0, 1, 2, (2, 0), "same", "valid"])
@pytest.mark.parametrize("size", [(7, 9), (8, 8), (3, 4), (1, 2)])
def test_winograd_3x3_matches_torch(monkeypatch, size, padding, dtype):
    """3x3 stride-1 convolutions with >= 16 channels take the Winograd path."""
    pads = {"same": (1, 1), "valid": (0, 0)}.get(padding, padding)
    pads = pads if isinstance(pads, tuple) else (pads, pads)
    if min(n + 2 * p for n, p in zip(size, pads)) < 3:
        pytest.skip("padded input smaller than the kernel")
    calls = []
    winograd = _conv_lowering.winograd_pass
    monkeypatch.setattr(
        _conv_lowering, "winograd_pass", lambda *a: calls.append(1) or winograd(*a)
    )
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 16) + size).astype(dtype)
    w = rng.standard_normal((20, 16, 3, 3)).astype(dtype)
    b = rng.standard_normal(20).astype(dtype)
    y_ref, _ = torch_conv(x, w, b, None, 2, padding=padding)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    y_ref, grads_ref = torch_conv(x, w, b, gy, 2, padding=padding)
    assert_close(ux.conv2d(x, w, b, padding=padding), y_ref, dtype)
    assert_grads_close(ux.conv_backward(gy, x, w, padding=padding), grads_ref, gy, dtype)
    assert len(calls) == 2  # forward and input gradient


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_1x1_backward_matches_torch(nd, groups):
    """1x1 kernels: input and weight gradients come from one fused sweep over grad_output."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 6) + (5, 4, 3)[:nd])
    w = rng.standard_normal((9, 6 // groups) + (1,) * nd)
    b = rng.standard_normal(9)
    gy = rng.standard_normal((2, 9) + (5, 4, 3)[:nd])
    _, grads_ref = torch_conv(x, w, b, gy, nd, groups=groups)
    assert_grads_close(ux.conv_backward(gy, x, w, groups=groups), grads_ref, gy, np.float64)


@st.composite
def configs(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    config = dict(
        nd=nd,
        groups=groups,
        c_in=groups * draw(st.integers(1, 3)),
        c_out=groups * draw(st.integers(1, 3)),
        batch=draw(st.integers(1, 3)),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        bias=draw(st.booleans()),
    )
    axes = []
    for _ in range(nd):
        stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        kernel, padding = draw(st.integers(1, 5)), draw(st.integers(0, 3))
        output_padding = draw(st.integers(0, max(stride, dilation) - 1))
        size = draw(st.integers(1, 7 if nd < 3 else 4))
        axes.append((stride, dilation, kernel, padding, output_padding, size))
    config["axes"] = axes
    return config


def _unpack(config):
    names = ["stride", "dilation", "kernel", "padding", "output_padding", "size"]
    return {name: tuple(axis[i] for axis in config["axes"]) for i, name in enumerate(names)}


@settings(max_examples=60, deadline=None)
@given(configs(), st.integers(0, 2**32 - 1))
def test_conv_transpose_random_against_torch(config, seed):
    a, nd, dtype = _unpack(config), config["nd"], config["dtype"]
    out_size = [
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, d, k, op in zip(
            a["size"], a["stride"], a["padding"], a["dilation"], a["kernel"], a["output_padding"]
        )
    ]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((config["batch"], config["c_in"]) + a["size"]).astype(dtype)
    w = rng.standard_normal(
        (config["c_in"], config["c_out"] // config["groups"]) + a["kernel"]
    ).astype(dtype)
    b = rng.standard_normal(config["c_out"]).astype(dtype) if config["bias"] else None
    kw = dict(
        stride=a["stride"],
        padding=a["padding"],
        output_padding=a["output_padding"],
        dilation=a["dilation"],
        groups=config["groups"],
    )
    if min(out_size) < 1:
        with pytest.raises(ValueError, match="too small"):
            CONV_T[nd](x, w, b, **kw)
        return
    gy = rng.standard_normal((config["batch"], config["c_out"], *out_size)).astype(dtype)
    y_ref, grads_ref = torch_transpose(x, w, b, gy, nd, **kw)
    assert_close(CONV_T[nd](x, w, b, **kw), y_ref, dtype)
    assert_grads_close(ux.conv_transpose_backward(gy, x, w, **kw), grads_ref, gy, dtype)


@settings(max_examples=60, deadline=None)
@given(configs(), st.integers(0, 2**32 - 1))
# A float32 bias gradient that cancels to ~1/300 of its terms (scale it by the terms).
@example(
    config=dict(
        nd=2,
        groups=2,
        c_in=4,
        c_out=2,
        batch=2,
        dtype=np.float32,
        bias=True,
        axes=[(2, 1, 2, 3, 0, 2), (1, 1, 4, 3, 0, 4)],
    ),
    seed=45859,
)
def test_conv_random_against_torch(config, seed):
    a, nd, dtype = _unpack(config), config["nd"], config["dtype"]
    size = tuple(s + d * (k - 1) for s, d, k in zip(a["size"], a["dilation"], a["kernel"]))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((config["batch"], config["c_in"]) + size).astype(dtype)
    w = rng.standard_normal(
        (config["c_out"], config["c_in"] // config["groups"]) + a["kernel"]
    ).astype(dtype)
    b = rng.standard_normal(config["c_out"]).astype(dtype) if config["bias"] else None
    kw = dict(
        stride=a["stride"], padding=a["padding"], dilation=a["dilation"], groups=config["groups"]
    )
    y_ref, _ = torch_conv(x, w, b, None, nd, **kw)
    gy = rng.standard_normal(tuple(y_ref.shape)).astype(dtype)
    y_ref, grads_ref = torch_conv(x, w, b, gy, nd, **kw)
    assert_close(CONV[nd](x, w, b, **kw), y_ref, dtype)
    assert_grads_close(ux.conv_backward(gy, x, w, **kw), grads_ref, gy, dtype)


@settings(max_examples=40, deadline=None)
@given(configs(), st.integers(0, 2**32 - 1))
def test_adjoint_identity(config, seed):
    """<conv_transpose(x, w), y> == <x, conv(y, w)> with matching arguments."""
    a, nd = _unpack(config), config["nd"]
    out_size = [
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, d, k, op in zip(
            a["size"], a["stride"], a["padding"], a["dilation"], a["kernel"], a["output_padding"]
        )
    ]
    if min(out_size) < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((config["batch"], config["c_in"]) + a["size"])
    w = rng.standard_normal((config["c_in"], config["c_out"] // config["groups"]) + a["kernel"])
    y = rng.standard_normal((config["batch"], config["c_out"], *out_size))
    geometry = dict(
        stride=a["stride"], padding=a["padding"], dilation=a["dilation"], groups=config["groups"]
    )
    forward = CONV_T[nd](x, w, output_padding=a["output_padding"], **geometry)
    adjoint = CONV[nd](y, w, **geometry)
    # With output_padding >= stride (allowed when < dilation) conv of y is longer than x;
    # the adjoint of conv_transpose is conv restricted to x's grid.
    assert all(a >= b for a, b in zip(adjoint.shape, x.shape))
    adjoint = adjoint[tuple(slice(0, n) for n in x.shape)]
    lhs, rhs = np.vdot(forward, y), np.vdot(x, adjoint)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, np.abs(forward).sum() * np.abs(y).max())


def _finite_difference(f, arr, probe, eps=1e-6, count=6, seed=0):
    """Central differences of <f(), probe> with respect to a few entries of ``arr``."""
    rng = np.random.default_rng(seed)
    flat = arr.reshape(-1)
    picks = rng.choice(flat.size, size=min(count, flat.size), replace=False)
    result = {}
    for i in picks:
        keep = flat[i]
        flat[i] = keep + eps
        up = np.vdot(f(), probe)
        flat[i] = keep - eps
        down = np.vdot(f(), probe)
        flat[i] = keep
        result[i] = (up - down) / (2 * eps)
    return result


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("transposed", [False, True])
def test_gradients_by_finite_differences(nd, transposed):
    rng = np.random.default_rng(3)
    size = (4, 5, 3)[:nd]
    groups = 2
    x = rng.standard_normal((2, 4) + size)
    kw = dict(stride=2, padding=1, dilation=1, groups=groups)
    if transposed:
        w = rng.standard_normal((4, 3) + (3,) * nd)
        b = rng.standard_normal(6)

        def forward():
            return CONV_T[nd](x, w, b, output_padding=1, **kw)

        gy = rng.standard_normal(forward().shape)
        grads = ux.conv_transpose_backward(gy, x, w, output_padding=1, **kw)
    else:
        w = rng.standard_normal((6, 2) + (3,) * nd)
        b = rng.standard_normal(6)

        def forward():
            return CONV[nd](x, w, b, **kw)

        gy = rng.standard_normal(forward().shape)
        grads = ux.conv_backward(gy, x, w, **kw)
    for arr, grad in zip((x, w, b), grads):
        for index, numeric in _finite_difference(forward, arr, gy).items():
            assert abs(grad.reshape(-1)[index] - numeric) <= 1e-6 * max(1.0, abs(numeric))


def test_output_mask_skips_entries():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 3, 7, 7))
    full = ux.conv_transpose_backward(gy, x, w)
    for mask in [(True, False, False), (False, True, False), (False, False, True)]:
        part = ux.conv_transpose_backward(gy, x, w, output_mask=mask)
        for want, got, ref in zip(mask, part, full):
            if want:
                np.testing.assert_array_equal(got, ref)
            else:
                assert got is None
    gy = rng.standard_normal((2, 3, 3, 3))
    w = rng.standard_normal((3, 4, 3, 3))
    full = ux.conv_backward(gy, x, w)
    part = ux.conv_backward(gy, x, w, output_mask=(False, True, False))
    assert part[0] is None and part[2] is None
    np.testing.assert_array_equal(part[1], full[1])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_unbatched_input(nd):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4,) + (5,) * nd)
    w = rng.standard_normal((4, 2) + (3,) * nd)
    b = rng.standard_normal(2)
    y = CONV_T[nd](x, w, b, stride=2)
    y_ref = TORCH_CONV_T[nd](torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2)
    assert_close(y, y_ref, np.float64)
    gx, gw, gb = ux.conv_transpose_backward(np.ones_like(y), x, w, stride=2)
    batched = ux.conv_transpose_backward(np.ones_like(y)[None], x[None], w, stride=2)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gx, batched[0][0])
    np.testing.assert_array_equal(gw, batched[1])
    yc = CONV[nd](x, np.swapaxes(w, 0, 1), b, padding=1)
    assert_close(
        yc,
        TORCH_CONV[nd](
            torch.tensor(x), torch.tensor(np.swapaxes(w, 0, 1)), torch.tensor(b), padding=1
        ),
        np.float64,
    )
    gx, _, _ = ux.conv_backward(np.ones_like(yc), x, np.swapaxes(w, 0, 1), padding=1)
    assert gx.shape == x.shape


def test_non_contiguous_inputs():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 9, 11, 8)).astype(np.float32)[::2, ::3, 1::2].transpose(0, 1, 3, 2)
    w = np.asfortranarray(rng.standard_normal((3, 4, 3, 3)).astype(np.float32))[:, ::-1]
    b = rng.standard_normal(8).astype(np.float32)[::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    gy = rng.standard_normal((2, 4, 30, 9)).astype(np.float32)[:, :, ::2]  # strided
    y_ref, grads_ref = torch_transpose(
        *(np.ascontiguousarray(a) for a in (x, w, b, gy)), 2, stride=2, padding=1
    )
    assert_close(ux.conv_transpose2d(x, w, b, stride=2, padding=1), y_ref, np.float32)
    grads = ux.conv_transpose_backward(gy, x, w, stride=2, padding=1)
    assert_grads_close(grads, grads_ref, gy, np.float32)
    # 1x1 kernels take the plain-GEMM path (bias added after the GEMM), both ways.
    w1 = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
    xc, bc = np.ascontiguousarray(x), np.ascontiguousarray(b)
    assert_close(ux.conv2d(x, w1, b), torch_conv(xc, w1, bc, None, 2)[0], np.float32)
    w1t = np.ascontiguousarray(w1[:, :, 0, 0].T).reshape(3, 4, 1, 1)
    assert_close(
        ux.conv_transpose2d(x, w1t, b), torch_transpose(xc, w1t, bc, None, 2)[0], np.float32
    )


def test_out_argument():
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    expected = ux.conv_transpose2d(x, w, stride=2)
    out = np.empty_like(expected)
    assert ux.conv_transpose2d(x, w, stride=2, out=out) is out
    np.testing.assert_array_equal(out, expected)
    strided = np.empty(expected.shape[:-1] + (2 * expected.shape[-1],))[..., ::2]
    assert ux.conv_transpose2d(x, w, stride=2, out=strided) is strided
    np.testing.assert_array_equal(strided, expected)
    # out aliasing the input of a 1x1 conv must not corrupt the result.
    w1 = rng.standard_normal((4, 4, 1, 1))
    expected = ux.conv2d(x, w1)
    assert ux.conv2d(x, w1, out=x) is x
    np.testing.assert_array_equal(x, expected)


# Not OpenMP's default thread count: conftest's torch.set_num_threads(1) sets it to 1 in
# the OpenMP runtime the two libraries share, which skipped this test in every suite run.
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_thread_count_does_not_change_results():
    assert _openmp.openmp_enabled()
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 6, 9, 10)).astype(np.float32)
    w = rng.standard_normal((6, 4, 4, 3)).astype(np.float32)
    kw = dict(stride=2, padding=1, groups=2)
    one = ux.conv_transpose2d(x, w, num_threads=1, **kw)
    two = ux.conv_transpose2d(x, w, num_threads=2, **kw)
    np.testing.assert_array_equal(one, two)
    gy = rng.standard_normal(one.shape).astype(np.float32)
    for a, b in zip(
        ux.conv_transpose_backward(gy, x, w, num_threads=1, **kw),
        ux.conv_transpose_backward(gy, x, w, num_threads=2, **kw),
    ):
        np.testing.assert_array_equal(a, b)
    # Winograd path (3x3, stride 1, >= 16 channels) and blocked weight gradient.
    x16 = rng.standard_normal((3, 16, 9, 10)).astype(np.float32)
    w16 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    y16 = ux.conv2d(x16, w16, padding=1, num_threads=1)
    np.testing.assert_array_equal(y16, ux.conv2d(x16, w16, padding=1, num_threads=2))
    for a, b in zip(
        ux.conv_backward(y16, x16, w16, padding=1, num_threads=1),
        ux.conv_backward(y16, x16, w16, padding=1, num_threads=2),
    ):
        np.testing.assert_array_equal(a, b)
    wc = np.ascontiguousarray(np.swapaxes(w, 0, 1)).reshape(4, 6, 4, 3)
    yc = ux.conv2d(x, wc.reshape(8, 3, 4, 3), stride=2, padding=1, groups=2, num_threads=1)
    np.testing.assert_array_equal(
        yc, ux.conv2d(x, wc.reshape(8, 3, 4, 3), stride=2, padding=1, groups=2, num_threads=2)
    )


def test_without_blas_thread_control(monkeypatch):
    """Without threadpoolctl (BLAS threads unlimitable) the items run on one thread, same bits."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((3, 16, 9, 10)).astype(np.float32)
    w = rng.standard_normal((16, 8, 4, 4)).astype(np.float32)
    gy = rng.standard_normal((3, 8, 18, 20)).astype(np.float32)
    expected = (ux.conv_transpose2d(x, w, stride=2, padding=1),) + ux.conv_transpose_backward(
        gy, x, w, stride=2, padding=1
    )
    monkeypatch.setattr(_conv_threads, "blas_controllers", lambda: None)
    assert _conv_threads.team_size(2, 10) == 1
    got = (ux.conv_transpose2d(x, w, stride=2, padding=1, num_threads=2),)
    got += ux.conv_transpose_backward(gy, x, w, stride=2, padding=1, num_threads=2)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("transposed", [False, True])
def test_tiny_tiles(monkeypatch, transposed):
    """A tiny tile budget (one output position per tile) gives the same numbers."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 4, 6, 7))
    w = rng.standard_normal((4, 4, 3, 3))
    b = rng.standard_normal(4)
    if transposed:

        def run():
            y = ux.conv_transpose2d(x, w, b, stride=2)
            return (y,) + ux.conv_transpose_backward(y, x, w, stride=2)
    else:

        def run():
            y = ux.conv2d(x, w, b, padding=1)
            return (y,) + ux.conv_backward(y, x, w, padding=1)

    whole = run()
    monkeypatch.setattr(_conv_lowering, "_TILE_BYTES", 1)
    for a, b_ in zip(whole, run()):
        np.testing.assert_allclose(a, b_, rtol=1e-13, atol=1e-13)


def test_empty_batch():
    x = np.zeros((0, 4, 5, 5), np.float32)
    w = np.ones((4, 2, 3, 3), np.float32)
    y = ux.conv_transpose2d(x, w, np.ones(2, np.float32), stride=2)
    assert y.shape == (0, 2, 11, 11)
    gx, gw, gb = ux.conv_transpose_backward(y, x, w, stride=2)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros_like(w))
    np.testing.assert_array_equal(gb, np.zeros(2, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (1, 1, 1, 1), (2, 4, 1, 13), (2, 3, 64, 65)])
def test_bias_gradient_is_the_float64_sum_rounded_once(dtype, shape):
    """The bias gradient is Σ over batch and space in float64 lanes, rounded once to the
    dtype (float32: the exact sum's nearest float32; NumPy's pairwise float32 sum of the
    million samples below is one unit off). Rows of any length (8-lane blocks and a
    tail), on 1 or 2 threads, contiguous or strided gradients."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((shape[1], 2, 1, 1)).astype(dtype)
    gy = (1 + 1e-3 * rng.standard_normal((shape[0], 2) + shape[2:])).astype(dtype)
    expected = gy.astype(np.float64).sum(axis=(0, 2, 3)).astype(dtype)
    # float64: the same sum in another order (NumPy's pairwise), to its last few bits.
    check = (
        np.testing.assert_array_equal
        if dtype == np.float32
        else lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-14)
    )
    for threads in (1, 2):
        gb = ux.conv_transpose_backward(gy, x, w, num_threads=threads)[2]
        assert gb.dtype == dtype
        check(gb, expected)
    strided = np.zeros((shape[0], 2) + (shape[2], 2 * shape[3]), dtype)[..., ::2]
    strided[...] = gy
    check(ux.conv_transpose_backward(strided, x, w)[2], expected)
    if dtype == np.float32 and shape[0] == 3:
        big = np.full((4, 1, 512, 512), 1 + 1e-3, np.float32)
        ones = np.ones((1, 1, 1, 1), np.float32)
        gb_big = ux.conv_backward(big, big, ones)[2]
        np.testing.assert_array_equal(gb_big, [np.float32(big.astype(np.float64).sum())])


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 4])
@pytest.mark.parametrize("dilation", [1, 2])
def test_valid_range_table(stride, padding, dilation):
    for tap in range(4):
        for n_src in (1, 5, 8):
            n_out = 7
            ok = [0 <= o * stride - padding + tap * dilation < n_src for o in range(n_out)]
            lo, hi = kernels.valid_range_py(tap, stride, padding, dilation, n_src, n_out)
            expected = [lo <= o < hi for o in range(n_out)]
            assert ok == expected


# --------------------------------------------------------------------------- bad input

X2 = np.zeros((1, 4, 5, 5))
W2 = np.zeros((4, 2, 3, 3))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(x=np.zeros((1, 3, 5, 5))), ValueError, "x has 3 channels"),
        (dict(groups=3), ValueError, "groups=3 must divide"),
        (dict(groups=0), ValueError, "groups must be a positive int, got 0"),
        (dict(groups=1.5), TypeError, "groups must be an int"),
        (dict(weight=np.zeros((4, 2, 3))), ValueError, "weight must have 4 dimensions"),
        (dict(x=np.zeros((4, 5))), ValueError, r"or 3 \(C, \*spatial\).*got shape \(4, 5\)"),
        (dict(x=np.zeros((1, 1, 4, 5, 5))), ValueError, "x must have 4 dimensions"),
        (dict(bias=np.zeros(3)), ValueError, r"bias must have shape \(2,\)"),
        (dict(bias=np.zeros((2, 1))), ValueError, r"bias must have shape \(2,\)"),
        (dict(stride=0), ValueError, r"stride must be positive, got \(0, 0\)"),
        (dict(stride=(1, -2)), ValueError, "stride must be positive"),
        (dict(dilation=0), ValueError, "dilation must be positive"),
        (dict(padding=-1), ValueError, r"padding must be non-negative, got \(-1, -1\)"),
        (dict(output_padding=2, stride=2), ValueError, "smaller than either stride or dilation"),
        (dict(output_padding=-1), ValueError, "output_padding must be non-negative"),
        (dict(padding=5), ValueError, r"calculated output size \(-3, -3\) is too small"),
        (dict(stride=(1, 2, 3)), ValueError, "stride must be an int or a tuple of 2 ints"),
        (dict(padding=(1,) * 3), ValueError, "padding must be an int or a tuple of 2"),
        (dict(stride=1.0), TypeError, "stride must be an int"),
        (dict(padding=True), TypeError, "padding must contain ints"),
        (dict(padding="same"), TypeError, "padding must be an int or a tuple"),
        (dict(weight=W2.astype(np.float32)), TypeError, "weight dtype float32 does not match"),
        (dict(bias=np.zeros(2, np.float32)), TypeError, "bias dtype float32 does not match"),
        (dict(x=X2.astype(np.int64)), TypeError, "x must have dtype float32 or float64, got int64"),
        (dict(x=X2.astype(bool)), TypeError, "got bool"),
        (dict(x=X2.astype(np.complex128)), TypeError, "got complex128"),
        (dict(x=X2.astype(object)), TypeError, "got object"),
        (dict(x=X2.astype(np.float16)), TypeError, "got float16"),
        (dict(weight=W2.astype(np.int32)), TypeError, "weight must have dtype"),
        (dict(x=np.zeros((1, 4, 0, 5))), ValueError, "non-zero channel and spatial sizes"),
        (dict(out=np.zeros((1, 2, 7, 6))), ValueError, r"out must have shape \(1, 2, 7, 7\)"),
        (dict(out=np.zeros((1, 2, 7, 7), np.float32)), TypeError, "out must have dtype float64"),
        (dict(out=np.zeros((1, 2, 7, 7)).tolist()), TypeError, "out must be a numpy.ndarray"),
        (dict(num_threads=0), ValueError, "num_threads must be a positive int"),
    ],
)
def test_conv_transpose_bad_input(kwargs, exc, match):
    args = dict(x=X2, weight=W2)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ux.conv_transpose2d(**args)


def test_bad_input_messages_from_other_entry_points():
    read_only = np.zeros((1, 2, 7, 7))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        ux.conv_transpose2d(X2, W2, out=read_only)
    with pytest.raises(ValueError, match=r"calculated output size \(-5, -5\) is too small"):
        ux.conv_transpose2d(np.zeros((1, 4, 1, 1)), np.zeros((4, 2, 1, 1)), padding=3)
    with pytest.raises(ValueError, match=r"calculated output size \(0, 0\) is too small"):
        ux.conv2d(np.zeros((1, 2, 2, 2)), np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="x has 4 channels but weight"):
        ux.conv2d(X2, np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="groups=3 must divide the weight"):
        ux.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        ux.conv2d(X2, np.zeros((2, 4, 3, 3)), padding="same", stride=2)
    with pytest.raises(ValueError, match="padding must be an int, a tuple, 'same' or 'valid'"):
        ux.conv2d(X2, np.zeros((2, 4, 3, 3)), padding="full")
    with pytest.raises(ValueError, match=r"grad_output must have shape \(1, 2, 7, 7\)"):
        ux.conv_transpose_backward(np.zeros((1, 2, 8, 8)), X2, W2)
    with pytest.raises(TypeError, match="grad_output dtype float32 does not match"):
        ux.conv_transpose_backward(np.zeros((1, 2, 7, 7), np.float32), X2, W2)
    with pytest.raises(ValueError, match="weight must have 3, 4 or 5 dimensions"):
        ux.conv_backward(np.zeros((1, 2, 3, 3)), X2, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="output_mask must have three entries"):
        ux.conv_backward(np.zeros((1, 2, 3, 3)), X2, np.zeros((2, 4, 3, 3)), output_mask=(1,))
    with pytest.raises(TypeError, match="output_mask must be a sequence"):
        ux.conv_backward(np.zeros((1, 2, 3, 3)), X2, np.zeros((2, 4, 3, 3)), output_mask=None)


def test_public_api_has_runnable_examples():
    import doctest

    for name in _conv.__all__:
        func = getattr(ux, name)
        assert "Examples" in func.__doc__
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in doctest.DocTestFinder().find(func, name, globs={}):
            runner.run(test)
        assert runner.failures == 0, name
