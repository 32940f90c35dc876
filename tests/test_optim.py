"""Optimisers against their update equations, computed by hand, and against torch.optim.

The loss is L(theta) = 1/2 theta^T A theta - b^T theta (so g = A theta - b changes from step to
step, which is what momentum and the moment estimates need to be tested properly)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tinygen
from tinygen import Tensor, optim

A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 3.0]])
b = np.array([1.0, -2.0, 0.5])
THETA0 = np.array([0.7, -1.2, 2.5])


def gradient(theta: np.ndarray) -> np.ndarray:
    return A @ theta - b


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def compute_grad(p: Tensor) -> None:
    """Fill p.grad by backward through the loss (a real training step, not a hand-set .grad)."""
    loss = 0.5 * (p @ (tinygen.tensor(A) @ p)) - (tinygen.tensor(b) * p).sum()
    loss.backward()


def run(opt: optim.Optimizer, p: Tensor, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        compute_grad(p)
        opt.step()


def test_the_loss_gradient_used_here_is_a_theta_minus_b(backend: str) -> None:
    p = leaf(THETA0)
    compute_grad(p)
    np.testing.assert_allclose(p.grad.numpy(), gradient(THETA0), rtol=1e-14)


# ---------------------------------------------------------------------------------------- SGD
def test_sgd_step_is_theta_minus_lr_times_gradient(backend: str) -> None:
    p = leaf(THETA0)
    run(optim.SGD([p], lr=0.1), p, 1)
    np.testing.assert_allclose(p.numpy(), THETA0 - 0.1 * gradient(THETA0), rtol=1e-14)


def test_sgd_momentum_first_two_steps_by_hand(backend: str) -> None:
    lr, mu = 0.1, 0.9
    p = leaf(THETA0)
    opt = optim.SGD([p], lr=lr, momentum=mu)
    run(opt, p, 1)
    g1 = gradient(THETA0)
    b1 = g1  # b_1 = g_1 (the buffer starts as the first gradient, as in PyTorch)
    theta1 = THETA0 - lr * b1
    np.testing.assert_allclose(p.numpy(), theta1, rtol=1e-14)
    run(opt, p, 1)
    b2 = mu * b1 + gradient(theta1)  # b_2 = mu b_1 + g_2
    np.testing.assert_allclose(p.numpy(), theta1 - lr * b2, rtol=1e-14)


def test_sgd_dampening_scales_the_new_gradient_in_the_buffer(backend: str) -> None:
    lr, mu, d = 0.1, 0.9, 0.3
    p = leaf(THETA0)
    run(optim.SGD([p], lr=lr, momentum=mu, dampening=d), p, 2)
    theta1 = THETA0 - lr * gradient(THETA0)
    b2 = mu * gradient(THETA0) + (1 - d) * gradient(theta1)
    np.testing.assert_allclose(p.numpy(), theta1 - lr * b2, rtol=1e-14)


def test_sgd_nesterov_steps_along_gradient_plus_mu_times_buffer(backend: str) -> None:
    lr, mu = 0.1, 0.9
    p = leaf(THETA0)
    run(optim.SGD([p], lr=lr, momentum=mu, nesterov=True), p, 2)
    g1 = gradient(THETA0)
    theta1 = THETA0 - lr * (g1 + mu * g1)  # b_1 = g_1
    g2 = gradient(theta1)
    b2 = mu * g1 + g2
    np.testing.assert_allclose(p.numpy(), theta1 - lr * (g2 + mu * b2), rtol=1e-14)


def test_sgd_weight_decay_adds_lambda_theta_to_the_gradient(backend: str) -> None:
    p = leaf(THETA0)
    run(optim.SGD([p], lr=0.1, weight_decay=0.01), p, 1)
    np.testing.assert_allclose(p.numpy(), THETA0 - 0.1 * (gradient(THETA0) + 0.01 * THETA0), rtol=1e-14)


# --------------------------------------------------------------------------------------- Adam
def test_adam_first_step_is_lr_times_sign_of_gradient(backend: str) -> None:
    # m_hat = g and v_hat = g^2 after one step, so the update is lr g / (|g| + eps) ~ lr sign(g),
    # whatever the scale of g (here from 1e-3 to 1e3)
    theta0 = np.array([1.0, -2.0, 0.5])
    g = np.array([1e3, -1e-3, 2.0])
    p = leaf(theta0)
    opt = optim.Adam([p], lr=0.01)
    p.grad = tinygen.tensor(g)
    opt.step()
    np.testing.assert_allclose(p.numpy(), theta0 - 0.01 * np.sign(g), rtol=1e-7)
    np.testing.assert_allclose(p.numpy(), theta0 - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_adam_second_step_by_hand(backend: str) -> None:
    lr, beta1, beta2, eps = 0.05, 0.8, 0.9, 1e-8
    p = leaf(THETA0)
    opt = optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    run(opt, p, 2)
    g1 = gradient(THETA0)
    theta1 = THETA0 - lr * g1 / (np.abs(g1) + eps)
    g2 = gradient(theta1)
    m2 = beta1 * (1 - beta1) * g1 + (1 - beta1) * g2  # m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v2 = beta2 * (1 - beta2) * g1 ** 2 + (1 - beta2) * g2 ** 2
    m_hat, v_hat = m2 / (1 - beta1 ** 2), v2 / (1 - beta2 ** 2)  # bias correction with t = 2
    np.testing.assert_allclose(p.numpy(), theta1 - lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-13)


def test_adam_weight_decay_is_l2_added_to_the_gradient_not_decoupled(backend: str) -> None:
    p = leaf(THETA0)
    run(optim.Adam([p], lr=0.01, weight_decay=0.1), p, 1)
    g = gradient(THETA0) + 0.1 * THETA0
    np.testing.assert_allclose(p.numpy(), THETA0 - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)


# -------------------------------------------------------------------------------------- AdamW
def test_adamw_first_step_shrinks_theta_then_takes_adams_step_on_the_plain_gradient(backend: str) -> None:
    lr, wd = 0.05, 0.1
    p = leaf(THETA0)
    run(optim.AdamW([p], lr=lr, weight_decay=wd), p, 1)
    g = gradient(THETA0)  # no lambda theta in it: the decay never reaches m or v
    np.testing.assert_allclose(p.numpy(), THETA0 * (1 - lr * wd) - lr * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_adamw_second_step_decays_the_current_theta_and_keeps_decay_out_of_the_moments(backend: str) -> None:
    lr, beta1, beta2, eps, wd = 0.05, 0.8, 0.9, 1e-8, 0.3
    p = leaf(THETA0)
    run(optim.AdamW([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd), p, 2)
    g1 = gradient(THETA0)
    theta1 = THETA0 * (1 - lr * wd) - lr * g1 / (np.abs(g1) + eps)
    g2 = gradient(theta1)
    m2 = beta1 * (1 - beta1) * g1 + (1 - beta1) * g2
    v2 = beta2 * (1 - beta2) * g1 ** 2 + (1 - beta2) * g2 ** 2
    m_hat, v_hat = m2 / (1 - beta1 ** 2), v2 / (1 - beta2 ** 2)
    # theta_2 = theta_1 - lr lambda theta_1 - lr m_hat / (sqrt(v_hat) + eps)
    expected = theta1 - lr * wd * theta1 - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-13)


def test_adamw_default_weight_decay_is_pytorchs_and_differs_from_adams_l2(backend: str) -> None:
    p, q = leaf(THETA0), leaf(THETA0)
    adamw = optim.AdamW([p], lr=0.05)
    assert adamw.defaults["weight_decay"] == 0.01 and adamw.param_groups[0]["weight_decay"] == 0.01
    run(adamw, p, 3)
    run(optim.Adam([q], lr=0.05, weight_decay=0.01), q, 3)
    assert np.abs(p.numpy() - q.numpy()).max() > 1e-6  # decoupled and L2 decay are different updates


def test_adamw_without_weight_decay_is_adam_to_the_bit(backend: str) -> None:
    p, q = leaf(THETA0), leaf(THETA0)
    run(optim.AdamW([p], lr=0.05, weight_decay=0.0), p, 4)
    run(optim.Adam([q], lr=0.05), q, 4)
    np.testing.assert_array_equal(p.numpy(), q.numpy())


@pytest.mark.parametrize("make", [optim.Adam, optim.RMSprop], ids=["Adam", "RMSprop"])
def test_step_count_starts_at_one_and_advances_once_per_step(backend: str, make: Callable[..., Any]) -> None:
    p, unused = leaf(THETA0), leaf([1.0])  # `unused` never gets a gradient
    opt = make([p, unused])
    assert opt.state_dict()["state"] == {}
    for t in (1, 2, 3):
        run(opt, p, 1)
        assert opt.state_dict()["state"][0]["step"] == t
    assert 1 not in opt.state_dict()["state"]  # no gradient, no step


# ------------------------------------------------------------------------------------ RMSprop
def test_rmsprop_first_step_by_hand(backend: str) -> None:
    lr, alpha, eps = 0.01, 0.99, 1e-8
    p = leaf(THETA0)
    run(optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps), p, 1)
    g = gradient(THETA0)
    v1 = (1 - alpha) * g ** 2  # v_1 = alpha * 0 + (1 - alpha) g^2
    np.testing.assert_allclose(p.numpy(), THETA0 - lr * g / (np.sqrt(v1) + eps), rtol=1e-14)
    # so the first step is lr / sqrt(1 - alpha) = 10 lr per coordinate, in the direction of -g
    np.testing.assert_allclose(THETA0 - p.numpy(), lr / np.sqrt(1 - alpha) * np.sign(g), rtol=1e-6)


def test_rmsprop_with_momentum_two_steps_by_hand(backend: str) -> None:
    lr, alpha, mu, eps = 0.01, 0.9, 0.5, 1e-8
    p = leaf(THETA0)
    run(optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, momentum=mu), p, 2)
    g1 = gradient(THETA0)
    v1 = (1 - alpha) * g1 ** 2
    b1 = g1 / (np.sqrt(v1) + eps)
    theta1 = THETA0 - lr * b1
    g2 = gradient(theta1)
    v2 = alpha * v1 + (1 - alpha) * g2 ** 2
    b2 = mu * b1 + g2 / (np.sqrt(v2) + eps)
    np.testing.assert_allclose(p.numpy(), theta1 - lr * b2, rtol=1e-13)


# -------------------------------------------------------------------------- state and zero_grad
OPTIMIZERS = {
    "SGD_momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.95), weight_decay=1e-3),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.05, betas=(0.8, 0.95), weight_decay=0.1),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.5),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_training_resumed_from_a_state_dict_matches_uninterrupted_training(backend: str, name: str) -> None:
    make = OPTIMIZERS[name]
    p = leaf(THETA0)
    uninterrupted = make([p])
    run(uninterrupted, p, 3)
    saved_theta, saved_state = p.numpy(), uninterrupted.state_dict()
    run(uninterrupted, p, 4)

    q = leaf(saved_theta)
    resumed = make([q])
    resumed.load_state_dict(saved_state)
    run(resumed, q, 4)
    np.testing.assert_array_equal(q.numpy(), p.numpy())  # bit for bit


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_is_a_snapshot_of_plain_arrays_not_a_live_view(backend: str, name: str) -> None:
    p = leaf(THETA0)
    opt = OPTIMIZERS[name]([p])
    run(opt, p, 2)
    snapshot = opt.state_dict()
    frozen = {k: np.array(v, copy=True) for k, v in snapshot["state"][0].items()}
    run(opt, p, 2)
    for k, v in snapshot["state"][0].items():
        assert isinstance(v, (np.ndarray, int, float))
        np.testing.assert_array_equal(v, frozen[k])


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_load_state_dict_copies_so_later_steps_leave_the_callers_dict_alone(backend: str, name: str) -> None:
    p = leaf(THETA0)
    source = OPTIMIZERS[name]([p])
    run(source, p, 2)
    saved = source.state_dict()
    frozen = {k: np.array(v, copy=True) for k, v in saved["state"][0].items()}
    frozen_groups = [dict(g) for g in saved["param_groups"]]
    q = leaf(p.numpy())
    resumed = OPTIMIZERS[name]([q])
    resumed.load_state_dict(saved)
    run(resumed, q, 3)
    resumed.lr = 123.0
    for k, v in saved["state"][0].items():  # in-place updates of the moments must not reach these
        np.testing.assert_array_equal(v, frozen[k], err_msg=k)
    assert saved["param_groups"] == frozen_groups


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("make", [
    lambda ps, fused: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1, fused=fused),
    lambda ps, fused: optim.SGD(ps, lr=0.05, weight_decay=0.1, fused=fused),
    lambda ps, fused: optim.Adam(ps, lr=0.05, weight_decay=0.1, fused=fused),
    lambda ps, fused: optim.AdamW(ps, lr=0.05, weight_decay=0.1, fused=fused),
    lambda ps, fused: optim.RMSprop(ps, lr=0.01, momentum=0.5, weight_decay=0.1, fused=fused),
], ids=["SGD-momentum", "SGD", "Adam", "AdamW", "RMSprop"])
def test_no_optimizer_changes_the_gradient_it_reads(backend: str, make: Callable[..., Any], fused: bool) -> None:
    # weight decay must go into a new array (or onto theta), never into p.grad; the same .grad
    # serves two steps, so a buffer that aliased it would also show
    p = leaf(THETA0)
    opt = make([p], fused)
    compute_grad(p)
    grad, before = p.grad, p.grad.numpy().copy()
    opt.step()
    opt.step()
    assert p.grad is grad
    np.testing.assert_array_equal(p.grad.numpy(), before)


def test_load_state_dict_restores_the_hyperparameters_into_the_param_groups(backend: str) -> None:
    p = leaf(THETA0)
    opt = optim.Adam([p], lr=0.123, betas=(0.5, 0.6))
    other = optim.Adam([leaf(THETA0)])
    other.load_state_dict(opt.state_dict())
    assert other.lr == 0.123 and other.param_groups[0]["betas"] == (0.5, 0.6)
    # as in PyTorch, `defaults` stay the constructor's: they are what a later add_param_group gets
    assert other.defaults["betas"] == (0.9, 0.999)


def test_zero_grad_clears_every_gradient(backend: str) -> None:
    p, q = leaf(THETA0), leaf([1.0, 2.0])
    opt = optim.SGD([p, q], lr=0.1)
    ((p * p).sum() + (q * 3).sum()).backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), 0.0)
    np.testing.assert_array_equal(q.grad.numpy(), 0.0)
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_a_parameter_without_gradient_is_left_alone(backend: str) -> None:
    p, q = leaf(THETA0), leaf([1.0, 2.0])
    opt = optim.Adam([p, q], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    np.testing.assert_array_equal(q.numpy(), [1.0, 2.0])


# ---------------------------------------------------------------------------- torch parity
TORCH_CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.7, 0.9), eps=1e-6, weight_decay=0.01)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, betas=(0.7, 0.9), eps=1e-6, weight_decay=0.3)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01, momentum=0.5)),
]


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("name, kwargs", TORCH_CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CONFIGS)])
def test_optimizer_follows_the_same_trajectory_as_torch_optim(name: str, kwargs: dict[str, Any], fused: bool) -> None:
    # both paths: the equations as written (fused=False) and the in-place kernels (the default)
    torch = pytest.importorskip("torch")
    p = leaf(THETA0)
    ours = getattr(optim, name)([p], fused=fused, **kwargs)
    tp = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    theirs = getattr(torch.optim, name)([tp], **kwargs)
    tA, tb = torch.tensor(A), torch.tensor(b)
    for _ in range(8):
        run(ours, p, 1)
        theirs.zero_grad()
        (0.5 * tp @ tA @ tp - tb @ tp).backward()
        theirs.step()
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
