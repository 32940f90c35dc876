"""Sorting: ``sort``, ``argsort`` and ``topk``, with PyTorch's ``(values, indices)`` results.

Sorting only moves elements: the values are ``x`` gathered at the sorted indices,

    values[..., j, ...] = x[..., indices[..., j, ...], ...]   (along ``dim``),

so they are differentiable like any indexing. The backward scatters each upstream gradient back
to the position its value came from (``GetItem``'s backward); elements that ``topk`` leaves out
get 0. The indices are integers and carry no gradient. Where two elements tie, the order between
them is a choice, and the gradient depends on it: check gradients away from ties.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from .. import backend as B
from ..autograd import Tensor
from .reduction import normalize_dims
from .shape import GetItem, clone


class SortResult(NamedTuple):
    values: Tensor
    indices: Tensor


class TopKResult(NamedTuple):
    values: Tensor
    indices: Tensor


def _argsort_stable(data: Any, axis: int) -> Any:
    """Indices that sort ``data`` ascending along ``axis``; equal elements keep their order."""
    if B.device_of(data) == "gpu":
        return data.argsort(axis=axis)  # CuPy's sort is always stable, and some versions take no kind
    return data.argsort(axis=axis, kind="stable")


def _sorted_indices(data: Any, axis: int, descending: bool) -> Any:
    """Indices that sort ``data`` along ``axis``, stable: equal elements keep their order (NaN
    counts as the largest value, as in PyTorch)."""
    if not descending:
        return _argsort_stable(data, axis)
    # a stable descending sort: sort the reversed array ascending, reverse that order, and map
    # each position i of the reversed array back to n - 1 - i (negating would break on bools)
    flip = (slice(None),) * axis + (slice(None, None, -1),)
    order = _argsort_stable(data[flip], axis)[flip]
    return data.shape[axis] - 1 - order


def _gather(x: Tensor, indices: Any, axis: int) -> Tensor:
    """y = x gathered along ``axis`` at ``indices`` (``torch.gather``), as one integer-array index:
    ``indices`` along ``axis``, and along every other dim its own position."""
    xp = B.array_module(x.data)
    index = tuple(indices if i == axis else
                  xp.arange(n).reshape([-1 if j == i else 1 for j in range(x.ndim)])
                  for i, n in enumerate(indices.shape))
    return GetItem(index)(x)


def _sort_axis(x: Tensor, dim: int, op: str) -> int:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return normalize_dims(dim, x.ndim, op)[0]


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """``(values, indices)`` of ``x`` sorted along ``dim``, ascending unless ``descending``.
    The sort is always stable (``stable`` is accepted for PyTorch's signature)."""
    axis = _sort_axis(x, dim, "sort")
    xp = B.array_module(x.data)
    if x.ndim == 0:  # a single element is sorted already
        return SortResult(clone(x), Tensor._make(xp.zeros((), dtype=B.int64)))
    indices = _sorted_indices(x.data, axis, descending)
    return SortResult(_gather(x, indices, axis), Tensor._make(indices.astype(B.int64)))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The ``indices`` of :func:`sort`."""
    return sort(x, dim, descending, stable).indices


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopKResult:  # noqa: A002
    """The ``k`` largest elements along ``dim`` (the ``k`` smallest if not ``largest``) and
    their indices, in sorted order (``sorted=False`` is accepted: PyTorch leaves the order
    unspecified then, and sorted order is one such order)."""
    axis = _sort_axis(x, dim, "topk")
    n = x.shape[axis] if x.ndim else 1
    if not isinstance(k, int) or not 0 <= k <= n:
        raise ValueError(f"topk: k={k!r} is out of range for dim {dim} of shape {x.shape} (size {n})")
    if x.ndim == 0:
        if k == 0:
            raise ValueError("topk: k=0 of a 0-dimensional tensor")
        return TopKResult(*sort(x))
    indices = _sorted_indices(x.data, axis, descending=largest)
    indices = indices[(slice(None),) * axis + (slice(0, k),)]
    return TopKResult(_gather(x, indices, axis), Tensor._make(indices.astype(B.int64)))


def _install() -> None:
    """Attach the methods ``x.sort``, ``x.argsort`` and ``x.topk`` (see tensor_methods.py)."""
    Tensor.sort, Tensor.argsort, Tensor.topk = sort, argsort, topk


_install()
