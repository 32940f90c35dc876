"""Operator overloading: ``x + y``, ``x @ w``, ``x.sum(1)`` ... call the ops of this package.

``Tensor`` itself (in autograd.py) knows nothing about arithmetic; this module attaches the
methods when ``tinygen.ops`` is first imported. The dependency runs one way: ops import
autograd, and autograd imports nothing from ops. The differentiable ``clone`` and ``to`` (device
moves and dtype conversions, which ``cpu``, ``gpu``, ``float``, ``double`` and ``type_as`` call)
are attached here too, with ``contiguous``, the in-place ops (``x += y``, ``add_``, ``sub_``,
``mul_``, ``div_``, ``clamp_``, ``fill_``, ``zero_``, ``copy_``) and item assignment ``t[i] = v``.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import (Tensor, _check_in_place, _quiet_floating_point, _record_in_place, _records_in_place,
                        _write_in_place, is_grad_enabled)
from . import activation as A
from . import arithmetic as M
from . import linalg as L
from . import reduction as R
from . import shape as S


def _compare(op: str) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return Tensor._make(getattr(self.data, op)(o))
    method.__name__ = op
    return method


def _to(self: Tensor, target: Any) -> Tensor:
    """Move to a device ("cpu" or "gpu") or convert to a dtype; differentiable."""
    return S.to_device(self, target) if isinstance(target, str) else S.to_dtype(self, target)


def _rpow(self: Tensor, c: float) -> Tensor:
    # c ** x = exp(x log c); log c of c <= 0 is -inf or nan, quietly, like every op
    with _quiet_floating_point():
        log_c = float(B.np.log(c))
    return M.exp(self * log_c)


def _contiguous(self: Tensor) -> Tensor:
    """``self`` when its array is C-contiguous, otherwise a contiguous copy (the gradient passes as is)."""
    return self if self.data.flags.c_contiguous else S.clone(self)


# ------------------------------------------------------------------------------- in-place ops
# x.add_(y) writes x + y into x's own array, so aliases (an optimiser's list of parameters, a
# view) see it, and counts the write in x's version (autograd.py, "in-place writes"). Outside
# no_grad, a leaf that requires grad refuses, as in PyTorch. While a graph is recorded (x or y
# requires grad) the op becomes x's new creator (autograd._record_in_place); otherwise NumPy
# writes the result straight into the array (out=, no temporary). The result keeps x's dtype:
# an int tensor cannot take x /= 2, as in PyTorch.
def _operand(self: Tensor, other: Any, op: str) -> Any:
    """``other`` as something NumPy can combine with ``self.data`` (same device)."""
    if not isinstance(other, Tensor):
        return other
    if other.device != self.device:
        raise B.DeviceError(f"{op}: this tensor is on the {self.device} (shape {self.shape}) but the other "
                            f"is on the {other.device} (shape {other.shape}); move one with .to()")
    return other.data


def _binary_in_place(op: str, ufunc: str, function: type, reads_old: bool) -> Any:
    """x.<op>(y): x <- x <ufunc> y in place. ``reads_old``: the backward of ``function`` reads x's
    old values for dL/dy (x * y, x / y), so when y requires grad the record keeps a copy of them."""

    def method(self: Tensor, other: Any) -> Tensor:
        _check_in_place(self, op)
        if _records_in_place(self, other):
            copy_old = reads_old and isinstance(other, Tensor) and other.requires_grad
            return _record_in_place(self, op, lambda old: function()(old, old if other is self else other),
                                    copy_old)
        operand = _operand(self, other, op)
        apply = getattr(B.array_module(self.data), ufunc)
        return _write_in_place(self, op, lambda data: apply(data, operand, out=data, casting="same_kind"))

    method.__name__ = op
    return method


_add_ = _binary_in_place("add_", "add", M.Add, reads_old=False)
_sub_ = _binary_in_place("sub_", "subtract", M.Sub, reads_old=False)
mul_ = _binary_in_place("mul_", "multiply", M.Mul, reads_old=True)
div_ = _binary_in_place("div_", "true_divide", M.Div, reads_old=True)


def add_(self: Tensor, other: Any, *, alpha: float = 1) -> Tensor:
    """x <- x + alpha * y, in place (``p.add_(g, alpha=-lr)`` is an SGD step)."""
    return _add_(self, other if alpha == 1 else other * alpha)


def sub_(self: Tensor, other: Any, *, alpha: float = 1) -> Tensor:
    """x <- x - alpha * y, in place."""
    return _sub_(self, other if alpha == 1 else other * alpha)


def clamp_(self: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """x <- min(max(x, min), max), in place."""
    M.check_clamp_bounds(min, max, "clamp_")
    _check_in_place(self, "clamp_")
    if _records_in_place(self):  # Clamp's backward reads x's old values (its mask): keep a copy
        return _record_in_place(self, "clamp_", lambda old: M.Clamp(min, max)(old), copy_old=True)
    clip = B.array_module(self.data).clip
    return _write_in_place(self, "clamp_", lambda data: clip(data, min, max, out=data))


def _everywhere(t: Tensor) -> Any:
    return B.array_module(t.data).ones(t.shape, dtype=bool)


def fill_(self: Tensor, value: Any) -> Tensor:
    """Every element <- value (a number or a 0-d tensor), in place; cast to x's dtype."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"fill_: the value must be a number or a 0-d tensor, got a tensor of shape {value.shape}")
    _check_in_place(self, "fill_")
    if _records_in_place(self, value):  # y = value everywhere: where(True, value, x), so dy/dx = 0
        return _record_in_place(self, "fill_", lambda old: S.where(_everywhere(self), value, old),
                                copy_old=False, casting="unsafe")
    operand = _operand(self, value, "fill_")
    return _write_in_place(self, "fill_", lambda data: data.__setitem__(Ellipsis, operand))


