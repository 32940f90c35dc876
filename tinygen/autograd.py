"""Reverse-mode automatic differentiation: ``Tensor``, ``Function`` and the backward pass.

The whole idea in four lines:

1. Every op is a :class:`Function`. Its ``forward`` computes on raw arrays; its ``backward``
   receives dL/d(output) and returns dL/d(input) for each input, by the chain rule.
2. Calling a function on tensors that require gradients records it as the ``creator`` of its
   output: the tensors and functions form a directed acyclic graph.
3. ``backward`` orders that graph topologically (an explicit stack, no recursion, so graphs a
   hundred thousand ops deep are fine) and walks it from the output back to the leaves.
4. Gradients *accumulate* (``+``): a tensor used twice receives the sum of both contributions.

``backward`` methods are written with tensor ops, not raw arrays. With ``create_graph=True`` the
backward pass is itself recorded, so gradients of gradients (a WGAN-GP gradient penalty) come out
of the same code.
"""
from __future__ import annotations

import contextlib
import functools
import traceback
import weakref
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import backend as B

# ---------------------------------------------------------------------------- global switches
_grad_enabled = True
_anomaly_enabled = False


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


def no_grad() -> _GradMode:
    """Context manager (or decorator) in which no op is recorded for backward."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (or decorator) that turns recording back on inside ``no_grad``."""
    return _GradMode(True)


def is_grad_enabled() -> bool:
    return _grad_enabled


class ShapeError(ValueError):
    """An op cannot use inputs of these shapes; the message already names the op and shapes."""


class AnomalyError(FloatingPointError):
    """An op produced NaN or inf, or a loss received it, while :func:`detect_anomaly` was active."""


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise at the first op whose forward or backward produces NaN or inf.

    The error names the op, the line of user code that created it and the shapes of its inputs.
    The losses also scan their inputs and name the loss and the argument that holds NaN or inf.
    It costs a pass over every result (on a GPU, a wait for the device at every op), so it is a
    debugging aid, off by default.
    """
    global _anomaly_enabled
    previous = _anomaly_enabled
    _anomaly_enabled = True
    try:
        yield
    finally:
        _anomaly_enabled = previous


def is_anomaly_enabled() -> bool:
    """True inside :func:`detect_anomaly` (``torch.is_anomaly_enabled``)."""
    return _anomaly_enabled


def _user_frame() -> str:
    """The innermost stack frame outside tinygen's own engine, as 'file:line in function'."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        name = frame.filename.replace("\\", "/")
        if "/tinygen/autograd.py" in name or "/tinygen/ops/" in name:  # ops/ holds tensor_methods.py
            continue
        return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "<unknown>"


def _all_finite(array: Any) -> bool:
    xp = B.array_module(array)
    return bool(xp.isfinite(array).all()) if xp.issubdtype(array.dtype, xp.inexact) else True


