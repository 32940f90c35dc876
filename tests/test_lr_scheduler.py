"""Learning-rate schedulers against their closed forms, by hand, and against torch.optim.lr_scheduler.

Two param groups with different base rates throughout, so a scheduler that used one base rate for
every group, or the constructor's rate instead of the group's, fails.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import tinygen
from tinygen import Tensor, nn, optim
from tinygen.models import ModelState
from tinygen.optim import lr_scheduler
from tinygen.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, StepLR

BASE_LRS = (0.1, 0.02)


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def make_optimizer(params: list[Tensor] | None = None) -> optim.SGD:
    p, q = params or (leaf([1.0, -2.0]), leaf([0.5]))
    return optim.SGD([{"params": [p]}, {"params": [q], "lr": BASE_LRS[1]}], lr=BASE_LRS[0])


def lrs_over(scheduler: LRScheduler, steps: int) -> list[list[float]]:
    """[lr_0, lr_1, ..., lr_steps], each a list over the groups, as the optimiser's groups hold them."""
    seen = [[g["lr"] for g in scheduler.optimizer.param_groups]]
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        assert scheduler.get_last_lr() == [g["lr"] for g in scheduler.optimizer.param_groups]
        seen.append(scheduler.get_last_lr())
    return seen


def closed_form(rate: Callable[[float, int], float], steps: int) -> np.ndarray:
    return np.array([[rate(base, t) for base in BASE_LRS] for t in range(steps + 1)])


