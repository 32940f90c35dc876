"""The training loop: one loop for every model.

A model contributes only its ``train_step`` (see ``tinygen/models/registry.py``); everything
around it lives here, once:

1. ``prepare`` resolves the hyperparameters (the paper's defaults, then ``--quick``, then what
   the caller overrides), loads the dataset, seeds the random generator and builds the model,
   or, with ``resume=True``, rebuilds it from ``OUT/checkpoint.npz``.
2. ``fit`` runs the steps: fetch the batch of step k, call ``train_step``, check that every loss
   is finite, append the losses to ``OUT/losses.jsonl``, update the progress bar, and every so
   often draw a picture of samples and write a checkpoint (always one at the end).
3. ``write_outputs`` draws the final samples (``samples.npy``, ``samples.png``), plots the loss
   curves (``losses.png``), animates the pictures taken during training (``progress.gif``) and
   measures the samples (``metrics.json``).

``train`` does all three. The command line and the demos call it.

Resuming is exact on the CPU: a run of N steps stopped at N/2 and resumed gives the same
parameters, bit for bit, as N steps straight through. Three things make that true: the
checkpoint holds the random generator's state and the data loader's position besides the model
and optimiser state; pictures taken during training draw their random numbers and then put the
generator back, so looking at a model never changes how it trains; and a resumed run first
drops the log lines written after its checkpoint, so the log too reads as one run. On the GPU
a resumed run continues correctly but not bit for bit: the backend exposes the CPU generator's
state only, and GPU kernels may sum in a different order from run to run.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .. import backend as B
from .. import models as _models  # noqa: F401  (importing the package registers every model)
from ..models.registry import ModelSpec, get_model
from .checkpoint import load, save

CHECKPOINT = "checkpoint.npz"
LOSS_LOG = "losses.jsonl"
PROGRESS = "progress"  # the folder of pictures taken during training

# how many samples the final outputs hold, by kind of data (the numbers: the 2-D mode
# metrics are defined over 2,500 samples; image metrics use 1,000)
N_FINAL_SAMPLES = {"2d": 2500, "1d": 2500, "image": 1000, "binary": 1000}
N_PICTURE_SAMPLES = {"2d": 1000, "1d": 1000, "image": 64, "binary": 64}


class NonFiniteLossError(FloatingPointError):
    """A training step returned a NaN or infinite loss; training stopped before saving it."""


@dataclass
class Run:
    """One training run: what was asked for and where it stands."""

    spec: ModelSpec
    dataset: Any
    model: Any
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


def _to_device(batch: Any, device: str) -> tuple[Any, ...]:
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
    size = n if batch_size is None else batch_size  # None: the whole training set in every step
    if size > n:
        raise ValueError(f"batch_size {size} is larger than the {n} examples of the dataset {dataset.name!r}")
    arrays = (dataset.x, dataset.y) if spec.uses_labels else (dataset.x,)
    if spec.uses_labels and dataset.y is None:
        raise ValueError(f"{spec.name} needs labels, and the dataset {dataset.name!r} has none")
    return DataLoader(*arrays, batch_size=size, shuffle=True, seed=seed, drop_last=True)


def steps_per_epoch(dataset: Any, batch_size: int | None) -> int:
    """Updates in one pass over the data (the last, incomplete batch is dropped)."""
    return 1 if batch_size is None else max(1, len(dataset.x) // batch_size)


def _load_dataset(name: str, spec: ModelSpec) -> Any:
    from ..data import get_dataset

    # The data's own seed stays at its default: it fixes the train/test split of the image data,
    # which the image metrics hold out. The run's seed drives initialisation and shuffling.
    dataset = get_dataset(name, split="train")
    if dataset.kind not in spec.data_kinds:
        raise ValueError(f"{spec.name} does not train on {dataset.kind} data such as {name!r}; "
                         f"it accepts {', '.join(spec.data_kinds)} data")
    return dataset


# --------------------------------------------------------------------------------- prepare
def prepare(model: str | ModelSpec, dataset: str | None = None, *, out: str | os.PathLike | None = None,
            steps: int | None = None, epochs: int | None = None, batch_size: int | None = None,
            lr: float | None = None, seed: int | None = None, device: str = "cpu", resume: bool = False,
            quick: bool = False, hparams: Mapping[str, Any] | None = None) -> Run:
    """Build a run, fresh or (``resume=True``) from ``out/checkpoint.npz``.

    ``steps`` (or ``epochs``) is the total for the whole run, counted from its start: resuming a
    run with ``steps=N`` continues it up to step N. A resumed run keeps its hyperparameters;
    anything else given that differs from the checkpoint is an error.
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
    overrides = dict(hparams or {})
    overrides.update(batch_size=batch_size, lr=lr)
    if resume:
        return _resume(spec, out, dataset=dataset, steps=steps, epochs=epochs, seed=seed, device=device,
                       overrides=overrides)
    resolved = resolve_hparams(spec, quick, overrides)
    data = _load_dataset(dataset or spec.default_dataset, spec)
    if epochs is not None:
        resolved["steps"] = epochs * steps_per_epoch(data, resolved["batch_size"])
    elif steps is not None:
        resolved["steps"] = steps
    seed = 0 if seed is None else seed
    B.manual_seed(seed)
    loader = _make_loader(data, spec, resolved["batch_size"], seed)
    with on_device(device):
        built = spec.build(dict(resolved), data)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous_run(out)
    return Run(spec, data, built, loader, resolved, out, seed, device)


