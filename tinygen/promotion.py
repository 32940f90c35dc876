"""Type promotion: the dtype an op computes in when its operands' dtypes differ, by PyTorch's rules.

Dtypes come in four kinds, each above the last: bool < integer < floating point < complex.
Operands come in three classes, by how much say they have over the result:

1. dimensioned tensors (ndim >= 1),
2. 0-d tensors (and 0-d arrays),
3. wrapped numbers: Python's bool, int and float, and NumPy scalars such as ``np.float64(0.5)``.
   A wrapped number brings its kind only: bool, int64 for an integer, the default float
   (float32) for a float.

Within a class dtypes promote as in ``promote_types``: float32 with float64 is float64, and an
integer with a float is that float (int64 with float32 is float32; NumPy would widen to float64
to hold every int64). Across classes, a lower class counts only when it is of a higher kind:

    float32 tensor + 0.5, np.float64(0.5) or a 0-d float64 tensor   ->  float32
    float32 tensor + int64 tensor                                    ->  float32
    int64 tensor + 2.5                                               ->  float32  (the default float)
    int64 tensor + 0-d float64 tensor                                ->  float64
    int32 tensor + 7                                                 ->  int32
    float32 tensor + float64 tensor (both dimensioned)               ->  float64

So a scalar argument (a slope, a bound, an eps, a NumPy number) never turns a float32 network into
float64 by accident, while two real tensors of different precision still meet in the wider one.

NumPy 2 treats Python numbers the same way, but NumPy scalars and 0-d arrays as full operands
(float32 array * np.float64(2) is float64), and integers with floats in float64. So ops take the
dtype from here, and scalar arguments are made Python numbers with :func:`as_number`.
"""
from __future__ import annotations

import numbers
from typing import Any, Sequence

from . import backend as B

DEFAULT_FLOAT = B.np.dtype(B.float32)  # what a Python float, and true division of integers, becomes
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # bool < integer < floating < complex


def _rank(dtype: Any) -> int:
    return _KIND_RANK[dtype.kind]


def promote_types(a: Any, b: Any) -> Any:
    """The dtype two operands of the same class meet in (``torch.promote_types``): the higher kind's
    dtype when the kinds differ (int64 with float16 is float16), else the wider of the two."""
    a, b = B.np.dtype(a), B.np.dtype(b)
    if a == b:
        return a
    rank_a, rank_b = _rank(a), _rank(b)
    if rank_a != rank_b and rank_a + rank_b != 5:  # a float with a complex: NumPy's wider complex
        return a if rank_a > rank_b else b
    return B.np.promote_types(a, b)


def _combine(higher: Any, lower: Any) -> Any:
    """The dtype of a class of operands (``higher``) together with the classes below it
    (``lower``); None is an empty class. The lower classes count only when of a higher kind."""
    if lower is None:
        return higher
    if higher is None:
        return lower
    rank_high, rank_low = _rank(higher), _rank(lower)
    if rank_low <= rank_high and rank_high > 0:
        return higher
    if rank_high == 2 and rank_low == 3:  # a complex number beside float32 tensors: complex64
        return promote_types(higher, B.np.complex64)
    return promote_types(higher, lower)


def number_dtype(value: Any) -> Any:
    """The dtype a wrapped number brings: its kind's default (bool, int64, float32, complex64)."""
    if isinstance(value, (bool, B.np.bool_)):
        return B.np.dtype(bool)
    if isinstance(value, numbers.Integral):
        return B.np.dtype(B.int64)
    if isinstance(value, numbers.Real):
        return DEFAULT_FLOAT
    if isinstance(value, numbers.Complex):
        return B.np.dtype(B.np.complex64)
    raise TypeError(f"type promotion: {type(value).__name__} {value!r} is not a number")


def is_number(value: Any) -> bool:
    """A wrapped number: a Python or NumPy bool, integer, float or complex (not an array)."""
    return isinstance(value, (numbers.Number, B.np.bool_))


def result_type(arrays: Sequence[Any] = (), scalars: Sequence[Any] = ()) -> Any:
    """The dtype of an elementwise op on ``arrays`` (tensors' data; a 0-d array, or the NumPy
    scalar a reduction returns, is a 0-d tensor) and the wrapped numbers ``scalars``."""
    dimensioned = zero_d = wrapped = None
    for a in arrays:
        if a.ndim:
            dimensioned = a.dtype if dimensioned is None else promote_types(dimensioned, a.dtype)
        else:
            zero_d = a.dtype if zero_d is None else promote_types(zero_d, a.dtype)
    for n in scalars:
        dtype = number_dtype(n)
        wrapped = dtype if wrapped is None else promote_types(wrapped, dtype)
    return _combine(dimensioned, _combine(zero_d, wrapped))


_PAIR_DTYPES: dict[tuple[Any, Any, bool, bool], Any] = {}  # a cache: ops ask this for every mixed pair


def pair_dtype(x: Any, y: Any) -> Any:
    """``result_type((x, y))`` for two arrays, from a cache keyed by their dtypes and 0-d-ness."""
    key = (x.dtype, y.dtype, x.ndim == 0, y.ndim == 0)
    dtype = _PAIR_DTYPES.get(key)
    if dtype is None:
        dtype = _PAIR_DTYPES[key] = result_type((x, y))
    return dtype


def as_number(value: Any, where: str, name: str) -> bool | int | float:
    """A scalar argument (a slope, a clamp bound, an eps) as a Python number.

    NumPy scalars, 0-d arrays and 0-d tensors are accepted and converted: a Python number is a
    wrapped number to NumPy too, so ``x * slope`` keeps x's dtype. A tensor that requires grad is
    refused, since the argument is a constant here and its gradient would be lost.
    """
    if type(value) in (float, int, bool):
        return value
    if isinstance(value, (bool, B.np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    dtype = getattr(value, "dtype", None)
    if getattr(value, "ndim", None) == 0 and dtype is not None and dtype.kind in "biuf":
        if getattr(value, "requires_grad", False):
            raise TypeError(f"{where}: {name} is a tensor that requires grad; here it is a constant "
                            f"(its gradient would be lost), pass {name}.detach() or a number")
        return as_number(value.item(), where, name)
    shape = f" of shape {tuple(value.shape)} and dtype {dtype}" if hasattr(value, "shape") else ""
    raise TypeError(f"{where}: {name} must be a real number (or a 0-d tensor or array), got "
                    f"{type(value).__name__}{shape}")
