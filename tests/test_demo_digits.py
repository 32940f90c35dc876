"""The digits CNN demo runs end to end in its --quick mode and writes its figure."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

from test_demos_common import readable_figures  # noqa: F401  (autouse: every saved figure is checked)

DEMO = Path(__file__).resolve().parents[1] / "demos" / "digits_cnn.py"


def test_digits_cnn_demo_quick_run_writes_its_png(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", [str(DEMO), "--quick", "--out", str(tmp_path)])
    runpy.run_path(str(DEMO), run_name="__main__")
    assert "final test accuracy" in capsys.readouterr().out
    png = tmp_path / "digits_cnn.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
