"""Every user mistake in ``upsamplex.nn`` / ``upsamplex.optim`` is a ValueError or TypeError
that names the argument: a table of bad calls, each with its exception type and message."""

from collections import OrderedDict

import numpy as np
import pytest

from upsamplex import nn, optim


def P(shape=(3,)):
    return nn.Parameter(np.zeros(shape))


def with_grad(grad, shape=(3,)):
    p = P(shape)
    p.grad = grad
    return p


def set_grad(grad, shape=(3,)):
    P(shape).grad = grad


def reshaped_grad_step():
    p = with_grad(np.ones(3))
    p.grad.shape = (3, 1)  # an in-place reshape bypasses the grad setter; step still checks
    optim.SGD([p], lr=0.1).step()


def replaced_data_step(cls):
    p = with_grad(np.ones(3))
    opt = cls([p], lr=0.1, momentum=0.9) if cls is optim.SGD else cls([p], lr=0.1)
    opt.step()
    p.data = np.zeros(4)
    p.grad = np.ones(4)
    opt.step()


def edited_group_step(key, value, cls=optim.SGD):
    opt = cls([with_grad(np.ones(3))])
    opt.param_groups[0][key] = value
    opt.step()


def load_opt_state(state_dict, cls=optim.SGD):
    cls([P()], lr=0.1).load_state_dict(state_dict)


def groups(*extra):
    return [{"params": [P()]}, *extra]


GOOD_GROUPS = [{"params": [0], "lr": 0.1, "momentum": 0, "dampening": 0, "weight_decay": 0,
                "nesterov": False, "maximize": False}]


def convt_forward(output_size):
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, rng=0)
    layer(np.zeros((1, 1, 4, 4), np.float32), output_size=output_size)


def after_forward(module, x, method, *args):
    module(x) if not isinstance(module, nn.MSELoss) else module(x, x)
    getattr(module, method)(*args)


