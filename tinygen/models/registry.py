"""The model registry: how the command line, the demos and the tests reach every model the same way.

Each model file ends with one ``register(ModelSpec(...))`` call that says who the model is (its
name, its paper, the dataset it is shown on, the paper's hyperparameters) and how to drive it,
as five plain functions:

==================  =========================================================================
``build``           ``(hparams, dataset) -> model``: the networks, optimisers and whatever else
                    the training step needs, gathered in one object of the model's choosing
``train_step``      ``(model, batch, step) -> {"loss name": float}``: one update, in the
                    paper's order. ``batch`` is a tuple of arrays on the run's device, ``(x,)``,
                    or ``(x, y)`` for a model with ``uses_labels``; ``step`` counts from 0
``sample``          ``(model, n) -> ndarray``: ``n`` samples on the host, shaped like the data
                    (``(n, d)`` for points and binary vectors, ``(n, c, h, w)`` for images)
``state_dict``      ``(model) -> dict``: everything a checkpoint must hold to continue training
``load_state_dict`` ``(model, state)``: the inverse
==================  =========================================================================

The training loop (``tinygen/train/loop.py``) knows nothing else about a model, which keeps
each model file about its paper and nothing more. ``sample`` may switch networks to ``eval()``
mode, so ``train_step`` switches them back to ``train()`` itself; the loop saves and restores the
random generator around ``sample``, so drawing pictures never changes how a model trains.

Names are lowercase with hyphens (``wgan-gp``). ``tinygen list`` shows what is registered,
which is exactly what has been imported by ``tinygen/models/__init__.py``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

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
    """

    name: str
    paper: Paper
    default_dataset: str
    default_hparams: dict[str, Any]
    build: Callable[[dict[str, Any], Any], Any]
    train_step: Callable[[Any, tuple[Any, ...], int], dict[str, float]]
    sample: Callable[[Any, int], Any]
    state_dict: Callable[[Any], dict[str, Any]]
    load_state_dict: Callable[[Any, dict[str, Any]], None]
    quick_hparams: dict[str, Any] = field(default_factory=dict)
    data_kinds: tuple[str, ...] = DATA_KINDS
    uses_labels: bool = False
    summary: str = ""

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
