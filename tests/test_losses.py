"""Loss targets as PyTorch takes them: Python lists (integers become int64 class indices, floats
probabilities) and class targets over spatial positions, (N, C, d1, ...) scores with (N, d1, ...)
targets. The loss values are checked against sums written out by hand."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import Tensor


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# (N, C, d1) = (2, 3, 2) logits and their class targets (N, d1) = (2, 2)
LOGITS = [[[0.0, 1.0], [1.0, 0.0], [2.0, -1.0]],
          [[0.5, 0.0], [0.0, 0.0], [-0.5, 3.0]]]
TARGET = [[2, 0], [1, 2]]


def _hand_computed_cross_entropy() -> list[float]:
    """-log softmax(x)[t] at each position, with softmax over the 3 classes of that position."""
    losses = []
    for n in range(2):
        for d in range(2):
            column = [LOGITS[n][c][d] for c in range(3)]
            log_partition = math.log(sum(math.exp(v) for v in column))
            losses.append(log_partition - column[TARGET[n][d]])
    return losses


# --------------------------------------------------------------------------- list targets
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_takes_a_nested_list_target_with_3d_logits_like_an_int64_tensor(backend: str,
                                                                                    reduction: str) -> None:
    per_position = np.array(_hand_computed_cross_entropy()).reshape(2, 2)
    expected = {"mean": per_position.mean(), "sum": per_position.sum(), "none": per_position}[reduction]
    from_list = F.cross_entropy(leaf(LOGITS), TARGET, reduction=reduction)
    from_tensor = F.cross_entropy(leaf(LOGITS), tinygen.tensor(TARGET), reduction=reduction)
    assert tinygen.tensor(TARGET).dtype == np.int64
    np.testing.assert_allclose(from_list.numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(from_list.numpy(), from_tensor.numpy())


def test_a_list_target_gives_the_same_gradient_as_a_tensor_target(backend: str) -> None:
    x_list, x_tensor = leaf(LOGITS), leaf(LOGITS)
    F.cross_entropy(x_list, TARGET).backward()
    F.cross_entropy(x_tensor, tinygen.tensor(TARGET)).backward()
    np.testing.assert_array_equal(x_list.grad.numpy(), x_tensor.grad.numpy())


def test_nll_loss_takes_class_targets_over_spatial_positions(backend: str) -> None:
    logits = leaf(LOGITS)
    loss = F.nll_loss(F.log_softmax(logits, 1), TARGET, reduction="none")
    np.testing.assert_allclose(loss.numpy(), np.reshape(_hand_computed_cross_entropy(), (2, 2)), rtol=1e-12)


def test_cross_entropy_takes_a_list_of_probabilities_as_a_soft_target(backend: str) -> None:
    soft = [[0.25, 0.75], [1.0, 0.0]]
    x = leaf([[0.0, 1.0], [2.0, -1.0]])
    log_p = F.log_softmax(x, 1).numpy()
    expected = -(np.array(soft) * log_p).sum(1).mean()
    np.testing.assert_allclose(F.cross_entropy(x, soft).item(), expected, rtol=1e-12)
