"""The ``tinygen`` command (also ``python -m tinygen``): list, train, sample, eval.

    tinygen list
    tinygen train MODEL [--dataset D] [--steps N | --epochs E] [--batch-size B] [--lr LR]
                        [--seed S] [--device cpu|gpu] [--out DIR] [--resume] [--quick]
                        [--hparam KEY=VALUE ...] [--quiet]
    tinygen sample MODEL --checkpoint FILE --n N --out FILE.npy|FILE.png [--seed S]
                         [--label L] [--condition KEY=VALUE ...]
    tinygen eval --dataset D --samples FILE.npy

A thin layer: it parses, calls ``tinygen.train`` and ``tinygen.metrics``, and prints. Every
error (an unknown model or dataset, a bad number, a missing file, a failed run) is reported as
one line on stderr with a non-zero exit status; set ``TINYGEN_TRACEBACK=1`` to see the Python
traceback instead.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from . import backend as B


# ---------------------------------------------------------------------------- arguments
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse would print the whole usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _number(cast: Callable[[str], Any], what: str, allow_zero: bool) -> Callable[[str], Any]:
    """An argparse type: ``cast(text)``, finite and > 0 (or >= 0), else a one-line error."""
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _number(int, "a positive integer", allow_zero=False)
_non_negative_int = _number(int, "a non-negative integer", allow_zero=True)
_positive_float = _number(float, "a positive finite number", allow_zero=False)


def _key_value(text: str) -> tuple[str, Any]:
    """KEY=VALUE, the value read as JSON when it parses (numbers, lists, true/false), else as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip().replace("-", "_"), value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinygen", description="Deep generative models from scratch: train, sample, evaluate.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("list", help="the registered models, with their papers and default datasets")

    train = commands.add_parser("train", help="train a model; writes checkpoint, samples, pictures, metrics")
    train.add_argument("model", metavar="MODEL")
    train.add_argument("--dataset", metavar="D", help="dataset name (default: the model's)")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int, metavar="N", help="total iterations of the run (generator updates for the adversarial models)")
    length.add_argument("--epochs", type=_positive_int, metavar="E", help="total epochs of the run")
    train.add_argument("--batch-size", type=_positive_int, metavar="B")
    train.add_argument("--lr", type=_positive_float, metavar="LR")
    train.add_argument("--seed", type=_non_negative_int, metavar="S")
    train.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    train.add_argument("--out", metavar="DIR", help="output folder (default: runs/MODEL-DATASET)")
    train.add_argument("--resume", action="store_true", help="continue the run in DIR up to the requested total")
    train.add_argument("--quick", action="store_true", help="a tiny run that finishes in seconds")
    train.add_argument("--hparam", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="override one of the model's hyperparameters (repeatable)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    sample = commands.add_parser("sample", help="draw samples from a trained checkpoint")
    sample.add_argument("model", metavar="MODEL")
    sample.add_argument("--checkpoint", required=True, metavar="FILE")
    sample.add_argument("--n", type=_positive_int, required=True, metavar="N")
    sample.add_argument("--out", required=True, metavar="FILE", help="FILE.npy (the array) or FILE.png (a picture)")
    sample.add_argument("--seed", type=_non_negative_int, default=0, metavar="S")
    sample.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    sample.add_argument("--label", type=_non_negative_int, metavar="L",
                        help="the class to draw (conditional models; default: labels drawn uniformly)")
    sample.add_argument("--condition", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                        help="another condition the model takes (repeatable)")

    evaluate = commands.add_parser("eval", help="measure samples against a dataset; prints JSON")
    evaluate.add_argument("--dataset", required=True, metavar="D")
    evaluate.add_argument("--samples", required=True, metavar="FILE.npy")
    return parser


# ----------------------------------------------------------------------------- commands
def _require_device(device: str) -> None:
    if device == "gpu" and not B.gpu_available():
        raise B.BackendError(f"--device gpu: {B.gpu_status()}")


def cmd_list(args: argparse.Namespace) -> int:
    from .models import get_model, list_models

    specs = [get_model(name) for name in list_models()]
    width = max(len(s.name) for s in specs)
    data_width = max(len(s.default_dataset) for s in specs)
    for s in specs:
        print(f"{s.name:<{width}}  {s.default_dataset:<{data_width}}  {s.paper}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .models import get_model
    from .train import train

    spec = get_model(args.model)
    _require_device(args.device)
    dataset = args.dataset or spec.default_dataset
    out = Path(args.out) if args.out else Path("runs") / f"{spec.name}-{dataset}"
    hparams = dict(args.hparam)
    run = train(spec, args.dataset, out=out, steps=args.steps, epochs=args.epochs, batch_size=args.batch_size,
                lr=args.lr, seed=args.seed, device=args.device, resume=args.resume, quick=args.quick,
                hparams=hparams, progress=not args.quiet)
    print(f"{spec.name} on {run.dataset.name}: {run.step} steps; outputs in {run.out}", file=sys.stderr)
    print(json.dumps(run.metrics, indent=2))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .models import get_model
    from .train import load_run, sample_with_conditions
    from .train.pictures import save_samples_picture

    spec = get_model(args.model)
    _require_device(args.device)
    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise ValueError(f"--out must end in .npy or .png, got {args.out!r}")
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint: no file at {args.checkpoint!r}")
    conditions = dict(args.condition)
    if args.label is not None:
        conditions["label"] = args.label
    run = load_run(args.checkpoint, device=args.device)
    if run.spec.name != spec.name:
        raise ValueError(f"{args.checkpoint} is a checkpoint of {run.spec.name!r}, not of {spec.name!r}")
    B.manual_seed(args.seed)
    samples, used = sample_with_conditions(run, args.n, **conditions)
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        B.np.save(out, samples)
        if "label" in used:  # beside the samples, as training writes samples_labels.npy
            B.np.save(out.with_name(out.stem + "_labels.npy"), used["label"])
    else:
        save_samples_picture(samples, run.dataset, out, title=f"{spec.name}, {args.n} samples")
    print(f"wrote {args.n} samples of {spec.name} (shape {tuple(samples.shape)}) to {out}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .data import list_datasets
    from .metrics import evaluate
    from .train.outputs import json_ready

    if args.dataset not in list_datasets():
        raise ValueError(f"unknown dataset {args.dataset!r}; the datasets are {', '.join(list_datasets())}")
    path = Path(args.samples)
    if not path.is_file():
        raise FileNotFoundError(f"--samples: no file at {args.samples!r}")
    try:
        samples = B.np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"--samples: {args.samples!r} is not a .npy array of numbers ({error})") from None
    if not isinstance(samples, B.np.ndarray):
        raise ValueError(f"--samples: {args.samples!r} holds several arrays (an .npz); give one .npy array")
    print(json.dumps(json_ready(evaluate(args.dataset, samples)), indent=2))
    return 0


COMMANDS = {"list": cmd_list, "train": cmd_train, "sample": cmd_sample, "eval": cmd_eval}


# ------------------------------------------------------------------------------- errors
def _one_line(error: BaseException) -> str:
    """The error as one line: its message (and notes), whitespace folded."""
    message = str(error) or type(error).__name__
    if isinstance(error, KeyError) and error.args:
        message = f"missing key {error.args[0]!r}"
    if not isinstance(error, (ValueError, OSError, ArithmeticError, B.BackendError)):
        message = f"{type(error).__name__}: {message}"
    for note in getattr(error, "__notes__", []):
        message += " " + note
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed as one line
        return int(exit_.code or 0)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"tinygen {args.command}: interrupted (the last checkpoint written is intact)", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the command line reports, it does not crash
        if os.environ.get("TINYGEN_TRACEBACK"):
            raise
        print(f"tinygen {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
