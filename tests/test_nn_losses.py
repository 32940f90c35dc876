"""Losses as PyTorch users write them: the new functional losses (l1_loss, binary_cross_entropy on
probabilities, kl_div, gaussian_nll_loss), the new options of the old ones (pos_weight, class
weights, label smoothing) and the Modules (nn.MSELoss ... nn.GaussianNLLLoss). Values are checked
against NumPy written out by hand, gradients (first and second order) against central
differences in float64, away from kinks; the torch tests only add a parity check."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import special

import tinygen
import tinygen.nn.functional as F
from tinygen import Tensor, gradcheck, gradgradcheck, nn

REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def const(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array))


def close(t: Tensor, expected: Any, rtol: float = 1e-12) -> None:
    np.testing.assert_allclose(t.numpy(), expected, rtol=rtol, atol=1e-14)
    assert t.shape == np.shape(expected)


RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4))
T = X + RNG.uniform(0.2, 1.0, (3, 4)) * RNG.choice([-1.0, 1.0], (3, 4))  # |x - t| >= 0.2: no kink
P = RNG.uniform(0.1, 0.9, (3, 4))  # probabilities away from 0 and 1
Q = RNG.uniform(0.1, 0.9, (3, 4))


# ------------------------------------------------------------------------------------ l1_loss
@pytest.mark.parametrize("reduction", list(REDUCE))
def test_l1_loss_is_the_absolute_difference_reduced(backend: str, reduction: str) -> None:
    x, t = leaf(X), leaf(T)
    close(F.l1_loss(x, t, reduction=reduction), REDUCE[reduction](np.abs(X - T)))
    assert gradcheck(lambda x, t: F.l1_loss(x, t, reduction=reduction), [x, t])


def test_l1_loss_gradient_is_the_sign_over_n_and_zero_where_input_equals_target(backend: str) -> None:
    x = leaf([1.0, 2.0, 3.0, 4.0])
    F.l1_loss(x, const([0.0, 2.0, 5.0, 3.0])).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.25, 0.0, -0.25, 0.25])


# ------------------------------------------------------------------------ binary_cross_entropy
def _bce(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))


@pytest.mark.parametrize("reduction", list(REDUCE))
def test_binary_cross_entropy_on_probabilities_is_the_bernoulli_log_likelihood(backend: str, reduction: str) -> None:
    w = RNG.uniform(0.5, 2.0, (4,))
    x, t = leaf(P), leaf(Q)
    close(F.binary_cross_entropy(x, t, reduction=reduction), REDUCE[reduction](_bce(P, Q)))
    close(F.binary_cross_entropy(x, t, weight=const(w), reduction=reduction), REDUCE[reduction](_bce(P, Q) * w))
    # input, target and weight: first and second order
    assert gradcheck(lambda x, t, w: F.binary_cross_entropy(x, t, weight=w, reduction=reduction), [x, t, leaf(w)])
    assert gradgradcheck(lambda x, t: F.binary_cross_entropy(x, t, reduction=reduction), [x, t])


def test_binary_cross_entropy_clamps_each_log_at_minus_100_like_pytorch(backend: str) -> None:
    # a probability of exactly 0 or 1: the loss is 100 per wrong label, not inf, and 0 (not NaN)
    # where the label agrees
    x = leaf([0.0, 1.0, 0.0, 1.0, 1e-50])
    t = leaf([1.0, 0.0, 0.0, 1.0, 1.0])
    loss = F.binary_cross_entropy(x, t, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0, 0.0, 0.0, 100.0])
    loss.sum().backward()
    # dl/dx = (x - t) / max(x (1 - x), 1e-12), PyTorch's formula: finite where the sigmoid saturated
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, 0.0, 0.0, -1e12], rtol=1e-12)
    # dl/dt = max(log(1 - x), -100) - max(log x, -100): the derivative of the clamped loss
    np.testing.assert_allclose(t.grad.numpy(), [100.0, -100.0, 100.0, -100.0, 100.0], rtol=1e-12)


def test_binary_cross_entropy_in_float32_at_saturated_probabilities_is_finite(backend: str) -> None:
    x = tinygen.tensor([0.0, 1.0, 0.5], requires_grad=True)
    with np.errstate(all="raise"):
        loss = F.binary_cross_entropy(x, tinygen.tensor([1.0, 0.0, 1.0]))
        loss.backward()
    np.testing.assert_allclose(loss.item(), (200 + math.log(2)) / 3, rtol=1e-6)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_binary_cross_entropy_rejects_probabilities_outside_zero_one() -> None:
    with pytest.raises(ValueError, match=r"binary_cross_entropy: inputs must lie in \[0, 1\], got values from -0.5"):
        F.binary_cross_entropy(tinygen.tensor([-0.5, 0.5]), tinygen.tensor([0.0, 1.0]))


# ------------------------------------------------------------------ bce with logits: pos_weight
@pytest.mark.parametrize("reduction", list(REDUCE))
def test_pos_weight_multiplies_the_positive_term_of_bce_with_logits(backend: str, reduction: str) -> None:
    logits, p = RNG.normal(0.0, 2.0, (3, 4)), RNG.uniform(0.5, 3.0, (4,))
    # -[p t log sigma(x) + (1 - t) log(1 - sigma(x))], one p per class (the last dim)
    per_element = -(p * Q * special.log_expit(logits) + (1 - Q) * special.log_expit(-logits))
    x, t, pw = leaf(logits), leaf(Q), leaf(p)
    close(F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction=reduction), REDUCE[reduction](per_element))
    assert gradcheck(lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction=reduction),
                     [x, t, pw])
    assert gradgradcheck(lambda x, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw), [x, pw])


def test_pos_weight_of_one_changes_nothing_and_extreme_logits_stay_finite(backend: str) -> None:
    x, t = leaf([[-1e4, 1e4, 0.5]]), const([[1.0, 0.0, 1.0]])
    with np.errstate(all="raise"):
        weighted = F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=const([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(weighted.numpy(), F.binary_cross_entropy_with_logits(x, t, reduction="none").numpy(),
                               rtol=1e-15)
    np.testing.assert_allclose(weighted.numpy()[0, :2], [1e4, 1e4])


def test_bce_with_logits_weights_that_do_not_broadcast_are_named() -> None:
    x, t = tinygen.zeros(2, 3), tinygen.zeros(2, 3)
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight of shape \(2,\) does not "
                                         r"broadcast to the input's shape \(2, 3\)"):
        F.binary_cross_entropy_with_logits(x, t, pos_weight=tinygen.ones(2))


# --------------------------------------------------------- cross-entropy: class weights and smoothing
LOGITS = RNG.normal(size=(5, 3))
LABELS = np.array([0, 2, -100, 1, 2])  # one ignored target
WEIGHT = np.array([0.5, 2.0, 1.5])


def _weighted_smoothed_ce(logits: np.ndarray, labels: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """Per-row PyTorch cross-entropy, written out: (1 - eps) w_t (-log p_t) + eps/C sum_c w_c (-log p_c)."""
    log_p = special.log_softmax(logits, 1)
    rows = []
    for row, label in zip(log_p, labels):
        if label == -100:
            rows.append(0.0)
            continue
        rows.append((1 - eps) * w[label] * -row[label] + eps / len(w) * -(w * row).sum())
    return np.array(rows)


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("reduction", list(REDUCE))
def test_cross_entropy_class_weights_and_label_smoothing_follow_pytorch(backend: str, reduction: str,
                                                                        eps: float) -> None:
    per_row = _weighted_smoothed_ce(LOGITS, LABELS, WEIGHT, eps)
    counted = LABELS != -100
    # mean: divided by the summed weights of the targets that count, not by their number
    expected = {"mean": per_row.sum() / WEIGHT[LABELS[counted]].sum(), "sum": per_row.sum(), "none": per_row}[reduction]
    x, w = leaf(LOGITS), leaf(WEIGHT)
    close(F.cross_entropy(x, const(LABELS), reduction=reduction, weight=w, label_smoothing=eps), expected)
    assert gradcheck(lambda x, w: F.cross_entropy(x, const(LABELS), reduction=reduction, weight=w,
                                                  label_smoothing=eps), [x, w])
    unweighted = _weighted_smoothed_ce(LOGITS, LABELS, np.ones(3), eps)
    close(F.cross_entropy(x, const(LABELS), reduction=reduction, label_smoothing=eps),
          {"mean": unweighted.sum() / counted.sum(), "sum": unweighted.sum(), "none": unweighted}[reduction])


def test_second_order_gradient_of_weighted_smoothed_cross_entropy(backend: str) -> None:
    labels = const(np.array([2, 0, 1]))
    assert gradgradcheck(lambda x, w: F.cross_entropy(x, labels, weight=w, label_smoothing=0.1),
                         [leaf(LOGITS[:3]), leaf(WEIGHT)])


def test_nll_loss_with_class_weights_is_the_weighted_mean(backend: str) -> None:
    log_p = special.log_softmax(LOGITS, 1)
    counted = LABELS != -100
    picked = -log_p[np.arange(5)[counted], LABELS[counted]] * WEIGHT[LABELS[counted]]
    close(F.nll_loss(leaf(log_p), const(LABELS), weight=const(WEIGHT)), picked.sum() / WEIGHT[LABELS[counted]].sum())
    close(F.nll_loss(leaf(log_p), const(LABELS), weight=const(WEIGHT), reduction="sum"), picked.sum())


def test_cross_entropy_probability_targets_with_weights_and_smoothing(backend: str) -> None:
    target = special.softmax(RNG.normal(size=(5, 3)), 1)
    smoothed = target * 0.8 + 0.2 / 3
    per_row = -(WEIGHT * smoothed * special.log_softmax(LOGITS, 1)).sum(1)
    x, t = leaf(LOGITS), leaf(target)
    close(F.cross_entropy(x, t, weight=const(WEIGHT), label_smoothing=0.2), per_row.mean())  # mean over rows
    assert gradcheck(lambda x, t: F.cross_entropy(x, t, weight=const(WEIGHT), label_smoothing=0.2), [x, t])


def test_cross_entropy_option_errors_name_the_argument() -> None:
    x = tinygen.zeros(2, 3)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must be a floating-point tensor of shape \(3,\)"
                                         r".*got shape \(2,\)"):
        F.cross_entropy(x, [0, 1], weight=tinygen.ones(2))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must lie in \[0, 1\], got 1.5"):
        F.cross_entropy(x, [0, 1], label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"cross_entropy: ignore_index=0 needs class-index targets"):
        F.cross_entropy(x, tinygen.ones(2, 3) / 3, ignore_index=0)


# ------------------------------------------------------------------------------------- kl_div
LOG_Q = special.log_softmax(RNG.normal(size=(3, 4)), 1)
P_TARGET = np.array([[0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])  # one zero


def test_kl_div_takes_log_q_and_p_and_batchmean_gives_the_divergence_per_sample(backend: str) -> None:
    # KL(p || q) of each row, 0 log 0 = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pointwise = np.where(P_TARGET > 0, P_TARGET * (np.log(P_TARGET) - LOG_Q), 0.0)
    x, t = leaf(LOG_Q), leaf(P_TARGET)
    close(F.kl_div(x, t, reduction="none"), pointwise)
    close(F.kl_div(x, t, reduction="batchmean"), pointwise.sum() / 3)
    close(F.kl_div(x, t, reduction="sum"), pointwise.sum())
    close(F.kl_div(x, t), pointwise.mean())  # PyTorch's 'mean': over all 12 elements
    # the same divergence from log-probability targets
    rows = [0, 2]  # the rows without a zero, whose log is finite
    close(F.kl_div(leaf(LOG_Q[rows]), leaf(np.log(P_TARGET[rows])), reduction="batchmean", log_target=True),
          pointwise[rows].sum() / 2)


def test_kl_div_gradients_first_and_second_order(backend: str) -> None:
    p = special.softmax(RNG.normal(size=(2, 3)), 1)  # strictly positive: the target's log is smooth
    x, t = leaf(LOG_Q[:2, :3]), leaf(p)
    for log_target, target in ((False, t), (True, leaf(np.log(p)))):
        fn = lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=log_target)  # noqa: E731
        assert gradcheck(fn, [x, target])
        assert gradgradcheck(fn, [x, target])


def test_kl_div_target_of_zero_gives_zero_loss_and_zero_gradients(backend: str) -> None:
    x, t = leaf([[-1.0, -0.5]]), leaf([[0.0, 1.0]])
    loss = F.kl_div(x, t, reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.item(), 0.5)
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, -1.0]])
    np.testing.assert_allclose(t.grad.numpy(), [[0.0, 1.5]])  # log t + 1 - x, and 0 where t = 0


def test_kl_div_errors() -> None:
    with pytest.raises(ValueError, match=r"kl_div: reduction must be one of \('mean', 'batchmean', 'sum', 'none'\)"):
        F.kl_div(tinygen.zeros(2), tinygen.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match=r"kl_div: target probabilities must be non-negative.*log_target=True"):
        F.kl_div(tinygen.zeros(2), tinygen.tensor([-1.0, 2.0]))


# ------------------------------------------------------------------------- gaussian_nll_loss
def _gaussian_nll(mu: np.ndarray, t: np.ndarray, var: np.ndarray, full: bool, eps: float = 1e-6) -> np.ndarray:
    v = np.maximum(var, eps)
    return 0.5 * (np.log(v) + (mu - t) ** 2 / v) + (0.5 * math.log(2 * math.pi) if full else 0.0)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", list(REDUCE))
def test_gaussian_nll_loss_is_half_log_var_plus_squared_error_over_var(backend: str, reduction: str,
                                                                       full: bool) -> None:
    var = RNG.uniform(0.5, 2.0, (3, 4))
    x, t, v = leaf(X), leaf(T), leaf(var)
    close(F.gaussian_nll_loss(x, t, v, full=full, reduction=reduction),
          REDUCE[reduction](_gaussian_nll(X, T, var, full)))
    assert gradcheck(lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=full, reduction=reduction), [x, t, v])
    assert gradgradcheck(lambda x, v: F.gaussian_nll_loss(x, t, v, full=full, reduction=reduction), [x, v])


@pytest.mark.parametrize("var_shape", [(3,), (3, 1), (1, 4)], ids=str)
def test_gaussian_nll_loss_shares_a_variance_along_the_dims_pytorch_allows(backend: str, var_shape: tuple) -> None:
    var = RNG.uniform(0.5, 2.0, var_shape)
    full_var = np.broadcast_to(var.reshape(3, 1) if var_shape == (3,) else var, (3, 4))
    v = leaf(var)
    close(F.gaussian_nll_loss(leaf(X), leaf(T), v), _gaussian_nll(X, T, full_var, False).mean())
    assert gradcheck(lambda v: F.gaussian_nll_loss(leaf(X), leaf(T), v), [v])
    close(F.gaussian_nll_loss(leaf(X), leaf(T), 0.7), _gaussian_nll(X, T, np.full((3, 4), 0.7), False).mean())


def test_gaussian_nll_loss_clamps_var_at_eps_but_passes_its_gradient_through(backend: str) -> None:
    # PyTorch clamps var in place under no_grad: the value is eps, the gradient that of v at eps
    eps, d = 1e-3, 0.1
    v = leaf([1e-9])
    loss = F.gaussian_nll_loss(leaf([d]), leaf([0.0]), v, eps=eps)
    loss.backward()
    np.testing.assert_allclose(loss.item(), 0.5 * (math.log(eps) + d * d / eps), rtol=1e-12)
    # d/dv 0.5 (log v + d^2 / v) at v = eps, not 0 (which an ordinary clamp would give)
    np.testing.assert_allclose(v.grad.numpy(), [0.5 * (1 / eps - d * d / eps ** 2)], rtol=1e-12)


def test_gaussian_nll_loss_errors_name_var() -> None:
    x = tinygen.zeros(3, 4)
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var of shape \(3, 2\) must have the input's "
                                         r"shape \(3, 4\)"):
        F.gaussian_nll_loss(x, x, tinygen.ones(3, 2))
    with pytest.raises(ValueError, match="gaussian_nll_loss: var must be non-negative, got a minimum of -1.0"):
        F.gaussian_nll_loss(x, x, -tinygen.ones(3, 4))


# --------------------------------------------------------------------------- shape mismatches
@pytest.mark.parametrize("loss", [F.l1_loss, F.binary_cross_entropy, F.kl_div,
                                  lambda x, t: F.gaussian_nll_loss(x, t, 1.0),
                                  F.mse_loss, F.binary_cross_entropy_with_logits],
                         ids=["l1", "bce", "kl_div", "gaussian_nll", "mse", "bce_with_logits"])
def test_losses_reject_an_input_and_target_of_different_shapes_in_one_line(loss: Any) -> None:
    with pytest.raises(ValueError, match=r"^\w+: input shape \(4, 1\) and target shape \(4,\) differ$"):
        loss(tinygen.full((4, 1), 0.5), tinygen.full((4,), 0.5))


# ------------------------------------------------------------------------------------- modules
MODULE_CASES = [
    (nn.MSELoss, lambda x, t, r: F.mse_loss(x, t, reduction=r), X, T),
    (nn.L1Loss, lambda x, t, r: F.l1_loss(x, t, reduction=r), X, T),
    (nn.BCELoss, lambda x, t, r: F.binary_cross_entropy(x, t, reduction=r), P, Q),
    (nn.BCEWithLogitsLoss, lambda x, t, r: F.binary_cross_entropy_with_logits(x, t, reduction=r), X, Q),
    (nn.KLDivLoss, lambda x, t, r: F.kl_div(x, t, reduction=r), LOG_Q, P_TARGET),
]


@pytest.mark.parametrize("reduction", list(REDUCE))
@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda c: c[0].__name__)
def test_loss_modules_call_their_functional_loss_with_the_reduction(backend: str, case: Any, reduction: str) -> None:
    module, functional, a, b = case
    x, t = leaf(a), leaf(b)
    np.testing.assert_array_equal(module(reduction=reduction)(x, t).numpy(), functional(x, t, reduction).numpy())


@pytest.mark.parametrize("reduction", list(REDUCE))
def test_class_losses_pass_weight_ignore_index_and_label_smoothing(backend: str, reduction: str) -> None:
    x, labels, w = leaf(LOGITS), const(np.array([0, 2, 1, 1, 0])), const(WEIGHT)
    ce = nn.CrossEntropyLoss(weight=w, ignore_index=1, reduction=reduction, label_smoothing=0.1)
    np.testing.assert_array_equal(
        ce(x, labels).numpy(),
        F.cross_entropy(x, labels, reduction=reduction, ignore_index=1, weight=w, label_smoothing=0.1).numpy())
    nll = nn.NLLLoss(weight=w, ignore_index=2, reduction=reduction)
    log_p = F.log_softmax(x, 1)
    np.testing.assert_array_equal(nll(log_p, labels).numpy(),
                                  F.nll_loss(log_p, labels, reduction=reduction, ignore_index=2, weight=w).numpy())
    pos_weight = const([1.0, 2.0, 3.0])
    bce = nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pos_weight)
    t = const(P[:, :3])
    np.testing.assert_array_equal(bce(x[:3], t).numpy(), F.binary_cross_entropy_with_logits(
        x[:3], t, weight=w, reduction=reduction, pos_weight=pos_weight).numpy())


def test_gaussian_nll_loss_module_passes_full_and_eps(backend: str) -> None:
    var = leaf(np.full((3, 4), 1e-4))
    module = nn.GaussianNLLLoss(full=True, eps=1e-2, reduction="sum")
    expected = F.gaussian_nll_loss(leaf(X), leaf(T), var, full=True, eps=1e-2, reduction="sum")
    np.testing.assert_array_equal(module(leaf(X), leaf(T), var).numpy(), expected.numpy())


def test_legacy_size_average_and_reduce_map_to_a_reduction_like_pytorch() -> None:
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.MSELoss(reduce=False).reduction == "none"
    assert nn.L1Loss(size_average=True, reduce=True).reduction == "mean"
    assert nn.CrossEntropyLoss(reduction="sum").reduction == "sum"
    with pytest.raises(ValueError, match=r"MSELoss: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"):
        nn.MSELoss(reduction="avg")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"


def test_loss_weights_are_buffers_in_the_state_dict_as_in_pytorch(backend: str) -> None:
    assert list(nn.CrossEntropyLoss(weight=tinygen.ones(3)).state_dict()) == ["weight"]
    assert not list(nn.CrossEntropyLoss().state_dict())
    assert list(nn.BCEWithLogitsLoss(pos_weight=tinygen.ones(3)).state_dict()) == ["pos_weight"]
    assert not list(nn.BCEWithLogitsLoss(pos_weight=tinygen.ones(3)).parameters())
    with pytest.raises(TypeError, match="NLLLoss: weight must be a Tensor or None, got list"):
        nn.NLLLoss(weight=[1.0, 2.0])
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss()"  # as PyTorch prints it


# ----------------------------------------------------------------------------------- torch parity
def test_losses_match_torch_values_and_gradients() -> None:
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    var = RNG.uniform(0.5, 2.0, (3,))
    cases = [
        (lambda x: F.l1_loss(x, leaf(T)), lambda x: TF.l1_loss(x, torch.tensor(T)), X),
        (lambda x: F.binary_cross_entropy(x, leaf(Q)), lambda x: TF.binary_cross_entropy(x, torch.tensor(Q)), P),
        (lambda x: F.kl_div(x, leaf(P_TARGET), reduction="batchmean"),
         lambda x: TF.kl_div(x, torch.tensor(P_TARGET), reduction="batchmean"), LOG_Q),
        (lambda x: F.gaussian_nll_loss(x, leaf(T), leaf(var), full=True),
         lambda x: TF.gaussian_nll_loss(x, torch.tensor(T), torch.tensor(var), full=True), X),
        (lambda x: F.binary_cross_entropy_with_logits(x, leaf(Q), pos_weight=const([1.0, 2.0, 0.5, 3.0])),
         lambda x: TF.binary_cross_entropy_with_logits(
             x, torch.tensor(Q), pos_weight=torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)), X),
        (lambda x: F.cross_entropy(x, const(LABELS), weight=const(WEIGHT), label_smoothing=0.2),
         lambda x: TF.cross_entropy(x, torch.tensor(LABELS), weight=torch.tensor(WEIGHT), label_smoothing=0.2), LOGITS),
    ]
    for ours, theirs, a in cases:
        x, xt = leaf(a), torch.tensor(a, requires_grad=True)
        y, yt = ours(x), theirs(xt)
        np.testing.assert_allclose(y.item(), yt.item(), rtol=1e-12)
        y.backward()
        yt.backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_loss_module_state_dicts_match_torch() -> None:
    torch = pytest.importorskip("torch")
    w = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    pairs = [(nn.CrossEntropyLoss(weight=tinygen.tensor(w)), torch.nn.CrossEntropyLoss(weight=torch.tensor(w))),
             (nn.NLLLoss(), torch.nn.NLLLoss()),
             (nn.BCEWithLogitsLoss(weight=tinygen.tensor(w), pos_weight=tinygen.tensor(w)),
              torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(w))),
             (nn.BCELoss(weight=tinygen.tensor(w)), torch.nn.BCELoss(weight=torch.tensor(w)))]
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict())
