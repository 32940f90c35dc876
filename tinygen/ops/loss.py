"""Losses. They take *logits* (never probabilities) and use stable forms, so logits of +-10,000
give finite, exact values even with NumPy's warnings turned into errors.

Every loss checks its inputs first: NaN or inf data, or mismatched shapes, raise an error that
names the loss and what it received, rather than quietly returning NaN.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import Function, Tensor
from .activation import log_softmax, sigmoid
from .shape import getitem, permute, reshape

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check(name: str, reduction: str, **tensors: Tensor) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    for arg, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {arg} must be a Tensor, got {type(t).__name__}")
        if B.is_float(t.data):
            finite = B.array_module(t.data).isfinite(t.data)
            if not bool(finite.all()):
                bad = int(t.data.size - finite.sum())
                raise ValueError(f"{name}: {arg} (shape {t.shape}) contains {bad} NaN or inf value(s)")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """l = (input - target)^2, averaged (or summed) over all elements."""
    _check("mse_loss", reduction, input=input, target=target)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    d = input - target
    return _reduce(d * d, reduction)


class BCEWithLogits(Function):
    """l = -[t log sigma(x) + (1 - t) log(1 - sigma(x))] = softplus(x) - t x

    computed as max(x, 0) - t x + log(1 + e^-|x|), which never overflows.
    """

    def forward(self, x: Any, t: Any) -> Any:
        xp = B.array_module(x)
        with B.quiet_underflow():
            return xp.maximum(x, 0) - t * x + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gl: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, t = self.inputs
        # dl/dx = sigma(x) - t,   dl/dt = -x
        gx = gl * (sigmoid(x) - t) if x.requires_grad else None
        gt = -gl * x if t.requires_grad else None
        return gx, gt


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                                     reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``target`` (in [0, 1]) under Bernoulli(sigmoid(input))."""
    _check("binary_cross_entropy_with_logits", reduction, input=input, target=target)
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and target "
                         f"shape {target.shape} differ")
    t = target.data
    if t.size and (float(t.min()) < 0 or float(t.max()) > 1):
        raise ValueError(f"binary_cross_entropy_with_logits: targets must lie in [0, 1], got values "
                         f"from {float(t.min())} to {float(t.max())}")
    loss = BCEWithLogits()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def nll_loss(log_probs: Tensor, target: Tensor, reduction: str = "mean",
             ignore_index: int = -100) -> Tensor:
    """l = -log p(target) from log-probabilities of shape (N, C) and integer targets (N,)."""
    _check("nll_loss", reduction, log_probs=log_probs)
    xp = B.array_module(log_probs.data)
    labels = xp.asarray(target.data if isinstance(target, Tensor) else target)
    if not xp.issubdtype(labels.dtype, xp.integer):
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {labels.dtype}")
    if log_probs.ndim != 2 or labels.shape != log_probs.shape[:1]:
        raise ValueError(f"nll_loss: expected log_probs (N, C) and target (N,), got {log_probs.shape} "
                         f"and {labels.shape}")
    n_classes = log_probs.shape[1]
    keep = labels != ignore_index
    used = labels[keep]
    if used.size and (int(used.min()) < 0 or int(used.max()) >= n_classes):
        raise ValueError(f"nll_loss: target values must lie in [0, {n_classes}), got values from "
                         f"{int(used.min())} to {int(used.max())}")
    safe = xp.where(keep, labels, 0)
    # pick log p(target_n) for each row n
    picked = getitem(log_probs, (xp.arange(labels.shape[0]), safe))
    loss = -picked * Tensor._make(keep.astype(log_probs.dtype))
    if reduction == "mean":
        return loss.sum() * (1.0 / max(int(keep.sum()), 1))
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
                  ignore_index: int = -100) -> Tensor:
    """Cross-entropy from logits ``input`` (N, C) or (N, C, d1, ...) and targets that are either
    integer classes (N,) / (N, d1, ...) or class probabilities of the same shape as ``input``."""
    _check("cross_entropy", reduction, input=input)
    if input.ndim < 2:
        raise ValueError(f"cross_entropy: input must be (N, C, ...) logits, got shape {input.shape}")
    logp = log_softmax(input, dim=1)
    if isinstance(target, Tensor) and B.is_float(target.data):
        if target.shape != input.shape:
            raise ValueError(f"cross_entropy: probability targets must match input shape {input.shape}, "
                             f"got {target.shape}")
        _check("cross_entropy", reduction, target=target)
        # l = -sum_c t_c log p_c
        return _reduce(-(target * logp).sum(1), reduction)
    # check class targets here, so the error names cross_entropy and the shapes the caller passed
    # (a (5, 2) target for (2, C, 5) logits would otherwise be flattened and silently mispaired)
    labels = target.data if isinstance(target, Tensor) else B.array_module(input.data).asarray(target)
    expected = input.shape[:1] + input.shape[2:]
    if labels.shape != expected:
        raise ValueError(f"cross_entropy: class targets for logits of shape {input.shape} must have shape "
                         f"{expected}, got {labels.shape}")
    used = labels[labels != ignore_index]
    if B.np.issubdtype(labels.dtype, B.np.integer) and used.size and (
            int(used.min()) < 0 or int(used.max()) >= input.shape[1]):
        raise ValueError(f"cross_entropy: target classes must lie in [0, {input.shape[1]}) (or equal "
                         f"ignore_index={ignore_index}), got values from {int(used.min())} to {int(used.max())}")
    if input.ndim > 2:  # move the class axis last and fold the rest into the batch
        c = input.shape[1]
        logp = reshape(permute(logp, 0, *range(2, input.ndim), 1), -1, c)
        labels = target.data if isinstance(target, Tensor) else target
        target = Tensor._make(labels.reshape(-1))
        if reduction == "none":
            loss = nll_loss(logp, target, "none", ignore_index)
            return reshape(loss, (input.shape[0],) + input.shape[2:])
    return nll_loss(logp, target, reduction, ignore_index)
