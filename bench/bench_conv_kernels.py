"""Time tinygen's DCGAN-sized convolution and batch-norm kernels against PyTorch, single-threaded.

Sizes: the DCGAN on 8x8 digits (tinygen/models/dcgan.py, ngf = ndf = 64), batch 64, float32.
Each op runs forward + backward; tinygen and PyTorch alternate in blocks, and the medians of the
blocks are printed with their ratio, the thread settings and the machine load (os.getloadavg).
Run:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/bench_conv_kernels.py [blocks]
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import tinygen
import tinygen.nn.functional as F

BATCH = 64
# (name, kind, input shape, weight shape)
CASES = [
    ("D conv 1->64", "conv", (BATCH, 1, 8, 8), (64, 1, 4, 4)),
    ("D conv 64->128", "conv", (BATCH, 64, 4, 4), (128, 64, 4, 4)),
    ("G convT 128->64", "convT", (BATCH, 128, 2, 2), (128, 64, 4, 4)),
    ("G convT 64->1", "convT", (BATCH, 64, 4, 4), (64, 1, 4, 4)),
    ("BN2d 128 @2x2", "bn", (BATCH, 128, 2, 2), (128,)),
    ("BN2d 64 @4x4", "bn", (BATCH, 64, 4, 4), (64,)),
]


def tinygen_step(kind: str, x: np.ndarray, w: np.ndarray):
    xt = tinygen.tensor(x, requires_grad=True)
    wt = tinygen.tensor(w, requires_grad=True)

    def run() -> None:
        xt.grad = wt.grad = None
        if kind == "conv":
            y = F.conv2d(xt, wt, None, 2, 1)
        elif kind == "convT":
            y = F.conv_transpose2d(xt, wt, None, 2, 1)
        else:
            y = F.batch_norm(xt, None, None, wt, tinygen.tensor(np.zeros_like(w)), True)
        y.backward(tinygen.tensor(np.ones(y.shape, dtype=np.float32)))
    return run


def torch_step(kind: str, x: np.ndarray, w: np.ndarray):
    import torch
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bias = torch.zeros_like(wt)

    def run() -> None:
        xt.grad = wt.grad = None
        if kind == "conv":
            y = torch.nn.functional.conv2d(xt, wt, None, 2, 1)
        elif kind == "convT":
            y = torch.nn.functional.conv_transpose2d(xt, wt, None, 2, 1)
        else:
            y = torch.nn.functional.batch_norm(xt, None, None, wt, bias, True)
        y.backward(torch.ones_like(y))
    return run


def block_ms(run, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - start) / repeats * 1e3


def main(blocks: int = 7, repeats: int = 20) -> None:
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
          + (f" torch={torch.get_num_threads()}" if torch else " (torch not installed)"))
    print(f"load before: {os.getloadavg()}")
    rng = np.random.default_rng(0)
    for name, kind, x_shape, w_shape in CASES:
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = (rng.standard_normal(w_shape) * 0.1 + (1.0 if kind == "bn" else 0.0)).astype(np.float32)
        runs = {"tinygen": tinygen_step(kind, x, w)}
        if torch is not None:
            runs["torch"] = torch_step(kind, x, w)
        times = {key: [] for key in runs}
        for run in runs.values():
            run()  # warm up
        for _ in range(blocks):  # alternate, so load changes hit both sides alike
            for key, run in runs.items():
                times[key].append(block_ms(run, repeats))
        med = {key: float(np.median(v)) for key, v in times.items()}
        line = f"{name:18s} fwd+bwd  tinygen {med['tinygen']:.3f} ms"
        if "torch" in med:
            line += f"  torch {med['torch']:.3f} ms  ratio {med['tinygen'] / med['torch']:.2f}x"
        print(line)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
