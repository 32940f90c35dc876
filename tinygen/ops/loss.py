"""Losses. The classification losses take *logits* and use stable forms, so logits of +-10,000
give finite, exact values even with NumPy's warnings turned into errors. The exceptions are
PyTorch's: ``binary_cross_entropy`` takes probabilities (and clamps each log at -100, as PyTorch
does, so a probability of exactly 0 or 1 gives a finite loss), ``nll_loss`` and ``kl_div`` take
log-probabilities. Prefer ``binary_cross_entropy_with_logits``: a sigmoid rounded to 1.0 has lost
the information the logits form keeps.

Also here: ``l1_loss``, ``mse_loss`` and PyTorch's ``gaussian_nll_loss``. Every loss takes
``reduction='mean'`` (the default), ``'sum'`` or ``'none'``; ``kl_div`` also takes ``'batchmean'``.

Each loss body is its equation; the argument checks sit in the ``_check_*`` helpers below, and an
error names the loss, the argument and the shapes or values it received.

NaN and inf inputs: scanning for them is a pass over every input and, on a GPU, a wait for the
device in every loss, so, like the per-op scan in autograd, it runs only under
:func:`tinygen.detect_anomaly`. There a loss raises :class:`AnomalyError` naming itself and the
argument that holds NaN or inf, before any op sees it. Without it a NaN input gives a NaN loss,
as in PyTorch.
"""
from __future__ import annotations

import math
from typing import Any

from .. import backend as B
from .. import promotion as P
from ..autograd import AnomalyError, Function, Tensor, is_anomaly_enabled
from .activation import _sigmoid_array, log_softmax, sigmoid, softplus
from .arithmetic import abs, clamp, exp, log, mul_arrays, sub_arrays
from .shape import getitem, unsqueeze, where

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


def _check_unit_interval(name: str, target: Tensor, arg: str = "target") -> None:
    t = target.data
    if t.size and (float(t.min()) < 0 or float(t.max()) > 1):
        raise ValueError(f"{name}: {arg}s must lie in [0, 1], got values from {float(t.min())} "
                         f"to {float(t.max())}")


