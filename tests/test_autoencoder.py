"""The autoencoder: it learns to reconstruct, and its sampler decodes draws from the Gaussian
fitted to the codes of the training set (mean and full covariance)."""
from __future__ import annotations

import numpy as np
import pytest

import tinygen
from tinygen import nn
from tinygen.data import get_dataset
from tinygen.models import get_model
from tinygen.models.autoencoder import AutoencoderGenerator, build, mlp_autoencoder
from tinygen.train import train

SMALL = {"hidden": [64, 32], "latent_dim": 6}


def _hparams(**changes):
    spec = get_model("autoencoder")
    return {**spec.default_hparams, **spec.quick_hparams, **SMALL, **changes}


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", split="train")


def _held_out_loss(model: AutoencoderGenerator, x: np.ndarray) -> float:
    model.net.eval()
    with tinygen.no_grad():
        return model.reconstruction_loss(tinygen.Tensor(x)).item()


def test_the_mlp_has_the_papers_shape_with_a_linear_code_layer():
    net = mlp_autoencoder((1, 8, 8), [1000, 500, 250], 30)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (64, 1000), (1000, 500), (500, 250), (250, 30), (30, 250), (250, 500), (500, 1000), (1000, 64)]
    z = net.encode(tinygen.randn(5, 1, 8, 8))
    assert z.shape == (5, 30) and bool((z.data < 0).any())  # no ReLU after the code layer
    assert net(tinygen.randn(5, 1, 8, 8)).shape == (5, 1, 8, 8)


def test_reconstruction_improves_with_training(tmp_path):
    held_out = get_dataset("digits", split="test").x
    tinygen.manual_seed(0)
    untrained = build(_hparams(), get_dataset("digits"))
    before = _held_out_loss(untrained, held_out)
    run = train("autoencoder", out=tmp_path, quick=True, steps=150, hparams=SMALL, progress=False,
                outputs=False, sample_every=0)
    after = _held_out_loss(run.model, held_out)
    # untrained ~0.69 (= log 2); the floor, the entropy of these grey-level pixels, is ~0.21
    assert after < before - 0.2, (before, after)
    logged = [line["reconstruction"] for line in tinygen.train.read_log(tmp_path / "losses.jsonl")]
    assert len(logged) == 150 and np.mean(logged[-10:]) < np.mean(logged[:10]) - 0.2


def test_the_loss_is_cross_entropy_for_pixels_and_squared_error_for_points(digits):
    model = build(_hparams(), digits)
    assert model.loss == "bce"
    x = tinygen.Tensor(digits.x[:16])
    logits = model.net(x)
    expected = tinygen.nn.functional.binary_cross_entropy_with_logits(logits, x).item()
    assert model.reconstruction_loss(x).item() == pytest.approx(expected, rel=1e-6)
    assert model.sample(4).min() >= 0 and model.sample(4).max() <= 1  # sigmoid outputs
    ring = get_dataset("ring", n=256)
    model = build(_hparams(latent_dim=1), ring)
    x = tinygen.Tensor(ring.x)
    assert model.loss == "mse"
    assert model.reconstruction_loss(x).item() == pytest.approx(((model.net(x).data - ring.x) ** 2).mean(), rel=1e-5)


def test_the_fitted_gaussian_is_the_mean_and_covariance_of_the_training_codes(digits):
    tinygen.manual_seed(0)
    model = build(_hparams(), digits)
    model.fit_latent_gaussian()
    model.net.eval()
    with tinygen.no_grad():
        codes = model.net.encode(tinygen.Tensor(digits.x)).data.astype(np.float64)
    np.testing.assert_allclose(model.latent_mean, codes.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.latent_cov, np.cov(codes, rowvar=False), rtol=1e-5, atol=1e-7)
    assert model.latent_cov.shape == (6, 6)


