"""The project's metadata tells one story: requirements.txt and pyproject.toml list the same
packages, and CI runs exactly the test command the README gives."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, list[str]]:
    """requirements.txt's lines, grouped under its '# runtime' and '# tests' comments."""
    groups: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line.startswith("# runtime"):
            current = "runtime"
        elif line.startswith("# tests"):
            current = "test"
        elif line and not line.startswith("#"):
            assert current is not None, f"requirements.txt: {line!r} comes before any group comment"
            groups.setdefault(current, []).append(line)
    return groups


def test_requirements_and_pyproject_list_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = _requirements()
    assert sorted(groups["runtime"]) == sorted(project["dependencies"])
    assert sorted(groups["test"]) == sorted(project["optional-dependencies"]["test"])


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    command = next(b.strip() for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines(), f"CI does not run the README's test command {command!r}"