def zero_(self: Tensor) -> Tensor:
    """Every element <- 0, in place."""
    return fill_(self, 0)


def copy_(self: Tensor, src: Any) -> Tensor:
    """x <- src (broadcast to x's shape, cast to x's dtype, moved to x's device), in place."""
    _check_in_place(self, "copy_")
    if isinstance(src, Tensor) and src.device != self.device:
        src = src.to(self.device)
    if _records_in_place(self, src):  # y = src everywhere: dy/dsrc = 1 (summed over broadcasting), dy/dx = 0
        return _record_in_place(self, "copy_", lambda old: S.where(_everywhere(self), src, old),
                                copy_old=False, casting="unsafe")
    xp = B.array_module(self.data)
    array = src.data if isinstance(src, Tensor) else xp.asarray(src)
    return _write_in_place(self, "copy_", lambda data: xp.copyto(data, array, casting="unsafe"))


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    """t[index] = value, in place: for tensors outside a graph (PyTorch would also record it)."""
    if is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
        which = "the tensor" if self.requires_grad else "the value"
        raise RuntimeError(f"t[index] = value: {which} requires grad, and item assignment is not recorded in "
                           f"the graph; assign inside tinygen.no_grad(), or build the new tensor with "
                           f"tinygen.where or tinygen.cat")
    index = S._clean_index(index, B.array_module(self.data))
    operand = _operand(self, value, "t[index] = value")
    try:
        _write_in_place(self, "t[index] = value", lambda data: data.__setitem__(index, operand))
    except IndexError as error:
        raise IndexError(f"t[index] = value: indexing a tensor of shape {self.shape}: {error}") from None


def _install() -> None:
    T = Tensor
    T.__add__ = lambda self, other: M.Add()(self, other)
    T.__radd__ = lambda self, other: M.Add()(other, self)
    T.__sub__ = lambda self, other: M.Sub()(self, other)
    T.__rsub__ = lambda self, other: M.Sub()(other, self)
    T.__mul__ = lambda self, other: M.Mul()(self, other)
    T.__rmul__ = lambda self, other: M.Mul()(other, self)
    T.__truediv__ = lambda self, other: M.Div()(self, other)
    T.__rtruediv__ = lambda self, other: M.Div()(other, self)
    T.__neg__ = lambda self: M.Neg()(self)
    T.__pow__ = lambda self, c: M.pow(self, c)
    T.__rpow__ = _rpow
    T.__matmul__ = lambda self, other: L.matmul(self, other)
    T.__rmatmul__ = lambda self, other: L.matmul(Tensor(other, dtype=self.dtype, device=self.device), self)
    T.__getitem__ = lambda self, index: S.getitem(self, index)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        setattr(T, op, _compare(op))
    T.__hash__ = object.__hash__

    T.add, T.sub, T.mul, T.div = M.add, M.sub, M.mul, M.div
    T.neg, T.pow, T.exp, T.log, T.sqrt, T.abs = M.neg, M.pow, M.exp, M.log, M.sqrt, M.abs
    T.clamp = T.clip = M.clamp
    T.sum, T.mean, T.var, T.std = R.sum, R.mean, R.var, R.std
    T.max, T.min, T.argmax, T.argmin, T.logsumexp = R.max, R.min, R.argmax, R.argmin, R.logsumexp
    T.reshape = T.view = S.reshape
    T.clone = S.clone
    T.to = _to
    T.permute, T.transpose, T.flatten, T.unflatten = S.permute, S.transpose, S.flatten, S.unflatten
    T.unsqueeze, T.squeeze, T.expand = S.unsqueeze, S.squeeze, S.expand
    T.t = lambda self: S.transpose(self, 0, 1)
    T.matmul = L.matmul
    T.relu, T.sigmoid, T.tanh = A.relu, A.sigmoid, A.tanh
    T.softmax, T.log_softmax = A.softmax, A.log_softmax
    T.contiguous = _contiguous
    T.is_contiguous = lambda self: bool(self.data.flags.c_contiguous)
    T.__setitem__ = _setitem
    T.add_, T.sub_, T.mul_, T.div_ = add_, sub_, mul_, div_
    T.__iadd__, T.__isub__, T.__imul__, T.__itruediv__ = add_, sub_, mul_, div_
    T.clamp_ = T.clip_ = clamp_
    T.fill_, T.zero_, T.copy_ = fill_, zero_, copy_


_install()