# ------------------------------------------------------------------------- the schedules
def test_step_lr_multiplies_by_gamma_every_step_size_steps() -> None:
    seen = lrs_over(StepLR(make_optimizer(), step_size=3, gamma=0.5), 10)
    # lr_t = eta_0 gamma^floor(t / 3): 1, 1, 1, 0.5, 0.5, 0.5, 0.25, ... (not at t = 2 or 4)
    np.testing.assert_allclose(seen, closed_form(lambda eta0, t: eta0 * 0.5 ** (t // 3), 10), rtol=1e-15)
    assert seen[2] == list(BASE_LRS) and seen[3] == [BASE_LRS[0] / 2, BASE_LRS[1] / 2]


def test_exponential_lr_multiplies_by_gamma_every_step() -> None:
    seen = lrs_over(ExponentialLR(make_optimizer(), gamma=0.9), 8)
    np.testing.assert_allclose(seen, closed_form(lambda eta0, t: eta0 * 0.9 ** t, 8), rtol=1e-14)


def test_cosine_annealing_follows_half_a_cosine_then_climbs_back() -> None:
    T, eta_min = 4, 0.001
    seen = lrs_over(CosineAnnealingLR(make_optimizer(), T_max=T, eta_min=eta_min), 11)

    def rate(eta0: float, t: int) -> float:
        return eta_min + (eta0 - eta_min) * (1 + math.cos(math.pi * t / T)) / 2

    np.testing.assert_allclose(seen, closed_form(rate, 11), rtol=1e-13)
    np.testing.assert_allclose(seen[T], [eta_min, eta_min], rtol=1e-12)  # the bottom at T_max
    np.testing.assert_allclose(seen[2 * T], BASE_LRS, rtol=1e-12)  # and back up at 2 T_max (no restart)
    np.testing.assert_allclose(seen[2], [(b + eta_min) / 2 for b in BASE_LRS], rtol=1e-13)


def test_lambda_lr_scales_the_base_rate_and_takes_one_function_per_group() -> None:
    seen = lrs_over(LambdaLR(make_optimizer(), lr_lambda=lambda t: 1 / (t + 1)), 5)
    np.testing.assert_allclose(seen, closed_form(lambda eta0, t: eta0 / (t + 1), 5), rtol=1e-15)
    # lambda(0) = 2, not 1: construction already sets lr_0 = 2 eta_0
    per_group = LambdaLR(make_optimizer(), lr_lambda=[lambda t: 2.0 + t, lambda t: 0.5 ** t])
    seen = lrs_over(per_group, 3)
    np.testing.assert_allclose(seen, [[0.1 * (2 + t), 0.02 * 0.5 ** t] for t in range(4)], rtol=1e-15)


# --------------------------------------------------------------------------- the protocol
def test_construction_stores_initial_lr_and_performs_step_zero() -> None:
    opt = make_optimizer()
    scheduler = StepLR(opt, step_size=2)
    assert scheduler.last_epoch == 0 and scheduler.base_lrs == list(BASE_LRS)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASE_LRS)
    assert scheduler.get_last_lr() == list(BASE_LRS)
    opt.lr = 5.0
    second = ExponentialLR(opt, gamma=0.5)  # initial_lr is set once: the first scheduler's base
    assert second.base_lrs == list(BASE_LRS)


def test_the_optimizer_steps_with_the_rate_the_scheduler_set() -> None:
    # scheduler.step() after optimizer.step(): step t uses lr_t, starting from lr_0 = eta_0
    p = leaf([1.0])
    opt = optim.SGD([p], lr=0.1)
    scheduler = StepLR(opt, step_size=2, gamma=0.1)
    theta = 1.0
    for t in range(5):
        opt.zero_grad()
        (p * p).sum().backward()  # g = 2 theta
        opt.step()
        scheduler.step()
        theta -= 0.1 * 0.1 ** (t // 2) * 2 * theta
        np.testing.assert_allclose(p.numpy(), [theta], rtol=1e-14)


def test_step_lr_exponential_and_cosine_carry_a_hand_made_change_forward() -> None:
    # the chainable form: lr_t is computed from the rate the group holds, as in PyTorch
    for make, factor in ((lambda o: StepLR(o, step_size=1, gamma=0.5), 0.5),
                         (lambda o: ExponentialLR(o, gamma=0.5), 0.5)):
        scheduler = make(make_optimizer())
        scheduler.optimizer.param_groups[0]["lr"] = 1.0
        scheduler.step()
        assert scheduler.get_last_lr() == [factor, BASE_LRS[1] * factor]
    cosine = CosineAnnealingLR(make_optimizer(), T_max=4)
    cosine.optimizer.param_groups[0]["lr"] = 1.0
    cosine.step()
    # (lr_1 - 0) / (lr_0 - 0) = (1 + cos(pi / 4)) / (1 + cos 0)
    np.testing.assert_allclose(cosine.get_last_lr()[0], (1 + math.cos(math.pi / 4)) / 2, rtol=1e-15)


def test_lambda_lr_overwrites_a_hand_made_change() -> None:
    scheduler = LambdaLR(make_optimizer(), lr_lambda=lambda t: 0.5 ** t)
    scheduler.optimizer.param_groups[0]["lr"] = 1.0
    scheduler.step()
    assert scheduler.get_last_lr() == [BASE_LRS[0] * 0.5, BASE_LRS[1] * 0.5]


def test_get_last_lr_is_a_copy() -> None:
    scheduler = ExponentialLR(make_optimizer(), gamma=0.5)
    scheduler.get_last_lr()[0] = 99.0
    assert scheduler.get_last_lr() == list(BASE_LRS)


# ------------------------------------------------------------------------------------ state
@pytest.mark.parametrize("make", [
    lambda o, last_epoch=-1: StepLR(o, step_size=2, gamma=0.3, last_epoch=last_epoch),
    lambda o, last_epoch=-1: ExponentialLR(o, gamma=0.8, last_epoch=last_epoch),
    lambda o, last_epoch=-1: CosineAnnealingLR(o, T_max=3, eta_min=0.01, last_epoch=last_epoch),
    lambda o, last_epoch=-1: LambdaLR(o, lambda t: 1 / (1 + t), last_epoch=last_epoch),
], ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR"])
def test_a_saved_scheduler_and_optimizer_resume_with_the_same_rates(make: Callable[..., LRScheduler]) -> None:
    scheduler = make(make_optimizer())
    lrs_over(scheduler, 4)
    saved_opt, saved = scheduler.optimizer.state_dict(), scheduler.state_dict()
    rest = lrs_over(scheduler, 5)

    twin = make(make_optimizer())  # built fresh: step 0 again, until the state comes in
    twin.optimizer.load_state_dict(saved_opt)
    twin.load_state_dict(saved)
    assert twin.last_epoch == 4 and twin.get_last_lr() == rest[0]
    assert lrs_over(twin, 5) == rest  # bit for bit
    assert saved["last_epoch"] == 4  # the state_dict was a snapshot


def test_state_dict_holds_numbers_and_lists_and_no_function() -> None:
    scheduler = StepLR(make_optimizer(), step_size=2, gamma=0.3)
    lrs_over(scheduler, 3)
    assert scheduler.state_dict() == {"last_epoch": 3, "base_lrs": [0.1, 0.02],
                                      "_last_lr": [0.1 * 0.3, 0.02 * 0.3], "step_size": 2, "gamma": 0.3}
    lambda_state = LambdaLR(make_optimizer(), lambda t: 1.0).state_dict()
    assert lambda_state["lr_lambdas"] == [None, None]


def test_state_dict_and_load_state_dict_copy_the_lists() -> None:
    scheduler = ExponentialLR(make_optimizer(), gamma=0.5)
    state = scheduler.state_dict()
    state["base_lrs"][0] = 99.0
    assert scheduler.base_lrs == list(BASE_LRS)
    loaded = scheduler.state_dict()
    twin = ExponentialLR(make_optimizer(), gamma=0.5)
    twin.load_state_dict(loaded)
    loaded["base_lrs"][0] = 99.0
    assert twin.base_lrs == list(BASE_LRS)


def test_lambda_lr_saves_and_restores_a_callable_objects_attributes() -> None:
    class Warmup:
        def __init__(self, steps: int) -> None:
            self.steps = steps

        def __call__(self, t: int) -> float:
            return min(1.0, (t + 1) / self.steps)

    scheduler = LambdaLR(make_optimizer(), [Warmup(4), lambda t: 1.0])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"steps": 4}, None]
    twin = LambdaLR(make_optimizer(), [Warmup(10), lambda t: 1.0])
    twin.load_state_dict(state)
    assert twin.lr_lambdas[0].steps == 4


def test_a_foreign_or_mismatched_state_is_refused() -> None:
    state = CosineAnnealingLR(make_optimizer(), T_max=3).state_dict()
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: unexpected entries \['T_max', 'eta_min'\]"):
        StepLR(make_optimizer(), step_size=2).load_state_dict(state)
    one_group = ExponentialLR(optim.SGD([leaf([1.0])], lr=0.1), gamma=0.5).state_dict()
    with pytest.raises(ValueError, match=r"ExponentialLR.load_state_dict: base_lrs has 1 entries, the optimiser 2"):
        ExponentialLR(make_optimizer(), gamma=0.5).load_state_dict(one_group)


def test_resuming_by_last_epoch_needs_initial_lr_in_the_groups() -> None:
    with pytest.raises(KeyError, match=r"StepLR: param_groups\[0\] has no 'initial_lr'"):
        StepLR(make_optimizer(), step_size=2, last_epoch=3)
    opt = make_optimizer()
    StepLR(opt, step_size=2)
    opt.lr = 0.5
    resumed = ExponentialLR(opt, gamma=0.5, last_epoch=3)  # base rates from initial_lr; lr left as it is
    assert resumed.base_lrs == list(BASE_LRS) and resumed.last_epoch == 4 and resumed.get_last_lr() == [0.5, 0.5]


@pytest.mark.parametrize("build, error, message", [
    (lambda o: StepLR([1.0], step_size=2), TypeError, r"StepLR: optimizer must be an optimiser \(with "
                                                      r"param_groups\), got list"),
    (lambda o: StepLR(o, step_size=0), ValueError, r"StepLR: step_size must be a positive integer, got 0"),
    (lambda o: StepLR(o, step_size=2.5), ValueError, r"StepLR: step_size must be a positive integer, got 2.5"),
    (lambda o: StepLR(o, step_size=2, gamma="0.1"), TypeError, r"StepLR: gamma must be a number, got str"),
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, r"CosineAnnealingLR: T_max must be a positive integer"),
    (lambda o: ExponentialLR(o, gamma=0.5, last_epoch=-2), ValueError,
     r"ExponentialLR: last_epoch must be an integer >= -1, got -2"),
    (lambda o: LambdaLR(o, [lambda t: 1.0]), ValueError,
     r"LambdaLR: expected 2 lr_lambdas \(one per param group\), got 1"),
    (lambda o: LambdaLR(o, [lambda t: 1.0, 0.5]), TypeError, r"LambdaLR: lr_lambda 1 must be a function"),
])
def test_bad_arguments_get_one_clear_error(build: Callable[[optim.Optimizer], Any], error: type,
                                           message: str) -> None:
    with pytest.raises(error, match=message):
        build(make_optimizer())


def test_a_group_added_after_the_scheduler_is_refused_at_step() -> None:
    scheduler = ExponentialLR(make_optimizer(), gamma=0.5)
    scheduler.optimizer.add_param_group({"params": [leaf([3.0])]})
    with pytest.raises(ValueError, match=r"ExponentialLR.step: the optimiser has 3 param groups, the scheduler "
                                         r"was built for 2"):
        scheduler.step()


def test_pytorchs_import_path_works() -> None:
    import tinygen.optim.lr_scheduler as by_path

    assert by_path is lr_scheduler is tinygen.optim.lr_scheduler
    assert tinygen.optim.lr_scheduler.StepLR is StepLR


# ---------------------------------------------------------------------------- torch parity
TORCH_SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=lambda t: 1.5 / (t + 1) + 0.1 * t)),
]


