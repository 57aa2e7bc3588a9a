"""Parity with torch 2.13 from stored answers: runs with or without torch installed.

``tests/fixtures/*.npz`` hold inputs and torch's outputs, written once by
``tests/fixtures/make_fixtures.py`` with the live suite's oracle (``_reference``). The
tolerances are the live tests': ``_reference.assert_matches`` for interpolate, and
test_conv's relative rule (bias gradients scaled by the size of their terms) for conv.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import _reference as ref
import upsamplex as ux

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CONV_TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}


def _load(name):
    """(open NpzFile, case list, meta): arrays are read lazily, case by case."""
    data = np.load(FIXTURES / name, allow_pickle=False)
    return data, json.loads(str(data["cases"])), json.loads(str(data["meta"]))


FORWARD, FORWARD_CASES, FORWARD_META = _load("interpolate_forward.npz")
BACKWARD, BACKWARD_CASES, BACKWARD_META = _load("interpolate_backward.npz")
CONV, CONV_CASES, CONV_META = _load("conv.npz")


def _kwargs(case):
    """JSON lists back to the tuples the functions take."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}


def _interp_id(case):
    kw = case["kwargs"]
    resize = "-".join(f"{k[:5]}{v}" for k, v in kw.items() if k not in ("mode", "antialias"))
    aa = "-aa" if kw.get("antialias") and kw["mode"] != "lanczos" else ""
    shape = case.get("input_shape")
    return f"{kw['mode']}{aa}-{case['dtype']}-{resize}" + (f"-in{shape}" if shape else "")


def _conv_id(case):
    kind = "convT" if case["transposed"] else "conv"
    kw = "-".join(f"{k[:3]}{v}" for k, v in case["kwargs"].items())
    return f"{kind}{case['nd']}d-{case['dtype']}-{kw}"


def _params(cases, make_id):
    return [pytest.param(case, id=f"{i}-{make_id(case)}") for i, case in enumerate(cases)]


def _channels_last(x):
    """The same values in a channels-last memory layout."""
    return np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)


def test_fixtures_are_torch_2_13():
    for meta in (FORWARD_META, BACKWARD_META, CONV_META):
        assert meta["torch"].split("+")[0] == "2.13.0"


def test_fixtures_cover_every_mode_dtype_and_align_corners():
    """The fixtures cannot silently shrink: every (mode, antialias, rank, align_corners,
    dtype) of the live suite is there, uint8 where torch has it, float for the backward."""
    def seen(cases):
        return {(c["kwargs"]["mode"], bool(c["kwargs"].get("antialias")),
                 len(c["kwargs"]["size"]) if "size" in c["kwargs"] else None,
                 c["kwargs"].get("align_corners"), c["dtype"]) for c in cases
                if "size" in c["kwargs"]}
    forward, backward = seen(FORWARD_CASES), seen(BACKWARD_CASES)
    for mode, antialias, nd in ref.MODE_SPECS:
        for ac in ref.align_corners_options(mode, antialias):
            for dtype in ("float32", "float64", "uint8"):
                key = (mode, antialias, nd, ac, dtype)
                if dtype != "uint8" or mode in ref.UINT8_MODES:
                    assert key in forward, key
                if dtype != "uint8":
                    assert key in backward, key
    # scale factors reach the kernel too (with and without recompute)
    assert any("scale_factor" in c["kwargs"] and "recompute_scale_factor" not in c["kwargs"]
               for c in FORWARD_CASES)
    kinds = {(c["transposed"], c["nd"], c["dtype"]) for c in CONV_CASES}
    assert len(kinds) == 2 * 3 * 2
    assert any(c["kwargs"]["groups"] > 1 for c in CONV_CASES)
    assert any(c["kwargs"]["dilation"] != 1 for c in CONV_CASES)


@pytest.mark.parametrize("case", _params(FORWARD_CASES, _interp_id))
def test_interpolate_matches_stored_torch(case):
    x, expected = FORWARD[case["x"]], FORWARD[case["y"]]
    kw = _kwargs(case)
    for layout, xin in (("contiguous", x), ("channels_last", _channels_last(x))):
        got = ux.interpolate(xin, **kw)
        assert got.dtype == x.dtype
        ref.assert_matches(got, expected, kw["mode"], f"{layout} {kw}")


@pytest.mark.parametrize("case", _params(BACKWARD_CASES, _interp_id))
def test_interpolate_backward_matches_stored_torch(case):
    g, expected = BACKWARD[case["g"]], BACKWARD[case["grad"]]
    kw = _kwargs(case)
    got = ux.interpolate_backward(g, tuple(case["input_shape"]), **kw)
    assert got.dtype == g.dtype and got.shape == expected.shape
    ref.assert_matches(got, expected, kw["mode"], str(kw))


def _assert_close(ours, expected, scale=None, what=""):
    """test_conv's rule: max error <= TOL * scale, scale = max|expected| unless given."""
    assert ours.shape == expected.shape and ours.dtype == expected.dtype, what
    if scale is None:
        scale = np.abs(expected).max(initial=0.0)
    err = np.abs(ours - expected).max(initial=0.0)
    assert err <= CONV_TOL[expected.dtype] * max(scale, 1e-30), (
        f"{what}: max error {err:.3g} vs scale {scale:.3g}")


@pytest.mark.parametrize("case", _params(CONV_CASES, _conv_id))
def test_conv_matches_stored_torch(case):
    x, w, b, gy = (CONV[case[k]] for k in ("x", "w", "b", "gy"))
    kw = _kwargs(case)
    nd = case["nd"]
    if case["transposed"]:
        forward = {1: ux.conv_transpose1d, 2: ux.conv_transpose2d, 3: ux.conv_transpose3d}[nd]
        backward = ux.conv_transpose_backward
    else:
        forward = {1: ux.conv1d, 2: ux.conv2d, 3: ux.conv3d}[nd]
        backward = ux.conv_backward
    _assert_close(forward(x, w, b, **kw), CONV[case["y"]], what="forward")
    gx, gw, gb = backward(gy, x, w, **kw)
    _assert_close(gx, CONV[case["gx"]], what="grad_input")
    _assert_close(gw, CONV[case["gw"]], what="grad_weight")
    # a bias gradient is a sum whose terms cancel: only as accurate as its terms' size
    terms = np.abs(gy).sum(axis=(0,) + tuple(range(2, gy.ndim))).max()
    _assert_close(gb, CONV[case["gb"]], scale=terms, what="grad_bias")
