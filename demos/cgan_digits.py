"""Digits on demand: a conditional GAN draws ten of each class (tinygen/models/cgan.py).

Trains the conditional GAN on the 8x8 digits (or loads one with --checkpoint) and draws a 10 x 10
grid, row r holding ten samples asked for with label r, each from its own noise. It then asks the
platform's classifier what it sees in 1,000 samples, 100 per label, and prints how often that
agrees with the label asked for (label_accuracy), beside the classifier's accuracy on held-out
real digits.

    python demos/cgan_digits.py [--quick] [--checkpoint C] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tinygen import backend as B
from tinygen import manual_seed, metrics
from tinygen.models import cgan  # noqa: F401  (importing it registers "cgan")
from tinygen.train import load_run, sample, train
from tinygen.viz import sample_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny conditional GAN, a few steps")
    parser.add_argument("--checkpoint", help="a cgan checkpoint.npz to load instead of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "cgan_digits"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.checkpoint:
        run = load_run(args.checkpoint)
    else:
        # force: a second run of the demo replaces the first one's run
        run = train("cgan", "digits", out=out / "run", quick=args.quick, progress=not args.quick, force=True)
    manual_seed(args.seed)
    rows = B.np.repeat(B.np.arange(10, dtype=B.np.int64), 10)  # 0 x 10, 1 x 10, ..., 9 x 10
    grid = sample(run, 100, label=rows)  # (100, 1, 8, 8)
    sample_grid(grid, out / "grid.png", nrow=10, title=f"cgan, step {run.step}: row r asked for label r")

    labels = B.np.repeat(B.np.arange(10, dtype=B.np.int64), 100)
    measured = metrics.image_metrics(sample(run, len(labels), label=labels), "digits", labels=labels)
    print(f"label accuracy {measured['label_accuracy']:.3f} (the classifier on real digits: "
          f"{measured['reference']['label_accuracy']:.3f}); classes covered {measured['classes_covered']}/10")
    print(f"pictures in {out}: grid.png")


if __name__ == "__main__":
    main()