def _check_broadcasts_to(name: str, arg: str, t: Any, shape: tuple[int, ...]) -> None:
    """``t`` (a weight) is a Tensor that broadcasts to ``shape`` without changing it."""
    if t is None:
        return
    _check_tensors(name, **{arg: t})
    try:
        ok = B.np.broadcast_shapes(t.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: {arg} of shape {t.shape} does not broadcast to the input's shape {shape}")


def _check_class_weight(name: str, weight: Any, scores: Tensor) -> None:
    """A per-class rescaling weight: a floating-point tensor of shape (C,)."""
    if weight is None:
        return
    _check_tensors(name, weight=weight)
    n_classes = scores.shape[1]
    if weight.shape != (n_classes,) or not B.is_float(weight.data):
        raise ValueError(f"{name}: weight must be a floating-point tensor of shape ({n_classes},), one "
                         f"value per class, got shape {weight.shape} and dtype {weight.dtype}")


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


# ------------------------------------------------------------------------- mixed dtypes
def _meet(x: Any, t: Any) -> tuple[Any, Any]:
    """The arrays x and t in the dtype they meet in (promotion.py): an integer target joins a
    float32 input in float32; a float64 target makes the loss float64, as in PyTorch."""
    if x.dtype == t.dtype:
        return x, t
    dtype = P.pair_dtype(x, t)
    return x.astype(dtype, copy=False), t.astype(dtype, copy=False)


def _in_dtype_of(g: Tensor | None, t: Tensor) -> Tensor | None:
    """An input's gradient in that input's dtype (a float32 input of a float64 loss gets float32)."""
    return g if g is None or g.dtype == t.dtype else g.to(t.dtype)


def _in_dtype_of_array(g: Any, t: Tensor) -> Any:
    """_in_dtype_of for an array gradient."""
    return g if g is None or g.dtype == t.dtype else g.astype(t.dtype)


# ------------------------------------------------------------------------------------- losses
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error: (input - target)^2, averaged (or summed) over all elements."""
    _check_pair("mse_loss", reduction, input, target)
    # l = (x - t)^2
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error: |input - target|, averaged (or summed) over all elements. Its gradient
    at input == target is 0, as in PyTorch."""
    _check_pair("l1_loss", reduction, input, target)
    # l = |x - t|
    return _reduce(abs(input - target), reduction)


class BCEWithLogits(Function):
    """l = -[t log sigma(x) + (1 - t) log(1 - sigma(x))] = softplus(x) - t x

    computed as max(x, 0) - t x + log(1 + e^-|x|), which never overflows.
    """

    def forward(self, x: Any, t: Any) -> Any:
        xp = B.array_module(x)
        x, t = _meet(x, t)
        with B.quiet_underflow():
            return xp.maximum(x, 0) - t * x + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gl: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, t = self.inputs
        # dl/dx = sigma(x) - t,   dl/dt = -x
        gx = gl * (sigmoid(x) - t) if x.requires_grad else None
        gt = -gl * x if t.requires_grad else None
        return _in_dtype_of(gx, x), _in_dtype_of(gt, t)

    def backward_arrays(self, gl: Any) -> tuple[Any, Any]:  # the same on arrays
        x, t = self.inputs
        gx = mul_arrays(gl, sub_arrays(_sigmoid_array(x.data), t.data)) if x.requires_grad else None
        gt = mul_arrays(-gl, x.data) if t.requires_grad else None
        return _in_dtype_of_array(gx, x), _in_dtype_of_array(gt, t)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of ``target`` (in [0, 1]) under Bernoulli(sigmoid(input)).

    ``weight`` multiplies each element's loss; ``pos_weight`` (one value per class, broadcast along
    the last axis, as in PyTorch) multiplies the positive term only: p > 1 counts the positives
    more, trading precision for recall.
    """
    name = "binary_cross_entropy_with_logits"
    _check_pair(name, reduction, input, target)
    _check_unit_interval(name, target)
    _check_broadcasts_to(name, "weight", weight, input.shape)
    _check_broadcasts_to(name, "pos_weight", pos_weight, input.shape)
    if pos_weight is None:
        # l = -[t log sigma(x) + (1 - t) log(1 - sigma(x))]
        loss = BCEWithLogits()(input, target)
    else:
        # l = -[p t log sigma(x) + (1 - t) log(1 - sigma(x))]
        #   = (1 - t) x + (1 + (p - 1) t) softplus(-x),   as log sigma(x) = -softplus(-x)
        #                                                  and log(1 - sigma(x)) = -x - softplus(-x)
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus(-input)
    if weight is not None:
        loss = loss * weight  # times w
    return _reduce(loss, reduction)


_LOG_FLOOR = -100.0  # PyTorch's floor under log x and log(1 - x) in binary_cross_entropy
_EXP_LOG_FLOOR = math.exp(_LOG_FLOOR)  # log(max(x, e^-100)) = max(log x, -100)


class BinaryCrossEntropy(Function):
    """l = -[t max(log x, -100) + (1 - t) max(log(1 - x), -100)]  for probabilities x.

    The floor at -100 is PyTorch's: a probability rounded to exactly 0 or 1 gives a loss of 100,
    not inf. The input's gradient is PyTorch's too: the derivative of the unclamped formula with its
    denominator x (1 - x) floored at 1e-12. The target's gradient is the derivative of the clamped
    loss, so it is +-100 at x = 0 or 1 where PyTorch's (unclamped) one is +-inf.
    """

    def forward(self, x: Any, t: Any) -> Any:
        xp = B.array_module(x)
        x, t = _meet(x, t)
        with B.np.errstate(divide="ignore"):  # log 0 = -inf, floored at -100 below
            log_x = xp.maximum(xp.log(x), _LOG_FLOOR)
            log_1mx = xp.maximum(xp.log1p(-x), _LOG_FLOOR)
        return -(t * log_x + (1 - t) * log_1mx)

    def backward(self, gl: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, t = self.inputs
        # dl/dx = -t / x + (1 - t) / (1 - x) = (x - t) / (x (1 - x))
        gx = gl * (x - t) / clamp(x * (1 - x), min=1e-12) if x.requires_grad else None
        # dl/dt = max(log(1 - x), -100) - max(log x, -100)
        gt = None
        if t.requires_grad:
            gt = gl * (log(clamp(1 - x, min=_EXP_LOG_FLOOR)) - log(clamp(x, min=_EXP_LOG_FLOOR)))
        return _in_dtype_of(gx, x), _in_dtype_of(gt, t)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``target`` under Bernoulli(``input``), with ``input`` a probability
    in [0, 1] (PyTorch's ``BCELoss``). Each log is clamped at -100, as PyTorch does."""
    name = "binary_cross_entropy"
    _check_pair(name, reduction, input, target)
    _check_unit_interval(name, input, "input")
    _check_unit_interval(name, target)
    _check_broadcasts_to(name, "weight", weight, input.shape)
    # l = -[t log x + (1 - t) log(1 - x)], times w when weighted
    loss = BinaryCrossEntropy()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _class_shape(scores: Tensor) -> tuple[int, ...]:
    """(1, C, 1, ...): a per-class vector shaped to broadcast along the class axis 1."""
    return (1, scores.shape[1]) + (1,) * (scores.ndim - 2)


