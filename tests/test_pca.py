"""PCA: the fit against scikit-learn's, the projections against their equations, the sampler's
statistics against the Gaussian it claims to sample."""
from __future__ import annotations

import numpy as np
import pytest

import tinygen
from tinygen.models import get_model
from tinygen.models.pca import PCA

sklearn_decomposition = pytest.importorskip("sklearn.decomposition")


def _correlated_data(n: int = 400, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(3.0, 0.2, d)[:, None]  # distinct variances
    return rng.normal(size=(n, d)) @ mixing + rng.normal(size=d)


def _align_signs(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Flip each of our components to point the way scikit-learn's does (an SVD fixes only the line)."""
    signs = np.sign(np.sum(ours * theirs, axis=1))
    return ours * signs[:, None]


@pytest.mark.parametrize("n_components", [1, 3, 6])
def test_fit_matches_scikit_learn_components_up_to_sign_and_explained_variance(n_components):
    x = _correlated_data()
    ours = PCA(n_components).fit(x)
    theirs = sklearn_decomposition.PCA(n_components=n_components, svd_solver="full").fit(x)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_align_signs(ours.components_, theirs.components_), theirs.components_,
                               atol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_, rtol=1e-10)


def test_fit_on_the_digits_matches_scikit_learn():
    from tinygen.data import load_digits

    images, _ = load_digits("train")  # (N, 1, 8, 8)
    ours = PCA(16).fit(images)
    flat = images.reshape(len(images), -1).astype(np.float64)
    theirs = sklearn_decomposition.PCA(n_components=16, svd_solver="full").fit(flat)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(np.sum(ours.components_ * theirs.components_, axis=1)), 1.0, atol=1e-8)
    np.testing.assert_allclose(np.abs(ours.transform(images)), np.abs(theirs.transform(flat)), atol=1e-8)


def test_components_are_orthonormal_sorted_and_sign_fixed():
    p = PCA(4).fit(_correlated_data())
    W = p.components_
    np.testing.assert_allclose(W @ W.T, np.eye(4), atol=1e-12)
    assert np.all(np.diff(p.explained_variance_) <= 0)
    largest = W[np.arange(4), np.argmax(np.abs(W), axis=1)]
    assert np.all(largest > 0)


def test_transform_and_inverse_transform_are_the_projection_equations():
    x = _correlated_data(d=5)
    p = PCA(2).fit(x)
    z = p.transform(x)
    np.testing.assert_allclose(z, (x - x.mean(0)) @ p.components_.T, atol=1e-12)  # z = W (x - mu)
    np.testing.assert_allclose(p.inverse_transform(z), x.mean(0) + z @ p.components_, atol=1e-12)
    # the coordinates are uncorrelated, with variances lambda_k
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.diag(p.explained_variance_), atol=1e-9)


def test_reconstruction_error_is_the_sum_of_the_discarded_variances():
    x = _correlated_data(n=300, d=6)
    n, d = x.shape
    all_variances = PCA(6).fit(x).explained_variance_
    for k in (1, 3, 5):
        expected = all_variances[k:].sum() * (n - 1) / n / d
        assert PCA(k).fit(x).reconstruction_error(x) == pytest.approx(expected, rel=1e-9)


def test_samples_have_the_mean_and_the_rank_k_covariance_of_the_fit():
    x = _correlated_data(n=500, d=5, seed=1)
    p = PCA(3).fit(x)
    tinygen.manual_seed(0)
    n = 100_000
    s = p.sample(n).astype(np.float64)
    assert s.shape == (n, 5)
    expected_cov = p.components_.T @ np.diag(p.explained_variance_) @ p.components_
    # the mean is within 5 standard errors in every coordinate
    standard_error = np.sqrt(np.diag(expected_cov) / n)
    assert np.all(np.abs(s.mean(0) - p.mean_) < 5 * standard_error)
    # the covariance within a few per cent of the largest variance (its sampling error is ~0.5%)
    assert np.abs(np.cov(s, rowvar=False) - expected_cov).max() < 0.03 * expected_cov.diagonal().max()
    # and every sample lies on the fitted plane: projecting it and back changes nothing
    np.testing.assert_allclose(p.inverse_transform(p.transform(s)), s, atol=1e-3)


def test_sampling_is_repeatable_under_a_seed_and_image_samples_are_clipped():
    images = np.random.default_rng(0).random((50, 1, 4, 4)).astype(np.float32)
    p = PCA(5, clip=(0.0, 1.0)).fit(images)
    tinygen.manual_seed(7)
    a = p.sample(200)
    tinygen.manual_seed(7)
    b = p.sample(200)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (200, 1, 4, 4) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_n_components_is_clipped_to_the_data_dimension_and_bad_input_is_refused():
    p = PCA(16).fit(_correlated_data(d=3))
    assert p.components_.shape == (3, 3)
    with pytest.raises(ValueError, match="n_components"):
        PCA(0)
    with pytest.raises(ValueError, match="at least 2 examples"):
        PCA(2).fit(np.ones((1, 3)))
    with pytest.raises(RuntimeError, match="not been fitted"):
        PCA(2).sample(3)


def test_state_dict_round_trip_samples_the_same():
    p = PCA(3).fit(_correlated_data())
    q = PCA(3)
    q.load_state_dict(p.state_dict())
    tinygen.manual_seed(1)
    a = p.sample(10)
    tinygen.manual_seed(1)
    np.testing.assert_array_equal(a, q.sample(10))


def test_the_registered_pca_fits_the_whole_batch_in_one_step():
    spec = get_model("pca")
    assert spec.default_hparams["batch_size"] is None and spec.default_hparams["steps"] == 1
    assert spec.paper.year == 1901 and spec.default_dataset == "digits"
    x = _correlated_data(n=100, d=4).astype(np.float32)

    class Data:
        kind, name = "2d", "toy"

    Data.x = x
    model = spec.build({"n_components": 2}, Data)
    losses = spec.train_step(model, lambda: (x,), 0)
    assert losses["reconstruction_mse"] == pytest.approx(model.reconstruction_error(x))
    assert spec.sample(model, 7).shape == (7, 4)
