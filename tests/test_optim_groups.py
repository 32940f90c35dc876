"""Parameter groups: per-group hyperparameters, ``add_param_group``, ``opt.lr`` and the state dict.

Each group's step is checked by hand against the update equation with that group's options, so
an optimiser that read the constructor's options (or the first group's) for every parameter
fails. The loss is separable, L = sum_k 1/2 a_k |theta_k|^2, so g_k = a_k theta_k per parameter.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tinygen
from tinygen import backend as B
from tinygen import Tensor, optim

A_COEF = (1.0, 3.0, 0.5)
THETAS = ([0.7, -1.2], [2.5], [-0.3, 0.4, 1.1])


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def make_params() -> list[Tensor]:
    return [leaf(theta) for theta in THETAS]


def compute_grads(params: list[Tensor]) -> None:
    loss = sum(0.5 * a * (p * p).sum() for a, p in zip(A_COEF, params))
    loss.backward()


def run(opt: optim.Optimizer, params: list[Tensor], steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        compute_grads(params)
        opt.step()


def two_groups(params: list[Tensor], **first: Any) -> list[dict[str, Any]]:
    return [{"params": params[:2], **first}, {"params": params[2:]}]


# ------------------------------------------------------------------------- per-group options
def test_each_group_steps_with_its_own_learning_rate(backend: str) -> None:
    ps = make_params()
    opt = optim.SGD(two_groups(ps, lr=0.1), lr=0.01)
    run(opt, ps, 1)
    for k, (p, lr) in enumerate(zip(ps, (0.1, 0.1, 0.01))):
        theta = np.array(THETAS[k])
        np.testing.assert_allclose(p.numpy(), theta - lr * A_COEF[k] * theta, rtol=1e-15, err_msg=f"parameter {k}")


def test_options_a_group_leaves_out_are_the_constructors(backend: str) -> None:
    ps = make_params()
    opt = optim.Adam(two_groups(ps, lr=0.5, betas=(0.5, 0.6)), lr=0.01, eps=1e-6)
    first, second = opt.param_groups
    assert first["params"] == ps[:2] and second["params"] == ps[2:]
    assert (first["lr"], first["betas"], first["eps"], first["weight_decay"]) == (0.5, (0.5, 0.6), 1e-6, 0.0)
    assert (second["lr"], second["betas"], second["eps"]) == (0.01, (0.9, 0.999), 1e-6)
    assert opt.defaults == dict(lr=0.01, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0)


def test_per_group_weight_decay_and_betas_in_adam_by_hand(backend: str) -> None:
    ps = make_params()
    opt = optim.Adam(two_groups(ps, weight_decay=0.5, betas=(0.5, 0.7)), lr=0.05)
    run(opt, ps, 2)
    for k, p in enumerate(ps):
        wd, (beta1, beta2) = (0.5, (0.5, 0.7)) if k < 2 else (0.0, (0.9, 0.999))
        theta, m, v = np.array(THETAS[k]), 0.0, 0.0
        for t in (1, 2):
            g = A_COEF[k] * theta + wd * theta  # L2 decay, with the group's lambda
            m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
            theta = theta - 0.05 * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + 1e-8)
        np.testing.assert_allclose(p.numpy(), theta, rtol=1e-13, err_msg=f"parameter {k}")


def test_adamw_decays_each_group_with_its_own_lr_and_lambda(backend: str) -> None:
    ps = make_params()
    opt = optim.AdamW([{"params": ps[:1], "lr": 0.2, "weight_decay": 0.5}, {"params": ps[1:]}], lr=0.05)
    run(opt, ps, 1)
    for k, p in enumerate(ps):
        lr, wd = (0.2, 0.5) if k == 0 else (0.05, 0.01)
        theta = np.array(THETAS[k])
        g = A_COEF[k] * theta
        np.testing.assert_allclose(p.numpy(), theta * (1 - lr * wd) - lr * g / (np.abs(g) + 1e-8), rtol=1e-14)


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
def test_setting_a_groups_lr_by_hand_changes_the_next_step(backend: str, fused: bool) -> None:
    # how a PyTorch user writes a schedule without a scheduler
    ps = make_params()
    opt = optim.SGD(two_groups(ps), lr=0.1, momentum=0.9, fused=fused)
    run(opt, ps, 1)
    after_one = [p.numpy() for p in ps]
    for group in opt.param_groups:
        group["lr"] = 0.1 * 0.5
    opt.param_groups[1]["momentum"] = 0.0
    run(opt, ps, 1)
    for k, p in enumerate(ps):
        g1, g2 = A_COEF[k] * np.array(THETAS[k]), A_COEF[k] * after_one[k]
        direction = 0.9 * g1 + g2 if k < 2 else g2  # the second group dropped its momentum
        np.testing.assert_allclose(p.numpy(), after_one[k] - 0.05 * direction, rtol=1e-14)


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop],
                         ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_one_group_is_the_same_as_a_plain_parameter_list(backend: str, make: Callable[..., Any]) -> None:
    ps, qs = make_params(), make_params()
    run(make(ps, lr=0.01, weight_decay=0.1), ps, 3)
    run(make([{"params": qs}], lr=0.01, weight_decay=0.1), qs, 3)
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


# ------------------------------------------------------------------------------------ opt.lr
def test_opt_lr_reads_and_sets_every_groups_learning_rate(backend: str) -> None:
    ps = make_params()
    opt = optim.SGD(two_groups(ps), lr=0.1)
    assert opt.lr == 0.1
    opt.lr = 0.02
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.02]
    assert opt.defaults["lr"] == 0.1  # the constructor's value, as in PyTorch
    run(opt, ps, 1)
    np.testing.assert_allclose(ps[2].numpy(), np.array(THETAS[2]) * (1 - 0.02 * A_COEF[2]), rtol=1e-15)


def test_opt_lr_refuses_to_read_groups_with_different_rates_and_bad_values(backend: str) -> None:
    opt = optim.SGD(two_groups(make_params(), lr=0.5), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD.lr: the param groups have different learning rates \[0.5, 0.1\]"):
        opt.lr
    with pytest.raises(ValueError, match=r"SGD.lr: lr must be a non-negative number, got -1"):
        opt.lr = -1
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]


# --------------------------------------------------------------------------- add_param_group
def test_add_param_group_takes_the_defaults_and_steps_the_new_parameters(backend: str) -> None:
    ps = make_params()
    opt = optim.SGD(ps[:2], lr=0.1, momentum=0.9)
    opt.lr = 0.05  # changes the existing group, not the defaults a new group gets
    opt.add_param_group({"params": ps[2], "momentum": 0.0})  # a single tensor is accepted, as in PyTorch
    assert opt.param_groups[1]["params"] == [ps[2]]
    assert (opt.param_groups[1]["lr"], opt.param_groups[1]["momentum"]) == (0.1, 0.0)
    assert len(opt.state) == 3
    run(opt, ps, 1)
    theta = np.array(THETAS[2])
    np.testing.assert_allclose(ps[2].numpy(), theta - 0.1 * A_COEF[2] * theta, rtol=1e-15)
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2]]
    assert set(state["state"]) == {0, 1}  # the new group has no momentum buffer


def test_add_param_group_copies_the_dict(backend: str) -> None:
    ps = make_params()
    opt = optim.SGD(ps[:1], lr=0.1)
    group = {"params": ps[1:], "lr": 0.2}
    opt.add_param_group(group)
    group["lr"] = 9.0
    assert opt.param_groups[1]["lr"] == 0.2 and group["params"] == ps[1:]


# ---------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("params, error, message", [
    (lambda ps: ps[0], TypeError, r"SGD: params must be an iterable of tensors or of dicts, got a single Tensor"),
    (lambda ps: {"params": ps}, TypeError, r"SGD: params must be an iterable .* got a single dict"),
    (lambda ps: set(ps), TypeError, r"SGD: params must be an ordered collection \(a list\), not a set"),
    (lambda ps: 3, TypeError, r"SGD: params must be an iterable of tensors or of dicts, got int"),
    (lambda ps: [], ValueError, r"SGD: got an empty parameter list"),
    (lambda ps: [ps[0], {"params": ps[1:]}], TypeError, r"SGD: params mixes dicts and tensors"),
    (lambda ps: [{"lr": 0.1}], TypeError, r"SGD: a param group must be a dict with a 'params' entry, got dict "
                                          r"with keys \['lr'\]"),
    (lambda ps: [ps[0], ps[1], ps[0]], ValueError, r"SGD: parameter 2 \(shape \(2,\)\) appears more than once"),
    (lambda ps: [{"params": ps[:2]}, {"params": ps[1:]}], ValueError, r"SGD: parameter 2 .* appears more than once"),
    (lambda ps: [{"params": ps[:1]}, {"params": [tinygen.zeros(2)]}], TypeError,
     r"SGD: parameter 1 is not a tensor that requires grad \(got a Tensor with requires_grad=False\)"),
    (lambda ps: [{"params": ps[:1]}, {"params": ps[1:], "lr": -0.5}], ValueError,
     r"SGD: lr must be a non-negative number, got -0.5 \(param group 1\)"),
    (lambda ps: [{"params": ps[:1]}, {"params": ps[1:], "nesterov": True}], ValueError,
     r"SGD: nesterov momentum needs momentum > 0 and dampening = 0, got momentum=0.0, dampening=0.0 "
     r"\(param group 1\)"),
])
def test_bad_params_get_one_clear_error(params: Callable[[list[Tensor]], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        optim.SGD(params(make_params()), lr=0.1)


def test_bad_betas_in_a_group_name_the_group() -> None:
    ps = make_params()
    with pytest.raises(ValueError, match=r"AdamW: betas must lie in \[0, 1\), got \(0.9, 1.0\) \(param group 1\)"):
        optim.AdamW([{"params": ps[:1]}, {"params": ps[1:], "betas": (0.9, 1.0)}])


def test_add_param_group_refuses_a_parameter_already_there() -> None:
    ps = make_params()
    opt = optim.Adam(ps)
    with pytest.raises(ValueError, match=r"Adam: parameter 3 \(shape \(2,\)\) appears more than once"):
        opt.add_param_group({"params": [ps[0]]})
    assert len(opt.param_groups) == 1 and len(opt.state) == 3  # nothing was added


# ------------------------------------------------------------------------------- state dict
def test_state_dict_numbers_parameters_through_the_groups_as_pytorch_does(backend: str) -> None:
    ps = make_params()
    opt = optim.SGD(two_groups(ps, lr=0.5), lr=0.1, momentum=0.9)
    run(opt, ps, 1)
    state = opt.state_dict()
    assert state["param_groups"] == [
        dict(lr=0.5, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, params=[0, 1]),
        dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, params=[2]),
    ]
    assert sorted(state["state"]) == [0, 1, 2]
    np.testing.assert_array_equal(state["state"][2]["momentum_buffer"], A_COEF[2] * np.array(THETAS[2]))
    # opt.state is a list in the same order (PyTorch keys it by the parameter instead)
    assert opt.state[2]["momentum_buffer"] is not state["state"][2]["momentum_buffer"]


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop],
                         ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_param_groups_in_the_state_dict_hold_what_pytorchs_do(make: Callable[..., Any]) -> None:
    torch = pytest.importorskip("torch")
    ps = make_params()
    ours = make([{"params": ps[:2], "lr": 0.5}, {"params": ps[2:]}], lr=0.1).state_dict()["param_groups"]
    ts = [torch.zeros(len(t), requires_grad=True) for t in THETAS]
    theirs = getattr(torch.optim, make.__name__)([{"params": ts[:2], "lr": 0.5}, {"params": ts[2:]}],
                                                 lr=0.1).state_dict()["param_groups"]
    for mine, torchs in zip(ours, theirs):  # PyTorch has more options (foreach, maximize...), no fewer
        assert {k: torchs[k] for k in mine} == mine


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
def test_training_with_groups_resumes_bit_for_bit(backend: str, fused: bool) -> None:
    ps = make_params()
    opt = optim.Adam(two_groups(ps, lr=0.2, weight_decay=0.1), lr=0.05, fused=fused)
    run(opt, ps, 2)
    saved, saved_thetas = opt.state_dict(), [p.numpy() for p in ps]
    opt.param_groups[1]["lr"] = 0.01
    saved_lr_change = opt.state_dict()
    run(opt, ps, 3)

    qs = [leaf(theta) for theta in saved_thetas]
    resumed = optim.Adam(two_groups(qs), lr=0.7, fused=fused)  # options come from the state
    resumed.load_state_dict(saved_lr_change)
    assert [g["lr"] for g in resumed.param_groups] == [0.2, 0.01] and resumed.param_groups[0]["weight_decay"] == 0.1
    assert resumed.param_groups[0]["params"] == qs[:2]
    run(resumed, qs, 3)
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(q.numpy(), p.numpy())
    assert saved["param_groups"][1]["lr"] == 0.05  # taken before the change: a snapshot


def test_load_state_dict_maps_the_saved_numbering_onto_the_groups(backend: str) -> None:
    ps = make_params()
    opt = optim.SGD(two_groups(ps), lr=0.1, momentum=0.9)
    run(opt, ps, 1)
    state = opt.state_dict()
    # the same state, numbered differently (PyTorch only requires the groups to match in size)
    state["param_groups"][0]["params"], state["param_groups"][1]["params"] = [10, 11], [12]
    state["state"] = {10 + i: s for i, s in state["state"].items()}
    other = optim.SGD(two_groups(make_params()), lr=0.1, momentum=0.9)
    other.load_state_dict(state)
    for i in range(3):
        np.testing.assert_array_equal(B.to_host(other.state[i]["momentum_buffer"]),
                                      B.to_host(opt.state[i]["momentum_buffer"]))


def test_a_state_dict_without_params_lists_loads_as_one_group(backend: str) -> None:
    ps = make_params()
    opt = optim.Adam(ps, lr=0.05)
    run(opt, ps, 1)
    state = opt.state_dict()
    del state["param_groups"][0]["params"]
    other = optim.Adam(make_params(), lr=0.5)
    other.load_state_dict(state)
    assert other.lr == 0.05 and other.state[2]["step"] == 1


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["param_groups"].pop(), r"Adam.load_state_dict: the state has 1 param groups, the optimiser 2"),
    (lambda s: s["param_groups"][1]["params"].append(3),
     r"Adam.load_state_dict: param group 1 has 2 parameters in the state, 1 in the optimiser"),
    (lambda s: s["state"].update({7: {"step": 1}}),
     r"Adam.load_state_dict: state for parameter 7, but the param groups number 3 parameters"),
    (lambda s: s["param_groups"][1].update(lr=-1.0),
     r"Adam: lr must be a non-negative number, got -1.0 \(param group 1 of the state\)"),
    (lambda s: s["state"][0].update(exp_avg=np.zeros(5)),
     r"Adam.load_state_dict: state 'exp_avg' of parameter 0 has shape \(5,\), the parameter \(2,\)"),
])
def test_a_mismatched_state_dict_is_refused_and_changes_nothing(backend: str, edit: Callable[[dict], Any],
                                                               message: str) -> None:
    ps = make_params()
    source = optim.Adam(two_groups(ps, lr=0.3), lr=0.2)
    run(source, ps, 1)
    state = source.state_dict()
    edit(state)
    target = optim.Adam(two_groups(make_params()), lr=0.1)
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(state)
    assert [g["lr"] for g in target.param_groups] == [0.1, 0.1] and all(not s for s in target.state)


def test_zero_grad_clears_every_group(backend: str) -> None:
    ps = make_params()
    opt = optim.SGD(two_groups(ps), lr=0.1)
    compute_grads(ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


# ---------------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("name, first, defaults", [
    ("SGD", dict(lr=0.2, momentum=0.5), dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("Adam", dict(lr=0.2, betas=(0.5, 0.9)), dict(lr=0.05, weight_decay=0.01)),
    ("AdamW", dict(lr=0.2, weight_decay=0.3), dict(lr=0.05)),
    ("RMSprop", dict(alpha=0.9, momentum=0.5), dict(lr=0.01, weight_decay=0.01)),
], ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_groups_follow_the_same_trajectory_as_torch_optim(name: str, first: dict[str, Any],
                                                          defaults: dict[str, Any], fused: bool) -> None:
    torch = pytest.importorskip("torch")
    ps = make_params()
    ours = getattr(optim, name)(two_groups(ps, **first), fused=fused, **defaults)
    ts = [torch.tensor(theta, dtype=torch.float64, requires_grad=True) for theta in THETAS]
    theirs = getattr(torch.optim, name)([{"params": ts[:2], **first}, {"params": ts[2:]}], **defaults)
    for step in range(6):
        if step == 3:  # a hand-made schedule, the PyTorch way
            for group in ours.param_groups + theirs.param_groups:
                group["lr"] *= 0.5
        run(ours, ps, 1)
        theirs.zero_grad()
        sum(0.5 * a * (t * t).sum() for a, t in zip(A_COEF, ts)).backward()
        theirs.step()
        for p, t in zip(ps, ts):
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)
