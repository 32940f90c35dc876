"""Reductions: sum, mean, var, max/min, logsumexp, norm, and the running sum cumsum.

A reduction's backward spreads the upstream gradient back over the reduced axes: ``sum`` copies
it to every element, ``max`` sends it only to the element that won.

Every reduction takes ``dim`` (PyTorch's name) or ``axis`` (NumPy's name for the same thing).
``Sum``, ``Max`` and ``LogSumExp`` also carry ``backward_arrays``, their ``backward`` on bare arrays,
which the engine runs when no graph is being built.
"""
from __future__ import annotations

import builtins
from typing import Any, NamedTuple, Sequence

from .. import backend as B
from .. import promotion as P
from ..autograd import Function, Tensor
from .broadcast import broadcast_to
from .shape import GetItemGrad

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


def dim_or_axis(dim: Any, axis: Any, op: str) -> Any:
    """``dim``, or ``axis`` when that is the one given (NumPy's name for the same argument)."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{op}: got both dim={dim!r} and axis={axis!r}; they name the same argument "
                        f"(axis is NumPy's spelling), give only one")
    return axis


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

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        if not self.keepdim:
            gy = gy.reshape(_keepdim_shape(self.x_shape, self.axes))
        return gy if gy.shape == self.x_shape else B.array_module(gy).broadcast_to(gy, self.x_shape)


def sum(x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None) -> Tensor:  # noqa: A001
    return Sum(normalize_dims(dim_or_axis(dim, axis, "sum"), x.ndim, "sum"), keepdim)(x)


def _count(x: Tensor, axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def mean(x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None) -> Tensor:
    axes = normalize_dims(dim_or_axis(dim, axis, "mean"), x.ndim, "mean")
    # mean = sum / n
    return Sum(axes, keepdim)(x) * (1.0 / builtins.max(_count(x, axes), 1))


def var(x: Tensor, dim: Dim = None, keepdim: bool = False, correction: int = 1,
        unbiased: bool | None = None, *, axis: Dim = None) -> Tensor:
    """Variance, by default unbiased (divides by n - 1), like ``torch.var``."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axes = normalize_dims(dim_or_axis(dim, axis, "var"), x.ndim, "var")
    n = _count(x, axes)
    if n - correction <= 0:
        raise ValueError(f"var: {n} element(s) along dims {axes} with correction={correction}")
    # var = sum (x - mean)^2 / (n - correction)
    d = x - mean(x, axes, keepdim=True)
    return Sum(axes, keepdim)(d * d) * (1.0 / (n - correction))


