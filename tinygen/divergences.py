"""Distances between probability distributions, and why a GAN's choice of one matters.

A GAN's discriminator, trained to its optimum, turns the generator's objective into a divergence
between p_data and p_g: the Jensen-Shannon divergence for the original GAN, the Earth Mover's
(Wasserstein-1) distance for the WGAN. This file has the four the WGAN paper compares
(Arjovsky, Chintala and Bottou, 2017, "Wasserstein GAN", section 2), in two forms:

* for discrete distributions p, q over the same K bins (histograms): ``kl_divergence``,
  ``js_divergence``, ``total_variation``, and ``wasserstein_1d`` for bins that lie on a line;
  ``earth_movers_distance`` between two equally large point sets in any dimension;
* in closed form for the WGAN paper's example of two distributions that do not overlap.

The definitions, for densities or probability vectors p and q (natural logarithms, so nats):

    KL(p || q) = sum_x p(x) log(p(x) / q(x))             (0 log 0 = 0; +inf where p > 0 = q)
    JS(p, q)   = KL(p || m) / 2 + KL(q || m) / 2,  m = (p + q) / 2       (0 <= JS <= log 2)
    TV(p, q)   = sup_A |P(A) - Q(A)| = (1/2) sum_x |p(x) - q(x)|          (0 <= TV <= 1)
    W(p, q)    = inf over couplings gamma of (p, q) of E_{(x, y) ~ gamma} ||x - y||

The Earth Mover's distance W is the cost of the cheapest plan gamma(x, y) that moves the mass of
p onto that of q, paying the distance moved.

The parallel lines (the WGAN paper's Example 1)
-----------------------------------------------
Let Z ~ U[0, 1], P_0 the distribution of (0, Z) in R^2 (a vertical segment at x = 0), and
P_theta that of (theta, Z) (the same segment moved to x = theta). For theta != 0 the two live on
disjoint sets, so

    W(P_0, P_theta)  = |theta|          (move every point of the segment sideways by |theta|)
    JS(P_0, P_theta) = log 2            (m = (P_0 + P_theta)/2 has density 1/2 on each segment)
    KL(P_theta || P_0) = KL(P_0 || P_theta) = +inf
    TV(P_0, P_theta) = 1                (take A = the segment at 0)

and all four are 0 at theta = 0. Only W changes with theta: JS, KL and TV are constant wherever
the two do not overlap, so their gradient in theta is 0 (or undefined) there, and a generator
trained to minimise them gets no signal about which way to move. ``demos/gan_divergences.py``
plots the four against theta and checks the closed forms against histograms of samples.
"""
from __future__ import annotations

from typing import Any

from . import backend as B


# --------------------------------------------------------------------------- discrete distributions
def _check_distributions(where: str, p: Any, q: Any) -> tuple[Any, Any]:
    """p and q as float64 arrays of one shape, non-negative, each summing to 1."""
    p = B.np.asarray(B.to_host(p), dtype=B.float64)
    q = B.np.asarray(B.to_host(q), dtype=B.float64)
    if p.shape != q.shape or p.size == 0:
        raise ValueError(f"{where}: p and q must be non-empty arrays of one shape, got {p.shape} and {q.shape}")
    for name, r in (("p", p), ("q", q)):
        if not B.np.isfinite(r).all() or (r < 0).any() or abs(r.sum() - 1.0) > 1e-6:
            raise ValueError(f"{where}: {name} must be non-negative and sum to 1, got a sum of {r.sum()!r} "
                             f"and a minimum of {r.min()!r}")
    return p, q


def _kl(p: Any, q: Any) -> float:
    """sum p log(p / q) over the bins where p > 0; +inf if q = 0 on one of them."""
    support = p > 0
    if (q[support] == 0).any():
        return float("inf")
    return float((p[support] * B.np.log(p[support] / q[support])).sum())


