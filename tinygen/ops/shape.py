"""Ops that move elements around without changing them: reshape, permute, indexing, cat,
stack, split and chunk, repeat, where, and moves between devices and dtypes.

Their backward moves the gradient back the same way: reshape it back, permute it back, scatter
it into the indexed places (adding where an index repeats). Each also has ``backward_arrays``,
the same moves on bare arrays, which the engine runs when no graph is being built.
"""
from __future__ import annotations

import builtins
import numbers
from typing import Any, Sequence

from .. import backend as B
from .. import promotion as P
from ..autograd import Function, ShapeError, Tensor
from .broadcast import broadcast_to, sum_to, sum_to_array


class Reshape(Function):
    """y = x with a new shape (same elements, same order)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) "
                             f"as shape {self.shape}") from None

    def backward(self, gy: Tensor) -> Tensor:
        return gy.reshape(self.x_shape)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy.reshape(self.x_shape)


def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    target = _shape_arg(shape)
    if target == x.shape:
        return x
    return Reshape(target)(x)


view = reshape


class Permute(Function):
    """y = x with its axes reordered: y.shape[i] == x.shape[dims[i]]."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        self.dims = dims

    def forward(self, x: Any) -> Any:
        return x.transpose(self.dims)

    def backward(self, gy: Tensor) -> Tensor:
        # undo the permutation: the inverse of dims
        return Permute(self._inverse())(gy)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy.transpose(self._inverse())

    def _inverse(self) -> tuple[int, ...]:
        return tuple(sorted(range(len(self.dims)), key=self.dims.__getitem__))


def permute(x: Tensor, *dims: Any) -> Tensor:
    order = _shape_arg(dims)
    if sorted(d % builtins.max(x.ndim, 1) for d in order) != list(range(x.ndim)):
        raise ValueError(f"permute: {order} is not a permutation of the {x.ndim} dims of shape {x.shape}")
    return Permute(tuple(d % x.ndim for d in order))(x)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    for d in (dim0, dim1):
        if not -x.ndim <= d < x.ndim:
            raise IndexError(f"transpose: dim {d} is out of range for shape {x.shape}")
    order = list(range(x.ndim))
    order[dim0], order[dim1] = order[dim1], order[dim0]
    return Permute(tuple(order))(x)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    size = 1
    for s in x.shape[start:end + 1]:
        size *= s
    return reshape(x, x.shape[:start] + (size,) + x.shape[end + 1:])


def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    d = dim % x.ndim
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = dim % (x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    d = dim % builtins.max(x.ndim, 1)
    if x.ndim == 0 or x.shape[d] != 1:
        return x
    return reshape(x, x.shape[:d] + x.shape[d + 1:])


def expand(x: Tensor, *sizes: Any) -> Tensor:
    target = list(_shape_arg(sizes))
    lead = len(target) - x.ndim
    for i in range(x.ndim):
        if target[lead + i] == -1:
            target[lead + i] = x.shape[i]
    return broadcast_to(x, tuple(target))


def _clean_index(index: Any, xp: Any) -> Any:
    """Turn tensors and lists inside an index into arrays of the indexed tensor's module
    (integer arrays or boolean masks; CuPy indexes only with CuPy arrays)."""
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, tuple):
        return tuple(_clean_index(i, xp) for i in index)
    if isinstance(index, list) or (hasattr(index, "dtype") and B.array_module(index) is not xp):
        return xp.asarray(index)
    return index


def _is_basic(index: Any) -> bool:
    """True when ``index`` only slices (no integer or boolean arrays, so no repeats)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class GetItem(Function):
    """y = x[index] (slicing, integer and boolean array indexing)."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x: Any) -> Any:
        try:
            return x[self.index]
        except IndexError as error:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {error}") from None

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # each selected element receives its upstream gradient; repeats add up
        return GetItemGrad(self.index, x.shape)(gy)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return _scatter(gy, self.index, self.inputs[0].shape)


def _scatter(gy: Any, index: Any, x_shape: tuple[int, ...]) -> Any:
    """zeros(x_shape) with gy added into the places ``index`` selects."""
    gx = B.array_module(gy).zeros(x_shape, dtype=gy.dtype)
    if _is_basic(index):
        gx[index] = gy
    else:
        B.scatter_add(gx, index, gy)
    return gx