CASES = [
    # ------------------------------------------------------------ Parameter and gradients
    ("param-int", lambda: nn.Parameter(np.zeros(3, int)), TypeError,
     "Parameter data must be float32 or float64, got int64"),
    ("param-none", lambda: nn.Parameter(None), TypeError, "Parameter data must be float32"),
    ("param-requires-grad", lambda: nn.Parameter(np.zeros(1), requires_grad="no"), TypeError,
     "requires_grad must be a bool, got str"),
    ("accumulate-broadcast", lambda: P().accumulate_grad(np.ones(1)), ValueError,
     r"gradient has shape \(1,\), but the parameter has shape \(3,\) \(gradients are not "
     "broadcast"),
    ("accumulate-bigger", lambda: P().accumulate_grad(np.ones((2, 3))), ValueError,
     r"gradient has shape \(2, 3\), but the parameter has shape \(3,\)"),
    ("accumulate-str", lambda: P().accumulate_grad("x"), TypeError,
     "gradient must be a real numeric array, got dtype <U1"),
    ("accumulate-complex", lambda: P().accumulate_grad(np.ones(3) * 1j), TypeError,
     "gradient must be a real numeric array, got dtype complex128"),
    ("assign-grad-broadcast", lambda: set_grad(np.ones(1)), ValueError,
     r"assigned grad has shape \(1,\), but the parameter has shape \(3,\)"),
    ("assign-grad-scalar", lambda: set_grad(1.0), ValueError,
     r"assigned grad has shape \(\), but the parameter has shape \(3,\)"),
    ("assign-grad-bool", lambda: set_grad(np.ones(3, bool)), TypeError,
     "assigned grad must be a real numeric array, got dtype bool"),
    ("assign-grad-object", lambda: set_grad(object()), TypeError,
     "assigned grad must be a real numeric array"),
    ("assign-data-int", lambda: setattr(P(), "data", np.zeros(3, int)), TypeError,
     "Parameter.data must be float32 or float64, got int64"),
    ("assign-data-list", lambda: setattr(P(), "data", [1.0]), TypeError,
     "Parameter.data must be a numpy array, got list"),
    ("param-zero-grad", lambda: P().zero_grad("yes"), TypeError,
     "set_to_none must be a bool, got str"),
    ("step-reshaped-grad", reshaped_grad_step, ValueError,
     r"the gradient of param_groups\[0\]\['params'\]\[0\] has shape \(3, 1\), but the "
     r"parameter has shape \(3,\)"),
    ("sgd-data-replaced", lambda: replaced_data_step(optim.SGD), ValueError,
     r"param_groups\[0\]\['params'\]\[0\] has shape \(4,\), but its optimizer state "
     r"'momentum_buffer' has shape \(3,\)"),
    ("adam-data-replaced", lambda: replaced_data_step(optim.Adam), ValueError,
     r"its optimizer state 'exp_avg' has shape \(3,\)"),
    # ------------------------------------------------------------ optimizer arguments
    ("sgd-lr-str", lambda: optim.SGD([P()], lr="0.1"), TypeError,
     "lr must be a real number, got str '0.1'"),
    ("sgd-lr-none", lambda: optim.SGD([P()], lr=None), TypeError,
     "lr must be a real number, got NoneType"),
    ("sgd-lr-list", lambda: optim.SGD([P()], lr=[0.1]), TypeError,
     r"lr must be a real number, got list \[0.1\]"),
    ("sgd-lr-array", lambda: optim.SGD([P()], lr=np.array([0.1, 0.2])), TypeError,
     "lr must be a real number, got ndarray"),
    ("sgd-lr-bool", lambda: optim.SGD([P()], lr=True), TypeError,
     "lr must be a real number, got bool"),
    ("sgd-lr-nan", lambda: optim.SGD([P()], lr=float("nan")), ValueError,
     "Invalid learning rate: nan; lr must be finite"),
    ("sgd-lr-inf", lambda: optim.SGD([P()], lr=float("inf")), ValueError,
     "Invalid learning rate: inf; lr must be finite"),
    ("sgd-lr-negative", lambda: optim.SGD([P()], lr=-1), ValueError,
     "Invalid learning rate: -1; lr must be >= 0"),
    ("sgd-momentum-str", lambda: optim.SGD([P()], momentum="0.9"), TypeError,
     "momentum must be a real number, got str"),
    ("sgd-momentum-negative", lambda: optim.SGD([P()], momentum=-0.5), ValueError,
     "Invalid momentum value: -0.5"),
    ("sgd-dampening-str", lambda: optim.SGD([P()], dampening="a"), TypeError,
     "dampening must be a real number, got str"),
    ("sgd-weight-decay-tuple", lambda: optim.SGD([P()], weight_decay=(0.1,)), TypeError,
     "weight_decay must be a real number, got tuple"),
    ("sgd-nesterov-str", lambda: optim.SGD([P()], momentum=0.9, nesterov="yes"), TypeError,
     "nesterov must be a bool, got str 'yes'"),
    ("sgd-nesterov-dampening", lambda: optim.SGD([P()], momentum=0.9, dampening=0.1,
                                                 nesterov=True), ValueError,
     "Nesterov momentum requires a momentum and zero dampening, got momentum=0.9, "
     "dampening=0.1"),
    ("sgd-maximize-int", lambda: optim.SGD([P()], maximize=1), TypeError,
     "maximize must be a bool, got int"),
    ("adam-betas-one", lambda: optim.Adam([P()], betas=(0.9,)), ValueError,
     r"betas must be a pair of floats \(beta1, beta2\), got 1 value\(s\)"),
    ("adam-betas-three", lambda: optim.Adam([P()], betas=(0.9, 0.99, 0.999)), ValueError,
     r"betas must be a pair of floats \(beta1, beta2\), got 3 value\(s\)"),
    ("adam-betas-float", lambda: optim.Adam([P()], betas=0.9), TypeError,
     r"betas must be a pair of floats \(beta1, beta2\), got float 0.9"),
    ("adam-betas-none", lambda: optim.Adam([P()], betas=None), TypeError,
     "betas must be a pair of floats .*got NoneType"),
    ("adam-betas-str", lambda: optim.Adam([P()], betas="ab"), TypeError,
     "betas must be a pair of floats .*got str"),
    ("adam-betas-entry-str", lambda: optim.Adam([P()], betas=(0.9, "b")), TypeError,
     r"betas\[1\] must be a real number, got str 'b'"),
    ("adam-betas-out-of-range", lambda: optim.Adam([P()], betas=(0.9, 1.0)), ValueError,
     "Invalid beta parameter at index 1: 1.0; need 0 <= beta < 1"),
    ("adam-eps-str", lambda: optim.Adam([P()], eps="1e-8"), TypeError,
     "eps must be a real number, got str"),
    ("adam-eps-negative", lambda: optim.Adam([P()], eps=-1e-8), ValueError,
     "Invalid epsilon value: -1e-08"),
    ("adam-weight-decay-nan", lambda: optim.Adam([P()], weight_decay=float("nan")), ValueError,
     "Invalid weight_decay value: nan; weight_decay must be finite"),
    ("adam-amsgrad-str", lambda: optim.Adam([P()], amsgrad="yes"), TypeError,
     "amsgrad must be a bool, got str"),
    ("adamw-maximize-none", lambda: optim.AdamW([P()], maximize=None), TypeError,
     "maximize must be a bool, got NoneType"),
    # ------------------------------------------------------------ params and param groups
    ("params-parameter", lambda: optim.SGD(P()), TypeError,
     "params must be an iterable of upsamplex.nn.Parameter .*got Parameter"),
    ("params-ndarray", lambda: optim.SGD(np.zeros(3)), TypeError,
     "params must be an iterable of upsamplex.nn.Parameter .*got ndarray"),
    ("params-none", lambda: optim.SGD(None), TypeError,
     "params must be an iterable of upsamplex.nn.Parameter .*got NoneType"),
    ("params-int", lambda: optim.Adam(3), TypeError,
     "params must be an iterable of upsamplex.nn.Parameter .*got int"),
    ("params-empty", lambda: optim.SGD([]), ValueError, "optimizer got an empty parameter list"),
    ("params-empty-generator", lambda: optim.SGD(iter([])), ValueError,
     "optimizer got an empty parameter list"),
    ("params-arrays", lambda: optim.SGD([np.zeros(3)]), TypeError,
     r"optimizer can only optimize upsamplex.nn.Parameter objects, got ndarray \(param group "
     r"0, item 0\); wrap arrays in nn.Parameter"),
    ("params-named", lambda: optim.SGD(nn.Conv1d(1, 1, 1).named_parameters()), TypeError,
     r"got tuple \(param group 0, item 0\); pass model.parameters\(\), not named_parameters"),
    ("params-mixed", lambda: optim.SGD([P(), {"params": [P()]}]), TypeError,
     "params mixes Parameters and param-group dicts"),
    ("params-duplicate", lambda: optim.SGD([p := P(), p]), ValueError,
     "item 1 of param group 0 is a parameter the optimizer already has"),
    ("groups-share-param", lambda: optim.SGD([{"params": [p := P()]}, {"params": [p]}]),
     ValueError, "item 0 of param group 1 is a parameter the optimizer already has"),
    ("group-no-params", lambda: optim.SGD([{"lr": 0.1}]), ValueError,
     "param group 0 has no 'params' entry"),
    ("group-unknown-key", lambda: optim.SGD(groups({"params": [P()], "lrr": 0.1})), ValueError,
     "param group 1 has unknown key\\(s\\) 'lrr'; SGD takes 'dampening', 'lr',"),
    ("group-adam-key-on-sgd", lambda: optim.SGD([{"params": [P()], "betas": (0.9, 0.9)}]),
     ValueError, "param group 0 has unknown key\\(s\\) 'betas'"),
    ("group-bad-lr", lambda: optim.SGD(groups({"params": [P()], "lr": -1})), ValueError,
     r"Invalid learning rate: -1 \(param group 1\); lr must be >= 0"),
    ("group-bad-lr-type", lambda: optim.Adam(groups({"params": [P()], "lr": "x"})), TypeError,
     r"lr must be a real number \(param group 1\), got str"),
    ("group-bad-betas", lambda: optim.Adam(groups({"params": [P()], "betas": (0.9,)})),
     ValueError, r"betas must be a pair of floats \(beta1, beta2\) \(param group 1\)"),
    ("group-params-str", lambda: optim.SGD([{"params": "ab"}]), TypeError,
     "the 'params' of param group 0 must be an iterable of upsamplex.nn.Parameter"),
    ("group-params-array", lambda: optim.SGD([{"params": np.zeros(3)}]), TypeError,
     "the 'params' of param group 0 must be an iterable .*got ndarray"),
    ("add-group-list", lambda: optim.SGD([P()]).add_param_group([P()]), TypeError,
     "param_group must be a dict with a 'params' entry, got list"),
    ("edited-lr-step", lambda: edited_group_step("lr", "0.1"), TypeError,
     r"lr must be a real number \(param group 0\), got str"),
    ("edited-betas-step", lambda: edited_group_step("betas", (0.9,), optim.Adam), ValueError,
     r"betas must be a pair of floats \(beta1, beta2\) \(param group 0\), got 1"),
    ("edited-momentum-step", lambda: edited_group_step("momentum", -1), ValueError,
     r"Invalid momentum value: -1 \(param group 0\)"),
    ("lr-setter-str", lambda: setattr(optim.SGD([P()]), "lr", "x"), TypeError,
     "lr must be a real number, got str"),
    ("lr-setter-negative", lambda: setattr(optim.SGD([P()]), "lr", -0.1), ValueError,
     "Invalid learning rate: -0.1"),
    ("opt-zero-grad", lambda: optim.Adam([P()]).zero_grad(0), TypeError,
     "set_to_none must be a bool, got int"),
    ("opt-defaults", lambda: optim.Optimizer([P()], [("lr", 0.1)]), TypeError,
     "defaults must be a dict, got list"),
    # ------------------------------------------------------------ optimizer state dicts
    ("state-none", lambda: load_opt_state(None), TypeError,
     r"state_dict must be a dict as returned by Optimizer.state_dict\(\), got NoneType"),
    ("state-empty", lambda: load_opt_state({}), ValueError, "state_dict has no 'state' entry"),
    ("state-no-groups", lambda: load_opt_state({"state": {}}), ValueError,
     "state_dict has no 'param_groups' entry"),
    ("state-groups-not-list", lambda: load_opt_state({"state": {}, "param_groups": 3}),
     ValueError, r"state_dict\['param_groups'\] must be a list of dicts with 'params'"),
    ("state-bad-index", lambda: load_opt_state({"state": {5: {}}, "param_groups": GOOD_GROUPS}),
     ValueError, r"state_dict\['state'\] refers to parameter 5, but the optimizer has 1"),
    ("state-str-index", lambda: load_opt_state({"state": {"a": {}},
                                                "param_groups": GOOD_GROUPS}),
     ValueError, r"state_dict\['state'\] keys must be ints, got 'a'"),
    ("state-bad-shape", lambda: load_opt_state({"state": {0: {"momentum_buffer": np.zeros(2)}},
                                                "param_groups": GOOD_GROUPS}),
     ValueError, r"state 'momentum_buffer' of parameter 0 has shape \(2,\)"),
    ("state-bad-hyper", lambda: load_opt_state({"state": {}, "param_groups": [
        dict(GOOD_GROUPS[0], lr=-1)]}), ValueError, r"Invalid learning rate: -1 \(param group 0\)"),
    ("state-unknown-key", lambda: load_opt_state({"state": {}, "param_groups": [
        dict(GOOD_GROUPS[0], foo=1)]}), ValueError,
     r"state_dict param group 0 has unknown key\(s\) 'foo'"),
    ("state-bad-step", lambda: load_opt_state({"state": {0: {"step": "x"}}, "param_groups": [
        {"params": [0]}]}, optim.Adam), ValueError, "the 'step' of parameter 0 must be a number"),
    # ------------------------------------------------------------ layer constructors
    ("conv-in-float", lambda: nn.Conv2d(3.0, 2, 3), TypeError,
     "in_channels must be a positive int, got float 3.0"),
    ("conv-in-bool", lambda: nn.Conv2d(True, 2, 3), TypeError,
     "in_channels must be a positive int, got bool"),
    ("conv-out-zero", lambda: nn.Conv1d(3, 0, 3), ValueError,
     "out_channels must be a positive int, got 0"),
    ("conv-out-str", lambda: nn.Conv3d(3, "2", 3), TypeError,
     "out_channels must be a positive int, got str"),
    ("conv-groups-float", lambda: nn.Conv2d(4, 4, 3, groups=2.0), TypeError,
     "groups must be a positive int, got float"),
    ("conv-groups-negative", lambda: nn.ConvTranspose1d(4, 4, 3, groups=-2), ValueError,
     "groups must be a positive int, got -2"),
    ("conv-kernel-none", lambda: nn.Conv2d(3, 2, None), TypeError,
     "kernel_size must be an int or a tuple of 2 ints, got None"),
    ("conv-kernel-str", lambda: nn.Conv2d(3, 2, "3"), TypeError,
     "kernel_size must be an int or a tuple of 2 ints, got '3'"),
    ("conv-kernel-float", lambda: nn.Conv2d(3, 2, (3, 2.5)), TypeError,
     r"kernel_size must be an int or a tuple of 2 ints, got \(3, 2.5\)"),
    ("conv-kernel-length", lambda: nn.Conv2d(3, 2, (3,)), ValueError,
     r"kernel_size must be an int or a tuple of 2 ints, got \(3,\) \(length 1\)"),
    ("conv-kernel-zero", lambda: nn.Conv2d(3, 2, 0), ValueError,
     "kernel_size must be positive"),
    ("conv-kernel-huge", lambda: nn.Conv2d(3, 2, 10**6), ValueError,
     r"Conv2d\(3, 2, kernel_size=\(1000000, 1000000\), groups=1\) needs a weight of shape "
     r"\(2, 3, 1000000, 1000000\) .*GiB of float32\), more than can be allocated"),
    ("conv-kernel-beyond-intp", lambda: nn.ConvTranspose3d(3, 2, 10**9), ValueError,
     "needs a weight of shape .*more than can be allocated; check in_channels"),
    ("conv-stride-float", lambda: nn.Conv2d(3, 2, 3, stride=1.5), TypeError,
     "stride must be an int or a tuple of 2 ints, got 1.5"),
    ("conv-stride-zero", lambda: nn.Conv1d(3, 2, 3, stride=0), ValueError,
     "stride must be positive"),
    ("conv-dilation-bool", lambda: nn.Conv2d(3, 2, 3, dilation=True), TypeError,
     "dilation must be an int or a tuple of 2 ints, got True"),
    ("conv-padding-negative", lambda: nn.Conv2d(3, 2, 3, padding=-1), ValueError,
     "padding must be non-negative"),
    ("conv-padding-word", lambda: nn.Conv2d(3, 2, 3, padding="full"), ValueError,
     "padding must be 'same', 'valid', an int or a tuple for Conv2d, got 'full'"),
    ("conv-padding-none", lambda: nn.Conv2d(3, 2, 3, padding=None), TypeError,
     "padding must be an int or a tuple of 2 ints, got None"),
    ("convt-padding-same", lambda: nn.ConvTranspose2d(3, 2, 3, padding="same"), ValueError,
     "padding must be an int or a tuple for ConvTranspose2d"),
    ("convt-output-padding-float", lambda: nn.ConvTranspose2d(3, 2, 3, output_padding=0.5),
     TypeError, "output_padding must be an int or a tuple of 2 ints, got 0.5"),
    ("convt-output-padding-big", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, output_padding=2),
     ValueError, "output_padding must be non-negative and smaller than either stride or dilation"),
    ("conv-bias-str", lambda: nn.Conv2d(3, 2, 3, bias="no"), TypeError,
     "bias must be a bool, got str 'no'"),
    ("conv-padding-mode", lambda: nn.Conv2d(3, 2, 3, padding_mode=None), ValueError,
     'Only "zeros" padding mode is supported for Conv2d, got None'),
    ("conv-dtype-bogus", lambda: nn.Conv2d(3, 2, 3, dtype="bogus"), TypeError,
     "dtype must be float32 or float64, got 'bogus'"),
    ("conv-dtype-int", lambda: nn.Conv2d(3, 2, 3, dtype=np.int32), TypeError,
     "dtype must be float32 or float64, got int32"),
    ("conv-rng-str", lambda: nn.Conv2d(3, 2, 3, rng="seed"), TypeError,
     "rng must be None, an int seed or a numpy.random.Generator, got str"),
    ("conv-rng-negative", lambda: nn.Conv2d(3, 2, 3, rng=-1), ValueError,
     "rng seed must be non-negative, got -1"),
    ("convt-output-size-float", lambda: convt_forward((9.7, 9.2)), TypeError,
     r"ConvTranspose2d: output_size must be a sequence of ints, got \(9.7, 9.2\)"),
    ("convt-output-size-int", lambda: convt_forward(9), TypeError,
     "ConvTranspose2d: output_size must be a sequence of ints, got 9"),
    ("leaky-slope-str", lambda: nn.LeakyReLU("0.1"), TypeError,
     "negative_slope must be a real number, got str"),
    ("leaky-slope-nan", lambda: nn.LeakyReLU(float("nan")), ValueError,
     "negative_slope must be finite, got nan"),
    ("loss-reduction-none", lambda: nn.MSELoss(reduction=None), TypeError,
     "reduction must be 'mean', 'sum' or 'none', got None"),
    ("loss-reduction-word", lambda: nn.L1Loss(reduction="avg"), ValueError,
     "avg is not a valid value for reduction \\(expected 'mean', 'sum' or 'none'\\)"),
    # ------------------------------------------------------------ layer calls
    ("relu-str-input", lambda: nn.ReLU()(np.array(["a"])), TypeError,
     "ReLU input must be a real numeric array, got dtype <U1"),
    ("tanh-complex-input", lambda: nn.Tanh()(np.ones(2) * 1j), TypeError,
     "Tanh input must be a real numeric array, got dtype complex128"),
    ("relu-backward-str", lambda: after_forward(nn.ReLU(), np.ones(3), "backward", "x"),
     TypeError, r"ReLU.backward\(\): grad_output must be a real numeric array"),
    ("loss-target-str", lambda: nn.MSELoss()(np.zeros(3), np.array(["a", "b", "c"])), TypeError,
     "MSELoss: target must be a real numeric array, got dtype <U1"),
    ("loss-target-complex", lambda: nn.L1Loss()(np.zeros(3), np.zeros(3) * 1j), TypeError,
     "L1Loss: target must be a real numeric array, got dtype complex128"),
    ("loss-backward-str", lambda: after_forward(nn.MSELoss(), np.zeros(3), "backward", "x"),
     TypeError, r"MSELoss.backward\(\): grad_output must be a real numeric array"),
    # ------------------------------------------------------------ Module machinery
    ("sequential-dotted-name", lambda: nn.Sequential(OrderedDict([("a.b", nn.ReLU())])),
     ValueError, "Sequential module names must be non-empty strings without '.', got 'a.b'"),
    ("sequential-int-name", lambda: nn.Sequential(OrderedDict([(0, nn.ReLU())])), ValueError,
     "Sequential module names must be non-empty strings"),
    ("sequential-index-str", lambda: nn.Sequential(nn.ReLU())["0"], TypeError,
     "Sequential indices must be integers or slices, got str"),
    ("module-train-str", lambda: nn.ReLU().train("no"), TypeError,
     "mode must be a bool, got str 'no'"),
    ("module-zero-grad-str", lambda: nn.Conv1d(1, 1, 1).zero_grad("no"), TypeError,
     "set_to_none must be a bool, got str"),
    ("load-state-dict-list", lambda: nn.Conv1d(1, 1, 1).load_state_dict([1, 2]), TypeError,
     "state_dict must be a mapping of names to arrays, got list"),
    ("load-state-dict-strict", lambda: nn.Conv1d(1, 1, 1).load_state_dict({}, strict="no"),
     TypeError, "strict must be a bool, got str"),
    ("load-state-dict-str-value", lambda: nn.Conv1d(1, 1, 1).load_state_dict(
        {"weight": "abc", "bias": np.zeros(1)}), TypeError,
     r"state_dict\['weight'\] must be a real numeric array, got dtype <U3"),
]


