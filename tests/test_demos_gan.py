"""The GAN's concept demos finish with --quick and write their pictures (run in-process, into a
temporary folder)."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from test_demos_common import readable_figures  # noqa: F401  (autouse: every saved figure is checked)

DEMOS = Path(__file__).resolve().parents[1] / "demos"
PNG = b"\x89PNG\r\n\x1a\n"


def _run_demo(name: str, out: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(DEMOS / name), "--quick", "--out", str(out)])
    runpy.run_path(str(DEMOS / name), run_name="__main__")


def _assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG, path


def test_divergences_demo_shows_only_w_changing_with_theta(tmp_path, monkeypatch, capsys):
    _run_demo("gan_divergences.py", tmp_path, monkeypatch)
    _assert_png(tmp_path / "gan_divergences.png")
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:] if line.strip()[:1] in "-0123456789"]
    by_theta = {float(r[0]): [float(v) for v in r[1:]] for r in rows}
    assert by_theta[0.0] == [0.0, 0.0, 0.0, 0.0]
    assert by_theta[1.0][0] == pytest.approx(1.0) and by_theta[-0.5][0] == pytest.approx(0.5)  # W = |theta|
    assert by_theta[0.5][1:] == pytest.approx([0.6931, float("inf"), 1.0], abs=1e-4)  # JS, KL, TV saturated


def test_optimal_discriminator_demo(tmp_path, monkeypatch, capsys):
    _run_demo("gan_optimal_discriminator.py", tmp_path, monkeypatch)
    _assert_png(tmp_path / "gan_optimal_discriminator.png")
    assert "|D - D*|" in capsys.readouterr().out


def test_vanishing_gradients_demo(tmp_path, monkeypatch, capsys):
    _run_demo("gan_vanishing_gradients.py", tmp_path, monkeypatch)
    _assert_png(tmp_path / "gan_vanishing_gradients.png")
    assert "minimax" in capsys.readouterr().out


def test_mode_collapse_demo(tmp_path, monkeypatch, capsys):
    _run_demo("gan_mode_collapse.py", tmp_path, monkeypatch)
    _assert_png(tmp_path / "gan_mode_collapse.png")
    out = capsys.readouterr().out
    assert "ring" in out and "grid" in out and "published" in out