def _clear_previous_run(out: Path) -> None:
    """A fresh run in a used folder starts a fresh log and picture series (it overwrites the rest)."""
    (out / LOSS_LOG).unlink(missing_ok=True)
    if (out / PROGRESS).is_dir():
        for picture in (out / PROGRESS).glob("step_*"):
            picture.unlink()


def _resume(spec: ModelSpec, out: Path, *, dataset: str | None, steps: int | None, epochs: int | None,
            seed: int | None, device: str, overrides: Mapping[str, Any]) -> Run:
    path = out / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"resume: there is no checkpoint at {path} to resume from")
    state = load(path)
    if state.get("model_name") != spec.name:
        raise ValueError(f"resume: {path} is a checkpoint of {state.get('model_name')!r}, not of {spec.name!r}")
    hparams = json.loads(state["hparams"])
    given = {k: v for k, v in overrides.items() if v is not None}
    given.update({k: v for k, v in (("dataset", dataset), ("seed", seed)) if v is not None})
    kept = dict(hparams, dataset=state["dataset"], seed=state["seed"])
    for key, value in given.items():
        if kept.get(key) != value:
            raise ValueError(f"resume: {key}={value!r} differs from the checkpoint's {kept.get(key)!r}; a "
                             f"resumed run keeps its settings (only the number of steps may change)")
    data = _load_dataset(state["dataset"], spec)
    if epochs is not None:
        hparams["steps"] = epochs * steps_per_epoch(data, hparams["batch_size"])
    elif steps is not None:
        hparams["steps"] = steps
    if state["step"] > hparams["steps"]:
        raise ValueError(f"resume: the checkpoint is already at step {state['step']}, beyond the "
                         f"requested total of {hparams['steps']} steps")
    B.manual_seed(state["seed"])
    loader = _make_loader(data, spec, hparams["batch_size"], state["seed"])
    loader.load_state_dict(state["loader"])
    if loader.step != state["step"]:
        raise ValueError(f"resume: the checkpoint's data loader is at step {loader.step}, its model at step "
                         f"{state['step']}; the checkpoint is inconsistent")
    with on_device(device):
        built = spec.build(dict(hparams), data)
        spec.load_state_dict(built, state["model"])
    B.set_rng_state(state["rng_state"])
    _truncate_log(out / LOSS_LOG, state["step"])
    return Run(spec, data, built, loader, hparams, out, state["seed"], device, step=state["step"])


def load_run(checkpoint: str | os.PathLike, device: str = "cpu") -> Run:
    """A run rebuilt from a checkpoint file, ready to sample from (``tinygen sample``)."""
    path = Path(checkpoint)
    state = load(path)
    for key in ("model_name", "dataset", "hparams", "model", "step"):
        if key not in state:
            raise ValueError(f"{path} is not a tinygen training checkpoint (it has no {key!r} entry)")
    spec = get_model(state["model_name"])
    hparams = json.loads(state["hparams"])
    data = _load_dataset(state["dataset"], spec)
    B.manual_seed(int(state.get("seed", 0)))
    with on_device(device):
        built = spec.build(dict(hparams), data)
        spec.load_state_dict(built, state["model"])
    return Run(spec, data, built, None, hparams, path.parent, int(state.get("seed", 0)), B.check_device(device),
               step=state["step"])


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
        "model": run.spec.state_dict(run.model),
    }
    if run.loader is not None:
        state["loader"] = run.loader.state_dict()
    return state


