"""Drawing samples from a model in training without changing how it trains.

Pictures are taken every few hundred steps while a model trains, and each one runs the model's
``sample``. Two things it touches could leak into training: the random generator (sampling draws
noise, so every later draw of the training step would shift) and the networks' train/eval flags
(a ``sample`` that calls ``eval()`` would leave batch norm frozen at its running statistics for
the rest of the run). :func:`kept_as_it_was` saves both before and restores both after, so a run
with pictures and a run without them train identically, bit for bit.

Conditional models (``ModelSpec.conditions``) are asked for what they condition on:
``sample(run, n, label=3)`` gives n samples of class 3, ``label=array`` one label per sample, and
no label at all gives labels drawn uniformly over the dataset's classes (:func:`uniform_labels`),
which are returned beside the samples so that metrics can check them.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from .. import backend as B
from ..autograd import Tensor
from ..models.state import ModelState
from .run import Run, on_device


@contextlib.contextmanager
def kept_as_it_was(model: ModelState) -> Iterator[None]:
    """Restore the random generator and every module's train/eval flag when the block ends."""
    rng_state = B.get_rng_state()
    flags = [(module, module.training) for _, net in model.networks() for module in net.modules()]
    try:
        yield
    finally:
        B.set_rng_state(rng_state)
        for module, training in flags:
            object.__setattr__(module, "training", training)


def uniform_labels(n: int, n_classes: int) -> Any:
    """n labels with every class equally often (up to one), in a random order: (n,) int64, host."""
    labels = B.np.arange(n, dtype=B.np.int64) % n_classes
    return labels[B.to_host(B.permutation(n))]


def _check_label(label: Any, n: int, n_classes: int | None, where: str) -> Any:
    """A label condition as an (n,) int64 host array; bad values name what was seen."""
    if n_classes is None:
        raise ValueError(f"{where}: the dataset has no classes to condition on")
    array = B.np.asarray(B.to_host(label.data if isinstance(label, Tensor) else label))
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise ValueError(f"{where}: label must be an integer or a 1-D array of integers, got {label!r}")
    if array.ndim == 1 and len(array) != n:
        raise ValueError(f"{where}: {len(array)} labels given for {n} samples")
    bad = array[(array < 0) | (array >= n_classes)]
    if bad.size:
        raise ValueError(f"{where}: label {int(bad.flat[0])} is outside the dataset's {n_classes} classes "
                         f"(0 to {n_classes - 1})")
    return B.np.broadcast_to(array, (n,)).astype(B.np.int64)


def check_conditions(run: Run, n: int, conditions: dict[str, Any]) -> dict[str, Any]:
    """The conditions a model takes, checked; a condition it does not take is an error naming it."""
    spec = run.spec
    unknown = sorted(set(conditions) - set(spec.conditions))
    if unknown:
        takes = f"it takes {', '.join(spec.conditions)}" if spec.conditions else "it is not conditional"
        raise ValueError(f"{spec.name} takes no condition {unknown[0]!r} ({takes})")
    checked = dict(conditions)
    if "label" in spec.conditions:
        where = f"{spec.name}.sample"
        label = conditions.get("label")
        if label is None:
            if run.dataset.n_classes is None:
                raise ValueError(f"{where}: the dataset {run.dataset.name!r} has no classes to condition on")
            label = uniform_labels(n, run.dataset.n_classes)
        checked["label"] = _check_label(label, n, run.dataset.n_classes, where)
    return checked


def sample(run: Run, n: int, **conditions: Any) -> Any:
    """``n`` samples of the run's model as a host array, leaving training undisturbed."""
    samples, _ = sample_with_conditions(run, n, **conditions)
    return samples


def sample_with_conditions(run: Run, n: int, **conditions: Any) -> tuple[Any, dict[str, Any]]:
    """``(samples, conditions)``: the samples and what they were conditioned on (host arrays)."""
    with kept_as_it_was(run.model), on_device(run.device):
        checked = check_conditions(run, n, conditions)  # inside: drawing labels uses the generator too
        on_device_conditions = {k: B.to_device(v, run.device) if hasattr(v, "dtype") else v
                                for k, v in checked.items()}
        samples = run.spec.sample(run.model, n, **on_device_conditions)
    return B.to_host(samples), checked
