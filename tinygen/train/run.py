"""A training run: what was asked for, where it stands, and how it is saved and resumed.

``prepare`` resolves the hyperparameters (the paper's defaults, then ``--quick``, then what the
caller overrides), loads the dataset, seeds the random generator and builds the model, or, with
``resume=True``, rebuilds all of that from ``OUT/checkpoint.npz``.

A run is never lost by accident: a fresh run into a folder that already holds one (a checkpoint,
a loss log or metrics) is refused with :class:`RunExistsError`; ``resume=True`` continues the run
there and ``force=True`` replaces it.

Resuming is exact on the CPU: a run of N steps stopped at N/2 and resumed gives the same
parameters, bit for bit, as N steps straight through. The checkpoint holds, besides the model's
networks, optimisers and buffers (``ModelState.state_dict``), the random generator's state and
the data loader's position; the loader's batches are a pure function of (seed, epoch, position),
so a resumed run draws the batches it would have drawn, however many batches each step takes. The
generator's state covers the GPU's random stream too, so a run on the GPU resumes with the random
numbers it would have drawn; it may still differ from a straight run in the last bits, since
some GPU kernels (atomic additions) sum in a different order from run to run.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .. import backend as B
from .. import models as _models  # noqa: F401  (importing the package registers every model)
from ..checkpoint import load, save
from ..models.registry import ModelSpec, get_model
from ..models.state import ModelState
from .log import LOSS_LOG, truncate_log

CHECKPOINT = "checkpoint.npz"
PROGRESS = "progress"  # the folder of pictures taken during training
METRICS = "metrics.json"
# a folder holding any of these holds a run; a replaced run loses them and the other outputs
RUN_MARKERS = (CHECKPOINT, LOSS_LOG, METRICS)
RUN_OUTPUTS = RUN_MARKERS + ("samples.npy", "samples_labels.npy", "samples.png", "losses.png", "progress.gif")


class RunExistsError(FileExistsError):
    """A fresh run was asked for in a folder that already holds one (``out``, described by ``found``)."""

    def __init__(self, out: Path, found: str) -> None:
        super().__init__(f"{out} already holds a run ({found}); pass resume=True to continue it "
                         f"or force=True to replace it")
        self.out, self.found = out, found


@dataclass
class Run:
    """One training run: what was asked for and where it stands (``step`` iterations done)."""

    spec: ModelSpec
    dataset: Any
    model: ModelState
    loader: Any
    hparams: dict[str, Any]
    out: Path
    seed: int = 0
    device: str = "cpu"
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def total_steps(self) -> int:
        return int(self.hparams["steps"])

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT


# ------------------------------------------------------------------------------- devices
@contextlib.contextmanager
def on_device(device: str) -> Iterator[None]:
    """Make ``device`` the default for new tensors while the block runs."""
    device = B.check_device(device)
    previous = B.default_device()
    B.use(device)
    try:
        yield
    finally:
        B.use(previous)


def to_device(batch: Any, device: str) -> tuple[Any, ...]:
    arrays = batch if isinstance(batch, (tuple, list)) else (batch,)
    return tuple(B.to_device(a, device) for a in arrays)


# ------------------------------------------------------------------------- hyperparameters
def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def resolve_hparams(spec: ModelSpec, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> dict:
    """The paper's hyperparameters, then the ``--quick`` ones, then ``overrides`` (``None`` = not given)."""
    hparams = dict(spec.default_hparams)
    if quick:
        hparams.update(spec.quick_hparams)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in spec.default_hparams:
            raise ValueError(f"{spec.name} has no hyperparameter {key!r}; its hyperparameters are "
                             f"{', '.join(sorted(spec.default_hparams))}")
        hparams[key] = value
    _check_positive_int(f"{spec.name}: steps", hparams["steps"])
    if hparams["batch_size"] is not None:
        _check_positive_int(f"{spec.name}: batch_size", hparams["batch_size"])
    lr = hparams.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))
                           or not math.isfinite(lr) or lr <= 0):
        raise ValueError(f"{spec.name}: lr must be a positive finite number, got {lr!r}")
    return hparams


def _make_loader(dataset: Any, spec: ModelSpec, batch_size: int | None, seed: int) -> Any:
    from ..data import DataLoader  # imported here: the data package loads scikit-learn

    n = len(dataset.x)
    size = n if batch_size is None else batch_size  # None: the whole training set in every batch
    if size > n:
        raise ValueError(f"batch_size {size} is larger than the {n} examples of the dataset {dataset.name!r}")
    arrays = (dataset.x, dataset.y) if spec.uses_labels else (dataset.x,)
    if spec.uses_labels and dataset.y is None:
        raise ValueError(f"{spec.name} needs labels, and the dataset {dataset.name!r} has none")
    return DataLoader(*arrays, batch_size=size, shuffle=True, seed=seed, drop_last=True)


