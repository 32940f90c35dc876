"""The sample-quality metrics against what they should say: real data scores at the ceiling, a
collapsed generator scores one mode, shifted sets score apart, and every formula matches a value
worked out by hand or in closed form."""
from __future__ import annotations

import math
from typing import Iterator

import pytest

from tinygen import backend as B
from tinygen.data import (bars_and_stripes, get_dataset, grid_centres, grid_of_gaussians, ring_centres,
                          ring_of_gaussians)
from tinygen.metrics import (evaluate, frechet_distance, frechet_distance_gaussians, get_classifier,
                             image_metrics, mmd, mode_metrics)
from tinygen.metrics import classifier as classifier_module

np = B.np

# P(||eps|| <= 3) for eps ~ N(0, I_2): the squared radius is chi-square with 2 degrees of freedom
HIGH_QUALITY_2D = 100 * (1 - math.exp(-9 / 2))  # 98.89 %


# ------------------------------------------------------------------------------ mode metrics
def test_real_ring_data_covers_all_8_modes_nearly_all_high_quality_and_kl_near_0() -> None:
    m = mode_metrics(ring_of_gaussians(2500, seed=0), ring_centres(), 0.01)
    assert m["modes_covered"] == 8 and m["n_modes"] == 8
    # ~100%: exactly the chi-square(2) probability of the 3-std disc (binomial sd 0.2 %)
    assert abs(m["high_quality_pct"] - HIGH_QUALITY_2D) < 1.0
    assert 0 <= m["kl_to_uniform"] < 0.01  # E KL ~ (K - 1) / (2 n) = 0.0014 for a uniform sample


def test_real_grid_data_covers_all_25_modes() -> None:
    m = mode_metrics(grid_of_gaussians(2500, seed=0), grid_centres(), 0.05)
    assert m["modes_covered"] == 25 and abs(m["high_quality_pct"] - HIGH_QUALITY_2D) < 1.0
    assert m["kl_to_uniform"] < 0.03


def test_samples_from_one_mode_cover_one_mode_with_kl_log_8() -> None:
    rng = np.random.default_rng(0)
    samples = ring_centres()[3] + 0.01 * rng.standard_normal((2500, 2))
    m = mode_metrics(samples, ring_centres(), 0.01)
    assert m["modes_covered"] == 1
    assert abs(m["high_quality_pct"] - HIGH_QUALITY_2D) < 1.0
    assert m["kl_to_uniform"] == pytest.approx(math.log(8), abs=1e-12)


def test_mode_metrics_on_a_hand_worked_example() -> None:
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    samples = np.array([[0.0, 0.2],   # nearest 0, distance 0.2 <= 3 * 0.1: high quality
                        [0.29, 0.0],  # nearest 0, 0.29: high quality
                        [9.0, 0.0],   # nearest 1, distance 1.0: not high quality
                        [4.0, 0.0]])  # nearest 0, distance 4: not high quality
    m = mode_metrics(samples, centres, std=0.1)
    assert m["modes_covered"] == 1  # mode 1 has a nearest sample, but not a high-quality one
    assert m["high_quality_pct"] == pytest.approx(50.0)
    # every sample is counted at its nearest centre: p = (3/4, 1/4); KL = sum p log(2 p)
    assert m["kl_to_uniform"] == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))


def test_samples_off_the_modes_are_never_high_quality() -> None:
    m = mode_metrics(2.0 * ring_of_gaussians(2500, seed=0), ring_centres(), 0.01)
    assert m["modes_covered"] == 0 and m["high_quality_pct"] == 0.0


def test_mode_metrics_names_the_problem_with_non_finite_samples() -> None:
    samples = ring_of_gaussians(10)
    samples[3, 0] = np.nan
    with pytest.raises(ValueError, match="1 of 10 samples are NaN"):
        mode_metrics(samples, ring_centres(), 0.01)


# ----------------------------------------------------------------------------------------- MMD
def _brute_force_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> float:
        return math.exp(-float(((a - b) ** 2).sum()) / (2 * sigma ** 2))
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_is_the_unbiased_estimate_written_out_pair_by_pair() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3)) + 0.5
    assert mmd(x, y, bandwidth=1.3) == pytest.approx(_brute_force_mmd2(x, y, 1.3), rel=1e-10)
    assert mmd(x, y) == pytest.approx(mmd(y, x), rel=1e-10)


