"""``ModelState``: a model's networks, optimisers, schedulers and buffers, checkpointed in one piece.

A model under training is more than one network: a GAN has a generator, a discriminator, an
optimiser for each and perhaps a learning-rate schedule for each optimiser; an RBM trained by PCD
keeps its persistent Gibbs chains; an autoencoder used as a generator keeps the Gaussian it fitted
to its codes. Everything in that list must go into a checkpoint and come back on resume, and the
networks must be switched between training and evaluation mode together. ``ModelState`` does that
once, so a model file can say only

    model = ModelState(G=generator, D=discriminator,
                       opt_G=optim.Adam(generator.parameters(), ...),
                       opt_D=optim.Adam(discriminator.parameters(), ...))

and use ``model.G``, ``model.opt_D`` in its training step. As in ``nn.Module``, what an attribute
is decides how it is kept:

=====================  ======================================================================
``nn.Module``          a *network*: saved with its ``state_dict``, switched by ``train``/``eval``
``optim.Optimizer``    an *optimiser*: saved with its ``state_dict`` (moments, step counts)
``LRScheduler``        a *scheduler* (``optim.lr_scheduler``): saved with its ``state_dict`` (its
                       step count and rates; the optimiser's groups carry the learning rates)
a *buffer*             an array, a Tensor, a number, a string or None that is state but neither
                       (fitted latents, persistent chains, a counter): given to the constructor
                       or declared with ``register_buffer``; saved as a host copy
anything else          set after construction without ``register_buffer``: a plain attribute,
                       not saved (settings that ``build`` recomputes from the hyperparameters)
=====================  ======================================================================

``state_dict()`` is flat, one entry per attribute name in the order of assignment:
``{"G": {...}, "D": {...}, "opt_G": {...}, "opt_D": {...}, "sched_G": {...}, "chains": array}``.
Arrays are host NumPy copies, so a checkpoint written on the GPU loads on a machine without one;
``load_state_dict`` moves each array back to the device of the value it replaces (or, for a
buffer that was None, to the default device).
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import backend as B
from ..autograd import Tensor
from ..lr_scheduler import LRScheduler
from ..nn.module import Module
from ..optim import Optimizer

_PARTS = (Module, Optimizer, LRScheduler)  # kept by kind; anything else given to the constructor is a buffer


def _host_copy(value: Any) -> Any:
    """A buffer as it goes into a checkpoint: arrays and Tensors as host copies, the rest as is."""
    if isinstance(value, Tensor):
        value = value.data
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return B.to_host(value).copy()
    return value


def _restored(saved: Any, current: Any) -> Any:
    """A buffer read from a checkpoint, on the device (and in the type) of the value it replaces."""
    if not (hasattr(saved, "shape") and hasattr(saved, "dtype")):
        return saved
    if isinstance(current, Tensor):
        return Tensor(B.to_device(saved, current.device).copy(), requires_grad=current.requires_grad)
    device = B.device_of(current) if hasattr(current, "shape") and hasattr(current, "dtype") else B.default_device()
    return B.to_device(B.to_host(saved).copy(), device)  # a copy: the state dict keeps its own


class ModelState:
    """Networks, optimisers, schedulers and buffers of one model (see the module docstring)."""

    def __init__(self, **parts: Any) -> None:
        object.__setattr__(self, "_networks", {})
        object.__setattr__(self, "_optimizers", {})
        object.__setattr__(self, "_schedulers", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_order", [])
        for name, value in parts.items():
            if isinstance(value, _PARTS):
                setattr(self, name, value)
            else:
                self.register_buffer(name, value)

    # ---------------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_networks" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        if isinstance(value, Module):
            table = self._networks
        elif isinstance(value, Optimizer):
            table = self._optimizers
        elif isinstance(value, LRScheduler):
            table = self._schedulers
        elif name in self._buffers:
            table = self._buffers
        else:
            table = None
        for other in (self._networks, self._optimizers, self._schedulers, self._buffers):
            if other is not table:
                other.pop(name, None)
        if table is not None:
            table[name] = value
            if name not in self._order:
                self._order.append(name)
        elif name in self._order:
            self._order.remove(name)
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: Any) -> None:
        """Keep ``value`` (an array, Tensor, number, string or None) in every checkpoint."""
        if isinstance(value, _PARTS):
            raise TypeError(f"register_buffer({name!r}): a {type(value).__name__} is kept as a network, an "
                            f"optimiser or a scheduler; assign it as an attribute instead")
        self._buffers[name] = value
        setattr(self, name, value)

    # --------------------------------------------------------------------------- walking
    def networks(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for every network, in the order they were assigned."""
        yield from self._networks.items()

    def optimizers(self) -> Iterator[tuple[str, Optimizer]]:
        yield from self._optimizers.items()

    def schedulers(self) -> Iterator[tuple[str, LRScheduler]]:
        yield from self._schedulers.items()

    def buffers(self) -> Iterator[tuple[str, Any]]:
        yield from self._buffers.items()

    def train(self, mode: bool = True) -> "ModelState":
        """Every network (and every module inside it) to training mode, or evaluation mode."""
        for _, net in self.networks():
            net.train(mode)
        return self

    def eval(self) -> "ModelState":
        return self.train(False)

    # ----------------------------------------------------------------------------- state
    def _value_state(self, name: str) -> Any:
        if name in self._networks:
            return self._networks[name].state_dict()
        if name in self._optimizers:
            return self._optimizers[name].state_dict()
        if name in self._schedulers:
            return self._schedulers[name].state_dict()
        return _host_copy(self._buffers[name])

    def state_dict(self) -> dict[str, Any]:
        """Every network's, optimiser's, scheduler's and buffer's state, keyed by attribute name."""
        return {name: self._value_state(name) for name in self._order}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The inverse of ``state_dict``; missing or unexpected names are listed in one error."""
        missing = [name for name in self._order if name not in state]
        unexpected = [name for name in state if name not in self._order]
        if missing or unexpected:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing entries {missing}, unexpected "
                           f"entries {unexpected}; the checkpoint was written by a differently built model")
        for name in self._order:
            if name in self._networks:
                self._networks[name].load_state_dict(state[name])
            elif name in self._optimizers:
                self._optimizers[name].load_state_dict(state[name])
            elif name in self._schedulers:
                self._schedulers[name].load_state_dict(state[name])
            else:
                self.register_buffer(name, _restored(state[name], self._buffers[name]))

    def __repr__(self) -> str:
        parts = [f"{name}={type(getattr(self, name)).__name__}" for name in self._order]
        return f"{type(self).__name__}({', '.join(parts)})"
