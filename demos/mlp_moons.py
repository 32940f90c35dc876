"""The engine at work: a small MLP learns to separate the two moons.

Every gradient here comes from tinygen's autograd (tinygen/autograd.py and tinygen/ops/); the
optimiser is Adam from tinygen/optim.py. The script saves the learned decision surface, the
loss curve and the computation graph of one loss evaluation.

    python demos/mlp_moons.py            # about two seconds
    python demos/mlp_moons.py --quick    # a smoke run for tests
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import backend as B
from tinygen import nn
from tinygen.data import two_moons
from tinygen.viz import marker_size


def make_model(hidden: int) -> nn.Module:
    # 2 -> hidden -> hidden -> 1 logit
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, 1))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out", help="output folder")
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    args = parser.parse_args(argv)
    steps = 50 if args.quick else args.steps
    args.out.mkdir(parents=True, exist_ok=True)

    tg.manual_seed(args.seed)
    x_np, y_np = two_moons(512, seed=args.seed, noise=0.1)
    x, y = tg.tensor(x_np), tg.tensor(y_np.astype(B.float32).reshape(-1, 1))
    model = make_model(args.hidden)
    opt = tg.optim.Adam(model.parameters(), lr=args.lr)

    losses, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % max(steps // 10, 1) == 0 or step == steps:
            print(f"step {step:5d}/{steps}  loss {losses[-1]:.4f}")
    with tg.no_grad():
        accuracy = float(((model(x).data > 0) == (y.data > 0.5)).mean())
    print(f"trained in {time.perf_counter() - start:.1f}s; training accuracy {accuracy:.3f}")

    # the decision surface: the model's probability on a grid over the data
    xs = B.np.linspace(-1.6, 2.6, 200, dtype=B.float32)
    ys = B.np.linspace(-1.1, 1.6, 150, dtype=B.float32)
    gx, gy = B.np.meshgrid(xs, ys)
    grid = tg.tensor(B.np.stack([gx.ravel(), gy.ravel()], 1))
    with tg.no_grad():
        prob = F.sigmoid(model(grid)).numpy().reshape(gx.shape)

    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)  # renders to files only: no window, no display needed
    ax0, ax1 = fig.subplots(1, 2)
    ax0.contourf(gx, gy, prob, levels=20, cmap="RdBu_r", alpha=0.8)
    ax0.contour(gx, gy, prob, levels=[0.5], colors="k")
    ax0.scatter(x_np[:, 0], x_np[:, 1], c=y_np, cmap="RdBu_r", edgecolors="k", linewidths=0.3,
                s=marker_size(len(x_np)))
    ax0.set(xlabel="$x_1$", ylabel="$x_2$", title=f"decision surface (accuracy {accuracy:.3f})")
    ax1.plot(range(1, steps + 1), losses)
    ax1.set_yscale("log")
    ax1.set(xlabel="step", ylabel="binary cross-entropy", title="training loss")
    fig.tight_layout()
    fig.savefig(args.out / "mlp_moons.png", dpi=100)

    # what backward walks: the graph of one loss evaluation
    graph_path = tg.viz.render_graph(F.binary_cross_entropy_with_logits(model(x), y),
                                     args.out / "mlp_moons_graph.png")
    print(f"wrote {args.out / 'mlp_moons.png'} and {graph_path}")
    return accuracy


if __name__ == "__main__":
    main()
