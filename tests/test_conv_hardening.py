"""conv under odd geometry, odd numbers and odd output arrays (issue "Hardening").

* every copy / gather bound of the conv kernels, with operands placed against an
  inaccessible page, so an out-of-bounds read is a crash (in a subprocess: a failed test)
  rather than a silent read of neighbouring memory;
* non-finite and near-overflow values give what the direct path and torch give, whichever
  internal path (Winograd or im2col) a shape takes;
* absurd geometry, bad ``output_mask`` and self-overlapping ``out=`` are clear errors.
"""

import subprocess
import sys

import numpy as np
import pytest
from _torch import F, torch

import upsamplex as ux
from upsamplex import _conv_lowering as lowering

TOL = {np.float32: 2e-5, np.float64: 1e-10}
CONV = {1: ux.conv1d, 2: ux.conv2d, 3: ux.conv3d}
CONV_T = {1: ux.conv_transpose1d, 2: ux.conv_transpose2d, 3: ux.conv_transpose3d}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

# (nd, x shape, weight shape, geometry): taps whose dilation and padding put them
# entirely outside the input (the "atrous" rates of segmentation nets on small maps),
# some with the output exactly as wide as the input (contiguous rows), some not.
ATROUS = [
    (2, (1, 1, 512, 1), (1, 1, 1, 3), dict(padding=(0, 100000), dilation=(1, 100000))),
    (2, (2, 3, 14, 14), (4, 3, 3, 3), dict(padding=18, dilation=18)),
    (2, (1, 2, 14, 14), (3, 2, 3, 3), dict(padding=(12, 18), dilation=(12, 18))),
    (2, (1, 2, 9, 11), (2, 2, 3, 2), dict(padding=(7, 11), dilation=(7, 11), stride=(2, 1))),
    (1, (2, 2, 7), (3, 2, 3), dict(padding=9, dilation=9)),
    (1, (1, 2, 7), (3, 2, 5), dict(padding=20, dilation=10, stride=3)),
    (3, (1, 2, 4, 5, 6), (2, 2, 3, 3, 3), dict(padding=7, dilation=7)),
    (3, (1, 1, 3, 4, 4), (1, 1, 2, 3, 3), dict(padding=(1, 6, 6), dilation=(2, 6, 6))),
]
# The same for transposed convolutions: (nd, x, weight, geometry).
ATROUS_T = [
    (2, (1, 2, 14, 14), (2, 3, 3, 3), dict(padding=18, dilation=18)),
    (2, (1, 2, 5, 5), (2, 2, 3, 3), dict(padding=(9, 9), dilation=(9, 9), stride=(2, 1))),
    (1, (2, 2, 7), (2, 3, 3), dict(padding=9, dilation=9)),
    (1, (1, 2, 4), (2, 1, 5), dict(padding=21, dilation=10, stride=3, output_padding=2)),
    (3, (1, 2, 4, 5, 6), (2, 2, 3, 3, 3), dict(padding=7, dilation=7)),
]


def _ids(cases):
    return [f"{nd}d-{x}-{kw}" for nd, x, _, kw in cases]


def _close(ours, ref, dtype=np.float64):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else ref
    assert ours.shape == ref.shape
    scale = max(np.abs(ref).max(initial=0.0), 1e-30)
    err = np.abs(ours - ref).max(initial=0.0)
    assert err <= TOL[dtype] * scale, f"max error {err:.3g} vs scale {scale:.3g}"


def _torch_grads(function, x, w, gy, **kw):
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    y = function(xt, wt, **kw)
    y.backward(torch.tensor(gy))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()


@pytest.mark.parametrize("nd,x_shape,w_shape,kw", ATROUS, ids=_ids(ATROUS))
def test_atrous_conv_matches_torch(nd, x_shape, w_shape, kw, rng):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = CONV[nd](x, w, **kw)
    gy = rng.standard_normal(y.shape)
    y_ref, gx_ref, gw_ref = _torch_grads(TORCH_CONV[nd], x, w, gy, **kw)
    _close(y, y_ref)
    gx, gw, gb = ux.conv_backward(gy, x, w, **kw)
    _close(gx, gx_ref)
    _close(gw, gw_ref)


@pytest.mark.parametrize("nd,x_shape,w_shape,kw", ATROUS_T, ids=_ids(ATROUS_T))
def test_atrous_conv_transpose_matches_torch(nd, x_shape, w_shape, kw, rng):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = CONV_T[nd](x, w, **kw)
    gy = rng.standard_normal(y.shape)
    y_ref, gx_ref, gw_ref = _torch_grads(TORCH_CONV_T[nd], x, w, gy, **kw)
    _close(y, y_ref)
    gx, gw, gb = ux.conv_transpose_backward(gy, x, w, **kw)
    _close(gx, gx_ref)
    _close(gw, gw_ref)


