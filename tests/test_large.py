"""Arrays past 2**31 elements: 64-bit indexing end to end (torch #141831, #193689).

uint8 keeps them at 2 GiB each; the float kernels share the same Py_ssize_t index
arithmetic. (Per-axis tables hold one entry per output sample and tap, so they
stay small for images, which have at most tens of thousands of samples per axis.)
"""

import numpy as np
import pytest

import upsamplex as ux

pytestmark = pytest.mark.slow


def test_uint8_output_beyond_2_31_elements():
    # (46341 x 46341) > 2**31; every row is a ramp, so any 32-bit wrap-around of an
    # index shows up as a wrong value in the last rows.
    h, w = 46341, 46341
    x = np.broadcast_to(np.arange(w, dtype=np.int64) % 251, (1, 1, h, w)).astype(np.uint8)
    y = ux.interpolate(x, size=(h, w + 1), mode="nearest")
    assert y.size > 2**31
    src = np.floor(np.arange(w + 1, dtype=np.float32) * np.float32(w / (w + 1))).astype(int)
    expected_row = (np.minimum(src, w - 1) % 251).astype(np.uint8)
    np.testing.assert_array_equal(y[0, 0, -1], expected_row)
    np.testing.assert_array_equal(y[0, 0, h // 2], expected_row)


def test_uint8_separable_input_beyond_2_31_elements():
    # The fixed-point kernel reading a 2**31-element image: halve its height; the
    # ramp along W must survive exactly in the last output rows.
    h, w = 46342, 46341
    x = np.broadcast_to(np.arange(w, dtype=np.int64) % 251, (1, 1, h, w)).astype(np.uint8)
    assert x.size > 2**31
    y = ux.interpolate(x, size=(h // 2, w), mode="bilinear", antialias=True)
    expected_row = (np.arange(w) % 251).astype(np.uint8)
    np.testing.assert_array_equal(y[0, 0, -1], expected_row)
    np.testing.assert_array_equal(y[0, 0, h // 4], expected_row)
