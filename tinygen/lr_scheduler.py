"""Learning-rate schedulers: the learning rate as a function of the step count t, written into the
optimiser's param groups. PyTorch's ``torch.optim.lr_scheduler``, with its semantics; import it as
``tinygen.optim.lr_scheduler`` (``optim.py`` gives it that name).

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(...)    # optimizer.step() inside
        scheduler.step()        # after the optimiser's step: sets lr_{t+1}

The schedules, for a group whose learning rate was eta_0 when the scheduler was built:

StepLR             lr_t = eta_0 gamma^floor(t / step_size)
ExponentialLR      lr_t = eta_0 gamma^t
CosineAnnealingLR  lr_t = eta_min + (eta_0 - eta_min) (1 + cos(pi t / T_max)) / 2
LambdaLR           lr_t = eta_0 lambda(t)

How they run, as in PyTorch:

* Building a scheduler stores each group's learning rate as ``group["initial_lr"]`` (eta_0; the
  list is ``base_lrs``) and performs step 0: ``last_epoch`` becomes 0 and every group gets lr_0
  (eta_0 itself, except for a LambdaLR whose lambda(0) is not 1).
* ``step()`` adds one to ``last_epoch`` (t; PyTorch calls it the epoch, but it counts calls of
  ``step``, which may come once per batch) and writes lr_t into each group's ``"lr"``, which the
  optimiser's next ``step`` reads. ``get_last_lr()`` returns those rates.
* Except in LambdaLR, ``step`` computes lr_t from the rate the group holds now, lr_{t-1}, by the
  ratio of two consecutive values of the formula above (PyTorch's "chainable" form), not from
  eta_0. Left alone, both give the same rates up to rounding; but a rate changed by hand, or by a
  second scheduler on the same optimiser, carries forward instead of being overwritten.
* ``state_dict`` holds numbers and lists only (``last_epoch``, ``base_lrs``, the last rates and
  the schedule's settings), so it goes into a checkpoint. LambdaLR does not save its function: code
  cannot be stored. Rebuild the scheduler with the same function and load the state into it.

Schedulers need nothing from an optimiser but its ``param_groups``, so this file does not import
``optim.py`` (which imports it).
"""
from __future__ import annotations

import copy
import math
import numbers
import types
from typing import Any, Callable, Mapping, Protocol, Sequence


class _HasParamGroups(Protocol):
    param_groups: list[dict[str, Any]]


def _check_optimizer(owner: str, optimizer: Any) -> None:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "lr" in g for g in groups):
        raise TypeError(f"{owner}: optimizer must be an optimiser (with param_groups), got "
                        f"{type(optimizer).__name__}")


def _check_positive_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")


def _check_number(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__} {value!r}")