def save_checkpoint(run: Run) -> Path:
    save(checkpoint_state(run), run.checkpoint_path)
    return run.checkpoint_path


# ------------------------------------------------------------------------------ the log
def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The loss log as a list of ``{"step": k, "loss name": value, ...}``."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def _truncate_log(path: Path, step: int) -> None:
    """Keep only the lines of steps before ``step`` (a run resumed from ``step`` rewrites the rest)."""
    kept = [entry for entry in read_log(path) if entry["step"] < step]
    with open(path, "w") as file:
        file.writelines(json.dumps(entry) + "\n" for entry in kept)


# ------------------------------------------------------------------------------ progress
class _Progress:
    """tqdm when it is installed, else a plain line printed now and then (tqdm is optional)."""

    def __init__(self, total: int, initial: int, description: str, enabled: bool) -> None:
        self.total, self.enabled, self.description = total, enabled, description
        self.bar = None
        self.last_print = 0.0
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, initial=initial, desc=description, file=sys.stderr, dynamic_ncols=True)

    def update(self, done: int, losses: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last_print >= 2.0 or done == self.total:
            self.last_print = now
            text = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
            print(f"{self.description}: step {done}/{self.total} {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -------------------------------------------------------------------------------- the loop
def _finite_losses(run: Run, losses: Any, step: int, last_checkpoint: int | None) -> dict[str, float]:
    if not isinstance(losses, Mapping) or not losses:
        raise TypeError(f"{run.spec.name}.train_step must return a non-empty dict of losses, "
                        f"got {type(losses).__name__}")
    values = {str(k): float(v) for k, v in losses.items()}
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        named = ", ".join(f"loss {k!r} = {v}" for k, v in bad.items())
        kept = (f"the last good checkpoint, {run.checkpoint_path} at step {last_checkpoint}, is intact"
                if last_checkpoint is not None else "no checkpoint had been written yet")
        raise NonFiniteLossError(f"{run.spec.name}: non-finite loss at step {step}: {named}; training "
                                 f"stopped and {kept}")
    return values


def sample(run: Run, n: int) -> Any:
    """``n`` samples from the run's model, as a host array, without disturbing the random stream
    that training draws from (pictures must not change the training trajectory)."""
    state = B.get_rng_state()
    try:
        with on_device(run.device):
            samples = run.spec.sample(run.model, n)
    finally:
        B.set_rng_state(state)
    return B.to_host(samples)


def fit(run: Run, *, checkpoint_every: int | None = None, sample_every: int | None = None,
        progress: bool = True) -> Run:
    """Train ``run`` from ``run.step`` up to ``run.total_steps``.

    ``checkpoint_every`` and ``sample_every`` default to a tenth and an eighth of the run; 0
    turns the periodic ones off (the final checkpoint is always written).
    """
    total = run.total_steps
    checkpoint_every = max(1, total // 10) if checkpoint_every is None else checkpoint_every
    sample_every = -(-total // 8) if sample_every is None else sample_every  # ceil: at most 8 pictures
    last_checkpoint = run.step if run.checkpoint_path.exists() and run.step > 0 else None
    bar = _Progress(total, run.step, f"{run.spec.name} on {run.dataset.name}", progress)
    try:
        with open(run.out / LOSS_LOG, "a") as log, on_device(run.device):
            while run.step < total:
                step = run.step
                # the loader hands out the batch of this global step and remembers its position,
                # which the checkpoint keeps (so a resumed run sees the batches it would have seen)
                batch = _to_device(run.loader.next_batch(), run.device)
                try:
                    raw = run.spec.train_step(run.model, batch, step)
                except Exception as error:
                    error.add_note(f"(in the training step {step} of {run.spec.name})")
                    raise
                losses = _finite_losses(run, raw, step, last_checkpoint)
                log.write(json.dumps({"step": step, **losses}) + "\n")
                log.flush()
                run.step = done = step + 1
                bar.update(done, losses)
                if sample_every and (done % sample_every == 0 or done == total):
                    _save_progress_picture(run)
                if done == total or (checkpoint_every and done % checkpoint_every == 0):
                    save_checkpoint(run)
                    last_checkpoint = done
    finally:
        bar.close()
    return run


# ------------------------------------------------------------------------------ pictures
def _as_images(samples: Any, dataset: Any) -> Any:
    """Binary vectors as little images (bars and stripes are squares, binarised digits 8x8)."""
    shape = getattr(dataset, "image_shape", None)
    n, d = samples.shape[0], int(B.np.prod(samples.shape[1:]))
    if shape is None:
        side = int(round(math.sqrt(d)))
        shape = (1, side, side) if side * side == d else (1, 1, d)
    return samples.reshape((n,) + tuple(shape))


def save_samples_picture(samples: Any, dataset: Any, path: str | os.PathLike, title: str | None = None) -> None:
    """The right picture for the kind of data: a grid of images, a scatter or a density plot."""
    from ..viz import plots  # imported here: matplotlib is loaded only when a picture is drawn

    if dataset.kind == "2d":
        plots.scatter_2d(samples, path, real=dataset.x, title=title)
    elif dataset.kind == "1d":
        plots.density_1d(samples, path, real=dataset.x, title=title)
    else:
        images = _as_images(samples, dataset) if dataset.kind == "binary" else samples
        plots.sample_grid(images[:100], path, title=title)


def _save_progress_picture(run: Run) -> None:
    folder = run.out / PROGRESS
    folder.mkdir(exist_ok=True)
    samples = sample(run, N_PICTURE_SAMPLES[run.dataset.kind])
    B.np.save(folder / f"step_{run.step:07d}.npy", samples)
    save_samples_picture(samples, run.dataset, folder / f"step_{run.step:07d}.png",
                         title=f"{run.spec.name}, step {run.step}")


def _animate_progress(run: Run) -> Path | None:
    """An animated GIF of the pictures taken during training (also across a resume)."""
    from ..viz import plots

    files = sorted((run.out / PROGRESS).glob("step_*.npy"))
    if len(files) < 2 or run.dataset.kind == "1d":
        return None
    frames = [B.np.load(f, allow_pickle=False) for f in files]
    if run.dataset.kind == "binary":
        frames = [_as_images(f, run.dataset) for f in frames]
    titles = [f"{run.spec.name}, step {int(f.stem.split('_')[1])}" for f in files]
    real = run.dataset.x if run.dataset.kind == "2d" else None
    path = run.out / "progress.gif"
    plots.animate(frames, path, titles=titles, real=real)
    return path


def _json_ready(value: Any) -> Any:
    """Metrics as plain Python numbers (NumPy scalars and arrays are not JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def write_outputs(run: Run, n_samples: int | None = None) -> dict[str, Any]:
    """samples.npy, samples.png, losses.png, progress.gif and metrics.json in ``run.out``."""
    from .. import metrics
    from ..viz import plots

    n = n_samples or N_FINAL_SAMPLES[run.dataset.kind]
    samples = sample(run, n)
    B.np.save(run.out / "samples.npy", samples)
    save_samples_picture(samples, run.dataset, run.out / "samples.png",
                         title=f"{run.spec.name} on {run.dataset.name}, step {run.step}")
    plots.loss_curves(read_log(run.out / LOSS_LOG), run.out / "losses.png",
                      title=f"{run.spec.name} on {run.dataset.name}")
    _animate_progress(run)
    run.metrics = _json_ready(metrics.evaluate(run.dataset.name, samples))
    with open(run.out / "metrics.json", "w") as file:
        json.dump(run.metrics, file, indent=2)
    return run.metrics


def train(model: str | ModelSpec, dataset: str | None = None, *, out: str | os.PathLike | None = None,
          steps: int | None = None, epochs: int | None = None, batch_size: int | None = None,
          lr: float | None = None, seed: int | None = None, device: str = "cpu", resume: bool = False,
          quick: bool = False, hparams: Mapping[str, Any] | None = None, progress: bool = True,
          checkpoint_every: int | None = None, sample_every: int | None = None, outputs: bool = True) -> Run:
    """Prepare, fit and (``outputs=True``) write every output of a run; returns the finished run."""
    run = prepare(model, dataset, out=out, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
                  seed=seed, device=device, resume=resume, quick=quick, hparams=hparams)
    if quick and sample_every is None:  # fewer pictures: a quick run is over in seconds
        sample_every = -(-run.total_steps // 4)  # ceil: at most 4 pictures
    fit(run, checkpoint_every=checkpoint_every, sample_every=sample_every, progress=progress)
    if outputs:
        write_outputs(run)
    return run