class GetItemGrad(Function):
    """gx = zeros(x_shape) with gy scattered (added) into the places ``index`` selects."""

    def __init__(self, index: Any, x_shape: tuple[int, ...]) -> None:
        self.index, self.x_shape = index, x_shape

    def forward(self, gy: Any) -> Any:
        return _scatter(gy, self.index, self.x_shape)

    def backward(self, ggx: Tensor) -> Tensor:
        # the scatter is linear; its adjoint is the gather x[index]
        return GetItem(self.index)(ggx)

    def backward_arrays(self, ggx: Any) -> Any:  # the same on arrays
        return ggx[self.index]


def getitem(x: Tensor, index: Any) -> Tensor:
    return GetItem(_clean_index(index, B.array_module(x.data)))(x)


class Cat(Function):
    """y = the inputs joined along ``axis``."""

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        return B.array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        # each input gets back its own slice of the gradient
        return tuple(GetItem(index)(gy) if x.requires_grad else None
                     for x, index in zip(self.inputs, self._pieces()))

    def backward_arrays(self, gy: Any) -> tuple[Any, ...]:  # the same on arrays
        return tuple(gy[index] if x.requires_grad else None for x, index in zip(self.inputs, self._pieces()))

    def _pieces(self) -> list[tuple[slice, ...]]:
        """The index of each input's slice of the output."""
        pieces, start = [], 0
        for x in self.inputs:
            stop = start + x.shape[self.axis]
            pieces.append((slice(None),) * self.axis + (slice(start, stop),))
            start = stop
        return pieces


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    axis = dim % first.ndim
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != axis):
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match tensor 0's "
                             f"shape {first.shape} outside dim {dim}")
    return Cat(axis)(*tensors)


concatenate = concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has {tensors[0].shape}")
    # stack = cat of the inputs, each with a new axis of size 1 at dim
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def _split_axis(x: Tensor, dim: int, op: str) -> int:
    if x.ndim == 0:
        raise ValueError(f"{op}: a 0-dimensional tensor has no dim to split")
    if not isinstance(dim, numbers.Integral) or not -x.ndim <= dim < x.ndim:
        raise IndexError(f"{op}: dim {dim!r} is out of range for shape {x.shape}")
    return int(dim) % x.ndim


