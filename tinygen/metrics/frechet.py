"""The Frechet distance between two Gaussians, the quantity behind FID (Heusel et al., 2017).

Fit N(mu_1, S_1) and N(mu_2, S_2) to two sets of features; then

    d^2 = ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^{1/2})

(Dowson and Landau, 1982). Like FID, the functions return the *squared* distance d^2. The product
S_1 S_2 is not symmetric, so instead of a general matrix square root we use the identity
Tr((S_1 S_2)^{1/2}) = Tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2}): the matrix inside is symmetric positive
semi-definite, so both square roots come from ``eigh`` (real eigenvalues, clipped at 0 against
rounding), with NumPy only (SciPy is not a dependency).
"""
from __future__ import annotations

from typing import Any

from .. import backend as B


def sqrtm_psd(s: Any) -> Any:
    """The symmetric square root of a symmetric positive semi-definite matrix: V diag(sqrt w) V^T."""
    w, v = B.np.linalg.eigh((s + s.T) / 2)
    return (v * B.np.sqrt(B.np.clip(w, 0.0, None))) @ v.T


def frechet_distance_gaussians(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """d^2 between N(mu1, sigma1) and N(mu2, sigma2), clipped at 0 (rounding can dip below)."""
    mu1, mu2 = B.np.atleast_1d(B.np.asarray(mu1, B.float64)), B.np.atleast_1d(B.np.asarray(mu2, B.float64))
    s1, s2 = B.np.atleast_2d(B.np.asarray(sigma1, B.float64)), B.np.atleast_2d(B.np.asarray(sigma2, B.float64))
    d = len(mu1)
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"frechet_distance_gaussians: expected means (d,) and covariances (d, d), got "
                         f"{mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    root1 = sqrtm_psd(s1)
    # Tr((S_1 S_2)^{1/2}) = sum_i sqrt(lambda_i(S_1^{1/2} S_2 S_1^{1/2}))
    inner = root1 @ s2 @ root1
    trace_sqrt = B.np.sqrt(B.np.clip(B.np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    # d^2 = ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^{1/2})
    d2 = ((mu1 - mu2) ** 2).sum() + B.np.trace(s1) + B.np.trace(s2) - 2.0 * trace_sqrt
    return max(float(d2), 0.0)


def gaussian_fit(features: Any) -> tuple[Any, Any]:
    """The mean (d,) and unbiased covariance (d, d) of ``features`` (n, d), in float64."""
    f = B.np.asarray(B.to_host(features), dtype=B.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"frechet_distance: features must be (n, d) with n >= 2, got shape {f.shape}")
    if not B.np.isfinite(f).all():
        raise ValueError("frechet_distance: the features hold NaN or infinite values")
    return f.mean(axis=0), B.np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance(features1: Any, features2: Any) -> float:
    """d^2 between Gaussians fitted to two feature sets (n1, d) and (n2, d)."""
    mu1, s1 = gaussian_fit(features1)
    mu2, s2 = gaussian_fit(features2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"frechet_distance: the feature sets have {mu1.shape[0]} and {mu2.shape[0]} dimensions")
    return frechet_distance_gaussians(mu1, s1, mu2, s2)
