"""Pictures of a run: samples drawn while it trains, and the GIF they make.

How many pictures a run takes depends on what a picture costs. A GAN draws 64 images in one pass
of its generator; DDPM needs T passes (``ModelSpec.sample_cost``). A run takes up to 8 pictures
(4 with ``--quick``) when sampling is one pass, fewer as sampling gets dearer, and never fewer than
2, so the GIF still shows a start and an end.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .. import backend as B
from .run import PROGRESS, Run
from .sampling import sample

N_PICTURE_SAMPLES = {"2d": 1000, "1d": 1000, "image": 64, "binary": 64}
MOST_PICTURES, MOST_QUICK_PICTURES, FEWEST_PICTURES = 8, 4, 2
# network passes per sample that a run's progress pictures may spend, all pictures together
PICTURE_PASSES = 32


def n_progress_pictures(sample_cost: int, quick: bool = False) -> int:
    """min(most, PICTURE_PASSES / cost), at least 2: 8 pictures at cost 1 to 4, 2 at cost >= 16."""
    most = MOST_QUICK_PICTURES if quick else MOST_PICTURES
    return max(FEWEST_PICTURES, min(most, PICTURE_PASSES // sample_cost))


def picture_interval(run: Run, quick: bool = False) -> int:
    """Steps between progress pictures, so that the run takes ``n_progress_pictures`` of them."""
    n = n_progress_pictures(run.spec.cost("sample_cost", run.hparams), quick)
    return -(-run.total_steps // n)  # ceil


def as_images(samples: Any, dataset: Any) -> Any:
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
        images = as_images(samples, dataset) if dataset.kind == "binary" else samples
        plots.sample_grid(images[:100], path, title=title)


def save_progress_picture(run: Run) -> None:
    """``OUT/progress/step_K.npy`` and ``.png``: samples at the current step."""
    folder = run.out / PROGRESS
    folder.mkdir(exist_ok=True)
    samples = sample(run, N_PICTURE_SAMPLES[run.dataset.kind])
    B.np.save(folder / f"step_{run.step:07d}.npy", samples)
    save_samples_picture(samples, run.dataset, folder / f"step_{run.step:07d}.png",
                         title=f"{run.spec.name}, step {run.step}")


def evenly_spaced(steps: list[int], last: int) -> list[int]:
    """The steps (sorted) of pictures to animate: about evenly spaced over (0, last].

    A run takes its pictures every ``picture_interval`` steps, and that interval follows the total:
    a run of 500 steps pictured every 63, then resumed up to 1,000, continues every 125. Shown as
    they are, the frames would crowd into the first half. So the spacing is the widest interval
    the run used (the largest gap between neighbours, counted from step 0), and for each multiple
    of it the nearest picture is kept, the last one always. Pictures beyond ``last`` (from a
    longer run this one was resumed out of) are dropped. A stretch trained with pictures off
    stays a jump.
    """
    kept = sorted(s for s in steps if 0 < s <= last)
    if len(kept) < 3:
        return kept
    spacing = max(b - a for a, b in zip([0] + kept, kept))
    chosen = []
    for k in range(1, -(-kept[-1] // spacing) + 1):
        nearest = min(kept, key=lambda s: (abs(s - k * spacing), s))
        if nearest not in chosen:
            chosen.append(nearest)
    if chosen[-1] != kept[-1]:
        chosen.append(kept[-1])
    return chosen


def progress_frames(run: Run) -> list[Path]:
    """The ``OUT/progress/step_K.npy`` files the GIF shows, in order (see :func:`evenly_spaced`)."""
    files = {int(f.stem.split("_")[1]): f for f in (run.out / PROGRESS).glob("step_*.npy")}
    return [files[step] for step in evenly_spaced(list(files), run.step)]


def animate_progress(run: Run) -> Path | None:
    """An animated GIF of the pictures taken during training, evenly spaced also across a resume."""
    from ..viz import plots

    files = progress_frames(run)
    if len(files) < 2 or run.dataset.kind == "1d":
        return None
    frames = [B.np.load(f, allow_pickle=False) for f in files]
    if run.dataset.kind == "binary":
        frames = [as_images(f, run.dataset) for f in frames]
    titles = [f"{run.spec.name}, step {int(f.stem.split('_')[1])}" for f in files]
    real = run.dataset.x if run.dataset.kind == "2d" else None
    path = run.out / "progress.gif"
    plots.animate(frames, path, titles=titles, real=real)
    return path
