"""The training loop: the loss log, non-finite losses, checkpoints, resuming, hyperparameters,
the progress display and the pictures taken during training."""
from __future__ import annotations

import builtins
import dataclasses
import json

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from tinygen.models import get_model
from tinygen.models import ModelState
from tinygen.models.registry import ModelSpec, Paper
from tinygen.train import NonFiniteLossError, RunExistsError, load, read_log
from tinygen.train import prepare, resolve_hparams, train


def _line_spec(fail_at: dict) -> ModelSpec:
    """A one-layer model denoising the ring's points (so every step draws random numbers);
    ``fail_at["step"]`` makes that step's loss NaN."""

    def build(hparams, dataset):
        net = nn.Linear(2, 2)
        return ModelState(net=net, opt=optim.SGD(net.parameters(), lr=hparams["lr"]))

    def train_step(model, next_batch, step):
        x = tinygen.Tensor(next_batch()[0])
        loss = ((model.net(x + 0.1 * tinygen.randn(*x.shape)) - x) ** 2).mean()
        model.opt.zero_grad()
        loss.backward()
        model.opt.step()
        bad = step == fail_at.get("step")
        weight_norm = float((model.net.weight.data ** 2).sum())
        return {"fit": float("nan") if bad else loss.item(), "weight_norm": weight_norm}

    def sample(model, n):
        with tinygen.no_grad():
            return model.net(tinygen.randn(n, 2)).numpy()

    return ModelSpec(
        name="line", paper=Paper("nobody", 2024, "a test model"), default_dataset="ring",
        default_hparams={"lr": 0.1, "batch_size": 16, "steps": 12}, quick_hparams={"steps": 3},
        build=build, train_step=train_step, sample=sample, data_kinds=("2d",))


QUIET = dict(progress=False, outputs=False, sample_every=0)


