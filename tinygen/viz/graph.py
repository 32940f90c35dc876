"""The computation graph behind a tensor, as Graphviz DOT text.

Boxes are ops (Functions), ellipses are tensors; arrows point the way the forward pass ran, so
backward walks them in reverse. ``render_graph`` turns the text into a picture when Graphviz's
``dot`` program is installed; without it, it saves the text and prints the ``dot`` command that
draws it.
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
        # a backward without retain_graph=True frees what an op saved, its inputs included:
        # the picture then stops at that op (draw the graph before backward to see it whole)
        label = fn.op_name() + ("\\n(freed by backward)" if fn._released else "")
        lines.append(f'  {f_key} [label="{label}", shape=box, style=filled, fillcolor=lightgrey];')
        for t in fn.inputs:
            lines.append(f"  {tensor_node(t)} -> {f_key};")
        out = fn.output
        if out is not None:
            lines.append(f"  {f_key} -> {tensor_node(out)};")
    lines.append("}")
    return "\n".join(lines)


def render_command(dot_file: str | Path, picture: str | Path) -> str:
    """The shell command that renders ``dot_file`` to ``picture``: ``dot -Tpng g.dot -o g.png``."""
    picture = Path(picture)
    return f"dot -T{picture.suffix.lstrip('.')} {dot_file} -o {picture}"


def render_graph(y: Tensor, path: str | Path) -> Path:
    """Write the graph of ``y`` to ``path`` and return the path written.

    With Graphviz's ``dot`` installed, ``path`` is a picture in the format its suffix names (.png,
    .svg, .pdf). Without it, the DOT text goes to the same name with the suffix .dot, and a line
    is printed with the command that renders it once Graphviz is there. A .dot ``path`` always
    gets the text; a ``path`` without a suffix gets .png.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    text = graph(y)
    dot = shutil.which("dot")
    if dot is None or path.suffix == ".dot":
        target = path.with_suffix(".dot")
        target.write_text(text)
        if path.suffix != ".dot":
            print(f"Graphviz (dot) is not installed, so the graph is saved as DOT text in {target}; "
                  f"to draw it: {render_command(target, path)}")
        return target
    subprocess.run([dot, f"-T{path.suffix.lstrip('.')}", "-o", str(path)], input=text.encode(), check=True)
    return path
