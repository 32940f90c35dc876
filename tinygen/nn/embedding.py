"""``Embedding``: a trainable lookup table, as in PyTorch (``weight`` (num_embeddings,
embedding_dim) initialised N(0, 1); the ``padding_idx`` row starts at zero and is never trained)."""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import Tensor
from ..ops.embedding import embedding
from .init import normal_
from .module import Module, Parameter


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = None, device: str | None = None) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Embedding: {name} must be a positive integer, got {value!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        xp = B.module_for(device or B.default_device())
        self.weight = Parameter(xp.empty((num_embeddings, embedding_dim), dtype=dtype or B.float32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices: Any) -> Tensor:
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
