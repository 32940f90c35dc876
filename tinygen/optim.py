"""Optimisers: SGD (with momentum), Adam and RMSprop. Each ``step`` is its update equations,
one line per equation, applied to ``p.data`` (optimisers are not part of the graph).

Conventions follow PyTorch, so the same hyperparameters give the same trajectory:

SGD      b_t = mu b_{t-1} + (1 - dampening) g_t   (b_1 = g_1)
         theta_t = theta_{t-1} - lr b_t            (nesterov: lr (g_t + mu b_t))
Adam     m_t = beta1 m_{t-1} + (1 - beta1) g_t
         v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
         m_hat = m_t / (1 - beta1^t),  v_hat = v_t / (1 - beta2^t)
         theta_t = theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps)       (t counts from 1)
RMSprop  v_t = alpha v_{t-1} + (1 - alpha) g_t^2
         b_t = mu b_{t-1} + g_t / (sqrt(v_t) + eps)   (b_0 = 0; without momentum, mu = 0)
         theta_t = theta_{t-1} - lr b_t

``weight_decay`` adds ``weight_decay * theta`` to the gradient first (L2, not AdamW).

Two paths, one set of numbers. Written as expressions, as below, each step allocates a few
temporaries the size of the parameter. With ``fused=True`` (the default, ``fused=None``) the
optimisers hand the same equations to ``optim_fused.py``, which evaluates them in place through one
work buffer per parameter. It performs the same floating-point operations in the same order, so
both paths give the same parameters and state to the bit; ``fused=False`` runs the code on this
page. The switch is not a hyperparameter and is not saved in ``state_dict``.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from . import backend as B
from . import optim_fused
from .autograd import Tensor


def _check_fused(owner: str, fused: bool | None) -> bool:
    if fused is not None and not isinstance(fused, bool):
        raise TypeError(f"{owner}: fused must be True, False or None, got {fused!r}")
    return fused is not False  # None: the library's default, the fast path


class Optimizer:
    """Holds the parameters, their per-parameter state and the hyperparameters."""

    def __init__(self, params: Iterable[Tensor], defaults: dict[str, Any], fused: bool | None = None) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a tensor that requires grad")
        if defaults.get("lr", 0) < 0:
            raise ValueError(f"{type(self).__name__}: lr must be non-negative, got {defaults['lr']}")
        self.defaults = dict(defaults)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        self.fused = _check_fused(type(self).__name__, fused)
        self._work_buffers = optim_fused.WorkBuffers()

    @property
    def lr(self) -> float:
        return self.defaults["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.defaults["lr"] = value

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None if set_to_none or p.grad is None else Tensor._make(p.grad.data * 0)

    def _grads(self) -> Iterable[tuple[Tensor, Any, dict[str, Any]]]:
        """(parameter, gradient array with weight decay added, state) for each parameter with a grad."""
        wd = self.defaults.get("weight_decay", 0.0)
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.shape:
                raise RuntimeError(f"{type(self).__name__}: gradient shape {g.shape} != parameter shape {p.shape}")
            if wd:
                g = g + wd * p.data  # g <- g + lambda theta (a new array: p.grad is left as it is)
            yield p, g, state

    def _work(self, p: Tensor) -> Any:
        """The fused path's work buffer for ``p`` (kept between steps, not part of the saved state)."""
        return self._work_buffers.like(id(p), p.data)

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: array or number}}, 'param_groups': [hyperparameters]} (host copies)."""
        state = {i: {k: (B.to_host(v).copy() if hasattr(v, "shape") else v) for k, v in s.items()}
                 for i, s in enumerate(self.state) if s}
        return {"state": state, "param_groups": [dict(self.defaults)]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict.get("param_groups", [{}])
        self.defaults.update(groups[0])
        self.state = [{} for _ in self.params]
        for key, s in state_dict.get("state", {}).items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise ValueError(f"{type(self).__name__}.load_state_dict: state for parameter {i}, "
                                 f"but the optimiser has {len(self.params)} parameters")
            p = self.params[i]
            restored = {}
            for k, v in s.items():
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                    if tuple(v.shape) != p.shape:
                        raise ValueError(f"{type(self).__name__}.load_state_dict: state {k!r} of parameter "
                                         f"{i} has shape {tuple(v.shape)}, the parameter {p.shape}")
                    restored[k] = B.to_device(B.to_host(v), p.device).astype(p.dtype, copy=True)
                else:
                    restored[k] = int(v) if k == "step" else (v.item() if hasattr(v, "item") else v)
            self.state[i] = restored


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``fused``: None or True evaluates the step in place (``optim_fused.sgd_``); False as written here.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 fused: bool | None = None) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov), fused=fused)

    def step(self) -> None:
        lr, mu = self.defaults["lr"], self.defaults["momentum"]
        dampening, nesterov = self.defaults["dampening"], self.defaults["nesterov"]
        for p, g, state in self._grads():
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

    ``fused``: None or True evaluates the step in place (``optim_fused.adam_``); False as written here.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, fused: bool | None = None) -> None:
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay),
                         fused=fused)

    def step(self) -> None:
        lr, eps = self.defaults["lr"], self.defaults["eps"]
        beta1, beta2 = self.defaults["betas"]
        for p, g, state in self._grads():
            xp = B.array_module(p.data)
            if not state:
                state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
            state["step"] += 1
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


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture notes, 2012), PyTorch's form: eps outside the square root.

    ``fused``: None or True evaluates the step in place (``optim_fused.rmsprop_``); False as written here.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum),
                         fused=fused)

    def step(self) -> None:
        lr, alpha, eps, mu = (self.defaults[k] for k in ("lr", "alpha", "eps", "momentum"))
        for p, g, state in self._grads():
            xp = B.array_module(p.data)
            if not state:
                state.update(step=0, square_avg=xp.zeros_like(p.data))
                if mu:
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
