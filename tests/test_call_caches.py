"""The per-call caches of tiny calls: the plan cache's key and resize's plan memo.

A cached answer must never reach a call that differs in anything that changes
the result or the validation: value types (2, 2.0 and True hash alike), item
types of sequences, array shapes and dtypes.
"""

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _interpolate, _plan

RNG = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def fresh_caches():
    _plan.PLAN_CACHE.clear()
    _interpolate._RESIZE_PLANS.clear()
    yield
    _plan.PLAN_CACHE.clear()
    _interpolate._RESIZE_PLANS.clear()


def test_plan_key_tells_equal_values_of_other_types_apart():
    x = RNG.random((1, 2, 5, 7), dtype=np.float32)
    ux.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    with pytest.raises(TypeError, match="align_corners must be a bool or None, got int"):
        ux.interpolate(x, scale_factor=2, mode="bilinear", align_corners=0)
    ux.interpolate(x, size=(10, 14), mode="nearest")
    with pytest.raises(TypeError, match="size"):
        ux.interpolate(x, size=(10.0, 14), mode="nearest")
    with pytest.raises(TypeError, match="size"):
        ux.interpolate(x, size=(True, 14), mode="nearest")
    a = ux.interpolate(x, scale_factor=(2, 3), mode="bilinear")
    b = ux.interpolate(x, scale_factor=(2.0, 3.0), mode="bilinear")
    np.testing.assert_array_equal(a, b)  # both valid: equal results, separate entries
    assert len(_plan.PLAN_CACHE._items) == 4


@pytest.mark.parametrize("size", [[10, 14], np.array([10, 14])])
def test_plan_key_of_unhashable_arguments(size):
    x = RNG.random((1, 2, 5, 7), dtype=np.float32)
    expected = ux.interpolate(x, size=(10, 14), mode="bicubic")
    for _ in range(2):
        np.testing.assert_array_equal(ux.interpolate(x, size=size, mode="bicubic"), expected)


def test_resize_memo_answers_only_its_own_signature():
    img = (RNG.random((32, 24, 3)) * 255).astype(np.uint8)
    first = ux.resize(img, (16, 12))
    assert len(_interpolate._RESIZE_PLANS) == 1
    other = (RNG.random((32, 24, 3)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(ux.resize(other, (16, 12)),
                                  ux.interpolate(other, size=(16, 12), mode="bilinear",
                                                 antialias=True, axes=(0, 1)))
    np.testing.assert_array_equal(ux.resize(img, (16, 12)), first)
    # every argument that changes the answer makes its own entry
    assert ux.resize(img, (16, 12), mode="nearest").dtype == np.uint8
    assert not np.array_equal(ux.resize(img, (16, 12), antialias=False), first)
    assert ux.resize(img, (16, 3), channel_axis=1).shape == (16, 24, 3)
    assert ux.resize(img.astype(np.float32), (16, 12)).dtype == np.float32
    assert ux.resize(img[:30], (16, 12)).shape == (16, 12, 3)
    with pytest.raises(TypeError, match="shape"):
        ux.resize(img, (16.0, 12))
    with pytest.raises(TypeError, match="shape"):
        ux.resize(img, (16.0, 12))  # still checked the second time
    with pytest.raises(ValueError, match="mode must be one of"):
        ux.resize(img, (16, 12), mode="bogus")
    out = np.empty((16, 12, 3), np.uint8)
    assert ux.resize(img, (16, 12), out=out) is out
    np.testing.assert_array_equal(out, first)


def test_resize_memo_keeps_only_small_plans():
    big = np.zeros((4000, 4000), np.float32)
    ux.resize(big, (3000, 3000))
    assert not _interpolate._RESIZE_PLANS  # its tables exceed the memo's bound
