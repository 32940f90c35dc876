"""The data sets and the mini-batch loader: shapes, ranges, the geometry the papers specify,
determinism under a seed, and resuming a loader exactly."""
from __future__ import annotations

import math

import pytest

from tinygen import backend as B
from tinygen.data import (DataLoader, Dataset, bars_and_stripes, binarized_digits, gaussian_mixture_1d,
                          get_dataset, grid_centres, grid_of_gaussians, list_datasets, load_digits,
                          ring_centres, ring_of_gaussians, swiss_roll, two_moons)

np = B.np

TOYS = {
    "ring": lambda n, seed: ring_of_gaussians(n, seed=seed),
    "grid": lambda n, seed: grid_of_gaussians(n, seed=seed),
    "swiss_roll": lambda n, seed: swiss_roll(n, seed=seed),
    "two_moons": lambda n, seed: two_moons(n, seed=seed)[0],
    "gmm_1d": lambda n, seed: gaussian_mixture_1d(n, seed=seed),
}


# ------------------------------------------------------------------------------------ 2-D toys
def test_ring_has_eight_distinct_centres_at_angles_2pi_k_over_8_on_the_unit_circle() -> None:
    c = ring_centres()
    assert c.shape == (8, 2) and c.dtype == np.float32
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-6)
    angles = np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * math.pi)
    assert np.allclose(np.sort(angles), 2 * math.pi * np.arange(8) / 8, atol=1e-6)
    pairwise = np.linalg.norm(c[:, None] - c[None], axis=2) + np.eye(8) * 10
    assert pairwise.min() > 0.7  # neighbours are 2 sin(pi/8) = 0.765 apart


def test_grid_centres_are_minus4_to_4_in_steps_of_2_squared() -> None:
    c = grid_centres()
    assert c.shape == (25, 2)
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {(float(a), float(b)) for a, b in c} == expected


@pytest.mark.parametrize("make, centres, std", [
    (lambda n: ring_of_gaussians(n, seed=1), ring_centres(), 0.01),
    (lambda n: grid_of_gaussians(n, seed=1), grid_centres(), 0.05),
])
def test_mixture_samples_scatter_with_the_paper_std_around_uniformly_chosen_centres(make, centres, std) -> None:
    x = make(20_000)
    assert x.shape == (20_000, 2) and x.dtype == np.float32
    nearest = np.linalg.norm(x[:, None] - centres[None], axis=2).argmin(1)
    offsets = x - centres[nearest]
    # each coordinate's spread around its centre is std (20,000 draws: within 3%)
    assert np.allclose(offsets.std(0), std, rtol=0.03)
    counts = np.bincount(nearest, minlength=len(centres))
    expected = len(x) / len(centres)
    assert np.abs(counts - expected).max() < 5 * math.sqrt(expected)  # uniform over modes


def test_swiss_roll_without_noise_lies_on_the_spiral_r_equals_t_over_10() -> None:
    x = swiss_roll(1000, seed=0, noise=0.0).astype(np.float64)
    r = np.linalg.norm(x, axis=1)
    t = 10 * r  # on the spiral (t cos t, t sin t) / 10, the radius is t / 10
    assert r.min() >= 1.5 * math.pi / 10 - 1e-5 and r.max() <= 4.5 * math.pi / 10 + 1e-5
    assert np.allclose(x[:, 0], r * np.cos(t), atol=1e-4)
    assert np.allclose(x[:, 1], r * np.sin(t), atol=1e-4)


def test_two_moons_without_noise_are_two_unit_half_circles_with_balanced_labels() -> None:
    x, y = two_moons(1001, seed=0, noise=0.0)
    assert x.shape == (1001, 2) and y.shape == (1001,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1} and abs(int((y == 0).sum()) - int((y == 1).sum())) <= 1
    upper, lower = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    assert np.allclose(np.linalg.norm(upper, axis=1), 1.0, atol=1e-5) and (upper[:, 1] >= -1e-6).all()
    centre = np.array([1.0, 0.5])  # the lower moon is the circle around (1, 0.5), lower half
    assert np.allclose(np.linalg.norm(lower - centre, axis=1), 1.0, atol=1e-5) and (lower[:, 1] <= 0.5 + 1e-6).all()


