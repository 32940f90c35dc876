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
of the same code. The usual ``loss.backward()`` builds no graph, so the hot ops also carry
``backward_arrays``: the same chain rule computed directly on arrays, with no Tensor or Function
made along the way. The engine takes it whenever no graph is being built (see "the lean path").

As in PyTorch, backward frees the graph as it goes: once an op's backward has run, the op lets go
of its inputs and whatever it saved in forward, so the memory of the intermediate values returns
while backward proceeds. A second backward through a freed op raises; ``retain_graph=True`` keeps
the graph (the default when ``create_graph=True``, whose new graph needs the old one).

In-place ops (``x += y``, ``p.sub_(g)``, ``t[i] = v``) write into the tensor's own array, as in
PyTorch, so every alias sees the new values. Each tensor counts those writes in a version counter;
backward refuses to use a tensor that was written after an op used it, so an in-place write can
make backward fail loudly but never makes a gradient silently wrong (see "in-place writes" below).
"""
from __future__ import annotations

import contextlib
import functools
import traceback
import weakref
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import backend as B
from . import promotion as P

# ---------------------------------------------------------------------------- global switches
_grad_enabled = True
_anomaly_enabled = False
# The lean path: without create_graph, backward uses each op's ``backward_arrays`` when it has one.
# Turning it off runs every op's tensor-op ``backward``, as with create_graph (for measurements
# and for tests that compare the two).
_lean_backward = True


class _GradMode(contextlib.ContextDecorator):
    """Sets grad mode to ``enabled`` inside a ``with`` block (``None``: leaves it as it is)."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous = _grad_enabled
        if self.enabled is not None:
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


class set_grad_enabled:  # noqa: N801 - PyTorch's name; a class so it works both ways
    """``set_grad_enabled(False)`` turns recording off now, as a function call; used as
    ``with set_grad_enabled(mode):`` (or as a decorator) it restores the previous mode afterwards."""

    def __init__(self, mode: bool) -> None:
        global _grad_enabled
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be True or False, got {mode!r}")
        self.mode, self.previous = mode, _grad_enabled
        _grad_enabled = mode

    def __enter__(self) -> None:
        pass  # already set by __init__

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self.previous

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        global _grad_enabled
        _grad_enabled = self.previous  # as a decorator: change the mode only while function runs
        return _GradMode(self.mode)(function)


def inference_mode(mode: bool = True) -> _GradMode:
    """PyTorch's faster ``no_grad``; here it is exactly ``no_grad`` (``mode=False``: no change).

    PyTorch's inference tensors also refuse to enter a graph later; tinygen's are ordinary tensors.
    """
    return _GradMode(False if mode else None)


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


# NumPy's floating-point warnings are off inside every op (nan and inf are results, as in
# PyTorch): tinygen.backend.quiet_floating_point and its two fast halves, quiet_fp / restore_fp.
_quiet_floating_point, _quiet_fp, _restore_fp = B.quiet_floating_point, B.quiet_fp, B.restore_fp


# --------------------------------------------------------------------------- in-place writes
# A tensor's version counts the in-place writes into its memory. Tensors that share memory (a
# view made by reshape, permute or slicing, and ``detach``) share one counter, so a write through
# any of them is seen by all. A global clock ticks at every write; each recorded Function keeps
# the clock time it ran at, and backward raises when a tensor it used was written after that.
# Two differences from PyTorch, both on the side of raising: tinygen checks every input of an op
# (PyTorch only those the op saved, so it lets y = a + b; a.add_(1) pass), and an in-place op
# recorded on a tensor that shares memory with a view raises at once (PyTorch rewrites the
# history of the view's base instead).
_clock = 0  # in-place writes so far, all tensors together
_backward_depth = 0  # > 0 while a backward pass runs (Function.output checks versions only then)


