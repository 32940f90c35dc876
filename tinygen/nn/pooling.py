"""Pooling, upsampling and channel dropout layers: thin Modules around tinygen/ops/pooling.py
and ``F.dropout2d``."""
from __future__ import annotations

from typing import Any

from ..autograd import Tensor
from ..ops import pooling as P
from ..ops.conv import conv_params
from ..ops.dropout import dropout2d
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        where = type(self).__name__
        self.kernel_size, self.stride, self.padding = conv_params(
            kernel_size, kernel_size if stride is None else stride, padding, where)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_Pool2d):
    """Average over kernel_size windows (stride defaults to kernel_size); padded zeros count."""

    def forward(self, x: Tensor) -> Tensor:
        return P.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class MaxPool2d(_Pool2d):
    """Maximum over kernel_size windows (stride defaults to kernel_size)."""

    def forward(self, x: Tensor) -> Tensor:
        return P.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer ``scale_factor`` (or to an integer multiple
    ``size``); the only mode is "nearest"."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest") -> None:
        super().__init__()
        if mode != "nearest":
            raise NotImplementedError(f"Upsample: only mode='nearest' is implemented, got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        self.size, self.scale_factor, self.mode = size, scale_factor, mode

    def forward(self, x: Tensor) -> Tensor:
        return P.interpolate(x, self.size, self.scale_factor, self.mode)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class Dropout2d(Module):
    """Zero whole channels with probability p in training (scaling the rest by 1 / (1 - p))."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: p must lie in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
