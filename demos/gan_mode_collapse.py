"""The vanilla GAN on the ring of 8 and the 5x5 grid of Gaussians: which modes it finds, and which
it drops (mode collapse), measured with the VEEGAN/PacGAN protocol.

Trains the GAN (tinygen/models/gan.py) at its default hyperparameters on each data set, stopping
a few times along the way to draw samples, then measures the final generator on 2,500 samples:
modes covered (a mode counts once a sample lands within 3 standard deviations of it), the share
of high-quality samples (those within 3 std of their nearest mode), and the KL divergence of the
samples' histogram over modes from uniform. No seed is picked for looking good: the seed is a
flag, 0 by default, and the numbers printed are the ones measured.

* gan_mode_collapse.png: one row per data set, samples (orange) over the real data (blue) at four
  points of training. In the default run (seed 0) the ring's samples first trace the whole circle,
  then gather on the modes, and two modes end with almost none; on the grid the generator, one
  continuous map of a 2-D Gaussian, leaves samples on the lines joining the modes it reaches
  (which is what keeps its high-quality share low) and neglects a whole band of rows.
* printed: the metrics next to PacGAN's published GAN averages (10 runs, 400 epochs).

A full run takes a few minutes per data set; --quick trains small networks for a few hundred steps,
which shows the machinery, not the result.

    python demos/gan_mode_collapse.py [--quick] [--seed S] [--saturating] [--out DIR]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tinygen import metrics
from tinygen.data import get_dataset
from tinygen.models import get_model
from tinygen.models import gan  # noqa: F401  (registers "gan")
from tinygen.train import sample, train
from tinygen.viz import marker_size

# Lin et al. (2018), PacGAN, Table 1: the GAN's modes covered and high-quality samples (%)
PUBLISHED = {"ring": (6.3, 98.2), "grid": (17.3, 94.8)}
SNAPSHOTS = 4


def train_with_snapshots(dataset: str, out: Path, steps: int, quick: bool, seed: int,
                         saturating: bool) -> tuple[list[tuple[int, np.ndarray]], object, float]:
    """Train in SNAPSHOTS legs (each resuming the last exactly) and sample after each; the first
    leg replaces the run a previous call left in ``out``."""
    snapshots = []
    start = time.perf_counter()
    run = None
    for i in range(1, SNAPSHOTS + 1):
        target = max(1, steps * i // SNAPSHOTS)
        run = train("gan", dataset, out=out, steps=target, quick=quick, seed=None if i > 1 else seed,
                    hparams={"saturating": saturating} if i == 1 else None, resume=i > 1, force=i == 1,
                    progress=False, outputs=False, sample_every=0)
        snapshots.append((target, sample(run, 1000)))
    return snapshots, run, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small networks, a few hundred steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--saturating", action="store_true", help="train G on the minimax loss")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = get_model("gan")
    steps = (spec.quick_hparams if args.quick else spec.default_hparams)["steps"]

    fig = Figure(figsize=(3 * SNAPSHOTS, 6.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, SNAPSHOTS)
    rows = []
    for row, dataset in enumerate(("ring", "grid")):
        snapshots, run, seconds = train_with_snapshots(dataset, out / f"gan_mode_collapse_{dataset}", steps,
                                                       args.quick, args.seed, args.saturating)
        measured = metrics.evaluate(dataset, sample(run, 2500))
        rows.append((dataset, measured, seconds))
        data = get_dataset(dataset)
        for ax, (at, points) in zip(axes[row], snapshots):
            real = data.x[:2000]
            ax.scatter(real[:, 0], real[:, 1], s=marker_size(len(real)), color="tab:blue", alpha=0.3, linewidths=0)
            ax.scatter(points[:, 0], points[:, 1], s=marker_size(len(points)), color="tab:orange", alpha=0.5,
                       linewidths=0)
            ax.set_title(f"{dataset}, step {at}", fontsize=10)
            span = 1.5 if dataset == "ring" else 5.5
            ax.set_xlim(-span, span)
            ax.set_ylim(-span, span)
            ax.set_aspect("equal")
            ax.set_xlabel("$x_1$", fontsize=9)
            ax.set_ylabel("$x_2$", fontsize=9)
            ax.tick_params(labelsize=8)
        last = axes[row][-1]
        last.set_title(f"{dataset}, step {snapshots[-1][0]}: {measured['modes_covered']}/{measured['n_modes']} "
                       f"modes, {measured['high_quality_pct']:.0f}% HQ", fontsize=10)
    loss = "minimax" if args.saturating else "non-saturating"
    fig.suptitle(f"vanilla GAN ({loss} generator loss, seed {args.seed}): samples (orange) over the data (blue)")
    fig.tight_layout()
    path = out / "gan_mode_collapse.png"
    fig.savefig(path, dpi=100)

    print(f"{'data':<6} {'modes':>7} {'HQ %':>7} {'KL':>7} {'time':>8}   published GAN (PacGAN, Table 1)")
    for dataset, m, seconds in rows:
        modes, hq = PUBLISHED[dataset]
        print(f"{dataset:<6} {m['modes_covered']:>3}/{m['n_modes']:<3} {m['high_quality_pct']:>7.1f} "
              f"{m['kl_to_uniform']:>7.3f} {seconds:>7.0f}s   {modes} modes, {hq}% HQ")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
