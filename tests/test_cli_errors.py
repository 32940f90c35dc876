"""What a user meets when something is wrong, or when they ask for help: one line each, no
traceback, naming the file or the setting; ``--help`` that says what every option does and its
default; a bare ``tinygen`` that shows the commands."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygen
import tinygen.models
from tinygen import backend as B
from tinygen import cli

REPO = Path(__file__).resolve().parents[1]


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code, err):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --------------------------------------------------------------------------------- GPU asked for
def test_tinygen_backend_cupy_without_a_gpu_is_the_same_one_line_as_device_gpu(capsys):
    problem = B.gpu_status()
    if problem is None:
        pytest.skip("this machine has CuPy and a GPU, so TINYGEN_BACKEND=cupy works here")
    env = {**os.environ, "TINYGEN_BACKEND": "cupy", "PYTHONPATH": str(REPO)}
    env.pop("TINYGEN_TRACEBACK", None)
    result = subprocess.run([sys.executable, "-m", "tinygen", "list"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == f"tinygen list: error: TINYGEN_BACKEND=cupy: {problem}"
    line = _one_line(*_run(capsys, "train", "pca", "--device", "gpu")[::2])
    assert line == f"tinygen train: error: --device gpu: {problem}"


def test_an_unusable_environment_backend_fails_on_first_use_not_on_import(monkeypatch, capsys):
    monkeypatch.setattr(B, "xp", B._Unusable("TINYGEN_BACKEND=cupy: no GPU here"))
    assert B.environment_problem() == "TINYGEN_BACKEND=cupy: no GPU here"
    for make in (lambda: tinygen.zeros(2), lambda: tinygen.nn.Linear(2, 2), lambda: B.xp.zeros(2)):
        with pytest.raises(B.BackendError, match="^TINYGEN_BACKEND=cupy: no GPU here$"):
            make()
    for argv in (["list"], ["eval", "--dataset", "ring", "--samples", "x.npy"]):
        code, out, err = _run(capsys, *argv)
        assert _one_line(code, err) == f"tinygen {argv[0]}: error: TINYGEN_BACKEND=cupy: no GPU here" and out == ""
    B.use("numpy")  # an explicit choice wins over the environment
    assert B.environment_problem() is None and tinygen.zeros(2).device == "cpu"


# ----------------------------------------------------------------------------- files and folders
def test_a_file_that_is_not_a_checkpoint_or_an_array_is_named_without_numpys_pickle_message(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "samples.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.ones(2))
    np.save(tmp_path / "one.npy", np.zeros((3, 2), np.float32))
    cases = [
        (["sample", "pca", "--checkpoint", tmp_path / "README.md", "--n", "3", "--out", tmp_path / "s.npy"],
         ["--checkpoint:", "README.md' is not an .npz checkpoint written by tinygen"]),
        (["sample", "pca", "--checkpoint", tmp_path / "one.npy", "--n", "3", "--out", tmp_path / "s.npy"],
         ["--checkpoint:", "one.npy' is not an .npz checkpoint"]),
        (["sample", "pca", "--checkpoint", tmp_path / "two.npz", "--n", "3", "--out", tmp_path / "s.npy"],
         ["two.npz is not a tinygen training checkpoint"]),
        (["eval", "--dataset", "ring", "--samples", tmp_path / "samples.png"],
         ["--samples:", "samples.png' is not a .npy array written by tinygen"]),
        (["eval", "--dataset", "ring", "--samples", tmp_path / "README.md"],
         ["README.md' is not a .npy array written by tinygen"]),
        (["eval", "--dataset", "ring", "--samples", tmp_path / "two.npz"], ["two.npz' holds several arrays"]),
    ]
    for argv, fragments in cases:
        line = _one_line(*_run(capsys, *argv)[::2])
        assert "pickle" not in line, line
        for fragment in fragments:
            assert fragment in line, line
    assert not (tmp_path / "s.npy").exists()


def test_an_out_that_is_a_file_is_called_a_file_not_a_folder(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# notes\n")
    line = _one_line(*_run(capsys, "train", "pca", "--out", tmp_path / "README.md", "--quiet")[::2])
    readme = str(tmp_path / "README.md")
    assert line == f"tinygen train: error: the output folder {readme!r} is a file, not a folder"
    line = _one_line(*_run(capsys, "train", "pca", "--out", tmp_path / "README.md" / "run", "--quiet")[::2])
    assert line.endswith(f"cannot be made: {readme!r} is a file, not a folder")
    assert "Errno" not in line
    assert (tmp_path / "README.md").read_text() == "# notes\n"


def test_resume_and_force_together_is_a_usage_error(capsys):
    line = _one_line(*_run(capsys, "train", "pca", "--resume", "--force")[::2])
    assert "--force: not allowed with argument --resume" in line


# ------------------------------------------------------------------------------------- help
def test_bare_tinygen_prints_the_usage_and_every_command(capsys):
    code, out, err = _run(capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: tinygen") and "required" not in err
    commands = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)][0]
    for choice in commands._choices_actions:
        assert f"{choice.dest}  " in err and choice.help in err
    assert "tinygen COMMAND --help" in err


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    (commands,) = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_every_option_of_every_command_says_what_it_does_and_its_default():
    parsers = _subparsers()
    assert set(parsers) == set(cli.COMMANDS)
    checked = 0
    for name, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            where = f"tinygen {name} {action.option_strings or action.metavar}"
            assert action.help and action.help != argparse.SUPPRESS and len(action.help) > 15, where
            required = action.required or not action.option_strings
            assert ("(required)" if required else "(default: ") in action.help, where
            checked += 1
    assert checked >= 20


def test_the_help_of_model_and_dataset_lists_the_registered_names():
    from tinygen.data import list_datasets

    parsers = _subparsers()
    helps = {(name, action.dest): action.help for name, parser in parsers.items() for action in parser._actions}
    for command in ("train", "sample"):
        assert helps[command, "model"].endswith(f"one of: {', '.join(tinygen.models.list_models())} (required)")
    for command in ("train", "eval"):
        assert f"one of: {', '.join(list_datasets())} (" in helps[command, "dataset"]


def test_help_shows_the_defaults_a_user_asks_about(capsys):
    _, out, _ = _run(capsys, "train", "--help")
    text = " ".join(out.split())
    for fragment in ("(default: runs/MODEL-DATASET)", "(default: cpu)", "(default: 0)", "--resume", "--force"):
        assert fragment in text, fragment
    _, out, _ = _run(capsys, "sample", "--help")
    assert "(default: 0)" in " ".join(out.split())
