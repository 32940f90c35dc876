"""Elementwise arithmetic: each forward formula with its chain rule beside it.

Binary ops broadcast like NumPy; their backward undoes the broadcast with ``sum_to``. A backward
returns ``None`` for an input that does not require grad, so no work is spent on constants.

Operands of different dtypes meet in the dtype PyTorch's promotion gives (``tinygen.promotion``):
float32 * int64 tensor is float32, and a float32 tensor times a 0-d float64 tensor stays float32.
Each input's gradient comes back in that input's own dtype, as in PyTorch. Scalar arguments
(clamp's bounds, pow's exponent) are made Python numbers first, so they never widen a tensor.

Beside each ``backward`` sits ``backward_arrays``: the same computation on bare arrays, step for
step (so the results agree to the bit), which the engine runs when no graph is being built.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from .. import promotion as P
from ..autograd import Function, Tensor
from .broadcast import sum_to, sum_to_array


def _mixed(ufunc: str, x: Any, y: Any) -> Any:
    """x <ufunc> y for arrays of different dtypes, computed in the promoted dtype. NumPy converts
    the operands a block at a time, so a big bool mask is never copied whole as floats."""
    return getattr(B.array_module(x, y), ufunc)(x, y, dtype=P.pair_dtype(x, y))


def _grad_for(g: Tensor, t: Tensor) -> Tensor:
    """dL/dt from dL/dz: summed over the axes broadcasting added, in t's own dtype (a float32
    input beside a float64 one gets a float32 gradient, as in PyTorch)."""
    g = sum_to(g, t.shape)
    return g if g.dtype == t.dtype else g.to(t.dtype)


# The array forms of the binary ops, dtype handling included, for the ``backward_arrays`` paths
def mul_arrays(x: Any, y: Any) -> Any:
    return x * y if x.dtype == y.dtype else _mixed("multiply", x, y)


def sub_arrays(x: Any, y: Any) -> Any:
    return x - y if x.dtype == y.dtype else _mixed("subtract", x, y)


def div_arrays(x: Any, y: Any) -> Any:
    if x.dtype == y.dtype and x.dtype.kind == "f":
        return x / y
    return B.array_module(x, y).true_divide(x, y, dtype=P.pair_dtype(x, y))


def grad_for_array(g: Any, t: Tensor) -> Any:
    """_grad_for on arrays: g summed down to t's shape, in t's dtype."""
    g = sum_to_array(g, t.shape)
    return g if g.dtype == t.dtype else g.astype(t.dtype)


class Add(Function):
    """z = x + y"""

    def forward(self, x: Any, y: Any) -> Any:
        return x + y if x.dtype == y.dtype else _mixed("add", x, y)

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = 1, dz/dy = 1
        return (_grad_for(gz, x) if x.requires_grad else None,
                _grad_for(gz, y) if y.requires_grad else None)

    def backward_arrays(self, gz: Any) -> tuple[Any, Any]:  # the same on arrays
        x, y = self.inputs
        return (grad_for_array(gz, x) if x.requires_grad else None,
                grad_for_array(gz, y) if y.requires_grad else None)


class Sub(Function):
    """z = x - y"""

    def forward(self, x: Any, y: Any) -> Any:
        if x.dtype == y.dtype:
            return x - y
        if x.dtype == bool or y.dtype == bool:
            raise TypeError(f"sub: subtracting with a bool tensor is not supported (PyTorch refuses it "
                            f"too), got dtypes {x.dtype} and {y.dtype}; for a mask's complement use ~mask")
        return _mixed("subtract", x, y)

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = 1, dz/dy = -1
        return (_grad_for(gz, x) if x.requires_grad else None,
                _grad_for(-gz, y) if y.requires_grad else None)

    def backward_arrays(self, gz: Any) -> tuple[Any, Any]:  # the same on arrays
        x, y = self.inputs
        return (grad_for_array(gz, x) if x.requires_grad else None,
                grad_for_array(-gz, y) if y.requires_grad else None)


class Mul(Function):
    """z = x * y"""

    def forward(self, x: Any, y: Any) -> Any:
        return x * y if x.dtype == y.dtype else _mixed("multiply", x, y)

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = y, dz/dy = x
        return (_grad_for(gz * y, x) if x.requires_grad else None,
                _grad_for(gz * x, y) if y.requires_grad else None)

    def backward_arrays(self, gz: Any) -> tuple[Any, Any]:  # the same on arrays
        x, y = self.inputs
        return (grad_for_array(mul_arrays(gz, y.data), x) if x.requires_grad else None,
                grad_for_array(mul_arrays(gz, x.data), y) if y.requires_grad else None)


class Div(Function):
    """z = x / y  (true division: integers divide into the default float, float32)"""

    def forward(self, x: Any, y: Any) -> Any:
        if x.dtype == y.dtype and x.dtype.kind == "f":
            return x / y
        dtype = P.pair_dtype(x, y)
        if dtype.kind in "biu":
            dtype = P.DEFAULT_FLOAT
        return B.array_module(x, y).true_divide(x, y, dtype=dtype)

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dz/dx = 1 / y, dz/dy = -x / y^2
        gx = _grad_for(gz / y, x) if x.requires_grad else None
        gy = _grad_for(-gz * x / (y * y), y) if y.requires_grad else None
        return gx, gy

    def backward_arrays(self, gz: Any) -> tuple[Any, Any]:  # the same on arrays
        x, y = self.inputs[0].data, self.inputs[1].data
        gx = grad_for_array(div_arrays(gz, y), self.inputs[0]) if self.inputs[0].requires_grad else None
        gy = None
        if self.inputs[1].requires_grad:
            gy = grad_for_array(div_arrays(mul_arrays(-gz, x), y * y), self.inputs[1])
        return gx, gy


class Neg(Function):
    """y = -x"""

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = -1
        return -gy

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
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

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        x, c = self.inputs[0].data, self.c
        if c == 0:
            return gy * 0.0
        if c == 2:
            return gy * (2 * x)
        return gy * (c * x ** (c - 1))


def _floating(x: Any) -> Any:
    """x itself, or an integer or bool x as the default float (exp, log and sqrt of integers give
    float32 in PyTorch; NumPy would give float64, or float16 for bools)."""
    return x if x.dtype.kind in "fc" else x.astype(P.DEFAULT_FLOAT)


class Exp(Function):
    """y = exp(x)"""

    def forward(self, x: Any) -> Any:
        with B.quiet_underflow():
            return B.array_module(x).exp(_floating(x))

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = exp(x) = y
        return gy * self.output

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy * self.output.data


class Log(Function):
    """y = log(x)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).log(_floating(x))

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = 1 / x
        return gy / x

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy / self.inputs[0].data