def std(x: Tensor, dim: Dim = None, keepdim: bool = False, correction: int = 1,
        unbiased: bool | None = None, *, axis: Dim = None) -> Tensor:
    from .arithmetic import sqrt
    return sqrt(var(x, dim_or_axis(dim, axis, "std"), keepdim, correction, unbiased))


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
        self.indices = xp.expand_dims(x.argmax(axis=self.axis), self.axis)  # the winners, kept as 1s
        y = xp.take_along_axis(x, self.indices, axis=self.axis)
        return y if self.keepdim else y.squeeze(self.axis)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        gy = gy.reshape(self._keep(x.shape))
        if self.axis is None:
            # dy/dx = 1/ties at each element equal to the max, 0 elsewhere (a constant mask)
            return broadcast_to(gy, x.shape) * Tensor._make(self.mask)
        # dy/dx = 1 at the winner, 0 elsewhere: gy goes back to the argmax positions, the rest
        # stays 0 (a scatter, whose own gradient is the gather at the same positions)
        return GetItemGrad(self._winners(), x.shape)(gy)

    def _winners(self) -> tuple[Any, ...]:
        """The winners as one integer-array index: ``indices`` along the axis, positions elsewhere."""
        xp = B.array_module(self.indices)
        ndim = self.indices.ndim
        return tuple(self.indices if i == self.axis else xp.arange(n).reshape([-1 if j == i else 1 for j in range(ndim)])
                     for i, n in enumerate(self.indices.shape))

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays: gy scattered to the winners
        shape = self.inputs[0].shape
        gy = gy.reshape(self._keep(shape))
        if self.axis is None:
            return (gy if gy.shape == shape else B.array_module(gy).broadcast_to(gy, shape)) * self.mask
        xp = B.array_module(gy)
        gx = xp.zeros(shape, dtype=gy.dtype)
        xp.put_along_axis(gx, self.indices, gy, axis=self.axis)
        return gx

    def _keep(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output's shape with the reduced axes kept as 1s."""
        return tuple(1 for _ in shape) if self.axis is None else _keepdim_shape(shape, (self.axis,))


class MaxResult(NamedTuple):
    values: Tensor
    indices: Tensor


def _axis(dim: int, ndim: int, op: str) -> int:
    return normalize_dims(dim, ndim, op)[0]


def max(x: Tensor, dim: int | None = None, keepdim: bool = False, *,  # noqa: A001
        axis: int | None = None) -> Any:
    """``max(x)`` is a tensor; ``max(x, dim)`` is ``(values, indices)``, as in PyTorch."""
    dim = dim_or_axis(dim, axis, "max")
    if x.data.size == 0:
        raise ValueError(f"max: the tensor of shape {x.shape} is empty")
    if dim is None:
        return Max(None, keepdim)(x)
    fn = Max(_axis(dim, x.ndim, "max"), keepdim)
    values = fn(x)
    idx = fn.indices if keepdim else fn.indices.squeeze(fn.axis)
    return MaxResult(values, Tensor._make(idx))


def min(x: Tensor, dim: int | None = None, keepdim: bool = False, *,  # noqa: A001
        axis: int | None = None) -> Any:
    # min(x) = -max(-x)
    dim = dim_or_axis(dim, axis, "min")
    if dim is None:
        return -max(-x, None, keepdim)
    values, indices = max(-x, dim, keepdim)
    return MaxResult(-values, indices)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None) -> Tensor:
    dim = dim_or_axis(dim, axis, "argmax")
    if dim is None:
        return Tensor._make(B.array_module(x.data).asarray(x.data.argmax()))
    idx = x.data.argmax(axis=_axis(dim, x.ndim, "argmax"))
    return Tensor._make(B.array_module(idx).expand_dims(idx, dim) if keepdim else idx)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None) -> Tensor:
    return argmax(Tensor._make(-x.data), dim_or_axis(dim, axis, "argmin"), keepdim)


class LogSumExp(Function):
    """y = log sum_i exp(x_i) over ``axes``, computed as m + log sum exp(x - m), m = max x."""

    def __init__(self, axes: tuple[int, ...], keepdim: bool) -> None:
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf along an axis: keep the result -inf, not NaN
        self.m = m
        y = _logsumexp_shifted(x, m, self.axes)
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

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        x = self.inputs[0].data
        xp = B.array_module(x)
        shifted = x - self.m
        m = shifted.max(axis=self.axes, keepdims=True)
        lse = _logsumexp_shifted(shifted, xp.where(xp.isfinite(m), m, 0), self.axes)
        with B.quiet_underflow():
            return gy.reshape(_keepdim_shape(x.shape, self.axes)) * xp.exp(shifted - lse)


def _logsumexp_shifted(x: Any, m: Any, axes: tuple[int, ...]) -> Any:
    """m + log sum exp(x - m) over ``axes`` (kept as 1s), for m the (finite) max of x."""
    xp = B.array_module(x)
    with B.quiet_underflow():
        return m + xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))


def logsumexp(x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None) -> Tensor:
    return LogSumExp(normalize_dims(dim_or_axis(dim, axis, "logsumexp"), x.ndim, "logsumexp"), keepdim)(x)


# ------------------------------------------------------------------------------------- norms
class Norm2(Function):
    """y = ||x||_2 = sqrt(sum_i x_i^2) over ``axes``"""

    def __init__(self, axes: tuple[int, ...], keepdim: bool) -> None:
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x: Any) -> Any:
        y = B.array_module(x).sqrt((x * x).sum(axis=self.axes, keepdims=True))
        return y if self.keepdim else y.reshape([s for i, s in enumerate(y.shape) if i not in self.axes])

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        keep = _keepdim_shape(x.shape, self.axes)
        y = self.output.reshape(keep)
        # dy/dx_i = x_i / y. Where y = 0 every x_i is 0 too: dividing by 1 there gives the
        # gradient 0 (PyTorch's choice at the kink) instead of 0 / 0 = NaN
        at_zero = Tensor._make((y.data == 0).astype(y.dtype))
        return x * (gy.reshape(keep) / (y + at_zero))


