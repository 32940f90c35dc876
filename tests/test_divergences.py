"""tinygen/divergences.py: each divergence against a value worked out by hand, the parallel lines'
closed forms against the general functions applied to samples, and the properties that tell the
four apart (symmetry, bounds, what happens when supports do not overlap)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinygen import divergences as dv

P = [0.5, 0.5]
Q = [0.25, 0.75]


# --------------------------------------------------------------------------------- hand-worked
def test_kl_of_two_coins_by_hand():
    # KL(P || Q) = 1/2 log(0.5/0.25) + 1/2 log(0.5/0.75) = 1/2 log 2 + 1/2 log(2/3) = 1/2 log(4/3)
    assert dv.kl_divergence(P, Q) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-12)
    # KL(Q || P) = 1/4 log(0.25/0.5) + 3/4 log(0.75/0.5) = -1/4 log 2 + 3/4 log(3/2): not symmetric
    assert dv.kl_divergence(Q, P) == pytest.approx(-0.25 * math.log(2) + 0.75 * math.log(1.5), rel=1e-12)
    assert dv.kl_divergence(Q, P) != pytest.approx(dv.kl_divergence(P, Q))


def test_js_of_two_coins_by_hand():
    # m = (3/8, 5/8); KL(P || m) = 1/2 log(4/3) + 1/2 log(4/5); KL(Q || m) = 1/4 log(2/3) + 3/4 log(6/5)
    kl_p_m = 0.5 * math.log(4 / 3) + 0.5 * math.log(4 / 5)
    kl_q_m = 0.25 * math.log(2 / 3) + 0.75 * math.log(6 / 5)
    expected = 0.5 * kl_p_m + 0.5 * kl_q_m  # = 0.0338...
    assert dv.js_divergence(P, Q) == pytest.approx(expected, rel=1e-12)
    assert dv.js_divergence(Q, P) == pytest.approx(expected, rel=1e-12)  # symmetric
    assert 0.0338 < expected < 0.0339


def test_total_variation_of_two_coins_by_hand():
    # 1/2 (|0.5 - 0.25| + |0.5 - 0.75|) = 1/4, the largest |P(A) - Q(A)| (A = {heads})
    assert dv.total_variation(P, Q) == pytest.approx(0.25, rel=1e-12)


def test_wasserstein_on_a_line_by_hand():
    s = [0.0, 1.0, 2.0]
    # all the mass moves from 0 to 2
    assert dv.wasserstein_1d([1, 0, 0], [0, 0, 1], s) == pytest.approx(2.0)
    # half moves 0 -> 1 and half 1 -> 2 (or half 0 -> 2): 1/2 + 1/2 = 1
    assert dv.wasserstein_1d([0.5, 0.5, 0], [0, 0.5, 0.5], s) == pytest.approx(1.0)
    # uneven spacing: a quarter of the mass moves from 0 to 10
    assert dv.wasserstein_1d([0.25, 0.75, 0], [0, 0.75, 0.25], [0.0, 1.0, 10.0]) == pytest.approx(2.5)


def test_earth_movers_distance_of_point_sets_by_hand():
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    y = np.array([[1.0, 3.0], [0.0, 4.0]])
    # match (0,0)->(0,4) and (1,0)->(1,3): (4 + 3)/2; the crossed match costs (sqrt 10 + sqrt 17)/2, more
    assert dv.earth_movers_distance(x, y) == pytest.approx(3.5)
    assert dv.earth_movers_distance(x, x) == 0.0


def test_mixture_density_by_hand():
    # one standard Gaussian at 0: 1/sqrt(2 pi); an equal mixture of N(-1, 1) and N(1, 4) at 1
    assert dv.mixture_density_1d(0.0, [0.0], [1.0]) == pytest.approx(1 / math.sqrt(2 * math.pi))
    expected = 0.5 * math.exp(-2) / math.sqrt(2 * math.pi) + 0.5 / (2 * math.sqrt(2 * math.pi))
    assert dv.mixture_density_1d(1.0, [-1.0, 1.0], [1.0, 2.0]) == pytest.approx(expected, rel=1e-12)
    grid = np.linspace(-5, 5, 20001)
    density = dv.mixture_density_1d(grid, [-2, 0, 2], [0.25, 0.25, 0.25])
    assert density.sum() * (grid[1] - grid[0]) == pytest.approx(1.0, rel=1e-6)  # integrates to 1


# ------------------------------------------------------------------------ disjoint supports
def test_disjoint_supports_saturate_kl_js_and_tv_but_not_w():
    p, q, far = [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]
    s = [0.0, 1.0, 2.0, 3.0]
    assert dv.kl_divergence(p, q) == math.inf
    assert dv.js_divergence(p, q) == pytest.approx(math.log(2)) == dv.js_divergence(p, far)
    assert dv.total_variation(p, q) == 1.0 == dv.total_variation(p, far)
    assert dv.wasserstein_1d(p, q, s) == 1.0 and dv.wasserstein_1d(p, far, s) == 3.0  # W sees how far


def test_every_divergence_is_zero_between_equal_distributions():
    p = [0.1, 0.2, 0.7]
    assert dv.kl_divergence(p, p) == dv.js_divergence(p, p) == dv.total_variation(p, p) == 0.0
    assert dv.wasserstein_1d(p, p, [0, 1, 2]) == 0.0


# ------------------------------------------------------------------------------ parallel lines
def test_parallel_lines_closed_forms():
    theta = np.array([-1.0, -0.3, 0.0, 0.2, 1.0])
    np.testing.assert_array_equal(dv.parallel_lines_wasserstein(theta), [1.0, 0.3, 0.0, 0.2, 1.0])
    np.testing.assert_array_equal(dv.parallel_lines_js(theta), [math.log(2)] * 2 + [0.0] + [math.log(2)] * 2)
    np.testing.assert_array_equal(dv.parallel_lines_kl(theta), [math.inf] * 2 + [0.0] + [math.inf] * 2)
    np.testing.assert_array_equal(dv.parallel_lines_total_variation(theta), [1, 1, 0, 1, 1])


@pytest.mark.parametrize("theta", [0.5, -0.25])
def test_parallel_lines_closed_forms_agree_with_the_general_functions_on_samples(theta):
    n = 300
    x0, xt = dv.parallel_lines_sample(0.0, n, seed=1), dv.parallel_lines_sample(theta, n, seed=2)
    assert x0.shape == (n, 2) and np.all(xt[:, 0] == theta) and 0 <= xt[:, 1].min() and xt[:, 1].max() <= 1
    ranges = [(-1.0, 1.0), (0.0, 1.0)]
    p0, pt = dv.histogram(x0, 40, ranges), dv.histogram(xt, 40, ranges)
    assert dv.js_divergence(p0, pt) == pytest.approx(float(dv.parallel_lines_js(theta)))
    assert dv.kl_divergence(pt, p0) == float(dv.parallel_lines_kl(theta)) == math.inf
    assert dv.total_variation(p0, pt) == pytest.approx(float(dv.parallel_lines_total_variation(theta)))
    # the optimal matching moves each point by at least |theta|, and little more for n in the hundreds
    w = dv.earth_movers_distance(x0, xt)
    assert abs(theta) <= w < abs(theta) + 0.01


def test_histogram_is_a_probability_vector_over_the_cells():
    samples = np.array([[0.1, 0.1], [0.9, 0.9], [0.9, 0.8], [5.0, 5.0]])  # the last falls outside
    h = dv.histogram(samples, 2, [(0, 1), (0, 1)])
    np.testing.assert_allclose(h, [1 / 3, 0, 0, 2 / 3])


def test_bad_distributions_are_named():
    with pytest.raises(ValueError, match="q must be non-negative and sum to 1"):
        dv.kl_divergence([0.5, 0.5], [0.5, 0.6])
    with pytest.raises(ValueError, match="one shape"):
        dv.js_divergence([1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="increasing points"):
        dv.wasserstein_1d([0.5, 0.5], [0.5, 0.5], [1.0, 0.0])
