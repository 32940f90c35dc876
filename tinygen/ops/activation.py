"""Activations: relu, leaky_relu, sigmoid, tanh, softplus, log_sigmoid, softmax, log_softmax,
silu, gelu, elu, and the error function erf that the exact GELU is made of.

Each is written so that large inputs (|x| = 10,000) neither overflow nor produce NaN: the
exponential is only ever taken of a non-positive number.

NumPy has no erf. ``_erf_array`` takes it from SciPy on the CPU (SciPy comes with scikit-learn,
a dependency) and from ``cupyx.scipy.special`` on the GPU, so the op runs on each array's own
device like every other op here.

The hot activations also carry ``backward_arrays``: their ``backward`` computed step for step on
bare arrays, which the engine runs when no graph is being built.
"""
from __future__ import annotations

import math
from typing import Any

from .. import backend as B
from .. import promotion as P
from ..autograd import Function, Tensor
from .arithmetic import _mixed
from .reduction import logsumexp, normalize_dims
from .shape import where


class ReLU(Function):
    """y = max(x, 0)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).maximum(x, 0)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = 1 where x > 0, else 0 (a constant mask)
        return gy * Tensor._make(x.data > 0)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return _mixed("multiply", gy, self.inputs[0].data > 0)


class LeakyReLU(Function):
    """y = x if x > 0 else negative_slope * x"""

    def __init__(self, negative_slope: float) -> None:
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        if 0 <= self.negative_slope <= 1:  # then max(x, a x) is the same thing, and much faster
            return xp.maximum(x, x * self.negative_slope)
        return xp.where(x > 0, x, x * self.negative_slope)

    def backward(self, gy: Tensor) -> Tensor:
        # dy/dx = 1 where x > 0, else negative_slope (a constant)
        return gy * Tensor._make(self._slope())

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy * self._slope()

    def _slope(self) -> Any:
        """dy/dx as an array: 1 - (1 - a) [x <= 0]."""
        x = self.inputs[0].data
        slope = (x <= 0).astype(x.dtype)
        slope *= self.negative_slope - 1
        slope += 1
        return slope


def _sigmoid_array(x: Any) -> Any:
    """sigma(x) = 1 / (1 + e^-x), evaluated with e^-|x| so it never overflows."""
    xp = B.array_module(x)
    with B.quiet_underflow():
        e = xp.exp(-xp.abs(x))  # in (0, 1]
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x))"""

    def forward(self, x: Any) -> Any:
        return _sigmoid_array(x)

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output
        # dy/dx = y (1 - y)
        return gy * y * (1 - y)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        y = self.output.data
        return gy * y * (1 - y)


class Tanh(Function):
    """y = tanh(x)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).tanh(x)

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output
        # dy/dx = 1 - y^2
        return gy * (1 - y * y)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        y = self.output.data
        return gy * (1 - y * y)


class Softplus(Function):
    """y = log(1 + e^x) = max(x, 0) + log(1 + e^-|x|)  (the stable form)"""

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        with B.quiet_underflow():
            return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = e^x / (1 + e^x) = sigmoid(x)
        return gy * sigmoid(x)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy * _sigmoid_array(self.inputs[0].data)


class Softmax(Function):
    """y_i = exp(x_i - logsumexp(x)) along ``axis``"""

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        with B.quiet_underflow():
            e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
            return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output
        # dy_i/dx_j = y_i (delta_ij - y_j)  =>  dL/dx = y * (gy - sum_j gy_j y_j)
        return y * (gy - (gy * y).sum(self.axis, keepdim=True))

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        y = self.output.data
        return y * (gy - (gy * y).sum(axis=(self.axis,), keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - logsumexp(x) along ``axis``"""

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        with B.quiet_underflow():
            lse = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True))
        return x - m - lse

    def backward(self, gy: Tensor) -> Tensor:
        from .arithmetic import exp
        y = self.output
        # dy_i/dx_j = delta_ij - softmax_j  =>  dL/dx = gy - softmax(x) * sum_i gy_i
        return gy - exp(y) * gy.sum(self.axis, keepdim=True)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        y = self.output.data
        with B.quiet_underflow():
            e = B.array_module(y).exp(y)
        return gy - e * gy.sum(axis=(self.axis,), keepdims=True)


def _erf_array(x: Any) -> Any:
    """erf(x) = 2/sqrt(pi) int_0^x e^(-s^2) ds, elementwise, on the device that holds ``x``."""
    return B.erf(x)  # SciPy's on the CPU, cupyx's on the GPU


class Erf(Function):
    """y = erf(x)"""

    def forward(self, x: Any) -> Any:
        return _erf_array(x)

    def backward(self, gy: Tensor) -> Tensor:
        from .arithmetic import exp
        (x,) = self.inputs
        # dy/dx = 2/sqrt(pi) e^(-x^2)
        return gy * (exp(-(x * x)) * (2.0 / math.sqrt(math.pi)))


