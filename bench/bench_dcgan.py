"""Benchmark: DCGAN-sized generator and discriminator, forward + backward (28x28 images, batch 64).

    G: z (100) -> Linear -> (128, 7, 7) -> ConvT(128, 64, 4, 2, 1) -> BN -> ReLU
                                        -> ConvT(64, 1, 4, 2, 1) -> Tanh          (N, 1, 28, 28)
    D: x -> Conv(1, 64, 4, 2, 1) -> LeakyReLU(0.2) -> Conv(64, 128, 4, 2, 1) -> BN -> LeakyReLU(0.2)
         -> Flatten -> Linear(6272, 1)                                             (N, 1) logits

tinygen and PyTorch CPU run side by side in one process with the same shapes, the same inputs and
the SAME weights (tinygen's state_dict copied into torch); steps are interleaved so both see the
same machine load. Three cases:

    D       D(x_real) -> BCE-with-logits against 1 -> backward
    G       G(z) -> backward of <u, G(z)> for a fixed random u
    GAN     fake = G(z); BCE(D(x_real), 1) + BCE(D(fake), 0) -> backward (reaches every parameter)

For each case: median step time of each framework and the ratio tinygen / torch (target <= 1.5),
and the peak memory of a step, measured for each framework in its own fresh subprocess (which
imports only that framework, with glibc's mmap threshold fixed at 64 KiB so that freed arrays
leave the resident set): the resident-set high-water mark is reset (Linux /proc/self/clear_refs,
value 5) after the models and inputs are built and one warm-up step has run, then read back
(VmHWM) after a few more steps; the difference is the step's peak working memory (ratio target
<= 1.5). Before timing, one step of each framework is compared: outputs and every
gradient, max abs difference printed.

    python bench/bench_dcgan.py [--steps 30] [--warmup 5] [--threads N] [--profile]
                                [--out bench/results_dcgan.md]

``--threads N`` gives both frameworks N threads (BLAS/OpenMP environment variables, set before
NumPy and PyTorch are imported, and torch.set_num_threads); by default each uses its own default
(the number of cores). ``--profile`` adds where tinygen's time goes in the GAN step, per op.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

BATCH, Z_DIM = 64, 100
CASES = ("D", "G", "GAN")


# ------------------------------------------------------------------------------- the networks
def tinygen_models() -> tuple[Any, Any]:
    import tinygen as tg
    from tinygen import nn

    tg.manual_seed(0)
    G = nn.Sequential(
        nn.Linear(Z_DIM, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7)),    # (N, 128, 7, 7)
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),  # (N, 64, 14, 14)
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())                    # (N, 1, 28, 28)
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),                     # (N, 64, 14, 14)
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),  # (N, 128, 7, 7)
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1))                          # (N, 1)
    nn.init.dcgan_init_(G)
    nn.init.dcgan_init_(D)
    return G, D


def torch_models(G_state: dict, D_state: dict) -> tuple[Any, Any]:
    import torch
    from torch import nn

    G = nn.Sequential(
        nn.Linear(Z_DIM, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    # the same weights: tinygen's state_dict maps one-to-one onto PyTorch's
    G.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in G_state.items()})
    D.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in D_state.items()})
    return G, D


def inputs() -> dict[str, Any]:
    import numpy

    rng = numpy.random.default_rng(1)
    return {"x": rng.uniform(-1, 1, (BATCH, 1, 28, 28)).astype(numpy.float32),
            "z": rng.standard_normal((BATCH, Z_DIM)).astype(numpy.float32),
            "u": rng.standard_normal((BATCH, 1, 28, 28)).astype(numpy.float32)}


# ------------------------------------------------------------------------------------ the steps
def tinygen_steps(G: Any, D: Any, data: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    import tinygen as tg
    import tinygen.nn.functional as F

    x, z, u = tg.tensor(data["x"]), tg.tensor(data["z"]), tg.tensor(data["u"])
    ones, zeros = tg.ones(BATCH, 1), tg.zeros(BATCH, 1)

    def zero_grads() -> None:
        G.zero_grad()
        D.zero_grad()

    def d_step() -> Any:
        zero_grads()
        logits = D(x)
        F.binary_cross_entropy_with_logits(logits, ones).backward()
        return logits

    def g_step() -> Any:
        zero_grads()
        fake = G(z)
        fake.backward(u)
        return fake

    def gan_step() -> Any:
        zero_grads()
        fake = G(z)
        loss = (F.binary_cross_entropy_with_logits(D(x), ones)
                + F.binary_cross_entropy_with_logits(D(fake), zeros))
        loss.backward()
        return loss

    return {"D": d_step, "G": g_step, "GAN": gan_step}


def torch_steps(G: Any, D: Any, data: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    import torch

    x, z, u = (torch.from_numpy(data[k]) for k in ("x", "z", "u"))
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def zero_grads() -> None:
        G.zero_grad(set_to_none=True)
        D.zero_grad(set_to_none=True)

    def d_step() -> Any:
        zero_grads()
        logits = D(x)
        bce(logits, ones).backward()
        return logits

    def g_step() -> Any:
        zero_grads()
        fake = G(z)
        fake.backward(u)
        return fake

    def gan_step() -> Any:
        zero_grads()
        fake = G(z)
        loss = bce(D(x), ones) + bce(D(fake), zeros)
        loss.backward()
        return loss

    return {"D": d_step, "G": g_step, "GAN": gan_step}


# ------------------------------------------------------------------------------- correctness
def compare(tg_models: tuple[Any, Any], th_models: tuple[Any, Any], tg_steps: dict, th_steps: dict) -> list[str]:
    """One step of each case in both frameworks: outputs and every gradient must agree."""
    lines = ["agreement with torch after one step (same weights, same inputs): max abs difference of the "
             "output, and the worst over all parameter gradients (with that gradient's largest |value|)"]
    for case in CASES:
        a = tg_steps[case]().numpy()
        b = th_steps[case]().detach().numpy()
        worst_name, worst, scale = "-", 0.0, 0.0
        for label, tg_net, th_net in zip(("G", "D"), tg_models, th_models):
            th_params = dict(th_net.named_parameters())
            for name, p in tg_net.named_parameters():
                q = th_params[name]
                if p.grad is None and q.grad is None:
                    continue
                diff = float(abs(p.grad.numpy() - q.grad.numpy()).max())
                if diff > worst:
                    worst_name, worst, scale = f"{label}.{name}", diff, float(abs(q.grad.numpy()).max())
        lines.append(f"  {case:4s} output {float(abs(a - b).max()):.1e}; gradients {worst:.1e} "
                     f"({worst_name}, whose largest |value| is {scale:.1e})")
    return lines


# ------------------------------------------------------------------------------------- memory
def _current_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_worker(framework: str, case: str, steps: int) -> None:
    """Run in a fresh subprocess: print the peak working memory (KiB) of ``steps`` steps."""
    G, D = tinygen_models()
    data = inputs()
    if framework == "torch":
        G, D = torch_models(G.state_dict(), D.state_dict())
        step = torch_steps(G, D, data)[case]
    else:
        step = tinygen_steps(G, D, data)[case]
    step()  # warm-up: lazily created caches (oneDNN primitives, ...) are not a step's working memory
    import gc
    gc.collect()
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    before = _current_rss_kib() if reset else _peak_rss_kib()
    for _ in range(steps):
        out = step()
        del out
    print(json.dumps({"peak_kib": _peak_rss_kib() - before, "method": "VmHWM reset" if reset else "ru_maxrss"}))


def measure_memory(framework: str, case: str, repeats: int = 3) -> tuple[float, str]:
    """Median peak working memory (MiB) over ``repeats`` fresh subprocesses."""
    values, method = [], ""
    # a fixed mmap threshold (which also turns off glibc's adaptive one): every array above 64 KiB
    # is its own mapping, returned to the OS when freed, so the resident set follows the live
    # arrays instead of keeping freed heap pages from the warm-up step
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    for _ in range(repeats):
        out = subprocess.run([sys.executable, __file__, "--memory-worker", framework, case],
                             capture_output=True, text=True, check=True, env=env)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        values.append(result["peak_kib"] / 1024)
        method = result["method"]
    return statistics.median(values), method


# ------------------------------------------------------------------------------------ profile
def profile_tinygen(step: Callable[[], Any], repeats: int = 10) -> list[str]:
    """Time spent per op class in a tinygen step: each forward (Function.__call__ while recording)
    and each backward method (inclusive of the ops it calls), averaged over ``repeats`` steps."""
    from collections import defaultdict

    from tinygen import autograd

    spent: dict[str, float] = defaultdict(float)
    original_call = autograd.Function.__call__

    def timed_call(self: Any, *inputs: Any) -> Any:
        if not autograd.is_grad_enabled():  # an op inside a backward: counted in that backward
            return original_call(self, *inputs)
        t0 = time.perf_counter()
        out = original_call(self, *inputs)
        spent[f"{type(self).__name__} forward"] += time.perf_counter() - t0
        return out

    def all_subclasses(cls: type) -> list[type]:
        found = []
        for sub in cls.__subclasses__():
            found += [sub] + all_subclasses(sub)
        return found

    originals = {}
    for cls in all_subclasses(autograd.Function):
        if "backward" in cls.__dict__:
            originals[cls] = cls.backward

            def timed_backward(self: Any, gy: Any, _original: Any = cls.backward) -> Any:
                t0 = time.perf_counter()
                out = _original(self, gy)
                spent[f"{type(self).__name__} backward"] += time.perf_counter() - t0
                return out
            cls.backward = timed_backward
    autograd.Function.__call__ = timed_call
    try:
        step()
        spent.clear()
        t0 = time.perf_counter()
        for _ in range(repeats):
            step()
        total = (time.perf_counter() - t0) / repeats
    finally:
        autograd.Function.__call__ = original_call
        for cls, method in originals.items():
            cls.backward = method
    lines = [f"where tinygen's time goes in one GAN step ({total * 1e3:.1f} ms, mean of {repeats}; "
             f"a backward includes the ops it calls):", "", "| op | ms per step | share |", "|----|----:|----:|"]
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])[:14]:
        lines.append(f"| {name} | {seconds / repeats * 1e3:.2f} | {100 * seconds / repeats / total:.0f}% |")
    return lines


# --------------------------------------------------------------------------------------- main
def machine() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name"))
    except Exception:
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default=None, help="write the results as Markdown to this file")
    parser.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--threads", type=int, default=None, help="threads for both frameworks")
    parser.add_argument("--profile", action="store_true", help="print where tinygen's time goes")
    parser.add_argument("--memory-worker", nargs=2, metavar=("FRAMEWORK", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None:  # before NumPy or PyTorch is imported (subprocesses inherit it)
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    if args.memory_worker:
        memory_worker(*args.memory_worker, steps=3)
        return

    import numpy
    G, D = tinygen_models()
    data = inputs()
    steps = {"tinygen": tinygen_steps(G, D, data)}
    agreement: list[str] = []
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        tG, tD = torch_models(G.state_dict(), D.state_dict())
        steps["torch"] = torch_steps(tG, tD, data)
        agreement = compare((G, D), (tG, tD), steps["tinygen"], steps["torch"])
        print("\n".join(agreement))

    times: dict[tuple[str, str], list[float]] = {}
    for case in CASES:
        for i in range(args.warmup + args.steps):
            for name, table in steps.items():
                t0 = time.perf_counter()
                table[case]()
                if i >= args.warmup:
                    times.setdefault((name, case), []).append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}

    memory: dict[tuple[str, str], float] = {}
    method = "not measured"
    if not args.no_memory:
        for case in CASES:
            for name in steps:
                memory[(name, case)], method = measure_memory(name, case)

    versions = f"python {platform.python_version()}, numpy {numpy.__version__}"
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", f"default = {os.cpu_count()}")
    versions += f" (BLAS threads: {blas_threads})"
    if torch is not None:
        versions += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    lines = [f"machine: {machine()}; {versions}", "",
             f"batch {BATCH}, 28x28; {args.steps} timed steps per case after {args.warmup} warm-up; "
             f"peak memory: {method}, median of 3 subprocesses", "",
             "| case | tinygen ms | torch ms | time ratio | tinygen MiB | torch MiB | memory ratio |",
             "|------|-----------:|---------:|-----------:|------------:|----------:|-------------:|"]
    for case in CASES:
        t_tg = med[("tinygen", case)]
        t_th = med.get(("torch", case))
        m_tg, m_th = memory.get(("tinygen", case)), memory.get(("torch", case))
        cells = [case, f"{t_tg:.1f}", f"{t_th:.1f}" if t_th else "-",
                 f"{t_tg / t_th:.2f}" if t_th else "-",
                 f"{m_tg:.1f}" if m_tg is not None else "-", f"{m_th:.1f}" if m_th is not None else "-",
                 f"{m_tg / m_th:.2f}" if m_tg is not None and m_th else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("targets: time ratio <= 1.5, memory ratio <= 1.5 (tinygen / torch; lower is better)")
    if args.profile:
        lines += [""] + profile_tinygen(steps["tinygen"]["GAN"])
    print("\n".join(lines))
    if args.out:
        command = "python bench/bench_dcgan.py " + " ".join(sys.argv[1:])
        with open(args.out, "a" if args.append else "w") as f:
            if not args.append:
                f.write("# DCGAN forward + backward: tinygen vs PyTorch CPU\n\n"
                        "How to read this: see the docstring of bench/bench_dcgan.py.\n")
            f.write(f"\n## `{command}`\n\n```\n" + "\n".join(agreement) + "\n```\n\n" + "\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
