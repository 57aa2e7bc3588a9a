"""upsamplex.nn against torch.nn: layers' forward/backward, Module machinery, training parity."""

import math

import numpy as np
import pytest

import upsamplex
from upsamplex import nn, optim

torch = pytest.importorskip("torch")
tnn = torch.nn

CONV_FUNCS = ("conv1d", "conv2d", "conv3d", "conv_backward")
CONVT_FUNCS = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
               "conv_transpose_backward")
INTERP_FUNCS = ("interpolate", "interpolate_backward")


def require(*names):
    """Skip only while a functional op this layer builds on has not landed yet."""
    missing = [n for n in names if not hasattr(upsamplex, n)]
    if missing:
        pytest.skip(f"upsamplex lacks {', '.join(missing)}")


def tol(dtype):
    return 1e-12 if dtype == np.float64 else 2e-5


def torch_twin(module):
    """The torch.nn module with the same configuration and the same parameter values."""
    if isinstance(module, nn.Sequential):
        twin = tnn.Sequential(*(torch_twin(m) for m in module))
    elif isinstance(module, nn.Upsample):
        twin = tnn.Upsample(module.size, module.scale_factor, module.mode, module.align_corners,
                            module.recompute_scale_factor)
    elif isinstance(module, nn.LeakyReLU):
        twin = tnn.LeakyReLU(module.negative_slope)
    elif type(module).__name__.startswith("Conv"):
        kw = dict(stride=module.stride, padding=module.padding, dilation=module.dilation,
                  groups=module.groups, bias=module.bias is not None,
                  dtype=_tdtype(module.weight.dtype))
        if "Transpose" in type(module).__name__:
            kw["output_padding"] = module.output_padding
        twin = getattr(tnn, type(module).__name__)(module.in_channels, module.out_channels,
                                                   module.kernel_size, **kw)
    else:
        twin = getattr(tnn, type(module).__name__)()
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(module.named_parameters(), twin.named_parameters()):
            assert name == tname
            tp.copy_(torch.from_numpy(p.data))
    return twin


def _tdtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def check_against_torch(module, x, **fwd_kwargs):
    """Forward, input gradient and parameter gradients equal torch autograd's."""
    twin = torch_twin(module)
    rng = np.random.default_rng(7)
    y = module(x, **fwd_kwargs)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = twin(xt, **fwd_kwargs)
    assert y.shape == tuple(yt.shape) and y.dtype == x.dtype
    atol = tol(x.dtype)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=atol)
    g = rng.standard_normal(y.shape).astype(x.dtype)
    gx = module.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=0, atol=atol * 10)
    for (name, p), tp in zip(module.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=0, atol=atol * 10, err_msg=name)


def rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- conv layers
CONVT_CASES = [
    (nn.ConvTranspose1d, (4, 6, 3), dict(stride=2, padding=1, output_padding=1), (2, 4, 7)),
    (nn.ConvTranspose2d, (8, 16, 4), dict(stride=2, padding=1), (2, 8, 5, 5)),
    (nn.ConvTranspose2d, (4, 6, (3, 2)), dict(stride=(3, 2), padding=(1, 0), groups=2,
                                             dilation=(1, 2), bias=False), (1, 4, 4, 5)),
    (nn.ConvTranspose2d, (3, 2, 3), dict(stride=1, dilation=2, output_padding=1), (3, 5, 4)),
    (nn.ConvTranspose3d, (2, 4, 3), dict(stride=2, padding=1, output_padding=(1, 0, 1)),
     (1, 2, 3, 4, 3)),
]
CONV_CASES = [
    (nn.Conv1d, (4, 6, 3), dict(stride=2, padding=1), (2, 4, 9)),
    (nn.Conv2d, (16, 1, 3), dict(padding=1), (2, 16, 6, 6)),
    (nn.Conv2d, (4, 6, (3, 2)), dict(stride=(2, 1), dilation=(1, 2), groups=2, bias=False),
     (1, 4, 7, 8)),
    (nn.Conv2d, (4, 3, 4), dict(padding="same", dilation=1), (2, 4, 6, 5)),
    (nn.Conv2d, (3, 2, 3), dict(padding="valid"), (3, 6, 5)),
    (nn.Conv3d, (2, 3, 3), dict(padding=(1, 0, 1), stride=(1, 2, 1)), (1, 2, 4, 5, 4)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's, for even k
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls,args,kwargs,shape", CONVT_CASES + CONV_CASES)
def test_conv_layers_match_torch(cls, args, kwargs, shape, dtype):
    require(*(CONVT_FUNCS if "Transpose" in cls.__name__ else CONV_FUNCS))
    layer = cls(*args, **kwargs, dtype=dtype, rng=1)
    check_against_torch(layer, rand(shape, dtype))


def test_conv_grads_accumulate_until_zero_grad():
    require(*CONVT_FUNCS)
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float64, rng=0)
    x = rand((1, 2, 4, 4))
    g = rand(layer(x).shape, seed=1)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-14)
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


