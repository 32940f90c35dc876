"""Activations: relu, leaky_relu, sigmoid, tanh, softplus, log_sigmoid, softmax, log_softmax.

Each is written so that large inputs (|x| = 10,000) neither overflow nor produce NaN: the
exponential is only ever taken of a non-positive number.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import Function, Tensor
from .reduction import logsumexp, normalize_dims


class ReLU(Function):
    """y = max(x, 0)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).maximum(x, 0)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = 1 where x > 0, else 0 (a constant mask)
        return gy * Tensor._make(x.data > 0)


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
        (x,) = self.inputs
        a = self.negative_slope
        # dy/dx = 1 where x > 0, else negative_slope (a constant): 1 - (1 - a) [x <= 0]
        slope = (x.data <= 0).astype(x.dtype)
        slope *= a - 1
        slope += 1
        return gy * Tensor._make(slope)


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


class Tanh(Function):
    """y = tanh(x)"""

    def forward(self, x: Any) -> Any:
        return B.array_module(x).tanh(x)

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output
        # dy/dx = 1 - y^2
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


# ------------------------------------------------------------------ functional spellings
def relu(x: Tensor) -> Tensor:
    return ReLU()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return LeakyReLU(negative_slope)(x)


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid()(x)


def tanh(x: Tensor) -> Tensor:
    return Tanh()(x)


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """log(1 + exp(beta x)) / beta. Unlike PyTorch there is no linear ``threshold``: the stable
    form is exact everywhere."""
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


__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "log_sigmoid", "softmax",
           "log_softmax", "logsumexp"]
