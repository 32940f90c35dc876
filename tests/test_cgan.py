"""The conditional GAN (tinygen/models/cgan.py).

The label reaches both networks (G through an embedding that multiplies z elementwise, D through
an embedding shaped as one more image channel); both losses are gradient-checked in float64 with
respect to the data, the latents and every parameter of both networks, label embeddings included;
each step leaves the other network alone; the fakes in D's step carry the real minibatch's labels;
sampling and the command line take a label; a short training run makes samples of the asked-for
class (slow).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import tinygen
import tinygen.metrics
from tinygen import cli, nn
from tinygen.data import get_dataset
from tinygen.data.registry import Dataset
from tinygen.models import cgan
from tinygen.models.registry import get_model


def _hparams(**changes):
    spec = get_model("cgan")
    return {**spec.default_hparams, **spec.quick_hparams, **changes}


def _images(n, size=8, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 1, size, size)).astype(np.float32)


def _labels(n, seed=0, n_classes=10):
    return np.random.default_rng(seed).integers(0, n_classes, n).astype(np.int64)


def _model(size=8, seed=0, **changes):
    tinygen.manual_seed(seed)
    data = Dataset("random", "image", _images(64, size), _labels(64), image_shape=(1, size, size), n_classes=10)
    return cgan.build(_hparams(**changes), data)


def _params(net):
    return [p.numpy().copy() for p in net.parameters()]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------- the label conditions
def test_the_label_changes_what_both_networks_output():
    model = _model()
    model.G.eval()
    model.D.eval()
    z, x = model.sample_z(6), cgan.to_tanh_range(_images(6))
    threes, fives = np.full(6, 3), np.full(6, 5)
    with tinygen.no_grad():
        assert not np.allclose(model.G(z, threes).numpy(), model.G(z, fives).numpy(), atol=1e-4)
        assert not np.allclose(model.D(x, threes).numpy(), model.D(x, fives).numpy(), atol=1e-4)


def test_the_label_embedding_multiplies_z_elementwise():
    model = _model()
    G = model.G.eval()
    z, y = model.sample_z(5), np.array([0, 3, 3, 7, 9])
    e = G.label_embedding.weight.numpy()
    with tinygen.no_grad():
        # G(z | y) = net(z * e_G(y))
        np.testing.assert_array_equal(G(z, y).numpy(), G.net(tinygen.tensor(z.numpy() * e[y])).numpy())
        # a class whose embedding is all ones reads z unchanged, one of all twos reads 2 z
        G.label_embedding.weight.data[3] = 1.0
        G.label_embedding.weight.data[7] = 2.0
        np.testing.assert_array_equal(G(z, np.full(5, 3)).numpy(), G.net(z).numpy())
        np.testing.assert_allclose(G(z, np.full(5, 7)).numpy(), G.net(z * 2.0).numpy(), atol=1e-6)
        # z = 0 is 0 for every class (an added or concatenated label would still tell them apart)
        zero = tinygen.zeros(5, z.shape[1])
        outputs = [G(zero, np.full(5, c)).numpy() for c in range(10)]
    assert all(np.array_equal(o, outputs[0]) for o in outputs)


@pytest.mark.parametrize("size", [8, 28])
def test_the_discriminators_label_channel_has_the_images_shape(size):
    model = _model(size)
    D = model.D
    x, y = cgan.to_tanh_range(_images(4, size)), np.array([1, 4, 4, 9])
    channel = D.label_input(y)
    assert channel.shape == (4, 1, size, size)
    np.testing.assert_array_equal(channel.numpy()[2, 0], D.label_embedding.weight.numpy()[4].reshape(size, size))
    assert D.net[0].in_channels == 2  # the image's channel and the label's
    np.testing.assert_array_equal(D(x, y).numpy(), D.net(tinygen.cat([x, channel], dim=1)).numpy())
    assert D(x, y).shape == (4, 1) and model.G(model.sample_z(4), y).shape == (4, 1, size, size)


def test_for_points_the_label_embedding_joins_the_features():
    tinygen.manual_seed(0)
    model = cgan.build(_hparams(), get_dataset("moons", n=256))
    x, y = tinygen.tensor(np.zeros((3, 2), np.float32)), np.array([0, 1, 1])
    assert model.D.label_input(y).shape == (3, 2) and model.D.net[0].in_features == 2 + 2
    expected = model.D.net(tinygen.cat([x, model.D.label_embedding(y)], dim=1)).numpy()
    np.testing.assert_array_equal(model.D(x, y).numpy(), expected)
    assert not model.rescale and cgan.sample(model, 5, np.array([0, 1, 0, 1, 0])).shape == (5, 2)


def test_binary_vectors_are_generated_in_0_1():
    tinygen.manual_seed(0)
    model = cgan.build(_hparams(), get_dataset("binary-digits"))
    batches = iter([(np.random.default_rng(i).integers(0, 2, (8, 64)).astype(np.float32), _labels(8, i))
                    for i in range(2)])
    assert all(np.isfinite(v) for v in cgan.train_step(model, lambda: next(batches), 0).values())
    x = cgan.sample(model, 6, np.arange(6))
    assert x.shape == (6, 64) and x.min() >= 0 and x.max() <= 1 and model.rescale


# ------------------------------------------------------------------------ gradient checks
def _swap(nets, values):
    slots = [(net, name) for net in nets for name, _ in net.named_parameters()]
    for (net, name), value in zip(slots, values):
        *path, leaf = name.split(".")
        owner = net
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, leaf, value)


def check_loss_gradients(loss, nets, inputs):
    """gradcheck of ``loss(*inputs)`` with respect to the inputs and every parameter of ``nets``."""
    params = [p for net in nets for p in net.parameters()]

    def f(*args):
        _swap(nets, args[len(inputs):])
        return loss(*args[:len(inputs)])

    try:
        return tinygen.gradcheck(f, list(inputs) + params)
    finally:
        _swap(nets, params)


def _kink_margin(net, x):
    smallest = math.inf
    for layer in net:
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            smallest = min(smallest, float(np.abs(x.data).min()))
        x = layer(x)
    return smallest


def _float64_nets(seed=4):
    """Tiny conditional G and D in float64 on 4x4 images with 3 classes, batch norm off 1 and 0."""
    tinygen.manual_seed(seed)
    G, D = cgan.conditional_nets({"nz": 3, "ngf": 2, "ndf": 2}, (1, 4, 4), n_classes=3)
    G, D = G.double(), D.double()
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.3)
            nn.init.normal_(m.bias, 0.0, 0.3)
    rng = np.random.default_rng(seed)
    x = tinygen.tensor(rng.uniform(-1, 1, (4, 1, 4, 4)), dtype=tinygen.float64, requires_grad=True)
    z = tinygen.tensor(rng.uniform(-1, 1, (4, 3)), dtype=tinygen.float64, requires_grad=True)
    y = np.array([0, 2, 1, 2])
    return G, D, x, y, z


def test_float64_check_inputs_keep_every_relu_off_its_kink():
    G, D, x, y, z = _float64_nets()
    with tinygen.no_grad():
        h = z * G.label_embedding(y)
        fake = G(z, y)
        margins = [_kink_margin(G.net, h), _kink_margin(D.net, tinygen.cat([x, D.label_input(y)], dim=1)),
                   _kink_margin(D.net, tinygen.cat([fake, D.label_input(y)], dim=1))]
    assert min(margins) > 1e-3, margins


def test_discriminator_loss_gradients_wrt_data_latents_and_both_networks_with_their_embeddings():
    G, D, x, y, z = _float64_nets()
    assert {"label_embedding.weight"} <= {name for name, _ in G.named_parameters()}
    assert check_loss_gradients(lambda x_, z_: cgan.d_loss(G, D, x_, y, z_), [G, D], [x, z])


def test_generator_loss_gradients_flow_through_the_discriminator_into_the_label_embedding():
    G, D, _, y, z = _float64_nets()
    assert check_loss_gradients(lambda z_: cgan.g_loss(G, D, z_, y), [G, D], [z])
    grads = tinygen.grad(cgan.g_loss(G, D, z, y), [G.label_embedding.weight])
    used = np.abs(grads[0].numpy()).sum(axis=1) > 0
    assert used.tolist() == [True, True, True]  # each class in the batch got a gradient


def test_the_losses_are_the_conditional_value_function():
    G, D, x, y, z = _float64_nets()
    a_real, a_fake = D(x, y).numpy(), D(G(z, y), y).numpy()
    # L_D = -mean log D(x | y) - mean log(1 - D(G(z | y) | y)),  L_G = -mean log D(G(z | y) | y)
    expected_d = np.logaddexp(0, -a_real).mean() + np.logaddexp(0, a_fake).mean()
    assert cgan.d_loss(G, D, x, y, z).item() == pytest.approx(expected_d, rel=1e-10)
    assert cgan.g_loss(G, D, z, y).item() == pytest.approx(np.logaddexp(0, -a_fake).mean(), rel=1e-10)


# --------------------------------------------------------------------------- the two steps
def test_each_step_moves_only_its_own_network():
    model = _model(lr=1e-3)
    x, y = cgan.to_tanh_range(_images(16)), _labels(16)
    G0, D0 = _params(model.G), _params(model.D)
    cgan.discriminator_step(model, x, y)
    G1, D1 = _params(model.G), _params(model.D)
    assert _same(G1, G0) and not _same(D1, D0)
    assert all(p.grad is None for p in model.G.parameters())
    cgan.generator_step(model, y)
    assert _same(_params(model.D), D1) and not _same(_params(model.G), G1)  # e_D included in D's
    assert model.D.training and all(p.requires_grad for p in model.D.parameters())


def test_the_fakes_of_the_discriminator_step_carry_the_real_minibatchs_labels(monkeypatch):
    model = _model()
    batches = [(_images(8, seed=i), _labels(8, seed=i)) for i in range(2)]
    asked_of_G, seen_by_D = [], []
    real_G_forward, real_D_forward = model.G.forward, model.D.forward
    monkeypatch.setattr(model.G, "forward", lambda z, y: asked_of_G.append(np.array(y)) or real_G_forward(z, y))
    monkeypatch.setattr(model.D, "forward", lambda x, y: seen_by_D.append((x.numpy(), np.array(y)))
                        or real_D_forward(x, y))
    drawn = iter(batches)
    cgan.train_step(model, lambda: next(drawn), 0)
    (x0, y0), (_, y1) = batches
    # D's step: the real pairs (x in [-1, 1]), then fakes made for the same labels
    np.testing.assert_allclose(seen_by_D[0][0], 2 * x0 - 1, atol=1e-7)
    np.testing.assert_array_equal(seen_by_D[0][1], y0)
    np.testing.assert_array_equal(asked_of_G[0], y0)
    np.testing.assert_array_equal(seen_by_D[1][1], y0)
    # G's step: the labels of the second minibatch
    np.testing.assert_array_equal(asked_of_G[1], y1)
    np.testing.assert_array_equal(seen_by_D[2][1], y1)
    assert len(asked_of_G) == 2 and len(seen_by_D) == 3


def test_the_spec_declares_labels_and_k_plus_one_batches():
    spec = get_model("cgan")
    assert spec.uses_labels and spec.conditions == ("label",) and spec.default_dataset == "digits"
    assert spec.cost("batches_per_step", _hparams(k=1)) == 2
    assert spec.default_hparams["lr"] == 2e-4 and spec.default_hparams["beta1"] == 0.5


# ------------------------------------------------------------------------------- sampling
def test_sampling_gives_one_image_per_requested_label_independent_of_the_others():
    model = _model()
    labels = np.array([3, 3, 0, 9])
    x = cgan.sample(model, 4, labels)
    assert x.shape == (4, 1, 8, 8) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    z = model.sample_z(4)
    np.testing.assert_allclose(model.generate(z.numpy()[2:3], labels[2:3])[0], model.generate(z, labels)[2],
                               atol=1e-6)


def test_the_command_line_trains_and_samples_a_requested_label(tmp_path, capsys, monkeypatch):
    measured = []

    def stand_in(dataset_name, samples, labels=None):  # the classifier takes seconds to train
        measured.append((dataset_name, np.array(samples), None if labels is None else np.array(labels)))
        return {"dataset": dataset_name, "kind": "image", "stand_in": True}

    monkeypatch.setattr(tinygen.metrics, "evaluate", stand_in)
    out = tmp_path / "run"
    assert cli.main(["train", "cgan", "--quick", "--steps", "4", "--out", str(out), "--quiet"]) == 0
    samples, labels = np.load(out / "samples.npy"), np.load(out / "samples_labels.npy")
    assert samples.shape == (1000, 1, 8, 8) and labels.shape == (1000,) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == [100] * 10  # uniform over the classes
    ((dataset, seen, seen_labels),) = measured
    assert dataset == "digits" and np.array_equal(seen, samples) and np.array_equal(seen_labels, labels)
    capsys.readouterr()

    checkpoint, drawn = out / "checkpoint.npz", tmp_path / "s.npy"
    assert cli.main(["sample", "cgan", "--checkpoint", str(checkpoint), "--label", "3", "--n", "100",
                     "--out", str(drawn)]) == 0
    x, y = np.load(drawn), np.load(tmp_path / "s_labels.npy")
    assert x.shape == (100, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [3] * 100
    assert json.loads((out / "metrics.json").read_text())["stand_in"] is True
    _, err = capsys.readouterr()
    assert "wrote 100 samples of cgan" in err


# ------------------------------------------------------------------------ quality (slow)
@pytest.mark.slow
def test_after_a_short_run_the_classifier_mostly_agrees_with_the_requested_label(tmp_path):
    from tinygen.train import sample_with_conditions, train

    run = train("cgan", out=tmp_path, steps=600, progress=False, outputs=False, sample_every=0)
    samples, conditions = sample_with_conditions(run, 1000)
    metrics = tinygen.metrics.image_metrics(samples, "digits", labels=conditions["label"])
    assert metrics["label_accuracy"] >= 0.8, metrics
