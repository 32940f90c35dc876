"""Dropout: zero each element with probability p during training, scale the rest by 1 / (1 - p)
so the expected value is unchanged (inverted dropout, as in PyTorch)."""
from __future__ import annotations

from .. import backend as B
from ..autograd import Tensor


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = B.rand(x.shape, dtype=x.dtype, device=x.device) >= p
    # y = x * m / (1 - p),  m ~ Bernoulli(1 - p); dy/dx = m / (1 - p) (a constant mask)
    mask = keep.astype(x.dtype) * (1.0 / (1.0 - p))
    return x * Tensor._make(mask.astype(x.dtype, copy=False))


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout (Tompson et al., 2015): zero whole feature maps x[n, c] with probability p
    and scale the kept ones by 1 / (1 - p). Input (N, C, H, W), or (C, H, W) for one sample.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels barely
    regularises a convolutional layer; dropping the whole map does.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p must lie in [0, 1], got {p}")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) or 3-D (C, H, W), got shape {x.shape}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    # one Bernoulli(1 - p) draw per (sample, channel), broadcast over the pixels
    mask_shape = x.shape[:-2] + (1, 1)
    keep = B.rand(mask_shape, dtype=x.dtype, device=x.device) >= p
    mask = keep.astype(x.dtype) * (1.0 / (1.0 - p))
    return x * Tensor._make(mask.astype(x.dtype, copy=False))
