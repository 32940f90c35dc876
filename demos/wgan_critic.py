"""What the two Wasserstein critics learn: weight clipping (WGAN) against the gradient penalty (WGAN-GP).

Both models train on a 2-D mixture (the ring of eight Gaussians by default). The demo draws, for
each, the critic's value surface f(x) over the plane with the real data and the generator's
samples on top (critic_surfaces.png), and the critic's estimate of the Wasserstein distance,
E_x[f(x)] - E_z[f(G(z))], over training (wasserstein.png). A clipped critic (weights in
[-0.01, 0.01]) has a tiny range and a surface close to a ramp; the penalised one has slope about 1
and bends around the modes. WGAN-GP's estimate is in the data's units; WGAN's carries the unknown
Lipschitz constant of the clipped family, so its scale means nothing, only its trend.

    python demos/wgan_critic.py [--quick] [--dataset ring|grid] [--steps N] [--lambda-gp L] [--out DIR]

For example ``--steps 3000 --lambda-gp 0.1`` (about a minute and a quarter on one core): the
toy-data lambda, since the paper's lambda = 10 is far too stiff at the ring's scale (see
tinygen/models/wgan_gp.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import tinygen
from tinygen import backend as B
from tinygen.metrics import evaluate
from tinygen.models import wgan, wgan_gp  # noqa: F401  (registers both models)
from tinygen.train import read_log, sample, train
from tinygen.viz import marker_size

QUICK = {"steps": 40}


def critic_surface(model, low: float, high: float, n: int = 120):
    """f(x) on an n x n grid over [low, high]^2: (xs, ys, values (n, n))."""
    axis = B.np.linspace(low, high, n, dtype=B.np.float32)
    xs, ys = B.np.meshgrid(axis, axis)
    points = B.np.stack([xs.ravel(), ys.ravel()], axis=1)  # (n^2, 2)
    model.D.eval()
    with tinygen.no_grad():
        values = B.to_host(model.D(tinygen.Tensor(points)).data).reshape(n, n)
    return xs, ys, values


def moving_average(values: list[float], width: int) -> list[float]:
    width = max(1, min(width, len(values)))
    kernel = B.np.ones(width) / width
    return B.np.convolve(B.np.asarray(values), kernel, mode="valid").tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few steps on small networks; seconds")
    parser.add_argument("--dataset", default="ring", choices=["ring", "grid"])
    parser.add_argument("--steps", type=int, default=None, help="generator updates (default: each model's own)")
    parser.add_argument("--lambda-gp", type=float, default=None, help="WGAN-GP's lambda (default: the paper's 10; "
                        "0.1 suits the 2-D mixtures, see tinygen/models/wgan_gp.py)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "wgan_critic"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    steps = QUICK["steps"] if args.quick and args.steps is None else args.steps

    runs, samples, metrics = {}, {}, {}
    for name in ("wgan", "wgan-gp"):
        # the demo draws its own pictures: no per-run pictures or checkpoints beyond the last; a
        # second run of the demo replaces the first one's runs (force)
        hparams = {"lambda_gp": args.lambda_gp} if name == "wgan-gp" and args.lambda_gp is not None else {}
        runs[name] = run = train(name, args.dataset, out=out / name, steps=steps, quick=args.quick, hparams=hparams,
                                 progress=False, outputs=False, sample_every=0, force=True)
        samples[name] = sample(run, 2500)
        metrics[name] = evaluate(args.dataset, samples[name])
    data = runs["wgan-gp"].dataset.x
    low, high = float(data.min()) - 0.5, float(data.max()) + 0.5
    fig = Figure(figsize=(11, 5))
    FigureCanvasAgg(fig)  # renders to files only: no window, no display needed
    for ax, (name, run) in zip(fig.subplots(1, 2), runs.items()):
        xs, ys, values = critic_surface(run.model, low, high)
        filled = ax.contourf(xs, ys, values, levels=30, cmap="viridis")
        fig.colorbar(filled, ax=ax, shrink=0.8, label="f(x)")
        real, fake = data[:1000], samples[name][:1000]
        ax.scatter(real[:, 0], real[:, 1], s=marker_size(len(real)), c="white", linewidths=0, label="real data")
        ax.scatter(fake[:, 0], fake[:, 1], s=marker_size(len(fake)), c="tab:red", linewidths=0, label="samples")
        ax.set(xlim=(low, high), ylim=(low, high), aspect="equal", xlabel="$x_1$", ylabel="$x_2$",
               title=f"{name}: critic f(x), range {values.max() - values.min():.3g}")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "critic_surfaces.png", dpi=100)

    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, name in zip(axes, runs):
        estimate = [line["wasserstein"] for line in read_log(out / name / "losses.jsonl")]
        steps_done = range(1, len(estimate) + 1)
        ax.plot(steps_done, estimate, alpha=0.3, lw=0.5, label="each step")
        width = max(1, len(estimate) // 50)
        ax.plot(steps_done[width - 1:], moving_average(estimate, width), lw=1.5, label="moving average")
        ax.set(xlabel="generator step", ylabel="E[f(x)] - E[f(G(z))]", title=f"{name}: the Wasserstein estimate")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "wasserstein.png", dpi=100)

    for name, run in runs.items():
        m = metrics[name]
        print(f"{name} on {args.dataset} after {run.step} steps: modes covered {m['modes_covered']}/{m['n_modes']}, "
              f"high-quality samples {m['high_quality_pct']:.1f}%, KL to uniform {m['kl_to_uniform']:.3f}")
    print(f"pictures in {out}: critic_surfaces.png, wasserstein.png")


if __name__ == "__main__":
    main()
