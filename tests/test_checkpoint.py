"""Checkpoints: exact round trips, atomic writes, no pickles, and resume == straight through."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tinygen
from tinygen import backend as B
from tinygen import nn, optim
from tinygen.models import ModelState
from tinygen.models.registry import ModelSpec, Paper
from tinygen import checkpoint
from tinygen.checkpoint import CheckpointError, file_format, load, save
from tinygen.train import read_log, train


def _nested_state() -> dict:
    return {
        "model": {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "0.bias": np.array([1.5, -2.0])},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.full((2, 3), 0.25, np.float32)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "nesterov": False, "foreach": None}]},
        "step": 42,
        "loss": 0.125,
        "flags": np.array([True, False]),
        "ids": np.array([3, 1, 2], dtype=np.int64),
        "name": "autoencoder",
        "scalar32": np.float32(2.5),
        "history": [1, 2.5, "three", [4]],
        "rng_state": B.get_rng_state(),
    }


def _assert_same(a, b, where="state"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}/{i}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), where
    else:
        assert a == b, where


# ----------------------------------------------------------------------------- round trip
def test_round_trip_gives_back_the_same_nested_structure_types_and_dtypes(tmp_path):
    state = _nested_state()
    save(state, tmp_path / "c.npz")
    _assert_same(state, load(tmp_path / "c.npz"))


def test_entries_are_named_by_their_path_and_readable_with_plain_numpy(tmp_path):
    save(_nested_state(), tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as f:
        assert "model/0.weight" in f.files and "optimizer/state/0/exp_avg" in f.files
        np.testing.assert_array_equal(f["model/0.weight"], np.arange(6, dtype=np.float32).reshape(2, 3))
        assert json.loads(str(f["rng_state"])) == json.loads(B.get_rng_state())


def test_module_and_adam_state_round_trip_continues_identically(tmp_path):
    tinygen.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = optim.Adam(net.parameters(), lr=1e-2)
    x = tinygen.randn(8, 3)

    def step(net, opt):
        opt.zero_grad()
        (net(x) ** 2).mean().backward()
        opt.step()

    step(net, opt)
    save({"model": net.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.npz")
    tinygen.manual_seed(1)  # a differently initialised twin
    twin = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    twin_opt = optim.Adam(twin.parameters(), lr=0.5)
    state = load(tmp_path / "c.npz")
    twin.load_state_dict(state["model"])
    twin_opt.load_state_dict(state["optimizer"])
    assert twin_opt.lr == 1e-2
    for _ in range(3):
        step(net, opt)
        step(twin, twin_opt)
    for (name, p), q in zip(net.named_parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_tensors_are_stored_as_host_numpy_arrays(tmp_path):
    t = tinygen.tensor([[1.0, 2.0]], requires_grad=True)
    save({"t": t}, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")["t"]
    assert type(loaded) is np.ndarray and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, [[1.0, 2.0]])


def test_tinygen_save_and_load_are_the_checkpoint_functions():
    assert tinygen.save is save and tinygen.load is load


# ---------------------------------------------------------------------------- atomicity
def _crash_midway(*args, **kwargs):
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("target", ["writer", "rename"])
def test_an_interrupted_write_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch, target):
    path = tmp_path / "checkpoint.npz"
    save({"step": 1, "w": np.ones(3)}, path)
    if target == "writer":  # fail after the archive has been opened and partly written
        real = B.np.lib.format.write_array
        calls = []

        def write_then_crash(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise OSError("disk full (simulated)")
            return real(*args, **kwargs)

        monkeypatch.setattr(B.np.lib.format, "write_array", write_then_crash)
    else:  # everything written, the final rename fails
        monkeypatch.setattr(checkpoint.os, "replace", _crash_midway)
    with pytest.raises(OSError, match="simulated"):
        save({"step": 2, "w": np.zeros(3), "extra": np.arange(5)}, path)
    monkeypatch.undo()
    state = load(path)
    assert state["step"] == 1
    np.testing.assert_array_equal(state["w"], np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"], "the temporary file was left behind"


def test_a_successful_save_replaces_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.npz"
    save({"step": 1}, path)
    save({"step": 2}, path)
    assert load(path) == {"step": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]


# ------------------------------------------------------------------------------ pickles
def test_a_pickle_inside_an_npz_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    save({"w": np.ones(2)}, path)
    with np.load(path) as f:
        entries = {k: f[k] for k in f.files}
    entries["payload"] = np.array([{"run": "os.system"}], dtype=object)  # savez pickles object arrays
    np.savez(path, **entries)
    with pytest.raises(CheckpointError, match="pickle"):
        load(path)


def test_save_refuses_values_that_would_need_a_pickle(tmp_path):
    with pytest.raises(CheckpointError, match="Python objects"):
        save({"x": np.array([1, "a"], dtype=object)}, tmp_path / "c.npz")
    with pytest.raises(CheckpointError, match="cannot store a set"):
        save({"x": {1, 2}}, tmp_path / "c.npz")
    assert not any(tmp_path.iterdir())


def test_bad_keys_and_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="separates"):
        save({"a/b": 1}, tmp_path / "c.npz")
    with pytest.raises(CheckpointError, match="same name"):
        save({0: 1, "0": 2}, tmp_path / "c.npz")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load(tmp_path / "missing.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip archive at all")
    with pytest.raises(CheckpointError, match="garbage.npz' is not a checkpoint written by tinygen") as caught:
        load(tmp_path / "garbage.npz")
    assert "pickle" not in str(caught.value)  # what numpy.load alone would say about a text file
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 and then the archive breaks off")
    with pytest.raises(CheckpointError, match="cut.npz' is not a readable .npz checkpoint"):
        load(tmp_path / "cut.npz")


def test_file_format_tells_archives_and_arrays_from_other_files(tmp_path):
    save({"step": 1}, tmp_path / "c.npz")
    np.save(tmp_path / "a.npy", np.zeros(3))
    np.savez(tmp_path / "plain.npz", x=np.zeros(2))
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npy").write_text("NUMPY, but not the magic byte before it")
    kinds = {name: file_format(tmp_path / name)
             for name in ("c.npz", "a.npy", "plain.npz", "picture.png", "empty.npz", "text.npy")}
    assert kinds == {"c.npz": "npz", "a.npy": "npy", "plain.npz": "npz", "picture.png": None,
                     "empty.npz": None, "text.npy": None}


# ---------------------------------------------------------------------------- resume
def _noisy_regression_spec() -> ModelSpec:
    """A tiny model whose every step draws random numbers (noise on its inputs, like a denoising
    model) and whose sampler draws too: resume must restore the generator and the loader exactly."""

    def build(hparams, dataset):
        net = nn.Linear(2, 2)
        return ModelState(net=net, opt=optim.SGD(net.parameters(), lr=hparams["lr"], momentum=0.9))

    def train_step(model, next_batch, step):
        x = tinygen.Tensor(next_batch()[0])
        noisy = x + 0.1 * tinygen.randn(*x.shape)
        loss = ((model.net(noisy) - x) ** 2).mean()
        model.opt.zero_grad()
        loss.backward()
        model.opt.step()
        return {"denoise": loss.item()}

    def sample(model, n):
        with tinygen.no_grad():
            return model.net(tinygen.randn(n, 2)).numpy()

    return ModelSpec(
        name="noisy-regression", paper=Paper("nobody", 2024, "a test model"), default_dataset="ring",
        default_hparams={"lr": 0.05, "batch_size": 32, "steps": 10},
        build=build, train_step=train_step, sample=sample, data_kinds=("2d",))


def _parameters(path: Path) -> dict:
    model = load(path)["model"]
    return {k: v for k, v in model["net"].items()}


@pytest.fixture
def no_pictures(monkeypatch):
    """Periodic pictures still sample (and draw random numbers) but skip matplotlib."""
    from tinygen.train import pictures
    monkeypatch.setattr(pictures, "save_samples_picture", lambda *args, **kwargs: None)


def test_resume_at_half_equals_straight_through_bit_for_bit_with_random_steps(tmp_path, no_pictures):
    spec = _noisy_regression_spec()
    common = dict(progress=False, outputs=False, checkpoint_every=4, sample_every=3, seed=3)
    train(spec, out=tmp_path / "straight", steps=60, **common)
    train(spec, out=tmp_path / "resumed", steps=30, **common)
    half = _parameters(tmp_path / "resumed" / "checkpoint.npz")
    train(spec, out=tmp_path / "resumed", steps=60, resume=True, **common)
    straight = _parameters(tmp_path / "straight" / "checkpoint.npz")
    resumed = _parameters(tmp_path / "resumed" / "checkpoint.npz")
    assert not np.array_equal(half["weight"], straight["weight"]), "the second half changed nothing"
    for k in straight:
        np.testing.assert_array_equal(straight[k], resumed[k], err_msg=k)
    assert read_log(tmp_path / "straight" / "losses.jsonl") == read_log(tmp_path / "resumed" / "losses.jsonl")
    full = load(tmp_path / "resumed" / "checkpoint.npz")
    assert full["step"] == 60 and json.loads(full["hparams"])["steps"] == 60


def test_resume_without_restoring_the_generator_would_differ(tmp_path, no_pictures, monkeypatch):
    """The test above can fail: skip restoring the random state and the runs part ways."""
    spec = _noisy_regression_spec()
    common = dict(progress=False, outputs=False, checkpoint_every=4, sample_every=0, seed=3)
    train(spec, out=tmp_path / "straight", steps=20, **common)
    train(spec, out=tmp_path / "resumed", steps=10, **common)
    monkeypatch.setattr(B, "set_rng_state", lambda state: None)
    train(spec, out=tmp_path / "resumed", steps=20, resume=True, **common)
    straight = _parameters(tmp_path / "straight" / "checkpoint.npz")
    resumed = _parameters(tmp_path / "resumed" / "checkpoint.npz")
    assert not np.array_equal(straight["weight"], resumed["weight"])


def test_autoencoder_resumed_at_half_equals_straight_through(tmp_path, no_pictures):
    common = dict(progress=False, outputs=False, checkpoint_every=5, sample_every=7, quick=True,
                  hparams={"hidden": [32], "latent_dim": 4})
    train("autoencoder", out=tmp_path / "straight", steps=24, **common)
    train("autoencoder", out=tmp_path / "resumed", steps=12, **common)
    train("autoencoder", out=tmp_path / "resumed", steps=24, resume=True, **common)
    straight = load(tmp_path / "straight" / "checkpoint.npz")["model"]
    resumed = load(tmp_path / "resumed" / "checkpoint.npz")["model"]
    _assert_same(straight["net"], resumed["net"], "net")
    _assert_same(straight["optimizer"], resumed["optimizer"], "optimizer")