def test_the_sampler_decodes_latents_drawn_from_the_fitted_gaussian(digits, monkeypatch):
    tinygen.manual_seed(0)
    model = build(_hparams(latent_dim=3), digits)
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    model.latent_mean = np.array([1.0, -2.0, 0.5])
    model.latent_cov = A @ A.T + 0.1 * np.eye(3)  # a full covariance, strongly correlated
    model.latent_step = model.step  # fitted for the current network: no refit
    seen = []
    real_decode = model.net.decode

    def recording_decode(z):
        seen.append(z.data.astype(np.float64))
        return real_decode(z)

    monkeypatch.setattr(model.net, "decode", recording_decode)
    out = model.sample(40_000)
    assert out.shape == (40_000, 1, 8, 8)
    z = np.concatenate(seen)
    assert z.shape == (40_000, 3)
    standard_error = np.sqrt(np.diag(model.latent_cov) / len(z))
    assert np.all(np.abs(z.mean(0) - model.latent_mean) < 5 * standard_error)
    np.testing.assert_allclose(np.cov(z, rowvar=False), model.latent_cov, atol=0.05 * model.latent_cov.max())
    # the decoded outputs are exactly sigmoid(decoder(z)) of those latents
    with tinygen.no_grad():
        expected = tinygen.sigmoid(real_decode(tinygen.Tensor(z[:5].astype(np.float32)))).numpy()
    np.testing.assert_allclose(out[:5], expected, rtol=1e-6, atol=1e-6)


def test_a_singular_code_covariance_still_samples(digits):
    model = build(_hparams(latent_dim=2), digits)
    model.latent_mean = np.zeros(2)
    model.latent_cov = np.array([[1.0, 1.0], [1.0, 1.0]])  # rank 1
    model.latent_step = model.step
    z = model.sample_latents(5000)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z[:, 0], z[:, 1], atol=1e-6)  # all mass on the line z0 = z1


def test_the_gaussian_is_refitted_after_further_training(digits):
    tinygen.manual_seed(0)
    model = build(_hparams(), digits)
    model.sample(2)
    first = model.latent_mean.copy()
    spec = get_model("autoencoder")
    for step in range(5):
        spec.train_step(model, lambda: (digits.x[:64],), step)
    model.sample(2)
    assert model.latent_step == 5 and not np.allclose(model.latent_mean, first)


def test_state_dict_round_trip_keeps_the_network_and_the_gaussian(digits, tmp_path):
    spec = get_model("autoencoder")
    tinygen.manual_seed(0)
    model = build(_hparams(), digits)
    spec.train_step(model, lambda: (digits.x[:64],), 0)
    model.fit_latent_gaussian()
    state = model.state_dict()
    # the checkpoint's layout: the network, its optimiser, and the Gaussian over codes with its step
    assert list(state) == ["net", "optimizer", "step", "latent_mean", "latent_cov", "latent_step"]
    assert state["latent_mean"].dtype == np.float64 and state["latent_cov"].shape == (6, 6)
    tinygen.save({"model": state}, tmp_path / "c.npz")
    tinygen.manual_seed(1)
    twin = build(_hparams(), digits)
    twin.x_train = None  # a loaded model samples from the stored Gaussian, without the data
    twin.load_state_dict(tinygen.load(tmp_path / "c.npz")["model"])
    assert (twin.step, twin.latent_step) == (1, 1)
    tinygen.manual_seed(3)
    a = model.sample(8)
    tinygen.manual_seed(3)
    np.testing.assert_array_equal(a, twin.sample(8))


def test_the_convolutional_autoencoder_maps_images_to_codes_and_back(digits):
    model = build(_hparams(architecture="conv", channels=4), digits)
    x = tinygen.Tensor(digits.x[:3])
    assert model.net.encode(x).shape == (3, 6)
    assert model.net(x).shape == (3, 1, 8, 8)
    losses = get_model("autoencoder").train_step(model, lambda: (digits.x[:16],), 0)
    assert np.isfinite(losses["reconstruction"])


def test_bad_hyperparameters_are_named(digits):
    with pytest.raises(ValueError, match="architecture"):
        build(_hparams(architecture="transformer"), digits)
    with pytest.raises(ValueError, match="loss"):
        build(_hparams(loss="l1"), digits)