class LRScheduler:
    """Base class: keeps ``last_epoch`` and ``base_lrs``; a subclass says how lr_t follows lr_{t-1}.

    A subclass implements ``get_lr()``: the rates for step ``self.last_epoch`` (already advanced),
    from ``self.base_lrs`` or the groups' current ``"lr"``. While ``self._is_initial`` is true, it
    is step 0 of a scheduler being built.
    """

    _settings: tuple[str, ...] = ()  # the constructor arguments saved with the state
    _is_initial = False

    def __init__(self, optimizer: _HasParamGroups, last_epoch: int = -1) -> None:
        owner = type(self).__name__
        _check_optimizer(owner, optimizer)
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"{owner}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                # resuming (last_epoch >= 0) needs eta_0, which an optimiser loaded from a
                # checkpoint written with a scheduler carries in its groups
                raise KeyError(f"{owner}: param_groups[{i}] has no 'initial_lr', which resuming with "
                               f"last_epoch={last_epoch} needs; build the scheduler with last_epoch=-1")
        self.optimizer = optimizer
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self._is_initial = True
        self.step()  # step 0: last_epoch -1 -> 0 (or resumes at last_epoch + 1)
        self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """t <- t + 1, then every group's ``"lr"`` <- lr_t. Call it after ``optimizer.step()``."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}.step: the optimiser has {len(groups)} param groups, the "
                             f"scheduler was built for {len(self.base_lrs)}")
        self.last_epoch += 1
        for group, lr in zip(groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step`` (or the constructor) set, one per param group."""
        return list(self._last_lr)

    # ------------------------------------------------------------------------------ state
    def _state_keys(self) -> tuple[str, ...]:
        return ("last_epoch", "base_lrs", "_last_lr") + self._settings

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser: the step count, the base and last rates, the settings."""
        return {key: copy.deepcopy(getattr(self, key)) for key in self._state_keys()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """The inverse of ``state_dict`` (copies in; leaves the optimiser's groups alone)."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        unexpected = sorted(set(state_dict) - set(self._state_keys()))
        if unexpected:
            raise ValueError(f"{owner}: unexpected entries {unexpected}; expected {list(self._state_keys())} "
                             f"(a state written by another kind of scheduler?)")
        n = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            if key in state_dict and len(state_dict[key]) != n:
                raise ValueError(f"{owner}: {key} has {len(state_dict[key])} entries, the optimiser {n} "
                                 f"param groups")
        for key, value in state_dict.items():
            setattr(self, key, copy.deepcopy(value))


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    lr_t = eta_0 gamma^floor(t / step_size); step: lr_t = gamma lr_{t-1} when t is a positive
    multiple of step_size, else lr_{t-1}.
    """

    _settings = ("step_size", "gamma")

    def __init__(self, optimizer: _HasParamGroups, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_positive_int("StepLR", "step_size", step_size)
        _check_number("StepLR", "gamma", gamma)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t == 0 or t % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        # gamma^floor(t / step_size) gains one factor of gamma at each multiple of step_size
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at every step: lr_t = eta_0 gamma^t = gamma lr_{t-1}."""

    _settings = ("gamma",)

    def __init__(self, optimizer: _HasParamGroups, gamma: float, last_epoch: int = -1) -> None:
        _check_number("ExponentialLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from eta_0 down to ``eta_min`` over ``T_max`` steps (SGDR without restarts,
    Loshchilov and Hutter, 2017):

        lr_t = eta_min + (eta_0 - eta_min) (1 + cos(pi t / T_max)) / 2

    Past T_max the cosine goes on: the rate climbs back to eta_0 at 2 T_max, as in PyTorch.
    """

    _settings = ("T_max", "eta_min")

    def __init__(self, optimizer: _HasParamGroups, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        _check_number("CosineAnnealingLR", "eta_min", eta_min)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [group["lr"] for group in groups]
        if (t - 1 - T) % (2 * T) == 0:
            # lr_{t-1} = eta_min (the bottom of the cosine), so the ratio below would be 0 / 0:
            # step up by lr_t - lr_{t-1} = (eta_0 - eta_min) (1 - cos(pi / T)) / 2 instead
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        # (lr_t - eta_min) / (lr_{t-1} - eta_min) = (1 + cos(pi t / T)) / (1 + cos(pi (t - 1) / T))
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (group["lr"] - eta_min) + eta_min for group in groups]


class LambdaLR(LRScheduler):
    """lr_t = eta_0 lambda(t), for a function ``lr_lambda`` of the step count (one for every
    group, or a list with one per group). Not chainable: the rate each step sets ignores what
    the group held before.

    ``state_dict`` saves no function; for a callable object (not a function) it saves the
    object's attributes (``__dict__``), as PyTorch does, and ``load_state_dict`` puts them back.
    """

    def __init__(self, optimizer: _HasParamGroups,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]], last_epoch: int = -1) -> None:
        _check_optimizer("LambdaLR", optimizer)
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n:
            raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per param group), got {len(lambdas)}")
        for i, fn in enumerate(lambdas):
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda {i} must be a function of the step, got {type(fn).__name__}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * lr_lambda(self.last_epoch) for lr_lambda, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def _state_keys(self) -> tuple[str, ...]:
        return super()._state_keys() + ("lr_lambdas",)

    def state_dict(self) -> dict[str, Any]:
        state = {key: copy.deepcopy(getattr(self, key)) for key in super()._state_keys()}
        state["lr_lambdas"] = [copy.deepcopy(fn.__dict__)
                               if hasattr(fn, "__dict__") and not isinstance(fn, types.FunctionType) else None
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        saved_lambdas = state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas))
        if len(saved_lambdas) != len(self.lr_lambdas):
            raise ValueError(f"LambdaLR.load_state_dict: lr_lambdas has {len(saved_lambdas)} entries, the "
                             f"scheduler {len(self.lr_lambdas)}")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for fn, saved in zip(self.lr_lambdas, saved_lambdas):
            if saved is not None:
                fn.__dict__.update(copy.deepcopy(saved))
