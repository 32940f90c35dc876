"""Elementwise arithmetic: each forward formula with its chain rule beside it.

Binary ops broadcast like NumPy; their backward undoes the broadcast with ``sum_to``. A backward
returns ``None`` for an input that does not require grad, so no work is spent on constants.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import Function, Tensor
from .broadcast import sum_to


class Add(Function):
    """z = x + y"""

    def forward(self, x: Any, y: Any) -> Any:
        return x + y

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = 1, dz/dy = 1
        return (sum_to(gz, x.shape) if x.requires_grad else None,
                sum_to(gz, y.shape) if y.requires_grad else None)


class Sub(Function):
    """z = x - y"""

    def forward(self, x: Any, y: Any) -> Any:
        return x - y

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = 1, dz/dy = -1
        return (sum_to(gz, x.shape) if x.requires_grad else None,
                sum_to(-gz, y.shape) if y.requires_grad else None)


class Mul(Function):
    """z = x * y"""

    def forward(self, x: Any, y: Any) -> Any:
        return x * y

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = y, dz/dy = x
        return (sum_to(gz * y, x.shape) if x.requires_grad else None,
                sum_to(gz * x, y.shape) if y.requires_grad else None)


class Div(Function):
    """z = x / y"""

    def forward(self, x: Any, y: Any) -> Any:
        return x / y

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = 1 / y, dz/dy = -x / y^2
        gx = sum_to(gz / y, x.shape) if x.requires_grad else None
        gy = sum_to(-gz * x / (y * y), y.shape) if y.requires_grad else None
        return gx, gy


class Neg(Function):
    """y = -x"""

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = -1
        return -gy


class Pow(Function):
    """y = x ** c for a constant exponent c."""

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Any) -> Any:
        return x ** self.c

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        c = self.c
        # dy/dx = c * x^(c - 1)
        if c == 0:  # x^0 = 1 is constant: a 0 gradient, not 0 * x^-1 (NaN at x = 0)
            return gy * 0.0
        if c == 2:
            return gy * (2 * x)
        return gy * (c * x ** (c - 1))


class Exp(Function):
    """y = exp(x)"""

    def forward(self, x: Any) -> Any:
        with B.quiet_underflow():
            return B.array_module(x).exp(x)

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = exp(x) = y
        return gy * self.output


class Log(Function):
    """y = log(x)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).log(x)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = 1 / x
        return gy / x


class Sqrt(Function):
    """y = sqrt(x)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).sqrt(x)

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = 1 / (2 sqrt(x)) = 0.5 / y
        return gy * 0.5 / self.output


class Abs(Function):
    """y = |x|  (the derivative at 0 is taken as 0, like PyTorch)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).abs(x)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = sign(x), a constant almost everywhere
        return gy * Tensor._make(B.array_module(x.data).sign(x.data))


class Clamp(Function):
    """y = min(max(x, lo), hi)"""

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, x: Any) -> Any:
        return B.array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = 1 inside [lo, hi], 0 where the value was clipped
        inside = B.array_module(x.data).ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x.data >= self.lo
        if self.hi is not None:
            inside &= x.data <= self.hi
        return gy * Tensor._make(inside.astype(x.dtype))


# ------------------------------------------------------------------ functional spellings
def add(x: Any, y: Any) -> Tensor:
    return Add()(x, y)


def sub(x: Any, y: Any) -> Tensor:
    return Sub()(x, y)


def mul(x: Any, y: Any) -> Tensor:
    return Mul()(x, y)


def div(x: Any, y: Any) -> Tensor:
    return Div()(x, y)


def neg(x: Tensor) -> Tensor:
    return Neg()(x)


def pow(x: Any, exponent: Any) -> Tensor:
    """x ** exponent. A tensor exponent is computed as exp(exponent * log(x)) (needs x > 0)."""
    if isinstance(exponent, Tensor):
        return exp(exponent * log(x))
    if not isinstance(x, Tensor):  # number ** tensor is handled by Tensor.__rpow__
        raise TypeError(f"pow: expected a Tensor base, got {type(x).__name__}")
    return Pow(exponent)(x)


def exp(x: Tensor) -> Tensor:
    return Exp()(x)


def log(x: Tensor) -> Tensor:
    return Log()(x)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt()(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs()(x)


def check_clamp_bounds(min: float | None, max: float | None, where: str = "clamp") -> None:  # noqa: A002
    """The bounds of clamp and clamp_: at least one, and min <= max."""
    if min is None and max is None:
        raise ValueError(f"{where}: at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        raise ValueError(f"{where}: min ({min}) is greater than max ({max})")


def clamp(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    check_clamp_bounds(min, max)
    return Clamp(min, max)(x)


clip = clamp
