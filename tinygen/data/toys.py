"""Toy data sets generated from a formula: the 2-D mixtures that expose mode collapse, the swiss
roll, the two moons, and 1-D Gaussian mixtures.

The ring of 8 Gaussians and the 5x5 grid are the benchmarks of VEEGAN (Srivastava et al., 2017)
and PacGAN (Lin et al., 2018): the modes are tiny and far apart, so a generator that drops one is
easy to catch (``tinygen.metrics.mode_metrics`` counts them). Every function draws from its own
generator seeded by ``seed``, never from tinygen's global stream, so a data set is a pure function
of its arguments. Arrays are host NumPy arrays of float32.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from .. import backend as B

# an int, or a tuple of ints (NumPy's SeedSequence entropy): ``(seed, 1)`` is a stream
# independent of ``seed``, which is how ``get_dataset`` draws a test split unlike the train split
Seed = Any


def _check_n(n: int, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, B.np.integer)) or n < 0:
        raise ValueError(f"{where}: n must be a non-negative integer, got {n!r}")
    return int(n)


def _rng(seed: Seed) -> Any:
    return B.np.random.default_rng(seed)


# ------------------------------------------------------------------------- mixtures of Gaussians
def ring_centres(n_modes: int = 8, radius: float = 1.0) -> Any:
    """The ``n_modes`` centres radius * (cos 2 pi k / n_modes, sin 2 pi k / n_modes), k = 0..n_modes-1."""
    if n_modes < 1:
        raise ValueError(f"ring_centres: n_modes must be at least 1, got {n_modes}")
    angle = 2 * math.pi * B.np.arange(n_modes) / n_modes
    return (radius * B.np.stack([B.np.cos(angle), B.np.sin(angle)], axis=1)).astype(B.float32)  # (K, 2)


def grid_centres() -> Any:
    """The 25 centres {-4, -2, 0, 2, 4}^2 of PacGAN's 2-D grid, row by row."""
    ticks = B.np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    gx, gy = B.np.meshgrid(ticks, ticks, indexing="ij")
    return B.np.stack([gx.ravel(), gy.ravel()], axis=1).astype(B.float32)  # (25, 2)


def _mixture(n: int, centres: Any, std: float, seed: Seed) -> Any:
    """n draws from the equal-weight mixture of N(c_k, std^2 I)."""
    rng = _rng(seed)
    # pick a mode k ~ Uniform{0..K-1}, then x = c_k + std * eps, eps ~ N(0, I)
    k = rng.integers(0, len(centres), size=n)
    eps = rng.standard_normal((n, centres.shape[1]))
    return (centres[k] + std * eps).astype(B.float32)  # (n, 2)


def ring_of_gaussians(n: int, seed: Seed = 0, n_modes: int = 8, radius: float = 1.0,
                      std: float = 0.01) -> Any:
    """n points from the ring of ``n_modes`` Gaussians (std 0.01 on the unit circle, as in PacGAN)."""
    n = _check_n(n, "ring_of_gaussians")
    return _mixture(n, ring_centres(n_modes, radius).astype(B.float64), std, seed)


def grid_of_gaussians(n: int, seed: Seed = 0, std: float = 0.05) -> Any:
    """n points from the 5x5 grid of Gaussians (centres {-4,-2,0,2,4}^2, std 0.05, as in PacGAN)."""
    n = _check_n(n, "grid_of_gaussians")
    return _mixture(n, grid_centres().astype(B.float64), std, seed)


# ------------------------------------------------------------------------------- curved shapes
def swiss_roll(n: int, seed: Seed = 0, noise: float = 0.02) -> Any:
    """n points on a 2-D spiral: t ~ U(1.5 pi, 4.5 pi), x = (t cos t, t sin t) / 10, plus N(0, noise^2).

    The 2-D cut of scikit-learn's 3-D swiss roll, scaled by 1/10 so it fits in [-1.5, 1.5]^2
    (``noise`` is in those scaled units).
    """
    n = _check_n(n, "swiss_roll")
    rng = _rng(seed)
    t = 1.5 * math.pi * (1 + 2 * rng.random(n))
    x = B.np.stack([t * B.np.cos(t), t * B.np.sin(t)], axis=1) / 10.0
    return (x + noise * rng.standard_normal((n, 2))).astype(B.float32)  # (n, 2)


def two_moons(n: int, seed: Seed = 0, noise: float = 0.1) -> tuple[Any, Any]:
    """Two interleaved half circles and their labels (0 = upper moon, 1 = lower moon).

    Upper: (cos t, sin t); lower: (1 - cos t, 0.5 - sin t), t ~ U(0, pi); plus N(0, noise^2)
    on each coordinate. The first n // 2 draws are the upper moon, then the rows are shuffled.
    The same shapes as scikit-learn's ``make_moons``, though drawn with random rather than evenly
    spaced t.
    """
    n = _check_n(n, "two_moons")
    rng = _rng(seed)
    n_upper = n // 2
    t = math.pi * rng.random(n)
    upper = B.np.stack([B.np.cos(t[:n_upper]), B.np.sin(t[:n_upper])], axis=1)
    lower = B.np.stack([1 - B.np.cos(t[n_upper:]), 0.5 - B.np.sin(t[n_upper:])], axis=1)
    x = B.np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    labels = B.np.concatenate([B.np.zeros(n_upper), B.np.ones(n - n_upper)]).astype(B.int64)
    order = rng.permutation(n)
    return x[order].astype(B.float32), labels[order]  # (n, 2), (n,)


# ----------------------------------------------------------------------------------------- 1-D
def gaussian_mixture_1d(n: int, seed: Seed = 0, means: Sequence[float] = (-2.0, 0.0, 2.0),
                        stds: Sequence[float] = (0.25, 0.25, 0.25),
                        weights: Sequence[float] | None = None) -> Any:
    """n draws from sum_k w_k N(mean_k, std_k^2) as an (n, 1) array; ``weights`` default to equal."""
    n = _check_n(n, "gaussian_mixture_1d")
    means_ = B.np.asarray(means, dtype=B.float64)
    stds_ = B.np.asarray(stds, dtype=B.float64)
    w = B.np.full(len(means_), 1.0 / len(means_)) if weights is None else B.np.asarray(weights, B.float64)
    if not (means_.ndim == stds_.ndim == w.ndim == 1 and len(means_) == len(stds_) == len(w) > 0):
        raise ValueError(f"gaussian_mixture_1d: means, stds and weights must be equally long 1-D "
                         f"sequences, got lengths {len(means_)}, {len(stds_)}, {len(w)}")
    if (stds_ <= 0).any() or (w < 0).any() or not math.isclose(float(w.sum()), 1.0, rel_tol=1e-6):
        raise ValueError(f"gaussian_mixture_1d: stds must be positive and weights non-negative "
                         f"summing to 1, got stds {stds_.tolist()} and weights {w.tolist()}")
    rng = _rng(seed)
    k = rng.choice(len(means_), size=n, p=w)
    x = means_[k] + stds_[k] * rng.standard_normal(n)
    return x.reshape(n, 1).astype(B.float32)  # (n, 1)
