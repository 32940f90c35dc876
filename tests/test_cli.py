"""The ``tinygen`` command line, called in-process through ``cli.main([...])``.

The image metrics need a classifier that takes half a minute to train on first use; the digits
runs here replace ``tinygen.metrics.evaluate`` by a stand-in that records its arguments (the
metrics themselves are tested in test_metrics.py). The ring run uses the real metrics.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygen
import tinygen.metrics
import tinygen.train
from tinygen import backend as B
from tinygen import cli

PROMISED = ["checkpoint.npz", "losses.png", "samples.png", "samples.npy", "metrics.json", "losses.jsonl"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def recorded_metrics(monkeypatch):
    """Replace the metrics by a stand-in that remembers what it was asked to measure."""
    calls = []

    def fake_evaluate(dataset_name, samples, labels=None):
        calls.append((dataset_name, np.array(samples)))
        return {"dataset": dataset_name, "kind": "image", "n_samples": len(samples), "stand_in": True}

    monkeypatch.setattr(tinygen.metrics, "evaluate", fake_evaluate)
    return calls


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, *fragments):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------------------------- list
def test_list_shows_every_registered_model_with_paper_and_dataset(capsys):
    code, out, _ = _run(capsys, "list")
    assert code == 0
    lines = out.strip().splitlines()
    names = tinygen.models.list_models()
    assert [line.split()[0] for line in lines] == names and names[:2] == ["pca", "autoencoder"]
    assert "digits" in lines[0] and "Pearson (1901)" in lines[0]
    assert "Hinton" in lines[1] and "(2006)" in lines[1]
    for name, line in zip(names, lines):
        spec = tinygen.models.get_model(name)
        assert spec.default_dataset in line and str(spec.paper.year) in line


# --------------------------------------------------------------------------------- train
@pytest.mark.parametrize("model", tinygen.models.list_models())
def test_train_quick_writes_every_promised_file(tmp_path, capsys, recorded_metrics, model):
    from tinygen.data import get_dataset
    from tinygen.train.outputs import N_FINAL_SAMPLES

    spec = tinygen.models.get_model(model)
    data = get_dataset(spec.default_dataset)
    out = tmp_path / model
    code, stdout, err = _run(capsys, "train", model, "--quick", "--out", out, "--quiet")
    assert code == 0, err
    for name in PROMISED + (["samples_labels.npy"] if "label" in spec.conditions else []):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    samples = np.load(out / "samples.npy")
    assert samples.shape == (N_FINAL_SAMPLES[data.kind],) + data.x.shape[1:] and samples.dtype == np.float32
    assert np.isfinite(samples).all()
    if data.kind in ("image", "binary"):
        assert samples.min() >= 0 and samples.max() <= 1
    ((dataset, measured),) = recorded_metrics
    assert dataset == spec.default_dataset
    np.testing.assert_array_equal(measured, samples)  # the metrics measured exactly the saved samples
    assert json.loads((out / "metrics.json").read_text()) == json.loads(stdout)
    assert json.loads(stdout)["stand_in"] is True
    assert (out / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = tinygen.load(out / "checkpoint.npz")
    hparams = json.loads(state["hparams"])
    assert state["model_name"] == model and state["dataset"] == spec.default_dataset and state["step"] == hparams["steps"]


def test_train_on_a_2d_toy_writes_2500_samples_and_real_mode_metrics(tmp_path, capsys):
    out = tmp_path / "ring"
    code, stdout, err = _run(capsys, "train", "pca", "--dataset", "ring", "--out", out, "--quiet")
    assert code == 0, err
    assert np.load(out / "samples.npy").shape == (2500, 2)
    metrics = json.loads((out / "metrics.json").read_text())
    # one Gaussian over a ring of eight tight modes: few samples land within 3 std of a centre
    assert metrics["n_modes"] == 8 and metrics["high_quality_pct"] < 10
    assert metrics["reference"]["modes_covered"] == 8


def test_train_steps_lr_seed_and_hparams_reach_the_run(tmp_path, capsys, recorded_metrics):
    out = tmp_path / "ae"
    code, _, err = _run(capsys, "train", "autoencoder", "--quick", "--steps", 6, "--lr", "0.01", "--seed", 4,
                        "--batch-size", 32, "--hparam", "latent_dim=3", "--hparam", "hidden=[16]", "--out", out,
                        "--quiet")
    assert code == 0, err
    state = tinygen.load(out / "checkpoint.npz")
    hparams = json.loads(state["hparams"])
    assert (state["step"], state["seed"]) == (6, 4)
    assert (hparams["lr"], hparams["batch_size"], hparams["latent_dim"], hparams["hidden"]) == (0.01, 32, 3, [16])
    assert state["model"]["net"]["encoder.3.weight"].shape == (3, 16)
    # --resume continues to the requested total, counted from the start of the run
    code, _, err = _run(capsys, "train", "autoencoder", "--steps", 10, "--out", out, "--resume", "--quiet")
    assert code == 0, err
    assert tinygen.load(out / "checkpoint.npz")["step"] == 10
    assert len(tinygen.train.read_log(out / "losses.jsonl")) == 10


def test_quick_is_far_shorter_than_the_papers_run_for_every_model():
    from tinygen.train import resolve_hparams

    for name in tinygen.models.list_models():
        spec = tinygen.models.get_model(name)
        full, quick = resolve_hparams(spec)["steps"], resolve_hparams(spec, quick=True)["steps"]
        assert quick <= 500 and (quick * 5 <= full or full <= 10), (name, full, quick)


# ------------------------------------------------------- a folder that holds a run, Ctrl-C
@pytest.fixture
def line_model(monkeypatch):
    """A registered one-layer model on the ring ("line"); ``interrupt_at["step"]`` presses Ctrl-C
    in that step (0-based). Pictures and final outputs are skipped: these tests are about the folder."""
    from tinygen import nn, optim
    from tinygen.models import ModelState, registry
    from tinygen.models.registry import ModelSpec, Paper

    interrupt_at = {}

    def build(hparams, dataset):
        net = nn.Linear(2, 2)
        return ModelState(net=net, opt=optim.SGD(net.parameters(), lr=hparams["lr"]))

    def train_step(model, next_batch, step):
        if step == interrupt_at.get("step"):
            raise KeyboardInterrupt
        x = tinygen.Tensor(next_batch()[0])
        loss = ((model.net(x + 0.1 * tinygen.randn(*x.shape)) - x) ** 2).mean()
        model.opt.zero_grad()
        loss.backward()
        model.opt.step()
        return {"fit": loss.item()}

    spec = ModelSpec(name="line", paper=Paper("nobody", 2024, "a test model"), default_dataset="ring",
                     default_hparams={"lr": 0.1, "batch_size": 16, "steps": 4}, build=build,
                     train_step=train_step, sample=lambda model, n: np.zeros((n, 2), np.float32),
                     data_kinds=("2d",))
    monkeypatch.setitem(registry._REGISTRY, "line", spec)
    monkeypatch.setattr(tinygen.train.loop, "save_progress_picture", lambda run: None)
    monkeypatch.setattr(tinygen.train.loop, "write_outputs", lambda run: run.metrics.update(stand_in=True))
    return interrupt_at


def _weights(out):
    return tinygen.load(out / "checkpoint.npz")["model"]["net"]["weight"]


def test_train_refuses_a_folder_that_holds_a_run_until_force(tmp_path, capsys, line_model):
    out = tmp_path / "run"
    assert _run(capsys, "train", "line", "--out", out, "--quiet")[0] == 0
    kept = (out / "checkpoint.npz").read_bytes()
    for argv in (["line", "--steps", "2", "--quick"], ["pca", "--dataset", "ring"]):  # a quick run, another model
        code, _, err = _run(capsys, "train", *argv, "--out", out, "--quiet")
        _assert_one_line_error(code, err, f"--out {out} already holds a run (a checkpoint of line at step 4 of 4)",
                               "continue it with --resume or replace it with --force")
        assert (out / "checkpoint.npz").read_bytes() == kept
    code, _, err = _run(capsys, "train", "line", "--steps", "2", "--out", out, "--quiet", "--force")
    assert code == 0, err
    assert tinygen.load(out / "checkpoint.npz")["step"] == 2


def test_ctrl_c_names_the_checkpoint_and_prints_the_command_that_resumes_it(tmp_path, capsys, line_model):
    out = tmp_path / "run"
    line_model["step"] = 5  # checkpoints every 2 of 20 steps: the last one is at step 4
    code, _, err = _run(capsys, "train", "line", "--steps", "20", "--out", out, "--quiet")
    assert code == 130
    command = f"tinygen train line --out {out} --resume --steps 20 --quiet"
    assert err.strip() == (f"tinygen train: interrupted; the checkpoint {out / 'checkpoint.npz'} (line at step 4 "
                           f"of 20) is intact; continue with: {command}")
    line_model.clear()
    code, _, err = _run(capsys, *command.split()[1:])
    assert code == 0, err
    assert _run(capsys, "train", "line", "--steps", "20", "--out", tmp_path / "straight", "--quiet")[0] == 0
    np.testing.assert_array_equal(_weights(out), _weights(tmp_path / "straight"))  # resumed == straight through
    # a longer resumed run stopped before its next checkpoint: the command keeps the new total
    line_model["step"] = 21
    code, _, err = _run(capsys, "train", "line", "--steps", "40", "--out", out, "--resume")
    assert code == 130
    assert "(line at step 20 of 20) is intact" in err
    assert err.strip().endswith(f"continue with: tinygen train line --out {out} --resume --steps 40")


def test_ctrl_c_before_the_first_checkpoint_says_there_is_nothing_to_resume(tmp_path, capsys, line_model):
    out = tmp_path / "run"
    line_model["step"] = 1  # one step logged, the first checkpoint (step 2) not reached
    code, _, err = _run(capsys, "train", "line", "--steps", "20", "--out", out, "--quiet")
    assert code == 130
    assert err.strip() == (f"tinygen train: interrupted; no checkpoint was written yet, so there is nothing in "
                           f"{out} to resume (start it again with --force)")
    line_model.clear()
    code, _, err = _run(capsys, "train", "line", "--steps", "20", "--out", out, "--resume", "--quiet")
    _assert_one_line_error(code, err, "no checkpoint", "stopped before writing one")
    code, _, err = _run(capsys, "train", "line", "--steps", "20", "--out", out, "--quiet", "--force")
    assert code == 0, err
    line_model["step"] = 0  # stopped inside the first step: nothing written, the folder is free again
    code, _, err = _run(capsys, "train", "line", "--out", tmp_path / "new", "--quiet")
    assert code == 130 and err.strip().endswith(f"nothing in {tmp_path / 'new'} to resume")
    line_model.clear()
    assert _run(capsys, "train", "line", "--out", tmp_path / "new", "--quiet")[0] == 0


def test_ctrl_c_while_force_prepares_leaves_the_old_run_untouched(tmp_path, capsys, line_model, monkeypatch):
    out = tmp_path / "run"
    assert _run(capsys, "train", "line", "--out", out, "--quiet")[0] == 0

    def pressed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(tinygen.train.run, "_load_dataset", pressed)
    code, _, err = _run(capsys, "train", "line", "--steps", "8", "--out", out, "--quiet", "--force")
    assert code == 130
    assert err.strip() == (f"tinygen train: interrupted; this run wrote no checkpoint; the run already in {out} "
                           f"(line at step 4 of 4) is untouched")
    assert tinygen.load(out / "checkpoint.npz")["step"] == 4


# -------------------------------------------------------------------------- sample, eval
@pytest.fixture(scope="module")
def pca_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("pca-run")
    tinygen.train.train("pca", "digits", out=out, progress=False, outputs=False, sample_every=0)
    return out / "checkpoint.npz"


def test_sample_writes_an_array_or_a_picture(tmp_path, capsys, pca_checkpoint):
    code, _, err = _run(capsys, "sample", "pca", "--checkpoint", pca_checkpoint, "--n", 12, "--out",
                        tmp_path / "s.npy")
    assert code == 0, err
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (12, 1, 8, 8)
    _run(capsys, "sample", "pca", "--checkpoint", pca_checkpoint, "--n", 12, "--out", tmp_path / "again.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), samples)  # --seed defaults to 0
    code, _, err = _run(capsys, "sample", "pca", "--checkpoint", pca_checkpoint, "--n", 9, "--out",
                        tmp_path / "pictures" / "s.png")
    assert code == 0, err
    assert (tmp_path / "pictures" / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_prints_the_metrics_as_json(tmp_path, capsys):
    from tinygen.data import get_dataset

    np.save(tmp_path / "ring.npy", get_dataset("ring", split="test").x)
    code, out, err = _run(capsys, "eval", "--dataset", "ring", "--samples", tmp_path / "ring.npy")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["dataset"] == "ring" and metrics["modes_covered"] == 8 and metrics["high_quality_pct"] > 95


# --------------------------------------------------------------------------------- errors
def test_each_error_is_one_line_on_stderr_and_a_non_zero_exit(tmp_path, capsys, pca_checkpoint):
    np.save(tmp_path / "ok.npy", np.zeros((4, 2), np.float32))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases = [
        (["train", "nope"], ["unknown model 'nope'", "pca"]),
        (["train", "pca", "--dataset", "imagenet", "--out", tmp_path / "x"], ["unknown dataset", "imagenet"]),
        (["train", "pca", "--steps", "0"], ["--steps", "positive integer"]),
        (["train", "pca", "--steps", "ten"], ["--steps", "'ten'"]),
        (["train", "autoencoder", "--lr", "nan"], ["--lr", "positive finite"]),
        (["train", "autoencoder", "--batch-size", "-4"], ["--batch-size"]),
        (["train", "pca", "--steps", "3", "--epochs", "2"], ["not allowed with"]),
        (["train", "pca", "--lr", "0.1", "--out", tmp_path / "y"], ["pca has no hyperparameter 'lr'"]),
        (["train", "pca", "--hparam", "oops"], ["KEY=VALUE"]),
        (["train", "pca", "--resume", "--out", tmp_path / "empty"], ["no checkpoint", "resume"]),
        (["train", "pca", "--dataset", "ring", "--batch-size", "999999", "--out", tmp_path / "z"], ["larger than"]),
        (["sample", "pca", "--checkpoint", tmp_path / "missing.npz", "--n", "3", "--out", tmp_path / "s.npy"],
         ["no file", "missing.npz"]),
        (["sample", "autoencoder", "--checkpoint", pca_checkpoint, "--n", "3", "--out", tmp_path / "s.npy"],
         ["checkpoint of 'pca'"]),
        (["sample", "pca", "--checkpoint", pca_checkpoint, "--n", "3", "--out", tmp_path / "s.txt"], [".npy or .png"]),
        (["sample", "pca", "--checkpoint", pca_checkpoint, "--n", "0", "--out", tmp_path / "s.npy"], ["--n"]),
        (["eval", "--dataset", "ring", "--samples", tmp_path / "missing.npy"], ["no file"]),
        (["eval", "--dataset", "nope", "--samples", tmp_path / "ok.npy"], ["unknown dataset 'nope'"]),
        (["eval", "--dataset", "ring", "--samples", tmp_path / "objects.npy"],
         ["not a .npy array of numbers", "objects.npy", "pickled Python objects"]),
        (["frobnicate"], ["invalid choice"]),
    ]
    if not B.gpu_available():
        cases.append((["train", "pca", "--device", "gpu"], ["--device gpu", "CuPy"]))
    for argv, fragments in cases:
        code, _, err = _run(capsys, *argv)
        _assert_one_line_error(code, err, *fragments)


def test_an_unexpected_exception_is_still_one_line(monkeypatch, capsys):
    def explode(args):
        raise KeyError("weights")

    monkeypatch.setitem(cli.COMMANDS, "list", explode)
    code, _, err = _run(capsys, "list")
    _assert_one_line_error(code, err, "tinygen list: error:", "'weights'")


# ------------------------------------------------------------------ the real entry points
def test_python_dash_m_tinygen_and_the_console_script_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "tinygen", "list"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and result.stdout.split()[0] == "pca"
    result = subprocess.run([sys.executable, "-m", "tinygen", "train", "nope"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    names = ", ".join(tinygen.models.list_models())
    assert result.stderr.strip() == f"tinygen train: error: unknown model 'nope'; registered models: {names}"
    script = shutil.which("tinygen")
    if script is None:
        pytest.skip("the tinygen console script is not installed (pip install -e .)")
    result = subprocess.run([script, "list"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and "autoencoder" in result.stdout


@pytest.mark.slow
def test_train_quick_autoencoder_with_the_real_image_metrics(tmp_path, capsys):
    """End to end with the real classifier (trained on first use: half a minute on a fresh cache)."""
    code, stdout, err = _run(capsys, "train", "autoencoder", "--quick", "--out", tmp_path, "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_samples"] == 1000 and metrics["reference"]["mean_confidence"] > 0.9
    # the autoencoder's samples are recognisably worse than held-out digits
    assert metrics["frechet_distance"] > metrics["reference"]["frechet_distance"]
