"""The fast path (optim_fused.py, ``fused=True``) against the equations as written (``fused=False``).

Both must give the same parameters and the same optimiser state to the bit, for every optimiser
and every option it supports, in float32 and float64. The gradients are large and small, of both
signs, and change with theta from step to step, so a reordered product or sum (floating-point
arithmetic is not associative) shows up in the last bit of some coordinate.
"""
from __future__ import annotations

import itertools
import tracemalloc
from typing import Any, Callable

import numpy as np
import pytest

import tinygen
from tinygen import Tensor, optim


def _sgd_options() -> list[dict[str, Any]]:
    options = []
    for momentum, dampening, nesterov, weight_decay in itertools.product(
            (0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.01)):
        if (dampening or nesterov) and not momentum:
            continue  # dampening and nesterov act on the momentum buffer only
        if nesterov and dampening:
            continue  # refused by SGD
        options.append(dict(lr=0.05, momentum=momentum, dampening=dampening, nesterov=nesterov,
                            weight_decay=weight_decay))
    return options


CONFIGS: list[tuple[str, dict[str, Any]]] = (
    [("SGD", kw) for kw in _sgd_options()]
    + [("Adam", dict(lr=0.01, weight_decay=weight_decay, betas=betas, eps=eps))
       for weight_decay in (0.0, 0.01) for betas, eps in (((0.9, 0.999), 1e-8), ((0.7, 0.9), 1e-3))]
    + [("AdamW", dict(lr=0.01, weight_decay=weight_decay, betas=betas, eps=eps))
       for weight_decay in (0.0, 0.1) for betas, eps in (((0.9, 0.999), 1e-8), ((0.7, 0.9), 1e-3))]
    + [("RMSprop", dict(lr=0.01, alpha=alpha, momentum=momentum, weight_decay=weight_decay))
       for alpha in (0.99, 0.9) for momentum in (0.0, 0.5) for weight_decay in (0.0, 0.01)]
)
IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items() if k != "lr") for name, kw in CONFIGS]
DTYPES = [np.float32, np.float64]
SHAPES = [(7, 5), (13,), (1,), (2, 3, 4)]
STEPS = 6


def make_params(dtype: Any, seed: int = 0) -> list[Tensor]:
    rng = np.random.default_rng(seed)
    return [tinygen.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True) for shape in SHAPES]


def set_gradients(params: list[Tensor], step: int) -> None:
    """A gradient that depends on theta, with magnitudes from about 1e-4 to 1e2; the last parameter
    gets a gradient only on even steps (a parameter without a gradient is skipped)."""
    for i, p in enumerate(params):
        if i == len(params) - 1 and step % 2:
            p.grad = None
            continue
        theta = p.numpy()
        scale = np.logspace(-4, 2, theta.size).reshape(theta.shape)
        g = scale * np.sin(3.0 * theta + step + i) + 0.1 * theta
        p.grad = tinygen.tensor(g.astype(theta.dtype))


def train(name: str, kwargs: dict[str, Any], fused: bool, dtype: Any, steps: int = STEPS
          ) -> tuple[list[Tensor], optim.Optimizer]:
    params = make_params(dtype)
    opt = getattr(optim, name)(params, fused=fused, **kwargs)
    for t in range(steps):
        set_gradients(params, t)
        opt.step()
    return params, opt


def assert_same_state_bit_for_bit(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys(), f"parameter {i}"
        for key, value in a["state"][i].items():
            other = b["state"][i][key]
            if hasattr(value, "shape"):
                assert value.dtype == other.dtype, f"parameter {i}, {key}"
            np.testing.assert_array_equal(value, other, err_msg=f"parameter {i}, {key}", strict=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_fused_and_plain_steps_give_the_same_parameters_and_state_to_the_bit(
        backend: str, name: str, kwargs: dict[str, Any], dtype: Any) -> None:
    plain_params, plain = train(name, kwargs, fused=False, dtype=dtype)
    fused_params, fused = train(name, kwargs, fused=True, dtype=dtype)
    for i, (p, q) in enumerate(zip(plain_params, fused_params)):
        assert p.dtype == q.dtype == dtype
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=f"parameter {i}", strict=True)
    assert_same_state_bit_for_bit(plain.state_dict(), fused.state_dict())
    # and the parameters did move: a step that did nothing would also agree
    assert not np.array_equal(plain_params[0].numpy(), make_params(dtype)[0].numpy())


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_a_step_leaves_the_gradient_unchanged(backend: str, name: str, kwargs: dict[str, Any], fused: bool) -> None:
    # the same .grad is used for three steps: neither weight decay nor a momentum buffer that
    # started as a copy of g_1 may write into it
    params = make_params(np.float64)
    opt = getattr(optim, name)(params, fused=fused, **kwargs)
    set_gradients(params, 0)
    grads = [p.grad for p in params]
    before = [g.numpy() for g in grads]
    for _ in range(3):
        opt.step()
    for i, (p, g, g0) in enumerate(zip(params, grads, before)):
        assert p.grad is g
        np.testing.assert_array_equal(g.numpy(), g0, err_msg=f"parameter {i}", strict=True)


@pytest.mark.parametrize("name, kwargs", CONFIGS[::3], ids=IDS[::3])
def test_a_state_dict_saved_by_one_path_resumes_bit_for_bit_on_the_other(
        backend: str, name: str, kwargs: dict[str, Any]) -> None:
    params, fused = train(name, kwargs, fused=True, dtype=np.float32, steps=3)
    resumed_params = [tinygen.tensor(p.numpy(), requires_grad=True) for p in params]
    plain = getattr(optim, name)(resumed_params, fused=False, **kwargs)
    plain.load_state_dict(fused.state_dict())
    for t in range(3, 6):
        for ps, opt in ((params, fused), (resumed_params, plain)):
            set_gradients(ps, t)
            opt.step()
    for p, q in zip(params, resumed_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), strict=True)
    assert_same_state_bit_for_bit(fused.state_dict(), plain.state_dict())


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop],
                         ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_the_fast_path_is_the_default_and_the_switch_is_not_saved(make: Callable[..., Any]) -> None:
    p = tinygen.tensor([1.0, 2.0], requires_grad=True)
    assert make([p]).fused is True
    assert make([p], fused=None).fused is True
    assert make([p], fused=False).fused is False
    assert "fused" not in make([p], fused=False).state_dict()["param_groups"][0]
    with pytest.raises(TypeError, match="fused must be True, False or None, got 'yes'"):
        make([p], fused="yes")


def _bytes_allocated_by_step(opt: optim.Optimizer) -> int:
    tracemalloc.start()
    try:
        opt.step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("make", [optim.Adam, optim.AdamW], ids=["Adam", "AdamW"])
def test_the_fused_adam_step_allocates_no_temporaries_the_size_of_the_parameter(make: Callable[..., Any]) -> None:
    # why the fast path exists: written as expressions, one Adam step makes about six arrays the
    # size of the parameter; in place, after the first step has made the work buffer, none
    # (AdamW's decay is an in-place multiplication, so it adds none either)
    n = 200_000
    nbytes = n * 8
    peaks = {}
    for fused in (False, True):
        p = tinygen.tensor(np.linspace(-1.0, 1.0, n), requires_grad=True)
        p.grad = tinygen.tensor(np.cos(np.linspace(0.0, 5.0, n)))
        opt = make([p], fused=fused)
        opt.step()
        peaks[fused] = _bytes_allocated_by_step(opt)
    assert peaks[True] < nbytes / 4, peaks
    assert peaks[False] > 2 * nbytes, peaks
