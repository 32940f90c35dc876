"""Losses as Modules, as in ``torch.nn``: ``MSELoss``, ``L1Loss``, ``BCELoss``,
``BCEWithLogitsLoss``, ``CrossEntropyLoss``, ``NLLLoss``, ``KLDivLoss`` and ``GaussianNLLLoss``.

Each is a thin wrapper that stores its options and calls the functional loss of
tinygen/ops/loss.py, where the equations are. The constructors take PyTorch's arguments in
PyTorch's order. ``size_average`` and ``reduce`` are PyTorch's deprecated spellings of
``reduction``; given, they override it with PyTorch's rule (reduce=False gives 'none', else
size_average=False gives 'sum', else 'mean'). Per-class weights (``weight``, ``pos_weight``) are
buffers, as in PyTorch: they appear in ``state_dict`` and move with ``.to(device)``.
"""
from __future__ import annotations

from typing import Any

from ..autograd import Tensor
from ..ops import loss as L
from .module import Module


def _reduction(name: str, size_average: bool | None, reduce: bool | None, reduction: str,
               allowed: tuple[str, ...] = ("mean", "sum", "none")) -> str:
    """The reduction, from PyTorch's deprecated pair when either is given."""
    if size_average is not None or reduce is not None:
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(type(self).__name__, size_average, reduce, reduction)


class _WeightedLoss(_Loss):
    """A loss with an optional ``weight`` tensor, kept as a buffer."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if weight is not None and not isinstance(weight, Tensor):
            raise TypeError(f"{type(self).__name__}: weight must be a Tensor or None, got {type(weight).__name__}")
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """l = (x - t)^2 per element, then the reduction."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return L.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """l = |x - t| per element, then the reduction."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return L.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities ``input`` in [0, 1]; each log clamped at -100, as in
    PyTorch. Prefer ``BCEWithLogitsLoss`` on logits: it is exact where a sigmoid saturates."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return L.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, l = -w [p t log sigma(x) + (1 - t) log(1 - sigma(x))], with
    ``weight`` w per element and ``pos_weight`` p per class (broadcast along the last dim)."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        for arg, value in (("weight", weight), ("pos_weight", pos_weight)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"BCEWithLogitsLoss: {arg} must be a Tensor or None, got {type(value).__name__}")
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return L.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction, pos_weight=self.pos_weight)


class NLLLoss(_WeightedLoss):
    """l = -w_t log p_t from log-probabilities (N, C, ...) and class targets (N, ...); positions
    whose target is ``ignore_index`` count for nothing."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return L.nll_loss(input, target, reduction=self.reduction, ignore_index=self.ignore_index,
                          weight=self.weight)


class CrossEntropyLoss(_WeightedLoss):
    """l = -w_t log softmax(x)_t from logits (N, C, ...) and class targets (N, ...), or
    -sum_c w_c t_c log softmax(x)_c from class probabilities; with ``label_smoothing`` eps the
    target is mixed with the uniform distribution over the C classes (weight eps)."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        L._check_label_smoothing("CrossEntropyLoss", label_smoothing)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return L.cross_entropy(input, target, reduction=self.reduction, ignore_index=self.ignore_index,
                               weight=self.weight, label_smoothing=self.label_smoothing)


class KLDivLoss(_Loss):
    """l = p (log p - log q) per element, with ``input`` = log q and ``target`` = p (log p when
    ``log_target``). Use ``reduction='batchmean'`` for KL(p || q) averaged over the batch."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        Module.__init__(self)
        self.reduction = _reduction("KLDivLoss", size_average, reduce, reduction, L._KL_REDUCTIONS)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return L.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class GaussianNLLLoss(_Loss):
    """l = (log max(var, eps) + (x - t)^2 / max(var, eps)) / 2, plus log(2 pi) / 2 if ``full``."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Tensor, var: Tensor | float) -> Tensor:  # noqa: A002
        return L.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)