@pytest.mark.parametrize("name, kwargs", TORCH_SCHEDULERS, ids=[n for n, _ in TORCH_SCHEDULERS])
def test_schedulers_give_the_same_rates_as_torch(name: str, kwargs: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    ours = getattr(lr_scheduler, name)(make_optimizer(), **kwargs)
    ts = [torch.zeros(2, requires_grad=True), torch.zeros(1, requires_grad=True)]
    topt = torch.optim.SGD([{"params": ts[:1]}, {"params": ts[1:], "lr": BASE_LRS[1]}], lr=BASE_LRS[0])
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for t in range(14):
        if t == 7 and name != "LambdaLR":  # a hand-made change, carried forward by both
            ours.optimizer.param_groups[0]["lr"] *= 3
            topt.param_groups[0]["lr"] *= 3
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-15, abs=0), f"step {t}"
        assert ours.last_epoch == theirs.last_epoch
        topt.step()
        ours.step()
        theirs.step()
    assert [g["initial_lr"] for g in ours.optimizer.param_groups] == [g["initial_lr"] for g in topt.param_groups]


# ------------------------------------------------------------------------ in a ModelState
def _model_state(seed: int) -> ModelState:
    tinygen.manual_seed(seed)
    G, D = nn.Linear(3, 2), nn.Linear(2, 1)
    opt_G = optim.Adam([{"params": [G.weight]}, {"params": [G.bias], "lr": 0.05}], lr=0.01)
    opt_D = optim.SGD(D.parameters(), lr=0.1, momentum=0.9)
    return ModelState(G=G, D=D, opt_G=opt_G, opt_D=opt_D,
                      sched_G=CosineAnnealingLR(opt_G, T_max=6, eta_min=1e-4),
                      sched_D=StepLR(opt_D, step_size=2, gamma=0.5), count=0)


