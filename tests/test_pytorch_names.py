"""docs/pytorch_names.md is true: every name it marks 'yes' exists in tinygen, every 'no' does not."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import tinygen

PAGE = Path(__file__).resolve().parents[1] / "docs" / "pytorch_names.md"
ROW = re.compile(r"^\| `([^`]+)` \| (yes|no) \|(.*)\|$")


def _rows() -> list[tuple[str, str, str]]:
    return [m.groups() for line in PAGE.read_text().splitlines() if (m := ROW.match(line))]


def _resolve(name: str) -> bool:
    """Whether a dotted name (``tinygen.nn.MSELoss``, ``Tensor.chunk``) exists."""
    parts = name.split(".")
    obj, rest = (tinygen.Tensor, parts[1:]) if parts[0] == "Tensor" else (tinygen, parts[1:])
    assert parts[0] in ("Tensor", "tinygen"), f"{name}: names start with 'tinygen.' or 'Tensor.'"
    for i, part in enumerate(rest):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        try:  # a submodule not imported by its package (tinygen.nn.utils)
            obj = importlib.import_module(".".join(["tinygen", *rest[:i + 1]]))
        except ImportError:
            return False
    return True


def test_the_page_lists_names():
    rows = _rows()
    assert len(rows) > 60 and {status for _, status, _ in rows} == {"yes", "no"}


@pytest.mark.parametrize("name,status,notes", _rows(), ids=[r[0] for r in _rows()])
def test_name_exists_exactly_when_the_page_says_so(name, status, notes):
    if status == "no":
        assert notes.strip(), f"{name}: a name left out must say why"
    assert _resolve(name) == (status == "yes"), f"docs/pytorch_names.md says {name}: {status}"
