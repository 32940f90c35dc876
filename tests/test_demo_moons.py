"""The first demo runs end to end and its model really learns the moons."""
import importlib.util
from pathlib import Path

from test_demos_common import readable_figures  # noqa: F401  (autouse: every saved figure is checked)

DEMO = Path(__file__).resolve().parents[1] / "demos" / "mlp_moons.py"


def _load_demo():
    spec = importlib.util.spec_from_file_location("mlp_moons_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moons_demo_quick_run_writes_its_pictures(tmp_path):
    _load_demo().main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "mlp_moons.png").stat().st_size > 10_000
    assert any(p.name.startswith("mlp_moons_graph") for p in tmp_path.iterdir())


def test_moons_demo_separates_the_moons(tmp_path):
    accuracy = _load_demo().main(["--steps", "300", "--out", str(tmp_path)])
    assert accuracy > 0.97