def _max_over(x: Tensor, axes: tuple[int, ...], keepdim: bool) -> Tensor:
    """max over several axes, one at a time (the max of maxes is the max)."""
    for a in axes:
        x = Max(a, True)(x)
    return x if keepdim else x.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))


def norm(x: Tensor, p: float | str = 2, dim: Dim = None, keepdim: bool = False, *,
         axis: Dim = None) -> Tensor:
    """The vector p-norm ||x||_p = (sum_i |x_i|^p)^(1/p) over ``dim`` (every element when None).

    ``p='fro'`` (Frobenius) is the 2-norm of the elements, over at most two dims; ``p=inf`` is
    max_i |x_i|. As in PyTorch, the gradient of the 2-norm at x = 0 is taken as 0.
    """
    dim = dim_or_axis(dim, axis, "norm")
    axes = normalize_dims(dim, x.ndim, "norm")
    if p == "fro":
        if dim is not None and len(axes) > 2:
            raise ValueError(f"norm: p='fro' takes at most 2 dims, got dim={dim!r}")
        p = 2
    if P.is_number(p) and not isinstance(p, (bool, B.np.bool_)):
        p = P.as_number(p, "norm", "p")  # a NumPy p as a Python number: |x|^p keeps x's dtype
    if isinstance(p, (str, bool)) or not isinstance(p, (int, float)) or not p > 0:
        raise ValueError(f"norm: p must be a positive number, inf or 'fro', got p={p!r}")
    from .arithmetic import abs
    if p == 2:
        return Norm2(axes, keepdim)(x)
    if p == 1:
        # ||x||_1 = sum |x_i|; d/dx_i = sign(x_i)
        return Sum(axes, keepdim)(abs(x))
    if p == float("inf"):
        # ||x||_inf = max_i |x_i|; the gradient goes to the largest |x_i|
        return _max_over(abs(x), axes, keepdim)
    # ||x||_p = (sum |x_i|^p)^(1/p); d/dx_i = sign(x_i) |x_i|^(p-1) / ||x||_p^(p-1)
    return Sum(axes, keepdim)(abs(x) ** p) ** (1.0 / p)


# ---------------------------------------------------------------------------- running sums
def _cumsum_array(x: Any, axis: int, reverse: bool) -> Any:
    """Prefix sums along ``axis``; ``reverse``: suffix sums, x_j + ... + x_{n-1}."""
    if x.ndim == 0:
        return x.copy()
    xp = B.array_module(x)
    if not reverse:
        return xp.cumsum(x, axis=axis)
    flip = (slice(None),) * axis + (slice(None, None, -1),)
    return xp.cumsum(x[flip], axis=axis)[flip]


class CumSum(Function):
    """y_i = x_0 + x_1 + ... + x_i along ``axis``"""

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        return _cumsum_array(x, self.axis, reverse=False)

    def backward(self, gy: Tensor) -> Tensor:
        # dy_i/dx_j = 1 for i >= j, so dL/dx_j = sum_{i >= j} gy_i: the running sum from the end
        return ReverseCumSum(self.axis)(gy)


class ReverseCumSum(Function):
    """y_j = x_j + x_{j+1} + ... + x_{n-1} along ``axis`` (the adjoint of CumSum)."""

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        return _cumsum_array(x, self.axis, reverse=True)

    def backward(self, gy: Tensor) -> Tensor:
        # the adjoint of the suffix sum is the prefix sum
        return CumSum(self.axis)(gy)


def cumsum(x: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Running sum along ``dim``, like ``torch.cumsum`` (``dim`` is required)."""
    dim = dim_or_axis(dim, axis, "cumsum")
    if dim is None:
        raise TypeError("cumsum: missing the dim to sum along (cumsum(x, dim))")
    return CumSum(_axis(dim, x.ndim, "cumsum"))(x)


def _install() -> None:
    """Attach ``x.norm`` and ``x.cumsum`` (the older methods of this file: tensor_methods.py)."""
    Tensor.norm, Tensor.cumsum = norm, cumsum


_install()
