"""The README's reading order is true: it lists every library file, and each file imports only
files listed before it (so a reader who follows the order never meets a name from a later
chapter). Package ``__init__`` files only gather their chapter and are not listed; importing a
package counts as importing every file the package imports."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "tinygen"


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(LIBRARY.rglob("*.py"))}
PACKAGES = {m for m, p in MODULES.items() if p.name == "__init__.py"}


def _imports(module: str) -> set[str]:
    """Every tinygen module that ``module`` imports, anywhere in the file (lazy imports too)."""
    path = MODULES[module]
    package = module if module in PACKAGES else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{a.name}" for a in node.names} & set(MODULES)
            found |= submodules or ({target} & set(MODULES))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & set(MODULES)
    found.discard(module)
    return found


def _files_used(module: str, seen: set[str] | None = None) -> set[str]:
    """The files ``module`` imports, with each imported package replaced by the files it imports."""
    seen = set() if seen is None else seen
    files: set[str] = set()
    for target in _imports(module):
        if target in PACKAGES:
            if target not in seen and target != "tinygen":  # the top package: the public names only
                seen.add(target)
                files |= _files_used(target, seen)
        else:
            files.add(target)
    return files


def _reading_order() -> list[str]:
    """The files of the README's reading-order table, in order; a folder stands for its files."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Reading order", 1)[1].split("\n## ", 1)[0]
    order: list[str] = []
    for row in re.findall(r"^\|\s*\d+\s*\|(.*?)\|", section, flags=re.M):
        order += [name for name in re.findall(r"`([^`]+)`", row)]
    return [_module(REPO / name) for name in order]


def test_the_reading_order_lists_every_library_file_once():
    order = _reading_order()
    assert len(order) == len(set(order)), [m for m in order if order.count(m) > 1]
    files = sorted(set(MODULES) - PACKAGES)
    assert sorted(set(order) & set(files)) == sorted(order), sorted(set(order) - set(files))
    assert sorted(order) == files, f"not in the README's reading order: {sorted(set(files) - set(order))}"


def test_each_file_uses_only_the_files_before_it():
    order = _reading_order()
    position = {m: i for i, m in enumerate(order)}
    later = {m: sorted(t for t in _files_used(m) if position.get(t, -1) > position[m]) for m in order}
    assert {m: ts for m, ts in later.items() if ts} == {}


def test_import_tinygen_stays_below_the_models():
    used = _files_used("tinygen")
    assert not {m for m in used if m.startswith(("tinygen.models", "tinygen.train", "tinygen.cli"))}
