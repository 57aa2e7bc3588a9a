"""Optimizers with ``torch.optim``'s exact update rules, defaults and checks.

Each optimizer updates :class:`upsamplex.nn.Parameter` objects in place from
their ``.grad`` (parameters whose grad is None are skipped, as in torch).
Hyperparameters live in ``param_groups`` (a list of dicts), so a schedule can
change ``opt.param_groups[0]["lr"]`` (or simply ``opt.lr``) between steps.

Examples
--------
>>> import numpy as np
>>> from upsamplex import nn, optim
>>> p = nn.Parameter(np.array([1.0, -2.0]))
>>> opt = optim.SGD([p], lr=0.1)
>>> p.grad = np.array([1.0, 1.0])
>>> opt.step()
>>> p.data
array([ 0.9, -2.1])
"""

import copy
import math
import numbers
import operator
from collections.abc import Iterable

import numpy as np

from .nn import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _type_name(value):
    return type(value).__name__


def _is_real(value):
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_flag(group, key, where):
    value = group[key]
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{key} must be a bool{where}, got {_type_name(value)} {value!r}")


def _check_number(group, key, where, invalid=None):
    """A finite real hyperparameter; ``invalid`` is torch's message for a negative one."""
    value = group[key]
    if not _is_real(value):
        raise TypeError(f"{key} must be a real number{where}, got {_type_name(value)} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{invalid or 'Invalid ' + key}: {value}{where}; {key} must be finite")
    if invalid is not None and value < 0:
        raise ValueError(f"{invalid}: {value}{where}; {key} must be >= 0")


def _check_betas(group, where):
    betas = group["betas"]
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Iterable):
        raise TypeError(
            f"betas must be a pair of floats (beta1, beta2){where}, got {_type_name(betas)} "
            f"{betas!r}"
        )
    betas = tuple(betas)
    if len(betas) != 2:
        raise ValueError(
            f"betas must be a pair of floats (beta1, beta2){where}, got {len(betas)} value(s) "
            f"{betas!r}"
        )
    for i, beta in enumerate(betas):
        if not _is_real(beta):
            raise TypeError(
                f"betas[{i}] must be a real number{where}, got {_type_name(beta)} {beta!r}"
            )
        if not 0.0 <= beta < 1.0:
            raise ValueError(
                f"Invalid beta parameter at index {i}: {beta}{where}; need 0 <= beta < 1"
            )
    group["betas"] = betas


def _where(index):
    return f" (param group {index})"


