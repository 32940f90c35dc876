"""Batch normalisation (Ioffe and Szegedy, 2015), and layer and group normalisation, which apply
the same standardisation to other groups of values.

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

Every input gradient depends on the whole batch, because mu_B and sigma2_B move with each x:
mean(dL/dy) is the path through mu_B, and x_hat mean(dL/dy x_hat) the path through sigma2_B.

The backward is written once, with tensor ops, so it can itself be differentiated: a WGAN-GP
gradient penalty through a critic with batch norm differentiates dL/dx again. For that, mu_B and
1 / sqrt(sigma2_B + eps) must enter the backward as functions of x, not as numbers saved by the
forward: a saved array is a constant to the graph, and a second derivative through it would miss
how the statistics move with x. mu_B is simply recomputed (one pass over x); 1 / sqrt(sigma2_B + eps)
is the small op ``InvStd``, whose value is the one the forward computed and whose backward is its
derivative, -inv_std^3 (x_i - mu_B) / m. Like PyTorch, the forward keeps no activation-sized array
for the backward, only per-channel statistics.

Layer norm (Ba, Kiros and Hinton, 2016) standardises each sample over its last few axes (the
``normalized_shape``); group norm (Wu and He, 2018) splits the C channels of each sample into G
groups and standardises each group over its channels and pixels. Neither keeps running statistics:
training and eval compute the same thing. Both are one op, ``Standardize`` (x_hat over given axes,
with the batch-norm backward above for gamma = 1), followed by the affine map written with
ordinary broadcasting ``*`` and ``+``, whose backward already sums gamma's and beta's gradients
over the axes they were broadcast along:

    layer norm   x_hat = standardize(x) over the last len(normalized_shape) axes
                 y = gamma * x_hat + beta           gamma, beta of shape normalized_shape
    group norm   x_hat = standardize(x.reshape(N, G, -1)) over axis 2, reshaped back
                 y = gamma[c] * x_hat + beta[c]     gamma, beta of shape (C,)
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import backend as B
from .. import promotion as P
from ..autograd import Function, Tensor


class InvStd(Function):
    """inv_std = 1 / sqrt(sigma2_B + eps) of x, per channel, as a node of the graph whose value is
    the one BatchNorm.forward already computed (recomputing it would cost three passes over x):

        d inv_std / dx_i = -inv_std^3 (x_i - mu_B) / m
    """

    def __init__(self, inv_std: Any, axes: tuple[int, ...]) -> None:
        self.inv_std, self.axes = inv_std, axes

    def forward(self, x: Any) -> Any:
        return self.inv_std

    def backward(self, g: Tensor) -> Tensor:
        (x,) = self.inputs
        m = x.data.size // self.inv_std.size
        # inv_std and mu_B as functions of x again, so this derivative can be differentiated too
        inv_std = InvStd(self.inv_std, self.axes)(x)
        mu = x.mean(self.axes, keepdim=True)
        return (g * inv_std ** 3 * (-1.0 / m)) * (x - mu)


class ChannelSum(Function):
    """s[c] = sum_{n, l} a[n, c, l] b[n, c, l] over an (N, C, L) view, or sum_{n, l} a[n, c, l]
    without b: batch norm's per-channel sums, as one pass (einsum forms no a * b temporary).

        ds/da[n, c, l] = b[n, c, l]        ds/db[n, c, l] = a[n, c, l]      (ds/da = 1 without b)
    """

    def forward(self, a: Any, b: Any = None) -> Any:
        xp = B.array_module(a)
        return xp.einsum("ncl->c", a) if b is None else xp.einsum("ncl,ncl->c", a, b)

    def backward(self, gs: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        g = gs.reshape(1, -1, 1)  # (1, C, 1), broadcast over n and l
        if len(self.inputs) == 1:
            return g.expand(*self.inputs[0].shape)
        a, b = self.inputs
        return g * b, g * a


def channel_sum(a: Tensor, b: Tensor | None = None) -> Tensor:
    """sum over axes 0 and 2 of a (N, C, L) tensor, or of a * b: shape (C,)."""
    return ChannelSum()(a) if b is None else ChannelSum()(a, b)


class BatchNorm(Function):
    """Training-mode batch norm of x viewed as (N, C, L) (L = the product of the spatial sizes):
    statistics over axes (0, 2), so no transpose or copy is needed to reach each channel."""

    axes = (0, 2)

    def __init__(self, eps: float) -> None:
        self.eps = eps

    def forward(self, x: Any, gamma: Any, beta: Any) -> Any:
        xp = B.array_module(x)
        m = x.size // x.shape[1]
        shape = (1, x.shape[1], 1)
        # mu_B, sigma2_B per channel, shaped (1, C, 1) so they broadcast (batch_norm reads them for
        # the running estimates, the backward reads inv_std)
        self.mean = (xp.einsum("ncl->c", x) * (1.0 / m)).reshape(shape).astype(x.dtype, copy=False)
        y = x - self.mean
        self.var = (xp.einsum("ncl,ncl->c", y, y) * (1.0 / m)).reshape(shape).astype(x.dtype, copy=False)
        self.inv_std = 1.0 / xp.sqrt(self.var + self.eps)
        # x_hat = (x - mu_B) inv_std, then y = gamma x_hat + beta, in one buffer
        y *= gamma.reshape(shape) * self.inv_std
        y += beta.reshape(shape)
        return y

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, gamma, beta = self.inputs
        shape = (1, x.shape[1], 1)
        m = x.data.size // x.shape[1]
        # mu_B and inv_std as differentiable functions of x, so that a derivative of this gradient
        # sees them move with x
        mu = channel_sum(x).reshape(shape) * (1.0 / m)
        inv_std = InvStd(self.inv_std, self.axes)(x)
        # dL/dbeta = sum dL/dy ;  dL/dgamma = sum dL/dy x_hat = inv_std sum dL/dy (x - mu_B)
        g_beta = channel_sum(gy)
        g_gamma = channel_sum(gy, x - mu) * inv_std.reshape(-1)
        gx = None
        if x.requires_grad:
            # dL/dx = gamma inv_std (dL/dy - x_hat mean(dL/dy x_hat) - mean(dL/dy)), where
            # x_hat = (x - mu_B) inv_std is formed inside the expression rather than kept: evaluated
            # left to right, no more than two activation-sized arrays are alive at a time
            mean_gy = g_beta.reshape(shape) * (1.0 / m)
            mean_gy_x_hat = g_gamma.reshape(shape) * (1.0 / m)
            gx = (gamma.reshape(shape) * inv_std) * (gy - (x - mu) * (inv_std * mean_gy_x_hat) - mean_gy)
        return (gx, g_gamma if gamma.requires_grad else None, g_beta if beta.requires_grad else None)


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
    # Python numbers, so that sigma2 + eps stays in x's dtype (a float64 eps would widen inv_std)
    eps, momentum = P.as_number(eps, where, "eps"), P.as_number(momentum, where, "momentum")
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
    # (N, C, ...) viewed as (N, C, L): every channel's values along axes 0 and 2 (a reshape of a
    # contiguous array, so no copy), and the output reshaped back
    n = input.shape[0]
    fn = BatchNorm(eps)
    y = fn(input.reshape(n, c, -1), gamma, beta).reshape(input.shape)
    if running_mean is not None and running_var is not None:
        # running = (1 - momentum) running + momentum batch_stat  (unbiased variance for the estimate)
        batch_mean = fn.mean.reshape(c)
        batch_var = fn.var.reshape(c) * (m / (m - 1))
        running_mean.data[...] = (1 - momentum) * running_mean.data + momentum * batch_mean
        running_var.data[...] = (1 - momentum) * running_var.data + momentum * batch_var
    return y


# ------------------------------------------------------------------------- layer and group norm
class Standardize(Function):
    """x_hat = (x - mu) / sqrt(sigma2 + eps), with mu and the biased sigma2 taken over ``axes``.

        dL/dx = inv_std (dL/dx_hat - mean(dL/dx_hat) - x_hat mean(dL/dx_hat x_hat))

    (batch norm's input gradient with gamma = 1); mu and inv_std enter it as functions of x
    (``InvStd``), so it can be differentiated again.
    """

    def __init__(self, axes: tuple[int, ...], eps: float) -> None:
        self.axes, self.eps = axes, eps

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        x_hat = x - x.mean(axis=self.axes, keepdims=True)
        var = (x_hat * x_hat).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1.0 / xp.sqrt(var + self.eps)
        x_hat *= self.inv_std
        return x_hat

    def backward(self, g: Tensor) -> Tensor:
        (x,) = self.inputs
        mu = x.mean(self.axes, keepdim=True)
        inv_std = InvStd(self.inv_std, self.axes)(x)
        x_hat = (x - mu) * inv_std
        return inv_std * (g - g.mean(self.axes, keepdim=True)
                          - x_hat * (g * x_hat).mean(self.axes, keepdim=True))


def _check_float_input(input: Any, where: str) -> None:  # noqa: A002
    if not isinstance(input, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {type(input).__name__}")
    if not B.is_float(input.data):
        raise TypeError(f"{where}: expected a floating-point input, got dtype {input.dtype}")


def _check_affine(where: str, shape: tuple[int, ...], **params: Tensor | None) -> None:
    for name, t in params.items():
        if t is not None and t.shape != shape:
            raise ValueError(f"{where}: {name} must have shape {shape}, got {t.shape}")


def _affine(x_hat: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    """y = gamma * x_hat + beta, with gamma and beta reshaped to ``shape`` to broadcast."""
    if weight is not None:
        x_hat = x_hat * weight.reshape(shape)
    if bias is not None:
        x_hat = x_hat + bias.reshape(shape)
    return x_hat


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation: standardise each sample over its last ``len(normalized_shape)`` axes,
    whose sizes must be ``normalized_shape``, then y = weight * x_hat + bias (elementwise, both of
    shape ``normalized_shape``)."""
    where = "layer_norm"
    _check_float_input(input, where)
    eps = P.as_number(eps, where, "eps")  # a Python number keeps sigma2 + eps in x's dtype
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or input.shape[input.ndim - k:] != shape:
        raise ValueError(f"{where}: the input's last {k} dim(s) must be normalized_shape={shape}, "
                         f"got input of shape {input.shape}")
    _check_affine(where, shape, weight=weight, bias=bias)
    # x_hat over the last k axes, then gamma x_hat + beta (gamma, beta broadcast over the leading axes)
    x_hat = Standardize(tuple(range(input.ndim - k, input.ndim)), eps)(input)
    return _affine(x_hat, weight, bias, shape)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation of ``input`` (N, C, ...): the C channels of each sample fall into
    ``num_groups`` groups of C / num_groups consecutive channels, each standardised over its
    channels and all positions, then y = weight[c] * x_hat + bias[c] per channel."""
    where = "group_norm"
    _check_float_input(input, where)
    eps = P.as_number(eps, where, "eps")  # a Python number keeps sigma2 + eps in x's dtype
    if input.ndim < 2:
        raise ValueError(f"{where}: expected an input of shape (N, C, ...), got shape {input.shape}")
    n, c = input.shape[:2]
    if not isinstance(num_groups, int) or num_groups <= 0 or c % num_groups:
        raise ValueError(f"{where}: num_groups must be a positive integer dividing the {c} channels "
                         f"of the input of shape {input.shape}, got {num_groups!r}")
    _check_affine(where, (c,), weight=weight, bias=bias)
    # x_hat: each group of C/G channels and every position, as one row of a (N, G, -1) view
    grouped = input.reshape(n, num_groups, -1)
    x_hat = Standardize((2,), eps)(grouped).reshape(input.shape)
    # gamma[c] x_hat + beta[c], per channel
    return _affine(x_hat, weight, bias, (1, c) + (1,) * (input.ndim - 2))
