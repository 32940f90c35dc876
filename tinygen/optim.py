"""Optimisers: SGD (with momentum), Adam, AdamW and RMSprop. Each ``step`` is its update equations,
one line per equation, applied to ``p.data`` (optimisers are not part of the graph).

Conventions follow PyTorch, so the same hyperparameters give the same trajectory:

SGD      b_t = mu b_{t-1} + (1 - dampening) g_t   (b_1 = g_1)
         theta_t = theta_{t-1} - lr b_t            (nesterov: lr (g_t + mu b_t))
Adam     m_t = beta1 m_{t-1} + (1 - beta1) g_t
         v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
         m_hat = m_t / (1 - beta1^t),  v_hat = v_t / (1 - beta2^t)
         theta_t = theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps)       (t counts from 1)
AdamW    theta_t = theta_{t-1} - lr lambda theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps)
         (m_hat, v_hat as in Adam, from g_t alone)
RMSprop  v_t = alpha v_{t-1} + (1 - alpha) g_t^2
         b_t = mu b_{t-1} + g_t / (sqrt(v_t) + eps)   (b_0 = 0; without momentum, mu = 0)
         theta_t = theta_{t-1} - lr b_t

Weight decay, two ways. In SGD, Adam and RMSprop, ``weight_decay`` (lambda) adds ``lambda theta``
to the gradient first: L2 regularisation, the gradient of (lambda / 2) |theta|^2. In Adam that
term then goes through the division by sqrt(v_hat), so a weight with large gradients is hardly
decayed at all. AdamW (Loshchilov and Hutter, 2019) "decouples" the decay from the gradient: it
shrinks every weight by the same factor (1 - lr lambda) and gives Adam the plain gradient.

Parameter groups. As in PyTorch, an optimiser keeps ``param_groups``, a list of dicts: each holds
its ``params`` and its own hyperparameters, and a hyperparameter a group leaves out is the
constructor's (``defaults``). ``step`` reads every hyperparameter from the group of the parameter
it updates, so ``opt.param_groups[0]["lr"] = 1e-4`` is how a learning rate is changed by hand, and
what ``lr_scheduler`` does. ``opt.lr`` reads or sets the learning rate of every group at once: a
tinygen convenience, not a PyTorch attribute. ``opt.state`` is a list with one dict per parameter,
in the order of the groups and of the parameters in each (PyTorch keys it by the parameter; the
position is the index ``state_dict`` uses in both).

Two paths, one set of numbers. Written as expressions, as below, each step allocates a few
temporaries the size of the parameter. With ``fused=True`` (the default, ``fused=None``) the
optimisers hand the same equations to ``optim_fused.py``, which evaluates them in place through one
work buffer per parameter. It performs the same floating-point operations in the same order, so
both paths give the same parameters and state to the bit; ``fused=False`` runs the code on this
page. The switch is not a hyperparameter and is not saved in ``state_dict``.
"""
from __future__ import annotations

import copy
import math
import numbers
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import backend as B
from . import lr_scheduler
from . import optim_fused
from .autograd import Tensor, _bump_version

# PyTorch keeps its schedulers in torch.optim.lr_scheduler. The same name works here, as an
# attribute and as an import path (``from tinygen.optim.lr_scheduler import StepLR``), the way
# ``import os.path`` works: the module is registered under that name too.
sys.modules[f"{__name__}.lr_scheduler"] = lr_scheduler

ParamGroup = dict[str, Any]


def _check_fused(owner: str, fused: bool | None) -> bool:
    if fused is not None and not isinstance(fused, bool):
        raise TypeError(f"{owner}: fused must be True, False or None, got {fused!r}")
    return fused is not False  # None: the library's default, the fast path


def _check_lr(owner: str, lr: Any, where: str) -> None:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr >= 0:
        raise ValueError(f"{owner}: lr must be a non-negative number, got {lr!r}{where}")


def _as_param_groups(owner: str, params: Any) -> list[Mapping[str, Any]]:
    """The constructor's ``params``, either parameters or dicts of them, as a list of group dicts."""
    if isinstance(params, (Tensor, Mapping)):
        kind = "a single Tensor" if isinstance(params, Tensor) else "a single dict"
        raise TypeError(f"{owner}: params must be an iterable of tensors or of dicts, got {kind}; "
                        f"wrap it in a list")
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{owner}: params must be an ordered collection (a list), not a set: the state_dict "
                        f"numbers the parameters by their order")
    try:
        items = list(params)
    except TypeError:
        raise TypeError(f"{owner}: params must be an iterable of tensors or of dicts, "
                        f"got {type(params).__name__}") from None
    if not items:
        raise ValueError(f"{owner}: got an empty parameter list")
    dicts = [isinstance(item, Mapping) for item in items]
    if all(dicts):
        return items
    if any(dicts):
        raise TypeError(f"{owner}: params mixes dicts and tensors; give a list of tensors or a list of dicts")
    return [{"params": items}]


