"""Every snippet in the README runs: the Python blocks as they are, and each `tinygen ...` line of
the command-line block through the CLI, in order, in a fresh folder."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tinygen import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def test_the_readme_has_the_snippets_this_file_runs():
    assert len(PYTHON_BLOCKS) >= 2
    assert any(line.startswith("tinygen ") for block in BASH_BLOCKS for line in block.splitlines())


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_snippet_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # snippets that write (runs/...) write here
    exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index}", "exec"), {"__name__": "__readme__"})


def _commands() -> list[str]:
    """The README's `tinygen ...` lines, comments removed, in the order they appear."""
    lines = [line.split("  #", 1)[0].strip() for block in BASH_BLOCKS for line in block.splitlines()]
    return [line for line in lines if line.startswith("tinygen ")]


def test_command_line_snippets_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for line in _commands():
        code = cli.main(shlex.split(line)[1:])
        assert code in (0, None), f"README command failed: {line}\n{capsys.readouterr().err}"
    assert (tmp_path / "threes.npy").is_file() and (tmp_path / "threes_labels.npy").is_file()
