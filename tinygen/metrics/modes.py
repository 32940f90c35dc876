"""Mode metrics for the 2-D mixtures: how many modes a generator covers, how many of its samples are
good, and how evenly it spreads them.

The definitions are those of VEEGAN (Srivastava et al., 2017) as reused by PacGAN (Lin et al.,
2018), where they are reported over 2,500 samples:

* a sample is **high quality** if it lies within 3 standard deviations of its nearest centre,
  ``||x - c_nearest|| <= 3 std`` (Euclidean distance, ``std`` the per-coordinate std of a mode).
  Real 2-D data score P(chi^2_2 <= 9) = 1 - exp(-4.5) = 98.9 %, not 100 %;
* a mode is **covered** if at least one high-quality sample has it as its nearest centre;
* the **reverse KL** is KL(p || u) = sum_k p_k log(p_k / (1/K)), where p is the histogram of the
  samples over modes and u the uniform distribution the data follows. Convention used here: every
  sample (high quality or not) is counted at its nearest centre, a reading of PacGAN's description
  (each mode is a bin, each sample goes to its nearest mode) not checked against the authors'
  code; counting only the high-quality samples would be the other reading. Empty bins contribute
  0 (0 log 0 = 0), so the value lies in [0, log K] and a generator stuck on one mode scores log K.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B


def _as_points(samples: Any, dim: int, where: str) -> Any:
    x = B.np.asarray(B.to_host(samples), dtype=B.float64)
    if x.ndim != 2 or x.shape[1] != dim or len(x) == 0:
        raise ValueError(f"{where}: expected samples of shape (n, {dim}) with n > 0, got {x.shape}")
    if not B.np.isfinite(x).all():
        bad = int((~B.np.isfinite(x).all(axis=1)).sum())
        raise ValueError(f"{where}: {bad} of {len(x)} samples are NaN or infinite")
    return x


def nearest_centre(samples: Any, centres: Any) -> tuple[Any, Any]:
    """For each sample, the index of its nearest centre and the Euclidean distance to it."""
    # ||x_i - c_k||^2 for every pair: (n, K)
    d2 = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    k = d2.argmin(axis=1)
    return k, B.np.sqrt(d2[B.np.arange(len(k)), k])


def kl_to_uniform(counts: Any) -> float:
    """KL(p || uniform) for the histogram ``counts`` over K bins: sum_k p_k log(K p_k), 0 log 0 = 0."""
    counts = B.np.asarray(counts, dtype=B.float64)
    p = counts / counts.sum()
    nonzero = p > 0
    return float((p[nonzero] * B.np.log(len(p) * p[nonzero])).sum())


def mode_metrics(samples: Any, centres: Any, std: float) -> dict[str, Any]:
    """VEEGAN/PacGAN mode metrics of ``samples`` (n, 2) against mode ``centres`` (K, 2).

    Returns ``modes_covered`` (int), ``n_modes`` (K), ``high_quality_pct`` (percentage of samples
    within 3 std of their nearest centre) and ``kl_to_uniform`` (the histogram of all samples over
    their nearest centres against uniform; see the module docstring). The papers use 2,500
    samples; the counts depend on n, so compare numbers computed from the same n.
    """
    c = B.np.asarray(B.to_host(centres), dtype=B.float64)
    if c.ndim != 2 or len(c) == 0:
        raise ValueError(f"mode_metrics: centres must be (K, d) with K > 0, got shape {c.shape}")
    if not std > 0:
        raise ValueError(f"mode_metrics: std must be positive, got {std}")
    x = _as_points(samples, c.shape[1], "mode_metrics")
    k, distance = nearest_centre(x, c)
    high_quality = distance <= 3 * std
    counts = B.np.bincount(k, minlength=len(c))
    return {
        "modes_covered": int(len(B.np.unique(k[high_quality]))),
        "n_modes": int(len(c)),
        "high_quality_pct": float(100.0 * high_quality.mean()),
        "kl_to_uniform": kl_to_uniform(counts),
    }

