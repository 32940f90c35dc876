"""Matrix products: ``matmul`` (batched, broadcasting), ``mm`` and ``bmm`` (strict shapes), ``linear``.

For z = x @ y the chain rule gives dL/dx = dL/dz @ y^T and dL/dy = x^T @ dL/dz: the gradient of
a matrix product is two more matrix products. Batch axes broadcast, so they are summed back with
``sum_to``.

``backward_arrays`` is each ``backward`` again on bare arrays, step for step; the engine runs it
when no graph is being built.
"""
from __future__ import annotations

from typing import Any

from ..autograd import Function, Tensor
from .broadcast import sum_to, sum_to_array
from .shape import reshape, transpose


def _mT(x: Tensor) -> Tensor:
    """Swap the last two axes (the matrix transpose of every matrix in a batch)."""
    return transpose(x, -1, -2)


class MatMul(Function):
    """z = x @ y for x (..., n, k) and y (..., k, m); batch axes broadcast."""

    def forward(self, x: Any, y: Any) -> Any:
        return x @ y

    def backward(self, gz: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        # dL/dx = dL/dz @ y^T,  dL/dy = x^T @ dL/dz   (then undo batch broadcasting)
        gx = sum_to(MatMul()(gz, _mT(y)), x.shape) if x.requires_grad else None
        gy = sum_to(MatMul()(_mT(x), gz), y.shape) if y.requires_grad else None
        return gx, gy

    def backward_arrays(self, gz: Any) -> tuple[Any, Any]:  # the same on arrays
        x, y = self.inputs
        gx = sum_to_array(gz @ y.data.swapaxes(-1, -2), x.shape) if x.requires_grad else None
        gy = sum_to_array(x.data.swapaxes(-1, -2) @ gz, y.shape) if y.requires_grad else None
        return gx, gy


def matmul(x: Tensor, y: Tensor) -> Tensor:
    """Matrix product with PyTorch's rules for 1-D operands (a vector is promoted, then squeezed)."""
    xs, ys = getattr(x, "shape", None), getattr(y, "shape", None)
    if xs is None or ys is None or len(xs) == 0 or len(ys) == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes {xs} and {ys}")
    if xs[-1] != ys[-2 if len(ys) > 1 else 0]:
        raise ValueError(f"matmul: shapes {xs} and {ys} cannot be multiplied: the last dim of the "
                         f"first ({xs[-1]}) must equal the {'second-to-last' if len(ys) > 1 else 'only'} "
                         f"dim of the second ({ys[-2 if len(ys) > 1 else 0]})")
    if len(xs) == 1 and len(ys) == 1:
        return (x * y).sum()
    if len(xs) == 1:  # (k,) @ (..., k, m) -> (..., m)
        z = MatMul()(reshape(x, 1, xs[0]), y)
        return reshape(z, z.shape[:-2] + z.shape[-1:])
    if len(ys) == 1:  # (..., n, k) @ (k,) -> (..., n)
        z = MatMul()(x, reshape(y, ys[0], 1))
        return reshape(z, z.shape[:-1])
    return MatMul()(x, y)


def _check_ndim(op: str, x: Any, y: Any, ndim: int, layout: str) -> None:
    for name, t in (("input", x), ("mat2", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim != ndim:
            raise ValueError(f"{op}: expected {ndim}-D tensors {layout}, got {name} of shape {t.shape}"
                             f" (matmul broadcasts and takes other shapes)")


def mm(x: Tensor, y: Tensor) -> Tensor:
    """z = x @ y for two matrices, (n, k) @ (k, m) -> (n, m): no broadcasting, no vectors."""
    _check_ndim("mm", x, y, 2, "(n, k) and (k, m)")
    if x.shape[1] != y.shape[0]:
        raise ValueError(f"mm: shapes {x.shape} and {y.shape} cannot be multiplied: the first has "
                         f"{x.shape[1]} columns, the second {y.shape[0]} rows")
    return MatMul()(x, y)


def bmm(x: Tensor, y: Tensor) -> Tensor:
    """z[b] = x[b] @ y[b] for two batches of matrices, (B, n, k) @ (B, k, m) -> (B, n, m)."""
    _check_ndim("bmm", x, y, 3, "(B, n, k) and (B, k, m)")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"bmm: batch sizes differ: shapes {x.shape} and {y.shape} "
                         f"(bmm does not broadcast; matmul does)")
    if x.shape[2] != y.shape[1]:
        raise ValueError(f"bmm: shapes {x.shape} and {y.shape} cannot be multiplied: the first's "
                         f"matrices have {x.shape[2]} columns, the second's {y.shape[1]} rows")
    return MatMul()(x, y)


class Linear(Function):
    """y = x W^T + b for x (..., in), W (out, in), b (out,) -- PyTorch's layout."""

    def forward(self, x: Any, W: Any, b: Any = None) -> Any:
        y = x @ W.T
        if b is not None:
            y += b
        return y

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, W = self.inputs[0], self.inputs[1]
        # dL/dx = dL/dy W
        gx = MatMul()(gy, W) if x.requires_grad else None
        # dL/dW = sum over the batch of dL/dy^T x  (leading axes flattened into one batch axis)
        gW = None
        if W.requires_grad:
            g2, x2 = gy, x
            if gy.ndim != 2:
                g2, x2 = reshape(gy, -1, gy.shape[-1]), reshape(x, -1, x.shape[-1])
            gW = MatMul()(_mT(g2), x2)
        if len(self.inputs) == 2:
            return gx, gW
        b = self.inputs[2]
        # dL/db = sum over the batch of dL/dy
        gb = sum_to(gy, b.shape) if b.requires_grad else None
        return gx, gW, gb

    def backward_arrays(self, gy: Any) -> tuple[Any, ...]:  # the same on arrays
        x, W = self.inputs[0], self.inputs[1]
        gx = gy @ W.data if x.requires_grad else None
        gW = None
        if W.requires_grad:
            g2, x2 = gy, x.data
            if gy.ndim != 2:
                g2, x2 = gy.reshape(-1, gy.shape[-1]), x2.reshape(-1, x2.shape[-1])
            gW = g2.swapaxes(-1, -2) @ x2
        if len(self.inputs) == 2:
            return gx, gW
        b = self.inputs[2]
        return gx, gW, sum_to_array(gy, b.shape) if b.requires_grad else None


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x weight^T + bias, with PyTorch's (out_features, in_features) weight."""
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} features "
                         f"but the weight of shape {weight.shape} expects {weight.shape[1]}")
    if bias is None:
        return Linear()(x, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},)")
    return Linear()(x, weight, bias)


def _install() -> None:
    """Attach ``x.mm`` and ``x.bmm`` (``x @ y`` and ``x.matmul``: tensor_methods.py)."""
    Tensor.mm, Tensor.bmm = mm, bmm


_install()
