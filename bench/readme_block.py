"""Write a results script's rows into README.md between its own markers.

Each results script (``gan_gallery.py``, ``rbm_results.py``, ...) owns one table of the README's
"Results gallery", between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``, and rewrites only
that table, so the scripts can be run in any order. A block that is not there yet is added at the
end of the "## Results gallery" section.
"""
from __future__ import annotations

from pathlib import Path

SECTION = "## Results gallery"


def write_block(readme: Path, name: str, lines: list[str]) -> None:
    """Replace the lines between ``name``'s markers in ``readme`` (adding the markers if missing)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = readme.read_text()
    block = start + "\n" + "\n".join(lines) + "\n" + end
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(head + block + tail)
        return
    if SECTION not in text:
        raise SystemExit(f"{readme} has no '{SECTION}' section to put the {name} table in")
    head, rest = text.split(SECTION, 1)
    next_section = rest.find("\n## ")
    body, tail = (rest, "") if next_section < 0 else (rest[:next_section], rest[next_section:])
    readme.write_text(head + SECTION + body.rstrip("\n") + "\n\n" + block + "\n" + tail)