class Optimizer:
    """Holds the parameter groups, the per-parameter state and the default hyperparameters."""

    def __init__(self, params: Iterable[Tensor] | Iterable[Mapping[str, Any]], defaults: dict[str, Any],
                 fused: bool | None = None) -> None:
        owner = type(self).__name__
        self._check_group(defaults, "")
        self.defaults = dict(defaults)
        self.param_groups: list[ParamGroup] = []
        self.state: list[dict[str, Any]] = []
        for group in _as_param_groups(owner, params):
            self.add_param_group(group)
        self.fused = _check_fused(owner, fused)
        self._work_buffers = optim_fused.WorkBuffers()

    # ------------------------------------------------------------------------ param groups
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Append a group: ``{"params": [...], "lr": ...}``; options it leaves out are ``defaults``.

        The dict is copied: changing it afterwards does not change the optimiser (change
        ``opt.param_groups[i]`` instead).
        """
        owner = type(self).__name__
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{owner}: a param group must be a dict with a 'params' entry, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise TypeError(f"{owner}: a param group must be a dict with a 'params' entry, got dict with keys "
                            f"{list(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, (set, frozenset)) or not isinstance(params, (Tensor, Iterable)):
            raise TypeError(f"{owner}: a group's params must be a list of tensors, got {type(params).__name__}")
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        self._check_params(group["params"])
        self._check_group(group, f" (param group {len(self.param_groups)})")
        self.param_groups.append(group)
        self.state.extend({} for _ in group["params"])

    def _check_params(self, new: list[Any]) -> None:
        owner, first = type(self).__name__, sum(len(g["params"]) for g in self.param_groups)
        seen = {id(p) for _, p, _ in self._parameters()}
        for i, p in enumerate(new, start=first):
            if not isinstance(p, Tensor) or not p.requires_grad:
                got = ("a Tensor with requires_grad=False" if isinstance(p, Tensor) else type(p).__name__)
                raise TypeError(f"{owner}: parameter {i} is not a tensor that requires grad (got {got})")
            if id(p) in seen:
                # a parameter listed twice would be stepped twice, with two states
                raise ValueError(f"{owner}: parameter {i} (shape {p.shape}) appears more than once in the "
                                 f"param groups")
            seen.add(id(p))

    def _check_group(self, group: Mapping[str, Any], where: str) -> None:
        """Refuse hyperparameters that make no sense (subclasses add their own checks)."""
        _check_lr(type(self).__name__, group.get("lr", 0.0), where)

    def _parameters(self) -> Iterator[tuple[ParamGroup, Tensor, dict[str, Any]]]:
        """(group, parameter, state) for every parameter, in the order of ``state`` and ``state_dict``."""
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                if i == len(self.state):  # a group appended to param_groups by hand
                    self.state.append({})
                yield group, p, self.state[i]
                i += 1

    @property
    def lr(self) -> float:
        """The learning rate of every group (tinygen's shorthand; groups with different rates refuse).

        Setting it sets ``param_groups[i]["lr"]`` for every group.
        """
        rates = [group["lr"] for group in self.param_groups]
        if any(rate != rates[0] for rate in rates):
            raise ValueError(f"{type(self).__name__}.lr: the param groups have different learning rates "
                             f"{rates}; read param_groups[i]['lr'] instead")
        return rates[0]

    @lr.setter
    def lr(self, value: float) -> None:
        _check_lr(f"{type(self).__name__}.lr", value, "")
        for group in self.param_groups:
            group["lr"] = value

    # ------------------------------------------------------------------------------- step
    def zero_grad(self, set_to_none: bool = True) -> None:
        for _, p, _ in self._parameters():
            p.grad = None if set_to_none or p.grad is None else Tensor._make(p.grad.data * 0)

    def _grads(self, l2: bool = True) -> Iterator[tuple[ParamGroup, Tensor, Any, dict[str, Any]]]:
        """(group, parameter, gradient array, state) for each parameter with a grad.

        With ``l2``, the gradient has the group's weight decay added (L2 regularisation).
        """
        for group, p, state in self._parameters():
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.shape:
                raise RuntimeError(f"{type(self).__name__}: gradient shape {g.shape} != parameter shape {p.shape}")
            wd = group.get("weight_decay", 0.0)
            if l2 and wd:
                g = g + wd * p.data  # g <- g + lambda theta (a new array: p.grad is left as it is)
            _bump_version(p)  # the step writes p in place: a graph that saved p can no longer backward
            yield group, p, g, state

    def _work(self, p: Tensor) -> Any:
        """The fused path's work buffer for ``p`` (kept between steps, not part of the saved state)."""
        return self._work_buffers.like(id(p), p.data)

    def step(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout, as host copies: ``{'state': {index: {name: array or number}},
        'param_groups': [{hyperparameters..., 'params': [indices]}]}``.

        Parameters are numbered 0, 1, ... through the groups in order; a parameter that never had a
        gradient has no state entry.
        """
        groups, start = [], 0
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        state = {i: {k: (B.to_host(v).copy() if hasattr(v, "shape") else v) for k, v in s.items()}
                 for i, (_, _, s) in enumerate(self._parameters()) if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """The inverse of ``state_dict``: copies everything in (the caller's arrays stay its own).

        The groups must match in number and size; each group's saved hyperparameters replace the
        current ones (an option the checkpoint lacks keeps its current value). All is checked
        before anything changes.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        saved_groups = state_dict.get("param_groups", [{}])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{owner}: the state has {len(saved_groups)} param groups, the optimiser "
                             f"{len(self.param_groups)}")
        index, options, start = {}, [], 0  # index: saved parameter number -> ours
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            n = len(group["params"])
            saved_ids = list(saved.get("params", range(start, start + n)))  # no 'params': the old one-group format
            if len(saved_ids) != n:
                raise ValueError(f"{owner}: param group {g} has {len(saved_ids)} parameters in the state, "
                                 f"{n} in the optimiser")
            index.update(zip((int(i) for i in saved_ids), range(start, start + n)))
            options.append({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            self._check_group({**group, **options[-1]}, f" (param group {g} of the state)")
            start += n
        params = [p for _, p, _ in self._parameters()]
        states: list[dict[str, Any]] = [{} for _ in params]
        for key, saved_state in state_dict.get("state", {}).items():
            if int(key) not in index:
                raise ValueError(f"{owner}: state for parameter {int(key)}, but the param groups number "
                                 f"{len(params)} parameters")
            i = index[int(key)]
            states[i] = self._restored_state(saved_state, params[i], i)
        for group, new in zip(self.param_groups, options):
            group.update(new)
        self.state = states

    def _restored_state(self, saved: Mapping[str, Any], p: Tensor, i: int) -> dict[str, Any]:
        """One parameter's state, as new arrays on the parameter's device and in its dtype."""
        restored = {}
        for k, v in saved.items():
            if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                if tuple(v.shape) != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {k!r} of parameter "
                                     f"{i} has shape {tuple(v.shape)}, the parameter {p.shape}")
                restored[k] = B.to_device(B.to_host(v), p.device).astype(p.dtype, copy=True)
            else:
                restored[k] = int(v) if k == "step" else (v.item() if hasattr(v, "item") else v)
        return restored


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``fused``: None or True evaluates the step in place (``optim_fused.sgd_``); False as written here.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[Mapping[str, Any]], lr: float = 1e-3,
                 momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov), fused=fused)

    def _check_group(self, group: Mapping[str, Any], where: str) -> None:
        super()._check_group(group, where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov momentum needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']}, dampening={group['dampening']}{where}")

    def step(self) -> None:
        for group, p, g, state in self._grads():
            lr, mu, dampening, nesterov = (group[k] for k in ("lr", "momentum", "dampening", "nesterov"))
            if self.fused:  # the same equations, evaluated in place
                optim_fused.sgd_(p.data, g, state, self._work(p), lr=lr, momentum=mu,
                                 dampening=dampening, nesterov=nesterov)
                continue
            direction = g
            if mu:
                if "momentum_buffer" not in state:
                    # b_1 = g_1 (a copy: the buffer must not share memory with p.grad)
                    b = g.copy()
                else:
                    # b_t = mu b_{t-1} + (1 - dampening) g_t
                    b = mu * state["momentum_buffer"] + (1 - dampening) * g
                state["momentum_buffer"] = b
                # Nesterov evaluates the momentum step one step ahead: g_t + mu b_t
                direction = g + mu * b if nesterov else b
            # theta_t = theta_{t-1} - lr b_t  (b_t = g_t without momentum)
            p.data -= lr * direction


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction; the step count t starts at 1.

    ``weight_decay`` is L2 regularisation, added to the gradient (for the decoupled kind, AdamW).
    ``fused``: None or True evaluates the step in place (``optim_fused.adam_``); False as written here.
    """

    decoupled_weight_decay = False  # AdamW: shrink theta directly instead of adding lambda theta to g

    def __init__(self, params: Iterable[Tensor] | Iterable[Mapping[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay),
                         fused=fused)

    def _check_group(self, group: Mapping[str, Any], where: str) -> None:
        super()._check_group(group, where)
        betas = group["betas"]
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"{type(self).__name__}: betas must lie in [0, 1), got {betas}{where}")

    def step(self) -> None:
        for group, p, g, state in self._grads(l2=not self.decoupled_weight_decay):
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            xp = B.array_module(p.data)
            if not state:
                state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
            state["step"] += 1
            if self.decoupled_weight_decay and weight_decay:
                # AdamW: theta <- theta (1 - lr lambda), the decay kept out of the adaptive step
                # (in place, one line for both paths)
                p.data *= 1 - lr * weight_decay
            if self.fused:  # the same equations, evaluated in place
                optim_fused.adam_(p.data, g, state, self._work(p), lr=lr, beta1=beta1, beta2=beta2, eps=eps)
                continue
            t = state["step"]
            # m_t = beta1 m_{t-1} + (1 - beta1) g_t
            m = state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
            # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
            v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * (g * g)
            # m and v start at 0, so for a stationary gradient E[m_t] = (1 - beta1^t) E[g] and
            # E[v_t] = (1 - beta2^t) E[g^2]: dividing by these undoes the pull towards 0
            bias_correction1, bias_correction2 = 1 - beta1 ** t, 1 - beta2 ** t
            # sqrt(v_hat) = sqrt(v_t / (1 - beta2^t)) = sqrt(v_t) / sqrt(1 - beta2^t)
            sqrt_v_hat = xp.sqrt(v) * (1 / math.sqrt(bias_correction2))
            # theta_t = theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps), with lr m_hat = lr / (1 - beta1^t) m_t:
            # m's correction rides on the scalar step size, so no array m_hat is needed (PyTorch's form)
            p.data -= lr / bias_correction1 * (m / (sqrt_v_hat + eps))


class AdamW(Adam):
    """AdamW (Loshchilov and Hutter, 2019): Adam with decoupled weight decay.

    theta_t = theta_{t-1} - lr lambda theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps), where m_hat and
    v_hat are Adam's moments of the plain gradient g_t: the decay never enters m or v. PyTorch's
    default lambda is 0.01, and so is ours. ``fused`` as in ``Adam`` (the decay is one in-place
    multiplication on either path).
    """

    decoupled_weight_decay = True

    def __init__(self, params: Iterable[Tensor] | Iterable[Mapping[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture notes, 2012), PyTorch's form: eps outside the square root.

    ``fused``: None or True evaluates the step in place (``optim_fused.rmsprop_``); False as written here.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[Mapping[str, Any]], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum),
                         fused=fused)

    def step(self) -> None:
        for group, p, g, state in self._grads():
            lr, alpha, eps, mu = (group[k] for k in ("lr", "alpha", "eps", "momentum"))
            xp = B.array_module(p.data)
            if not state:
                state.update(step=0, square_avg=xp.zeros_like(p.data))
            if mu and "momentum_buffer" not in state:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            state["step"] += 1
            if self.fused:  # the same equations, evaluated in place
                optim_fused.rmsprop_(p.data, g, state, self._work(p), lr=lr, alpha=alpha, eps=eps, momentum=mu)
                continue
            # v_t = alpha v_{t-1} + (1 - alpha) g_t^2
            v = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * (g * g)
            # each coordinate of g_t divided by the root of its running mean square
            direction = g / (xp.sqrt(v) + eps)
            if mu:
                # b_t = mu b_{t-1} + g_t / (sqrt(v_t) + eps)
                direction = state["momentum_buffer"] = mu * state["momentum_buffer"] + direction
            # theta_t = theta_{t-1} - lr b_t
            p.data -= lr * direction
