"""Hypothesis fuzz of every conv entry point against torch (issue "Hardening").

Random geometry (rank, batch, channels, groups, kernel, stride, padding incl. 'same' and
'valid', dilation, output_padding, bias, dtype, shapes that reach Winograd). Each case
either equals torch's forward and autograd gradients within the suite's tolerances, is
a documented difference (README, Differences from PyTorch), or is a ValueError/TypeError
where torch refuses too. Derandomized under CI=true (tests/conftest.py).
"""

import warnings

import numpy as np
import pytest
from _torch import F, torch
from hypothesis import event, given
from hypothesis import strategies as st
from test_conv import assert_close, assert_grads_close

import upsamplex as ux

CONV = {1: ux.conv1d, 2: ux.conv2d, 3: ux.conv3d}
CONV_T = {1: ux.conv_transpose1d, 2: ux.conv_transpose2d, 3: ux.conv_transpose3d}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@st.composite
def problems(draw):
    nd = draw(st.sampled_from([1, 2, 2, 3]))
    transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    winograd = nd == 2 and not transposed and groups == 1 and draw(st.booleans())
    if winograd:  # 3x3, stride 1, >= 16 channels: the Winograd path
        c_in, c_out = draw(st.sampled_from([16, 17])), draw(st.sampled_from([16, 18]))
        kernel, stride, dilation = (3, 3), (1, 1), (1, 1)
    else:
        c_in = groups * draw(st.integers(1, 3))
        c_out = groups * draw(st.integers(1, 3))
        kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
        stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
        dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    size = tuple(draw(st.integers(1, 9 if nd < 3 else 5)) for _ in range(nd))
    padding = draw(
        st.one_of(
            st.tuples(*[st.integers(0, 4)] * nd),
            st.sampled_from(["same", "valid"]) if not transposed else st.nothing(),
        )
    )
    output_padding = tuple(draw(st.integers(0, 2)) for _ in range(nd)) if transposed else None
    return dict(
        nd=nd,
        transposed=transposed,
        batch=draw(st.sampled_from([None, 1, 2])),
        c_in=c_in,
        c_out=c_out,
        groups=groups,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        size=size,
        padding=padding,
        output_padding=output_padding,
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        seed=draw(st.integers(0, 2**16)),
    )


def _torch_run(p, x, w, b, gy_seed):
    nd = p["nd"]
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    kw = dict(stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
              groups=p["groups"])
    with warnings.catch_warnings():
        # torch warns (once per process) that 'same' with an even kernel copies the input.
        warnings.filterwarnings("ignore", "Using padding='same'", UserWarning)
        if p["transposed"]:
            y = TORCH_CONV_T[nd](xt, wt, bt, output_padding=p["output_padding"], **kw)
        else:
            y = TORCH_CONV[nd](xt, wt, bt, **kw)
    gy = np.random.default_rng(gy_seed).standard_normal(tuple(y.shape)).astype(x.dtype)
    y.backward(torch.tensor(gy))
    return y.detach().numpy(), gy, (xt.grad, wt.grad, None if bt is None else bt.grad)


def _ours(p, x, w, b, gy):
    nd = p["nd"]
    kw = dict(stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
              groups=p["groups"])
    if p["transposed"]:
        kw["output_padding"] = p["output_padding"]
        y = CONV_T[nd](x, w, b, **kw)
        grads = None if gy is None else ux.conv_transpose_backward(gy, x, w, **kw)
    else:
        y = CONV[nd](x, w, b, **kw)
        grads = None if gy is None else ux.conv_backward(gy, x, w, **kw)
    return y, grads


@given(problems())
def test_conv_fuzz_against_torch(p):
    rng = np.random.default_rng(p["seed"])
    dtype, nd, g = p["dtype"], p["nd"], p["groups"]
    shape = (p["c_in"],) + p["size"]
    if p["batch"] is not None:
        shape = (p["batch"],) + shape
    x = rng.standard_normal(shape).astype(dtype)
    if p["transposed"]:
        w_shape = (p["c_in"], p["c_out"] // g) + p["kernel"]
    else:
        w_shape = (p["c_out"], p["c_in"] // g) + p["kernel"]
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(p["c_out"]).astype(dtype) if p["bias"] else None
    try:
        y_ref, gy, grads_ref = _torch_run(p, x, w, b, p["seed"] + 1)
    except (RuntimeError, ValueError) as torch_error:
        # torch refuses: so must we, with a clear error naming what is wrong.
        try:
            _ours(p, x, w, b, None)
        except (ValueError, TypeError) as exc:
            assert str(exc), exc
            event(f"both refuse ({type(exc).__name__})")
            return
        raise AssertionError(f"torch refused ({torch_error}) but upsamplex did not") from None
    if 0 in y_ref.shape[-nd:]:
        # Documented difference: torch's float32 path for a batch >= 2 or groups > 1
        # returns an empty array when the computed size is 0 (its other paths refuse);
        # we always refuse.
        assert p["transposed"] and dtype == np.float32
        assert (p["batch"] or 1) >= 2 or p["groups"] > 1
        with pytest.raises(ValueError, match="calculated output size .* is too small"):
            _ours(p, x, w, b, None)
        event("documented difference (zero-size output)")
        return
    y, grads = _ours(p, x, w, b, gy)
    event("equal to torch" + (" (Winograd shape)" if p["c_in"] >= 16 else ""))
    assert_close(y, y_ref, dtype)
    assert_grads_close(grads, grads_ref, gy if gy.ndim == nd + 2 else gy[np.newaxis], dtype)
