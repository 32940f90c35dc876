"""The demos of the platform's first generators finish with --quick and write their pictures.

They run in-process (``runpy``), with the classifier-based image metrics replaced by a stand-in
(its classifier takes half a minute to train on first use; test_metrics.py tests the real one).
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygen.metrics
from tinygen.data import get_dataset

from test_demos_common import readable_figures  # noqa: F401  (autouse: every saved figure is checked)

DEMOS = Path(__file__).resolve().parents[1] / "demos"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def image_metrics_stand_in(monkeypatch):
    """Image metrics from a stand-in (recording what it measured); the other metrics stay real."""
    measured = []
    real_evaluate = tinygen.metrics.evaluate

    def fake_image_metrics(samples, dataset_name):
        measured.append((dataset_name, np.asarray(samples).shape))
        one = {"classes_covered": 10, "n_classes": 10, "kl_to_uniform": 0.0, "mean_confidence": 0.5,
               "frechet_distance": 1.0, "n_samples": len(samples)}
        return {**one, "reference": dict(one)}

    def fake_evaluate(dataset_name, samples, labels=None):
        if dataset_name == "digits":
            return {"dataset": dataset_name, "kind": "image", **fake_image_metrics(samples, dataset_name)}
        return real_evaluate(dataset_name, samples)

    monkeypatch.setattr(tinygen.metrics, "image_metrics", fake_image_metrics)
    monkeypatch.setattr(tinygen.metrics, "evaluate", fake_evaluate)
    return measured


def _run_demo(name: str, out: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(DEMOS / name), "--quick", "--out", str(out)])
    runpy.run_path(str(DEMOS / name), run_name="__main__")


def _assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG, path


def test_pca_demo_quick_writes_its_pictures(tmp_path, monkeypatch, capsys, image_metrics_stand_in):
    _run_demo("pca.py", tmp_path, monkeypatch)
    for picture in ("components.png", "digits/samples.png", "ring/samples.png"):
        _assert_png(tmp_path / picture)
    out = capsys.readouterr().out
    assert "components keep" in out and "ring: modes covered" in out


def test_autoencoder_demo_quick_shows_samples_beside_reconstructions(tmp_path, monkeypatch, capsys,
                                                                      image_metrics_stand_in):
    _run_demo("autoencoder.py", tmp_path, monkeypatch)
    for picture in ("why_weak.png", "codes.png", "run/samples.png", "run/losses.png"):
        _assert_png(tmp_path / picture)
    # measured: the run's 1,000 samples, then the held-out reconstructions and as many samples
    n_held_out = len(get_dataset("digits", split="test").x)
    assert image_metrics_stand_in == [("digits", (1000, 1, 8, 8)), ("digits", (n_held_out, 1, 8, 8)),
                                      ("digits", (n_held_out, 1, 8, 8))]
    out = capsys.readouterr().out
    assert "reconstructions" in out and "samples" in out
