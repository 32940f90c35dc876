"""Gradients exactly at a kink, a bound or a tie: the value PyTorch documents (and returns), for
every op with one. Finite differences cannot check these points (the two one-sided slopes
differ), so each value is stated here, and checked both by ``backward`` and by
``grad(create_graph=True)``, whose graph-building backward is separate code in some ops.

The values, as PyTorch gives them:
* relu'(0) = 0; leaky_relu'(0) = negative_slope; elu'(0) = alpha (the negative branch includes 0);
* clamp passes the gradient (1) at and between its bounds, 0 strictly outside;
* abs'(0) = sign(0) = 0, and so l1_loss's gradient where input == target;
* a full max/min over tied maxima splits the gradient evenly among them; max/min/topk/sort along a
  dim and max pooling send it to the one index they return (the first of the tied);
* the 2-norm's gradient at 0 is 0; sqrt'(0) = inf.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F

KINKS: dict[str, tuple[Callable[[Any], Any], list[float], list[float]]] = {
    # name: (f, x at the kink, d sum f(x) / dx)
    "relu_at_0": (F.relu, [0.0, 1.0, -1.0], [0.0, 1.0, 0.0]),
    "leaky_relu_at_0": (lambda x: F.leaky_relu(x, 0.2), [0.0, -1.0], [0.2, 0.2]),
    "elu_at_0": (lambda x: F.elu(x, 0.5), [0.0, 1.0], [0.5, 1.0]),
    "clamp_at_both_bounds": (lambda x: tg.clamp(x, -1.0, 1.0), [-1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 1.0, 0.0]),
    "clamp_min_only_at_its_bound": (lambda x: tg.clamp(x, min=0.0), [0.0, -0.5], [1.0, 0.0]),
    "clamp_max_only_at_its_bound": (lambda x: tg.clamp(x, max=0.0), [0.0, 0.5], [1.0, 0.0]),
    "hinge_at_its_corner": (lambda x: tg.clamp(1 - x, min=0.0), [1.0, 2.0], [-1.0, 0.0]),
    "abs_at_0": (tg.abs, [0.0, -2.0], [0.0, -1.0]),
    "l1_loss_where_input_equals_target": (lambda x: F.l1_loss(x, tg.tensor(np.array([0.0, 0.0])), reduction="sum"),
                                          [0.0, 1.0], [0.0, 1.0]),
    "max_of_all_splits_among_ties": (lambda x: x.max(), [1.0, 3.0, 3.0], [0.0, 0.5, 0.5]),
    "min_of_all_splits_among_ties": (lambda x: x.min(), [1.0, 1.0, 3.0], [0.5, 0.5, 0.0]),
    "max_along_a_dim_picks_the_first_tie": (lambda x: x.reshape(1, 3).max(1).values, [3.0, 1.0, 3.0],
                                            [1.0, 0.0, 0.0]),
    "min_along_a_dim_picks_the_first_tie": (lambda x: x.reshape(1, 3).min(1).values, [0.0, 1.0, 0.0],
                                            [1.0, 0.0, 0.0]),
    "topk_picks_the_first_tie": (lambda x: x.topk(1).values, [2.0, 2.0, 1.0], [1.0, 0.0, 0.0]),
    "sort_keeps_tied_elements_in_order": (lambda x: x.sort().values * tg.tensor(np.array([1.0, 2.0, 3.0])),
                                          [2.0, 1.0, 2.0], [2.0, 1.0, 3.0]),
    "max_pool_picks_the_first_tie": (lambda x: F.max_pool2d(x.reshape(1, 1, 2, 2), 2), [1.0, 1.0, 1.0, 0.0],
                                     [1.0, 0.0, 0.0, 0.0]),
    "norm_at_0": (lambda x: x.norm(), [0.0, 0.0], [0.0, 0.0]),
    "sqrt_at_0": (tg.sqrt, [0.0, 4.0], [np.inf, 0.25]),
}


def _leaf(values: list[float]) -> tg.Tensor:
    return tg.tensor(np.array(values, dtype=np.float64), requires_grad=True)


@pytest.mark.parametrize("name", list(KINKS))
def test_gradient_at_the_kink_is_pytorchs_value(name: str) -> None:
    f, x, expected = KINKS[name]
    leaf = _leaf(x)
    f(leaf).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(KINKS))
def test_gradient_at_the_kink_is_the_same_when_the_backward_builds_a_graph(name: str) -> None:
    f, x, expected = KINKS[name]
    leaf = _leaf(x)
    g, = tg.grad(f(leaf).sum(), [leaf], create_graph=True)
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(KINKS))
def test_gradient_at_the_kink_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    f, x, expected = KINKS[name]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f_torch = {"l1_loss_where_input_equals_target": lambda a: torch.nn.functional.l1_loss(
        a, torch.zeros(2, dtype=torch.float64), reduction="sum"),
        "sort_keeps_tied_elements_in_order": lambda a: a.sort(stable=True).values * torch.tensor([1.0, 2.0, 3.0],
                                                                                                  dtype=torch.float64),
    }.get(name)
    if f_torch is None:
        f_torch = _torch_version(name, torch)
    f_torch(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-12, atol=0)


def _torch_version(name: str, torch: Any) -> Callable[[Any], Any]:
    """The same function written with torch (the tinygen lambdas use tinygen's module-level ops)."""
    tf = torch.nn.functional
    return {
        "relu_at_0": tf.relu,
        "leaky_relu_at_0": lambda x: tf.leaky_relu(x, 0.2),
        "elu_at_0": lambda x: tf.elu(x, 0.5),
        "clamp_at_both_bounds": lambda x: torch.clamp(x, -1.0, 1.0),
        "clamp_min_only_at_its_bound": lambda x: torch.clamp(x, min=0.0),
        "clamp_max_only_at_its_bound": lambda x: torch.clamp(x, max=0.0),
        "hinge_at_its_corner": lambda x: torch.clamp(1 - x, min=0.0),
        "abs_at_0": torch.abs,
        "max_of_all_splits_among_ties": lambda x: x.max(),
        "min_of_all_splits_among_ties": lambda x: x.min(),
        "max_along_a_dim_picks_the_first_tie": lambda x: x.reshape(1, 3).max(1).values,
        "min_along_a_dim_picks_the_first_tie": lambda x: x.reshape(1, 3).min(1).values,
        "topk_picks_the_first_tie": lambda x: x.topk(1).values,
        "max_pool_picks_the_first_tie": lambda x: tf.max_pool2d(x.reshape(1, 1, 2, 2), 2),
        "norm_at_0": lambda x: x.norm(),
        "sqrt_at_0": torch.sqrt,
    }[name]


@pytest.mark.parametrize("create_graph", [False, True])
def test_max_along_a_dim_scatters_its_gradient_leaving_plus_zero_and_confining_nan(create_graph: bool) -> None:
    """PyTorch scatters max's gradient to the winners: the rest is +0.0 (not -0.0, as a product
    with a 0/1 mask would give for a negative upstream gradient), and a NaN upstream reaches only
    the winner (a mask product would spread NaN * 0 = NaN over the whole row)."""
    x = tg.tensor(np.array([[0.5, 2.0, 1.0], [3.0, -1.0, 0.0]]), requires_grad=True)
    y = x.max(1).values
    g, = tg.grad((y * tg.tensor(np.array([-2.0, np.nan]))).sum(), [x], create_graph=create_graph)
    got = g.detach().numpy()
    assert got[0].tolist() == [0.0, -2.0, 0.0] and not np.signbit(got[0, [0, 2]]).any()
    assert np.isnan(got[1, 0]) and got[1, 1:].tolist() == [0.0, 0.0]
