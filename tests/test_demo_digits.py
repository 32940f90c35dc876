"""The digits CNN demo runs end to end in its --quick mode and writes its figure."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_digits_cnn_demo_quick_run_writes_its_png(tmp_path: Path) -> None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # small matrices: one BLAS thread is faster
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "digits_cnn.py"), "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "final test accuracy" in result.stdout
    png = tmp_path / "digits_cnn.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
