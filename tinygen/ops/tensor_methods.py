"""Operator overloading: ``x + y``, ``x @ w``, ``x.sum(1)`` ... call the ops of this package.

``Tensor`` itself (in autograd.py) knows nothing about arithmetic; this module attaches the
methods when ``tinygen.ops`` is first imported. The dependency runs one way: ops import
autograd, and autograd imports nothing from ops. The differentiable ``clone`` and ``to`` (device
moves and dtype conversions, which ``cpu``, ``gpu``, ``float``, ``double`` and ``type_as`` call)
are attached here too.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B
from ..autograd import Tensor
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
    # c ** x = exp(x log c)
    T.__rpow__ = lambda self, c: M.exp(self * float(B.np.log(c)))
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


_install()
