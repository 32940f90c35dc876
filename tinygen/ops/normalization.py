"""Batch normalisation (Ioffe and Szegedy, 2015).

For each channel c, over the m values it takes in a batch (all samples and, for images, all pixels):

    mu_B = (1/m) sum x                  sigma2_B = (1/m) sum (x - mu_B)^2      (biased)
    x_hat = (x - mu_B) / sqrt(sigma2_B + eps)
    y = gamma x_hat + beta

In training mode the statistics are the batch's own, so each output depends on the whole batch,
and the running estimates move towards them with PyTorch's momentum convention

    running = (1 - momentum) running + momentum batch_statistic,

using the *unbiased* variance m/(m - 1) sigma2_B for running_var (as PyTorch does; the paper's
inference step uses the same correction). In eval mode the running estimates replace mu_B and
sigma2_B, so y is an affine function of x alone: one sample's output no longer depends on the rest
of the batch.

Backward of the training mode (the paper's chain rule, collapsed):

    dL/dbeta  = sum dL/dy
    dL/dgamma = sum dL/dy x_hat
    dL/dx     = gamma / sqrt(sigma2_B + eps) (dL/dy - mean(dL/dy) - x_hat mean(dL/dy x_hat))

Like PyTorch, the forward keeps only the per-channel mu_B and 1 / sqrt(sigma2_B + eps) for the
backward, not x_hat. The backward is written twice, with the same three lines: with tensor ops
when a graph of the backward itself is being recorded (``create_graph=True``, so second-order
gradients are right), and on raw arrays, reusing buffers in place, otherwise (the common case,
where it saves three activation-sized temporaries).
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import Function, Tensor, is_grad_enabled


def _normalise(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor]:
    """x_hat and 1 / sqrt(sigma2_B + eps) as differentiable functions of x."""
    d = x - x.mean(axes, keepdim=True)
    inv_std = ((d * d).mean(axes, keepdim=True) + eps) ** -0.5
    return d * inv_std, inv_std


class BatchNorm(Function):
    """Training-mode batch norm over ``axes`` (every axis but the channel axis 1)."""

    def __init__(self, axes: tuple[int, ...], eps: float) -> None:
        self.axes, self.eps = axes, eps

    def forward(self, x: Any, gamma: Any, beta: Any) -> Any:
        xp = B.array_module(x)
        # mu_B, sigma2_B per channel (kept with size-1 axes so they broadcast)
        self.mean = x.mean(axis=self.axes, keepdims=True)
        x_hat = x - self.mean
        self.var = (x_hat * x_hat).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1.0 / xp.sqrt(self.var + self.eps)
        # x_hat = (x - mu_B) / sqrt(sigma2_B + eps)   (in place; like PyTorch, only the two
        # per-channel statistics are kept for backward, not x_hat)
        x_hat *= self.inv_std
        shape = self.mean.shape
        # y = gamma x_hat + beta
        x_hat *= gamma.reshape(shape)
        x_hat += beta.reshape(shape)
        return x_hat

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        if not is_grad_enabled():
            return self._backward_in_place(gy)
        # a graph of this backward is being built (create_graph=True, e.g. a gradient penalty):
        # x_hat and the inverse std must be differentiable functions of x, not saved constants
        x, gamma, beta = self.inputs
        x_hat, inv_std = _normalise(x, self.axes, self.eps)
        shape = inv_std.shape
        m = x.data.size // gamma.data.size
        # dL/dbeta = sum dL/dy ;  dL/dgamma = sum dL/dy x_hat
        g_beta = gy.sum(self.axes)
        g_gamma = (gy * x_hat).sum(self.axes)
        gx = None
        if x.requires_grad:
            # dL/dx = gamma inv_std (dL/dy - mean(dL/dy) - x_hat mean(dL/dy x_hat))
            mean_gy = g_beta.reshape(shape) * (1.0 / m)
            mean_gy_xhat = g_gamma.reshape(shape) * (1.0 / m)
            gx = (gamma.reshape(shape) * inv_std) * (gy - mean_gy - x_hat * mean_gy_xhat)
        return (gx, g_gamma if gamma.requires_grad else None, g_beta if beta.requires_grad else None)

    def _backward_in_place(self, gy_t: Tensor) -> tuple[Tensor | None, ...]:
        """The same three formulas on raw arrays, reusing buffers in place: with no graph to
        build, this keeps two activation-sized temporaries alive instead of five."""
        x, gamma, beta = self.inputs
        gy = gy_t.data
        m = x.data.size // gamma.data.size
        shape = self.inv_std.shape
        x_hat = x.data - self.mean
        x_hat *= self.inv_std
        # dL/dbeta = sum dL/dy ;  dL/dgamma = sum dL/dy x_hat
        g_beta = gy.sum(axis=self.axes)
        g_gamma = (gy * x_hat).sum(axis=self.axes)
        gx = None
        if x.requires_grad:
            # dL/dx = gamma inv_std (dL/dy - mean(dL/dy) - x_hat mean(dL/dy x_hat))
            scale = gamma.data.reshape(shape) * self.inv_std
            x_hat *= g_gamma.reshape(shape) * (1.0 / m)
            gx = gy - g_beta.reshape(shape) * (1.0 / m)
            gx -= x_hat
            gx *= scale
            gx = Tensor._make(gx)
        return (gx, Tensor._make(g_gamma) if gamma.requires_grad else None,
                Tensor._make(g_beta) if beta.requires_grad else None)


def _check(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
           weight: Tensor | None, bias: Tensor | None, where: str) -> int:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{where}: expected an input of shape (N, C, ...), got shape {x.shape}")
    if not B.is_float(x.data):
        raise TypeError(f"{where}: expected a floating-point input, got dtype {x.dtype}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"{where}: the input of shape {x.shape} has {c} channels, but {name} "
                             f"has shape {t.shape}; expected ({c},)")
    return c


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of ``input`` (N, C, ...) over every axis but the channel axis 1.

    ``training=True`` normalises with the batch statistics and, when running buffers are given,
    updates them in place (running = (1 - momentum) running + momentum batch_stat, unbiased
    variance); ``training=False`` normalises with the running statistics.
    """
    where = "batch_norm"
    c = _check(input, running_mean, running_var, weight, bias, where)
    axes = (0,) + tuple(range(2, input.ndim))
    shape = (1, c) + (1,) * (input.ndim - 2)
    xp = B.array_module(input.data)
    gamma = weight if weight is not None else Tensor._make(xp.ones((c,), dtype=input.dtype))
    beta = bias if bias is not None else Tensor._make(xp.zeros((c,), dtype=input.dtype))
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError(f"{where}: eval mode (training=False) needs running_mean and running_var")
        # y = gamma (x - mu_run) / sqrt(var_run + eps) + beta  =  x * scale + shift
        inv_std = Tensor._make(1.0 / xp.sqrt(running_var.data.astype(input.dtype) + eps))
        scale = gamma * inv_std
        shift = beta - Tensor._make(running_mean.data.astype(input.dtype)) * scale
        return input * scale.reshape(shape) + shift.reshape(shape)
    m = input.data.size // c
    if m <= 1:
        raise ValueError(f"{where}: expected more than 1 value per channel when training, got input "
                         f"of shape {input.shape}")
    fn = BatchNorm(axes, eps)
    y = fn(input, gamma, beta)
    if running_mean is not None and running_var is not None:
        # running = (1 - momentum) running + momentum batch_stat  (unbiased variance for the estimate)
        batch_mean = fn.mean.reshape(c)
        batch_var = fn.var.reshape(c) * (m / (m - 1))
        running_mean.data[...] = (1 - momentum) * running_mean.data + momentum * batch_mean
        running_var.data[...] = (1 - momentum) * running_var.data + momentum * batch_var
    return y
