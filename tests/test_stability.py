"""Logits of +-10,000: losses and activations stay finite and *exact* (equal to their analytic
limits), with finite gradients, in float32 and float64, while every NumPy floating-point warning is
an error (``errstate(all="raise")`` and ``warnings.simplefilter("error")``)."""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

import numpy as np
import pytest
from scipy import special

import tinygen
import tinygen.nn.functional as F
from tinygen import Tensor

BIG = 10_000.0
DTYPES = [np.float32, np.float64]


@contextlib.contextmanager
def strict_numpy() -> Iterator[None]:
    """Overflow, underflow, division by zero and invalid operations all raise."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def leaf(array: Any, dtype: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=dtype), requires_grad=True)


def check(t: Tensor, expected: Any, dtype: Any) -> None:
    """Same dtype, finite, and equal to ``expected`` to within a few ulps of ``dtype``."""
    assert t.dtype == dtype
    values = t.numpy()
    assert np.all(np.isfinite(values)), values
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(values, np.asarray(expected, dtype=np.float64), rtol=rtol, atol=rtol)


# logits at both extremes, next to ordinary values, in one tensor
X = np.array([-BIG, -1.0, 0.0, 1.0, BIG])
SIG = special.expit(X)  # [0, 0.269, 0.5, 0.731, 1] exactly at the ends


ACTIVATIONS = {
    # name: (op, value, derivative) -- analytic, with the limits at +-10,000 written out
    "sigmoid": (F.sigmoid, SIG, SIG * (1 - SIG)),
    "tanh": (F.tanh, np.tanh(X), 1 - np.tanh(X) ** 2),
    "softplus": (F.softplus, np.array([0.0, np.log1p(np.exp(-1)), np.log(2), 1 + np.log1p(np.exp(-1)), BIG]), SIG),
    "log_sigmoid": (F.log_sigmoid, np.array([-BIG, -1 - np.log1p(np.exp(-1)), -np.log(2), -np.log1p(np.exp(-1)), 0.0]),
                    1 - SIG),
    "relu": (F.relu, np.maximum(X, 0), (X > 0) * 1.0),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), np.where(X > 0, X, 0.2 * X), np.where(X > 0, 1.0, 0.2)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_at_plus_minus_10000_is_exact_with_exact_gradient(backend: str, name: str, dtype: Any) -> None:
    op, value, derivative = ACTIVATIONS[name]
    x = leaf(X, dtype)
    with strict_numpy():
        y = op(x)
        y.sum().backward()
    check(y, value, dtype)
    check(x.grad, derivative, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_softmax_family_at_plus_minus_10000_is_exact_with_finite_gradients(backend: str, dtype: Any) -> None:
    a = np.array([[-BIG, 0.0, BIG], [BIG, BIG, -BIG]])
    upstream = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    with strict_numpy():
        x = leaf(a, dtype)
        y = F.softmax(x, 1)
        (y * tinygen.tensor(upstream, dtype=dtype)).sum().backward()
        check(y, [[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]], dtype)
        p = y.numpy().astype(np.float64)
        # dL/dx = y * (u - sum_j u_j y_j)
        check(x.grad, p * (upstream - (upstream * p).sum(1, keepdims=True)), dtype)

        x = leaf(a, dtype)
        y = F.log_softmax(x, 1)
        (y * tinygen.tensor(upstream, dtype=dtype)).sum().backward()
        check(y, [[-2 * BIG, -BIG, 0.0], [-np.log(2), -np.log(2), -2 * BIG - np.log(2)]], dtype)
        # dL/dx = u - softmax(x) * sum_i u_i
        check(x.grad, upstream - p * upstream.sum(1, keepdims=True), dtype)

        x = leaf(a, dtype)
        y = tinygen.logsumexp(x, 1)
        y.sum().backward()
        check(y, [BIG, BIG + np.log(2)], dtype)
        check(x.grad, p, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_bce_with_logits_at_plus_minus_10000_is_exact_with_exact_gradients(backend: str, dtype: Any) -> None:
    logits = np.array([[-BIG, BIG, BIG], [BIG, -BIG, 0.0]])
    target = np.array([[0.0, 1.0, 0.5], [0.0, 1.0, 1.0]])
    # l = softplus(x) - t x: right answers cost 0, confidently wrong ones cost |x|
    per_element = np.array([[0.0, 0.0, BIG / 2], [BIG, BIG, np.log(2)]])
    with strict_numpy():
        x, t = leaf(logits, dtype), leaf(target, dtype)
        loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        mean = F.binary_cross_entropy_with_logits(x, t)
        mean.backward()
    check(loss, per_element, dtype)
    check(mean, per_element.mean(), dtype)
    check(x.grad, (special.expit(logits) - target) / 6, dtype)  # dl/dx = sigma(x) - t
    check(t.grad, -logits / 6, dtype)  # dl/dt = -x


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_cross_entropy_at_plus_minus_10000_is_exact_with_exact_gradients(backend: str, dtype: Any) -> None:
    logits = np.array([[BIG, -BIG, 0.0], [-BIG, BIG, 0.0], [BIG, BIG, -BIG]])
    labels = np.array([0, 0, 1])
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])  # softmax(logits)
    per_row = np.array([0.0, 2 * BIG, np.log(2)])
    with strict_numpy():
        x = leaf(logits, dtype)
        loss = F.cross_entropy(x, tinygen.tensor(labels))
        loss.backward()
        check(loss, per_row.mean(), dtype)
        check(x.grad, (probs - np.eye(3)[labels]) / 3, dtype)  # (softmax - one_hot) / N

        x = leaf(logits, dtype)
        soft = tinygen.tensor(np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), dtype=dtype)
        loss = F.cross_entropy(x, soft, reduction="sum")
        loss.backward()
        check(loss, 0.5 * 2 * BIG + 2 * BIG + 2 * BIG + np.log(2), dtype)
        check(x.grad, probs - soft.numpy(), dtype)

        x = leaf(logits, dtype)
        loss = F.nll_loss(F.log_softmax(x, 1), tinygen.tensor(labels), reduction="none")
        loss.sum().backward()
        check(loss, per_row, dtype)
        check(x.grad, probs - np.eye(3)[labels], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_mse_loss_at_plus_minus_10000_is_exact(backend: str, dtype: Any) -> None:
    with strict_numpy():
        x, t = leaf([BIG, -BIG, 0.0], dtype), leaf([0.0, BIG, 0.0], dtype)
        loss = F.mse_loss(x, t)
        loss.backward()
    check(loss, (BIG ** 2 + 4 * BIG ** 2) / 3, dtype)
    check(x.grad, 2 * np.array([BIG, -2 * BIG, 0.0]) / 3, dtype)
    check(t.grad, -2 * np.array([BIG, -2 * BIG, 0.0]) / 3, dtype)