def steps_for_epochs(spec: ModelSpec, hparams: dict[str, Any], dataset: Any, epochs: int) -> int:
    """Iterations that draw ``epochs`` passes over the data (at ``batches_per_step`` batches each)."""
    batch_size = hparams["batch_size"]
    per_epoch = 1 if batch_size is None else max(1, len(dataset.x) // batch_size)  # full batches only
    return max(1, epochs * per_epoch // spec.cost("batches_per_step", hparams))


def _load_dataset(name: str, spec: ModelSpec) -> Any:
    from ..data import get_dataset

    # The data's own seed stays at its default: it fixes the train/test split of the image data,
    # which the image metrics hold out. The run's seed drives initialisation and shuffling.
    dataset = get_dataset(name, split="train")
    if dataset.kind not in spec.data_kinds:
        raise ValueError(f"{spec.name} does not train on {dataset.kind} data such as {name!r}; "
                         f"it accepts {', '.join(spec.data_kinds)} data")
    return dataset


def _build(spec: ModelSpec, hparams: dict[str, Any], dataset: Any, device: str) -> ModelState:
    with on_device(device):
        model = spec.build(dict(hparams), dataset)
    if not isinstance(model, ModelState):
        raise TypeError(f"{spec.name}: build must return a tinygen.models.ModelState (its networks, optimisers "
                        f"and buffers), got {type(model).__name__}")
    return model


# ------------------------------------------------------------------------------ the folder
def describe_checkpoint(path: Path) -> dict[str, Any] | None:
    """``{"model", "step", "steps"}`` of the checkpoint at ``path`` (its model, the step it was
    written at and the run's total), or ``None`` when there is none or it cannot be read."""
    try:
        state = load(path)
        return {"model": str(state["model_name"]), "step": int(state["step"]),
                "steps": int(json.loads(state["hparams"])["steps"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe_run(out: Path) -> str | None:
    """What the run in ``out`` left there, in words; ``None`` when ``out`` holds no run (an empty
    loss log, from a run stopped inside its first step, holds nothing worth keeping)."""
    found = [name for name in RUN_MARKERS if (out / name).is_file() and (out / name).stat().st_size > 0]
    if not found:
        return None
    checkpoint = describe_checkpoint(out / CHECKPOINT) if CHECKPOINT in found else None
    if checkpoint is None:
        return ", ".join(found)
    return f"a checkpoint of {checkpoint['model']} at step {checkpoint['step']} of {checkpoint['steps']}"


def _check_out(out: Path, resume: bool, force: bool) -> None:
    """``out`` can take this run: a folder (or a path to make one), and not a run to keep."""
    if resume and force:
        raise ValueError("resume=True continues the run in out and force=True replaces it; give one of them")
    for folder in (out, *out.parents):  # the nearest part of the path that exists must be a folder
        if folder.exists():
            if not folder.is_dir():
                where = "" if folder == out else f" cannot be made: {str(folder)!r}"
                raise NotADirectoryError(f"the output folder {str(out)!r}{where} is a file, not a folder")
            break
    found = None if resume or force else describe_run(out)
    if found is not None:
        raise RunExistsError(out, found)


# --------------------------------------------------------------------------------- prepare
def prepare(model: str | ModelSpec, dataset: str | None = None, *, out: str | os.PathLike | None = None,
            steps: int | None = None, epochs: int | None = None, batch_size: int | None = None,
            lr: float | None = None, seed: int | None = None, device: str = "cpu", resume: bool = False,
            force: bool = False, quick: bool = False, hparams: Mapping[str, Any] | None = None) -> Run:
    """Build a run, fresh or (``resume=True``) from ``out/checkpoint.npz``.

    ``steps`` (or ``epochs``) is the total for the whole run, counted from its start: resuming a
    run with ``steps=N`` continues it up to step N. A resumed run keeps its hyperparameters;
    anything else given that differs from the checkpoint is an error. A fresh run refuses a
    folder that holds a run (:class:`RunExistsError`) unless ``force=True``, which deletes that
    run's files once the new run is built (so a mistyped setting destroys nothing).
    """
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    if steps is not None and epochs is not None:
        raise ValueError("give the length of the run as steps or as epochs, not both")
    if steps is not None:
        _check_positive_int("steps", steps)
    if epochs is not None:
        _check_positive_int("epochs", epochs)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    device = B.check_device(device)
    out = Path(out if out is not None else Path("runs") / spec.name)
    _check_out(out, resume, force)
    overrides = dict(hparams or {})
    # --batch-size and --lr win over the same keys in hparams; when not given they leave them alone
    overrides.update({k: v for k, v in (('batch_size', batch_size), ('lr', lr)) if v is not None})
    if resume:
        return _resume(spec, out, dataset=dataset, steps=steps, epochs=epochs, seed=seed, device=device,
                       overrides=overrides)
    resolved = resolve_hparams(spec, quick, overrides)
    data = _load_dataset(dataset or spec.default_dataset, spec)
    if epochs is not None:
        resolved["steps"] = steps_for_epochs(spec, resolved, data, epochs)
    elif steps is not None:
        resolved["steps"] = steps
    seed = 0 if seed is None else seed
    B.manual_seed(seed)
    loader = _make_loader(data, spec, resolved["batch_size"], seed)
    built = _build(spec, resolved, data, device)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous_run(out)
    return Run(spec, data, built, loader, resolved, out, seed, device)


def _clear_previous_run(out: Path) -> None:
    """Delete what a run writes (checkpoint, log, pictures, samples, metrics), leaving other files."""
    for name in RUN_OUTPUTS:
        (out / name).unlink(missing_ok=True)
    if (out / PROGRESS).is_dir():
        for picture in (out / PROGRESS).glob("step_*"):
            picture.unlink()


def checkpoint_hparams(spec: ModelSpec, state: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's hyperparameters; one the model gained after the checkpoint was written takes
    its default (a new hyperparameter's default keeps the model as it was)."""
    return {**spec.default_hparams, **json.loads(state["hparams"])}


def _resume(spec: ModelSpec, out: Path, *, dataset: str | None, steps: int | None, epochs: int | None,
            seed: int | None, device: str, overrides: Mapping[str, Any]) -> Run:
    path = out / CHECKPOINT
    if not path.exists():
        stopped = ("; the run there stopped before writing one, so it can only be started again"
                   if (out / LOSS_LOG).is_file() else "")
        raise FileNotFoundError(f"resume: there is no checkpoint at {path} to resume from{stopped}")
    state = load(path)
    if state.get("model_name") != spec.name:
        raise ValueError(f"resume: {path} is a checkpoint of {state.get('model_name')!r}, not of {spec.name!r}")
    hparams = checkpoint_hparams(spec, state)
    given = {k: v for k, v in overrides.items() if v is not None}
    given.update({k: v for k, v in (("dataset", dataset), ("seed", seed)) if v is not None})
    kept = dict(hparams, dataset=state["dataset"], seed=state["seed"])
    for key, value in given.items():
        if kept.get(key) != value:
            raise ValueError(f"resume: {key}={value!r} differs from the checkpoint's {kept.get(key)!r}; a "
                             f"resumed run keeps its settings (only the number of steps may change)")
    data = _load_dataset(state["dataset"], spec)
    if epochs is not None:
        hparams["steps"] = steps_for_epochs(spec, hparams, data, epochs)
    elif steps is not None:
        hparams["steps"] = steps
    if state["step"] > hparams["steps"]:
        raise ValueError(f"resume: the checkpoint is already at step {state['step']}, beyond the "
                         f"requested total of {hparams['steps']} steps")
    B.manual_seed(state["seed"])
    loader = _make_loader(data, spec, hparams["batch_size"], state["seed"])
    loader.load_state_dict(state["loader"])
    built = _build(spec, hparams, data, device)
    with on_device(device):
        built.load_state_dict(state["model"])
    B.set_rng_state(state["rng_state"])
    truncate_log(out / LOSS_LOG, state["step"])
    return Run(spec, data, built, loader, hparams, out, state["seed"], device, step=state["step"])


def load_run(checkpoint: str | os.PathLike, device: str = "cpu") -> Run:
    """A run rebuilt from a checkpoint file, ready to sample from (``tinygen sample``)."""
    path = Path(checkpoint)
    state = load(path)
    for key in ("model_name", "dataset", "hparams", "model", "step"):
        if key not in state:
            raise ValueError(f"{path} is not a tinygen training checkpoint (it has no {key!r} entry)")
    spec = get_model(state["model_name"])
    hparams = checkpoint_hparams(spec, state)
    data = _load_dataset(state["dataset"], spec)
    B.manual_seed(int(state.get("seed", 0)))
    device = B.check_device(device)
    built = _build(spec, hparams, data, device)
    with on_device(device):
        built.load_state_dict(state["model"])
    return Run(spec, data, built, None, hparams, path.parent, int(state.get("seed", 0)), device, step=state["step"])


# -------------------------------------------------------------------------- checkpoints
def checkpoint_state(run: Run) -> dict[str, Any]:
    """Everything needed to continue ``run`` exactly where it stands."""
    state = {
        "model_name": run.spec.name,
        "dataset": run.dataset.name,
        "step": run.step,
        "seed": run.seed,
        "device": run.device,
        "hparams": json.dumps(run.hparams),
        "rng_state": B.get_rng_state(),
        "model": run.model.state_dict(),
    }
    if run.loader is not None:
        state["loader"] = run.loader.state_dict()
    return state


def save_checkpoint(run: Run) -> Path:
    save(checkpoint_state(run), run.checkpoint_path)
    return run.checkpoint_path
