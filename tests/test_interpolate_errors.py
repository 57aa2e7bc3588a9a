"""Bad input to interpolate / interpolate_backward / Upsample: the exception type AND a
semantic fragment of the message. A user's mistake is never a RuntimeError."""

import numpy as np
import pytest

import upsamplex as ux

X3 = np.zeros((1, 2, 6))
X4 = np.zeros((1, 2, 6, 5))
X5 = np.zeros((1, 2, 4, 6, 5))


def _raises(exc, match, *args, **kwargs):
    with pytest.raises(exc, match=match) as info:
        ux.interpolate(*args, **kwargs)
    assert not isinstance(info.value, RuntimeError)
    return info


# ------------------------------------------------------------------------------------
# ndim and mode
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, nd", [((6,), 1), ((6, 5), 2), ((1, 1, 2, 2, 2, 2), 6)])
def test_wrong_ndim(shape, nd):
    info = _raises(ValueError, f"got {nd}D", np.zeros(shape), size=3)
    if nd < 3:
        # the message tells the user how to fix it: add batch and channel axes
        assert "batch" in str(info.value) and "channel" in str(info.value)


@pytest.mark.parametrize("mode, x, needs", [
    ("linear", X4, "3-D"), ("linear", X5, "3-D"),
    ("bilinear", X3, "4-D"), ("bilinear", X5, "4-D"),
    ("trilinear", X3, "5-D"), ("trilinear", X4, "5-D"),
])
def test_mode_needs_other_ndim(mode, x, needs):
    _raises(ValueError, rf"{mode}\W* needs {needs} input.*got {x.ndim}-D", x, size=3, mode=mode)


@pytest.mark.parametrize("mode", ["cubic", "Bilinear", "nearest_exact", "", "spline"])
def test_unknown_mode(mode):
    _raises(ValueError, "mode", X4, size=3, mode=mode)


@pytest.mark.parametrize("mode", [None, 1, b"nearest", ("bilinear",)])
def test_non_string_mode(mode):
    _raises(TypeError, "mode", X4, size=3, mode=mode)


# ------------------------------------------------------------------------------------
# size and scale_factor
# ------------------------------------------------------------------------------------


def test_both_size_and_scale_factor():
    _raises(ValueError, "only one of size or scale_factor", X4, size=3, scale_factor=2)


def test_neither_size_nor_scale_factor():
    _raises(ValueError, "either size or scale_factor", X4)


@pytest.mark.parametrize("x, size", [(X4, (3,)), (X4, (3, 3, 3)), (X3, (3, 3)), (X5, (2, 2))])
def test_size_tuple_wrong_length(x, size):
    _raises(ValueError, "size", x, size=size)


@pytest.mark.parametrize("x, scale", [(X4, (2.0,)), (X4, (2.0, 2.0, 2.0)), (X3, (2.0, 2.0)),
                                      (X5, (2.0, 2.0))])
def test_scale_tuple_wrong_length(x, scale):
    _raises(ValueError, "scale_factor", x, scale_factor=scale)


@pytest.mark.parametrize("size", [2.5, 3.0, (3, 2.5), "3", (3, None), np.float64(3.0)])
def test_non_integer_size(size):
    _raises(TypeError, "size", X4, size=size)


@pytest.mark.parametrize("size", [0, -1, (3, 0), (-2, 3)])
def test_zero_or_negative_size(size):
    _raises(ValueError, "size", X4, size=size)


@pytest.mark.parametrize("scale", [0.1, (1.0, 0.15), 1e-9])
def test_output_size_rounds_to_zero(scale):
    """6 * 0.1 -> 0: the message says which output size came out."""
    _raises(ValueError, "size", X4, scale_factor=scale)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -float("inf"), -2.0, 0.0, 0,
                                   (2.0, float("nan")), (-1.0, 2.0)])
def test_invalid_scale_values(scale):
    _raises(ValueError, "scale_factor", X4, scale_factor=scale)


@pytest.mark.parametrize("scale", ["2", [2.0, "x"], object(), 2j])
def test_non_numeric_scale(scale):
    _raises(TypeError, "scale_factor", X4, scale_factor=scale)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "area"])
def test_output_too_large(mode):
    """Refused up front with a clear message, not a MemoryError or overflow."""
    _raises(ValueError, "too large", np.zeros((1, 1, 100, 100), np.float32), scale_factor=1e6,
            mode=mode)
    _raises(ValueError, "too large", np.zeros((1, 1, 100, 100), np.float32),
            size=(2**40, 2**40), mode=mode)


def test_huge_scale_undefined_behavior_casting():
    """torch's test_interpolate_undefined_behavior_casting: s = +-1e20 raises."""
    _raises(ValueError, "too large", X4, scale_factor=1e20)
    _raises(ValueError, "scale_factor", X4, scale_factor=-1e20)


def test_recompute_scale_factor_with_size():
    _raises(ValueError, "recompute_scale_factor", X4, size=3, recompute_scale_factor=True)


# ------------------------------------------------------------------------------------
# align_corners, antialias, lanczos
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "area"])
def test_align_corners_with_non_interpolating_mode(mode, align_corners):
    _raises(ValueError, "align_corners", X4, size=3, mode=mode, align_corners=align_corners)


@pytest.mark.parametrize("mode, x", [
    ("nearest", X4), ("nearest-exact", X4), ("area", X4), ("bilinear", X3),
    ("trilinear", X4)])
def test_antialias_with_unsupported_mode_or_ndim(mode, x):
    with pytest.raises(ValueError, match="(?i)antialias|anti-alias|needs"):
        ux.interpolate(x, size=3, mode=mode, antialias=True)


