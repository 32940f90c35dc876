"""An autoencoder as a generator, and why it is a weak one (see tinygen/models/autoencoder.py).

Trains the autoencoder on the 8x8 digits, fits a Gaussian (mean and full covariance) to the
codes of the training set, and decodes draws from it. Then it shows the gap:

* why_weak.png: held-out digits, their reconstructions, and samples, row by row. The
  reconstructions are digits; many samples are blends of several digits or no digit at all.
* codes.png: the codes of the training digits beside draws from the fitted Gaussian, both
  projected on the codes' two main axes. The codes form clumps and curved sheets; the Gaussian
  spreads its mass over them and over the empty space between them, which the decoder never saw.
* the image metrics (classes covered, classifier confidence, Frechet distance in classifier
  features) for reconstructions and for samples, against held-out real digits.

    python demos/autoencoder.py [--quick] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tinygen import backend as B
from tinygen import metrics
from tinygen.data import get_dataset
from tinygen.models.pca import PCA
from tinygen.train import sample, train
from tinygen.viz import sample_grid, scatter_2d


def _row(name: str, m: dict) -> str:
    return (f"  {name:<16} {m['classes_covered']:>3}/10   {m['mean_confidence']:>10.2f}   "
            f"{m['frechet_distance']:>8.1f}   {m['n_samples']:>5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small network, a few hundred steps")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "autoencoder"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)

    # force: a second run of the demo replaces the first one's run
    run = train("autoencoder", "digits", out=out / "run", quick=args.quick, progress=not args.quick, force=True)
    held_out = get_dataset("digits", split="test").x  # (360, 1, 8, 8)
    reconstructions = B.to_host(run.model.reconstruct(held_out))
    samples = sample(run, len(held_out))  # as many samples as held-out digits: comparable metrics

    rows = 16
    sample_grid(B.np.concatenate([held_out[:rows], reconstructions[:rows], samples[:rows]]), out / "why_weak.png",
                nrow=rows, title="held-out digits / their reconstructions / samples")

    codes = B.to_host(run.model.encode(run.model.x_train))  # (N, d): the set the Gaussian was fitted to
    axes = PCA(2).fit(codes)  # the two directions in which the codes vary most
    draws = B.to_host(run.model.sample_latents(len(codes)))
    scatter_2d(axes.transform(draws), out / "codes.png", real=axes.transform(codes),
               title="codes of the training digits (left), draws from the Gaussian fitted to them (right)",
               axis_labels=("first principal axis of the codes", "second principal axis"))

    from_reconstructions = metrics.image_metrics(reconstructions, "digits")
    from_samples = metrics.image_metrics(samples, "digits")
    print("                 classes   confidence   Frechet       n")
    print(_row("real (held out)", from_samples["reference"]))
    print(_row("reconstructions", from_reconstructions))
    print(_row("samples", from_samples))
    print(f"pictures in {out}: why_weak.png, codes.png, run/samples.png, run/losses.png")


if __name__ == "__main__":
    main()