# Runs in a fresh interpreter: operands that end (or start) exactly at an inaccessible
# page, so that any read past their last (before their first) element faults at once.
_GUARDED = r"""
import ctypes, mmap, sys
import numpy as np
import upsamplex as ux

libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
PAGE = mmap.PAGESIZE
keep = []

def guarded(arr, at_end):
    n = arr.nbytes
    pages = -(-n // PAGE)
    buf = mmap.mmap(-1, (pages + 2) * PAGE)
    keep.append(buf)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    for page in (base, base + (pages + 1) * PAGE):
        assert libc.mprotect(page, PAGE, 0) == 0, ctypes.get_errno()
    offset = (pages + 1) * PAGE - n if at_end else PAGE
    out = np.frombuffer(buf, arr.dtype, arr.size, offset).reshape(arr.shape)
    out[...] = arr
    return out

CASES = {cases!r}
CASES_T = {cases_t!r}
rng = np.random.default_rng(0)
for transposed, cases in ((False, CASES), (True, CASES_T)):
    for nd, x_shape, w_shape, kw in cases:
        fwd = (ux.conv_transpose1d, ux.conv_transpose2d, ux.conv_transpose3d)[nd - 1] \
            if transposed else (ux.conv1d, ux.conv2d, ux.conv3d)[nd - 1]
        bwd = ux.conv_transpose_backward if transposed else ux.conv_backward
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        y = fwd(x, w, **kw)
        gy = rng.standard_normal(y.shape)
        expected = bwd(gy, x, w, **kw)
        for at_end in (True, False):
            xg, wg, gyg = (guarded(a, at_end) for a in (x, w, gy))
            assert np.array_equal(fwd(xg, wg, **kw), y)
            for ours, ref in zip(bwd(gyg, xg, wg, **kw), expected):
                assert np.array_equal(ours, ref)
# Winograd's input rows and the 1x1 path, too.
for shape, w_shape, pad in (((1, 16, 7, 9), (16, 16, 3, 3), 1), ((1, 16, 5, 6), (16, 16, 3, 3), 2),
                            ((1, 16, 5, 6), (16, 16, 3, 3), 0), ((2, 3, 5, 6), (4, 3, 1, 1), 0)):
    x, w = rng.standard_normal(shape), rng.standard_normal(w_shape)
    y = ux.conv2d(x, w, padding=pad)
    gy = rng.standard_normal(y.shape)
    expected = ux.conv_backward(gy, x, w, padding=pad)
    for at_end in (True, False):
        xg, wg, gyg = (guarded(a, at_end) for a in (x, w, gy))
        assert np.array_equal(ux.conv2d(xg, wg, padding=pad), y)
        for ours, ref in zip(ux.conv_backward(gyg, xg, wg, padding=pad), expected):
            assert np.array_equal(ours, ref)
print("guarded ok")
"""


def test_no_read_outside_the_operands():
    """Every kernel read stays inside its operand (a read past it faults: a crash here)."""
    script = _GUARDED.replace("{cases!r}", repr(ATROUS)).replace("{cases_t!r}", repr(ATROUS_T))
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr[-3000:]}"
    assert "guarded ok" in run.stdout


def test_valid_range_of_a_tap_that_misses_the_input():
    """A tap entirely before / after the input has an empty range, also when lo > n_out."""
    from upsamplex._kernels import _conv as kernels

    # tap 0 at offset -100000, tap 2 at +100000 of a 1-wide axis.
    lo, hi = kernels.valid_range_py(0, 1, 100000, 100000, 1, 1)
    assert hi <= lo
    lo, hi = kernels.valid_range_py(2, 1, 100000, 100000, 1, 1)
    assert hi <= lo
    assert kernels.valid_range_py(1, 1, 100000, 100000, 1, 1) == (0, 1)


# --------------------------------------------------------------------------- values


def _winograd_calls(monkeypatch):
    calls = []
    winograd = lowering.winograd_pass
    monkeypatch.setattr(
        lowering, "winograd_pass", lambda *a: calls.append(1) or winograd(*a)
    )
    return calls