def _params_iterable(params, what):
    if isinstance(params, (Parameter, np.ndarray, str, bytes, dict)) or not isinstance(
        params, Iterable
    ):
        raise TypeError(
            f"{what} must be an iterable of upsamplex.nn.Parameter (e.g. model.parameters()), "
            f"got {_type_name(params)}"
        )


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, state dicts.

    Every hyperparameter is checked when the optimizer is built, when a group is
    added or loaded, when ``lr`` is set and at each ``step`` (so an edited
    ``param_groups`` entry is caught too): a wrong type raises ``TypeError``, a
    wrong value ``ValueError``, naming the argument and the group. Gradients
    must have their parameter's shape: nothing is broadcast into a step.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        The parameters, or groups ``{"params": [...], "lr": ...}`` whose keys
        override ``defaults`` for that group. A group may also carry a
        ``"name"``; any other key is refused (a misspelt hyperparameter would
        otherwise be ignored silently).
    defaults : dict
        Hyperparameters used where a group does not set them.
    """

    def __init__(self, params, defaults):
        if not isinstance(defaults, dict):
            raise TypeError(f"defaults must be a dict, got {_type_name(defaults)}")
        self.defaults = dict(defaults)
        self._check_group(self.defaults, "")
        self.state = {}
        self.param_groups = []
        _params_iterable(params, "params")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        kinds = {isinstance(g, dict) for g in groups}
        if kinds == {True, False}:
            raise TypeError("params mixes Parameters and param-group dicts; pass one or the other")
        if kinds == {False}:
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _check_group(self, group, where):
        """Check a group's hyperparameters (each subclass states its rules)."""

    def _scratch(self, like, count):
        """``count`` work arrays shaped like ``like``, reused across steps and parameters.

        The updates run in place through these (``out=``) instead of allocating a
        temporary per operation: the same operations in the same order, so the same
        bits, with fewer passes over fresh memory. Not part of ``state_dict``.
        """
        pool = self.__dict__.setdefault("_scratch_pool", {})
        key = (like.shape, like.dtype.str)
        arrays = pool.get(key)
        if arrays is None or len(arrays) < count:
            arrays = pool[key] = [np.empty_like(like, order="C") for _ in range(count)]
        return arrays

    def add_param_group(self, param_group):
        """Add a dict ``{"params": [...], **hyperparameters}``."""
        index = len(self.param_groups)
        if not isinstance(param_group, dict):
            raise TypeError(
                f"param_group must be a dict with a 'params' entry, got {_type_name(param_group)}"
            )
        if "params" not in param_group:
            raise ValueError(f"param group {index} has no 'params' entry")
        unknown = sorted(set(param_group) - set(self.defaults) - {"params", "name"}, key=str)
        if unknown:
            raise ValueError(
                f"param group {index} has unknown key(s) {', '.join(map(repr, unknown))}; "
                f"{type(self).__name__} takes {', '.join(map(repr, sorted(self.defaults)))} "
                "(and 'params', 'name')"
            )
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Parameter):
            params = [params]
        _params_iterable(params, f"the 'params' of param group {index}")
        group["params"] = list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(group["params"]):
            if not isinstance(p, Parameter):
                hint = "; wrap arrays in nn.Parameter" if isinstance(p, np.ndarray) else ""
                if isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Parameter):
                    hint = "; pass model.parameters(), not named_parameters()"
                raise TypeError(
                    "optimizer can only optimize upsamplex.nn.Parameter objects, got "
                    f"{_type_name(p)} (param group {index}, item {i}){hint}"
                )
            if id(p) in seen:
                raise ValueError(
                    f"item {i} of param group {index} is a parameter the optimizer already "
                    "has (it would be updated twice per step)"
                )
            seen.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group, _where(index))
        self.param_groups.append(group)

    @property
    def lr(self):
        """Learning rate of the first group; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        _check_number({"lr": value}, "lr", "", "Invalid learning rate")
        for group in self.param_groups:
            group["lr"] = value

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every optimized parameter (to None by default)."""
        if not isinstance(set_to_none, (bool, np.bool_)):
            raise TypeError(f"set_to_none must be a bool, got {_type_name(set_to_none)}")
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad(set_to_none)

    def step(self):
        """Update every parameter that has a gradient."""
        for gi, group in enumerate(self.param_groups):
            self._check_group(group, _where(gi))
            for pi, p in enumerate(group["params"]):
                grad = p.grad
                if grad is None:
                    continue
                data = p.data
                # Parameter.grad checks assignments; this catches a reshape in place.
                if grad.shape != data.shape:
                    raise ValueError(
                        f"the gradient of param_groups[{gi}]['params'][{pi}] has shape "
                        f"{grad.shape}, but the parameter has shape {data.shape}"
                    )
                if grad.dtype != data.dtype:
                    grad = grad.astype(data.dtype)
                state = self.state.setdefault(p, {})
                for key, value in state.items():
                    if type(value) is np.ndarray and value.shape != data.shape:
                        raise ValueError(
                            f"param_groups[{gi}]['params'][{pi}] has shape {data.shape}, but "
                            f"its optimizer state {key!r} has shape {value.shape} (was the "
                            "parameter's data replaced by an array of another shape?)"
                        )
                self._update(p, grad, state, group)

    def state_dict(self):
        """Copies of the state and groups, parameters referred to by index (as torch)."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        params = [p for g in self.param_groups for p in g["params"]]
        state = {index[id(p)]: copy.deepcopy(self.state[p]) for p in params if p in self.state}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned for an optimizer over the same parameters.

        Everything is checked before anything changes: the structure, the
        groups' hyperparameters, the parameter indices and each state array's
        shape (arrays are copied in the parameter's dtype, as torch casts them).
        """
        if not isinstance(state_dict, dict):
            raise TypeError(
                "state_dict must be a dict as returned by Optimizer.state_dict(), got "
                f"{_type_name(state_dict)}"
            )
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"state_dict has no {key!r} entry (see Optimizer.state_dict())")
        groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), (list, tuple)) for g in groups
        ):
            raise ValueError("state_dict['param_groups'] must be a list of dicts with 'params'")
        if not isinstance(saved_state, dict):
            raise ValueError("state_dict['state'] must be a dict {parameter index: state}")
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)
        ):
            raise ValueError("loaded state dict has a different number of parameters or groups")
        hyper = []
        for gi, saved in enumerate(groups):
            values = {k: v for k, v in saved.items() if k != "params"}
            unknown = sorted(set(values) - set(self.defaults) - {"name"}, key=str)
            if unknown:
                raise ValueError(
                    f"state_dict param group {gi} has unknown key(s) "
                    f"{', '.join(map(repr, unknown))}"
                )
            merged = {**self.param_groups[gi], **values}
            self._check_group(merged, _where(gi))
            hyper.append({k: merged[k] for k in values})
        params = [p for g in self.param_groups for p in g["params"]]
        state = {}
        for i, saved in saved_state.items():
            try:
                index = operator.index(i)
            except TypeError:
                raise ValueError(f"state_dict['state'] keys must be ints, got {i!r}") from None
            if not 0 <= index < len(params):
                raise ValueError(
                    f"state_dict['state'] refers to parameter {index}, but the optimizer has "
                    f"{len(params)} parameters"
                )
            if not isinstance(saved, dict):
                raise ValueError(
                    f"the state of parameter {index} must be a dict, got {_type_name(saved)}"
                )
            p, entry = params[index], {}
            for key, value in saved.items():
                if key == "step":
                    if not _is_real(value):
                        raise ValueError(
                            f"the 'step' of parameter {index} must be a number, got {value!r}"
                        )
                    entry[key] = float(value)
                    continue
                arr = np.asarray(value)
                if arr.dtype.kind not in "iuf" or arr.shape != p.shape:
                    raise ValueError(
                        f"state {key!r} of parameter {index} has shape {arr.shape} and dtype "
                        f"{arr.dtype}; the parameter has shape {p.shape} ({p.dtype})"
                    )
                entry[key] = np.array(arr, dtype=p.dtype, order="C")
            state[p] = entry
        self.state = state
        for own, values in zip(self.param_groups, hyper):
            own.update(values)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    Per step, with ``g`` the gradient (negated if ``maximize``)::

        g = g + weight_decay * p
        buf = g                                  (first step)
        buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Parameter or dict
    lr : float, default 1e-3
    momentum, dampening, weight_decay : float, default 0
    nesterov, maximize : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn, optim
    >>> p = nn.Parameter(np.array([1.0]))
    >>> opt = optim.SGD([p], lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     p.grad = np.array([1.0])
    ...     opt.step()
    >>> p.data  # 1 - 0.5*1 - 0.5*1.9
    array([-0.45])
    """

    def __init__(
        self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
        maximize=False,
    ):
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        _check_number(group, "lr", where, "Invalid learning rate")
        _check_number(group, "momentum", where, "Invalid momentum value")
        _check_number(group, "dampening", where)
        _check_number(group, "weight_decay", where, "Invalid weight_decay value")
        _check_flag(group, "nesterov", where)
        _check_flag(group, "maximize", where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"Nesterov momentum requires a momentum and zero dampening{where}, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, p, grad, state, group):
        data = p.data
        g_buf, tmp = self._scratch(data, 2)
        wd, momentum = group["weight_decay"], group["momentum"]
        if wd != 0:  # torch: d_p = (-)grad + weight_decay * p
            np.multiply(data, wd, out=g_buf)
            (np.subtract if group["maximize"] else np.add)(g_buf, grad, out=g_buf)
            grad = g_buf
        elif group["maximize"]:
            grad = np.negative(grad, out=g_buf)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, order="C")
            else:
                buf *= momentum
                buf += np.multiply(grad, 1 - group["dampening"], out=tmp)
            if group["nesterov"]:  # d_p = d_p + momentum * buf
                np.multiply(buf, momentum, out=tmp)
                grad = np.add(grad, tmp, out=tmp)
            else:
                grad = buf
        data -= np.multiply(grad, group["lr"], out=tmp)


class Adam(Optimizer):
    """Adam (and, with ``decoupled_weight_decay=True``, AdamW), as ``torch.optim.Adam``.

    Per step ``t``, with ``g`` the gradient (negated if ``maximize``)::

        g = g + weight_decay * p          (Adam; AdamW instead does p *= 1 - lr * weight_decay)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) if amsgrad else v
        p = p - lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : iterable of Parameter or dict
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    amsgrad, maximize : bool, default False
    decoupled_weight_decay : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn, optim
    >>> p = nn.Parameter(np.array([1.0]))
    >>> opt = optim.Adam([p], lr=0.1)
    >>> p.grad = np.array([123.0])
    >>> opt.step()
    >>> p.data.round(6)  # the first step moves by ~lr whatever the gradient's scale
    array([0.9])
    """

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
        maximize=False, decoupled_weight_decay=False,
    ):
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        _check_number(group, "lr", where, "Invalid learning rate")
        _check_number(group, "eps", where, "Invalid epsilon value")
        _check_betas(group, where)
        _check_number(group, "weight_decay", where, "Invalid weight_decay value")
        for key in ("amsgrad", "maximize", "decoupled_weight_decay"):
            _check_flag(group, key, where)

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        data = p.data
        g_buf, tmp = self._scratch(data, 2)
        if group["maximize"]:
            grad = np.negative(grad, out=g_buf)
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        step = state["step"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                data *= 1 - lr * wd
            else:  # grad + weight_decay * p (grad may already be g_buf: add into tmp)
                np.multiply(data, wd, out=tmp)
                grad = np.add(grad, tmp, out=g_buf)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # torch's lerp_ for weight < 0.5: m + (1 - beta1) * (g - m)
        exp_avg += np.multiply(np.subtract(grad, exp_avg, out=tmp), 1 - beta1, out=tmp)
        exp_avg_sq *= beta2
        exp_avg_sq += np.multiply(np.multiply(grad, grad, out=tmp), 1 - beta2, out=tmp)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        else:
            second = exp_avg_sq
        denom = np.sqrt(second, out=tmp)
        denom /= bias_correction2_sqrt
        denom += group["eps"]
        data -= np.multiply(np.divide(exp_avg, denom, out=tmp), step_size, out=tmp)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2), as ``torch.optim.AdamW``.

    Examples
    --------
    >>> import numpy as np
    >>> from upsamplex import nn, optim
    >>> p = nn.Parameter(np.array([1.0]))
    >>> opt = optim.AdamW([p], lr=0.1)
    >>> p.grad = np.array([0.0])
    >>> opt.step()
    >>> p.data  # only the decay moved it: 1 * (1 - 0.1 * 0.01)
    array([0.999])
    """

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
        *, maximize=False,
    ):
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
            decoupled_weight_decay=True,
        )
