"""Walking in DCGAN's latent space (tinygen/models/dcgan.py, tinygen/models/latent.py).

Trains a DCGAN on the 8x8 digits (or loads one with --checkpoint), then draws two pictures:

* interpolation.png: pairs of rows from one latent to another in 10 steps, linear interpolation
  (the chord) on top, spherical (the great circle) below. The demo prints the norm of the
  midpoints: the chord's sag towards the origin, where the generator saw few latents.
* arithmetic.png: the paper's vector arithmetic on averaged latents, with ink (mean pixel
  intensity) as the attribute. Samples are classified by the platform's classifier; the rows show
  the k heaviest-ink samples of digit A (the first three of them drawn), the k lightest of A and
  the k lightest of digit B, each followed (after a blank) by the image of their average latent;
  then mean(heavy A) - mean(light A) + mean(light B), and nine neighbours of it (uniform noise of
  scale 0.25, as in the paper). If the latent space keeps ink apart from class, the result is a
  heavy-ink B. The paper averaged three latents per concept; on the 8x8 digits three carry too
  much of their own class along (the result often changes class), so the demo averages --k 10.

    python demos/dcgan_latent_space.py [--quick] [--checkpoint C] [--digits A B] [--k K] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tinygen import backend as B
from tinygen import manual_seed
from tinygen.metrics import classifier
from tinygen.models import dcgan, latent  # noqa: F401  (importing dcgan registers it)
from tinygen.train import load_run, train
from tinygen.viz import sample_grid

PAIRS, STEPS = 5, 10


def interpolations(model, out: Path) -> None:
    rows = []
    midpoint_norms = {"lerp": [], "slerp": []}
    for _ in range(PAIRS):
        z0, z1 = B.to_host(model.sample_z(2).data)
        for method in ("lerp", "slerp"):
            path = latent.interpolate(z0, z1, STEPS, method)  # (STEPS, nz)
            rows.append(B.to_host(model.generate(path)))
            midpoint_norms[method].append(float(B.np.linalg.norm(getattr(latent, method)(z0, z1, 0.5))))
    sample_grid(B.np.concatenate(rows), out / "interpolation.png", nrow=STEPS,
                title="row pairs: linear (top), spherical (bottom) interpolation")
    typical = float(B.np.linalg.norm(B.to_host(model.sample_z(1000).data), axis=1).mean())
    print(f"latent norms: typical {typical:.2f}; midpoints of lerp {B.np.mean(midpoint_norms['lerp']):.2f}, "
          f"of slerp {B.np.mean(midpoint_norms['slerp']):.2f}")


def pick_groups(predicted, ink, a: int, b: int, k: int = 3):
    """Indices of the k heaviest and k lightest samples of class a and the k lightest of class b;
    when a or b has too few samples, the two most frequent classes stand in for them."""
    counts = B.np.bincount(predicted, minlength=10)
    if counts[a] < 2 * k or counts[b] < k or a == b:
        a, b = (int(c) for c in B.np.argsort(-counts)[:2])
    of_a = B.np.flatnonzero(predicted == a)
    of_a = of_a[B.np.argsort(ink[of_a])]  # lightest first
    of_b = B.np.flatnonzero(predicted == b)
    of_b = of_b[B.np.argsort(ink[of_b])]
    return a, b, of_a[-k:], of_a[:k], of_b[:k]


def arithmetic(model, out: Path, a: int, b: int, k: int, n: int) -> None:
    z = B.to_host(model.sample_z(n).data)  # (n, nz)
    images = B.to_host(model.generate(z))  # (n, 1, 8, 8)
    logits, _ = classifier.predict(classifier.get_classifier("digits"), images)
    predicted, ink = logits.argmax(axis=1), images.mean(axis=(1, 2, 3))
    a, b, heavy_a, light_a, light_b = pick_groups(predicted, ink, a, b, k)
    blank = B.np.zeros_like(images[:1])
    tiles = []
    for group in (heavy_a, light_a, light_b):
        tiles += [images[group[:3]], blank, B.to_host(model.generate(latent.average_latents(z[group])[None]))]
    y = latent.vector_arithmetic(z[heavy_a], z[light_a], z[light_b])  # (nz,)
    around = latent.jitter(y, 9)  # (9, nz)
    result = B.to_host(model.generate(B.np.concatenate([y[None], around])))  # (10, 1, 8, 8)
    tiles.append(result)
    sample_grid(B.np.concatenate(tiles), out / "arithmetic.png", nrow=5,
                title=f"heavy {a} - light {a} + light {b}, and 9 neighbours")
    result_logits, _ = classifier.predict(classifier.get_classifier("digits"), result)
    print(f"arithmetic: heavy {a} - light {a} + light {b}: classified as "
          f"{result_logits.argmax(axis=1).tolist()}; ink {result.mean():.3f} against light {b}s' "
          f"{ink[light_b].mean():.3f} and heavy {a}s' {ink[heavy_a].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny DCGAN, a few steps")
    parser.add_argument("--checkpoint", help="a DCGAN checkpoint.npz to load instead of training")
    parser.add_argument("--digits", type=int, nargs=2, default=[0, 7], metavar=("A", "B"),
                        help="the classes of the arithmetic (default: heavy 0 - light 0 + light 7)")
    parser.add_argument("--k", type=int, default=10, help="latents averaged per concept (the paper: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "dcgan_latent_space"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.checkpoint:
        run = load_run(args.checkpoint)
    else:
        # force: a second run of the demo replaces the first one's run
        run = train("dcgan", "digits", out=out / "run", quick=args.quick, progress=not args.quick, force=True)
    manual_seed(args.seed)
    interpolations(run.model, out)
    arithmetic(run.model, out, *args.digits, k=args.k, n=300 if args.quick else 3000)
    print(f"pictures in {out}: interpolation.png, arithmetic.png")


if __name__ == "__main__":
    main()