@pytest.mark.parametrize("output_size", [(9, 10), (10, 9), (2, 8, 10, 10), [9, 9]])
def test_convtranspose_output_size_matches_torch(output_size):
    require(*CONVT_FUNCS)
    layer = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, dtype=np.float64, rng=0)
    check_against_torch(layer, rand((2, 8, 5, 5)), output_size=output_size)


def test_convtranspose_output_size_out_of_range():
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, rng=0)
    x = np.zeros((1, 1, 4, 4), np.float32)
    msg = ("requested an output size of [12, 12], but valid sizes range from [7, 7] to [8, 8] "
           "(for an input of [4, 4])")
    with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        layer(x, output_size=(12, 12))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        layer(x, output_size=(8,))


def test_unbatched_input():
    require(*CONVT_FUNCS)
    layer = nn.ConvTranspose1d(3, 2, 3, stride=2, dtype=np.float64, rng=0)
    x = rand((3, 5))
    batched = layer(x[None])[0]
    y = layer(x)
    np.testing.assert_allclose(y, batched, rtol=0, atol=0)
    assert layer.backward(np.ones_like(y)).shape == x.shape


@pytest.mark.parametrize(
    "cls,args,kwargs",
    [
        (nn.ConvTranspose2d, (8, 16, 4), dict(stride=2, padding=1)),
        (nn.ConvTranspose3d, (6, 4, 3), dict(groups=2)),
        (nn.Conv2d, (6, 4, (3, 5)), dict(groups=2)),
        (nn.Conv1d, (3, 5, 7), {}),
    ],
)
def test_default_init_bounds_like_torch(cls, args, kwargs):
    layer = cls(*args, **kwargs, rng=np.random.default_rng(3))
    twin = getattr(tnn, cls.__name__)(*args, **kwargs)
    fan_in = layer.weight.shape[1] * math.prod(layer.kernel_size)
    bound = 1 / math.sqrt(fan_in)
    assert layer.weight.shape == tuple(twin.weight.shape)
    assert layer.bias.shape == tuple(twin.bias.shape)
    for ours, theirs in ((layer.weight.data, twin.weight), (layer.bias.data, twin.bias)):
        assert np.abs(ours).max() <= bound
        assert np.abs(theirs.detach().numpy()).max() <= bound
    # spread close to the bound: it is U(-b, b), not something narrower
    assert np.abs(layer.weight.data).max() > 0.8 * bound
    assert layer.weight.dtype == np.float32