class _VersionCounter:
    """The version of one piece of memory and the clock times of its latest writes."""

    __slots__ = ("version", "recent", "has_views")
    HISTORY = 16  # the expected version in an error message is exact for up to this many writes

    def __init__(self) -> None:
        self.version = 0
        self.recent: list[int] = []  # clock times of the last writes, oldest first
        self.has_views = False  # the memory is shared with a view made by an op

    @property
    def stamp(self) -> int:
        """The clock time of the last write (0: never written)."""
        return self.recent[-1] if self.recent else 0

    def version_at(self, clock: int) -> str:
        """The version this memory had at ``clock``, as text ('<= n' when the history is too short)."""
        later = sum(1 for t in self.recent if t > clock)
        if later == len(self.recent) == self.HISTORY:
            return f"<= {self.version - later}"
        return str(self.version - later)


def _counter(t: "Tensor") -> _VersionCounter:
    if t._version_counter is None:
        t._version_counter = _VersionCounter()
    return t._version_counter


def _bump_version(t: "Tensor") -> None:
    """Count one in-place write into the memory of ``t``."""
    global _clock
    _clock += 1
    counter = _counter(t)
    counter.version += 1
    counter.recent.append(_clock)
    if len(counter.recent) > counter.HISTORY:
        del counter.recent[0]


def _share_version(source: "Tensor", alias: "Tensor", view: bool) -> None:
    """``alias`` uses the memory of ``source``: from now on they count writes together."""
    counter = alias._version_counter = _counter(source)
    counter.has_views |= view


def _share_version_with_input(out: "Tensor", inputs: Sequence["Tensor"]) -> None:
    """If the op returned a view into one of its inputs' memory, the two share a version counter."""
    owner = out.data.base
    for t in inputs:
        data = t.data
        if data is owner or data.base is owner:
            _share_version(t, out, view=True)
            return


def _check_versions(fn: "Function") -> None:
    """Raise if an input of ``fn`` was written in place after ``fn`` used it."""
    for i, t in enumerate(fn.inputs):
        counter = t._version_counter
        if counter is not None and counter.stamp > fn._clock:
            raise RuntimeError(_modified_message(fn, f"input {i}", t, counter))


def _modified_message(fn: "Function", which: str, t: "Tensor", counter: _VersionCounter) -> str:
    return (f"one of the tensors needed for gradient computation has been modified by an in-place "
            f"operation: {fn.op_name()} {which} (shape {t.shape}) is at version {counter.version}, "
            f"expected version {counter.version_at(fn._clock)}. Write into a clone() instead, or "
            f"make the in-place change after backward")


def _check_in_place(t: "Tensor", op: str) -> None:
    """PyTorch's rule: outside no_grad, a leaf that requires grad is never written in place."""
    if _grad_enabled and t.requires_grad and t.creator is None:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad (shape {t.shape}) is being used in an "
                           f"in-place operation; update parameters inside `with tinygen.no_grad():`")


def _records_in_place(t: "Tensor", other: Any = None) -> bool:
    """True when an in-place op on ``t`` must be recorded in the graph (after _check_in_place)."""
    return _grad_enabled and (t.requires_grad or (isinstance(other, Tensor) and other.requires_grad))


def _write_in_place(t: "Tensor", op: str, write: Callable[[Any], Any]) -> "Tensor":
    """Run ``write(t.data)``, which changes the array in place, and count the write."""
    if isinstance(t.data, B.np.generic):  # NumPy's reductions return immutable scalars: make an array
        t.data = B.np.asarray(t.data)
    try:
        with _quiet_floating_point():
            write(t.data)
    except (TypeError, ValueError) as error:  # a dtype that cannot hold the result, a shape, read-only
        hint = "; clone() it first" if "read-only" in str(error) else ""
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{op}: cannot write the result into this tensor of shape {t.shape} and dtype "
                   f"{t.dtype} in place ({error}){hint}") from None
    _bump_version(t)
    return t


