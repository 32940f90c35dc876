"""The loss log: what a training step returns, checked, and kept one JSON line per step.

``OUT/losses.jsonl`` holds ``{"step": k, "loss name": value, ...}`` for every step, appended and
flushed as training goes, so a crash loses at most the step it happened in. A resumed run first
drops the lines written after its checkpoint, so the log reads as one uninterrupted run.

Steps are counted from 1, as everywhere a reader sees them: line k holds the losses of the k-th
step, the one the progress display shows as ``step k/N``, after which the run has done k steps,
a checkpoint says ``step k`` and a picture is ``progress/step_k``. (The training step itself is
handed its 0-based index, k - 1, the number of steps done before it.)
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import IO, Any, Mapping

LOSS_LOG = "losses.jsonl"


class NonFiniteLossError(FloatingPointError):
    """A training step returned a NaN or infinite loss; training stopped before saving it."""


def checked_losses(losses: Any, where: str, step: int, kept: str) -> dict[str, float]:
    """The losses a step returned, as floats; a NaN or infinity stops training, naming it.

    ``step`` is the index ``train_step`` was called with (0-based); messages count from 1.

    ``where`` names the model, ``kept`` says which checkpoint survives (for the error message).
    """
    if not isinstance(losses, Mapping) or not losses:
        raise TypeError(f"{where}.train_step must return a non-empty dict of losses, got {type(losses).__name__}")
    values = {str(k): float(v) for k, v in losses.items()}
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        named = ", ".join(f"loss {k!r} = {v}" for k, v in bad.items())
        # steps are counted from 1 here, as on the console and in the loss log (train_step gets step - 1)
        raise NonFiniteLossError(f"{where}: non-finite loss at step {step + 1}: {named}; training stopped and {kept}")
    return values


def append(log: IO[str], step: int, losses: Mapping[str, float]) -> None:
    """Log the losses of the step with 0-based index ``step`` as step number ``step + 1``."""
    log.write(json.dumps({"step": step + 1, **losses}) + "\n")
    log.flush()


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The loss log as a list of ``{"step": k, "loss name": value, ...}``."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def truncate_log(path: Path, step: int) -> None:
    """Keep only the lines of the first ``step`` steps (a run resumed after ``step`` steps rewrites
    the rest)."""
    kept = [entry for entry in read_log(path) if entry["step"] <= step]
    with open(path, "w") as file:
        file.writelines(json.dumps(entry) + "\n" for entry in kept)
