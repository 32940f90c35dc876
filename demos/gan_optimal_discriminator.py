"""The discriminator's target: for a fixed generator, the best D is
D*(x) = p_data(x) / (p_data(x) + p_g(x))  (Goodfellow et al., 2014, Proposition 1).

On the line, both densities are known: p_data is the 1-D mixture ``gmm-1d`` (peaks at -2, 0, 2,
std 0.25) and p_g is held fixed at N(0, 1.5^2), a "generator" that has not found the peaks. A
discriminator (the GAN's maxout network, tinygen/models/gan.py) is trained alone against it, by
the same update the GAN uses (``gan.train_discriminator``), and compared with D*:

* gan_optimal_discriminator.png: top, the two densities; bottom, D* and the trained D. D is close
  to 1 on the peaks, close to 0 between them where only p_g has mass, and drifts where neither
  has mass (no sample ever tells it what to do there; any value is optimal).
* printed: the mean |D - D*| weighted by (p_data + p_g)/2, i.e. where the samples fall.

    python demos/gan_optimal_discriminator.py [--quick] [--steps N] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import tinygen
from tinygen import divergences as dv
from tinygen import optim
from tinygen.data import get_dataset
from tinygen.models import gan

MEANS, STDS = [-2.0, 0.0, 2.0], [0.25, 0.25, 0.25]  # gmm-1d's components (tinygen/data/toys.py)
P_G_STD = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred discriminator steps")
    parser.add_argument("--steps", type=int, default=None, help="discriminator steps (default 3000, quick 200)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = args.steps or (200 if args.quick else 3000)

    tinygen.manual_seed(0)
    D = gan.init_weights_(gan.discriminator_mlp(1, 32, 2, 3), 0.3)  # (N, 1) -> (N, 1) logits
    opt_D = optim.Adam(D.parameters(), lr=1e-2 if args.quick else 3e-3, betas=(0.5, 0.999))
    data = get_dataset("gmm-1d").x  # (10000, 1)
    rng = np.random.default_rng(0)
    m = 128

    def real() -> tinygen.Tensor:
        return tinygen.Tensor(data[rng.integers(0, len(data), m)])

    def fake() -> tinygen.Tensor:  # the fixed generator: x ~ N(0, P_G_STD^2)
        return tinygen.Tensor((P_G_STD * rng.standard_normal((m, 1))).astype(np.float32))

    losses = gan.train_discriminator(D, opt_D, real, fake, steps)

    x = np.linspace(-4.5, 4.5, 901)
    p_data = dv.mixture_density_1d(x, MEANS, STDS)
    p_g = dv.mixture_density_1d(x, [0.0], [P_G_STD])
    d_star = gan.optimal_discriminator(p_data, p_g)
    with tinygen.no_grad():
        d = tinygen.sigmoid(D(tinygen.Tensor(x.reshape(-1, 1).astype(np.float32)))).numpy().ravel()
    weight = (p_data + p_g) / (p_data + p_g).sum()
    error = float((weight * np.abs(d - d_star)).sum())
    # V(D*, G) = -log 4 + 2 JS(p_data || p_g): the discriminator's loss -V tends to log 4 - 2 JS
    dx = x[1] - x[0]
    m_mix = (p_data + p_g) / 2
    js = 0.5 * np.sum(np.where(p_data > 0, p_data * np.log(np.maximum(p_data, 1e-300) / m_mix), 0) * dx) + \
        0.5 * np.sum(p_g * np.log(p_g / m_mix) * dx)
    best_loss = np.log(4) - 2 * js

    fig = Figure(figsize=(9, 7))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(x, p_data, label="p_data (gmm-1d)")
    top.plot(x, p_g, label=f"p_g = N(0, {P_G_STD}^2), fixed")
    top.set_ylabel("density")
    top.legend()
    bottom.plot(x, d_star, color="black", label="D*(x) = p_data / (p_data + p_g)")
    bottom.plot(x, d, color="tab:red", linestyle="--", label=f"trained D after {steps} steps")
    bottom.set_ylabel("D(x)")
    bottom.set_xlabel("x")
    bottom.set_ylim(-0.05, 1.05)
    bottom.legend(loc="lower left")
    fig.suptitle(f"the discriminator approaches D*: weighted mean |D - D*| = {error:.3f}")
    fig.tight_layout()
    path = out / "gan_optimal_discriminator.png"
    fig.savefig(path, dpi=100)

    print(f"{steps} discriminator steps: weighted mean |D - D*| = {error:.4f} "
          f"(a D of 1/2 everywhere: {float((weight * np.abs(0.5 - d_star)).sum()):.4f})")
    print(f"discriminator loss -V, mean of the last 100 steps: {np.mean(losses[-100:]):.4f}; "
          f"at D*, log 4 - 2 JS(p_data || p_g) = {best_loss:.4f}")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
