"""Optimizers against torch.optim, step for step, on random quadratics."""

import numpy as np
import pytest

from upsamplex import nn, optim

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _run_pair(ours_cls, theirs_cls, kwargs, dtype, steps=6, lr_schedule=None):
    """Run both optimizers on identical params with the same gradient sequence."""
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    targets = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [nn.Parameter(a) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt_o = ours_cls(ours, **kwargs)
    opt_t = theirs_cls(theirs, **kwargs)
    for step in range(steps):
        if lr_schedule is not None:
            opt_o.param_groups[0]["lr"] = lr_schedule(step)
            opt_t.param_groups[0]["lr"] = lr_schedule(step)
        opt_o.zero_grad()
        opt_t.zero_grad()
        for p, q, t in zip(ours, theirs, targets):
            # gradient of sum((p - t)**3 / 3 + p**2): nonlinear so the rules really differ
            p.grad = (p.data - t) ** 2 + 2 * p.data
            ((q - torch.from_numpy(t)) ** 3 / 3 + q**2).sum().backward()
        opt_o.step()
        opt_t.step()
    return max(np.max(np.abs(p.data - q.detach().numpy())) for p, q in zip(ours, theirs))


SGD_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True),
    dict(lr=0.05, weight_decay=0.2, maximize=True),
]
ADAM_CASES = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1, amsgrad=True),
    dict(lr=0.02, maximize=True, amsgrad=True),
]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_torch(kwargs, dtype, tol):
    assert _run_pair(optim.SGD, torch.optim.SGD, kwargs, dtype) <= tol


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("kwargs", ADAM_CASES)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_matches_torch(name, kwargs, dtype, tol):
    assert _run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs, dtype) <= tol


def test_lr_changes_between_steps():
    diff = _run_pair(optim.Adam, torch.optim.Adam, dict(lr=0.1), np.float64,
                     lr_schedule=lambda s: 0.1 * 0.5**s)
    assert diff <= 1e-12


def test_lr_property_sets_every_group():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert opt.lr == 0.1 and opt.param_groups[1]["lr"] == 0.5
    opt.lr = 0.01
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.01]


def test_param_groups_match_torch():
    rng = np.random.default_rng(1)
    a0, b0 = rng.standard_normal(3), rng.standard_normal(4)
    a, b = nn.Parameter(a0), nn.Parameter(b0)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "momentum": 0.5}], lr=0.1)
    topt = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "momentum": 0.5}], lr=0.1)
    for _ in range(3):
        a.grad, b.grad = a.data.copy(), b.data**2
        ta.grad, tb.grad = ta.detach().clone(), tb.detach() ** 2
        opt.step()
        topt.step()
    np.testing.assert_allclose(a.data, ta.detach().numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=0, atol=1e-15)


def test_zero_grad_and_skip_none():
    p, q = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([p, q], lr=0.1)
    p.grad = np.ones(2)
    opt.step()  # q has no gradient: untouched, no state
    assert np.all(q.data == 1) and q not in opt.state and np.all(p.data < 1)
    opt.zero_grad()
    assert p.grad is None
    p.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    assert np.all(p.grad == 0)


def test_state_dict_round_trip():
    def make():
        p = nn.Parameter(np.arange(3.0))
        return p, optim.Adam([p], lr=0.1, amsgrad=True)

    p, opt = make()
    for _ in range(2):
        p.grad = p.data.copy()
        opt.step()
    saved = opt.state_dict()
    p2, opt2 = make()
    p2.data[...] = p.data
    opt2.load_state_dict(saved)
    for param, o in ((p, opt), (p2, opt2)):
        param.grad = np.ones(3)
        o.step()
    np.testing.assert_array_equal(p.data, p2.data)
    assert saved["param_groups"][0]["params"] == [0]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda ps: optim.SGD(ps, lr=-1), "Invalid learning rate: -1"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
        (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum requires"),
        (lambda ps: optim.Adam(ps, lr=-1), "Invalid learning rate: -1"),
        (lambda ps: optim.Adam(ps, eps=-1e-8), "Invalid epsilon value"),
        (lambda ps: optim.Adam(ps, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        (lambda ps: optim.AdamW(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
        (lambda ps: optim.AdamW(ps, weight_decay=-1), "Invalid weight_decay value: -1"),
        (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    ],
)
def test_invalid_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(np.zeros(1))])


def test_defaults_match_torch():
    p = [nn.Parameter(np.zeros(1))]
    tp = [torch.zeros(1, requires_grad=True)]
    for name in ("SGD", "Adam", "AdamW"):
        ours = getattr(optim, name)(p).param_groups[0]
        theirs = getattr(torch.optim, name)(tp).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert theirs[key] == value, (name, key)


def test_rejects_non_parameters():
    with pytest.raises(TypeError, match="Parameter"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="lr|learning rate"):
        opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
        opt.lr = -1


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
        (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)),
        (optim.Adam, dict(lr=0.1, weight_decay=0.1, maximize=True)),
        (optim.AdamW, dict(lr=0.1, amsgrad=True)),
    ],
    ids=["sgd-nesterov-wd-max", "sgd-dampening", "adam-wd-max", "adamw-amsgrad"],
)
def test_steps_update_in_place_without_temporaries(cls, kwargs):
    """After the first step (state and work arrays exist) a step allocates no array-sized
    temporaries: the updates run through reused buffers with out=."""
    import tracemalloc

    params = [nn.Parameter(np.full(2**18, 0.5)) for _ in range(3)]  # 2 MiB each
    for p in params:
        p.grad = np.full(p.shape, 0.25)
    opt = cls(params, **kwargs)
    opt.step()
    tracemalloc.start()
    for _ in range(3):
        opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2**18  # bytes; one temporary would be 2 MiB