def _nll(log_probs: Tensor, labels: Any, reduction: str, ignore_index: int,
         weight: Tensor | None = None, label_smoothing: float = 0.0) -> Tensor:
    """l = -w_t log_probs[n, t, d1, ...] at every position (w_t = 1 without a weight); positions
    whose target is ``ignore_index`` give 0 and leave the mean, which divides by the sum of w_t
    over the targets that count (their number, unweighted), as PyTorch does.

    With label smoothing eps, as in PyTorch's cross_entropy, each counted position adds
    eps / C times -sum_c w_c log p_c and the picked term is scaled by (1 - eps); the mean's
    denominator stays the same.
    """
    xp = B.array_module(log_probs.data)
    keep = labels != ignore_index
    labels = xp.where(keep, labels, 0)  # any valid class where ignored: its term is multiplied by 0
    # at position (n, d1, ...) pick log_probs[n, t[n, d1, ...], d1, ...]: the class axis 1 takes the target
    index = list(xp.indices(labels.shape))
    index.insert(1, labels)
    # w_t: the weight of each position's target class, 0 where the target is ignored
    counted = Tensor._make(keep.astype(log_probs.dtype))
    w_t = counted if weight is None else getitem(weight, labels) * counted
    # l = -w_t log p_t
    loss = -getitem(log_probs, tuple(index)) * w_t
    if label_smoothing:
        # l = (1 - eps) l + (eps / C) (-sum_c w_c log p_c), at the counted positions
        n_classes = log_probs.shape[1]
        weighted = log_probs if weight is None else log_probs * weight.reshape(_class_shape(log_probs))
        smooth = -weighted.sum(1) * counted
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing / n_classes)
    if reduction != "mean":
        return _reduce(loss, reduction)
    if weight is None:  # sum / (number of targets that count)
        return loss.sum() * (1.0 / max(int(keep.sum()), 1))
    total = w_t.sum()  # sum / sum_i w_t_i (when every target is ignored, the sum is 0: return it)
    return loss.sum() / where(total.data > 0, total, 1.0)


def nll_loss(log_probs: Tensor, target: Any, reduction: str = "mean", ignore_index: int = -100,
             weight: Tensor | None = None) -> Tensor:
    """l = -w_t log p(target), from log-probabilities (N, C) or (N, C, d1, ...) and integer targets
    (N,) or (N, d1, ...) (a tensor, or a list or array, taken as int64). ``weight`` (C,) rescales
    each class; the mean is then the weighted mean, as in PyTorch."""
    _check_scores("nll_loss", "log_probs", log_probs, reduction)
    target = _as_target(target, log_probs)
    _check_classes("nll_loss", "log_probs", log_probs, target, ignore_index)
    _check_class_weight("nll_loss", weight, log_probs)
    return _nll(log_probs, target.data, reduction, ignore_index, weight)


