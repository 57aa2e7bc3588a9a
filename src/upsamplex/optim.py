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

import numpy as np

from .nn import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _add(a, b, alpha):
    """torch's ``a.add(b, alpha=alpha)``."""
    return a + alpha * b


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, state dicts.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        The parameters, or groups ``{"params": [...], "lr": ...}`` whose keys
        override ``defaults`` for that group.
    defaults : dict
        Hyperparameters used where a group does not set them.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters or dicts, got a Parameter")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a dict ``{"params": [...], **hyperparameters}``."""
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Parameter) else list(params)
        for p in group["params"]:
            if not isinstance(p, Parameter):
                raise TypeError(
                    "optimizer can only optimize upsamplex.nn.Parameter objects, "
                    f"got {type(p).__name__}"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    @property
    def lr(self):
        """Learning rate of the first group; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        if value < 0:
            raise ValueError(f"Invalid learning rate: {value}")
        for group in self.param_groups:
            group["lr"] = value

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every optimized parameter (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad(set_to_none)

    def step(self):
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grad = np.asarray(p.grad, dtype=p.dtype)
                    self._update(p, grad, self.state.setdefault(p, {}), group)

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
        """Restore what :meth:`state_dict` returned for an optimizer over the same parameters."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)
        ):
            raise ValueError("loaded state dict has a different number of parameters or groups")
        params = [p for g in self.param_groups for p in g["params"]]
        self.state = {}
        for i, saved in state_dict["state"].items():
            self.state[params[int(i)]] = copy.deepcopy(saved)
        for own, saved in zip(self.param_groups, groups):
            own.update({k: v for k, v in saved.items() if k != "params"})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"


def _check(condition, message):
    if not condition:
        raise ValueError(message)


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
        _check(lr >= 0, f"Invalid learning rate: {lr}")
        _check(momentum >= 0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}")
        _check(
            not nesterov or (momentum > 0 and dampening == 0),
            "Nesterov momentum requires a momentum and zero dampening",
        )
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = _add(grad, p.data, group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = _add(grad, buf, momentum) if group["nesterov"] else buf
        p.data -= group["lr"] * grad


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
        _check(lr >= 0, f"Invalid learning rate: {lr}")
        _check(eps >= 0, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(weight_decay >= 0, f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if group["maximize"]:
            grad = -grad
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
                p.data *= 1 - lr * wd
            else:
                grad = _add(grad, p.data, wd)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (grad - exp_avg)  # torch's lerp_ for weight < 0.5
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * (grad * grad)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        else:
            second = exp_avg_sq
        denom = np.sqrt(second) / bias_correction2_sqrt + group["eps"]
        p.data -= step_size * (exp_avg / denom)


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
