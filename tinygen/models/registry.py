"""The model registry: how the command line, the demos and the tests reach every model the same way.

Each model file ends with one ``register(ModelSpec(...))`` call that says who the model is (its
name, its paper, the dataset it is shown on, the paper's hyperparameters) and how to drive it,
with three plain functions:

==================  =========================================================================
``build``           ``(hparams, dataset) -> ModelState``: the networks, optimisers and buffers
                    the training step needs, gathered in a :class:`~tinygen.models.state.ModelState`
                    (which gives the checkpoint its ``state_dict`` and ``load_state_dict``)
``train_step``      ``(model, next_batch, step) -> {"loss name": float}``: one iteration of the
                    paper's algorithm. ``next_batch()`` returns a fresh minibatch each time it is
                    called, a tuple of arrays on the run's device, ``(x,)``, or ``(x, y)`` for a
                    model with ``uses_labels``; a GAN calls it once for each of its k
                    discriminator steps and once more for the generator step. ``step`` counts
                    iterations from 0 (the generator updates, for the adversarial models)
``sample``          ``(model, n, **conditions) -> array``: ``n`` samples shaped like the data
                    (``(n, d)`` for points and binary vectors, ``(n, c, h, w)`` for images);
                    a conditional model takes what it conditions on, e.g. ``label=3`` or
                    ``label=array_of_n_labels``, and names it in ``conditions``
==================  =========================================================================

The training loop (``tinygen/train/``) knows nothing else about a model, which keeps each model
file about its paper. It puts every network in training mode when training starts, and around
each call of ``sample`` it saves and restores both the random generator and every module's
train/eval flag: ``sample`` may switch networks to ``eval()`` and draw random numbers without
changing how the model trains, and ``train_step`` never has to call ``.train()``.

Two numbers describe a model's cost, for the loop to plan with: ``batches_per_step`` (how many
times one ``train_step`` calls ``next_batch``, so ``--epochs`` can be turned into iterations)
and ``sample_cost`` (network evaluations per sample: 1 for a GAN, T for DDPM's T denoising
steps), from which the loop decides how many progress pictures a run can afford. Either is a
number or a function of the hyperparameters.

Names are lowercase with hyphens (``wgan-gp``). ``tinygen list`` shows what is registered,
which is exactly what has been imported by ``tinygen/models/__init__.py``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .state import ModelState

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
DATA_KINDS = ("2d", "1d", "image", "binary")


@dataclass(frozen=True)
class Paper:
    """The paper a model comes from."""

    authors: str
    year: int
    title: str

    def __str__(self) -> str:
        return f"{self.authors} ({self.year}), {self.title}"


@dataclass(frozen=True)
class ModelSpec:
    """Everything the platform needs to know about one model (see the module docstring).

    ``default_hparams`` are the paper's; they must include ``steps`` and ``batch_size`` (``None``
    meaning the whole training set per step), and ``lr`` where the model has a learning rate.
    ``quick_hparams`` override them for ``--quick`` runs, which finish in seconds and show only
    that the machinery works. ``data_kinds`` lists the kinds of dataset the model accepts.
    ``conditions`` names the keyword arguments ``sample`` takes (``("label",)`` for a
    class-conditional model; its labels run over the dataset's classes).
    """

    name: str
    paper: Paper
    default_dataset: str
    default_hparams: dict[str, Any]
    build: Callable[[dict[str, Any], Any], ModelState]
    train_step: Callable[[Any, Callable[[], tuple[Any, ...]], int], dict[str, float]]
    sample: Callable[..., Any]
    quick_hparams: dict[str, Any] = field(default_factory=dict)
    data_kinds: tuple[str, ...] = DATA_KINDS
    uses_labels: bool = False
    conditions: tuple[str, ...] = ()
    batches_per_step: int | Callable[[dict[str, Any]], int] = 1
    sample_cost: int | Callable[[dict[str, Any]], int] = 1
    summary: str = ""

    def cost(self, what: str, hparams: dict[str, Any]) -> int:
        """``batches_per_step`` or ``sample_cost`` for these hyperparameters, checked to be >= 1."""
        value = getattr(self, what)
        value = value(hparams) if callable(value) else value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"ModelSpec {self.name!r}: {what} must be a positive integer, got {value!r}")
        return value

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"ModelSpec: the name {self.name!r} must be lowercase words joined by hyphens")
        for key in ("steps", "batch_size"):
            if key not in self.default_hparams:
                raise ValueError(f"ModelSpec {self.name!r}: default_hparams must contain {key!r}")
        unknown = sorted(set(self.quick_hparams) - set(self.default_hparams))
        if unknown:
            raise ValueError(f"ModelSpec {self.name!r}: quick_hparams {unknown} are not in default_hparams")
        bad_kinds = sorted(set(self.data_kinds) - set(DATA_KINDS))
        if bad_kinds:
            raise ValueError(f"ModelSpec {self.name!r}: unknown data kinds {bad_kinds}; expected {DATA_KINDS}")
        for condition in self.conditions:
            if not isinstance(condition, str) or not condition.isidentifier():
                raise ValueError(f"ModelSpec {self.name!r}: conditions must be keyword names, got {condition!r}")


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (a model file calls this once, at import)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"register: a model named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    """The spec registered under ``name``; an unknown name raises ValueError listing the known ones."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    """The registered model names, in registration order."""
    return list(_REGISTRY)