def test_gaussian_mixture_1d_matches_the_mixture_mean_and_variance() -> None:
    means, stds, weights = (-1.0, 3.0), (0.5, 1.0), (0.25, 0.75)
    x = gaussian_mixture_1d(50_000, seed=0, means=means, stds=stds, weights=weights).ravel().astype(np.float64)
    mean = sum(w * m for w, m in zip(weights, means))  # E x = sum w_k mu_k
    second = sum(w * (s ** 2 + m ** 2) for w, m, s in zip(weights, means, stds))  # E x^2
    assert abs(x.mean() - mean) < 0.03
    assert abs(x.var() - (second - mean ** 2)) < 0.05


def test_gaussian_mixture_1d_rejects_weights_that_do_not_sum_to_one() -> None:
    with pytest.raises(ValueError, match="weights"):
        gaussian_mixture_1d(10, means=(0.0, 1.0), stds=(1.0, 1.0), weights=(0.5, 0.6))


@pytest.mark.parametrize("name", sorted(TOYS))
def test_toys_are_a_pure_function_of_the_seed(name: str) -> None:
    make = TOYS[name]
    a, b, c = make(500, 7), make(500, 7), make(500, 8)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.allclose(a, c)


# ---------------------------------------------------------------------------------- binary
@pytest.mark.parametrize("size", [2, 3, 4])
def test_bars_and_stripes_lists_every_distinct_pattern_once(size: int) -> None:
    p = bars_and_stripes(size)
    assert p.shape == (2 ** (size + 1) - 2, size * size)
    assert set(np.unique(p)) <= {0.0, 1.0}
    assert len({row.tobytes() for row in p}) == len(p)  # all distinct
    for pattern in p.reshape(-1, size, size):
        stripes = (pattern == pattern[:, :1]).all()  # every row constant
        bars = (pattern == pattern[:1, :]).all()  # every column constant
        assert stripes or bars


def test_binarized_digits_are_binary_vectors_of_64() -> None:
    x = binarized_digits("train")
    assert x.shape == (1437, 64) and x.dtype == np.float32
    assert set(np.unique(x)) == {0.0, 1.0}
    assert np.array_equal(x, (load_digits("train")[0].reshape(-1, 64) > 0.5).astype(np.float32))


# ---------------------------------------------------------------------------------- digits
def test_digits_split_80_20_disjoint_seeded_and_every_class_present() -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits as sklearn_digits

    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_train)) == set(np.unique(y_test)) == set(range(10))
    # together the two splits are exactly scikit-learn's 1,797 images (as multisets of rows)
    ours = sorted(r.tobytes() for r in (np.concatenate([x_train, x_test]).reshape(-1, 64) * 16).astype(np.int64))
    theirs = sorted(r.tobytes() for r in sklearn_digits().images.reshape(-1, 64).astype(np.int64))
    assert ours == theirs
    again, _ = load_digits("train", seed=0)
    other, _ = load_digits("train", seed=1)
    assert np.array_equal(again, x_train) and not np.array_equal(other, x_train)


# -------------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name, kind, shape", [
    ("ring", "2d", (10_000, 2)), ("grid", "2d", (10_000, 2)), ("swiss-roll", "2d", (10_000, 2)),
    ("moons", "2d", (10_000, 2)), ("gmm-1d", "1d", (10_000, 1)), ("bars-and-stripes", "binary", (14, 9)),
    ("binary-digits", "binary", (1437, 64)), ("digits", "image", (1437, 1, 8, 8)),
])
def test_get_dataset_returns_the_promised_kind_and_shape(name: str, kind: str, shape: tuple[int, ...]) -> None:
    data = get_dataset(name)
    assert isinstance(data, Dataset) and data.name == name and data.kind == kind
    assert data.x.shape == shape and data.x.dtype == np.float32
    if kind == "image":
        assert data.image_shape == (1, 8, 8) and data.n_classes == 10 and len(data.y) == len(data.x)
        assert 0.0 <= data.x.min() and data.x.max() <= 1.0


def test_ring_and_grid_datasets_carry_their_centres_and_std() -> None:
    ring, grid = get_dataset("ring"), get_dataset("grid")
    assert np.array_equal(ring.centres, ring_centres()) and ring.std == 0.01
    assert np.array_equal(grid.centres, grid_centres()) and grid.std == 0.05


def test_toy_test_split_is_independent_of_the_train_split() -> None:
    train, test = get_dataset("ring", "train", n=100), get_dataset("ring", "test", n=100)
    assert not np.allclose(train.x, test.x)
    assert np.array_equal(get_dataset("ring", "test", n=100).x, test.x)
    assert len(get_dataset("ring", "test").x) == 2_500


