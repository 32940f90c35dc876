"""Comparisons and boolean logic: ``eq ne lt le gt ge`` (and ``== != < <= > >=``), ``& | ^ ~``,
``all``, ``any``, ``isnan``, ``isfinite``, ``isinf``, ``allclose``, ``equal``.

None of these is differentiable. A comparison is a step function of its inputs: its derivative is
0 wherever it exists, so a gradient through it would carry no information. As in PyTorch they
return bool tensors that do not require grad, to be used as masks (``where(x > 0, x, 0)``,
``x[mask]``), where the gradient flows through the selected values instead. ``allclose`` and
``equal`` answer with a Python bool.

``& | ^ ~`` follow PyTorch: on bool tensors they are logical and, or, xor, not; on integer
tensors they act bit by bit; on floating-point tensors they are an error.

Both sides are compared in the dtype PyTorch's promotion gives (``tinygen.promotion``): a float32
tensor is compared with 0.1, np.float64(0.1) or a 0-d float64 tensor in float32 alike, and with
an int64 tensor in float32.
"""
from __future__ import annotations

import numbers
from typing import Any

from .. import backend as B
from .. import promotion as P
from ..autograd import Tensor
from .reduction import Dim, dim_or_axis, normalize_dims


def _check_tensor(x: Any, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    return x


def _is_operand(other: Any) -> bool:
    """Whether ``other`` can stand beside a tensor in a comparison (else ``==`` answers False)."""
    return isinstance(other, (Tensor, numbers.Number, list, tuple)) or hasattr(other, "dtype")


def _other_array(x: Tensor, other: Any, op: str) -> Any:
    """``other`` (a tensor, a number or array-like data) as an array on ``x``'s device, after
    checking that its shape broadcasts against ``x``."""
    if isinstance(other, Tensor):
        if other.device != x.device:
            raise B.DeviceError(f"{op}: the tensors are on different devices: {x.device} (shape "
                                f"{x.shape}) and {other.device} (shape {other.shape})")
        data = other.data
    elif isinstance(other, numbers.Number):
        return other  # a Python or NumPy scalar: a wrapped number (see _operands)
    elif _is_operand(other):
        data = B.to_device(other, x.device)
    else:
        raise TypeError(f"{op}: cannot compare a Tensor with {type(other).__name__}")
    try:
        B.np.broadcast_shapes(x.shape, data.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {x.shape} and {data.shape} do not broadcast") from None
    return data


def _operands(x: Tensor, other: Any, op: str) -> tuple[Any, Any]:
    """x's data and ``other`` (checked by ``_other_array``) in the dtype they meet in."""
    a, b = x.data, _other_array(x, other, op)
    if (type(b) is float or type(b) is int) and a.dtype.kind == "f":
        return a, b  # the common case, x > 0: NumPy reads a Python number in x's dtype
    if P.is_number(b):
        dtype = P.result_type([a], [b])
        b = b.item() if isinstance(b, B.np.generic) else b  # a Python number: NumPy reads it in dtype
        return (a if a.dtype == dtype else a.astype(dtype)), b
    if a.dtype == b.dtype:
        return a, b
    dtype = P.pair_dtype(a, b)
    return (a if a.dtype == dtype else a.astype(dtype)), (b if b.dtype == dtype else b.astype(dtype))


def _result(x: Tensor, result: Any) -> Tensor:
    """Wrap a result array, which never requires grad (a 0-d comparison gives a NumPy scalar:
    make it an array again)."""
    return Tensor._make(B.array_module(x.data).asarray(result))


# ------------------------------------------------------------------------------ comparisons
def eq(x: Tensor, other: Any) -> Tensor:
    """x == other, elementwise (broadcasting), as a bool tensor."""
    x = _check_tensor(x, "eq")
    a, b = _operands(x, other, "eq")
    return _result(x, a == b)


def ne(x: Tensor, other: Any) -> Tensor:
    """x != other, elementwise, as a bool tensor."""
    x = _check_tensor(x, "ne")
    a, b = _operands(x, other, "ne")
    return _result(x, a != b)


def lt(x: Tensor, other: Any) -> Tensor:
    """x < other, elementwise, as a bool tensor."""
    x = _check_tensor(x, "lt")
    a, b = _operands(x, other, "lt")
    return _result(x, a < b)


def le(x: Tensor, other: Any) -> Tensor:
    """x <= other, elementwise, as a bool tensor."""
    x = _check_tensor(x, "le")
    a, b = _operands(x, other, "le")
    return _result(x, a <= b)


def gt(x: Tensor, other: Any) -> Tensor:
    """x > other, elementwise, as a bool tensor."""
    x = _check_tensor(x, "gt")
    a, b = _operands(x, other, "gt")
    return _result(x, a > b)


def ge(x: Tensor, other: Any) -> Tensor:
    """x >= other, elementwise, as a bool tensor."""
    x = _check_tensor(x, "ge")
    a, b = _operands(x, other, "ge")
    return _result(x, a >= b)


# ------------------------------------------------------------------------------ boolean logic
def _check_logical(op: str, symbol: str, *operands: Any) -> None:
    """& | ^ ~ take bool or integer operands; name the first floating-point one."""
    for name, v in zip(("input", "other"), operands):
        if isinstance(v, Tensor):
            if not (v.dtype == bool or B.np.issubdtype(v.dtype, B.np.integer)):
                raise TypeError(f"{op} ({symbol}): needs bool or integer tensors, got {name} of dtype "
                                f"{v.dtype} and shape {v.shape}; compare first (x > 0) to get a bool tensor")
        elif not isinstance(v, (bool, numbers.Integral)) and not _is_integer_data(v):
            raise TypeError(f"{op} ({symbol}): needs bool or integer operands, got {name} "
                            f"{type(v).__name__} {v!r}")


def _is_integer_data(v: Any) -> bool:
    dtype = getattr(v, "dtype", None)
    return dtype is not None and (dtype == bool or B.np.issubdtype(dtype, B.np.integer))


def bitwise_and(x: Tensor, other: Any) -> Tensor:
    """x & other: logical and of bool tensors (bitwise on integers)."""
    x = _check_tensor(x, "bitwise_and")
    _check_logical("bitwise_and", "&", x, other)
    a, b = _operands(x, other, "bitwise_and")
    return _result(x, a & b)


def bitwise_or(x: Tensor, other: Any) -> Tensor:
    """x | other: logical or of bool tensors (bitwise on integers)."""
    x = _check_tensor(x, "bitwise_or")
    _check_logical("bitwise_or", "|", x, other)
    a, b = _operands(x, other, "bitwise_or")
    return _result(x, a | b)


def bitwise_xor(x: Tensor, other: Any) -> Tensor:
    """x ^ other: logical exclusive or of bool tensors (bitwise on integers)."""
    x = _check_tensor(x, "bitwise_xor")
    _check_logical("bitwise_xor", "^", x, other)
    a, b = _operands(x, other, "bitwise_xor")
    return _result(x, a ^ b)


def bitwise_not(x: Tensor) -> Tensor:
    """~x: logical not of a bool tensor (bitwise on integers)."""
    x = _check_tensor(x, "bitwise_not")
    _check_logical("bitwise_not", "~", x)
    return _result(x, ~x.data)


# --------------------------------------------------------------------- all, any, nan, inf
def all(x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None) -> Tensor:  # noqa: A001
    """Whether every element (along ``dim``) is nonzero, as a bool tensor."""
    x = _check_tensor(x, "all")
    axes = normalize_dims(dim_or_axis(dim, axis, "all"), x.ndim, "all")
    return _result(x, x.data.all(axis=axes, keepdims=keepdim))


def any(x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None) -> Tensor:  # noqa: A001
    """Whether some element (along ``dim``) is nonzero, as a bool tensor."""
    x = _check_tensor(x, "any")
    axes = normalize_dims(dim_or_axis(dim, axis, "any"), x.ndim, "any")
    return _result(x, x.data.any(axis=axes, keepdims=keepdim))


def isnan(x: Tensor) -> Tensor:
    """Where x is NaN, as a bool tensor (never, for integer and bool tensors)."""
    x = _check_tensor(x, "isnan")
    return _result(x, B.array_module(x.data).isnan(x.data))


def isinf(x: Tensor) -> Tensor:
    """Where x is +inf or -inf, as a bool tensor."""
    x = _check_tensor(x, "isinf")
    return _result(x, B.array_module(x.data).isinf(x.data))


def isfinite(x: Tensor) -> Tensor:
    """Where x is neither NaN nor +-inf, as a bool tensor."""
    x = _check_tensor(x, "isfinite")
    return _result(x, B.array_module(x.data).isfinite(x.data))


# ------------------------------------------------------------------- answers as Python bools
def allclose(x: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether |x - other| <= atol + rtol |other| everywhere (broadcasting), as ``torch.allclose``."""
    x = _check_tensor(x, "allclose")
    data = _other_array(x, other, "allclose")
    return bool(B.array_module(x.data).allclose(x.data, data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(x: Tensor, other: Tensor) -> bool:
    """Whether ``x`` and ``other`` have the same shape and the same elements (NaN is never equal)."""
    x, other = _check_tensor(x, "equal"), _check_tensor(other, "equal")
    if x.shape != other.shape:
        return False
    return bool((x.data == _other_array(x, other, "equal")).all())


# ------------------------------------------------------------------------- Tensor methods
def _operator(function: Any) -> Any:
    """A binary operator: NotImplemented for an operand it cannot use (then ``x == None`` is
    False, as in PyTorch, and Python tries the other operand's method)."""
    def method(self: Tensor, other: Any) -> Any:
        return function(self, other) if _is_operand(other) else NotImplemented
    method.__name__ = function.__name__
    return method


def _install() -> None:
    """Attach the comparison and logic methods and operators (the other methods: tensor_methods.py).

    Python reflects comparisons itself (``2 < x`` calls ``x.__gt__(2)``); & | ^ are symmetric.
    """
    T = Tensor
    T.eq, T.ne, T.lt, T.le, T.gt, T.ge = eq, ne, lt, le, gt, ge
    T.__eq__, T.__ne__ = _operator(eq), _operator(ne)
    T.__lt__, T.__le__, T.__gt__, T.__ge__ = _operator(lt), _operator(le), _operator(gt), _operator(ge)
    T.bitwise_and, T.bitwise_or, T.bitwise_xor, T.bitwise_not = bitwise_and, bitwise_or, bitwise_xor, bitwise_not
    T.__and__ = T.__rand__ = _operator(bitwise_and)
    T.__or__ = T.__ror__ = _operator(bitwise_or)
    T.__xor__ = T.__rxor__ = _operator(bitwise_xor)
    T.__invert__ = bitwise_not
    T.all, T.any = all, any
    T.isnan, T.isinf, T.isfinite = isnan, isinf, isfinite
    T.allclose, T.equal = allclose, equal


_install()
