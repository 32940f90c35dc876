"""Embedding lookup: row ``i`` of a table ``weight`` (num_embeddings, embedding_dim) for every
integer index ``i`` in ``indices``; output shape indices.shape + (embedding_dim,).

    y[..., :] = weight[indices[...], :]

The forward is a gather. Its gradient is the adjoint, a scatter-add: every row of the table
receives the sum of the output gradients of all the positions that looked it up. A label that
appears 10 times in a batch gets 10 contributions, so the add must accumulate; that is what
``backend.scatter_add`` does (``numpy.add.at`` on the CPU, ``cupyx.scatter_add`` on the GPU).
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import Function, Tensor


class Embedding(Function):
    """y = weight[indices]  (``indices`` is a constant integer array)."""

    def __init__(self, indices: Any, padding_idx: int | None) -> None:
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight: Any) -> Any:
        return weight[self.indices]

    def backward(self, gy: Tensor) -> Tensor:
        (weight,) = self.inputs
        # dL/dweight[r] = sum over the positions p with indices[p] == r of dL/dy[p]
        return EmbeddingScatter(self.indices, self.padding_idx, weight.shape)(gy)


class EmbeddingScatter(Function):
    """g_weight = zeros, then g_weight[indices[p]] += gy[p] for every position p (accumulating)."""

    def __init__(self, indices: Any, padding_idx: int | None, weight_shape: tuple[int, ...]) -> None:
        self.indices, self.padding_idx, self.weight_shape = indices, padding_idx, weight_shape

    def forward(self, gy: Any) -> Any:
        xp = B.array_module(gy)
        g_weight = xp.zeros(self.weight_shape, dtype=gy.dtype)
        B.scatter_add(g_weight, self.indices.reshape(-1), gy.reshape(-1, self.weight_shape[1]))
        if self.padding_idx is not None:
            g_weight[self.padding_idx] = 0  # PyTorch: the padding row is never trained
        return g_weight

    def backward(self, gg_weight: Tensor) -> Tensor:
        # the adjoint of the scatter-add is the gather (with the padding row's entries zeroed)
        g = gg_weight
        if self.padding_idx is not None:
            xp = B.array_module(g.data)
            keep = xp.ones((self.weight_shape[0], 1), dtype=g.dtype)
            keep[self.padding_idx] = 0
            g = g * Tensor._make(keep)
        return Embedding(self.indices, None)(g)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Look up rows of ``weight`` (num_embeddings, embedding_dim) for integer ``input`` of any shape.

    ``padding_idx``: that row's gradient is always zero (as in PyTorch). Unlike PyTorch there is no
    ``max_norm`` renormalisation and no sparse gradient.
    """
    where = "embedding"
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"{where}: weight must be a 2-D Tensor (num_embeddings, embedding_dim), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    xp = B.array_module(weight.data)
    indices = input.data if isinstance(input, Tensor) else input
    indices = xp.asarray(indices)
    if not B.np.issubdtype(indices.dtype, B.np.integer):
        raise TypeError(f"{where}: indices must be integers, got dtype {indices.dtype} (shape "
                        f"{indices.shape}); convert them with .long()")
    n = weight.shape[0]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n):
        raise IndexError(f"{where}: indices must lie in [0, {n}) for a weight of shape {weight.shape}, "
                         f"got values from {int(indices.min())} to {int(indices.max())}")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"{where}: padding_idx {padding_idx} is out of range for {n} embeddings")
        padding_idx %= n
    return Embedding(indices, padding_idx)(weight)
