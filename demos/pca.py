"""PCA as a generator (Pearson, 1901): fit by SVD, draw Gaussian latents with the fitted
variances, project them back. See tinygen/models/pca.py for the math.

Two runs show what it can and cannot do:

* digits: the mean digit and the principal directions (components.png) and samples
  (digits/samples.png): smooth, ghostly blends of several digits at once;
* the ring of eight Gaussians: one elliptical cloud over the whole ring (ring/samples.png), so
  almost no sample lies near any of the eight modes.

    python demos/pca.py [--quick] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tinygen import backend as B
from tinygen.train import train
from tinygen.viz import sample_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer pictures; finishes in seconds")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "pca"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)

    # force: a second run of the demo replaces the first one's runs
    digits = train("pca", "digits", out=out / "digits", quick=args.quick, progress=False, force=True)
    pca = digits.model
    # the mean and the first 15 directions, each stretched to [0, 1] to be seen as a picture
    pictures = B.np.concatenate([B.to_host(pca.mean_)[None], B.to_host(pca.components_[:15])])
    low, high = pictures.min(axis=1, keepdims=True), pictures.max(axis=1, keepdims=True)
    sample_grid(((pictures - low) / (high - low)).reshape(-1, 1, 8, 8), out / "components.png", nrow=8,
                title="the mean digit, then the principal directions 1-15")

    ring = train("pca", "ring", out=out / "ring", quick=args.quick, progress=False, force=True)

    m, r = digits.metrics, digits.metrics["reference"]
    kept = float(B.to_host(pca.explained_variance_ratio_).sum())
    print(f"digits: {pca.components_.shape[0]} components keep {100 * kept:.1f}% of the variance")
    print(f"  samples:   classes covered {m['classes_covered']}/10, classifier confidence "
          f"{m['mean_confidence']:.2f}, Frechet distance {m['frechet_distance']:.1f}")
    print(f"  real data: classes covered {r['classes_covered']}/10, classifier confidence "
          f"{r['mean_confidence']:.2f}, Frechet distance {r['frechet_distance']:.1f}")
    m, r = ring.metrics, ring.metrics["reference"]
    print(f"ring: modes covered {m['modes_covered']}/8, high-quality samples {m['high_quality_pct']:.1f}% "
          f"(real data: {r['modes_covered']}/8, {r['high_quality_pct']:.1f}%)")
    print(f"pictures in {out}: components.png, digits/samples.png, ring/samples.png")


if __name__ == "__main__":
    main()
