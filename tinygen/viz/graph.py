"""The computation graph behind a tensor, as Graphviz DOT text.

Boxes are ops (Functions), ellipses are tensors; arrows point the way the forward pass ran, so
backward walks them in reverse. ``render_graph`` turns the text into a picture when Graphviz's
``dot`` program is installed.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..autograd import Tensor, _topological_order


def _label(t: Tensor) -> str:
    name = f"{t.name}\\n" if t.name else ""
    return f"{name}{tuple(t.shape)} {t.dtype}"


def graph(y: Tensor) -> str:
    """DOT text of every op and tensor that ``y.backward()`` would visit."""
    lines = ["digraph tinygen {", '  rankdir=LR; node [fontname="Helvetica", fontsize=10];']
    seen: set[int] = set()

    def tensor_node(t: Tensor) -> str:
        key = f"t{id(t)}"
        if id(t) not in seen:
            seen.add(id(t))
            color = "lightblue" if t.is_leaf and t.requires_grad else "white"
            lines.append(f'  {key} [label="{_label(t)}", shape=ellipse, style=filled, fillcolor={color}];')
        return key

    out_key = tensor_node(y)
    lines.append(f"  {out_key} [penwidth=2];")
    for fn in _topological_order([y]):
        f_key = f"f{id(fn)}"
        lines.append(f'  {f_key} [label="{fn.op_name()}", shape=box, style=filled, fillcolor=lightgrey];')
        for t in fn.inputs:
            lines.append(f"  {tensor_node(t)} -> {f_key};")
        out = fn.output
        if out is not None:
            lines.append(f"  {f_key} -> {tensor_node(out)};")
    lines.append("}")
    return "\n".join(lines)


def render_graph(y: Tensor, path: str | Path) -> Path:
    """Write the graph of ``y`` to ``path``: a picture (.png, .svg, .pdf) when Graphviz is
    installed, else the DOT text (.dot) beside it. Returns the path written."""
    path = Path(path)
    text = graph(y)
    dot = shutil.which("dot")
    if dot is None or path.suffix == ".dot":
        target = path.with_suffix(".dot")
        target.write_text(text)
        return target
    subprocess.run([dot, f"-T{path.suffix.lstrip('.')}", "-o", str(path)], input=text.encode(), check=True)
    return path
