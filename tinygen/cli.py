"""The ``tinygen`` command (also ``python -m tinygen``): list, train, sample, eval.

    tinygen list
    tinygen train MODEL [--dataset D] [--steps N | --epochs E] [--batch-size B] [--lr LR]
                        [--seed S] [--device cpu|gpu] [--out DIR] [--resume | --force] [--quick]
                        [--hparam KEY=VALUE ...] [--quiet]
    tinygen sample MODEL --checkpoint FILE --n N --out FILE.npy|FILE.png [--seed S]
                         [--label L] [--condition KEY=VALUE ...]
    tinygen eval --dataset D --samples FILE.npy

A thin layer: it parses, calls ``tinygen.train`` and ``tinygen.metrics``, and prints. Every
error (an unknown model or dataset, a bad number, a missing file, a failed run, a GPU asked for
with ``--device gpu`` or ``TINYGEN_BACKEND=cupy`` on a machine without one) is reported as one
line on stderr with a non-zero exit status; set ``TINYGEN_TRACEBACK=1`` to see the Python
traceback instead. ``train`` refuses an ``--out`` folder that already holds a run unless given
``--resume`` (continue it) or ``--force`` (replace it), and Ctrl-C says which checkpoint survived
and the command that continues from it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from . import backend as B
from .checkpoint import file_format


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
    """The parser of every command; each option's help says what it does and its default."""
    from .data import list_datasets
    from .models import list_models

    models = f"one of: {', '.join(list_models())}"
    datasets = f"one of: {', '.join(list_datasets())}"
    parser = _Parser(prog="tinygen", description="Deep generative models from scratch: train, sample, evaluate.",
                     epilog="Run 'tinygen COMMAND --help' for the options of a command.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("list", help="the registered models, with their papers and default datasets")

    train = commands.add_parser("train", help="train a model; writes checkpoint, samples, pictures, metrics")
    train.add_argument("model", metavar="MODEL", help=f"the model to train, {models} (required)")
    train.add_argument("--dataset", metavar="D", help=f"the data to train on, {datasets} "
                                                     f"(default: the model's, shown by 'tinygen list')")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int, metavar="N",
                        help="total iterations of the run, generator updates for the adversarial models "
                             "(default: the paper's, or a few with --quick)")
    length.add_argument("--epochs", type=_positive_int, metavar="E",
                        help="total passes over the data, instead of --steps (default: none, --steps decides)")
    train.add_argument("--batch-size", type=_positive_int, metavar="B",
                       help="examples per minibatch (default: the paper's, or the --quick one)")
    train.add_argument("--lr", type=_positive_float, metavar="LR",
                       help="learning rate (default: the paper's, or the --quick one)")
    train.add_argument("--seed", type=_non_negative_int, metavar="S",
                       help="seeds initialisation and shuffling (default: 0)")
    train.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                       help="where to train; gpu needs CuPy (default: cpu)")
    train.add_argument("--out", metavar="DIR", help="output folder (default: runs/MODEL-DATASET)")
    existing = train.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="continue the run in DIR from its checkpoint, up to the requested total "
                               "(default: off; a folder that holds a run is refused)")
    existing.add_argument("--force", action="store_true",
                          help="replace the run in DIR, deleting its checkpoint, log and outputs "
                               "(default: off; a folder that holds a run is refused)")
    train.add_argument("--quick", action="store_true",
                       help="small networks and few steps: a run that finishes in seconds (default: off)")
    train.add_argument("--hparam", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="override one of the model's hyperparameters, repeatable (default: none, the "
                            "paper's values)")
    train.add_argument("--quiet", action="store_true", help="no progress bar (default: off, a bar on stderr)")

    sample = commands.add_parser("sample", help="draw samples from a trained checkpoint")
    sample.add_argument("model", metavar="MODEL", help=f"the model the checkpoint holds, {models} (required)")
    sample.add_argument("--checkpoint", required=True, metavar="FILE",
                        help="the checkpoint.npz a training run wrote (required)")
    sample.add_argument("--n", type=_positive_int, required=True, metavar="N",
                        help="how many samples to draw (required)")
    sample.add_argument("--out", required=True, metavar="FILE",
                        help="FILE.npy (the array) or FILE.png (a picture) (required)")
    sample.add_argument("--seed", type=_non_negative_int, default=0, metavar="S",
                        help="seeds the draw (default: 0)")
    sample.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                        help="where to sample; gpu needs CuPy (default: cpu)")
    sample.add_argument("--label", type=_non_negative_int, metavar="L",
                        help="the class to draw, for conditional models (default: labels drawn uniformly)")
    sample.add_argument("--condition", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                        help="another condition the model takes, repeatable (default: none)")

    evaluate = commands.add_parser("eval", help="measure samples against a dataset; prints JSON")
    evaluate.add_argument("--dataset", required=True, metavar="D",
                          help=f"the data the samples imitate, {datasets} (required)")
    evaluate.add_argument("--samples", required=True, metavar="FILE.npy",
                          help="the samples, one .npy array such as a run's samples.npy (required)")
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
    from .train import RunExistsError, train
    from .train.run import CHECKPOINT

    spec = get_model(args.model)
    _require_device(args.device)
    dataset = args.dataset or spec.default_dataset
    out = Path(args.out) if args.out else Path("runs") / f"{spec.name}-{dataset}"
    hparams = dict(args.hparam)
    before = _file_identity(out / CHECKPOINT)
    try:
        run = train(spec, args.dataset, out=out, steps=args.steps, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed, device=args.device, resume=args.resume, force=args.force,
                    quick=args.quick, hparams=hparams, progress=not args.quiet)
    except RunExistsError as error:  # the library names resume=True and force=True; say the flags
        raise FileExistsError(f"--out {error.out} already holds a run ({error.found}); continue it with "
                              f"--resume or replace it with --force") from None
    except KeyboardInterrupt:
        print(f"tinygen train: interrupted; {_what_survived(args, out, before)}", file=sys.stderr)
        return 130
    print(f"{spec.name} on {run.dataset.name}: {run.step} steps; outputs in {run.out}", file=sys.stderr)
    print(json.dumps(run.metrics, indent=2))
    return 0


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(inode, modification time) of the file at ``path``: a checkpoint rewritten since has another."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def _what_survived(args: argparse.Namespace, out: Path, before: tuple[int, int] | None) -> str:
    """After Ctrl-C: which checkpoint ``out`` holds, and the command that continues from it."""
    from .train.run import CHECKPOINT, describe_checkpoint, describe_run

    path = out / CHECKPOINT
    checkpoint = describe_checkpoint(path)
    if checkpoint is None:
        again = " (start it again with --force)" if describe_run(out) else ""
        return f"no checkpoint was written yet, so there is nothing in {out} to resume{again}"
    at = f"{checkpoint['model']} at step {checkpoint['step']} of {checkpoint['steps']}"
    if not args.resume and _file_identity(path) == before:  # --force stopped before it replaced anything
        return f"this run wrote no checkpoint; the run already in {out} ({at}) is untouched"
    command = ["tinygen", "train", checkpoint["model"], "--out", str(out), "--resume"]
    for flag, value in (("--steps", args.steps), ("--epochs", args.epochs)):
        if value is not None:  # a resumed run otherwise keeps the total its checkpoint recorded
            command += [flag, str(value)]
    if args.device != "cpu":
        command += ["--device", args.device]
    if args.quiet:
        command.append("--quiet")
    return f"the checkpoint {path} ({at}) is intact; continue with: {shlex.join(command)}"


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
    if file_format(args.checkpoint) != "npz":
        raise ValueError(f"--checkpoint: {args.checkpoint!r} is not an .npz checkpoint written by tinygen "
                         f"(a training run writes one as DIR/checkpoint.npz)")
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
    kind = file_format(path)
    if kind == "npz":
        raise ValueError(f"--samples: {args.samples!r} holds several arrays (an .npz); give one .npy array")
    if kind != "npy":
        raise ValueError(f"--samples: {args.samples!r} is not a .npy array written by tinygen (a run's "
                         f"samples.npy, or 'tinygen sample --out FILE.npy')")
    try:
        samples = B.np.load(path, allow_pickle=False)
    except ValueError:  # the only .npy that numpy refuses without allow_pickle holds Python objects
        raise ValueError(f"--samples: {args.samples!r} is not a .npy array of numbers: it holds pickled "
                         f"Python objects, which tinygen does not load") from None
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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed as one line
        return int(exit_.code or 0)
    if args.command is None:  # bare "tinygen": the usage and the commands, not just "required"
        parser.print_help(sys.stderr)
        return 2
    try:
        problem = B.environment_problem()  # TINYGEN_BACKEND=cupy on a machine without a usable GPU
        if problem is not None:
            raise B.BackendError(problem)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # train says which checkpoint survived; the others write nothing partial
        print(f"tinygen {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the command line reports, it does not crash
        if os.environ.get("TINYGEN_TRACEBACK"):
            raise
        print(f"tinygen {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