def test_init_is_seedable():
    a = nn.Conv2d(3, 4, 3, rng=5)
    b = nn.Conv2d(3, 4, 3, rng=np.random.default_rng(5))
    c = nn.Conv2d(3, 4, 3, rng=6)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    assert nn.Conv2d(3, 4, 3, dtype=np.float64).weight.dtype == np.float64


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect"), ValueError,
         'Only "zeros" padding mode is supported for ConvTranspose2d'),
        (lambda: nn.Conv2d(2, 2, 3, padding_mode="circular"), ValueError, 'Only "zeros"'),
        (lambda: nn.Conv2d(3, 2, 3, groups=2), ValueError, "in_channels must be divisible by"),
        (lambda: nn.ConvTranspose2d(4, 3, 3, groups=2), ValueError, "out_channels must be divis"),
        (lambda: nn.ConvTranspose2d(2, 2, 3, groups=0), ValueError, "groups must be a positive"),
        (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), ValueError,
         "smaller than either stride or dilation"),
        (lambda: nn.Conv2d(2, 2, 3, stride=2, padding="same"), ValueError, "strided"),
        (lambda: nn.ConvTranspose2d(2, 2, 3, padding="same"), ValueError, "padding must be"),
        (lambda: nn.Conv2d(2, 2, (3, 3, 3)), ValueError, "kernel_size must be an int or a tuple"),
        (lambda: nn.Conv2d(2, 2, 3, dtype=np.int32), TypeError, "float32 or float64"),
    ],
)
def test_conv_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_conv_input_errors():
    layer = nn.Conv2d(3, 2, 3, rng=0)
    with pytest.raises(ValueError, match="expected input with 3 channels, got 4"):
        layer(np.zeros((1, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="4-D"):
        layer(np.zeros((5, 5), np.float32))
    with pytest.raises(TypeError, match="dtype float64 does not match"):
        layer(np.zeros((1, 3, 5, 5)))


# ---------------------------------------------------------------- upsample
UPSAMPLE_CASES = [
    (dict(scale_factor=2, mode="nearest"), (2, 3, 4, 5)),
    (dict(scale_factor=2, mode="bilinear"), (2, 3, 4, 5)),
    (dict(size=(7, 9), mode="bicubic", align_corners=True), (1, 2, 4, 5)),
    (dict(scale_factor=(1.5, 0.5), mode="bilinear", recompute_scale_factor=True), (1, 2, 6, 6)),
    (dict(scale_factor=3, mode="linear", align_corners=False), (2, 2, 5)),
    (dict(size=(4, 6, 3), mode="trilinear"), (1, 2, 3, 3, 2)),
    (dict(scale_factor=2, mode="nearest-exact"), (1, 1, 3, 3, 3)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs,shape", UPSAMPLE_CASES)
def test_upsample_matches_torch(kwargs, shape, dtype):
    require(*INTERP_FUNCS)
    check_against_torch(nn.Upsample(**kwargs), rand(shape, dtype))


# ---------------------------------------------------------------- activations and losses
ACTIVATIONS = [nn.ReLU(), nn.LeakyReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh()]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
def test_activations_match_torch(act, dtype):
    x = rand((3, 4, 5), dtype)
    x[0, 0, :4] = [0.0, -0.0, 60.0, -800.0]  # ties at zero and overflow-prone values
    check_against_torch(act, x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
def test_losses_match_torch(name, reduction, dtype):
    pred, target = rand((2, 3, 4), dtype, 1), rand((2, 3, 4), dtype, 2)
    target[0, 0] = pred[0, 0]  # zero differences: L1's gradient is sign(0) = 0 there
    ours = getattr(nn, name)(reduction=reduction)
    theirs = getattr(tnn, name)(reduction=reduction)
    pt = torch.from_numpy(pred.copy()).requires_grad_(True)
    loss, tloss = ours(pred, target), theirs(pt, torch.from_numpy(target))
    np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=tol(dtype))
    if reduction == "none":
        g = rand(pred.shape, dtype, 3)
        grad = ours.backward(g)
        tloss.backward(torch.from_numpy(g))
    else:
        grad = ours.backward()
        tloss.backward()
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=0, atol=tol(dtype) * 1e-2)


def test_loss_errors():
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    loss = nn.L1Loss(reduction="none")
    with pytest.raises(ValueError, match="before forward"):
        loss.backward(np.ones(3))
    loss(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="needs grad_output"):
        loss.backward()
    with pytest.raises(ValueError, match="target shape"):
        nn.MSELoss()(np.zeros(3), np.zeros(4))


# ---------------------------------------------------------------- Module machinery
def make_decoder(dtype=np.float64, seed=0):
    """The issue's model: ConvTranspose -> ReLU -> bilinear Upsample -> Conv."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Conv2d(16, 1, 3, padding=1, dtype=dtype, rng=rng),
    )


def test_repr_matches_torch():
    model = make_decoder()
    assert repr(model) == repr(torch_twin(model))
    for module in [nn.LeakyReLU(0.2), nn.Upsample(size=(3, 4)), nn.MSELoss(),
                   nn.L1Loss(reduction="sum"), nn.Conv2d(3, 6, 3, groups=3, bias=False, dilation=2),
                   nn.ConvTranspose3d(2, 2, 3, output_padding=1, stride=2)]:
        twin = (torch_twin(module) if not isinstance(module, (nn.MSELoss, nn.L1Loss))
                else getattr(tnn, type(module).__name__)(reduction=module.reduction))
        assert repr(module) == repr(twin)
    assert repr(nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1)) == (
        "ConvTranspose2d(8, 16, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))"
    )


def test_named_parameters_and_sequential_protocol():
    model = make_decoder()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert names == list(torch_twin(model).state_dict())
    assert len(model) == 4 and isinstance(model[1], nn.ReLU) and model[-1] is model[3]
    assert [type(m).__name__ for m in model[1:3]] == ["ReLU", "Upsample"]
    assert list(model[2:].state_dict()) == ["3.weight", "3.bias"]
    assert len(list(model.parameters())) == 4
    assert len(list(model)) == 4
    with pytest.raises(IndexError):
        model[4]


def test_train_eval_and_zero_grad():
    model = make_decoder()
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    for p in model.parameters():
        p.accumulate_grad(np.ones(p.shape))
    model.zero_grad(set_to_none=False)
    assert all(np.all(p.grad == 0) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_parameter_assignment_is_checked():
    layer = nn.Conv1d(1, 1, 1)
    with pytest.raises(TypeError, match="assign to weight.data"):
        layer.weight = np.zeros((1, 1, 1))
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_backward_errors():
    relu = nn.ReLU()
    with pytest.raises(ValueError, match=r"ReLU.backward\(\) was called before forward"):
        relu.backward(np.ones(3))
    relu(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\), expected \(2, 3\)"):
        relu.backward(np.ones(3))
    with pytest.raises(ValueError, match="before forward"):
        make_decoder().backward(np.ones((1, 1, 4, 4)))


def test_save_load_round_trip(tmp_path):
    model, other = make_decoder(seed=0), make_decoder(seed=1)
    path = tmp_path / "decoder.npz"
    model.save(path)
    other.load(path)
    for (n, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)
    model.save(tmp_path / "noext")  # numpy appends .npz; load finds it
    other.load(tmp_path / "noext")
    sd = model.state_dict()
    sd["0.weight"][...] = 0  # a copy: the model is untouched
    assert np.any(model[0].weight.data != 0)


def test_load_state_dict_errors_name_the_key():
    model = make_decoder()
    good = model.state_dict()
    before = model.state_dict()

    bad = dict(good, extra=np.zeros(1))
    with pytest.raises(KeyError, match="unexpected key.*'extra'"):
        model.load_state_dict(bad)
    bad = dict(good)
    del bad["3.bias"]
    with pytest.raises(KeyError, match="missing key.*'3.bias'"):
        model.load_state_dict(bad)
    bad = dict(good, **{"3.weight": np.zeros((1, 16, 5, 5))})
    with pytest.raises(ValueError, match=r"shape mismatch for '3.weight'.*\(1, 16, 3, 3\)"):
        model.load_state_dict(bad)
    bad = dict(good, **{"0.bias": np.zeros(16, np.float32)})
    with pytest.raises(ValueError, match="dtype mismatch for '0.bias'.*float64.*float32"):
        model.load_state_dict(bad)
    for k, v in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(v, before[k])
    # non-strict loading ignores missing/unexpected keys
    missing, unexpected = model.load_state_dict({"0.bias": np.ones(16), "x": 1}, strict=False)
    assert "3.weight" in missing and unexpected == ["x"]
    assert np.all(model[0].bias.data == 1)


def test_load_torch_state_dict():
    model = make_decoder(seed=0)
    twin = torch_twin(make_decoder(seed=1))
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    np.testing.assert_array_equal(model[3].weight.data, twin[3].weight.detach().numpy())


# ---------------------------------------------------------------- training parity
def train_both(make_opts, steps=5, dtype=np.float64):
    """Train our decoder and its torch twin on the same batches; return the max weight gap."""
    require(*CONVT_FUNCS, *CONV_FUNCS, *INTERP_FUNCS)
    model = make_decoder(dtype)
    twin = torch_twin(model)
    opt, topt = make_opts(model.parameters(), twin.parameters())
    loss_fn, tloss_fn = nn.MSELoss(), tnn.MSELoss()
    rng = np.random.default_rng(42)
    losses = []
    for _ in range(steps):
        xb = rng.standard_normal((2, 8, 4, 4)).astype(dtype)
        yb = rng.standard_normal((2, 1, 16, 16)).astype(dtype)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        model.backward(loss_fn.backward())
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(twin(torch.from_numpy(xb)), torch.from_numpy(yb))
        tloss.backward()
        topt.step()
        losses.append((float(loss), tloss.item()))
    gap = max(np.max(np.abs(p.data - tp.detach().numpy()))
              for p, tp in zip(model.parameters(), twin.parameters()))
    return gap, losses


@pytest.mark.parametrize(
    "name,make_opts",
    [
        ("sgd-momentum", lambda a, b: (optim.SGD(a, lr=0.1, momentum=0.9),
                                       torch.optim.SGD(b, lr=0.1, momentum=0.9))),
        ("adam", lambda a, b: (optim.Adam(a, lr=1e-2), torch.optim.Adam(b, lr=1e-2))),
        ("adamw-amsgrad", lambda a, b: (optim.AdamW(a, lr=1e-2, amsgrad=True),
                                        torch.optim.AdamW(b, lr=1e-2, amsgrad=True))),
    ],
)
def test_training_run_matches_torch(name, make_opts):
    gap, losses = train_both(make_opts)
    print(f"{name}: max |weight difference| after 5 steps = {gap:.3e}")
    assert gap <= 1e-9
    for ours, theirs in losses:
        assert abs(ours - theirs) <= 1e-9 * max(1.0, abs(theirs))
    assert losses[-1][0] < losses[0][0]


def test_issue_example_runs_in_float32(tmp_path):
    require(*CONVT_FUNCS, *CONV_FUNCS, *INTERP_FUNCS)
    model = nn.Sequential(nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1, rng=0), nn.ReLU(),
                          nn.Upsample(scale_factor=2, mode="bilinear"),
                          nn.Conv2d(16, 1, 3, padding=1, rng=1))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((4, 8, 4, 4)).astype(np.float32)
    yb = rng.standard_normal((4, 1, 16, 16))  # float64 target: cast to the prediction's dtype
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        model.backward(loss_fn.backward())
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32
               for p in model.parameters())
    model.save(tmp_path / "decoder.npz")
    before = model(xb)
    for p in model.parameters():
        p.data[...] = 0
    model.load(tmp_path / "decoder.npz")
    np.testing.assert_array_equal(model(xb), before)


# ---------------------------------------------------------------- layers over the functional ops
SAME_CASES = [
    (nn.Conv1d, 4, 1, (2, 3, 9)),
    (nn.Conv1d, 3, 2, (3, 7)),
    (nn.Conv2d, (4, 3), (1, 2), (2, 3, 6, 7)),
    (nn.Conv2d, 2, 3, (1, 3, 8, 5)),
    (nn.Conv3d, (2, 3, 4), 1, (1, 3, 5, 4, 6)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's, for even k
@pytest.mark.parametrize("cls,kernel,dilation,shape", SAME_CASES)
def test_same_padding_is_the_functional_ops(cls, kernel, dilation, shape):
    """padding='same' (odd and even totals) is handed to conv*d / conv_backward as is."""
    layer = cls(3, 2, kernel, padding="same", dilation=dilation, dtype=np.float64, rng=0)
    x = rand(shape)
    conv = getattr(upsamplex, f"conv{layer._n}d")
    y = layer(x)
    np.testing.assert_array_equal(
        y, conv(x, layer.weight.data, layer.bias.data, padding="same", dilation=dilation))
    assert y.shape == x.shape[:-layer._n - 1] + (2,) + x.shape[-layer._n:]
    g = rand(y.shape, seed=1)
    gx = layer.backward(g)
    grads = upsamplex.conv_backward(g, x, layer.weight.data, padding="same", dilation=dilation)
    np.testing.assert_array_equal(gx, grads[0])
    np.testing.assert_array_equal(layer.weight.grad, grads[1])
    check_against_torch(cls(3, 2, kernel, padding="same", dilation=dilation,
                            dtype=np.float64, rng=0), x)


def test_layers_do_not_look_ops_up_on_the_package(monkeypatch):
    """nn imports the ops it uses; rebinding names on ``upsamplex`` does not change a layer."""
    def broken(*args, **kwargs):
        raise AssertionError("nn looked the op up on the upsamplex package")

    for name in CONV_FUNCS + CONVT_FUNCS + INTERP_FUNCS:
        monkeypatch.setattr(upsamplex, name, broken)
    model = make_decoder()
    y = model(rand((1, 8, 3, 3)))
    model.backward(np.ones_like(y))
    for cls in (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose3d):
        layer = cls(2, 2, 1, dtype=np.float64)
        out = layer(rand((1, 2) + (2,) * layer._n))
        layer.backward(np.ones_like(out))


SPECIALS = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.0, -3.0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [lambda: (nn.ReLU(), tnn.ReLU()),
                                  lambda: (nn.LeakyReLU(0.2), tnn.LeakyReLU(0.2)),
                                  lambda: (nn.LeakyReLU(-1.5), tnn.LeakyReLU(-1.5))],
                         ids=["relu", "leaky0.2", "leaky-1.5"])
def test_piecewise_activations_bit_equal_torch_on_special_values(make, dtype):
    """NaN, +-0, +-inf and subnormals in input and gradient: torch's exact bits.

    torch's ReLU keeps -0.0 and NaN (clamp_min) and passes the gradient where the output is
    NaN (threshold_backward tests out <= 0); the old np.maximum / np.where(out > 0) did not.
    """
    ours, theirs = make()
    x = np.array([[a for a in SPECIALS for _ in SPECIALS]], dtype)
    g = np.array([[b for _ in SPECIALS for b in SPECIALS]], dtype)
    x = np.concatenate([x, rand(x.shape, dtype)], axis=0)
    g = np.concatenate([g, rand(g.shape, dtype, 1)], axis=0)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    y, gx = ours(x), ours.backward(g)
    uint = np.uint64 if dtype == np.float64 else np.uint32
    np.testing.assert_array_equal(y.view(uint), yt.detach().numpy().view(uint))
    np.testing.assert_array_equal(gx.view(uint), xt.grad.numpy().view(uint))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_bit_select_equals_np_where(dtype):
    from upsamplex.nn import _select, _zero_where

    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 7, 9)).astype(dtype)[:, ::2]  # strided views too
    b = rng.standard_normal((5, 7, 9)).astype(dtype)[:, ::2]
    a[0, 0, :4] = [np.nan, -0.0, np.inf, -np.inf]
    mask = rng.random(a.shape) > 0.5
    uint = {8: np.uint64, 4: np.uint32, 2: np.uint16}[np.dtype(dtype).itemsize]
    np.testing.assert_array_equal(_select(mask, a, b).view(uint), np.where(mask, a, b).view(uint))
    np.testing.assert_array_equal(_zero_where(mask, a).view(uint),
                                  np.where(mask, dtype(0), a).view(uint))
    ints = np.arange(6)
    np.testing.assert_array_equal(_zero_where(ints > 2, ints), [0, 1, 2, 0, 0, 0])