def test_bars_and_stripes_with_n_draws_every_pattern_uniformly() -> None:
    data = get_dataset("bars-and-stripes", n=14_000)
    assert data.x.shape == (14_000, 9)
    patterns = [row.tobytes() for row in bars_and_stripes(3)]
    counts = np.array([sum(1 for r in data.x if r.tobytes() == p) for p in patterns])
    assert counts.sum() == 14_000 and np.abs(counts - 1000).max() < 5 * math.sqrt(1000)


def test_list_datasets_names_every_dataset_and_unknown_names_are_refused() -> None:
    names = list_datasets()
    assert names == ["ring", "grid", "swiss-roll", "moons", "gmm-1d", "bars-and-stripes", "binary-digits",
                     "digits", "mnist", "fashion-mnist"]
    with pytest.raises(ValueError, match="unknown dataset 'rings'.*ring, grid"):
        get_dataset("rings")
    with pytest.raises(ValueError, match="split"):
        get_dataset("ring", split="valid")


# ------------------------------------------------------------------------------ DataLoader
def _flatten_batches(batches: list[tuple]) -> list:
    return [b[0].tolist() for b in batches]


def test_loader_epoch_visits_every_example_once_in_a_seeded_order() -> None:
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    loader = DataLoader(x, y, batch_size=3, drop_last=False, seed=5)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [3, 3, 3, 1] and len(loader) == 4
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for bx, by in batches:  # rows stay paired across arrays
        assert np.array_equal(bx.ravel(), by.astype(np.float32))
    second = list(loader)  # the next epoch: another order
    assert np.concatenate([b[1] for b in second]).tolist() != seen.tolist()
    assert loader.epoch == 2 and loader.position == 0


def test_loader_drop_last_gives_only_full_batches_and_no_shuffle_keeps_order() -> None:
    x = np.arange(10)
    loader = DataLoader(x, batch_size=4, shuffle=False)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_loader_order_is_a_pure_function_of_seed_and_epoch() -> None:
    x = np.arange(50)
    a, b = DataLoader(x, batch_size=7, seed=3), DataLoader(x, batch_size=7, seed=3)
    run_a = [batch for _ in range(3) for batch in a]
    run_b = [b.batch_at(step) for step in range(3 * len(b))]
    assert _flatten_batches(run_a) == _flatten_batches(run_b)
    other = DataLoader(x, batch_size=7, seed=4)
    assert _flatten_batches([other.batch_at(0)]) != _flatten_batches([a.batch_at(0)])


def test_loader_seed_and_epoch_are_not_added_together() -> None:
    # an order drawn from seed + epoch would make run (seed, epoch) replay run (seed + 1, epoch - 1)
    loader, neighbour = DataLoader(np.arange(50), batch_size=5, seed=3), DataLoader(np.arange(50), batch_size=5, seed=4)
    for epoch in range(1, 4):
        assert not np.array_equal(loader.permutation(epoch), neighbour.permutation(epoch - 1))
        assert not np.array_equal(loader.permutation(epoch), loader.permutation(epoch - 1))


def test_loader_resumed_from_state_dict_sees_the_same_batches_as_an_uninterrupted_run() -> None:
    x = np.arange(40)
    straight = DataLoader(x, batch_size=6, seed=11)
    expected = [straight.next_batch() for _ in range(20)]  # crosses three epoch boundaries

    first = DataLoader(x, batch_size=6, seed=11)
    got = []
    for batch in first:  # stop in the middle of epoch 0, as an interrupted run would
        got.append(batch)
        if len(got) == 4:
            break
    state = first.state_dict()
    assert state == {"epoch": 0, "position": 4, "seed": 11, "batch_size": 6, "n": 40}
    resumed = DataLoader(x, batch_size=6, seed=11)
    resumed.load_state_dict(dict(state))
    while len(got) < 20:
        got.extend(resumed)  # finishes epoch 0, then whole epochs
    assert _flatten_batches(got[:20]) == _flatten_batches(expected)


def test_loader_refuses_a_state_from_another_configuration() -> None:
    state = DataLoader(B.np.arange(40), batch_size=6, seed=11).state_dict()
    with pytest.raises(ValueError, match="seed"):
        DataLoader(B.np.arange(40), batch_size=6, seed=12).load_state_dict(state)


def test_loader_rejects_bad_arguments_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="first dimension"):
        DataLoader(np.zeros(5), np.zeros(6), batch_size=2)
    with pytest.raises(ValueError, match="no batch"):
        DataLoader(np.zeros(5), batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.zeros(5), batch_size=0)