class SiLU(Function):
    """y = x sigma(x)  (also called swish)"""

    def forward(self, x: Any) -> Any:
        return x * _sigmoid_array(x)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        s = sigmoid(x)
        # dy/dx = sigma(x) + x sigma(x) (1 - sigma(x)) = sigma(x) (1 + x (1 - sigma(x)))
        return gy * (s * (1 + x * (1 - s)))


class GELU(Function):
    """y = x Phi(x), with Phi(x) = (1 + erf(x / sqrt 2)) / 2 the standard normal CDF."""

    def forward(self, x: Any) -> Any:
        return x * (0.5 * (1.0 + _erf_array(x * (1.0 / math.sqrt(2.0)))))

    def backward(self, gy: Tensor) -> Tensor:
        from .arithmetic import exp
        (x,) = self.inputs
        # dy/dx = Phi(x) + x phi(x),  phi(x) = e^(-x^2 / 2) / sqrt(2 pi) the normal density;
        # Phi is built from the Erf op, so this derivative can be differentiated again
        Phi = 0.5 * (1.0 + Erf()(x * (1.0 / math.sqrt(2.0))))
        phi = exp(x * x * -0.5) * (1.0 / math.sqrt(2.0 * math.pi))
        return gy * (Phi + x * phi)


_GELU_K = math.sqrt(2.0 / math.pi)  # the tanh form's constants (Hendrycks and Gimpel, 2016)
_GELU_C = 0.044715


class GELUTanh(Function):
    """y = x (1 + tanh(u)) / 2,  u = sqrt(2/pi) (x + 0.044715 x^3): the tanh approximation of GELU."""

    def forward(self, x: Any) -> Any:
        u = _GELU_K * (x + _GELU_C * x * x * x)
        return 0.5 * x * (1.0 + B.array_module(x).tanh(u))

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        t = tanh((x + x * x * x * _GELU_C) * _GELU_K)
        # dy/dx = (1 + t) / 2 + x (1 - t^2) / 2 * du/dx,   du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
        du_dx = (1 + x * x * (3 * _GELU_C)) * _GELU_K
        return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx)


class ELU(Function):
    """y = x if x > 0 else alpha (e^x - 1)"""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        with B.quiet_underflow():  # e^x of x < 0 only: the branch for x > 0 never overflows
            return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0)))

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        y = self.output
        # dy/dx = 1 where x > 0, else alpha e^x = y + alpha (through y, so it differentiates again)
        return gy * where(x.data > 0, 1.0, y + self.alpha)


# ------------------------------------------------------------------ functional spellings
def relu(x: Tensor) -> Tensor:
    return ReLU()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    # the slope as a Python number, so x * slope keeps x's dtype (promotion.py)
    return LeakyReLU(P.as_number(negative_slope, "leaky_relu", "negative_slope"))(x)


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid()(x)


def tanh(x: Tensor) -> Tensor:
    return Tanh()(x)


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """log(1 + exp(beta x)) / beta. Unlike PyTorch there is no linear ``threshold``: the stable
    form is exact everywhere."""
    beta = P.as_number(beta, "softplus", "beta")
    if beta == 1.0:
        return Softplus()(x)
    return Softplus()(x * beta) * (1.0 / beta)


def log_sigmoid(x: Tensor) -> Tensor:
    # log sigma(x) = -log(1 + e^-x) = -softplus(-x)
    return -Softplus()(-x)


def _axis(dim: int, x: Tensor, op: str) -> int:
    return normalize_dims(dim, x.ndim, op)[0]


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return Softmax(_axis(dim, x, "softmax"))(x)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return LogSoftmax(_axis(dim, x, "log_softmax"))(x)


def erf(x: Tensor) -> Tensor:
    """The error function, 2/sqrt(pi) int_0^x e^(-s^2) ds (``torch.erf``)."""
    return Erf()(x)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x sigmoid(x). ``inplace`` is accepted for PyTorch's signature; the result is always a new
    tensor (the same values; the input is left as it was)."""
    return SiLU()(x)


_GELU_APPROXIMATIONS = ("none", "tanh")


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x), Phi the standard normal CDF: the exact erf form (``approximate='none'``) or
    PyTorch's tanh approximation (``approximate='tanh'``)."""
    if approximate not in _GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate must be one of {_GELU_APPROXIMATIONS}, got {approximate!r}")
    return GELU()(x) if approximate == "none" else GELUTanh()(x)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise. ``inplace``: as in :func:`silu`."""
    return ELU(P.as_number(alpha, "elu", "alpha"))(x)


__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "log_sigmoid", "softmax",
           "log_softmax", "logsumexp", "erf", "silu", "gelu", "elu"]