def test_mmd_is_near_zero_for_one_distribution_and_clearly_positive_for_a_shifted_one() -> None:
    x, y = get_dataset("ring", "train", n=1000).x, get_dataset("ring", "test", n=1000).x
    same = mmd(x, y)
    shifted = mmd(x, y + np.array([0.5, 0.0], dtype=np.float32))
    assert abs(same) < 2e-3  # the estimate's spread for n = 1,000 is about 5e-4
    assert shifted > 0.02 and shifted > 20 * abs(same)


def test_mmd_flattens_images_and_rejects_mismatched_features() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((20, 1, 4, 4))
    assert mmd(a, a.reshape(20, 16), bandwidth=1.0) == pytest.approx(mmd(a, a, bandwidth=1.0))
    with pytest.raises(ValueError, match="same number of features"):
        mmd(rng.random((5, 2)), rng.random((5, 3)))


# ------------------------------------------------------------------------- Frechet distance
def test_frechet_distance_of_a_feature_set_with_itself_is_zero() -> None:
    f = np.random.default_rng(0).standard_normal((500, 16)) @ np.random.default_rng(1).standard_normal((16, 16))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(f, rowvar=False)))


def test_frechet_distance_of_a_shifted_set_is_the_squared_shift() -> None:
    rng = np.random.default_rng(0)
    f = rng.standard_normal((400, 8)) @ rng.standard_normal((8, 8))
    shift = rng.standard_normal(8)
    # same covariance, so d^2 = ||shift||^2 exactly
    assert frechet_distance(f, f + shift) == pytest.approx(float((shift ** 2).sum()), rel=1e-6)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians() -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    v1, v2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    # diagonal covariances commute: d^2 = ||mu1 - mu2||^2 + sum_i (sqrt v1_i - sqrt v2_i)^2
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance_gaussians(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_scipy_sqrtm_for_full_covariances() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance_gaussians(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


# ------------------------------------------------------------------- the image classifier
@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Train the digits classifier once for this module, into a temporary cache."""
    cache = tmp_path_factory.mktemp("tinygen-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYGEN_CACHE", str(cache))
        before = B.get_rng_state()
        model = get_classifier("digits")
        after = B.get_rng_state()
        yield {"model": model, "cache": cache, "rng_untouched": before == after}


def test_classifier_is_accurate_on_held_out_digits(digits_classifier: dict) -> None:
    test = get_dataset("digits", "test")
    logits, features = classifier_module.predict(digits_classifier["model"], test.x)
    assert logits.shape == (360, 10) and features.shape == (360, 64)
    assert (logits.argmax(1) == test.y).mean() > 0.93


def test_classifier_training_leaves_the_global_random_stream_alone(digits_classifier: dict) -> None:
    assert digits_classifier["rng_untouched"]


def test_classifier_is_cached_as_npz_and_reloaded_without_retraining(digits_classifier: dict,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    files = list((digits_classifier["cache"] / "classifiers").glob("digits-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as archive:  # plain arrays, no pickle
        assert any(k.startswith("state.") for k in archive.files)
    monkeypatch.setenv("TINYGEN_CACHE", str(digits_classifier["cache"]))
    monkeypatch.setattr(classifier_module, "_loaded", {})  # forget the in-process copy
    monkeypatch.setattr(classifier_module, "_train", lambda *a: pytest.fail("retrained instead of loading"))
    reloaded = get_classifier("digits")
    x = get_dataset("digits", "test").x[:50]
    assert np.array_equal(classifier_module.predict(reloaded, x)[0],
                          classifier_module.predict(digits_classifier["model"], x)[0])


def test_held_out_real_digits_score_at_the_ceiling(digits_classifier: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGEN_CACHE", str(digits_classifier["cache"]))
    m = image_metrics(get_dataset("digits", "test").x, "digits")
    reference = m["reference"]
    for r in (m, reference):
        assert r["classes_covered"] == 10 and r["n_classes"] == 10
        assert r["mean_confidence"] > 0.9 and r["kl_to_uniform"] < 0.1
    assert m["n_samples"] == 360 and reference["n_samples"] == 180
    assert m["frechet_distance"] <= 1.5 * reference["frechet_distance"]


def test_label_accuracy_is_the_share_of_samples_classified_as_their_own_label(
        digits_classifier: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGEN_CACHE", str(digits_classifier["cache"]))
    test = get_dataset("digits", "test")
    right = image_metrics(test.x, "digits", labels=test.y)
    shifted = image_metrics(test.x, "digits", labels=(test.y + 1) % 10)  # every label wrong
    predicted = classifier_module.predict(digits_classifier["model"], test.x)[0].argmax(1)
    assert right["label_accuracy"] == pytest.approx((predicted == test.y).mean()) and right["label_accuracy"] > 0.93
    assert shifted["label_accuracy"] == pytest.approx((predicted == (test.y + 1) % 10).mean())
    assert shifted["label_accuracy"] < 0.05
    assert right["reference"]["label_accuracy"] > 0.9
    assert "label_accuracy" not in image_metrics(test.x, "digits")
    with pytest.raises(ValueError, match="labels must be 360 integers in \\[0, 10\\)"):
        image_metrics(test.x, "digits", labels=test.y[:10])
    with pytest.raises(ValueError, match="labels must be"):
        image_metrics(test.x, "digits", labels=test.y + 10)


def test_uniform_noise_images_score_poorly(digits_classifier: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGEN_CACHE", str(digits_classifier["cache"]))
    noise = np.random.default_rng(0).random((360, 1, 8, 8)).astype(np.float32)
    m = image_metrics(noise, "digits")
    reference = m["reference"]
    assert m["frechet_distance"] > 10 * reference["frechet_distance"]
    assert m["kl_to_uniform"] > 0.3 > reference["kl_to_uniform"]  # a few classes take most samples
    assert m["mean_confidence"] < reference["mean_confidence"]


def test_image_metrics_accept_flat_samples_and_refuse_wrong_shapes(digits_classifier: dict,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGEN_CACHE", str(digits_classifier["cache"]))
    x = get_dataset("digits", "test").x
    flat = image_metrics(x.reshape(360, 64), "digits")
    assert flat["frechet_distance"] == pytest.approx(image_metrics(x, "digits")["frechet_distance"])
    with pytest.raises(ValueError, match=r"shape \(1, 8, 8\)"):
        image_metrics(np.zeros((10, 28, 28)), "digits")
    with pytest.raises(ValueError, match="no classifier"):
        image_metrics(x, "ring")


# ---------------------------------------------------------------------------------- evaluate
def test_evaluate_gives_mode_metrics_and_mmd_for_the_ring() -> None:
    result = evaluate("ring", ring_of_gaussians(3000, seed=5))
    assert result["kind"] == "2d" and result["n_samples"] == 2500  # the papers' 2,500
    assert result["modes_covered"] == 8 and abs(result["mmd"]) < 2e-3
    assert result["reference"]["modes_covered"] == 8


def test_evaluate_counts_valid_bars_and_stripes_patterns() -> None:
    patterns = np.tile(bars_and_stripes(3), (10, 1))
    good = evaluate("bars-and-stripes", patterns)
    assert good["valid_pct"] == 100.0 and good["patterns_covered"] == 14
    noise = (np.random.default_rng(0).random((1000, 9)) > 0.5).astype(np.float32)
    bad = evaluate("bars-and-stripes", noise)
    # 14 of the 512 binary 3x3 images are patterns: 2.7 % of uniform noise
    assert bad["valid_pct"] < 6.0 and bad["mmd"] > good["mmd"]


def test_evaluate_uses_mmd_for_1d_and_refuses_unknown_datasets() -> None:
    real = get_dataset("gmm-1d", "train", n=1000).x
    assert evaluate("gmm-1d", real + 1.0)["mmd"] > 10 * abs(evaluate("gmm-1d", real)["mmd"])
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate("cifar", real)


def test_evaluate_images_reports_image_metrics(digits_classifier: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGEN_CACHE", str(digits_classifier["cache"]))
    result = evaluate("digits", get_dataset("digits", "train").x[:500])
    assert result["kind"] == "image" and result["classes_covered"] == 10 and "reference" in result


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_both_classifier_architectures_give_logits_and_64_features(arch: str) -> None:
    model = classifier_module.Classifier((1, 8, 8), 10, arch)
    logits, features = classifier_module.predict(model, np.zeros((3, 1, 8, 8), dtype=np.float32))
    assert logits.shape == (3, 10) and features.shape == (3, 64)
