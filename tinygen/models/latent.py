"""Walking in a generator's latent space: interpolation and vector arithmetic.

Radford, Metz and Chintala (2016), "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", sections 6.1 and 6.3; White (2016), "Sampling Generative
Networks" (spherical interpolation).

A generator G maps latents z in R^d to data. Two ways of reading the latent space through G:

Interpolation
-------------
Linear interpolation between two latents z0 and z1,

    lerp(z0, z1; t) = (1 - t) z0 + t z1,                                   t in [0, 1],

cuts straight through the space. In high dimension a Gaussian (or uniform) latent lies, with
overwhelming probability, near a sphere of radius about sqrt(d) (sqrt(d / 3) for U(-1, 1)^d): two
independent latents are nearly orthogonal, and the midpoint of the chord has norm about
|z| / sqrt(2), a region the generator almost never saw in training. Spherical interpolation
follows the great circle from z0 to z1 instead (Shoemake's slerp, proposed for latents by White):

    slerp(z0, z1; t) = sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1,

with omega the angle between z0 and z1. For unit vectors every point of the path is a unit vector
(the two weights are the coordinates of a unit vector in the plane of z0 and z1, written in the
skew basis (z0, z1)); for vectors of equal norm the path keeps that norm. The angle is computed as

    omega = 2 atan2(|u0 - u1|, |u0 + u1|),        u = z / |z|,

which is accurate at every angle, where arccos(u0 . u1) loses half the digits near 0 and pi.

When sin(omega) is (nearly) zero the formula is 0/0. For parallel vectors (omega -> 0) its limit
is sin((1 - t) omega) / sin(omega) -> 1 - t and sin(t omega) / sin(omega) -> t, which is lerp, so
``slerp`` falls back to lerp there. For opposite vectors (omega = pi) every great circle through
them is an equally good path and the limit does not exist; ``slerp`` falls back to lerp as well
(the path then passes through the origin) and says so in its docstring. A zero vector has no
direction: lerp again.

Vector arithmetic
-----------------
Radford et al. found that directions in z carry meaning: with Z(smiling woman) the latents of a
few samples showing a smiling woman, and so on,

    mean Z(smiling woman) - mean Z(neutral woman) + mean Z(neutral man)  ~  a smiling man.

Averaging the latents of a few (three, in the paper) samples of each concept was what made the
arithmetic stable; single latents gave noisy results. The paper then shows the result with
uniform noise of scale 0.25 added to it (:func:`jitter`), to show a neighbourhood rather than one
point.

Everything here works on plain arrays (NumPy or CuPy) of latents, in float64 inside, and returns
arrays of the latents' dtype; nothing is differentiated.
"""
from __future__ import annotations

from typing import Any

from .. import backend as B


def _check_pair(z0: Any, z1: Any, where: str) -> None:
    if z0.ndim != 1 or z0.shape != z1.shape:
        raise ValueError(f"{where}: expected two latents of the same shape (d,), got {z0.shape} and {z1.shape}")


def _weights(t: Any, xp: Any) -> tuple[Any, bool]:
    """t as a float64 column (T, 1), and whether it was a scalar."""
    t = xp.asarray(t, dtype=B.float64)
    if t.ndim > 1:
        raise ValueError(f"interpolation: t must be a number or a 1-D array, got shape {t.shape}")
    return t.reshape(-1, 1), t.ndim == 0


def _finish(path: Any, scalar: bool, dtype: Any) -> Any:
    path = path.astype(dtype, copy=False)
    return path[0] if scalar else path


def lerp(z0: Any, z1: Any, t: Any) -> Any:
    """(1 - t) z0 + t z1: (d,) for a number t, (T, d) for an array of T values."""
    xp = B.array_module(z0)
    _check_pair(z0, z1, "lerp")
    t, scalar = _weights(t, xp)
    a, b = z0.astype(B.float64), z1.astype(B.float64)
    # (T, 1) * (d,) -> (T, d)
    path = (1.0 - t) * a + t * b
    return _finish(path, scalar, xp.result_type(z0, z1))


def angle(z0: Any, z1: Any) -> float:
    """The angle omega between z0 and z1, in [0, pi] (0 when either is zero)."""
    xp = B.array_module(z0)
    a, b = z0.astype(B.float64), z1.astype(B.float64)
    n0, n1 = float(xp.linalg.norm(a)), float(xp.linalg.norm(b))
    if n0 == 0.0 or n1 == 0.0:
        return 0.0
    u0, u1 = a / n0, b / n1
    # omega = 2 atan2(|u0 - u1|, |u0 + u1|): accurate near 0 and near pi, unlike arccos(u0 . u1)
    return 2.0 * float(B.np.arctan2(float(xp.linalg.norm(u0 - u1)), float(xp.linalg.norm(u0 + u1))))


def slerp(z0: Any, z1: Any, t: Any, eps: float = 1e-7) -> Any:
    """Spherical interpolation along the great circle from z0 (t = 0) to z1 (t = 1).

    (d,) for a number t, (T, d) for an array. The endpoints are returned exactly. Falls back to
    :func:`lerp` when sin(omega) < ``eps``: for (nearly) parallel latents, where lerp is slerp's
    limit, and for opposite ones or a zero latent, where no great circle is singled out.
    """
    xp = B.array_module(z0)
    _check_pair(z0, z1, "slerp")
    omega = angle(z0, z1)
    sin_omega = float(B.np.sin(omega))
    if sin_omega < eps:
        return lerp(z0, z1, t)
    t, scalar = _weights(t, xp)
    a, b = z0.astype(B.float64), z1.astype(B.float64)
    # w0 = sin((1 - t) omega) / sin(omega),  w1 = sin(t omega) / sin(omega)        (T, 1) each
    w0 = xp.sin((1.0 - t) * omega) / sin_omega
    w1 = xp.sin(t * omega) / sin_omega
    path = w0 * a + w1 * b  # (T, d)
    return _finish(path, scalar, xp.result_type(z0, z1))


def interpolate(z0: Any, z1: Any, steps: int, method: str = "slerp") -> Any:
    """``steps`` latents from z0 to z1 inclusive, evenly spaced in t: (steps, d)."""
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"interpolate: steps must be an integer >= 2, got {steps!r}")
    methods = {"lerp": lerp, "slerp": slerp}
    if method not in methods:
        raise ValueError(f"interpolate: method must be 'lerp' or 'slerp', got {method!r}")
    t = B.array_module(z0).linspace(0.0, 1.0, steps)
    return methods[method](z0, z1, t)


def average_latents(latents: Any) -> Any:
    """The mean of a few latents (k, d) -> (d,): the paper's stand-in for one concept."""
    if latents.ndim != 2 or len(latents) == 0:
        raise ValueError(f"average_latents: expected latents of shape (k, d) with k >= 1, got {latents.shape}")
    return latents.astype(B.float64).mean(axis=0).astype(latents.dtype, copy=False)


def vector_arithmetic(plus: Any, minus: Any, add: Any) -> Any:
    """mean(plus) - mean(minus) + mean(add), each a (k, d) array of latents (k may differ).

    E.g. plus = latents of smiling women, minus = of neutral women, add = of neutral men.
    """
    # y = mean Z_plus - mean Z_minus + mean Z_add
    return average_latents(plus) - average_latents(minus) + average_latents(add)


def jitter(z: Any, n: int, scale: float = 0.25) -> Any:
    """n copies of z (d,) plus independent noise U(-scale, scale), as in the paper's figure: (n, d)."""
    noise = B.uniform(-scale, scale, (n,) + tuple(z.shape), z.dtype, B.device_of(z))
    return z[None, :] + noise
