"""The model contract (tinygen/models/registry.py, tinygen/models/state.py, tinygen/train/).

A training step draws as many minibatches as its algorithm needs and counts as one iteration;
``ModelState`` checkpoints networks, optimisers and buffers; sampling leaves the random stream and
every train/eval flag as it found them; conditional models are asked for their labels; the
number of progress pictures follows the cost of sampling. Three throwaway models drive it: a
two-network, two-optimiser adversarial toy with k inner steps, a model whose sampler switches to
eval() and forgets, and a label-conditional one.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import tinygen
from tinygen import backend as B
from tinygen import cli, nn, optim
from tinygen.models import ModelState, get_model, list_models
from tinygen.models import registry
from tinygen.models.registry import ModelSpec, Paper
from tinygen.train import load, prepare, read_log, sample, train
from tinygen.train.pictures import n_progress_pictures
from tinygen.train.sampling import kept_as_it_was, uniform_labels

QUIET = dict(progress=False, outputs=False, sample_every=0)


# ------------------------------------------------------------------ an adversarial toy
def _adversarial_spec(record: dict | None = None) -> ModelSpec:
    """G and D (one Linear each), two optimisers, k D-steps on fresh minibatches, then a G-step.

    A buffer ``seen`` counts the examples the model has drawn, so buffers are checkpointed too.
    ``record["batches"]`` collects the first row of every batch drawn, in order.
    """

    def build(hparams, dataset):
        G, D = nn.Linear(2, 2), nn.Linear(2, 1)
        return ModelState(G=G, D=D, opt_G=optim.Adam(G.parameters(), lr=hparams["lr"]),
                          opt_D=optim.SGD(D.parameters(), lr=hparams["lr"], momentum=0.5),
                          seen=B.np.zeros((), dtype=B.np.int64))

    def draw(next_batch):
        x, = next_batch()
        if record is not None:
            record.setdefault("batches", []).append(B.to_host(x[0]).copy())
        return tinygen.Tensor(x)

    def train_step(model, next_batch, step):
        for _ in range(model_k):  # the discriminator, k times, each on a fresh minibatch
            x = draw(next_batch)
            z = tinygen.randn(x.shape[0], 2)
            d_loss = (nn.functional.softplus(-model.D(x)) + nn.functional.softplus(model.D(model.G(z)))).mean()
            model.opt_D.zero_grad()
            d_loss.backward()
            model.opt_D.step()
            model.seen = model.seen + x.shape[0]
        x = draw(next_batch)  # the generator: one step (its batch sets the batch size of z)
        g_loss = nn.functional.softplus(-model.D(model.G(tinygen.randn(x.shape[0], 2)))).mean()
        model.opt_G.zero_grad()
        g_loss.backward()
        model.opt_G.step()
        model.seen = model.seen + x.shape[0]
        return {"d": d_loss.item(), "g": g_loss.item()}

    def sample(model, n):
        with tinygen.no_grad():
            return model.G(tinygen.randn(n, 2)).numpy()

    model_k = 3
    return ModelSpec(
        name="toy-gan", paper=Paper("nobody", 2024, "a test model"), default_dataset="ring",
        default_hparams={"lr": 0.01, "batch_size": 50, "steps": 6, "k": model_k},
        build=build, train_step=train_step, sample=sample, data_kinds=("2d",),
        batches_per_step=lambda h: h["k"] + 1)


def test_a_step_draws_fresh_minibatches_in_the_loaders_order_and_counts_generator_updates(tmp_path):
    record: dict = {}
    run = train(_adversarial_spec(record), out=tmp_path, steps=5, **QUIET)
    k = 3
    assert run.step == 5 and len(read_log(tmp_path / "losses.jsonl")) == 5
    # 5 iterations of (k discriminator steps + 1 generator step): 5 G updates, 15 D updates
    assert run.model.opt_G.state[0]["step"] == 5 and run.model.opt_D.state[0]["momentum_buffer"] is not None
    assert run.loader.step == 5 * (k + 1) and int(run.model.seen) == 5 * (k + 1) * 50
    # each draw was the loader's next batch: fresh, and in the order batch_at gives
    expected = [run.loader.batch_at(i)[0][0] for i in range(5 * (k + 1))]
    np.testing.assert_array_equal(np.array(record["batches"]), np.array(expected))
    assert len({row.tobytes() for row in record["batches"]}) == len(record["batches"])


def test_the_adversarial_toy_resumes_bit_for_bit(tmp_path):
    spec = _adversarial_spec()
    common = dict(progress=False, outputs=False, checkpoint_every=2, sample_every=2, seed=5)
    straight = train(spec, out=tmp_path / "straight", steps=6, **common)
    train(spec, out=tmp_path / "resumed", steps=3, **common)
    resumed = train(spec, out=tmp_path / "resumed", steps=6, resume=True, **common)
    _assert_same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert read_log(tmp_path / "straight" / "losses.jsonl") == read_log(tmp_path / "resumed" / "losses.jsonl")
    assert resumed.loader.step == straight.loader.step == 6 * 4


def test_epochs_count_passes_over_the_data_at_k_plus_one_batches_per_step(tmp_path):
    run = prepare(_adversarial_spec(), out=tmp_path, epochs=2, batch_size=1000)
    assert run.total_steps == 2 * (10_000 // 1000) // 4


# ------------------------------------------------------------ every registered model
def _assert_same_state(a, b, path="model"):
    """Equal trees, bit for bit (a dict read back from a checkpoint may stand for an OrderedDict)."""
    assert type(a) is type(b) or isinstance(a, dict) and isinstance(b, dict) or np.isscalar(a) and np.isscalar(b), \
        path
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            _assert_same_state(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_state(x, y, f"{path}/{i}")
    elif hasattr(a, "shape"):
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, path


@pytest.fixture
def quiet_pictures(monkeypatch):
    """Progress pictures still sample (and draw random numbers) but skip matplotlib."""
    from tinygen.train import pictures
    monkeypatch.setattr(pictures, "save_samples_picture", lambda *args, **kwargs: None)


@pytest.mark.parametrize("name", list_models())
def test_every_model_resumed_at_half_equals_straight_through(tmp_path, name, quiet_pictures):
    common = dict(quick=True, progress=False, outputs=False, checkpoint_every=1, sample_every=1, seed=2)
    straight = train(name, out=tmp_path / "straight", steps=4, **common)
    train(name, out=tmp_path / "resumed", steps=2, **common)
    resumed = train(name, out=tmp_path / "resumed", steps=4, resume=True, **common)
    _assert_same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert read_log(tmp_path / "straight" / "losses.jsonl") == read_log(tmp_path / "resumed" / "losses.jsonl")
    saved = load(tmp_path / "resumed" / "checkpoint.npz")["model"]
    _assert_same_state(saved, straight.model.state_dict())


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_a_model_state_and_states_its_costs(name):
    spec = get_model(name)
    hparams = {**spec.default_hparams, **spec.quick_hparams}
    assert spec.cost("batches_per_step", hparams) >= 1 and spec.cost("sample_cost", hparams) >= 1
    from tinygen.data import get_dataset
    model = spec.build(dict(hparams), get_dataset(spec.default_dataset))
    assert isinstance(model, ModelState)
    twin = spec.build(dict(hparams), get_dataset(spec.default_dataset))
    twin.load_state_dict(model.state_dict())  # a freshly built model takes its own state back
    _assert_same_state(twin.state_dict(), model.state_dict())


def test_build_must_return_a_model_state(tmp_path):
    spec = _adversarial_spec()
    import dataclasses
    bad = dataclasses.replace(spec, build=lambda hparams, dataset: {"G": nn.Linear(2, 2)})
    with pytest.raises(TypeError, match="build must return a tinygen.models.ModelState"):
        prepare(bad, out=tmp_path)


# ------------------------------------------------------------------------ train/eval flags
def _forgetful_spec(record: dict) -> ModelSpec:
    """A batch-norm network whose sampler calls eval() and never switches back."""

    def build(hparams, dataset):
        net = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        return ModelState(net=net, opt=optim.SGD(net.parameters(), lr=0.01))

    def train_step(model, next_batch, step):
        record.setdefault("training", []).append([m.training for m in model.net.modules()])
        x = tinygen.Tensor(next_batch()[0])
        loss = ((model.net(x) - x) ** 2).mean()
        model.opt.zero_grad()
        loss.backward()
        model.opt.step()
        return {"fit": loss.item()}

    def sample(model, n):
        model.eval()
        with tinygen.no_grad():
            return model.net(tinygen.randn(n, 2)).numpy()

    return ModelSpec(name="forgetful", paper=Paper("nobody", 2024, "a test model"), default_dataset="ring",
                     default_hparams={"batch_size": 32, "steps": 6}, build=build, train_step=train_step,
                     sample=sample, data_kinds=("2d",))


def test_a_sampler_that_forgets_train_mode_cannot_freeze_batch_norm(tmp_path, quiet_pictures):
    record: dict = {}
    run = train(_forgetful_spec(record), out=tmp_path, steps=6, progress=False, outputs=False, sample_every=1)
    assert len(record["training"]) == 6
    assert all(all(flags) for flags in record["training"])  # every module in training mode at every step
    assert run.model.net[1].num_batches_tracked.item() == 6  # batch norm kept updating its statistics


def test_sampling_restores_mixed_flags_and_the_random_stream(tmp_path):
    run = prepare(_forgetful_spec({}), out=tmp_path)
    run.model.net[1].eval()  # a mixed state, as a model might keep on purpose
    before = [m.training for m in run.model.net.modules()]
    tinygen.manual_seed(9)
    expected_next = tinygen.randn(3).numpy()
    tinygen.manual_seed(9)
    sample(run, 5)
    assert [m.training for m in run.model.net.modules()] == before
    np.testing.assert_array_equal(tinygen.randn(3).numpy(), expected_next)
    with pytest.raises(RuntimeError, match="inside"):
        with kept_as_it_was(run.model):
            run.model.train()
            raise RuntimeError("inside")
    assert [m.training for m in run.model.net.modules()] == before  # restored on an error too


def test_fit_starts_every_network_in_training_mode(tmp_path):
    record: dict = {}
    run = prepare(_forgetful_spec(record), out=tmp_path, steps=1)
    run.model.eval()
    tinygen.train.fit(run, progress=False, sample_every=0)
    assert all(record["training"][0])


# ---------------------------------------------------------------------- sampling cost
def test_progress_pictures_get_fewer_as_sampling_gets_dearer():
    assert [n_progress_pictures(c) for c in (1, 4, 5, 8, 16, 1000)] == [8, 8, 6, 4, 2, 2]
    assert [n_progress_pictures(c, quick=True) for c in (1, 8, 1000)] == [4, 4, 2]


@pytest.mark.parametrize("cost, pictures", [(1, 8), (8, 4), (lambda h: h["T"], 2)])
def test_a_run_takes_as_many_pictures_as_its_sampling_cost_allows(tmp_path, quiet_pictures, cost, pictures):
    import dataclasses
    spec = _forgetful_spec({})
    spec = dataclasses.replace(spec, default_hparams={**spec.default_hparams, "T": 100}, sample_cost=cost)
    train(spec, out=tmp_path, steps=24, progress=False, outputs=False)
    assert len(list((tmp_path / "progress").glob("step_*.npy"))) == pictures


def test_a_bad_cost_is_named():
    spec = registry.ModelSpec(name="x", paper=Paper("a", 1, "t"), default_dataset="ring",
                              default_hparams={"steps": 1, "batch_size": 1}, build=None, train_step=None,
                              sample=None, sample_cost=0)
    with pytest.raises(ValueError, match="sample_cost must be a positive integer, got 0"):
        spec.cost("sample_cost", spec.default_hparams)


# ------------------------------------------------------------------------- conditions
def _conditional_spec() -> ModelSpec:
    """Two moons, one per label; the 'generator' puts class c's samples at (c, c) plus noise, so a
    sample shows which label it was asked for."""

    def build(hparams, dataset):
        net = nn.Linear(2, 2)
        return ModelState(net=net, opt=optim.SGD(net.parameters(), lr=0.01))

    def train_step(model, next_batch, step):
        x, y = next_batch()
        assert y.dtype == B.np.int64 and y.shape == (x.shape[0],)
        loss = (model.net(tinygen.Tensor(x)) ** 2).mean()
        model.opt.zero_grad()
        loss.backward()
        model.opt.step()
        return {"fit": loss.item()}

    def sample(model, n, label):
        assert label.shape == (n,) and label.dtype == B.np.int64
        return B.np.stack([label, label], axis=1).astype(B.float32) + 0.01 * B.to_host(tinygen.randn(n, 2).data)

    return ModelSpec(name="toy-cgan", paper=Paper("nobody", 2024, "a test model"), default_dataset="moons",
                     default_hparams={"batch_size": 64, "steps": 3}, build=build, train_step=train_step,
                     sample=sample, data_kinds=("2d",), uses_labels=True, conditions=("label",))


@pytest.fixture
def registered_cgan(monkeypatch):
    spec = _conditional_spec()
    monkeypatch.setitem(registry._REGISTRY, spec.name, spec)
    return spec


def test_final_samples_of_a_conditional_model_come_with_uniform_labels(tmp_path, registered_cgan, monkeypatch):
    import tinygen.metrics
    measured = {}

    def recording_evaluate(dataset_name, samples, labels=None):
        measured.update(samples=np.array(samples), labels=labels)
        return {"dataset": dataset_name}

    monkeypatch.setattr(tinygen.metrics, "evaluate", recording_evaluate)
    train("toy-cgan", out=tmp_path, progress=False, sample_every=0)
    samples = np.load(tmp_path / "samples.npy")
    labels = np.load(tmp_path / "samples_labels.npy")
    np.testing.assert_array_equal(measured["labels"], labels)  # the metrics check the saved labels
    np.testing.assert_array_equal(measured["samples"], samples)
    assert labels.shape == (2500,) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [1250, 1250]  # uniform over the two classes
    assert 0 < labels[:20].sum() < 20  # and in a random order, not sorted
    np.testing.assert_allclose(samples[:, 0], labels, atol=0.1)  # each sample drawn for its own label


def test_sample_with_a_label_from_the_command_line(tmp_path, capsys, registered_cgan):
    train("toy-cgan", out=tmp_path, **QUIET)
    checkpoint = tmp_path / "checkpoint.npz"
    code = cli.main(["sample", "toy-cgan", "--checkpoint", str(checkpoint), "--n", "100", "--label", "1",
                     "--out", str(tmp_path / "s.npy")])
    assert code == 0, capsys.readouterr().err
    np.testing.assert_allclose(np.load(tmp_path / "s.npy")[:, 0], 1.0, atol=0.1)
    np.testing.assert_array_equal(np.load(tmp_path / "s_labels.npy"), np.ones(100, np.int64))
    code = cli.main(["sample", "toy-cgan", "--checkpoint", str(checkpoint), "--n", "10", "--out",
                     str(tmp_path / "u.npy")])
    assert code == 0 and sorted(np.load(tmp_path / "u_labels.npy").tolist()) == [0] * 5 + [1] * 5
    capsys.readouterr()
    code = cli.main(["sample", "toy-cgan", "--checkpoint", str(checkpoint), "--n", "3", "--label", "2",
                     "--out", str(tmp_path / "bad.npy")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "label 2 is outside the dataset's 2 classes (0 to 1)" in err
    code = cli.main(["sample", "toy-cgan", "--checkpoint", str(checkpoint), "--n", "3", "--condition",
                     "style=4", "--out", str(tmp_path / "bad.npy")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "toy-cgan takes no condition 'style' (it takes label)" in err


def test_a_label_for_a_model_that_takes_none_is_a_one_line_error(tmp_path, capsys):
    train("pca", out=tmp_path, **QUIET)
    code = cli.main(["sample", "pca", "--checkpoint", str(tmp_path / "checkpoint.npz"), "--n", "3", "--label",
                     "3", "--out", str(tmp_path / "s.npy")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == "tinygen sample: error: pca takes no condition 'label' (it is not conditional)"
    assert not (tmp_path / "s.npy").exists()


def test_label_arrays_are_checked_against_n(tmp_path, registered_cgan):
    run = train("toy-cgan", out=tmp_path, **QUIET)
    np.testing.assert_allclose(sample(run, 4, label=np.array([0, 1, 1, 0]))[:, 0], [0, 1, 1, 0], atol=0.1)
    with pytest.raises(ValueError, match="3 labels given for 4 samples"):
        sample(run, 4, label=np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="must be an integer"):
        sample(run, 4, label=0.5)


def test_uniform_labels_are_balanced_and_shuffled():
    tinygen.manual_seed(0)
    labels = uniform_labels(103, 10)
    assert sorted(np.bincount(labels).tolist()) == [10] * 7 + [11] * 3
    assert not np.array_equal(labels, np.sort(labels))


# -------------------------------------------------------------------------- the import chain
def test_import_tinygen_does_not_import_the_models_or_the_loop():
    import subprocess
    import sys
    code = ("import sys, tinygen; tinygen.save; tinygen.load; "
            "print(sorted(m for m in sys.modules if m.startswith(('tinygen.models', 'tinygen.train', "
            "'tinygen.data', 'tinygen.metrics'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.replace("'", '"')) == []
