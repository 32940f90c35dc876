"""Why the GAN paper trains its generator on -log D(G(z)) and not on log(1 - D(G(z))): as the
discriminator gets better, the minimax loss's gradient vanishes.

In the logit a = logit D(G(z)), the two generator losses have the derivatives

    d/da log(1 - sigmoid(a)) = -sigmoid(a) = -D(G(z))          (minimax, "saturating")
    d/da -log sigmoid(a)     = -(1 - sigmoid(a)) = -(1 - D(G(z)))   (non-saturating)

A good discriminator pushes D(G(z)) towards 0, which kills the first and leaves the second near 1.

The experiment (as in Arjovsky and Bottou, 2017, "Towards principled methods for training
generative adversarial networks", Figure 2): take the GAN on the ring (tinygen/models/gan.py)
with its generator fixed at initialisation, train only the discriminator, and every few steps
measure the norm of the generator's gradient, ||d loss_G / d theta_G||, under each loss, on one
fixed batch of noise. gan_vanishing_gradients.png plots, against the discriminator's training
steps, both norms, their ratio and the mean D(G(z)) (log scales).

What it shows: at the start D(G(z)) = 1/2 and the two gradients are equal. As D learns to reject
the generator's samples, the minimax gradient falls behind the non-saturating one by roughly the
factor D(G(z)) / (1 - D(G(z))) per sample, so their ratio follows the mean D(G(z)) down: in the
default run it is 10 to 100 times smaller once D(G(z)) is below 0.01, and 1,000 times smaller
where D(G(z)) dips to 1e-4. The absolute norms both grow at first, because D also becomes steeper (its
slope multiplies both gradients); the minimax one goes to 0 only as D(G(z)) itself does. Training
the whole GAN on the minimax loss shows the same stall: in ``tinygen train gan --hparam
saturating=true`` on the ring (seed 0) the generator's loss, mean log(1 - D(G(z))), is about
-1e-4 at step 1,000, and the run ends on one mode.

    python demos/gan_vanishing_gradients.py [--quick] [--steps N] [--lr_D LR] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import tinygen
from tinygen.data import get_dataset
from tinygen.models import get_model
from tinygen.models import gan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small networks, few steps")
    parser.add_argument("--steps", type=int, default=None, help="discriminator steps (default 1500, quick 40)")
    parser.add_argument("--lr_D", type=float, default=None,
                        help="the discriminator's Adam learning rate (default: the GAN's, 1e-3)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = args.steps or (40 if args.quick else 1500)
    every = max(1, steps // 50)

    spec = get_model("gan")
    hparams = {**spec.default_hparams, **(spec.quick_hparams if args.quick else {})}
    data = get_dataset("ring")
    tinygen.manual_seed(0)
    model = spec.build(hparams, data)
    if args.lr_D is not None:
        model.opt_D.lr = args.lr_D
    m = hparams["batch_size"]
    rng = np.random.default_rng(0)
    z_fixed = model.noise(500)  # one batch of noise for every measurement

    def real() -> tinygen.Tensor:
        return tinygen.Tensor(data.x[rng.integers(0, len(data.x), m)])

    def fake() -> tinygen.Tensor:  # the fixed generator's samples
        with tinygen.no_grad():
            return model.G(model.noise(m))

    measured_at, norms, d_fake = [], {True: [], False: []}, []
    for step in range(steps + 1):
        if step % every == 0:
            measured_at.append(step)
            for saturating in (True, False):
                norms[saturating].append(gan.generator_gradient_norm(model.G, model.D, z_fixed, saturating))
            with tinygen.no_grad():
                d_fake.append(float(tinygen.sigmoid(model.D(model.G(z_fixed))).data.mean()))
        if step < steps:
            gan.train_discriminator(model.D, model.opt_D, real, fake, 1)

    fig = Figure(figsize=(14, 4.5))
    FigureCanvasAgg(fig)
    left, middle, right = fig.subplots(1, 3)
    left.semilogy(measured_at, norms[True], label="minimax: log(1 - D(G(z)))")
    left.semilogy(measured_at, norms[False], label="non-saturating: -log D(G(z))")
    left.set_ylabel("||gradient of the generator's loss||")
    left.legend()
    ratio = np.array(norms[True]) / np.array(norms[False])
    middle.semilogy(measured_at, ratio, color="tab:purple")
    middle.set_ylabel("minimax / non-saturating gradient norm")
    right.semilogy(measured_at, d_fake, color="tab:green")
    right.set_ylabel("mean D(G(z))")
    for ax in (left, middle, right):
        ax.set_xlabel("discriminator steps (generator fixed)")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("as the discriminator improves, the minimax generator loss stops teaching")
    fig.tight_layout()
    path = out / "gan_vanishing_gradients.png"
    fig.savefig(path, dpi=100)

    print(f"{'D steps':>8} {'mean D(G(z))':>13} {'||grad|| minimax':>17} {'||grad|| non-sat.':>18} {'ratio':>8}")
    for i in sorted({0, len(measured_at) // 4, len(measured_at) // 2, len(measured_at) - 1}):
        print(f"{measured_at[i]:>8} {d_fake[i]:>13.3g} {norms[True][i]:>17.3g} {norms[False][i]:>18.3g} "
              f"{ratio[i]:>8.3g}")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
