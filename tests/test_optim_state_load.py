"""Optimiser defaults and the details of state_dict / load_state_dict that a mutation run of
optim.py found untested: every test here was written against a plausible wrong version of a line
(a default learning rate, an old checkpoint format, a 0-d step, a shallow copy)."""
from __future__ import annotations

import numpy as np
import pytest

import tinygen
from tinygen import optim

DEFAULTS = {  # PyTorch's defaults (torch 2.x), the ones tinygen's constructors must have
    optim.SGD: dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False),
    optim.Adam: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    optim.AdamW: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
    optim.RMSprop: dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0),
}


def _params(*sizes: int) -> list[tinygen.Tensor]:
    return [tinygen.tensor(np.arange(1.0, n + 1.0), requires_grad=True) for n in sizes]


@pytest.mark.parametrize("cls", list(DEFAULTS), ids=lambda c: c.__name__)
def test_default_hyperparameters_are_pytorchs(cls) -> None:
    group = cls(_params(2)).param_groups[0]
    for key, value in DEFAULTS[cls].items():
        assert group[key] == value, f"{cls.__name__} default {key}"


@pytest.mark.parametrize("cls", list(DEFAULTS), ids=lambda c: c.__name__)
def test_default_hyperparameters_match_torch(cls) -> None:
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.optim, cls.__name__)([torch.zeros(1, requires_grad=True)]).defaults
    for key, value in DEFAULTS[cls].items():
        assert theirs[key] == value


def test_adam_accepts_a_zero_beta_and_refuses_one() -> None:
    optim.Adam(_params(2), betas=(0.0, 0.999))  # beta1 = 0: RMSprop-like, valid in PyTorch
    with pytest.raises(ValueError):
        optim.Adam(_params(2), betas=(1.0, 0.999))


def test_load_state_dict_refuses_a_non_dict_naming_what_it_got() -> None:
    with pytest.raises(TypeError, match="Adam.load_state_dict: expected a dict, got list"):
        optim.Adam(_params(2)).load_state_dict([1, 2])


def test_a_state_dict_without_param_groups_or_without_state_loads() -> None:
    opt = optim.SGD(_params(2), lr=0.1, momentum=0.9)
    opt.load_state_dict({})  # nothing saved: nothing changes
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state == [{}]
    buffer = np.array([0.5, -0.5])
    opt.load_state_dict({"state": {0: {"momentum_buffer": buffer}}})  # the old one-group format
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], buffer)
    opt.load_state_dict({"param_groups": [{"lr": 0.2}]})
    assert opt.param_groups[0]["lr"] == 0.2 and opt.state == [{}]


def test_groups_saved_without_params_lists_number_their_parameters_consecutively() -> None:
    # three groups of 2, 1 and 1 parameters: the third group's parameter is number 3
    def make():
        a, b, c, d = _params(1, 1, 1, 1)
        return optim.SGD([{"params": [a, b]}, {"params": [c]}, {"params": [d]}], lr=0.1, momentum=0.9)
    saved = {"state": {i: {"momentum_buffer": np.array([float(i)])} for i in range(4)},
             "param_groups": [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]}
    opt = make()
    opt.load_state_dict(saved)
    assert [float(s["momentum_buffer"][0]) for s in opt.state] == [0.0, 1.0, 2.0, 3.0]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2, 0.3]


def test_a_step_saved_as_a_0d_array_comes_back_as_a_python_int() -> None:
    # checkpoints store numbers as 0-d arrays; the restored state must hold plain numbers
    p, = _params(2)
    opt = optim.Adam([p])
    state = {"step": np.array(3), "exp_avg": np.zeros(2), "exp_avg_sq": np.ones(2), "scale": np.float64(0.5)}
    opt.load_state_dict({"state": {0: state}})
    restored = opt.state[0]
    assert type(restored["step"]) is int and restored["step"] == 3
    assert type(restored["scale"]) is float  # any other 0-d value: a Python number
    np.testing.assert_array_equal(restored["exp_avg_sq"], [1.0, 1.0])


def test_a_step_saved_as_a_float_as_pytorch_saves_it_comes_back_as_an_int() -> None:
    # PyTorch keeps Adam's step as a float tensor; converted to NumPy it arrives as a 0-d float array
    p, = _params(2)
    opt = optim.Adam([p])
    state = {"step": np.array(3.0, dtype=np.float32), "exp_avg": np.zeros(2), "exp_avg_sq": np.ones(2),
             "plain": 0.5}
    opt.load_state_dict({"state": {0: state}})
    restored = opt.state[0]
    assert type(restored["step"]) is int and restored["step"] == 3
    assert restored["plain"] == 0.5  # a plain number (no .item()) is kept as it is