def _direct_conv(monkeypatch, x, w, **kw):
    """conv2d forced onto the im2col path (Winograd off)."""
    with monkeypatch.context() as patch:
        patch.setattr(lowering, "winograd_ok", lambda *a: False)
        return ux.conv2d(x, w, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_winograd_shapes_with_non_finite_input_match_torch(dtype, value, rng, monkeypatch):
    x = rng.standard_normal((1, 16, 8, 9)).astype(dtype)
    w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    x[0, 3, 4, 5] = value
    calls = _winograd_calls(monkeypatch)
    y = ux.conv2d(x, w, padding=1)
    assert not calls  # routed to the direct path
    ref = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
    finite = np.isfinite(ref)
    assert finite.any()
    _close(y[finite], ref[finite], dtype)
    # A clean input of the same shape still takes Winograd.
    x[0, 3, 4, 5] = 0
    ux.conv2d(x, w, padding=1)
    assert calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_shapes_near_the_dtype_maximum_match_torch(dtype, rng):
    big = np.finfo(dtype).max / 2.5  # sums of 4 inputs overflow; the direct sum does not
    x = (rng.uniform(0.5, 1, (1, 16, 6, 6)) * big).astype(dtype)
    w = rng.uniform(-1, 1, (16, 16, 3, 3)).astype(dtype) / 200
    y = ux.conv2d(x, w, padding=1)
    ref = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    assert np.isfinite(ref).all()
    assert np.isfinite(y).all()
    # Terms of size up to |x| |w|: relative to the sum of their magnitudes.
    scale = float(np.abs(x).max()) * float(np.abs(w).sum(axis=(1, 2, 3)).max())
    assert np.abs(y.astype(np.float64) - ref).max() <= TOL[dtype] * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inf_grad_output_gives_no_nan_grad_input(dtype, rng):
    x = rng.standard_normal((1, 16, 6, 7)).astype(dtype)
    w = rng.uniform(0.1, 1, (16, 16, 3, 3)).astype(dtype)  # one sign: no inf - inf in torch
    gy = rng.standard_normal((1, 16, 6, 7)).astype(dtype)
    gy[0, 2, 3, 3] = np.inf
    gx, gw, gb = ux.conv_backward(gy, x, w, padding=1)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.conv2d(xt, wt, padding=1).backward(torch.tensor(gy))
    ref = xt.grad.numpy()
    assert not np.isnan(ref).any()
    assert not np.isnan(gx).any()
    np.testing.assert_array_equal(np.isinf(gx), np.isinf(ref))
    np.testing.assert_array_equal(gx[np.isinf(ref)], ref[np.isinf(ref)])
    finite = np.isfinite(ref)
    _close(gx[finite], ref[finite], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_result_does_not_depend_on_the_internal_path(dtype, rng, monkeypatch):
    """Winograd-eligible shapes give the im2col result (to rounding) for odd values too."""
    x = rng.standard_normal((2, 16, 7, 8)).astype(dtype)
    w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    x[0, 0, 0, 0], x[1, 5, 6, 7], x[0, 9, 3, 3] = np.inf, -np.inf, np.finfo(dtype).max / 1e4
    y = ux.conv2d(x, w, padding=1)
    direct = _direct_conv(monkeypatch, x, w, padding=1)
    np.testing.assert_array_equal(y, direct)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ux.conv1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), padding=10**12),
         r"too large to allocate.*padding=\(1000000000000,\)"),
        (lambda: ux.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2)), padding=(2**40, 1)),
         r"too large to allocate.*padding=\(1099511627776, 1\)"),
        (lambda: ux.conv_transpose1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), stride=10**15),
         r"too large to allocate.*stride=\(1000000000000000,\)"),
        (lambda: ux.conv_transpose3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2)),
                                     stride=10**6), r"too large to allocate.*stride="),
        (lambda: ux.conv1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), stride=2**62),
         r"stride must be at most"),
        (lambda: ux.conv1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), padding=2**70),
         r"padding must be at most"),
        (lambda: ux.conv1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), dilation=2**64),
         r"dilation must be at most"),
        (lambda: ux.conv_transpose1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), padding=2**63),
         r"padding must be at most"),
    ],
)
def test_absurd_geometry_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


_HUGE_STRIDE = r"""
import numpy as np
import upsamplex as ux
x, w = np.ones((1, 1, 5)), np.ones((1, 1, 2))
y = ux.conv1d(x, w, stride=10**12)
assert np.array_equal(y, [[[2.0]]])
gx, gw, gb = ux.conv_backward(np.ones((1, 1, 1)), x, w, stride=10**12)
assert np.array_equal(gx, [[[1, 1, 0, 0, 0]]]) and np.array_equal(gw, [[[1, 1]]])
x3, w3 = np.ones((1, 1, 3, 3, 3)), np.ones((1, 1, 1, 1, 1))
gx, _, _ = ux.conv_backward(np.ones((1, 1, 1, 1, 1)), x3, w3, stride=10**9)
assert gx.sum() == 1 and gx[0, 0, 0, 0, 0] == 1
y = ux.conv_transpose1d(np.ones((1, 1, 1)), w, stride=10**12)
assert np.array_equal(y, [[[1.0, 1.0]]])
print("stride ok")
"""