def test_the_loss_log_is_one_json_line_per_step(tmp_path):
    train(_line_spec({}), out=tmp_path, steps=12, **QUIET)
    lines = (tmp_path / "losses.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == list(range(1, 13))  # line k: the losses of the k-th step
    assert all(set(r) == {"step", "fit", "weight_norm"} and np.isfinite(r["fit"]) for r in records)
    assert load(tmp_path / "checkpoint.npz")["step"] == 12


def test_a_non_finite_loss_names_the_step_and_the_loss_and_keeps_the_last_good_checkpoint(tmp_path):
    spec = _line_spec({"step": 7})
    with pytest.raises(NonFiniteLossError) as caught:
        train(spec, out=tmp_path, steps=12, checkpoint_every=5, **QUIET)
    message = str(caught.value)
    # the 8th step (train_step's index 7), counted from 1 as the console and the loss log count
    assert "at step 8:" in message and "'fit'" in message and "nan" in message
    assert "'weight_norm'" not in message  # only the bad loss is named
    assert "step 5" in message and "intact" in message
    state = load(tmp_path / "checkpoint.npz")
    assert state["step"] == 5
    # the checkpoint holds the parameters after exactly five steps
    reference = train(_line_spec({}), out=tmp_path / "five", steps=5, **QUIET)
    np.testing.assert_array_equal(state["model"]["net"]["weight"], reference.model.net.weight.data)
    assert [r["step"] for r in read_log(tmp_path / "losses.jsonl")] == list(range(1, 8))


def test_a_non_finite_loss_before_any_checkpoint_says_so(tmp_path):
    with pytest.raises(NonFiniteLossError, match="no checkpoint had been written yet"):
        train(_line_spec({"step": 0}), out=tmp_path, steps=12, checkpoint_every=5, **QUIET)
    assert not (tmp_path / "checkpoint.npz").exists()


def test_resuming_after_a_crash_continues_from_the_checkpoint_and_rewrites_the_log(tmp_path):
    fail_at = {"step": 7}
    spec = _line_spec(fail_at)
    with pytest.raises(NonFiniteLossError):
        train(spec, out=tmp_path / "run", steps=12, checkpoint_every=5, **QUIET)
    fail_at.clear()
    resumed = train(spec, out=tmp_path / "run", steps=12, resume=True, **QUIET)
    straight = train(spec, out=tmp_path / "straight", steps=12, **QUIET)
    assert resumed.step == 12
    np.testing.assert_array_equal(resumed.model.net.weight.data, straight.model.net.weight.data)
    assert read_log(tmp_path / "run" / "losses.jsonl") == read_log(tmp_path / "straight" / "losses.jsonl")


def test_a_training_step_that_raises_is_reported_with_its_step(tmp_path):
    spec = _line_spec({})

    def broken_step(model, next_batch, step):
        if step == 2:
            raise ValueError("shapes do not match")
        return {"fit": 1.0}

    broken = dataclasses.replace(spec, train_step=broken_step)
    with pytest.raises(ValueError, match="shapes do not match") as caught:
        train(broken, out=tmp_path, steps=5, **QUIET)
    assert any("training step 3 of line, train_step(..., step=2)" in note for note in caught.value.__notes__)


def test_resume_refuses_changed_settings_and_a_missing_checkpoint(tmp_path):
    spec = _line_spec({})
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        prepare(spec, out=tmp_path, resume=True)
    train(spec, out=tmp_path, steps=4, **QUIET)
    with pytest.raises(ValueError, match="lr=0.5 differs from the checkpoint's 0.1"):
        prepare(spec, out=tmp_path, resume=True, lr=0.5)
    with pytest.raises(ValueError, match="already at step 4"):
        prepare(spec, out=tmp_path, resume=True, steps=2)
    with pytest.raises(ValueError, match="checkpoint of 'line', not of 'pca'"):
        prepare("pca", out=tmp_path, resume=True)
    assert prepare(spec, out=tmp_path, resume=True, steps=8).step == 4


def test_hyperparameters_come_from_the_paper_then_quick_then_the_caller():
    spec = get_model("autoencoder")
    assert resolve_hparams(spec) == spec.default_hparams
    quick = resolve_hparams(spec, quick=True)
    assert quick["steps"] == spec.quick_hparams["steps"] and quick["latent_dim"] == spec.quick_hparams["latent_dim"]
    assert resolve_hparams(spec, quick=True, overrides={"latent_dim": 3, "lr": None})["latent_dim"] == 3
    with pytest.raises(ValueError, match="no hyperparameter 'momentum'"):
        resolve_hparams(spec, overrides={"momentum": 0.9})
    with pytest.raises(ValueError, match="lr must be a positive"):
        resolve_hparams(spec, overrides={"lr": -1.0})
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        resolve_hparams(spec, overrides={"batch_size": 0})


def test_epochs_count_passes_over_the_data(tmp_path):
    run = prepare(_line_spec({}), out=tmp_path, epochs=2, batch_size=1000)
    assert run.total_steps == 2 * (len(run.dataset.x) // 1000)
    with pytest.raises(ValueError, match="not both"):
        prepare(_line_spec({}), out=tmp_path, epochs=2, steps=3)
    with pytest.raises(ValueError, match="larger than"):
        prepare(_line_spec({}), out=tmp_path, batch_size=10**7)
    with pytest.raises(ValueError, match="does not train on image data"):
        prepare(_line_spec({}), "digits", out=tmp_path)


def without_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import tqdm`` fail, as on a machine without it."""
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)


def test_without_tqdm_a_plain_progress_line_is_printed(tmp_path, monkeypatch, capsys):
    without_tqdm(monkeypatch)
    train(_line_spec({}), out=tmp_path, steps=12, progress=True, outputs=False, sample_every=0)
    err = capsys.readouterr().err
    assert "line on ring: step 12/12 fit=" in err


def test_pictures_during_training_do_not_change_the_trajectory(tmp_path):
    spec = _line_spec({})
    pictured = train(spec, out=tmp_path / "pictures", steps=12, progress=False, outputs=False, sample_every=4)
    plain = train(spec, out=tmp_path / "plain", steps=12, **QUIET)
    np.testing.assert_array_equal(pictured.model.net.weight.data, plain.model.net.weight.data)
    names = sorted(p.name for p in (tmp_path / "pictures" / "progress").iterdir())
    assert names == [f"step_{k:07d}.{ext}" for k in (4, 8, 12) for ext in ("npy", "png")]
    assert np.load(tmp_path / "pictures" / "progress" / "step_0000004.npy").shape == (1000, 2)


def test_batch_size_and_lr_given_as_hparams_are_not_dropped(tmp_path):
    run = prepare(_line_spec({}), out=tmp_path, hparams={"batch_size": 8, "lr": 0.5})
    assert (run.hparams["batch_size"], run.hparams["lr"]) == (8, 0.5)
    run = prepare(_line_spec({}), out=tmp_path, hparams={"batch_size": 8}, batch_size=4)
    assert run.hparams["batch_size"] == 4  # the explicit argument wins


# ------------------------------------------------------------------- a folder that holds a run
def test_a_fresh_run_into_a_folder_that_holds_a_run_is_refused_and_the_run_kept(tmp_path):
    spec = _line_spec({})
    train(spec, out=tmp_path, steps=4, **QUIET)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(RunExistsError) as caught:
        train(spec, out=tmp_path, steps=2, **QUIET)
    message = str(caught.value)
    assert str(tmp_path) in message and "a checkpoint of line at step 4 of 4" in message
    assert "resume=True" in message and "force=True" in message
    assert isinstance(caught.value, FileExistsError)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("left", ["checkpoint.npz", "losses.jsonl", "metrics.json"])
def test_any_of_checkpoint_loss_log_or_metrics_makes_a_folder_a_run(tmp_path, left):
    (tmp_path / left).write_text("{}")
    with pytest.raises(RunExistsError, match=left.replace(".", r"\.")):
        prepare(_line_spec({}), out=tmp_path)


def test_a_new_an_empty_or_an_unrelated_folder_is_not_a_run(tmp_path):
    spec = _line_spec({})
    assert prepare(spec, out=tmp_path / "new" / "nested").out == tmp_path / "new" / "nested"
    (tmp_path / "empty").mkdir()
    prepare(spec, out=tmp_path / "empty")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    (tmp_path / "notes" / "losses.jsonl").write_text("")  # a run stopped inside its first step
    train(spec, out=tmp_path / "notes", steps=2, **QUIET)
    assert (tmp_path / "notes" / "notes.txt").read_text() == "mine"


def test_force_replaces_the_run_and_only_the_run(tmp_path):
    spec = _line_spec({})
    train(spec, out=tmp_path, steps=6, progress=False, sample_every=3)
    (tmp_path / "samples_labels.npy").write_bytes(b"left by a conditional model")
    (tmp_path / "notes.txt").write_text("mine")
    run = train(spec, out=tmp_path, steps=2, force=True, progress=False, outputs=False, sample_every=0)
    assert run.step == 2 and load(tmp_path / "checkpoint.npz")["step"] == 2
    assert [r["step"] for r in read_log(tmp_path / "losses.jsonl")] == [1, 2]
    for stale in ("samples.npy", "samples_labels.npy", "samples.png", "losses.png", "metrics.json"):
        assert not (tmp_path / stale).exists(), stale
    assert not list((tmp_path / "progress").glob("step_*"))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_force_with_a_bad_setting_deletes_nothing(tmp_path):
    spec = _line_spec({})
    train(spec, out=tmp_path, steps=3, **QUIET)
    with pytest.raises(ValueError, match="no hyperparameter 'momentum'"):
        prepare(spec, out=tmp_path, force=True, hparams={"momentum": 0.9})
    assert load(tmp_path / "checkpoint.npz")["step"] == 3 and len(read_log(tmp_path / "losses.jsonl")) == 3


def test_resume_and_force_together_and_an_out_that_is_a_file_are_refused(tmp_path):
    spec = _line_spec({})
    with pytest.raises(ValueError, match="give one of them"):
        prepare(spec, out=tmp_path, resume=True, force=True)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"output folder '.*file\.txt' is a file, not a folder$"):
        prepare(spec, out=tmp_path / "file.txt")
    with pytest.raises(NotADirectoryError, match=r"'.*file\.txt' is a file, not a folder"):
        prepare(spec, out=tmp_path / "file.txt" / "run")


def test_resume_of_a_run_stopped_before_its_first_checkpoint_says_so(tmp_path):
    with pytest.raises(NonFiniteLossError):
        train(_line_spec({"step": 2}), out=tmp_path, steps=12, checkpoint_every=5, **QUIET)
    with pytest.raises(FileNotFoundError, match="stopped before writing one"):
        prepare(_line_spec({}), out=tmp_path, resume=True)


# ---------------------------------------------------------------------------------- Ctrl-C
def _interrupted_spec(at: int) -> ModelSpec:
    """The line model, with Ctrl-C pressed during its step ``at`` (0-based)."""
    spec = _line_spec({})

    def train_step(model, next_batch, step):
        if step == at:
            raise KeyboardInterrupt
        return spec.train_step(model, next_batch, step)

    return dataclasses.replace(spec, train_step=train_step)


def test_ctrl_c_names_the_checkpoint_that_survives(tmp_path):
    with pytest.raises(KeyboardInterrupt) as caught:
        train(_interrupted_spec(7), out=tmp_path, steps=12, checkpoint_every=5, **QUIET)
    (note,) = caught.value.__notes__
    assert "stopped at step 7" in note and "at step 5, is intact" in note and "resume=True" in note
    assert load(tmp_path / "checkpoint.npz")["step"] == 5
    with pytest.raises(KeyboardInterrupt) as caught:
        train(_interrupted_spec(3), out=tmp_path / "early", steps=12, checkpoint_every=5, **QUIET)
    (note,) = caught.value.__notes__
    assert "no checkpoint had been written yet" in note and "resume=True" not in note
