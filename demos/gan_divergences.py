"""Why the Earth Mover's distance, and not JS, KL or total variation, can guide a generator
(see tinygen/divergences.py; the example is the WGAN paper's parallel lines).

P_0 is the uniform distribution on the segment {0} x [0, 1]; P_theta is the same segment moved to
x = theta. For every theta != 0 the two do not overlap, and then

    JS = log 2,   KL = +inf,   TV = 1,   W = |theta|.

Only W changes as the segment moves: the other three are flat (their derivative in theta is 0)
everywhere except at theta = 0, so a generator that minimised them would get no gradient telling
it which way to go. The original GAN, against an optimal discriminator, minimises JS.

The picture, gan_divergences.png, has one panel per divergence: its closed form against theta (the
line) and the same divergence estimated from samples (the dots): JS, KL and TV from histograms of
the two point sets, W from the optimal matching of the points (tinygen.divergences).

    python demos/gan_divergences.py [--quick] [--out DIR]
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tinygen import divergences as dv


def estimates(thetas: np.ndarray, n: int, bins: int) -> dict[str, list[float]]:
    """Each divergence between n samples of P_0 and n of P_theta, for every theta.

    Both sets push the same noise z_1..z_n through g_theta(z) = (theta, z), as a generator with
    parameter theta would; at theta = 0 they coincide and every divergence is 0.
    """
    ranges = [(-1.05, 1.05), (0.0, 1.0)]
    x0 = dv.parallel_lines_sample(0.0, n, seed=0)
    found: dict[str, list[float]] = {"W": [], "JS": [], "KL": [], "TV": []}
    for theta in thetas:
        xt = dv.parallel_lines_sample(theta, n, seed=0)
        p0, pt = dv.histogram(x0, bins, ranges), dv.histogram(xt, bins, ranges)
        found["W"].append(dv.earth_movers_distance(x0, xt))
        found["JS"].append(dv.js_divergence(p0, pt))
        found["KL"].append(dv.kl_divergence(pt, p0))
        found["TV"].append(dv.total_variation(p0, pt))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer angles and samples")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    theta = np.linspace(-1, 1, 401)
    theta = np.sort(np.append(theta, 0.0))  # theta = 0 exactly, where JS, KL and TV drop to 0
    closed = {"W": dv.parallel_lines_wasserstein(theta), "JS": dv.parallel_lines_js(theta),
              "KL": dv.parallel_lines_kl(theta), "TV": dv.parallel_lines_total_variation(theta)}
    sampled_theta = np.linspace(-1, 1, 5 if args.quick else 9)
    # 40 bins on x are 0.0525 wide: a segment moved by more than that shares no bin with P_0
    sampled = estimates(sampled_theta, 60 if args.quick else 300, 40)

    names = {"W": "Earth Mover's distance W", "JS": "Jensen-Shannon JS", "KL": "KL(P_theta || P_0)",
             "TV": "total variation"}
    fig = Figure(figsize=(11, 8))
    FigureCanvasAgg(fig)
    kl_top = 1.5  # KL is +inf off 0: drawn at this height, marked as infinite
    for ax, key in zip(fig.subplots(2, 2).ravel(), ("W", "JS", "KL", "TV")):
        y = np.where(np.isinf(closed[key]), kl_top, closed[key])
        ax.plot(theta, y, color="tab:blue", label="closed form")
        dots = np.where(np.isinf(sampled[key]), kl_top, sampled[key])
        ax.plot(sampled_theta, dots, "o", color="tab:orange", label="from samples")
        if key == "KL":
            ax.text(0.5, kl_top * 0.9, "+inf for every theta != 0", ha="center", fontsize=9)
        ax.set_title(names[key])
        ax.set_xlabel("theta")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    fig.axes[0].legend()
    fig.suptitle("P_0 = (0, Z) vs P_theta = (theta, Z), Z ~ U[0, 1]: only W has a slope")
    fig.tight_layout()
    path = out / "gan_divergences.png"
    fig.savefig(path, dpi=100)

    print(f"{'theta':>7} {'W':>7} {'JS':>7} {'KL':>7} {'TV':>7}   (from samples; closed form: |theta|, "
          f"log 2 = {math.log(2):.4f}, inf, 1 off theta = 0)")
    for i, t in enumerate(sampled_theta):
        print(f"{t:>7.2f} " + " ".join(f"{sampled[k][i]:>7.4f}" for k in ("W", "JS", "KL", "TV")))
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
