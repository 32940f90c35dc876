"""Losses. They take *logits* (never probabilities) and use stable forms, so logits of +-10,000
give finite, exact values even with NumPy's warnings turned into errors.

Each loss body is its equation; the argument checks sit in the ``_check_*`` helpers below, and an
error names the loss, the argument and the shapes or values it received.

NaN and inf inputs: scanning for them is a pass over every input and, on a GPU, a wait for the
device in every loss, so, like the per-op scan in autograd, it runs only under
:func:`tinygen.detect_anomaly`. There a loss raises :class:`AnomalyError` naming itself and the
argument that holds NaN or inf, before any op sees it. Without it a NaN input gives a NaN loss,
as in PyTorch.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import AnomalyError, Function, Tensor, is_anomaly_enabled
from .activation import log_softmax, sigmoid
from .shape import getitem

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ------------------------------------------------------------------------------ argument checks
def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_tensors(name: str, **tensors: Any) -> None:
    for arg, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {arg} must be a Tensor, got {type(t).__name__}")


def _check_finite(name: str, **tensors: Tensor) -> None:
    """Under detect_anomaly only: raise if a floating-point argument holds NaN or inf."""
    if not is_anomaly_enabled():
        return
    for arg, t in tensors.items():
        if B.is_float(t.data):
            finite = B.array_module(t.data).isfinite(t.data)
            if not bool(finite.all()):
                bad = int(t.data.size - finite.sum())
                raise AnomalyError(f"{name}: {arg} (shape {t.shape}) contains {bad} NaN or inf value(s)")


def _check_same_shape(name: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ValueError(f"{name}: input shape {input.shape} and target shape {target.shape} differ")


def _check_pair(name: str, reduction: str, input: Any, target: Any) -> None:  # noqa: A002
    """The checks of a loss between two tensors of one shape (mse, binary cross-entropy)."""
    _check_reduction(name, reduction)
    _check_tensors(name, input=input, target=target)
    _check_finite(name, input=input, target=target)
    _check_same_shape(name, input, target)


def _check_unit_interval(name: str, target: Tensor) -> None:
    t = target.data
    if t.size and (float(t.min()) < 0 or float(t.max()) > 1):
        raise ValueError(f"{name}: targets must lie in [0, 1], got values from {float(t.min())} "
                         f"to {float(t.max())}")


def _check_scores(name: str, arg: str, scores: Any, reduction: str) -> None:
    """Logits or log-probabilities with the classes on axis 1: (N, C) or (N, C, d1, ...)."""
    _check_reduction(name, reduction)
    _check_tensors(name, **{arg: scores})
    _check_finite(name, **{arg: scores})
    if scores.ndim < 2:
        raise ValueError(f"{name}: {arg} must have shape (N, C) or (N, C, d1, ...), got shape {scores.shape}")


def _check_classes(name: str, arg: str, scores: Tensor, target: Tensor, ignore_index: int) -> None:
    """Integer class targets of shape (N, d1, ...) for scores (N, C, d1, ...), each in [0, C)."""
    labels = target.data
    if not B.np.issubdtype(labels.dtype, B.np.integer):
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {labels.dtype}")
    # compared as given: a (5, 2) target for (2, C, 5) scores holds as many labels as (2, 5) would,
    # but flattening it would pair them with the wrong positions
    expected = scores.shape[:1] + scores.shape[2:]
    if labels.shape != expected:
        raise ValueError(f"{name}: class targets for {arg} of shape {scores.shape} must have shape "
                         f"{expected}, got {labels.shape}")
    used = labels[labels != ignore_index]
    n_classes = scores.shape[1]
    if used.size and (int(used.min()) < 0 or int(used.max()) >= n_classes):
        raise ValueError(f"{name}: target classes must lie in [0, {n_classes}) (or equal ignore_index="
                         f"{ignore_index}), got values from {int(used.min())} to {int(used.max())}")


def _check_probabilities(name: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    _check_finite(name, target=target)
    if target.shape != input.shape:
        raise ValueError(f"{name}: probability targets must match input shape {input.shape}, got {target.shape}")


def _as_target(target: Any, like: Tensor) -> Tensor:
    """A list or array target as a tensor on ``like``'s device: integers become int64 class indices,
    as ``torch.tensor`` makes them; floats become probabilities in ``like``'s dtype."""
    if isinstance(target, Tensor):
        return target
    array = B.to_device(target, like.device)
    if B.np.issubdtype(array.dtype, B.np.integer):
        array = array.astype(B.int64, copy=False)
    elif B.np.issubdtype(array.dtype, B.np.floating):
        array = array.astype(like.dtype, copy=False)
    return Tensor._make(array)


# ------------------------------------------------------------------------------------- losses
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error: (input - target)^2, averaged (or summed) over all elements."""
    _check_pair("mse_loss", reduction, input, target)
    # l = (x - t)^2
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
    name = "binary_cross_entropy_with_logits"
    _check_pair(name, reduction, input, target)
    _check_unit_interval(name, target)
    # l = -[t log sigma(x) + (1 - t) log(1 - sigma(x))], times w when weighted
    loss = BCEWithLogits()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _nll(log_probs: Tensor, labels: Any, reduction: str, ignore_index: int) -> Tensor:
    """l = -log_probs[n, t, d1, ...] at every position; positions whose target is ``ignore_index``
    give 0 and leave the mean, which averages over the targets that count."""
    xp = B.array_module(log_probs.data)
    keep = labels != ignore_index
    # at position (n, d1, ...) pick log_probs[n, t[n, d1, ...], d1, ...]: the class axis 1 takes the target
    index = list(xp.indices(labels.shape))
    index.insert(1, xp.where(keep, labels, 0))
    # l = -log p_t, times 0 where the target is ignored
    loss = -getitem(log_probs, tuple(index)) * Tensor._make(keep.astype(log_probs.dtype))
    if reduction == "mean":  # sum / (number of targets that count)
        return loss.sum() * (1.0 / max(int(keep.sum()), 1))
    return _reduce(loss, reduction)


def nll_loss(log_probs: Tensor, target: Any, reduction: str = "mean",
             ignore_index: int = -100) -> Tensor:
    """l = -log p(target), from log-probabilities (N, C) or (N, C, d1, ...) and integer targets
    (N,) or (N, d1, ...) (a tensor, or a list or array, taken as int64)."""
    _check_scores("nll_loss", "log_probs", log_probs, reduction)
    target = _as_target(target, log_probs)
    _check_classes("nll_loss", "log_probs", log_probs, target, ignore_index)
    return _nll(log_probs, target.data, reduction, ignore_index)


def cross_entropy(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
                  ignore_index: int = -100) -> Tensor:
    """Cross-entropy from logits ``input`` (N, C) or (N, C, d1, ...) and targets that are either
    integer classes (N,) / (N, d1, ...) or class probabilities of the same shape as ``input``.

    A target given as a (nested) list or an array becomes a tensor: integers int64 class indices,
    as ``torch.tensor`` makes them, floats probabilities.
    """
    _check_scores("cross_entropy", "input", input, reduction)
    target = _as_target(target, input)
    if B.is_float(target.data):  # class probabilities
        _check_probabilities("cross_entropy", input, target)
        # l = -sum_c t_c log softmax(x)_c   (classes on axis 1)
        return _reduce(-(target * log_softmax(input, dim=1)).sum(1), reduction)
    _check_classes("cross_entropy", "logits", input, target, ignore_index)
    # l = -log softmax(x)[t]
    return _nll(log_softmax(input, dim=1), target.data, reduction, ignore_index)
