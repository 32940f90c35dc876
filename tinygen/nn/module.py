"""``Module`` and ``Parameter``: the bookkeeping that turns functions into layers.

A Module remembers, in the order they were assigned, the Parameters (trainable tensors),
buffers (tensors that are state but not trained, such as batch norm's running mean) and
sub-Modules set as its attributes. Everything else (``parameters()``, ``state_dict()``,
``train()``/``eval()``, ``to(device)``) walks that tree.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator

from .. import backend as B
from ..autograd import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module trains: ``requires_grad`` is True unless asked otherwise."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(KeyError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Module:
    """Base class of every layer and model. Subclasses define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        if isinstance(value, Parameter):
            kind = self._parameters
        elif isinstance(value, Module):
            kind = self._modules
        elif name in self.__dict__.get("_buffer_names", ()):
            kind = self._buffers
        else:
            kind = None
        # a name lives in one table; assigning it again keeps its place in the order (as in
        # PyTorch), so parameters() -- and the optimiser state indexed by it -- keeps its order
        for table in (self._parameters, self._buffers, self._modules):
            if table is not kind:
                table.pop(name, None)
        if kind is not None:
            kind[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Keep ``tensor`` as state (saved, moved with ``to``) without training it."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        setattr(self, name, tensor)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        setattr(self, name, param)

    def add_module(self, name: str, module: "Module") -> None:
        setattr(self, name, module)

    # ------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ walking the tree
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for mod_name, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes, grads, devices
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._make(p.grad.data * 0)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, target: Any) -> "Module":
        """Move (device string) or convert (float dtype) every parameter and buffer, in place."""
        for t in list(self.parameters()) + list(self.buffers()):
            if isinstance(target, str):
                t.data = B.to_device(t.data, target)
            elif B.is_float(t.data):
                t.data = t.data.astype(target)
            if t.grad is not None:
                t.grad = None
        return self

    def float(self) -> "Module":
        return self.to(B.float32)

    def double(self) -> "Module":
        return self.to(B.float64)

    # ------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, Any]":
        """Every parameter and buffer as a plain NumPy array (a host copy), keyed by dotted name.

        In PyTorch's order: a module's own parameters, then its own buffers, then each child's
        entries under the child's name; a module reached by two names appears under both.
        """
        return OrderedDict((name, B.to_host(t.data).copy()) for name, t in self._state_tensors())

    def _state_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) for what state_dict saves, in PyTorch's order."""
        for table in (self._parameters, self._buffers):
            for name, t in table.items():
                if t is not None:
                    yield prefix + name, t
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_tensors(f"{prefix}{name}.")

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers; each keeps its device and dtype.

        Raises :class:`StateDictError` listing every missing, unexpected and mis-shaped key at once
        (``strict=False`` ignores missing and unexpected keys, never wrong shapes).
        """
        own = OrderedDict(self._state_tensors())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, t in own.items():
            if k in state_dict:
                shape = tuple(getattr(state_dict[k], "shape", ()))
                if shape != t.shape:
                    mismatched.append(f"{k}: checkpoint {shape} vs model {t.shape}")
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mismatched:
            problems.append(f"shape mismatches: {mismatched}")
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for k, t in own.items():
            if k in state_dict:
                value = state_dict[k].data if isinstance(state_dict[k], Tensor) else state_dict[k]
                xp = B.array_module(t.data)
                t.data = xp.asarray(B.to_device(B.to_host(value), t.device)).astype(t.dtype, copy=True)

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        if len(lines) == 1:
            return lines[0] + ")"
        return "\n".join(lines) + "\n)"
