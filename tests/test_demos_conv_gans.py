"""The DCGAN latent-space demo and the conditional-GAN digits demo finish with --quick and write
their pictures.

They run in-process (``runpy``) with stand-ins for the classifier-based measurements (the real
classifier takes seconds to train on first use; test_metrics.py tests it).
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygen.metrics
from tinygen.metrics import classifier

from test_demos_common import readable_figures  # noqa: F401  (autouse: every saved figure is checked)

DEMOS = Path(__file__).resolve().parents[1] / "demos"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def classifier_stand_in(monkeypatch):
    """Metrics and classifier predictions from stand-ins that record what they were shown."""
    seen = {"evaluate": [], "image_metrics": [], "predict": []}

    def fake_evaluate(dataset_name, samples, labels=None):
        seen["evaluate"].append((dataset_name, np.shape(samples)))
        return {"dataset": dataset_name, "kind": "image", "stand_in": True}

    def fake_image_metrics(samples, dataset_name, cache_dir=None, labels=None):
        seen["image_metrics"].append((dataset_name, np.shape(samples), None if labels is None else np.array(labels)))
        one = {"classes_covered": 10, "label_accuracy": 0.5}
        return {**one, "reference": dict(one)}

    def fake_predict(model, images, batch_size=500):
        seen["predict"].append(np.shape(images))
        n = len(images)
        logits = np.eye(10, dtype=np.float32)[np.arange(n) % 10]  # every class equally often
        return logits, np.zeros((n, 64), np.float32)

    monkeypatch.setattr(tinygen.metrics, "evaluate", fake_evaluate)
    monkeypatch.setattr(tinygen.metrics, "image_metrics", fake_image_metrics)
    monkeypatch.setattr(classifier, "get_classifier", lambda dataset_name, **kwargs: None)
    monkeypatch.setattr(classifier, "predict", fake_predict)
    return seen


def _run_demo(name, out, monkeypatch, *extra):
    monkeypatch.setattr(sys, "argv", [str(DEMOS / name), "--quick", "--out", str(out), *extra])
    runpy.run_path(str(DEMOS / name), run_name="__main__")


def _assert_png(path):
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG, path


def test_dcgan_latent_space_demo_quick_draws_interpolations_and_arithmetic(tmp_path, monkeypatch, capsys,
                                                                            classifier_stand_in):
    _run_demo("dcgan_latent_space.py", tmp_path, monkeypatch)
    for picture in ("interpolation.png", "arithmetic.png", "run/samples.png"):
        _assert_png(tmp_path / picture)
    # the quick run's samples measured once; the 300 samples of the arithmetic, then its 10 results
    assert classifier_stand_in["evaluate"] == [("digits", (1000, 1, 8, 8))]
    assert classifier_stand_in["predict"] == [(300, 1, 8, 8), (10, 1, 8, 8)]
    out = capsys.readouterr().out
    assert "midpoints of lerp" in out and "arithmetic: heavy 0 - light 0 + light 7" in out


def test_dcgan_latent_space_demo_loads_a_checkpoint(tmp_path, monkeypatch, capsys, classifier_stand_in):
    from tinygen.train import train
    train("dcgan", out=tmp_path / "trained", quick=True, steps=2, progress=False, outputs=False, sample_every=0)
    _run_demo("dcgan_latent_space.py", tmp_path / "demo", monkeypatch,
              "--checkpoint", str(tmp_path / "trained" / "checkpoint.npz"))
    _assert_png(tmp_path / "demo" / "interpolation.png")
    assert not (tmp_path / "demo" / "run").exists() and classifier_stand_in["evaluate"] == []


def test_cgan_digits_demo_quick_draws_one_row_per_label(tmp_path, monkeypatch, capsys, classifier_stand_in):
    _run_demo("cgan_digits.py", tmp_path, monkeypatch)
    _assert_png(tmp_path / "grid.png")
    _assert_png(tmp_path / "run" / "samples.png")
    ((dataset, shape, labels),) = classifier_stand_in["image_metrics"]
    assert dataset == "digits" and shape == (1000, 1, 8, 8)
    assert np.bincount(labels).tolist() == [100] * 10
    assert "label accuracy 0.500" in capsys.readouterr().out
