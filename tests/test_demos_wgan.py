"""The Wasserstein critics demo finishes with --quick and writes its pictures."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

from test_demos_common import readable_figures  # noqa: F401  (autouse: every saved figure is checked)

DEMOS = Path(__file__).resolve().parents[1] / "demos"
PNG = b"\x89PNG\r\n\x1a\n"


def test_wgan_critic_demo_quick_draws_both_critics_and_their_estimates(tmp_path, monkeypatch, capsys):
    demo = DEMOS / "wgan_critic.py"
    monkeypatch.setattr(sys, "argv", [str(demo), "--quick", "--out", str(tmp_path)])
    runpy.run_path(str(demo), run_name="__main__")
    for picture in ("critic_surfaces.png", "wasserstein.png"):
        assert (tmp_path / picture).read_bytes()[:8] == PNG, picture
    out = capsys.readouterr().out
    assert "wgan on ring after 40 steps" in out and "wgan-gp on ring after 40 steps" in out