class Sqrt(Function):
    """y = sqrt(x)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).sqrt(_floating(x))

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = 1 / (2 sqrt(x)) = 0.5 / y
        return gy * 0.5 / self.output

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy * 0.5 / self.output.data


class Abs(Function):
    """y = |x|  (the derivative at 0 is taken as 0, like PyTorch)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).abs(x)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = sign(x), a constant almost everywhere
        return gy * Tensor._make(B.array_module(x.data).sign(x.data))

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        x = self.inputs[0].data
        return gy * B.array_module(x).sign(x)


class Clamp(Function):
    """y = min(max(x, lo), hi)"""

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, x: Any) -> Any:
        return B.array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = 1 inside [lo, hi], 0 where the value was clipped
        return gy * Tensor._make(self._inside())

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy * self._inside()

    def _inside(self) -> Any:
        """1 where lo <= x <= hi, else 0, in x's dtype."""
        x = self.inputs[0].data
        inside = B.array_module(x).ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return inside.astype(x.dtype)


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


def _promoted_beside(x: Tensor, scalar: Any) -> Tensor:
    """x in the dtype an op of x with ``scalar`` (a number, or a 0-d array or tensor) computes in.
    A dimensioned floating x never changes; an integer x with a float scalar becomes float32."""
    if x.ndim and x.dtype.kind in "fc":
        return x
    value = scalar.data if isinstance(scalar, Tensor) else scalar  # a number, or a 0-d array
    dtype = P.result_type([x.data], [value]) if P.is_number(value) else P.result_type([x.data, value])
    return x if dtype == x.dtype else x.to(dtype)


def pow(x: Any, exponent: Any) -> Tensor:
    """x ** exponent. A constant exponent c (a number, a 0-d array, a 0-d tensor that does not
    require grad) gives Pow(c); a tensor exponent is computed as exp(exponent * log(x)) (needs x > 0)."""
    if isinstance(exponent, Tensor) and (exponent.ndim or exponent.requires_grad):
        return exp(exponent * log(x))
    if not isinstance(x, Tensor):  # number ** tensor is handled by Tensor.__rpow__
        raise TypeError(f"pow: expected a Tensor base, got {type(x).__name__}")
    c = P.as_number(exponent, "pow", "exponent")
    return Pow(c)(_promoted_beside(x, exponent))


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
    """min(max(x, min), max). The bounds are numbers (or 0-d arrays or tensors); an integer x with
    a float bound is clamped as float32, as in PyTorch."""
    if not isinstance(x, Tensor):
        raise TypeError(f"clamp: input must be a Tensor, got {type(x).__name__}")
    lo = None if min is None else P.as_number(min, "clamp", "min")
    hi = None if max is None else P.as_number(max, "clamp", "max")
    check_clamp_bounds(lo, hi)
    for bound in (min, max):
        if bound is not None:
            x = _promoted_beside(x, bound)
    return Clamp(lo, hi)(x)


clip = clamp
