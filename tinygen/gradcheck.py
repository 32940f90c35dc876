"""Finite-difference checks of the analytic gradients.

``gradcheck(fn, inputs)`` compares, element by element, the gradient that backward computes with
the central difference

    d<u, f(x)>/dx_i  ~  ( <u, f(x + eps e_i)> - <u, f(x - eps e_i)> ) / (2 eps)

where ``u`` is a random upstream gradient (so every output element matters, not only their sum).
Everything runs in float64. Write F(x) = <u, f(x)>. The central difference errs in two ways:
truncation, about eps^2 |F'''| / 6 (1e-12 |F'''| at the default eps = 1e-6), and rounding, about
1e-16 |F| / eps (each value of F carries float64's relative error of about 1e-16, and their
difference is divided by 2 eps), here 1e-10 |F|; so rounding dominates. Both lie far below the
default tolerances (atol 1e-5, rtol 1e-3), and a smaller eps would make the rounding error larger.
``gradgradcheck`` applies the same test to the gradient function itself (second order).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from . import backend as B
from .autograd import Tensor, _GradMode, grad


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


def _as_tuple(out: Any) -> tuple[Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _prepare(inputs: Sequence[Any]) -> list[Any]:
    """float64 copies of the tensor inputs (keeping requires_grad); other arguments untouched."""
    prepared = []
    for x in inputs:
        if isinstance(x, Tensor) and B.is_float(x.data):
            # C order: the check perturbs elements through a reshape(-1) view, which would be a
            # copy (so a no-op) for a transposed or Fortran-ordered input
            t = Tensor._make(x.data.astype(B.float64, order="C", copy=True), False)
            t.requires_grad = x.requires_grad
            prepared.append(t)
        else:
            prepared.append(x)
    return prepared


def _directional_value(fn: Callable[..., Any], inputs: Sequence[Any], us: Sequence[Any],
                       record: bool) -> float:
    """<u, f(x)>, summed over every output (``record``: keep grad mode on, needed when ``fn`` itself
    differentiates, as a gradient penalty or gradgradcheck's first-order function does)."""
    with _GradMode(record):
        outs = _as_tuple(fn(*inputs))
    return float(sum(float((o.data * u).sum()) for o, u in zip(outs, us) if o is not None))


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True,
              _record: bool = True, create_graph: bool = False) -> bool:
    """Check the gradients of ``fn`` with respect to every input tensor that requires grad.

    ``fn`` must be deterministic (seed any dropout inside it). On a mismatch a
    :class:`GradcheckError` names the input, the element and both values. With
    ``create_graph=True`` the gradient checked is the one backward computes while building a graph
    (as a gradient penalty asks for it), which some ops compute by separate code.
    """
    inputs = _prepare(inputs if isinstance(inputs, (tuple, list)) else (inputs,))
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    outs = _as_tuple(fn(*inputs))
    rng = B.np.random.default_rng(seed)
    us = [B.module_for(o.device).asarray(rng.standard_normal(o.shape)) for o in outs]

    # analytic: d<u, f(x)>/dx by one backward pass
    diff_outs = [(o, Tensor._make(u)) for o, u in zip(outs, us) if o.requires_grad]
    if diff_outs:
        analytic = grad([o for o, _ in diff_outs], [inputs[i] for i in checked],
                        [u for _, u in diff_outs], allow_unused=True, create_graph=create_graph)
    else:
        analytic = (None,) * len(checked)

    for k, i in enumerate(checked):
        x = inputs[i]
        a = B.to_host(analytic[k].data) if analytic[k] is not None else B.np.zeros(x.shape)
        flat = x.data.reshape(-1)  # a view: perturb in place, then restore
        for j in range(flat.size):
            original = flat[j].item()
            flat[j] = original + eps
            plus = _directional_value(fn, inputs, us, _record)
            flat[j] = original - eps
            minus = _directional_value(fn, inputs, us, _record)
            flat[j] = original
            numeric = (plus - minus) / (2 * eps)
            value = float(a.reshape(-1)[j])
            if not abs(value - numeric) <= atol + rtol * abs(numeric):
                if not raise_exception:
                    return False
                index = tuple(int(v) for v in B.np.unravel_index(j, x.shape))
                raise GradcheckError(
                    f"gradcheck failed for input {i} (shape {x.shape}) at element {index}: "
                    f"analytic {value:.10g}, numerical {numeric:.10g}, difference "
                    f"{abs(value - numeric):.3g} > atol {atol} + rtol {rtol} * |numerical|")
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True) -> bool:
    """Check second-order gradients: the gradients of ``v -> grad(<v, fn(x)>, x)`` with respect to
    both ``x`` and the upstream gradient ``v``, by :func:`gradcheck`.

    First, that first-order gradient itself (computed with ``create_graph=True``) is checked against
    finite differences of ``fn``: the second-order check alone compares it only with its own
    derivative, so a wrong graph-building backward would pass it.
    """
    inputs = _prepare(inputs if isinstance(inputs, (tuple, list)) else (inputs,))
    if not gradcheck(fn, inputs, eps, atol, rtol, seed, raise_exception, create_graph=True):
        return False
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = _as_tuple(fn(*inputs))
    rng = B.np.random.default_rng(seed + 1)
    vs = [Tensor(rng.standard_normal(o.shape), dtype=B.float64, device=o.device, requires_grad=True)
          for o in outs]
    n = len(inputs)

    def first_order(*args: Any) -> tuple[Tensor, ...]:
        xs, v = args[:n], args[n:]
        ys = _as_tuple(fn(*xs))
        pairs = [(y, g) for y, g in zip(ys, v) if y.requires_grad]
        grads = grad([y for y, _ in pairs], [xs[i] for i in checked], [g for _, g in pairs],
                     create_graph=True, allow_unused=True)
        return tuple(g if g is not None else xs[i] * 0.0 for g, i in zip(grads, checked))

    return gradcheck(first_order, list(inputs) + vs, eps, atol, rtol, seed, raise_exception, _record=True)
