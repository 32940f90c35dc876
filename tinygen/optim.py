"""Optimisers: SGD (with momentum), Adam and RMSprop. Each ``step`` is its update equations,
written out, applied in place to ``p.data`` (optimisers are not part of the graph).

Conventions follow PyTorch, so the same hyperparameters give the same trajectory:

SGD      b_t = mu b_{t-1} + (1 - dampening) g_t   (b_1 = g_1)
         theta_t = theta_{t-1} - lr b_t            (nesterov: lr (g_t + mu b_t))
Adam     m_t = beta1 m_{t-1} + (1 - beta1) g_t
         v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
         m_hat = m_t / (1 - beta1^t),  v_hat = v_t / (1 - beta2^t)
         theta_t = theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps)       (t counts from 1)
RMSprop  v_t = alpha v_{t-1} + (1 - alpha) g_t^2
         theta_t = theta_{t-1} - lr g_t / (sqrt(v_t) + eps)

``weight_decay`` adds ``weight_decay * theta`` to the gradient first (L2, not AdamW).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from . import backend as B
from .autograd import Tensor


class Optimizer:
    """Holds the parameters, their per-parameter state and the hyperparameters."""

    def __init__(self, params: Iterable[Tensor], defaults: dict[str, Any]) -> None:
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
                g = g + wd * p.data  # g <- g + lambda theta
            yield p, g, state

    def step(self) -> None:
        raise NotImplementedError

    def _scratch(self, p: Tensor) -> Any:
        """A work buffer shaped like ``p``, kept between steps (not part of the saved state):
        updating in place through it avoids allocating several temporaries per parameter."""
        buffers = self.__dict__.setdefault("_buffers", {})
        work = buffers.get(id(p))
        if work is None or work.shape != p.shape or work.dtype != p.dtype or B.device_of(work) != p.device:
            work = buffers[id(p)] = B.array_module(p.data).empty_like(p.data)
        return work

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
    """Stochastic gradient descent with optional (Nesterov) momentum."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self) -> None:
        lr, mu = self.defaults["lr"], self.defaults["momentum"]
        dampening, nesterov = self.defaults["dampening"], self.defaults["nesterov"]
        for p, g, state in self._grads():
            if mu:
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.copy()  # b_1 = g_1
                else:
                    b = state["momentum_buffer"]
                    b *= mu
                    b += (1 - dampening) * g  # b_t = mu b_{t-1} + (1 - dampening) g_t
                b = state["momentum_buffer"]
                g = g + mu * b if nesterov else b
            p.data -= lr * g  # theta_t = theta_{t-1} - lr * b_t


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction; the step count t starts at 1."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def step(self) -> None:
        lr, eps = self.defaults["lr"], self.defaults["eps"]
        beta1, beta2 = self.defaults["betas"]
        for p, g, state in self._grads():
            xp = B.array_module(p.data)
            if not state:
                state["step"] = 0
                state["exp_avg"] = xp.zeros_like(p.data)
                state["exp_avg_sq"] = xp.zeros_like(p.data)
            state["step"] += 1
            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            work = self._scratch(p)  # one reusable buffer: no temporaries the size of p
            # m_t = beta1 m_{t-1} + (1 - beta1) g_t
            m *= beta1
            xp.multiply(g, 1 - beta1, out=work)
            m += work
            # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
            v *= beta2
            xp.multiply(g, g, out=work)
            work *= 1 - beta2
            v += work
            # theta_t = theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps), with
            # m_hat = m / (1 - beta1^t) and sqrt(v_hat) = sqrt(v) / sqrt(1 - beta2^t)
            xp.sqrt(v, out=work)
            work *= 1 / math.sqrt(1 - beta2 ** t)
            work += eps
            xp.divide(m, work, out=work)
            work *= lr / (1 - beta1 ** t)
            p.data -= work


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture notes, 2012), PyTorch's form: eps outside the square root."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum))

    def step(self) -> None:
        lr, alpha, eps, mu = (self.defaults[k] for k in ("lr", "alpha", "eps", "momentum"))
        for p, g, state in self._grads():
            xp = B.array_module(p.data)
            if not state:
                state["step"] = 0
                state["square_avg"] = xp.zeros_like(p.data)
                if mu:
                    state["momentum_buffer"] = xp.zeros_like(p.data)
            state["step"] += 1
            v = state["square_avg"]
            # v_t = alpha v_{t-1} + (1 - alpha) g_t^2
            v *= alpha
            work = self._scratch(p)
            xp.multiply(g, g, out=work)
            work *= 1 - alpha
            v += work
            xp.sqrt(v, out=work)
            work += eps
            update = xp.divide(g, work, out=work)
            if mu:
                b = state["momentum_buffer"]
                b *= mu
                b += update  # b_t = mu b_{t-1} + g / (sqrt(v) + eps)
                update = b
            p.data -= lr * update  # theta_t = theta_{t-1} - lr * update