def _record_in_place(t: "Tensor", op: str, compute: Callable[["Tensor"], "Tensor"], copy_old: bool,
                     casting: str = "same_kind") -> "Tensor":
    """t <- compute(old t), written into t's own array and recorded in the graph.

    ``old`` stands for t's value before the write: it has t's creator, so gradients reach the
    history t had, and a counter of its own (the write is not a change ``compute``'s ops must
    detect). It shares t's memory, unless ``copy_old``: ops whose backward reads the old values
    (x * y for dL/dy, clamp's mask) get a copy. t's old creator still names t as its output, so
    backward raises if it needs that output (exp's, for one), as PyTorch does.
    """
    counter = t._version_counter
    if counter is not None and counter.has_views:
        raise RuntimeError(f"{op}: in-place operation on a tensor that shares memory with a view "
                           f"(reshape, permute, slicing) in a graph that requires grad; apply it to "
                           f"a clone() instead")
    old = Tensor._make(t.data.copy() if copy_old else t.data, t.requires_grad)
    old.creator = t.creator
    result = compute(old)
    xp = B.array_module(t.data)
    _write_in_place(t, op, lambda data: xp.copyto(data, result.data, casting=casting))
    fn = result.creator
    fn._output = weakref.ref(t)
    t.creator, t.requires_grad = fn, True
    return t


# ------------------------------------------------------------------------------------- Tensor
class Tensor:
    """An array with an optional gradient and a link to the function that made it.

    Attributes follow PyTorch: ``data`` (a NumPy or CuPy array), ``grad`` (a Tensor or None),
    ``requires_grad``, ``shape``, ``dtype``, ``device``, ``is_leaf``, ``grad_fn`` (the Function that
    made it, None for a leaf) and ``_version`` (how often its memory was written in place).
    Assigning ``t.data = array`` or writing into ``t.data`` directly is not counted, as in PyTorch.
    """

    __slots__ = ("data", "grad", "requires_grad", "creator", "name", "_version_counter", "__weakref__")
    __array_priority__ = 1000  # numpy_scalar * tensor dispatches to Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: str | None = None, name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = _to_array(data, dtype, device)
        self.grad: Tensor | None = None
        self.creator: Function | None = None
        self.name = name
        self._version_counter: _VersionCounter | None = None  # made at the first in-place write
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
        t._version_counter = None
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
    def grad_fn(self) -> "Function | None":
        """The Function that produced this tensor (PyTorch's name for ``creator``); None for a leaf."""
        return self.creator

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's memory has had (PyTorch's ``t._version``)."""
        return 0 if self._version_counter is None else self._version_counter.version

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
        """The same data, cut from the graph (shares memory and version counter, like PyTorch)."""
        t = Tensor._make(self.data, False)
        _share_version(self, t, view=False)
        return t

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        """``np.asarray(t)``: the data itself (no copy) on the CPU. A tensor that requires grad
        gives a copy, as ``numpy()`` does (PyTorch refuses it); the GPU needs an explicit copy."""
        if self.device != "cpu":
            raise TypeError(f"np.asarray: this tensor of shape {self.shape} is on the {self.device}; copy it "
                            f"to the host first with .numpy() or tinygen.backend.to_host(t.data)")
        if copy is False and self.requires_grad:
            raise ValueError("np.asarray(copy=False): a tensor that requires grad is never shared "
                             "with NumPy; use t.detach()")
        data = B.np.asarray(self.data)  # itself, or a 0-d array for a NumPy scalar (reductions give those)
        array = data if dtype is None else data.astype(dtype, copy=False)
        if copy is False and array is not data:
            raise ValueError(f"np.asarray(copy=False): converting dtype {self.dtype} to {dtype} needs a copy")
        if (copy or self.requires_grad) and array is data:
            array = array.copy()
        return array

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

    def type(self, dtype: Any = None) -> Any:
        """Without an argument, PyTorch's type name: 'tinygen.FloatTensor' (float32),
        'tinygen.DoubleTensor', 'tinygen.LongTensor'..., with 'tinygen.cuda.' on the GPU. With a
        dtype (or such a name), the tensor converted to it (``to``; differentiable for floats)."""
        if dtype is None:
            name = _TYPE_NAMES.get(B.np.dtype(self.dtype).name, f"{B.np.dtype(self.dtype).name}Tensor")
            return f"tinygen.{'cuda.' if self.device == 'gpu' else ''}{name}"
        if isinstance(dtype, str):
            dtype = _dtype_from_type_name(dtype)
        return self.to(dtype)

    # ---------------------------------------------------------------- backward
    def backward(self, grad: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is dL/d(self); it may be omitted only when ``self`` is a scalar. Each op lets go
        of what it saved once its backward has run, so a second backward through the same graph
        raises, unless the first one passed ``retain_graph=True`` (then the second adds the
        gradients again). ``retain_graph`` defaults to ``create_graph``, as in PyTorch.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no creator; was it computed "
                "under no_grad(), or from tensors without requires_grad=True?")
        seed = _seed_grad(self, grad, "backward")
        retain = create_graph if retain_graph is None else retain_graph
        _run_backward([self], [seed], inputs=None, create_graph=create_graph, retain_graph=retain)

    def retain_grad(self) -> None:
        raise NotImplementedError("retain_grad is not supported; use tinygen.grad(out, [tensor])")

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

    def __format__(self, spec: str) -> str:
        """f"{loss:.3f}": a 0-d tensor formats as its number; other tensors only with an empty
        spec (as str), like PyTorch."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} passed to a tensor of shape {self.shape}; "
                            f"only 0-d tensors take a format spec (format t.item() or t.tolist())")
        return str(self)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} values (shape {self.shape}) "
                               f"is ambiguous; reduce it first, e.g. with tinygen.any(t) or tinygen.all(t)")
        return bool(self.data.reshape(()).item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    __hash__ = object.__hash__  # tensors are keys by identity (== is elementwise)


# PyTorch's tensor type names, by NumPy dtype name (Tensor.type())
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
               "uint8": "ByteTensor", "bool": "BoolTensor"}


