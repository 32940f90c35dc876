"""Maximum mean discrepancy (Gretton et al., 2012) with a Gaussian kernel: how far apart two sample
sets are, with no density and no classifier.

    MMD^2(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y),   k(a, b) = exp(-||a - b||^2 / (2 sigma^2))

It is zero exactly when P = Q (the Gaussian kernel is characteristic). ``mmd`` returns the
unbiased estimate MMD^2_u of Gretton et al. (2012, eq. 3), which leaves out the k(x_i, x_i)
terms: its expectation is the true MMD^2, so for two samples of one distribution it scatters
around 0 and can come out slightly negative.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B

_CHUNK = 1024  # rows per block, so the kernel matrix is never held whole


def _as_matrix(samples: Any, name: str) -> Any:
    a = B.np.asarray(B.to_host(samples), dtype=B.float64)
    a = a.reshape(len(a), -1) if a.ndim != 1 else a.reshape(-1, 1)
    if len(a) < 2:
        raise ValueError(f"mmd: {name} needs at least 2 samples for the unbiased estimate, got {len(a)}")
    if not B.np.isfinite(a).all():
        raise ValueError(f"mmd: {name} holds NaN or infinite values")
    return a


def _squared_distances(a: Any, b: Any) -> Any:
    # ||a_i - b_j||^2 = ||a_i||^2 + ||b_j||^2 - 2 a_i . b_j, clipped at 0 against rounding
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return B.np.maximum(d2, 0.0)


def median_heuristic(x: Any, y: Any, max_points: int = 1000) -> float:
    """sigma = the median distance between distinct points of the pooled sample (Gretton et al.,
    2012), computed on at most ``max_points`` of them (the first half from each set)."""
    half = max_points // 2
    pooled = B.np.concatenate([x[:half], y[:half]])
    d2 = _squared_distances(pooled, pooled)
    off_diagonal = d2[~B.np.eye(len(pooled), dtype=bool)]
    return float(B.np.sqrt(B.np.median(off_diagonal)))


def _kernel_sum(a: Any, b: Any, sigma: float, skip_diagonal: bool) -> float:
    """sum_ij k(a_i, b_j), leaving out i == j when ``skip_diagonal`` (a and b the same set)."""
    total = 0.0
    for start in range(0, len(a), _CHUNK):
        block = B.np.exp(-_squared_distances(a[start:start + _CHUNK], b) / (2 * sigma ** 2))
        if skip_diagonal:
            rows = B.np.arange(len(block))
            block[rows, start + rows] = 0.0
        total += float(block.sum())
    return total


def mmd(x: Any, y: Any, bandwidth: float | None = None) -> float:
    """The unbiased estimate of MMD^2 between samples ``x`` (m, ...) and ``y`` (n, ...).

    Trailing dimensions are flattened (images work as they are). ``bandwidth`` is the kernel's
    sigma; None picks it by the median heuristic. Computed in float64 on the host.
    """
    a, b = _as_matrix(x, "x"), _as_matrix(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"mmd: x and y must have the same number of features, got {a.shape[1]} and {b.shape[1]}")
    sigma = median_heuristic(a, b) if bandwidth is None else float(bandwidth)
    if not sigma > 0:
        raise ValueError(f"mmd: the bandwidth must be positive, got {sigma} (are all the points identical?)")
    m, n = len(a), len(b)
    # MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i,x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i,y_j) - 2/(mn) sum_ij k(x_i,y_j)
    xx = _kernel_sum(a, a, sigma, skip_diagonal=True) / (m * (m - 1))
    yy = _kernel_sum(b, b, sigma, skip_diagonal=True) / (n * (n - 1))
    xy = _kernel_sum(a, b, sigma, skip_diagonal=False) / (m * n)
    return xx + yy - 2.0 * xy