def _train_step(model: ModelState) -> None:
    loss = (model.D(model.G(tinygen.randn(4, 3))) ** 2).mean()
    model.opt_G.zero_grad(), model.opt_D.zero_grad()
    loss.backward()
    model.opt_G.step(), model.opt_D.step()
    model.sched_G.step(), model.sched_D.step()
    model.count = model.count + 1


def test_model_state_keeps_schedulers_and_resumes_them_from_a_checkpoint(tmp_path: Any) -> None:
    model = _model_state(0)
    assert [name for name, _ in model.schedulers()] == ["sched_G", "sched_D"]
    assert list(model.state_dict()) == ["G", "D", "opt_G", "opt_D", "sched_G", "sched_D", "count"]
    for _ in range(3):
        _train_step(model)
    tinygen.save({"model": model.state_dict()}, tmp_path / "c.npz")

    twin = _model_state(1)  # other weights, schedulers at step 0: everything must come from the file
    twin.load_state_dict(tinygen.load(tmp_path / "c.npz")["model"])
    assert twin.sched_G.last_epoch == 3 and twin.sched_D.get_last_lr() == model.sched_D.get_last_lr()
    for seed in (7, 8, 9, 10):
        for m in (model, twin):
            tinygen.manual_seed(seed)
            _train_step(m)
        for opt in ("opt_G", "opt_D"):
            assert ([g["lr"] for g in getattr(twin, opt).param_groups]
                    == [g["lr"] for g in getattr(model, opt).param_groups])
        for (name, a), (_, b) in zip(model.networks(), twin.networks()):
            for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
                np.testing.assert_array_equal(x, y, err_msg=f"{name}.{key}")
    assert model.sched_D.get_last_lr() == [0.1 * 0.5 ** 3]  # t = 7: the rates did move


def test_a_scheduler_cannot_be_a_buffer() -> None:
    model = _model_state(0)
    with pytest.raises(TypeError, match="kept as a network, an optimiser or a scheduler"):
        model.register_buffer("s", model.sched_G)
