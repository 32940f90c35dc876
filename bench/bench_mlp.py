"""Benchmark: one training step of a 784-512-256-1 MLP (batch 64, BCE-with-logits, Adam).

tinygen and PyTorch CPU run side by side in this process with the same shapes and the same
initial weights; steps are interleaved so both see the same machine load. Prints the median
step time of each and their ratio (tinygen / torch; lower is better, target <= 1.2).

    python bench/bench_mlp.py [--steps 300] [--warmup 30]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import tinygen as tg
from tinygen import backend as B
from tinygen import nn
import tinygen.nn.functional as F

SIZES = (784, 512, 256, 1)
BATCH = 64


def build_tinygen() -> nn.Module:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()

    tg.manual_seed(0)
    rng = B.np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(B.float32)
    y = (rng.random((BATCH, 1)) < 0.5).astype(B.float32)

    model = build_tinygen()
    opt = tg.optim.Adam(model.parameters(), lr=1e-4)
    xt, yt = tg.tensor(x), tg.tensor(y)

    def tinygen_step() -> float:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    try:
        import torch
    except ImportError:
        torch = None

    steps = {"tinygen": tinygen_step}
    if torch is not None:
        layers = []
        for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(SIZES) - 2:
                layers.append(torch.nn.ReLU())
        tmodel = torch.nn.Sequential(*layers)
        # the same starting weights: tinygen's state_dict maps one-to-one onto PyTorch's
        tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-4)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        bce = torch.nn.functional.binary_cross_entropy_with_logits

        def torch_step() -> float:
            topt.zero_grad()
            loss = bce(tmodel(tx), ty)
            loss.backward()
            topt.step()
            return loss.item()

        steps["torch"] = torch_step

    times: dict[str, list[float]] = {k: [] for k in steps}
    losses: dict[str, float] = {}
    for i in range(args.warmup + args.steps):
        for name, step in steps.items():
            t0 = time.perf_counter()
            losses[name] = step()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)

    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {B.np.__version__}" + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ""))
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, Adam; {args.steps} timed steps after {args.warmup} warm-up")
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    for name in steps:
        print(f"  {name:8s} median step {med[name]:7.3f} ms   final loss {losses[name]:.6f}")
    if torch is not None:
        print(f"  ratio tinygen / torch = {med['tinygen'] / med['torch']:.2f}  (target <= 1.2)")
        # same weights, same data, same optimiser: the trajectories must agree closely
        print(f"  |loss difference| after {args.warmup + args.steps} steps = {abs(losses['tinygen'] - losses['torch']):.2e}")
    else:
        print("  (PyTorch is not installed: no reference run)")


if __name__ == "__main__":
    main()