def _check_label_smoothing(name: str, label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must lie in [0, 1], got {label_smoothing}")


def cross_entropy(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
                  ignore_index: int = -100, weight: Tensor | None = None,
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy from logits ``input`` (N, C) or (N, C, d1, ...) and targets that are either
    integer classes (N,) / (N, d1, ...) or class probabilities of the same shape as ``input``.

    A target given as a (nested) list or an array becomes a tensor: integers int64 class indices,
    as ``torch.tensor`` makes them, floats probabilities.

    ``weight`` (C,) rescales each class and ``label_smoothing`` eps mixes the target with the
    uniform distribution, both with PyTorch's conventions: for class targets the mean divides by
    the summed weights of the counted targets; for probability targets the target becomes
    (1 - eps) t + eps / C and the mean divides by the number of positions.
    """
    name = "cross_entropy"
    _check_scores(name, "input", input, reduction)
    label_smoothing = P.as_number(label_smoothing, name, "label_smoothing")
    _check_label_smoothing(name, label_smoothing)
    _check_class_weight(name, weight, input)
    target = _as_target(target, input)
    log_p = log_softmax(input, dim=1)
    if B.is_float(target.data):  # class probabilities
        _check_probabilities(name, input, target)
        if ignore_index >= 0:
            raise ValueError(f"{name}: ignore_index={ignore_index} needs class-index targets, "
                             f"not probabilities (as in PyTorch)")
        if label_smoothing:
            # t <- (1 - eps) t + eps / C
            target = target * (1.0 - label_smoothing) + label_smoothing / input.shape[1]
        if weight is not None:
            log_p = log_p * weight.reshape(_class_shape(input))
        # l = -sum_c w_c t_c log softmax(x)_c   (classes on axis 1)
        return _reduce(-(target * log_p).sum(1), reduction)
    _check_classes(name, "logits", input, target, ignore_index)
    # l = -w_t log softmax(x)[t]
    return _nll(log_p, target.data, reduction, ignore_index, weight, label_smoothing)


# ---------------------------------------------------------------------- divergences and densities
_KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False) -> Tensor:  # noqa: A002
    """PyTorch's ``kl_div``: pointwise KL terms of the target distribution p against q, where
    ``input`` holds log q and ``target`` holds p (or log p with ``log_target=True``):

        l = p (log p - log q),  with 0 log 0 = 0

    ``reduction='batchmean'`` (sum / batch size) gives KL(p || q) per sample, the divergence itself;
    ``'mean'`` divides by the number of elements, as PyTorch does (PyTorch warns about it).
    """
    name = "kl_div"
    if reduction not in _KL_REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_KL_REDUCTIONS}, got {reduction!r}")
    _check_pair(name, "none", input, target)  # "none": the reduction was checked just above
    if log_target:
        # l = e^t (t - x)   with t = log p, x = log q
        loss = exp(target) * (target - input)
    else:
        t = target.data
        if t.size and float(t.min()) < 0:
            raise ValueError(f"{name}: target probabilities must be non-negative (or pass "
                             f"log_target=True for log-probabilities), got a minimum of {float(t.min())}")
        # l = t (log t - x) where t > 0, and 0 where t = 0 (log is taken of 1 there, never of 0)
        positive = t > 0
        loss = where(positive, target * (log(where(positive, target, 1.0)) - input), 0.0)
    if reduction == "batchmean":
        return loss.sum() * (1.0 / input.shape[0]) if input.ndim else loss.sum()
    return _reduce(loss, reduction)


class ClampMinKeepGrad(Function):
    """y = max(v, eps), whose gradient passes to v unchanged: PyTorch's gaussian_nll_loss clamps
    var in place under no_grad, so the graph treats the clamp as the identity."""

    def __init__(self, eps: float) -> None:
        self.eps = eps

    def forward(self, v: Any) -> Any:
        return B.array_module(v).maximum(v, self.eps)

    def backward(self, gy: Tensor) -> Tensor:
        return gy

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy


def _gaussian_var(name: str, var: Any, input: Tensor) -> Tensor:  # noqa: A002
    """``var`` as PyTorch accepts it: a number, the input's shape, the input's shape without its
    last dim (then one variance per row), or the input's shape with exactly one dim of size 1."""
    if P.is_number(var) and not isinstance(var, (bool, B.np.bool_)):  # Python or NumPy
        var = P.as_number(var, name, "var")
        if var < 0:
            raise ValueError(f"{name}: var must be non-negative, got {var}")
        return Tensor._make(B.array_module(input.data).full(input.shape, var, dtype=input.dtype))
    _check_tensors(name, var=var)
    if not B.is_float(var.data):  # PyTorch refuses them too
        raise TypeError(f"{name}: var must be a number or a floating-point tensor, got a tensor of dtype "
                        f"{var.dtype} and shape {var.shape}")
    _check_finite(name, var=var)
    if var.data.size and float(var.data.min()) < 0:
        raise ValueError(f"{name}: var must be non-negative, got a minimum of {float(var.data.min())}")
    if var.shape == input.shape:
        return var
    if var.shape == input.shape[:-1]:
        return unsqueeze(var, -1)  # one variance shared along the last dim
    mismatched = [v for x, v in zip(input.shape, var.shape) if x != v]
    if var.ndim == input.ndim and mismatched == [1]:
        return var
    raise ValueError(f"{name}: var of shape {var.shape} must have the input's shape {input.shape}, that "
                     f"shape without its last dim, or that shape with one dim of size 1")


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under N(``input``, ``var``), PyTorch's formula:

        l = (log max(var, eps) + (x - t)^2 / max(var, eps)) / 2   [+ log(2 pi) / 2 if ``full``]

    As in PyTorch, the clamp at ``eps`` is invisible to the gradient (it acts as the identity).
    """
    name = "gaussian_nll_loss"
    _check_pair(name, reduction, input, target)
    eps = P.as_number(eps, name, "eps")  # a Python number: max(var, eps) keeps var's dtype
    v = ClampMinKeepGrad(eps)(_gaussian_var(name, var, input))
    # l = (log v + (x - t)^2 / v) / 2
    d = input - target
    loss = 0.5 * (log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
