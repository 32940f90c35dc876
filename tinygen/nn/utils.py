"""``torch.nn.utils`` helpers: gradient clipping, and all parameters as one flat vector.

    clip_grad_norm_(params, max_norm)    total = || (||g_1||_p, ..., ||g_k||_p) ||_p, the p-norm of
                                         every gradient entry at once; then every g_i is multiplied
                                         by min(1, max_norm / (total + 1e-6)), so the direction of
                                         the whole gradient is kept and only its length shrinks
    clip_grad_value_(params, value)      g <- clamp(g, -value, value), entry by entry
    parameters_to_vector(params)         cat(p.reshape(-1) for p in params)   (differentiable)
    vector_to_parameters(vec, params)    the inverse: each p takes its slice of vec

"In place" means what it means in PyTorch: each ``p.grad`` tensor keeps its identity and its new
values. tinygen gives the tensor a new array rather than writing into the old one, because the
backward pass may hand one array to several leaves (the gradient of ``a + b`` reaches ``a`` and
``b`` as the same array), and scaling it once per leaf would scale it twice.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from .. import backend as B
from ..autograd import Tensor
from ..ops.shape import cat

Parameters = Tensor | Iterable[Tensor]


def _as_list(parameters: Parameters) -> list[Tensor]:
    """One tensor or an iterable of them (a generator such as ``model.parameters()`` too)."""
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(a: Any, p: float) -> Any:
    """||a||_p over every entry of the array ``a``, as a 0-d array on a's device."""
    xp = B.array_module(a)
    if a.size == 0:
        return xp.zeros((), dtype=a.dtype)
    if p == math.inf:
        return xp.asarray(xp.abs(a).max())
    if p == 2.0:
        return xp.asarray(xp.sqrt((a * a).sum()))
    return xp.asarray((xp.abs(a) ** p).sum() ** (1.0 / p))


def _check_norm_type(norm_type: Any) -> float:
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        p = math.nan
    if not (p > 0):  # also rejects NaN
        raise ValueError(f"clip_grad_norm_: norm_type must be a positive number or inf, got {norm_type!r}")
    return p


def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients of ``parameters`` together so that their joint ``norm_type``-norm is at
    most ``max_norm``; return that norm as it was before clipping (a 0-d tensor). Parameters
    without a gradient are skipped. ``foreach`` is accepted for PyTorch's signature and ignored."""
    p = _check_norm_type(norm_type)
    grads = [t.grad for t in _as_list(parameters) if t.grad is not None]
    if not grads:
        return Tensor(0.0)
    device = grads[0].device
    # total = || (||g_1||, ..., ||g_k||) ||, computed on the first gradient's device
    norms = [B.to_device(_vector_norm(g.data, p), device) for g in grads]
    total = _vector_norm(B.module_for(device).stack(norms), p)
    if error_if_nonfinite and not bool(B.module_for(device).isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {p} of the gradients is "
                           f"{float(total)}; pass error_if_nonfinite=False to clip anyway")
    # g <- g * min(1, max_norm / (total + 1e-6)): only a norm above max_norm changes anything
    coef = B.module_for(device).minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g.data = g.data * B.to_device(coef, g.device).astype(g.dtype)
    return Tensor._make(total)


def clip_grad_value_(parameters: Parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry of ``parameters`` to [-clip_value, clip_value]."""
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value!r}")
    for t in _as_list(parameters):
        if t.grad is not None:
            g = t.grad
            g.data = B.array_module(g.data).clip(g.data, -clip_value, clip_value)


def parameters_to_vector(parameters: Parameters) -> Tensor:
    """All parameters flattened and joined into one vector, in order (differentiable)."""
    params = _as_list(parameters)
    for i, t in enumerate(params):
        if not isinstance(t, Tensor):
            raise TypeError(f"parameters_to_vector: parameter {i} is a {type(t).__name__}, not a Tensor")
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter, got none")
    return cat([t.reshape(-1) for t in params], 0)


def vector_to_parameters(vec: Tensor, parameters: Parameters) -> None:
    """Copy the slices of the flat ``vec`` into ``parameters``, in order (the inverse of
    :func:`parameters_to_vector`). As in PyTorch, each parameter becomes a view of ``vec``'s data
    (converted to its dtype and device only where they differ)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: vec must be a Tensor, got {type(vec).__name__}")
    params = _as_list(parameters)
    needed = sum(t.numel() for t in params)
    if vec.ndim != 1 or vec.numel() != needed:
        raise ValueError(f"vector_to_parameters: vec must be a 1-D tensor of {needed} elements (one per "
                         f"parameter entry), got shape {vec.shape}")
    start = 0
    for t in params:
        stop = start + t.numel()
        piece = vec.data[start:stop].reshape(t.shape)
        t.data = B.to_device(piece, t.device).astype(t.dtype, copy=False)
        start = stop
