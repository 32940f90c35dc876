"""Broadcasting and its adjoint.

When an op broadcasts an input of shape (3, 1) against one of shape (3, 4), every element of the
small input is used 4 times, so its gradient is the *sum* of the 4 upstream gradients. ``sum_to``
is that sum; it is the one helper every binary op uses to undo broadcasting. ``broadcast_to`` and
``sum_to`` are each other's backward. Each also has ``backward_arrays``, the same on bare arrays,
which the engine runs when no graph is being built.
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import backend as B
from ..autograd import Function, Tensor


def _sum_to_array(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum the array ``x`` down to ``shape`` (the inverse of NumPy's broadcasting)."""
    lead = x.ndim - len(shape)
    # leading axes that broadcasting added, and axes where the input had size 1
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    if not axes:
        return x.reshape(shape)
    return x.sum(axis=axes, keepdims=True).reshape(shape)


class SumTo(Function):
    """y = x summed over broadcast axes so that y.shape == shape."""

    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = tuple(shape)

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape
        return _sum_to_array(x, self.shape)

    def backward(self, gy: Tensor) -> Tensor:
        # every input element that was summed receives the same upstream gradient
        return broadcast_to(gy, self.x_shape)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy if gy.shape == self.x_shape else B.array_module(gy).broadcast_to(gy, self.x_shape)


class BroadcastTo(Function):
    """y = x repeated along broadcast axes to ``shape``."""

    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = tuple(shape)

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape
        return B.array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy: Tensor) -> Tensor:
        # each input element was copied to several outputs: add their gradients
        return sum_to(gy, self.x_shape)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return sum_to_array(gy, self.x_shape)


def sum_to_array(g: Any, shape: tuple[int, ...]) -> Any:
    """``sum_to`` on arrays (for the ``backward_arrays`` paths): g itself when it has ``shape``."""
    return g if g.shape == shape else _sum_to_array(g, shape)


def sum_to(g: Tensor, shape: Sequence[int]) -> Tensor:
    """Reduce gradient ``g`` to ``shape`` by summing over the axes that broadcasting expanded."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    return SumTo(shape)(g)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return BroadcastTo(shape)(x)
