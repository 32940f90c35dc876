"""GPU check: the GPU half of the test suite on CuPy, and what the GPU buys for two training steps.

On a machine with CuPy and a CUDA GPU this
  1. runs every test parametrised over the ``backend`` fixture on CuPy (``pytest -k cupy``),
  2. times one training step of the MLP of bench_mlp.py (784-512-256-1, batch 64, Adam) and of the
     DCGAN of bench_dcgan.py (D on real and fake images, then G; Adam for both; batch 64, 28x28)
     on the CPU (NumPy) and on the GPU (CuPy): median of ``--steps`` after ``--warmup``,
  3. writes the machine, the command, the date, the tests' outcome and the speed-ups (CPU time /
     GPU time) to ``bench/results_gpu.md``.
It takes under five minutes on one GPU: the tests are cut off at ``--test-timeout`` seconds (and
the report says so). Without CuPy or a GPU it prints one line saying why and exits with status 1.

    python bench/gpu_check.py [--steps 20] [--warmup 5] [--test-timeout 180] [--out bench/results_gpu.md]

``--standin`` is a dry run of this script on a machine without a GPU: the stand-in
(tinygen/standin.py, NumPy underneath) plays the GPU and the report is printed, not written.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import backend as B

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import bench_dcgan  # noqa: E402  (the networks of the DCGAN benchmark)
import bench_mlp  # noqa: E402


# ------------------------------------------------------------------------ the two training steps
def mlp_step() -> Callable[[], float]:
    """One Adam step of bench_mlp's MLP on a fixed batch, built on the active backend."""
    tg.manual_seed(0)
    model = bench_mlp.build_tinygen()
    opt = tg.optim.Adam(model.parameters(), lr=1e-4)
    x = tg.randn(bench_mlp.BATCH, bench_mlp.SIZES[0])
    y = (tg.rand(bench_mlp.BATCH, 1) < 0.5).float()

    def step() -> float:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # .item() waits for the GPU, so the time is the step's
    return step


def dcgan_step() -> Callable[[], float]:
    """One DCGAN iteration: D on real and fake images, then G (non-saturating loss), Adam for both."""
    G, D = bench_dcgan.tinygen_models()
    opt_G = tg.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = tg.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    n = bench_dcgan.BATCH
    x, ones, zeros = tg.rand(n, 1, 28, 28) * 2 - 1, tg.ones(n, 1), tg.zeros(n, 1)

    def step() -> float:
        fake = G(tg.randn(n, bench_dcgan.Z_DIM))
        d_loss = (F.binary_cross_entropy_with_logits(D(x), ones)
                  + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros))
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
        return g_loss.item()
    return step


def median_ms(make_step: Callable[[], Callable[[], float]], backend: str, steps: int, warmup: int) -> float:
    B.use(backend)
    try:
        step = make_step()
        times = []
        for i in range(warmup + steps):
            start = time.perf_counter()
            step()
            if i >= warmup:
                times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3
    finally:
        B.use("numpy")


# ------------------------------------------------------------------------------------ the tests
def run_gpu_tests(name: str, timeout: int) -> tuple[str, str]:
    """(the command, pytest's summary line) for the backend-parametrised tests on ``name``."""
    command = [sys.executable, "-m", "pytest", "tests", "-k", name, "-q", "-p", "no:cacheprovider",
               "-o", "addopts=-m 'not slow'", "-rfE"]
    shown = " ".join(["python", *command[1:]])
    try:
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return shown, f"stopped after {timeout} s (raise --test-timeout)"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return shown, "\n".join(failures + lines[-1:])


def machine(gpu_name: str) -> str:
    cpu, gpu = platform.processor() or platform.machine(), B.module_for("gpu")
    return (f"{gpu_name}; CPU {cpu}, {os.cpu_count()} cores; python {platform.python_version()}, "
            f"numpy {B.np.__version__}, {gpu.__name__} {getattr(gpu, '__version__', '')}".rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--test-timeout", type=int, default=180)
    parser.add_argument("--out", default=str(REPO / "bench" / "results_gpu.md"))
    parser.add_argument("--standin", action="store_true", help="dry run on the stand-in GPU (prints the report)")
    args = parser.parse_args()

    if args.standin:
        B.use("standin")
        B.use("numpy")
        gpu, gpu_name = "standin", "stand-in GPU (NumPy; a dry run, the times mean nothing)"
    elif B.gpu_status() is not None:
        print(f"gpu_check: nothing to check here: {B.gpu_status()}", file=sys.stderr)
        return 1
    else:
        gpu = "cupy"
        gpu_name = B._cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()

    started = time.perf_counter()
    test_command, test_summary = run_gpu_tests(gpu, args.test_timeout)
    rows = []
    for label, make_step in (("MLP 784-512-256-1, batch 64", mlp_step), ("DCGAN, batch 64, 28x28", dcgan_step)):
        cpu_ms = median_ms(make_step, "numpy", args.steps, args.warmup)
        gpu_ms = median_ms(make_step, gpu, args.steps, args.warmup)
        rows.append(f"| {label} | {cpu_ms:.2f} | {gpu_ms:.2f} | {cpu_ms / gpu_ms:.2f} |")

    report = "\n".join([
        "# GPU check: the GPU half of the suite on CuPy, and the speed-up of two training steps", "",
        "How to read this: see the docstring of bench/gpu_check.py.", "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {machine(gpu_name)}",
        f"- command: `python bench/gpu_check.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- whole check: {time.perf_counter() - started:.0f} s", "",
        "## Tests on the GPU", "", f"`{test_command}`", "", "```", test_summary, "```", "",
        f"## Training steps: median of {args.steps} after {args.warmup} warm-up", "",
        "| step | CPU ms | GPU ms | speed-up (CPU / GPU) |", "|---|---:|---:|---:|", *rows, ""])
    if not args.standin:
        Path(args.out).write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