def _dtype_from_type_name(name: str) -> Any:
    """'tinygen.DoubleTensor' (or 'torch.cuda.DoubleTensor'...) -> float64."""
    short = name.rsplit(".", 1)[-1]
    for dtype_name, type_name in _TYPE_NAMES.items():
        if type_name == short:
            return B.np.dtype(dtype_name).type
    raise ValueError(f"type: unknown tensor type {name!r}; expected one of "
                     f"{', '.join('tinygen.' + n for n in _TYPE_NAMES.values())} or a dtype")


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
    _check_numeric(array, "tensor")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


def _check_numeric(array: Any, where: str) -> None:
    """Tensors hold numbers: refuse strings, Python objects, dates (what NumPy arrays may also hold)."""
    kind = array.dtype.kind
    if kind not in _NUMERIC_KINDS:
        raise TypeError(f"{where}: data of dtype {array.dtype} ({_KIND_NAMES.get(kind, 'not numbers')}) cannot "
                        f"be a tensor; tensors hold booleans, integers or floating-point numbers")


_NUMERIC_KINDS = "biufc"  # NumPy's dtype kinds: bool, signed and unsigned integer, float, complex
_KIND_NAMES = {"U": "strings", "S": "byte strings", "O": "Python objects", "V": "raw records",
               "M": "dates", "m": "time spans"}


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
    does not keep itself alive). ``forward`` runs with NumPy's floating-point warnings off (nan
    and inf are results, as in PyTorch) and returns a new array or a view of an input's. After its
    backward has run (without ``retain_graph``) the function is *released*: see :func:`_release`.
    """

    inputs: tuple[Tensor, ...] = ()  # set when recorded, emptied again when released
    _output: Any = None
    _clock: int = 0  # the in-place clock when this op was recorded
    _released: bool = False  # True once a backward freed what this op saved
    created_at: str = ""

    def __call__(self, *inputs: Any) -> Tensor:
        tensors = inputs
        for x in inputs:
            if not isinstance(x, Tensor):  # a number or an array among the inputs: wrap them all
                tensors = tuple(x if isinstance(x, Tensor) else _constant(x, inputs) for x in inputs)
                break
        if B._cupy is not None and len(tensors) > 1:
            _check_same_device(self, tensors)
        token = _quiet_fp()  # NumPy's floating-point warnings off during forward (see the backend)
        try:
            y = self.forward(*[t.data for t in tensors])
        except ShapeError:
            raise
        except ValueError as error:  # broadcasting and shape errors from deep inside NumPy
            raise ValueError(f"{self.op_name()}: cannot apply to inputs of shapes "
                             f"{[t.shape for t in tensors]}: {error}") from None
        finally:
            _restore_fp(token)
        if _anomaly_enabled:
            self.created_at = _user_frame()
            if not _all_finite(y):
                raise AnomalyError(f"{self.describe(tensors)} produced NaN or inf in its forward pass")
        needs_grad = False
        if _grad_enabled:  # under no_grad nothing is recorded, so nothing more is looked at
            for t in tensors:
                if t.requires_grad:
                    needs_grad = True
                    break
        out = Tensor._make(y, needs_grad)
        if y.base is not None:  # a view (reshape, permute, slice): maybe of an input's memory
            _share_version_with_input(out, tensors)
        if needs_grad:
            self.inputs = tensors
            self._output = weakref.ref(out)
            self._clock = _clock
            out.creator = self
        return out

    @property
    def output(self) -> Tensor:
        """The tensor this function produced (alive whenever backward can reach this function).

        During backward, reading an output that was written in place since raises (exp's
        backward reads its output, add's does not)."""
        out = self._output()
        if _backward_depth and out is not None:
            counter = out._version_counter
            if counter is not None and counter.stamp > self._clock:
                raise RuntimeError(_modified_message(self, "output 0", out, counter))
        return out

    def forward(self, *xs: Any) -> Any:
        raise NotImplementedError

    def backward(self, gy: Tensor) -> Any:
        raise NotImplementedError

    # Optional: ``backward_arrays(self, gy: array) -> array | None | tuple of those``, the chain rule
    # of ``backward`` computed on arrays (the same values, bit for bit), used when backward builds
    # no graph. ``None`` here: the op has only its tensor-op ``backward``. A subclass that
    # overrides ``backward`` overrides this too (or sets it back to None).
    backward_arrays: Callable[..., Any] | None = None

    @classmethod
    def op_name(cls) -> str:
        return cls.__name__

    def describe(self, tensors: Sequence[Tensor] | None = None) -> str:
        tensors = self.inputs if tensors is None else tensors
        shapes = ", ".join(str(t.shape) for t in tensors)
        inputs = "inputs freed by backward" if self._released else f"input shapes {shapes}"
        where = f", created at {self.created_at}" if self.created_at else ""
        return f"op {self.op_name()} ({inputs}{where})"


def _release(fn: Function) -> None:
    """Free what ``fn`` kept for its backward: its inputs and every array its forward saved.

    A function keeps all of that in its instance ``__dict__`` (ops set ``self.mask``,
    ``self.argmax``... in forward), so emptying the dict frees the whole lot. It keeps its weak
    link to the output, where it was created (for error messages) and the mark that says it is
    freed; ``inputs`` falls back to the class's empty tuple.
    """
    state = fn.__dict__
    output, created_at = state["_output"], state.get("created_at")
    state.clear()
    state["_output"], state["_released"] = output, True
    if created_at:  # set only under detect_anomaly
        state["created_at"] = created_at


def _released_message(fn: Function) -> str:
    return (f"Trying to backward through the graph a second time (or directly access saved tensors after "
            f"they have already been freed): {fn.describe()} was reached again. Saved "
            f"intermediate values of the graph are freed when you call .backward() or tinygen.grad(). "
            f"Specify retain_graph=True if you need to backward through the graph a second time or if "
            f"you need to access saved tensors after calling backward")


def _constant(value: Any, inputs: Sequence[Any]) -> Tensor:
    """Wrap a number or an array used as an op argument beside tensors (``x + 0.5``).

    A number (Python or NumPy) or a 0-d array takes the dtype the op computes in, by PyTorch's
    promotion (promotion.py), so it never widens its partners: float32 + np.float64(0.5) stays
    float32, int64 + 2.5 is float32. A dimensioned array keeps its dtype, as a tensor would.
    """
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    if like is None:
        return Tensor(value)
    data = like.data
    if (type(value) is float or type(value) is int) and len(inputs) == 2 and data.dtype.kind == "f":
        dtype = data.dtype  # the common case, x + 1.0: a Python number takes a float tensor's dtype
    elif P.is_number(value) or getattr(value, "ndim", None) == 0:
        dtype = _scalar_dtype(inputs)
    else:
        return Tensor(value, device=like.device)
    return Tensor._make(B.array_module(data).asarray(value, dtype=dtype))


def _scalar_dtype(inputs: Sequence[Any]) -> Any:
    """The dtype an op computes in for these inputs: tensors, arrays and wrapped numbers."""
    arrays, numbers = [], []
    for x in inputs:
        if isinstance(x, Tensor):
            arrays.append(x.data)
        elif P.is_number(x):
            numbers.append(x)
        elif hasattr(x, "ndim"):
            arrays.append(x)
    return P.result_type(arrays, numbers)


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


def _accumulate(current: Any, g: Any) -> Any:
    # gradients add up: dL/dx = sum over every use of x (never overwrite); tensors or arrays
    return g if current is None else current + g


def _leading_to(order: list[Function], wanted: dict[int, int]) -> list[Function]:
    """The functions of ``order`` on a path to a tensor in ``wanted``: only they need to run.

    :func:`grad` runs (and frees) only those, as PyTorch does, so the rest of the graph can still
    be backwarded later. A freed function stays in: reaching it must raise, not skip.
    """
    needed: set[int] = set()
    for fn in reversed(order):  # producers before their consumers
        if fn._released or any(id(t) in wanted or id(t.creator) in needed for t in fn.inputs):
            needed.add(id(fn))
    return [fn for fn in order if id(fn) in needed]


def _run_backward(outputs: Sequence[Tensor], seeds: Sequence[Tensor], inputs: Sequence[Tensor] | None,
                  create_graph: bool, retain_graph: bool) -> list[Tensor | None] | None:
    """The backward pass shared by ``Tensor.backward`` (inputs=None: accumulate into ``.grad``
    of every leaf) and :func:`grad` (return the gradients of ``inputs``, touch no ``.grad``).

    The lean path: when no graph is being built (no ``create_graph``; not under detect_anomaly,
    whose checks run inside each op), the gradients travel as bare arrays and each op's
    ``backward_arrays`` computes them where it has one; an op with only ``backward`` gets its
    upstream gradient wrapped in a Tensor. The values are the same either way.
    """
    lean = _lean_backward and not create_graph and not _anomaly_enabled
    wanted = {id(t): i for i, t in enumerate(inputs)} if inputs is not None else None
    found: list[Any] = [None] * (len(inputs) if inputs is not None else 0)
    # id(function) -> (its output, dL/d(its output)). Holding the output keeps it alive until the
    # function's backward has run: its consumers free their inputs before that, and
    # ``Function.output`` is only a weak reference (exp's backward reads it).
    pending: dict[int, tuple[Tensor | None, Any]] = {}

    def send(fn: Function, g: Any) -> None:
        entry = pending.get(id(fn))
        pending[id(fn)] = (fn._output(), g) if entry is None else (entry[0], _accumulate(entry[1], g))

    def deliver(t: Tensor, g: Any) -> None:  # g: a Tensor, or an array on the lean path
        if g.dtype != t.dtype:  # as in PyTorch, a gradient has its tensor's dtype
            g = g.astype(t.dtype) if lean else g.to(t.dtype)
        if wanted is not None:
            if id(t) in wanted:
                i = wanted[id(t)]
                found[i] = _accumulate(found[i], g)
            if t.creator is not None:
                send(t.creator, g)
        elif t.creator is not None:
            send(t.creator, g)
        elif lean:  # a leaf: accumulate into .grad
            t.grad = _accumulate(t.grad, Tensor._make(g))
        else:  # (detached unless building a graph)
            t.grad = _accumulate(t.grad, g if create_graph else g.detach())

    order = _topological_order(outputs)
    if wanted is not None:
        order = _leading_to(order, wanted)
    global _backward_depth
    _backward_depth += 1
    try:
        with _GradMode(create_graph), _quiet_floating_point():
            for out, seed in zip(outputs, seeds):
                deliver(out, seed.data if lean else seed)
            _backward_pass(order, deliver, pending, retain_graph, lean)
    finally:
        _backward_depth -= 1
    if inputs is None:
        return None
    return [None if g is None else Tensor._make(g) for g in found] if lean else found


def _backward_pass(order: list[Function], deliver: Callable[[Tensor, Any], None],
                   pending: dict[int, tuple[Tensor | None, Any]], retain_graph: bool, lean: bool) -> None:
    """Walk ``order`` from the outputs to the leaves, handing each gradient on with ``deliver``
    and, unless ``retain_graph``, releasing each function as soon as its backward has run (in a
    topological order that is once per pass, after every consumer of its output has run).
    ``lean``: the gradients are arrays, computed by ``backward_arrays`` where an op has one."""
    for fn in order:
        entry = pending.pop(id(fn), None)
        if entry is None:  # no gradient reached fn
            continue
        # ``output`` is not read here: holding it keeps fn's output alive while fn.backward may
        # read it (until the next step rebinds these names; the memory goes then)
        output, gy = entry
        if fn._released:
            raise RuntimeError(_released_message(fn))
        if fn._clock != _clock:  # something was written in place since fn ran: one of its inputs?
            _check_versions(fn)
        grads = _local_backward(fn, gy, lean)
        for t, g in zip(fn.inputs, grads):
            if g is None or not t.requires_grad:
                continue
            if _anomaly_enabled and not _all_finite(g if lean else g.data):
                raise AnomalyError(f"{fn.describe()} produced NaN or inf in its backward pass "
                                   f"(gradient for the input of shape {t.shape})")
            if g.shape != t.shape:  # a bug in an op's backward: say which op
                raise RuntimeError(f"{fn.op_name()}.backward returned a gradient of shape "
                                   f"{g.shape} for an input of shape {t.shape}")
            deliver(t, g)
        if not retain_graph:
            _release(fn)


def _local_backward(fn: Function, gy: Any, lean: bool) -> tuple[Any, ...]:
    """fn's gradients for its inputs, as a tuple: arrays from ``backward_arrays`` (or from
    ``backward``, unwrapped) on the lean path, tensors from ``backward`` otherwise."""
    if lean and fn.backward_arrays is not None:
        grads = fn.backward_arrays(gy)
        return grads if isinstance(grads, tuple) else (grads,)
    try:
        grads = fn.backward(Tensor._make(gy) if lean else gy)
    except AnomalyError as error:  # an op inside this backward: name the op being differentiated
        raise AnomalyError(f"{fn.describe()} produced NaN or inf in its backward pass "
                           f"(inside it, {error})") from None
    if not isinstance(grads, tuple):
        grads = (grads,)
    if lean:
        return tuple(None if g is None else g.data for g in grads)
    return grads


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
    retain = create_graph if retain_graph is None else retain_graph
    found = _run_backward(outs, seeds, ins, create_graph, retain)
    assert found is not None
    for i, g in enumerate(found):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {ins[i].shape}) is not used to compute the "
                               f"outputs; pass allow_unused=True to get None for it")
    return tuple(found)


