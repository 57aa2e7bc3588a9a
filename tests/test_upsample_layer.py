"""``ux.Upsample``: a stateful layer equal to interpolate / interpolate_backward and to
``torch.nn.Upsample``."""

import numpy as np
import pytest

import _reference as ref
import upsamplex as ux

LAYER_CONFIGS = [
    ({"scale_factor": 2, "mode": "nearest"}, (2, 3, 5, 7)),
    ({"scale_factor": 1.7, "mode": "nearest-exact"}, (2, 3, 9)),
    ({"size": (9, 4), "mode": "bilinear", "align_corners": True}, (2, 3, 5, 7)),
    ({"scale_factor": (1.7, 0.6), "mode": "bicubic"}, (1, 2, 5, 7)),
    ({"scale_factor": 2.3, "mode": "linear", "recompute_scale_factor": True}, (2, 3, 7)),
    ({"size": 4, "mode": "trilinear", "align_corners": False}, (1, 2, 3, 5, 4)),
    ({"size": (2, 3), "mode": "area"}, (2, 3, 5, 7)),
]


def _id(cfg):
    return "-".join(f"{k}={v}" for k, v in cfg[0].items())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs, shape", LAYER_CONFIGS, ids=[_id(c) for c in LAYER_CONFIGS])
def test_forward_backward_equal_functional(kwargs, shape, dtype, rng):
    layer = ux.Upsample(**kwargs)
    x = rng.standard_normal(shape).astype(dtype)
    y = layer(x)
    np.testing.assert_array_equal(y, ux.interpolate(x, **kwargs))
    np.testing.assert_array_equal(layer.forward(x), y)
    g = rng.standard_normal(y.shape).astype(dtype)
    grad = layer.backward(g)
    assert grad.shape == x.shape and grad.dtype == dtype
    np.testing.assert_array_equal(grad, ux.interpolate_backward(g, x.shape, **kwargs))


@pytest.mark.parametrize("kwargs, shape", LAYER_CONFIGS, ids=[_id(c) for c in LAYER_CONFIGS])
def test_matches_torch_module(kwargs, shape, rng):
    import torch

    x = rng.standard_normal(shape)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = torch.nn.Upsample(**kwargs)(t)
    layer = ux.Upsample(**kwargs)
    y = layer(x)
    ref.assert_matches(y, ty.detach().numpy())
    g = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(g))
    ref.assert_matches(layer.backward(g), t.grad.numpy())


def test_backward_uses_last_forward_shape(rng):
    layer = ux.Upsample(scale_factor=2, mode="bilinear")
    layer(rng.standard_normal((1, 1, 3, 3)))
    x = rng.standard_normal((2, 3, 4, 5))
    y = layer(x)
    g = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(
        layer.backward(g), ux.interpolate_backward(g, x.shape, scale_factor=2, mode="bilinear"))
    # a grad_output that does not fit the last forward is refused
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 10\)"):
        layer.backward(np.zeros((1, 1, 6, 6)))


def test_backward_before_forward_raises():
    with pytest.raises(ValueError, match="forward"):
        ux.Upsample(size=3).backward(np.zeros((1, 1, 3, 3)))


def test_repr_is_readable():
    r = repr(ux.Upsample(scale_factor=2, mode="bilinear", align_corners=True))
    assert r.startswith("Upsample(")
    assert "scale_factor=2" in r and "mode='bilinear'" in r and "align_corners=True" in r
    r = repr(ux.Upsample(size=(3, 4)))
    assert "size=(3, 4)" in r and "mode='nearest'" in r
    assert "scale_factor" not in r


def test_attributes_like_torch():
    """torch.nn.Upsample stores float(scale_factor) and the other arguments as given."""
    layer = ux.Upsample(scale_factor=2, mode="bicubic", align_corners=False)
    assert layer.scale_factor == 2.0 and isinstance(layer.scale_factor, float)
    assert layer.mode == "bicubic" and layer.align_corners is False and layer.size is None


# ---------------------------------------------------------------- one Upsample
def _outcome(fn):
    """What calling ``fn`` gives: ("ok", value) or (exception type, message)."""
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - compared between the two classes
        return type(exc), str(exc)


UPSAMPLE_ARGS = [
    dict(scale_factor=2),
    dict(scale_factor=0),
    dict(scale_factor=0.0),
    dict(scale_factor=False),
    dict(scale_factor=-1),
    dict(scale_factor=float("nan")),
    dict(scale_factor=(2, 0)),
    dict(scale_factor=(1.5, 0.5), mode="bilinear", recompute_scale_factor=True),
    dict(scale_factor=[]),
    dict(scale_factor="x"),
    dict(),
    dict(size=0),
    dict(size=(3,)),
    dict(size=2.5),
    dict(size=(5, 7), mode="bicubic", align_corners=True),
    dict(size=3, scale_factor=2),
    dict(scale_factor=2, mode="bogus"),
    dict(scale_factor=2, mode="linear"),
    dict(scale_factor=2, mode="bilinear", align_corners=1),
    dict(scale_factor=2, recompute_scale_factor="yes"),
    dict(size=(3, 2), mode="area"),
]


@pytest.mark.parametrize("kwargs", UPSAMPLE_ARGS, ids=repr)
def test_nn_upsample_behaves_exactly_like_ux_upsample(kwargs):
    """nn.Upsample is ux.Upsample plus the Module protocol: same checks, numbers and repr."""
    from upsamplex import nn

    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    results = []
    for cls in (ux.Upsample, nn.Upsample):
        made = _outcome(lambda cls=cls: cls(**kwargs))
        if made[0] != "ok":
            results.append((made,))
            continue
        layer = made[1]
        fwd = _outcome(lambda layer=layer: layer(x))
        bwd = ("skipped",)
        if fwd[0] == "ok":
            g = np.ones_like(fwd[1])
            bwd = _outcome(lambda layer=layer, g=g: layer.backward(g).tolist())
            fwd = ("ok", fwd[1].tolist())
        bad_bwd = _outcome(lambda layer=layer: layer.backward(np.ones((1, 1, 1, 1))))
        attrs = {k: getattr(layer, k) for k in
                 ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")}
        results.append((repr(layer), str(attrs), fwd, bwd, bad_bwd))
    assert results[0] == results[1]


def test_nn_upsample_is_a_module_over_the_same_class():
    from upsamplex import nn

    layer = nn.Upsample(scale_factor=2)
    assert isinstance(layer, ux.Upsample) and isinstance(layer, nn.Module)
    assert nn.Upsample.forward is ux.Upsample.forward
    assert nn.Upsample.backward is ux.Upsample.backward
    assert list(layer.parameters()) == [] and layer.state_dict() == {}
    assert layer.eval() is layer and not layer.training
    model = nn.Sequential(nn.ReLU(), layer)
    assert repr(model) == (
        "Sequential(\n  (0): ReLU()\n  (1): Upsample(scale_factor=2.0, mode='nearest')\n)"
    )
    x = np.ones((1, 1, 2, 2))
    out = np.empty((1, 1, 4, 4))
    assert layer(x, out=out, num_threads=1) is out