def test_huge_stride_is_cheap():
    """A stride far beyond the input: one output, no loop over the stride's residues
    (before, conv's input gradient iterated all 10**12 of them: a hang, hence the
    subprocess with a timeout)."""
    run = subprocess.run(
        [sys.executable, "-c", _HUGE_STRIDE], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "stride ok" in run.stdout


GY, X2, W2 = np.zeros((1, 2, 3, 3)), np.zeros((1, 4, 5, 5)), np.zeros((2, 4, 3, 3))


@pytest.mark.parametrize(
    "mask,exc,match",
    [
        ("abc", TypeError, "output_mask must be a sequence of three bools, got str"),
        ("TTT", TypeError, "output_mask must be a sequence of three bools"),
        (b"\x01\x01\x01", TypeError, "output_mask must be a sequence of three bools"),
        ({True, False}, TypeError, "output_mask must be a sequence"),
        (None, TypeError, "output_mask must be a sequence"),
        (True, TypeError, "output_mask must be a sequence"),
        ((1, 0, 1), TypeError, r"output_mask must contain three bools, got \(1, 0, 1\)"),
        ((True, None, False), TypeError, "output_mask must contain three bools"),
        ([True, "yes", False], TypeError, "output_mask must contain three bools"),
        ((True, True), ValueError, "output_mask must have three entries"),
        ((True,) * 4, ValueError, "output_mask must have three entries"),
    ],
)
@pytest.mark.parametrize("transposed", [False, True])
def test_output_mask_must_be_three_bools(mask, exc, match, transposed):
    backward = ux.conv_transpose_backward if transposed else ux.conv_backward
    gy, x, w = (X2, GY, W2) if transposed else (GY, X2, W2)
    with pytest.raises(exc, match=match):
        backward(gy, x, w, output_mask=mask)


def test_output_mask_accepts_bool_sequences():
    gy = np.ones((1, 2, 3, 3))
    full = ux.conv_backward(gy, X2, W2)
    for mask in ([True, False, True], (np.True_, np.False_, np.True_),
                 np.array([True, False, True])):
        gx, gw, gb = ux.conv_backward(gy, X2, W2, output_mask=mask)
        assert gw is None
        np.testing.assert_array_equal(gx, full[0])
        np.testing.assert_array_equal(gb, full[2])


def _stride0_outs(shape):
    """Writeable arrays of ``shape`` whose elements overlap in memory."""
    base = np.zeros(shape)
    one = np.zeros(1)
    yield np.lib.stride_tricks.as_strided(one, shape, (0,) * len(shape))  # writeable
    yield np.lib.stride_tricks.as_strided(base, shape, base.strides[:-1] + (0,))
    overlapping = base.strides[:-2] + (base.strides[-1], base.strides[-1])
    yield np.lib.stride_tricks.as_strided(base, shape, overlapping)
    # np.broadcast_to's layout on a writeable base (what as_strided(broadcast) gives).
    row = np.zeros(shape[-1])
    yield np.lib.stride_tricks.as_strided(row, shape, (0,) * (len(shape) - 1) + row.strides)


@pytest.mark.parametrize("which", range(4))
def test_self_overlapping_out_is_refused(which):
    x, w = np.ones((1, 4, 5, 5)), np.ones((2, 4, 3, 3))
    out = list(_stride0_outs((1, 2, 3, 3)))[which]
    assert out.flags.writeable
    with pytest.raises(ValueError, match="out must not have overlapping elements"):
        ux.conv2d(x, w, out=out)
    out_t = list(_stride0_outs((1, 2, 7, 7)))[which]
    with pytest.raises(ValueError, match="out must not have overlapping elements"):
        ux.conv_transpose2d(np.ones((1, 4, 5, 5)), np.ones((4, 2, 3, 3)), out=out_t)
    # interpolate validates out= with the same function.
    out_i = list(_stride0_outs((1, 4, 10, 10)))[which]
    with pytest.raises(ValueError, match="out must not have overlapping elements"):
        ux.interpolate(x, scale_factor=2, out=out_i)


def test_out_views_that_do_not_overlap_are_accepted(rng):
    x, w = rng.standard_normal((1, 4, 5, 5)), rng.standard_normal((2, 4, 3, 3))
    expected = ux.conv2d(x, w)
    for out in (
        np.zeros((1, 2, 3, 6))[..., ::2],  # strided
        np.zeros((3, 3, 2, 1)).transpose(3, 2, 0, 1),  # transposed
        np.zeros((1, 2, 3, 3))[:, ::-1],  # negative stride
        np.broadcast_to(np.zeros((1, 1, 1, 1)), (1, 2, 3, 3)).copy(),
    ):
        ux.conv2d(x, w, out=out)
        np.testing.assert_array_equal(out, expected)
    # A length-1 axis may have any stride, 0 included.
    out = np.lib.stride_tricks.as_strided(np.zeros(18), (1, 2, 3, 3), (0, 72, 24, 8))
    ux.conv2d(x, w, out=out)
    np.testing.assert_array_equal(out, expected)


def test_conv_transpose_output_size_zero_is_a_documented_difference():
    """A computed output size of 0: torch returns an empty array for an empty batch, and
    on its float32 path for a batch >= 2, and refuses otherwise; we always raise (README,
    Differences from PyTorch)."""
    w = np.ones((1, 1, 2))
    # (1 - 1)*1 - 2*1 + 1*(2 - 1) + 0 + 1 = 0
    ref = F.conv_transpose1d(torch.zeros((0, 1, 1), dtype=torch.float64), torch.tensor(w),
                             padding=1)
    assert tuple(ref.shape) == (0, 1, 0)
    with pytest.raises(ValueError, match=r"calculated output size \(0,\) is too small"):
        ux.conv_transpose1d(np.zeros((0, 1, 1)), w, padding=1)
    ref2 = F.conv_transpose2d(torch.zeros((0, 1, 1, 1)), torch.ones((1, 1, 2, 2)), padding=1)
    assert tuple(ref2.shape) == (0, 1, 0, 0)
    with pytest.raises(ValueError, match=r"calculated output size \(0, 0\) is too small"):
        ux.conv_transpose2d(np.zeros((0, 1, 1, 1), np.float32), np.ones((1, 1, 2, 2), np.float32),
                            padding=1)
    with pytest.raises(RuntimeError, match="too small"):
        F.conv_transpose1d(torch.zeros((1, 1, 1)), torch.ones((1, 1, 2)), padding=1)
    with pytest.raises(RuntimeError, match="too small"):
        F.conv_transpose1d(torch.zeros((2, 1, 1), dtype=torch.float64),
                           torch.ones((1, 1, 2), dtype=torch.float64), padding=1)
    batch2 = F.conv_transpose2d(torch.zeros((2, 1, 1, 7)), torch.ones((1, 1, 2, 4)),
                                padding=(1, 0))
    assert tuple(batch2.shape) == (2, 1, 0, 10)
    with pytest.raises(ValueError, match=r"calculated output size \(0, 10\) is too small"):
        ux.conv_transpose2d(np.zeros((2, 1, 1, 7), np.float32), np.ones((1, 1, 2, 4), np.float32),
                            padding=(1, 0))
    with pytest.raises(ValueError, match=r"calculated output size \(0,\) is too small"):
        ux.conv_transpose1d(np.zeros((1, 1, 1)), w, padding=1)


def _unaligned(arr):
    raw = np.empty(arr.nbytes + 1, np.uint8)[1:].view(arr.dtype).reshape(arr.shape)
    raw[...] = arr
    assert not raw.flags.aligned
    return raw


def test_unaligned_operands_and_out(rng):
    """Unaligned operands are realigned before the kernels load floats from them
    (undefined behaviour in C; .ci/sanitize's UBSan checks it), and an unaligned out=
    is filled from an aligned buffer."""
    x = rng.standard_normal((2, 16, 6, 7)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    for kw in (dict(padding=1), dict(stride=2)):  # Winograd, im2col
        expected = ux.conv2d(x, w, b, **kw)
        got = ux.conv2d(_unaligned(x), _unaligned(w), _unaligned(b), **kw)
        np.testing.assert_array_equal(got, expected)
        out = _unaligned(np.zeros_like(expected))
        assert ux.conv2d(x, w, b, out=out, **kw) is out
        np.testing.assert_array_equal(out, expected)
        gy = rng.standard_normal(expected.shape).astype(np.float32)
        for ours, ref in zip(ux.conv_backward(_unaligned(gy), _unaligned(x), _unaligned(w), **kw),
                             ux.conv_backward(gy, x, w, **kw)):
            np.testing.assert_array_equal(ours, ref)
    expected = ux.conv_transpose2d(x, w, b, stride=2)
    np.testing.assert_array_equal(
        ux.conv_transpose2d(_unaligned(x), _unaligned(w), _unaligned(b), stride=2), expected
    )
