"""Tiny convolutions: a validated call signature bound to its direct kernel call.

The bound call must give the dispatch's bits, never skip a check a different
call needs (other dtypes, strides, alignment, geometry values), and stand aside
for ``out=``, ``num_threads=``, forced paths and anything the direct kernel does
not run as one serial chunk.
"""

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _conv, _conv_lowering

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def empty_bound():
    _conv._BOUND.clear()
    yield
    _conv._BOUND.clear()


CASES = [
    ("conv1d", (2, 3, 20), (4, 3, 3), dict(padding=1)),
    ("conv2d", (1, 3, 16, 16), (3, 3, 3, 3), dict(padding=1)),
    ("conv2d", (3, 16, 16), (2, 3, 2, 2), dict(stride=2)),  # unbatched
    ("conv2d", (2, 4, 9, 11), (4, 2, 3, 3), dict(groups=2, dilation=2, padding=2)),
    ("conv3d", (1, 2, 5, 6, 7), (3, 2, 2, 2, 2), {}),
    ("conv_transpose1d", (2, 3, 20), (3, 4, 3), dict(stride=2)),
    ("conv_transpose2d", (1, 3, 16, 16), (3, 3, 3, 3), dict(stride=2)),
    ("conv_transpose2d", (2, 4, 7, 9), (4, 1, 4, 4), dict(stride=2, padding=1, groups=2,
                                                          output_padding=1)),
    ("conv_transpose3d", (1, 2, 4, 5, 6), (2, 3, 2, 2, 2), dict(stride=2)),
]




@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}{c[1]}")
def test_bound_call_gives_the_dispatch_bits(case, with_bias, dtype):
    name, x_shape, w_shape, kw = case
    fn = getattr(ux, name)
    x = RNG.standard_normal(x_shape).astype(dtype)
    w = RNG.standard_normal(w_shape).astype(dtype)
    out_channels = w_shape[1] * kw.get("groups", 1) if "transpose" in name else w_shape[0]
    b = RNG.standard_normal(out_channels).astype(dtype) if with_bias else None
    first = fn(x, w, b, **kw)
    assert len(_conv._BOUND) == 1  # tiny, direct, serial: bound
    x2 = RNG.standard_normal(x_shape).astype(dtype)  # new values, same signature
    second = fn(x2, w, b, **kw)
    _conv._BOUND.clear()
    np.testing.assert_array_equal(second, fn(x2, w, b, **kw))
    assert second.shape == first.shape and second.dtype == dtype
    previous = _conv_lowering.FORCE_PATH
    _conv_lowering.FORCE_PATH = "gemm"
    try:
        np.testing.assert_allclose(fn(x2, w, b, **kw), second, rtol=1e-4, atol=1e-4)
    finally:
        _conv_lowering.FORCE_PATH = previous


def test_other_signatures_are_validated_again():
    x = RNG.standard_normal((1, 3, 16, 16)).astype(np.float32)
    w = RNG.standard_normal((3, 3, 3, 3)).astype(np.float32)
    ux.conv2d(x, w, padding=1)
    assert len(_conv._BOUND) == 1
    with pytest.raises(TypeError, match="weight dtype float64 does not match x dtype float32"):
        ux.conv2d(x, w.astype(np.float64), padding=1)
    with pytest.raises(ValueError, match=r"padding must be non-negative, got \(-1, -1\)"):
        ux.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="x has 2 channels but weight of shape"):
        ux.conv2d(x[:, :2], w, padding=1)


def test_strided_unaligned_and_options_do_not_take_a_bound_call():
    x = RNG.standard_normal((1, 3, 16, 16)).astype(np.float32)
    w = RNG.standard_normal((3, 3, 3, 3)).astype(np.float32)
    expected = ux.conv2d(x, w, padding=1)
    assert len(_conv._BOUND) == 1
    wide = np.zeros((1, 3, 16, 32), np.float32)
    wide[..., ::2] = x
    np.testing.assert_array_equal(ux.conv2d(wide[..., ::2], w, padding=1), expected)
    raw = np.zeros(x.nbytes + 1, np.uint8)[1:].view(np.float32).reshape(x.shape)
    raw[...] = x
    assert not raw.flags.aligned
    np.testing.assert_array_equal(ux.conv2d(raw, w, padding=1), expected)
    out = np.empty_like(expected)
    assert ux.conv2d(x, w, padding=1, out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(ux.conv2d(x, w, padding=1, num_threads=2), expected)
    assert len(_conv._BOUND) == 1  # none of these made or used an entry


def test_large_and_winograd_problems_are_not_bound():
    x = RNG.standard_normal((2, 16, 24, 24)).astype(np.float32)
    ux.conv2d(x, RNG.standard_normal((16, 16, 3, 3)).astype(np.float32), padding=1)
    ux.conv2d(RNG.standard_normal((4, 8, 96, 96)).astype(np.float32),
              RNG.standard_normal((8, 8, 3, 3)).astype(np.float32), padding=1)
    assert not _conv._BOUND


def test_forced_path_bypasses_bound_calls(monkeypatch):
    x = RNG.standard_normal((1, 3, 16, 16)).astype(np.float32)
    w = RNG.standard_normal((3, 3, 3, 3)).astype(np.float32)
    ux.conv2d(x, w, padding=1)
    calls = []
    real = _conv_lowering.conv_forward
    monkeypatch.setattr(_conv_lowering, "conv_forward",
                        lambda *a: calls.append(1) or real(*a))
    ux.conv2d(x, w, padding=1)
    assert not calls  # bound
    monkeypatch.setattr(_conv_lowering, "FORCE_PATH", "direct")
    ux.conv2d(x, w, padding=1)
    assert calls == [1]