def kl_divergence(p: Any, q: Any) -> float:
    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) in nats; +inf when q misses mass that p has."""
    p, q = _check_distributions("kl_divergence", p, q)
    return _kl(p, q)


def js_divergence(p: Any, q: Any) -> float:
    """JS(p, q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2, in nats; between 0 and log 2."""
    p, q = _check_distributions("js_divergence", p, q)
    m = (p + q) / 2  # m > 0 wherever p > 0 or q > 0, so both KLs are finite
    return 0.5 * _kl(p, m) + 0.5 * _kl(q, m)


def total_variation(p: Any, q: Any) -> float:
    """TV(p, q) = sup_A |P(A) - Q(A)| = (1/2) sum_x |p(x) - q(x)|; between 0 and 1."""
    p, q = _check_distributions("total_variation", p, q)
    return float(0.5 * B.np.abs(p - q).sum())


def wasserstein_1d(p: Any, q: Any, support: Any) -> float:
    """The Earth Mover's distance between p and q on the sorted points ``support`` of a line.

    On a line the cheapest plan moves mass in order, and its cost is the area between the two
    cumulative distribution functions: W = sum_i |F_p(s_i) - F_q(s_i)| (s_{i+1} - s_i).
    """
    p, q = _check_distributions("wasserstein_1d", p, q)
    s = B.np.asarray(B.to_host(support), dtype=B.float64)
    if s.shape != p.shape or p.ndim != 1 or (B.np.diff(s) < 0).any():
        raise ValueError(f"wasserstein_1d: support must be {p.shape[0]} increasing points, one per bin, "
                         f"got an array of shape {s.shape}")
    # F_p(s_i) - F_q(s_i), for i < K-1 (both CDFs are 1 at the last point)
    cdf_gap = B.np.cumsum(p - q)[:-1]
    return float((B.np.abs(cdf_gap) * B.np.diff(s)).sum())


def earth_movers_distance(x: Any, y: Any) -> float:
    """W between the empirical distributions of two point sets of equal size n, in any dimension.

    With mass 1/n on each point, an optimal plan can be taken to be a one-to-one matching
    (Birkhoff: the extreme points of the couplings are permutations), so
    W = min over permutations sigma of (1/n) sum_i ||x_i - y_sigma(i)||, found exactly by the
    Hungarian algorithm (SciPy's ``linear_sum_assignment``). O(n^3): keep n in the hundreds.
    """
    from scipy.optimize import linear_sum_assignment  # SciPy comes with scikit-learn

    x = B.np.asarray(B.to_host(x), dtype=B.float64)
    y = B.np.asarray(B.to_host(y), dtype=B.float64)
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    if x.shape != y.shape or len(x) == 0:
        raise ValueError(f"earth_movers_distance: x and y must be equally many points of one dimension, got "
                         f"shapes {x.shape} and {y.shape}")
    # ||x_i - y_j|| for every pair: (n, n)
    cost = B.np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def histogram(samples: Any, bins: int, ranges: Any) -> Any:
    """The probability vector of ``samples`` (n, d) over a regular grid of bins^d cells (flattened).

    ``ranges`` is one (low, high) pair per dimension; points outside fall into no bin, so the
    vector is renormalised over the points inside.
    """
    x = B.np.asarray(B.to_host(samples), dtype=B.float64)
    x = x.reshape(len(x), -1)
    counts, _ = B.np.histogramdd(x, bins=bins, range=[tuple(r) for r in ranges])
    total = counts.sum()
    if total == 0:
        raise ValueError(f"histogram: none of the {len(x)} samples lies inside the ranges {ranges}")
    return (counts / total).reshape(-1)


# ------------------------------------------------------------------------------ the parallel lines
def parallel_lines_sample(theta: float, n: int, seed: int = 0) -> Any:
    """n points (theta, Z), Z ~ U[0, 1]: P_theta of the WGAN paper's Example 1 (theta = 0 is P_0)."""
    rng = B.np.random.default_rng(seed)
    z = rng.random(n)
    return B.np.stack([B.np.full(n, float(theta)), z], axis=1)  # (n, 2)


def parallel_lines_wasserstein(theta: Any) -> Any:
    """W(P_0, P_theta) = |theta|."""
    return B.np.abs(B.np.asarray(theta, dtype=B.float64))


def parallel_lines_js(theta: Any) -> Any:
    """JS(P_0, P_theta) = log 2 for theta != 0, and 0 at theta = 0."""
    theta = B.np.asarray(theta, dtype=B.float64)
    return B.np.where(theta != 0, B.np.log(2.0), 0.0)


def parallel_lines_kl(theta: Any) -> Any:
    """KL(P_theta || P_0) = +inf for theta != 0, and 0 at theta = 0 (the same in either direction)."""
    theta = B.np.asarray(theta, dtype=B.float64)
    return B.np.where(theta != 0, B.np.inf, 0.0)


def parallel_lines_total_variation(theta: Any) -> Any:
    """TV(P_0, P_theta) = 1 for theta != 0, and 0 at theta = 0."""
    theta = B.np.asarray(theta, dtype=B.float64)
    return B.np.where(theta != 0, 1.0, 0.0)


# ----------------------------------------------------------------------------------- densities
def mixture_density_1d(x: Any, means: Any, stds: Any, weights: Any = None) -> Any:
    """p(x) = sum_k w_k N(x; mean_k, std_k^2) at the points x (any shape); weights default to equal.

    The density of ``tinygen.data``'s ``gmm-1d`` (means -2, 0, 2, stds 0.25) and of any Gaussian
    (one component), as the optimal-discriminator demo needs them.
    """
    x = B.np.asarray(B.to_host(x), dtype=B.float64)
    mu = B.np.asarray(means, dtype=B.float64).reshape(-1)
    sigma = B.np.asarray(stds, dtype=B.float64).reshape(-1)
    w = B.np.full(len(mu), 1.0 / len(mu)) if weights is None else B.np.asarray(weights, dtype=B.float64)
    # N(x; mu, sigma^2) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi)), for each component
    u = (x[..., None] - mu) / sigma  # (..., K)
    return (w * B.np.exp(-0.5 * u ** 2) / (sigma * B.np.sqrt(2 * B.np.pi))).sum(axis=-1)