def test_antialias_message_names_antialias():
    _raises(ValueError, "(?i)antialias|anti-alias", X4, size=3, mode="nearest", antialias=True)


def test_lanczos_requires_antialias():
    _raises(ValueError, "antialias", X4, size=3, mode="lanczos")


def test_lanczos_rejects_align_corners_true():
    _raises(ValueError, "align_corners", X4, size=3, mode="lanczos", antialias=True,
            align_corners=True)


# ------------------------------------------------------------------------------------
# dtypes
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, mode", [
    (object, "nearest"), (np.str_, "nearest"), ("datetime64[s]", "nearest-exact"),
    (np.complex128, "bilinear"), (np.complex64, "bicubic"), (bool, "bilinear"),
    (np.int64, "bilinear"), (np.int32, "area"), (np.int8, "bicubic"), (np.uint32, "area")])
def test_unsupported_dtype(dtype, mode):
    # nearest takes every numeric dtype; the filters name the dtypes they take
    info = _raises(TypeError, "dtype", np.zeros((1, 1, 4, 4), dtype=dtype), size=3, mode=mode)
    expected = "any numeric dtype" if mode.startswith("nearest") else "float16, float32"
    assert expected in str(info.value)


# ------------------------------------------------------------------------------------
# out= and num_threads
# ------------------------------------------------------------------------------------


def test_out_wrong_shape():
    _raises(ValueError, "out", X4, size=3, out=np.empty((1, 2, 3, 4)))
    _raises(ValueError, "out", X4, size=3, out=np.empty((1, 2, 3)))


def test_out_wrong_dtype():
    _raises(TypeError, "out", X4, size=3, out=np.empty((1, 2, 3, 3), np.float32))
    _raises(TypeError, "out", X4.astype(np.uint8), size=3, out=np.empty((1, 2, 3, 3)))


def test_out_read_only():
    out = np.empty((1, 2, 3, 3))
    out.flags.writeable = False
    _raises(ValueError, "out", X4, size=3, out=out)


@pytest.mark.parametrize("out", [[[[[0.0] * 3] * 3] * 2], 3.0, "out"])
def test_out_not_an_ndarray(out):
    _raises(TypeError, "out", X4, size=3, out=out)


@pytest.mark.parametrize("num_threads", [0, -1, -8])
def test_num_threads_not_positive(num_threads):
    _raises(ValueError, "num_threads", X4, size=3, num_threads=num_threads)


@pytest.mark.parametrize("num_threads", ["2", 2.0, [2]])
def test_num_threads_wrong_type(num_threads):
    _raises(TypeError, "num_threads", X4, size=3, num_threads=num_threads)


# ------------------------------------------------------------------------------------
# interpolate_backward and Upsample
# ------------------------------------------------------------------------------------


def test_backward_grad_output_wrong_shape_names_expected():
    with pytest.raises(ValueError, match=r"\(1, 2, 12, 10\)"):
        ux.interpolate_backward(np.zeros((1, 2, 12, 9)), (1, 2, 6, 5), scale_factor=2)
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 3\)"):
        ux.interpolate_backward(np.zeros((2, 2, 3, 3)), (1, 2, 6, 5), size=3, mode="bilinear")


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.uint16, np.complex128])
def test_backward_unsupported_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        ux.interpolate_backward(np.zeros((1, 2, 3, 3), dtype), (1, 2, 6, 5), size=3)


def test_backward_validates_like_forward():
    g = np.zeros((1, 2, 3, 3))
    with pytest.raises(ValueError, match="align_corners"):
        ux.interpolate_backward(g, (1, 2, 6, 5), size=3, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match=r"bilinear\W* needs 4-D"):
        ux.interpolate_backward(np.zeros((1, 2, 3)), (1, 2, 6), size=3, mode="bilinear")
    with pytest.raises(ValueError, match="either size or scale_factor"):
        ux.interpolate_backward(g, (1, 2, 6, 5))
    with pytest.raises(ValueError, match="num_threads"):
        ux.interpolate_backward(g, (1, 2, 6, 5), size=3, num_threads=0)
    with pytest.raises(ValueError, match="out"):
        ux.interpolate_backward(g, (1, 2, 6, 5), size=3, out=np.zeros((1, 2, 3, 3)))
    with pytest.raises(TypeError, match="out"):
        ux.interpolate_backward(g, (1, 2, 6, 5), size=3, out=np.zeros((1, 2, 6, 5), np.float32))


def test_upsample_backward_before_forward():
    layer = ux.Upsample(scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="forward"):
        layer.backward(np.zeros((1, 1, 4, 4)))


def test_upsample_rejects_wrong_ndim():
    with pytest.raises(ValueError, match=r"bilinear\W* needs 4-D"):
        ux.Upsample(scale_factor=2, mode="bilinear")(X3)


def test_non_native_byte_order_names_the_fix():
    x = np.arange(8, dtype=">f4").reshape(1, 1, 8)
    with pytest.raises(TypeError, match="non-native byte order"):
        ux.interpolate(x, scale_factor=2, mode="linear")


def test_out_overlapping_the_input_is_refused():
    # The kernels read the input while they write out: an alias would corrupt both.
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    with pytest.raises(ValueError, match="out overlaps the input"):
        ux.interpolate(x, size=(6, 6), mode="bilinear", out=x)
    g = np.ones((1, 2, 6, 6))
    with pytest.raises(ValueError, match="out overlaps the grad_output"):
        ux.interpolate_backward(g, g.shape, size=(6, 6), mode="bilinear", out=g)