@pytest.mark.parametrize("call, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- what must keep working
def test_refused_gradient_leaves_the_state_alone():
    p = P()
    p.grad = np.ones(3)
    with pytest.raises(ValueError):
        p.grad = np.ones(1)
    with pytest.raises(ValueError):
        p.accumulate_grad(np.ones(1))
    np.testing.assert_array_equal(p.grad, np.ones(3))


def test_good_gradients_are_stored_in_the_parameter_dtype():
    p = nn.Parameter(np.zeros(3, np.float32))
    p.grad = np.arange(3)  # ints cast, as the step would
    assert p.grad.dtype == np.float32
    p.accumulate_grad(np.ones(3))
    np.testing.assert_array_equal(p.grad, [1, 2, 3])
    p.grad = np.broadcast_to(np.float32(1), (3,))  # a read-only view of the right shape
    p.accumulate_grad(np.ones(3, np.float32))
    np.testing.assert_array_equal(p.grad, [2, 2, 2])
    p.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, [0, 0, 0])


def test_numpy_scalars_and_group_names_are_accepted():
    p = P()
    opt = optim.Adam([{"params": [p], "name": "decoder", "lr": np.float32(0.1)}],
                     betas=[np.float64(0.9), 0.99], eps=np.float64(1e-8), amsgrad=np.bool_(True))
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)
    p.grad = np.ones(3)
    opt.step()
    assert np.all(p.data < 0)
    sgd = optim.SGD([{"params": p}], lr=1, momentum=np.int64(0))
    sgd.lr = np.float64(0.5)
    sgd.load_state_dict(sgd.state_dict())
