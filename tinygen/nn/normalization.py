"""Normalisation layers: ``BatchNorm1d`` (N, C) or (N, C, L), ``BatchNorm2d`` (N, C, H, W), and
``LayerNorm`` and ``GroupNorm``, which keep no running statistics (so train and eval agree).

State, as in PyTorch (so state_dicts map one-to-one): parameters ``weight`` (gamma, ones) and
``bias`` (beta, zeros); buffers ``running_mean`` (zeros), ``running_var`` (ones) and
``num_batches_tracked`` (an int64 count). In ``train()`` mode the layer normalises with the batch's
statistics and updates the running ones (running = (1 - momentum) running + momentum batch_stat,
unbiased variance); in ``eval()`` mode it uses the running statistics, so an output does not depend
on the rest of the batch. ``momentum=None`` gives the cumulative average (factor
1 / num_batches_tracked). The formulas are in tinygen/ops/normalization.py.

``LayerNorm(normalized_shape)`` standardises each sample over its last dims, which must equal
``normalized_shape``, with an elementwise ``weight`` (ones) and ``bias`` (zeros) of that shape.
``GroupNorm(num_groups, num_channels)`` standardises each group of num_channels / num_groups
channels of a (N, C, ...) sample, with a per-channel ``weight`` and ``bias``. Both parameter names
and shapes are PyTorch's, so their state_dicts map one-to-one.
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import backend as B
from ..autograd import Tensor
from ..promotion import as_number
from ..ops.normalization import batch_norm, group_norm, layer_norm
from .module import Module, Parameter


class _BatchNorm(Module):
    ndims: tuple[int, ...] = ()
    layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype: Any = None,
                 device: str | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, int) or isinstance(num_features, bool) or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive integer, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must lie in [0, 1] (or be None), got {momentum}")
        # eps as a Python number: a NumPy float64 eps would make the float32 statistics float64
        self.num_features, self.eps, self.momentum = num_features, as_number(eps, name, "eps"), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        xp = B.module_for(device or B.default_device())
        dtype = dtype or B.float32
        self.weight = Parameter(xp.ones((num_features,), dtype=dtype)) if affine else None
        self.bias = Parameter(xp.zeros((num_features,), dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(xp.zeros((num_features,), dtype=dtype)))
            self.register_buffer("running_var", Tensor._make(xp.ones((num_features,), dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor._make(xp.zeros((), dtype=B.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def _check_input(self, x: Tensor) -> None:
        where = f"{type(self).__name__}({self.num_features})"
        if not isinstance(x, Tensor):
            raise TypeError(f"{where}: input must be a Tensor, got {type(x).__name__}")
        if x.ndim not in self.ndims:
            raise ValueError(f"{where}: expected a {' or '.join(f'{d}-D' for d in self.ndims)} input "
                             f"{self.layout}, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{where}: expected {self.num_features} channels (dim 1), got input of "
                             f"shape {x.shape}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # cumulative moving average of all batches so far
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs: statistics per feature C."""

    ndims = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs: statistics per channel over N, H and W."""

    ndims = (4,)
    layout = "(N, C, H, W)"


def _affine_parameters(shape: tuple[int, ...], enabled: tuple[bool, bool], dtype: Any,
                       device: str | None) -> tuple[Parameter | None, Parameter | None]:
    """gamma (ones) and beta (zeros) of ``shape``, each only where ``enabled`` says so."""
    xp = B.module_for(device or B.default_device())
    dtype = dtype or B.float32
    weight = Parameter(xp.ones(shape, dtype=dtype)) if enabled[0] else None
    bias = Parameter(xp.zeros(shape, dtype=dtype)) if enabled[1] else None
    return weight, bias


class LayerNorm(Module):
    """y = gamma * (x - mu) / sqrt(sigma2 + eps) + beta, with mu and sigma2 over the last dims
    (``normalized_shape``) of each sample, and gamma, beta of shape ``normalized_shape``."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: Any = None,
                 device: str | None = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive integer or a non-empty "
                             f"sequence of them, got {normalized_shape!r}")
        self.normalized_shape, self.elementwise_affine = shape, elementwise_affine
        self.eps = as_number(eps, "LayerNorm", "eps")
        self.weight, self.bias = _affine_parameters(
            shape, (elementwise_affine, elementwise_affine and bias), dtype, device)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group norm of (N, C, ...) inputs: the C channels split into ``num_groups`` groups of
    consecutive channels, each standardised over its channels and positions, then a per-channel
    y = gamma[c] x_hat + beta[c]."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None, device: str | None = None) -> None:
        super().__init__()
        for name, value in (("num_groups", num_groups), ("num_channels", num_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GroupNorm: {name} must be a positive integer, got {value!r}")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.affine = num_groups, num_channels, affine
        self.eps = as_number(eps, "GroupNorm", "eps")
        self.weight, self.bias = _affine_parameters((num_channels,), (affine, affine), dtype, device)

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor) and (x.ndim < 2 or x.shape[1] != self.num_channels):
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected an input of "
                             f"shape (N, {self.num_channels}, ...), got shape {x.shape}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
