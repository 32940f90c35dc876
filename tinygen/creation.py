"""Making tensors: ``tensor``, ``zeros``, ``ones``, ``randn`` ... with PyTorch's signatures.

Floating-point tensors default to float32; ``device`` defaults to the active backend's device.
Random tensors draw from the generators that ``tinygen.manual_seed`` seeds.
"""
from __future__ import annotations

from typing import Any

from . import backend as B
from .autograd import Tensor, _check_numeric


def _size(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, B.np.integer)) or s < 0:
            raise ValueError(f"sizes must be non-negative integers, got {size}")
    return tuple(int(s) for s in size)


def _device(device: str | None) -> str:
    return B.default_device() if device is None else B.check_device(device)


def tensor(data: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data``."""
    if isinstance(data, Tensor):
        data = data.data
    t = Tensor(data, dtype=dtype, device=device)
    if t.data is data:
        t.data = t.data.copy()
    return t.requires_grad_(requires_grad) if requires_grad else t


def from_numpy(array: Any) -> Tensor:
    """Wrap a NumPy array without copying (dtype kept)."""
    _check_numeric(array, "from_numpy")
    return Tensor._make(array)


def _filled(fill: float, size: tuple[Any, ...], dtype: Any, device: str | None, requires_grad: bool) -> Tensor:
    xp = B.module_for(_device(device))
    t = Tensor._make(xp.full(_size(size), fill, dtype=dtype or B.float32))
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return _filled(1, size, dtype, device, requires_grad)


def full(size: Any, fill_value: float, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    return _filled(fill_value, (size,), dtype, device, requires_grad)


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: float, dtype: Any = None) -> Tensor:
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=x.device)


def randn(*size: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Samples of N(0, 1)."""
    t = Tensor._make(B.randn(_size(size), dtype or B.float32, _device(device)))
    return t.requires_grad_(True) if requires_grad else t


def rand(*size: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Samples of U[0, 1)."""
    t = Tensor._make(B.rand(_size(size), dtype or B.float32, _device(device)))
    return t.requires_grad_(True) if requires_grad else t


def randn_like(x: Tensor) -> Tensor:
    return randn(x.shape, dtype=x.dtype, device=x.device)


def rand_like(x: Tensor) -> Tensor:
    return rand(x.shape, dtype=x.dtype, device=x.device)


def randint(low: int, high: int | None = None, size: Any = None, *, dtype: Any = None,
            device: str | None = None) -> Tensor:
    """Integers uniform on [low, high) (int64), as ``torch.randint``: ``randint(low, high, size)``
    or ``randint(high, size)``, which draws from [0, high). ``size`` is a tuple or one integer."""
    if size is None:  # randint(high, size): the first argument is the upper end
        if high is None:
            raise TypeError("randint: missing size; call randint(high, size) or randint(low, high, size)")
        low, high, size = 0, low, high
    if high is None:  # randint(high, size=...)
        low, high = 0, low
    if not low < high:
        raise ValueError(f"randint: low ({low}) must be less than high ({high})")
    t = Tensor._make(B.randint(low, high, _size((size,)), _device(device)))
    return t if dtype is None else Tensor._make(t.data.astype(dtype))


def randperm(n: int, device: str | None = None) -> Tensor:
    return Tensor._make(B.permutation(n, _device(device)))


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: str | None = None) -> Tensor:
    """start, start + step, ... up to but excluding end, as ``torch.arange``: int64 when start, end
    and step are all integers, otherwise the default float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        integers = all(isinstance(v, (int, B.np.integer)) for v in (start, end, step))
        dtype = B.int64 if integers else B.float32
    xp = B.module_for(_device(device))
    if B.np.issubdtype(dtype, B.np.floating):
        # start + i * step in float64, rounded once to dtype (a float32 step would add up its rounding)
        return Tensor._make(xp.arange(start, end, step, dtype=B.float64).astype(dtype, copy=False))
    return Tensor._make(xp.arange(start, end, step, dtype=dtype))


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: str | None = None) -> Tensor:
    xp = B.module_for(_device(device))
    return Tensor._make(xp.linspace(start, end, steps, dtype=dtype or B.float32))


def eye(n: int, dtype: Any = None, device: str | None = None) -> Tensor:
    xp = B.module_for(_device(device))
    return Tensor._make(xp.eye(n, dtype=dtype or B.float32))
