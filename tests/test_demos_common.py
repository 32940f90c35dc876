"""What every demo promises: it writes beside itself (``demos/out/...``) wherever it is started
from, a second run replaces the first one's training runs, it never opens a window, and every
figure it saves can be read: labelled axes and dots sized for their number.

``readable_figures`` (an autouse fixture when imported into a test module) checks each figure as
it is saved; the other demo tests and tests/test_plots.py import it.
"""
from __future__ import annotations

import argparse
import re
import runpy
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

import tinygen.train
from tinygen.viz import marker_size

DEMOS = Path(__file__).resolve().parents[1] / "demos"
DEMO_NAMES = sorted(p.name for p in DEMOS.glob("*.py"))
PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------ readable figures
def unreadable_parts(fig: Any) -> list[str]:
    """What a reader of ``fig`` would miss: an axis without a label (set on the axes or on one that
    shares that axis: a twin, a stacked panel), a colorbar without its label, or a scatter whose
    dots are not ``marker_size(n)`` for its n points. Image panels (their axis off) are exempt."""
    from matplotlib.collections import PathCollection

    problems = []
    for i, ax in enumerate(fig.axes):
        name = ax.get_title() or f"axes {i}"
        if not ax.axison:
            continue
        if getattr(ax, "_colorbar", None) is not None:
            if not (ax.get_xlabel() or ax.get_ylabel()):
                problems.append(f"{name}: a colorbar without a label")
            continue
        for axis, shared, label in (("x", ax.get_shared_x_axes(), "get_xlabel"),
                                    ("y", ax.get_shared_y_axes(), "get_ylabel")):
            if not any(getattr(other, label)() for other in shared.get_siblings(ax)):
                problems.append(f"{name}: no {axis} label")
        for dots in ax.collections:
            if type(dots) is PathCollection:  # what ax.scatter draws
                n = len(dots.get_offsets())
                if not np.allclose(dots.get_sizes(), marker_size(n)):
                    problems.append(f"{name}: {n} dots of size {dots.get_sizes()[0]:.3g}, not marker_size({n})")
    return problems


@pytest.fixture(autouse=True)
def readable_figures(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Check every matplotlib figure saved during the test (pictures and GIF frames alike) with
    ``unreadable_parts`` just before it is written; the test fails if any was found wanting."""
    from matplotlib.figure import Figure

    problems: list[str] = []
    real_savefig = Figure.savefig

    def checked_savefig(fig: Any, fname: Any, *args: Any, **kwargs: Any) -> Any:
        where = Path(fname).name if isinstance(fname, (str, Path)) else "a GIF frame"
        problems.extend(f"{where}: {problem}" for problem in unreadable_parts(fig))
        return real_savefig(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", checked_savefig)
    yield problems
    assert not problems, "figures a reader cannot read:\n" + "\n".join(problems)


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    return fig


def test_unreadable_parts_finds_missing_labels_and_default_dots() -> None:
    fig = _figure()
    left, right = fig.subplots(1, 2)
    left.scatter(np.zeros(500), np.zeros(500))  # matplotlib's default size, 36
    right.scatter(np.zeros(500), np.zeros(500), s=marker_size(500))
    right.set_xlabel("x_1")
    assert sorted(unreadable_parts(fig)) == ["axes 0: 500 dots of size 36, not marker_size(500)",
                                             "axes 0: no x label", "axes 0: no y label", "axes 1: no y label"]


def test_unreadable_parts_accepts_twins_shared_axes_colorbars_with_labels_and_images() -> None:
    fig = _figure()
    top, bottom, picture = fig.subplots(3, 1, sharex=True)
    top.set_ylabel("density")
    bottom.set(xlabel="x", ylabel="D(x)")  # the x label of the stack, on its bottom panel
    twin = bottom.twinx()
    twin.set_ylabel("accuracy")
    filled = top.contourf(np.random.default_rng(0).random((4, 4)))
    fig.colorbar(filled, ax=top, label="f(x)")
    picture.imshow(np.zeros((4, 4)))
    picture.set_axis_off()
    assert unreadable_parts(fig) == []
    fig.colorbar(filled, ax=bottom)
    assert [p.split(": ", 1)[1] for p in unreadable_parts(fig)] == ["a colorbar without a label"]


# ------------------------------------------------------------------------- where they write
class _Stop(Exception):
    """Raised by a stand-in to stop a demo once it has shown what the test wanted."""


@pytest.mark.parametrize("demo", DEMO_NAMES)
def test_every_demo_writes_under_demos_out_by_default_wherever_it_is_run_from(demo, tmp_path, monkeypatch):
    real_parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(parser, args=None, namespace=None):  # the demo's own defaults, then stop
        raise _Stop(real_parse_args(parser, ["--quick"], namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.chdir(tmp_path)  # anywhere but the repository
    monkeypatch.setattr(sys, "argv", [str(DEMOS / demo)])
    with pytest.raises(_Stop) as stopped:
        runpy.run_path(str(DEMOS / demo), run_name="__main__")
    out = (Path.cwd() / stopped.value.args[0].out).resolve()
    assert out == DEMOS / "out" or DEMOS / "out" in out.parents, f"{demo} writes to {out}"


def test_a_demo_run_from_another_folder_writes_beside_itself(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "demos" / "mlp_moons.py"  # a copy, so that its demos/out is a temporary folder
    copy.parent.mkdir()
    shutil.copy(DEMOS / "mlp_moons.py", copy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "argv", [str(copy), "--quick"])
    runpy.run_path(str(copy), run_name="__main__")
    assert (tmp_path / "demos" / "out" / "mlp_moons.png").read_bytes()[:8] == PNG
    assert list(elsewhere.iterdir()) == []
    if shutil.which("dot") is None:  # the graph as DOT text, with the command that draws it
        dot_file = tmp_path / "demos" / "out" / "mlp_moons_graph.dot"
        assert dot_file.read_text().startswith("digraph")
        assert f"dot -Tpng {dot_file} -o {dot_file.with_suffix('.png')}" in capsys.readouterr().out
    else:
        assert (tmp_path / "demos" / "out" / "mlp_moons_graph.png").read_bytes()[:8] == PNG


TRAINING_DEMOS = [name for name in DEMO_NAMES
                  if re.search(r"from tinygen\.train import .*\btrain\b", (DEMOS / name).read_text())]


@pytest.mark.parametrize("demo", TRAINING_DEMOS)
def test_a_demo_run_again_replaces_its_own_training_run(demo, tmp_path, monkeypatch):
    """A fresh run into a folder holding one is refused unless forced; a demo's folder is its own."""
    def first_call(*args, **kwargs):
        raise _Stop(kwargs)

    monkeypatch.setattr(tinygen.train, "train", first_call)
    monkeypatch.setattr(sys, "argv", [str(DEMOS / demo), "--quick", "--out", str(tmp_path)])
    with pytest.raises(_Stop) as stopped:
        runpy.run_path(str(DEMOS / demo), run_name="__main__")
    called = stopped.value.args[0]
    assert called.get("force") is True and not called.get("resume"), called


def test_no_demo_uses_pyplot() -> None:
    """pyplot keeps global figures and may open a window; the demos draw on bare Figures."""
    for name in DEMO_NAMES:
        source = (DEMOS / name).read_text()
        assert "pyplot" not in source and ".show(" not in source, name
