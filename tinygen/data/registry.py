"""Every data set by name: ``get_dataset("ring")`` returns a :class:`Dataset` holding the arrays
and what the metrics and pictures need to know about them (mode centres, image shape, classes).

The generated toys draw their test split from a random stream independent of the train split's
(seed ``(seed, 1)`` instead of ``seed``), so the two never share a point.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import backend as B
from .binary import bars_and_stripes, binarized_digits
from .images import load_digits, load_mnist
from .toys import (gaussian_mixture_1d, grid_centres, grid_of_gaussians, ring_centres, ring_of_gaussians,
                   swiss_roll, two_moons)

KINDS = ("2d", "1d", "image", "binary")

# how many points a generated toy data set has when ``n`` is not given
TOY_SIZES = {"train": 10_000, "test": 2_500}

RING_STD, GRID_STD = 0.01, 0.05


@dataclass
class Dataset:
    """A data set and the facts about it that metrics and pictures use.

    ``x`` is a host float32 array: (n, 2) for "2d", (n, 1) for "1d", (n, C, H, W) for "image",
    (n, D) in {0, 1} for "binary". ``y`` holds int64 labels where the data set has them.
    ``centres`` and ``std`` describe the modes of the 2-D Gaussian mixtures (else None).
    """

    name: str
    kind: str
    x: Any
    y: Any = None
    centres: Any = None
    std: float | None = None
    image_shape: tuple[int, ...] | None = None
    n_classes: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Dataset {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")

    def __len__(self) -> int:
        return len(self.x)


def _split_seed(seed: int, split: str) -> Any:
    return seed if split == "train" else (seed, 1)


def _toy_size(n: int | None, split: str) -> int:
    return TOY_SIZES[split] if n is None else n


def _first(n: int | None, *arrays: Any) -> tuple[Any, ...]:
    if n is not None and n > len(arrays[0]):
        raise ValueError(f"get_dataset: asked for n={n} examples, but the split has only {len(arrays[0])}")
    return tuple(a if n is None else a[:n] for a in arrays)


# ----------------------------------------------------------------------------- the builders
def _ring(split: str, seed: int, n: int | None) -> Dataset:
    x = ring_of_gaussians(_toy_size(n, split), seed=_split_seed(seed, split), std=RING_STD)
    return Dataset("ring", "2d", x, centres=ring_centres(), std=RING_STD)


def _grid(split: str, seed: int, n: int | None) -> Dataset:
    x = grid_of_gaussians(_toy_size(n, split), seed=_split_seed(seed, split), std=GRID_STD)
    return Dataset("grid", "2d", x, centres=grid_centres(), std=GRID_STD)


def _swiss_roll(split: str, seed: int, n: int | None) -> Dataset:
    return Dataset("swiss-roll", "2d", swiss_roll(_toy_size(n, split), seed=_split_seed(seed, split)))


def _moons(split: str, seed: int, n: int | None) -> Dataset:
    x, y = two_moons(_toy_size(n, split), seed=_split_seed(seed, split))
    return Dataset("moons", "2d", x, y, n_classes=2)


def _gmm_1d(split: str, seed: int, n: int | None) -> Dataset:
    return Dataset("gmm-1d", "1d", gaussian_mixture_1d(_toy_size(n, split), seed=_split_seed(seed, split)))


def _bars_and_stripes(split: str, seed: int, n: int | None) -> Dataset:
    """All 14 distinct 3x3 patterns once when ``n`` is None; else n patterns drawn uniformly with
    replacement (the data distribution is uniform over the patterns), e.g. to fill large batches."""
    patterns = bars_and_stripes(3)
    if n is not None:
        rng = B.np.random.default_rng(_split_seed(seed, split))
        patterns = patterns[rng.integers(0, len(patterns), size=n)]
    return Dataset("bars-and-stripes", "binary", patterns, image_shape=(1, 3, 3))


def _binary_digits(split: str, seed: int, n: int | None) -> Dataset:
    _, y = load_digits(split, seed)
    x, y = _first(n, binarized_digits(split, seed=seed), y)
    return Dataset("binary-digits", "binary", x, y, image_shape=(1, 8, 8), n_classes=10)


def _digits(split: str, seed: int, n: int | None) -> Dataset:
    x, y = _first(n, *load_digits(split, seed))
    return Dataset("digits", "image", x, y, image_shape=(1, 8, 8), n_classes=10)


def _mnist_builder(kind: str) -> Callable[[str, int, int | None], Dataset]:
    def build(split: str, seed: int, n: int | None) -> Dataset:
        # MNIST's split is the official one; ``seed`` plays no part
        x, y = _first(n, *load_mnist(split, kind))
        return Dataset(kind, "image", x, y, image_shape=(1, 28, 28), n_classes=10)
    return build


_BUILDERS: dict[str, Callable[[str, int, int | None], Dataset]] = {
    "ring": _ring,
    "grid": _grid,
    "swiss-roll": _swiss_roll,
    "moons": _moons,
    "gmm-1d": _gmm_1d,
    "bars-and-stripes": _bars_and_stripes,
    "binary-digits": _binary_digits,
    "digits": _digits,
    "mnist": _mnist_builder("mnist"),
    "fashion-mnist": _mnist_builder("fashion-mnist"),
}


def list_datasets() -> list[str]:
    """The names ``get_dataset`` accepts."""
    return list(_BUILDERS)


def get_dataset(name: str, split: str = "train", seed: int = 0, n: int | None = None) -> Dataset:
    """The data set ``name`` (see :func:`list_datasets`), its ``split`` ("train" or "test").

    ``n`` is the number of points to generate for the toys (default 10,000 train, 2,500 test) and
    keeps the first n examples of the fixed data sets (all of them by default).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; the datasets are: {', '.join(_BUILDERS)}")
    if split not in ("train", "test"):
        raise ValueError(f"get_dataset: split must be 'train' or 'test', got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, B.np.integer)) or n < 1):
        raise ValueError(f"get_dataset: n must be a positive integer or None, got {n!r}")
    return _BUILDERS[name](split, seed, n)