def split(x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``x`` along ``dim`` into pieces of ``split_size_or_sections`` elements (the last piece
    may be smaller) or, given a list, into pieces of exactly those sizes. Each piece is a slice of
    ``x``, so its gradient flows back into its own part of x."""
    axis = _split_axis(x, dim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, numbers.Integral):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be a positive integer, got {size}")
        sizes = [builtins.min(size, n - start) for start in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} must be non-negative and sum to {n}, the size of "
                             f"dim {dim} of shape {x.shape}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(GetItem((slice(None),) * axis + (slice(start, start + size),))(x))
        start += size
    return tuple(pieces)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split ``x`` along ``dim`` into ``chunks`` pieces of ceil(n / chunks) elements, as
    ``torch.chunk``: the last piece may be smaller, and there may be fewer than ``chunks``
    pieces (5 elements in 4 chunks give sizes 2, 2, 1)."""
    if not isinstance(chunks, numbers.Integral) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
    n = x.shape[_split_axis(x, dim, "chunk")]
    if n == 0:  # PyTorch gives ``chunks`` empty pieces
        return split(x, [0] * int(chunks), dim)
    return split(x, -(-n // int(chunks)), dim)  # ceil(n / chunks)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """Tile ``x``: ``sizes[i]`` copies of the whole tensor along dim i, as ``Tensor.repeat`` in
    PyTorch (``numpy.tile``; not ``numpy.repeat``, which repeats each element in place). Extra
    leading sizes add new leading dims. The gradient of an element is the sum over its copies."""
    reps = _shape_arg(sizes)
    if len(reps) < x.ndim:
        raise ValueError(f"repeat: got {len(reps)} repeat counts {reps} for a tensor of shape {x.shape}; "
                         f"give one per dim (at least {x.ndim})")
    if any(r < 0 for r in reps):
        raise ValueError(f"repeat: repeat counts must be non-negative, got {reps}")
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    # put each dim's copies on a new axis in front of it, broadcast, then merge each pair:
    # (s0, s1) -> (1, s0, 1, s1) -> (r0, s0, r1, s1) -> (r0 s0, r1 s1)
    # broadcast_to's backward (sum_to) adds up the copies
    spread = tuple(v for s in shape for v in (1, s))
    tiled = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    return reshape(broadcast_to(reshape(x, spread), tiled), tuple(r * s for r, s in zip(reps, shape)))


def tile(x: Tensor, dims: Sequence[int]) -> Tensor:
    """``torch.tile``: ``repeat``, except that fewer counts than dims are padded with 1s in front."""
    dims = tuple(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


class Where(Function):
    """z = x where condition holds, else y (condition is a constant boolean array)."""

    def __init__(self, condition: Any) -> None:
        self.condition = condition

    def forward(self, x: Any, y: Any) -> Any:
        if x.dtype != y.dtype:  # PyTorch's promotion (a 0-d operand does not widen the other)
            dtype = P.pair_dtype(x, y)
            x, y = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
        return B.array_module(x, y).where(self.condition, x, y)

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        zero = Tensor._make(B.array_module(gz.data).zeros((), dtype=gz.dtype))
        # dz/dx = 1 where the condition holds, dz/dy = 1 elsewhere
        gx = sum_to(Where(self.condition)(gz, zero), x.shape) if x.requires_grad else None
        gy = sum_to(Where(self.condition)(zero, gz), y.shape) if y.requires_grad else None
        return gx, gy

    def backward_arrays(self, gz: Any) -> tuple[Any, Any]:  # the same on arrays
        x, y = self.inputs
        xp = B.array_module(gz)
        zero = xp.zeros((), dtype=gz.dtype)
        gx = sum_to_array(xp.where(self.condition, gz, zero), x.shape) if x.requires_grad else None
        gy = sum_to_array(xp.where(self.condition, zero, gz), y.shape) if y.requires_grad else None
        return gx, gy


def where(condition: Any, x: Any, y: Any) -> Tensor:
    cond = condition.data if isinstance(condition, Tensor) else condition
    if not hasattr(cond, "dtype") or cond.dtype != bool:
        cond = B.array_module(cond).asarray(cond).astype(bool)
    return Where(cond)(x, y)


class Copy(Function):
    """y = a copy of x"""

    def forward(self, x: Any) -> Any:
        return x.copy()

    def backward(self, gy: Tensor) -> Tensor:
        return gy

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy


def clone(x: Tensor) -> Tensor:
    return Copy()(x)


class ToDevice(Function):
    """y = x on another device; the gradient travels back to x's device."""

    def __init__(self, device: str) -> None:
        self.device = device

    def forward(self, x: Any) -> Any:
        self.source = B.device_of(x)
        return B.to_device(x, self.device)

    def backward(self, gy: Tensor) -> Tensor:
        return ToDevice(self.source)(gy)


def to_device(x: Tensor, device: str) -> Tensor:
    device = B.check_device(device)
    if x.device == device:
        return x
    out = ToDevice(device)(x)
    if x.is_leaf and not out.requires_grad:
        out.requires_grad = x.requires_grad
    return out


class ToDtype(Function):
    """y = x converted to another floating dtype; the gradient is converted back."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype

    def forward(self, x: Any) -> Any:
        self.source = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy: Tensor) -> Tensor:
        return ToDtype(self.source)(gy)

    def backward_arrays(self, gy: Any) -> Any:  # the same on arrays
        return gy.astype(self.source)


def to_dtype(x: Tensor, dtype: Any) -> Tensor:
    if x.dtype == dtype:
        return x
    if not B.np.issubdtype(B.np.dtype(dtype), B.np.floating):
        return Tensor._make(x.data.astype(dtype))  # integer results carry no gradient
    return ToDtype(dtype)(x)


def one_hot(x: Tensor, num_classes: int = -1) -> Tensor:
    """(...) integer class labels -> (..., num_classes) int64 indicator (no gradient)."""
    data = x.data if isinstance(x, Tensor) else x
    xp = B.array_module(data)
    data = xp.asarray(data)
    if not xp.issubdtype(data.dtype, xp.integer):
        raise TypeError(f"one_hot: expected integer class labels, got dtype {data.dtype}")
    if num_classes == -1:
        num_classes = int(data.max()) + 1 if data.size else 0
    if data.size and (int(data.min()) < 0 or int(data.max()) >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got values from "
                         f"{int(data.min())} to {int(data.max())}")
    eye = xp.eye(num_classes, dtype=B.int64)
    return Tensor._make(eye[data])


def _install() -> None:
    """Attach ``x.split``, ``x.chunk``, ``x.repeat`` and ``x.tile`` (the older methods of this file:
    tensor_methods.py)."""
    Tensor.split, Tensor.chunk, Tensor.repeat, Tensor.tile = split, chunk, repeat, tile


_install()
