"""Principal component analysis as a generative model.

Pearson (1901), "On lines and planes of closest fit to systems of points in space";
Hotelling (1933), "Analysis of a complex of statistical variables into principal components".

The fit
-------
Data x_1, ..., x_N in R^D (images are flattened to D = c*h*w). Centre them on their mean

    mu = (1/N) sum_n x_n,        X = [x_1 - mu; ...; x_N - mu]          (N, D)

and take the thin singular value decomposition

    X = U S V^T,    U (N, r), S = diag(s_1 >= s_2 >= ... >= s_r), V (D, r), r = min(N, D).

The sample covariance is C = X^T X / (N - 1) = V diag(s_k^2 / (N - 1)) V^T, so the columns v_k of
V are its eigenvectors, the *principal directions*, and

    lambda_k = s_k^2 / (N - 1)

is the variance of the data along v_k. PCA keeps the first K directions, W = [v_1 ... v_K]^T
(K, D). Among all K-dimensional affine subspaces, mu + span(W) is the one closest to the data in
squared distance (Eckart and Young, 1936); the mean squared residual it leaves is the sum of the
discarded variances lambda_{K+1} + ... + lambda_r (times (N - 1)/N, per point).

Encoding and decoding are projections:

    z = W (x - mu)            (K,)    the coordinates of x along the principal directions
    x_hat = mu + W^T z        (D,)    back in data space

Why the SVD and not the eigendecomposition of C: forming X^T X squares the condition number, so
the small variances lose half their significant digits; the SVD of X does not.

The generator
-------------
Over the data, the coordinate z_k has mean 0 and variance lambda_k, and the coordinates are
uncorrelated (U's columns are orthogonal). Treating them as independent Gaussians gives the
generator

    z ~ N(0, diag(lambda_1, ..., lambda_K)),        x = mu + W^T z,

whose samples have mean mu and covariance W^T diag(lambda) W, the best rank-K approximation of C.

Why it is a weak generator: it is a single Gaussian, squashed flat onto a K-dimensional plane.
Anything beyond second moments is lost. On the ring of eight Gaussians it draws one fuzzy disc
over the ring, with most samples in the empty middle; on digits it draws smooth blends of every
digit at once (a "3" plus a bit of "8" plus ...), because a Gaussian cannot put its mass on the
separate clusters the digit classes form.

Deviations and choices
----------------------
* K is clipped to r = min(N, D) (there are no more directions than that).
* Each direction's sign is fixed so that its largest-magnitude entry is positive (an SVD is
  unique only up to such signs); scikit-learn makes a similar choice, tests compare up to sign.
* Probabilistic PCA (Tipping and Bishop, 1999) would add isotropic noise of variance
  sigma^2 = mean(lambda_{K+1}, ..., lambda_r) to each sample, so samples leave the plane; we do
  not, to keep the plain "sample latents, project back" of the source material.
* For image and binary data the samples are clipped to the data's range [0, 1].
* The fit is done in float64 (the SVD's accuracy) through the backend, on the CPU or the GPU.
  In the training loop PCA takes the whole training set as one batch in one step.
"""
from __future__ import annotations

from typing import Any, Callable

from .. import backend as B
from .registry import ModelSpec, Paper, register
from .state import ModelState


