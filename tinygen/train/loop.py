"""The training loop: one loop for every model.

A model contributes its ``train_step`` (see ``tinygen/models/registry.py``); the loop calls it
``steps`` times, handing it ``next_batch``, a function that returns the next minibatch of the
run's data loader each time it is called. An algorithm that needs several minibatches for one
iteration (k discriminator steps and a generator step) simply calls it several times, so a step
is always one iteration of the paper's algorithm and ``--steps`` counts those.

After each step the losses are checked and logged, the progress bar moves, and every so often a
picture of samples is drawn and a checkpoint written (always one at the end). The rest of a run
lives beside this file: ``run.py`` (preparing, saving and resuming), ``log.py`` (the loss log),
``progress.py`` (the bar), ``sampling.py`` and ``pictures.py`` (samples that leave training
undisturbed, and their pictures), ``outputs.py`` (what a finished run writes).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from . import log
from .outputs import write_outputs
from .pictures import picture_interval, save_progress_picture
from .progress import ProgressBar
from .run import Run, on_device, prepare, save_checkpoint, to_device


def fit(run: Run, *, checkpoint_every: int | None = None, sample_every: int | None = None,
        progress: bool = True) -> Run:
    """Train ``run`` from ``run.step`` up to ``run.total_steps``.

    ``checkpoint_every`` defaults to a tenth of the run and ``sample_every`` to what the model's
    sampling cost allows (``pictures.picture_interval``); 0 turns the periodic ones off (the
    final checkpoint is always written).
    """
    total = run.total_steps
    checkpoint_every = max(1, total // 10) if checkpoint_every is None else checkpoint_every
    sample_every = picture_interval(run) if sample_every is None else sample_every
    last_checkpoint = run.step if run.checkpoint_path.exists() and run.step > 0 else None

    def next_batch() -> tuple[Any, ...]:
        # the loader's batches come in a fixed order and it remembers its place, which the
        # checkpoint keeps: a resumed run draws the batches it would have drawn
        return to_device(run.loader.next_batch(), run.device)

    run.model.train()
    bar = ProgressBar(total, run.step, f"{run.spec.name} on {run.dataset.name}", progress)
    with bar, open(run.out / log.LOSS_LOG, "a") as log_file, on_device(run.device):
        try:
            while run.step < total:
                step = run.step
                losses = log.checked_losses(_train_step(run, next_batch, step), run.spec.name, step,
                                            _kept(run, last_checkpoint))
                log.append(log_file, step, losses)
                run.step = done = step + 1
                bar.update(done, losses)
                if sample_every and (done % sample_every == 0 or done == total):
                    save_progress_picture(run)
                if done == total or (checkpoint_every and done % checkpoint_every == 0):
                    save_checkpoint(run)
                    last_checkpoint = done
        except KeyboardInterrupt as interrupt:  # Ctrl-C: say what survives (the save itself is atomic)
            resume = "; continue it with resume=True" if last_checkpoint is not None else ""
            interrupt.add_note(f"(training of {run.spec.name} stopped at step {run.step}; "
                               f"{_kept(run, last_checkpoint)}{resume})")
            raise
    return run


def _train_step(run: Run, next_batch: Any, step: int) -> Any:
    try:
        return run.spec.train_step(run.model, next_batch, step)
    except Exception as error:
        error.add_note(f"(in training step {step + 1} of {run.spec.name}, train_step(..., step={step}))")
        raise


def _kept(run: Run, last_checkpoint: int | None) -> str:
    if last_checkpoint is None:
        return "no checkpoint had been written yet"
    return f"the last good checkpoint, {run.checkpoint_path} at step {last_checkpoint}, is intact"


def train(model: str | Any, dataset: str | None = None, *, out: str | os.PathLike | None = None,
          steps: int | None = None, epochs: int | None = None, batch_size: int | None = None,
          lr: float | None = None, seed: int | None = None, device: str = "cpu", resume: bool = False,
          force: bool = False, quick: bool = False, hparams: Mapping[str, Any] | None = None,
          progress: bool = True, checkpoint_every: int | None = None, sample_every: int | None = None,
          outputs: bool = True) -> Run:
    """Prepare, fit and (``outputs=True``) write every output of a run; returns the finished run.

    A folder that already holds a run is refused unless ``resume=True`` (continue it) or
    ``force=True`` (replace it); see :func:`~tinygen.train.run.prepare`.
    """
    run = prepare(model, dataset, out=out, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
                  seed=seed, device=device, resume=resume, force=force, quick=quick, hparams=hparams)
    if quick and sample_every is None:  # a quick run is over in seconds: fewer pictures
        sample_every = picture_interval(run, quick=True)
    fit(run, checkpoint_every=checkpoint_every, sample_every=sample_every, progress=progress)
    if outputs:
        write_outputs(run)
    return run
