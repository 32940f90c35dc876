"""Creation functions follow PyTorch's dtype rules: floats default to float32, integers to int64."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinygen

ARANGE_CASES = [
    ((0.0, 3.0), np.float32, [0.0, 1.0, 2.0]),
    ((3.0,), np.float32, [0.0, 1.0, 2.0]),
    ((0, 3, 0.5), np.float32, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]),
    ((0, 3.0), np.float32, [0.0, 1.0, 2.0]),
    ((3,), np.int64, [0, 1, 2]),
    ((1, 7, 2), np.int64, [1, 3, 5]),
    ((5, 0, -2), np.int64, [5, 3, 1]),
    ((np.int32(0), np.int64(2)), np.int64, [0, 1]),
]


@pytest.mark.parametrize("args, dtype, values", ARANGE_CASES, ids=[repr(c[0]) for c in ARANGE_CASES])
def test_arange_gives_float32_for_any_float_argument_and_int64_for_integers(
        backend: str, args: tuple[Any, ...], dtype: Any, values: list[float]) -> None:
    t = tinygen.arange(*args)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(values, dtype=dtype))


def test_arange_keeps_an_explicit_dtype(backend: str) -> None:
    assert tinygen.arange(3, dtype=tinygen.float64).dtype == np.float64
    assert tinygen.arange(0.0, 3.0, dtype=tinygen.int64).dtype == np.int64


def test_arange_of_float32_rounds_each_value_once(backend: str) -> None:
    # start + i * step computed exactly, then rounded: the same float32 values as the float64 range
    t = tinygen.arange(0.0, 1000.0, 0.1)
    np.testing.assert_array_equal(t.numpy(), np.arange(0.0, 1000.0, 0.1).astype(np.float32))


@pytest.mark.parametrize("args, dtype, values", ARANGE_CASES, ids=[repr(c[0]) for c in ARANGE_CASES])
def test_arange_dtype_and_values_match_torch(args: tuple[Any, ...], dtype: Any, values: list[float]) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = tinygen.arange(*args), torch.arange(*[a.item() if hasattr(a, "item") else a for a in args])
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
