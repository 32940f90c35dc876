"""Binary data: bars-and-stripes and binarised digits, for the RBM, NADE/MADE and other models of
{0, 1}^D.

Bars-and-stripes (MacKay, 2003) is small enough that every pattern can be listed, so a model's
exact likelihood (and its partition function) can be computed by enumerating {0,1}^D.
"""
from __future__ import annotations

import itertools
from typing import Any

from .. import backend as B
from .images import load_digits


def bars_and_stripes(size: int = 3) -> Any:
    """Every bars-and-stripes pattern on a size x size grid, flattened row by row.

    A pattern switches on a subset of the rows (stripes) or a subset of the columns (bars). The
    empty and the full grid arise both ways and are listed once, so there are
    2 * 2^size - 2 = 2^(size+1) - 2 distinct patterns. Returns (2^(size+1) - 2, size*size) float32
    in {0, 1}: first the stripes (subsets of rows in binary counting order), then the bars, with
    the two duplicates dropped.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"bars_and_stripes: size must be a positive integer, got {size!r}")
    patterns = []
    for on in itertools.product((0.0, 1.0), repeat=size):
        stripes = B.np.repeat(B.np.asarray(on)[:, None], size, axis=1)  # row i is all on[i]
        patterns.append(stripes.ravel())
    for on in itertools.product((0.0, 1.0), repeat=size):
        if 0 < sum(on) < size:  # the empty and full grids are already in the list
            bars = B.np.repeat(B.np.asarray(on)[None, :], size, axis=0)  # column j is all on[j]
            patterns.append(bars.ravel())
    return B.np.stack(patterns).astype(B.float32)  # (2^(size+1) - 2, size*size)


def binarized_digits(split: str = "train", threshold: float = 0.5, seed: int = 0) -> Any:
    """scikit-learn's 8x8 digits made binary: pixel = 1 where intensity > threshold, as (n, 64).

    Deterministic thresholding (not the stochastic binarisation of Salakhutdinov and Murray,
    2008), so the data set is fixed; ``split`` and ``seed`` are those of :func:`load_digits`.
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"binarized_digits: threshold must lie in [0, 1), got {threshold}")
    images, _ = load_digits(split, seed)
    return (images.reshape(len(images), -1) > threshold).astype(B.float32)  # (n, 64)