class PCA(ModelState):
    """Principal components by SVD, with ``fit``, ``transform``, ``inverse_transform``, ``sample``.

    Attributes after ``fit`` (names as in scikit-learn): ``mean_`` (D,), ``components_`` (K, D)
    (the rows are the principal directions), ``explained_variance_`` (K,) (lambda_k) and
    ``explained_variance_ratio_`` (K,) (lambda_k / sum of all lambda). They are the model's
    buffers: ``state_dict`` holds them, and ``data_shape``, under these names.
    """

    def __init__(self, n_components: int, data_shape: tuple[int, ...] | None = None,
                 clip: tuple[float, float] | None = None) -> None:
        if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"PCA: n_components must be a positive integer, got {n_components!r}")
        super().__init__(mean_=None, components_=None, explained_variance_=None, explained_variance_ratio_=None,
                         data_shape=tuple(data_shape) if data_shape is not None else None)
        self.n_components = n_components
        self.clip = clip

    # ---------------------------------------------------------------------------- fit
    def fit(self, x: Any) -> "PCA":
        """Fit to ``x`` of shape (N, ...) (flattened to (N, D)); returns self."""
        xp = B.array_module(x)
        if x.ndim < 2 or x.shape[0] < 2:
            raise ValueError(f"PCA.fit: needs an array of at least 2 examples, shape (N, ...), got shape {x.shape}")
        self.data_shape = tuple(x.shape[1:])
        X = x.reshape(x.shape[0], -1).astype(B.float64)  # (N, D)
        N = X.shape[0]
        # mu = (1/N) sum_n x_n
        mu = X.mean(axis=0)  # (D,)
        # X - mu = U S V^T   (thin SVD; the rows of Vt are the principal directions)
        _, s, Vt = xp.linalg.svd(X - mu, full_matrices=False)  # s (r,), Vt (r, D)
        # lambda_k = s_k^2 / (N - 1), the variance of the data along direction k
        lambdas = s ** 2 / (N - 1)  # (r,)
        K = min(self.n_components, Vt.shape[0])
        W = Vt[:K]  # (K, D)
        # an SVD fixes each direction only up to sign: make its largest-magnitude entry positive
        largest = xp.argmax(xp.abs(W), axis=1)
        signs = xp.sign(W[xp.arange(K), largest])
        self.mean_ = mu
        self.components_ = W * signs[:, None]
        self.explained_variance_ = lambdas[:K]
        total = lambdas.sum()
        self.explained_variance_ratio_ = lambdas[:K] / total if total > 0 else xp.zeros_like(lambdas[:K])
        return self

    def _check_fitted(self, where: str) -> None:
        if self.components_ is None:
            raise RuntimeError(f"PCA.{where}: the PCA has not been fitted yet (call fit first)")

    # ------------------------------------------------------------------- projections
    def transform(self, x: Any) -> Any:
        """z = W (x - mu), shape (N, K)."""
        self._check_fitted("transform")
        X = x.reshape(x.shape[0], -1).astype(B.float64)
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, z: Any) -> Any:
        """x_hat = mu + W^T z, shaped like the data, (N, ...)."""
        self._check_fitted("inverse_transform")
        X = self.mean_ + z @ self.components_  # (N, D)
        return X.reshape((z.shape[0],) + self.data_shape)

    def reconstruction_error(self, x: Any) -> float:
        """Mean squared error per element of projecting ``x`` onto the kept plane and back."""
        x64 = x.astype(B.float64)
        residual = x64 - self.inverse_transform(self.transform(x64))
        return float((residual ** 2).mean())

    # ------------------------------------------------------------------------ sample
    def sample(self, n: int) -> Any:
        """n draws of x = mu + W^T z with z ~ N(0, diag(lambda)), shaped like the data (float32)."""
        self._check_fitted("sample")
        xp = B.array_module(self.components_)
        K = self.components_.shape[0]
        eps = B.randn((n, K), dtype=B.float64, device=B.device_of(self.components_))  # (n, K) ~ N(0, I)
        # z_k = sqrt(lambda_k) eps_k  ~ N(0, lambda_k)
        z = eps * xp.sqrt(self.explained_variance_)
        x = self.inverse_transform(z)
        if self.clip is not None:
            x = xp.clip(x, *self.clip)
        return x.astype(B.float32)


# ----------------------------------------------------------------- the platform's interface
def build(hparams: dict[str, Any], dataset: Any) -> PCA:
    clip = (0.0, 1.0) if dataset.kind in ("image", "binary") else None
    return PCA(hparams["n_components"], data_shape=tuple(dataset.x.shape[1:]), clip=clip)


def train_step(model: PCA, next_batch: Callable[[], tuple[Any, ...]], step: int) -> dict[str, float]:
    """The whole fit, in one step on one batch (PCA's batch is the full training set)."""
    x, = next_batch()
    model.fit(x)
    return {"reconstruction_mse": model.reconstruction_error(x)}


register(ModelSpec(
    name="pca",
    paper=Paper("Karl Pearson", 1901, "On Lines and Planes of Closest Fit to Systems of Points in Space"),
    default_dataset="digits",
    # Pearson's paper has no hyperparameters; 16 components keep ~85% of the digits' variance
    default_hparams={"n_components": 16, "steps": 1, "batch_size": None},
    build=build,
    train_step=train_step,
    sample=lambda model, n: model.sample(n),
    summary="fit by SVD; sample Gaussian latents with the fitted variances and project back",
))