# ------------------------------------------------------------------------------------- Tensor
class Tensor:
    """An array with an optional gradient and a link to the function that made it.

    Attributes follow PyTorch: ``data`` (a NumPy or CuPy array), ``grad`` (a Tensor or None),
    ``requires_grad``, ``shape``, ``dtype``, ``device``, ``is_leaf``.
    """

    __slots__ = ("data", "grad", "requires_grad", "creator", "name", "__weakref__")
    __array_priority__ = 1000  # numpy_scalar * tensor dispatches to Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: str | None = None, name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = _to_array(data, dtype, device)
        self.grad: Tensor | None = None
        self.creator: Function | None = None
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: Any, requires_grad: bool = False) -> "Tensor":
        """Fast path for ops: wrap an array that is already of the right kind."""
        t = cls.__new__(cls)
        t.data = data
        t.grad = None
        t.creator = None
        t.name = None
        t.requires_grad = requires_grad
        return t

    # ---------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return B.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not B.is_float(self.data):
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor has dtype "
                f"{self.data.dtype} and shape {self.shape} (convert it with .float() or .double())")
        self.requires_grad = bool(requires_grad)
        return self

    # ---------------------------------------------------------------- host / device
    def numpy(self) -> Any:
        """A NumPy copy of the data on the host (never a view of a tensor that tracks grads)."""
        return B.to_host(self.data).copy()

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return B.to_host(self.data).tolist()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (shares memory, like PyTorch)."""
        return Tensor._make(self.data, False)

    # ``clone`` and ``to`` (device moves and dtype conversions, both differentiable) are ops:
    # ops/tensor_methods.py attaches them, with the arithmetic. ``cpu``, ``float``... call ``to``.

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def gpu(self) -> "Tensor":
        return self.to("gpu")

    cuda = gpu

    def float(self) -> "Tensor":
        return self.to(B.float32)

    def double(self) -> "Tensor":
        return self.to(B.float64)

    def long(self) -> "Tensor":
        return Tensor._make(self.data.astype(B.int64))

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    # ---------------------------------------------------------------- backward
    def backward(self, grad: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is dL/d(self); it may be omitted only when ``self`` is a scalar. The graph is
        kept after the call (``retain_graph`` is accepted for PyTorch compatibility), so calling
        backward twice adds the gradients twice.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no creator; was it computed "
                "under no_grad(), or from tensors without requires_grad=True?")
        seed = _seed_grad(self, grad, "backward")
        _run_backward([self], [seed], inputs=None, create_graph=create_graph)

    def retain_grad(self) -> None:
        raise NotImplementedError("retain_grad is not supported; use tinygen.grad(out, [tensor])")

    def zero_(self) -> "Tensor":
        self.data[...] = 0
        return self

    # ---------------------------------------------------------------- printing
    def __repr__(self) -> str:
        body = repr(B.to_host(self.data)).replace("array(", "tensor(", 1)
        extra = []
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.creator is not None:
            extra.append(f"grad_fn=<{type(self.creator).__name__}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if extra:
            body = body[:-1] + ", " + ", ".join(extra) + ")"
        return body

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    __hash__ = object.__hash__  # tensors are keys by identity (== is elementwise)


def _to_array(data: Any, dtype: Any, device: str | None) -> Any:
    """Convert user data to an array of the right device and dtype (floats default to float32)."""
    dev = B.check_device(device) if device is not None else None
    if dev is None:
        dev = B.device_of(data) if B.device_of(data) == "gpu" else B.default_device()
    xp = B.module_for(dev)
    if isinstance(data, (bool, int, float)) or not hasattr(data, "dtype"):
        array = xp.asarray(B.to_host(data) if B.device_of(data) == "gpu" else data)
        if dtype is None and array.dtype == B.float64:
            dtype = B.float32  # Python floats become float32, like torch.tensor
    else:
        array = B.to_device(data, dev)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


def _seed_grad(output: Tensor, grad: Any, where: str) -> Tensor:
    if grad is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"{where}: a gradient can be created implicitly only for a scalar output; this "
                f"output has shape {output.shape}. Pass grad=... of that shape (dL/d output).")
        return Tensor._make(B.array_module(output.data).ones_like(output.data))
    g = grad if isinstance(grad, Tensor) else Tensor(grad, dtype=output.dtype, device=output.device)
    if g.shape != output.shape:
        raise ValueError(f"{where}: grad has shape {g.shape} but the output has shape {output.shape}")
    return g


# ----------------------------------------------------------------------------------- Function
class Function:
    """One recorded op: ``forward`` on arrays, ``backward`` on tensors (the chain rule).

    Subclasses set their non-tensor arguments (axes, slopes, shapes) in ``__init__`` and keep
    whatever the backward needs from the forward on ``self``. The inputs are kept as
    ``self.inputs`` and the output is reachable as ``self.output`` (a weak reference, so the graph
    does not keep itself alive).
    """

    inputs: tuple[Tensor, ...]
    _output: Any = None
    created_at: str = ""

    def __call__(self, *inputs: Any) -> Tensor:
        tensors = tuple(x if isinstance(x, Tensor) else _constant(x, inputs) for x in inputs)
        if B._cupy is not None and len(tensors) > 1:
            _check_same_device(self, tensors)
        arrays = [t.data for t in tensors]
        try:
            y = self.forward(*arrays)
        except ShapeError:
            raise
        except ValueError as error:  # broadcasting and shape errors from deep inside NumPy
            raise ValueError(f"{self.op_name()}: cannot apply to inputs of shapes "
                             f"{[t.shape for t in tensors]}: {error}") from None
        if _anomaly_enabled:
            self.created_at = _user_frame()
            if not _all_finite(y):
                raise AnomalyError(f"{self.describe(tensors)} produced NaN or inf in its forward pass")
        needs_grad = _grad_enabled and any(t.requires_grad for t in tensors)
        out = Tensor._make(y, needs_grad)
        if needs_grad:
            self.inputs = tensors
            self._output = weakref.ref(out)
            out.creator = self
        return out

    @property
    def output(self) -> Tensor:
        """The tensor this function produced (alive whenever backward can reach this function)."""
        return self._output()

    def forward(self, *xs: Any) -> Any:
        raise NotImplementedError

    def backward(self, gy: Tensor) -> Any:
        raise NotImplementedError

    @classmethod
    def op_name(cls) -> str:
        return cls.__name__

    def describe(self, tensors: Sequence[Tensor] | None = None) -> str:
        tensors = self.inputs if tensors is None else tensors
        shapes = ", ".join(str(t.shape) for t in tensors)
        where = f", created at {self.created_at}" if self.created_at else ""
        return f"op {self.op_name()} (input shapes {shapes}{where})"


def _constant(value: Any, inputs: Sequence[Any]) -> Tensor:
    """Wrap a Python number or array used as an op argument, matching its tensor partners."""
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    device = like.device if like is not None else None
    dtype = None
    if like is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        if B.is_float(like.data) or isinstance(value, int):
            dtype = like.dtype  # NumPy's rule: a Python scalar does not change the dtype
    return Tensor(value, dtype=dtype, device=device)


def _check_same_device(fn: Function, tensors: Sequence[Tensor]) -> None:
    devices = [t.device for t in tensors]
    if any(d != devices[0] for d in devices):
        listing = ", ".join(f"{d} (shape {t.shape})" for d, t in zip(devices, tensors))
        raise B.DeviceError(f"{fn.op_name()}: inputs are on different devices: {listing}. "
                            f"Move them with .to('cpu') or .to('gpu') first.")


# ----------------------------------------------------------------------------- backward engine
def _topological_order(outputs: Sequence[Tensor]) -> list[Function]:
    """Functions reachable from ``outputs``, each after every function that consumes its output.

    An iterative depth-first search with an explicit stack (no recursion limit). Post-order puts
    a function after all its inputs' creators; reversed, it lists consumers before producers.
    """
    order: list[Function] = []
    visited: set[int] = set()
    stack: list[tuple[Function, bool]] = [(t.creator, False) for t in outputs if t.creator is not None]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        stack.append((fn, True))
        for t in fn.inputs:
            if t.creator is not None and id(t.creator) not in visited:
                stack.append((t.creator, False))
    order.reverse()
    return order


def _accumulate(current: Tensor | None, g: Tensor) -> Tensor:
    # gradients add up: dL/dx = sum over every use of x (never overwrite)
    return g if current is None else current + g


def _run_backward(outputs: Sequence[Tensor], seeds: Sequence[Tensor], inputs: Sequence[Tensor] | None,
                  create_graph: bool) -> list[Tensor | None] | None:
    """The backward pass shared by ``Tensor.backward`` (inputs=None: accumulate into ``.grad``
    of every leaf) and :func:`grad` (return the gradients of ``inputs``, touch no ``.grad``)."""
    wanted = {id(t): i for i, t in enumerate(inputs)} if inputs is not None else None
    found: list[Tensor | None] = [None] * (len(inputs) if inputs is not None else 0)
    pending: dict[int, Tensor] = {}  # id(function) -> dL/d(its output)

    def deliver(t: Tensor, g: Tensor) -> None:
        if wanted is not None:
            if id(t) in wanted:
                i = wanted[id(t)]
                found[i] = _accumulate(found[i], g)
            if t.creator is not None:
                pending[id(t.creator)] = _accumulate(pending.get(id(t.creator)), g)
        elif t.creator is not None:
            pending[id(t.creator)] = _accumulate(pending.get(id(t.creator)), g)
        else:  # a leaf: accumulate into .grad (detached unless building a graph)
            t.grad = _accumulate(t.grad, g if create_graph else g.detach())

    with _GradMode(create_graph):
        for out, seed in zip(outputs, seeds):
            deliver(out, seed)
        for fn in _topological_order(outputs):
            gy = pending.pop(id(fn), None)
            if gy is None:
                continue
            try:
                grads = fn.backward(gy)
            except AnomalyError as error:  # an op inside this backward: name the op being differentiated
                raise AnomalyError(f"{fn.describe()} produced NaN or inf in its backward pass "
                                   f"(inside it, {error})") from None
            if not isinstance(grads, tuple):
                grads = (grads,)
            for t, g in zip(fn.inputs, grads):
                if g is None or not t.requires_grad:
                    continue
                if _anomaly_enabled and not _all_finite(g.data):
                    raise AnomalyError(f"{fn.describe()} produced NaN or inf in its backward pass "
                                       f"(gradient for the input of shape {t.shape})")
                if g.shape != t.shape:  # a bug in an op's backward: say which op
                    raise RuntimeError(f"{fn.op_name()}.backward returned a gradient of shape "
                                       f"{g.shape} for an input of shape {t.shape}")
                deliver(t, g)
    return found if inputs is not None else None


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """d(outputs)/d(inputs), like ``torch.autograd.grad``; ``.grad`` fields are left untouched.

    With ``create_graph=True`` the returned gradients are part of a new graph, so they can be
    differentiated again (second-order gradients).
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outs)
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise ValueError(f"grad: {len(outs)} outputs but {len(grad_outputs)} grad_outputs")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad (no graph reaches it)")
    seeds = [_seed_grad(o, g, "grad") for o, g in zip(outs, grad_outputs)]
    found = _run_backward(outs, seeds, ins, create_graph)
    assert found is not None
    for i, g in enumerate(found):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {ins[i].shape}) is not used to compute the "
                               f"outputs; pass allow_unused=True to get None for it")
    return tuple(found)


