"""Reductions: sum, mean, var, max/min, logsumexp.

A reduction's backward spreads the upstream gradient back over the reduced axes: ``sum`` copies
it to every element, ``max`` sends it only to the element that won.
"""
from __future__ import annotations

import builtins
from typing import Any, NamedTuple, Sequence

from .. import backend as B
from ..autograd import Function, Tensor
from .broadcast import broadcast_to

Dim = int | Sequence[int] | None


def normalize_dims(dim: Dim, ndim: int, op: str = "reduction") -> tuple[int, ...]:
    """Turn ``dim`` (None, int or sequence, negatives allowed) into sorted positive axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        size = builtins.max(ndim, 1)
        if not isinstance(d, int) or not -size <= d < size:
            raise IndexError(f"{op}: dim {d!r} is out of range for a tensor with {ndim} dimensions")
        out.append(d % size)
    return tuple(sorted(set(out)))


def _keepdim_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    """y = sum of x over ``axes``"""

    def __init__(self, axes: tuple[int, ...], keepdim: bool) -> None:
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx_i = 1 for every summed element: copy gy back along the reduced axes
        if not self.keepdim:
            gy = gy.reshape(_keepdim_shape(self.x_shape, self.axes))
        return broadcast_to(gy, self.x_shape)


def sum(x: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return Sum(normalize_dims(dim, x.ndim, "sum"), keepdim)(x)


def _count(x: Tensor, axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def mean(x: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim, x.ndim, "mean")
    # mean = sum / n
    return Sum(axes, keepdim)(x) * (1.0 / builtins.max(_count(x, axes), 1))


def var(x: Tensor, dim: Dim = None, keepdim: bool = False, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    """Variance, by default unbiased (divides by n - 1), like ``torch.var``."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axes = normalize_dims(dim, x.ndim, "var")
    n = _count(x, axes)
    if n - correction <= 0:
        raise ValueError(f"var: {n} element(s) along dims {axes} with correction={correction}")
    # var = sum (x - mean)^2 / (n - correction)
    d = x - mean(x, axes, keepdim=True)
    return Sum(axes, keepdim)(d * d) * (1.0 / (n - correction))


def std(x: Tensor, dim: Dim = None, keepdim: bool = False, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    from .arithmetic import sqrt
    return sqrt(var(x, dim, keepdim, correction, unbiased))


class Max(Function):
    """y = max of x over one axis (or over everything when ``axis`` is None).

    Over one axis the gradient goes to the index that ``argmax`` picked (PyTorch does the same);
    over the whole tensor ties share it equally.
    """

    def __init__(self, axis: int | None, keepdim: bool) -> None:
        self.axis, self.keepdim = axis, keepdim

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        if self.axis is None:
            y = x.max()
            self.mask = (x == y).astype(x.dtype)
            self.mask /= self.mask.sum()
            return y.reshape((1,) * x.ndim) if self.keepdim else y
        self.indices = xp.expand_dims(x.argmax(axis=self.axis), self.axis)
        y = xp.take_along_axis(x, self.indices, axis=self.axis)
        self.mask = (xp.arange(x.shape[self.axis]).reshape(
            [-1 if i == self.axis else 1 for i in range(x.ndim)]) == self.indices).astype(x.dtype)
        return y if self.keepdim else y.squeeze(self.axis)

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = 1 at the winning element, 0 elsewhere (a constant mask)
        (x,) = self.inputs
        keep = tuple(1 for _ in x.shape) if self.axis is None else _keepdim_shape(x.shape, (self.axis,))
        return broadcast_to(gy.reshape(keep), x.shape) * Tensor._make(self.mask)


class MaxResult(NamedTuple):
    values: Tensor
    indices: Tensor


def _axis(dim: int, ndim: int, op: str) -> int:
    return normalize_dims(dim, ndim, op)[0]


def max(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """``max(x)`` is a tensor; ``max(x, dim)`` is ``(values, indices)``, as in PyTorch."""
    if x.data.size == 0:
        raise ValueError(f"max: the tensor of shape {x.shape} is empty")
    if dim is None:
        return Max(None, keepdim)(x)
    fn = Max(_axis(dim, x.ndim, "max"), keepdim)
    values = fn(x)
    idx = fn.indices if keepdim else fn.indices.squeeze(fn.axis)
    return MaxResult(values, Tensor._make(idx))


def min(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    # min(x) = -max(-x)
    if dim is None:
        return -max(-x, None, keepdim)
    values, indices = max(-x, dim, keepdim)
    return MaxResult(-values, indices)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    if dim is None:
        return Tensor._make(B.array_module(x.data).asarray(x.data.argmax()))
    idx = x.data.argmax(axis=_axis(dim, x.ndim, "argmax"))
    return Tensor._make(B.array_module(idx).expand_dims(idx, dim) if keepdim else idx)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return argmax(Tensor._make(-x.data), dim, keepdim)


class LogSumExp(Function):
    """y = log sum_i exp(x_i) over ``axes``, computed as m + log sum exp(x - m), m = max x."""

    def __init__(self, axes: tuple[int, ...], keepdim: bool) -> None:
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf along an axis: keep the result -inf, not NaN
        self.m = m
        with B.quiet_underflow():
            y = m + xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True))
        return y if self.keepdim else y.squeeze(self.axes)

    def backward(self, gy: Tensor) -> Tensor:
        from .arithmetic import exp
        (x,) = self.inputs
        keep = _keepdim_shape(x.shape, self.axes)
        # dy/dx_i = exp(x_i - y) = softmax(x)_i, evaluated as exp((x_i - m) - logsumexp(x - m)):
        # y itself is rounded at the scale of |x| (by ~1e-3 at |x| = 1e4 in float32), and exp(x - y)
        # would carry that error into the gradient; the shifted logsumexp is small and accurate
        shifted = x - Tensor._make(self.m)
        return gy.reshape(keep) * exp(shifted - LogSumExp(self.axes, True)(shifted))


def logsumexp(x: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    return LogSumExp(normalize_dims(dim, x.ndim, "logsumexp"), keepdim)(x)
