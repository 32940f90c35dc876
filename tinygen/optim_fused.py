"""The fast path of the optimisers: the update equations of ``optim.py``, evaluated in place.

Read ``optim.py`` for the equations. This page computes exactly the same floating-point operations,
in the same order, so the two agree to the bit (``tests/test_optim_fused.py`` checks it, for every
optimiser and option, in float32 and float64). Only where the results go differs: written as
expressions, Adam's step makes about six temporaries the size of the parameter; here every
intermediate goes into the state arrays or into one work buffer per parameter, reused from step
to step. On the MLP of ``bench/bench_mlp.py`` an Adam step then takes about a fifth less time.

``optim.SGD``, ``optim.Adam``, ``optim.AdamW`` and ``optim.RMSprop`` call these kernels unless
built with ``fused=False``. Each kernel updates ``theta`` and the state arrays in place and
allocates nothing (SGD's first momentum step copies the gradient into a new buffer, as the plain
path does). Weight decay is shared by both paths and happens before the kernel runs: the L2 kind
is added to the gradient in a new array, AdamW's decoupled kind shrinks ``theta`` in place, so
AdamW's kernel is ``adam_``.

Why the order matters: floating-point arithmetic is not associative, so ``(1 - beta2) * (g * g)``
and ``((1 - beta2) * g) * g`` can differ in the last bit. Each line below names the expression of
``optim.py`` it reproduces. Products and sums of two operands may swap sides (IEEE 754 rounds
``a * b`` and ``b * a`` alike).
"""
from __future__ import annotations

import math
from typing import Any

from . import backend as B


class WorkBuffers:
    """One scratch array per parameter, kept between steps and never saved with the state."""

    def __init__(self) -> None:
        self._arrays: dict[int, Any] = {}

    def like(self, key: int, array: Any) -> Any:
        """A reusable array with the shape, dtype and device of ``array`` (contents undefined)."""
        work = self._arrays.get(key)
        if (work is None or work.shape != array.shape or work.dtype != array.dtype
                or B.device_of(work) != B.device_of(array)):
            work = self._arrays[key] = B.array_module(array).empty_like(array)
        return work


def sgd_(theta: Any, g: Any, state: dict[str, Any], work: Any, *, lr: float, momentum: float,
         dampening: float, nesterov: bool) -> None:
    """SGD with optional (Nesterov) momentum, in place on ``theta`` and ``state['momentum_buffer']``."""
    xp = B.array_module(theta)
    direction = g
    if momentum:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = g.copy()  # b = g.copy()
        else:
            b = state["momentum_buffer"]  # b = mu * b + (1 - dampening) * g
            b *= momentum
            xp.multiply(g, 1 - dampening, out=work)
            b += work
        b = state["momentum_buffer"]
        if nesterov:  # direction = g + mu * b
            xp.multiply(b, momentum, out=work)
            work += g
            direction = work
        else:
            direction = b
    xp.multiply(direction, lr, out=work)  # theta -= lr * direction
    theta -= work


def adam_(theta: Any, g: Any, state: dict[str, Any], work: Any, *, lr: float, beta1: float,
          beta2: float, eps: float) -> None:
    """Adam's step ``state['step']`` (counted from 1), in place on ``theta`` and the moment arrays."""
    xp = B.array_module(theta)
    t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
    m *= beta1  # m = beta1 * m + (1 - beta1) * g
    xp.multiply(g, 1 - beta1, out=work)
    m += work
    v *= beta2  # v = beta2 * v + (1 - beta2) * (g * g)
    xp.multiply(g, g, out=work)
    work *= 1 - beta2
    v += work
    bias_correction1, bias_correction2 = 1 - beta1 ** t, 1 - beta2 ** t
    xp.sqrt(v, out=work)  # sqrt_v_hat = xp.sqrt(v) * (1 / math.sqrt(bias_correction2))
    work *= 1 / math.sqrt(bias_correction2)
    work += eps  # theta -= lr / bias_correction1 * (m / (sqrt_v_hat + eps))
    xp.divide(m, work, out=work)
    work *= lr / bias_correction1
    theta -= work


def rmsprop_(theta: Any, g: Any, state: dict[str, Any], work: Any, *, lr: float, alpha: float,
             eps: float, momentum: float) -> None:
    """RMSprop with optional momentum, in place on ``theta`` and the arrays in ``state``."""
    xp = B.array_module(theta)
    v = state["square_avg"]  # v = alpha * v + (1 - alpha) * (g * g)
    v *= alpha
    xp.multiply(g, g, out=work)
    work *= 1 - alpha
    v += work
    xp.sqrt(v, out=work)  # direction = g / (xp.sqrt(v) + eps)
    work += eps
    direction = xp.divide(g, work, out=work)
    if momentum:
        b = state["momentum_buffer"]  # direction = b = mu * b + direction
        b *= momentum
        b += direction
        direction = b
    xp.multiply(direction, lr, out=work)  # theta -= lr * direction
    theta -= work
