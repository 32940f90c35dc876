"""WGAN-GP: the gradient penalty is lambda (||grad_x D(x_hat)||_2 - 1)^2 with one interpolation
weight per sample and the norm per sample; it is zero for a critic of slope exactly 1, matches a
finite-difference value, and its gradient with respect to the critic's weights goes through the
second-order path. Every loss is gradient-checked through both networks; the loop runs n_critic
critic steps per generator step, and the generator step leaves the critic alone."""
from __future__ import annotations

import numpy as np
import pytest

import tinygen
from tinygen import Tensor, nn
from tinygen.data import get_dataset
from tinygen.models import get_model
from tinygen.models import wgan_gp
from tinygen.models.wgan import conv_critic, conv_generator, generator_loss, mlp_critic, mlp_generator
from tinygen.models.wgan_gp import (build, critic_objective, generator_step, gradient_norms, gradient_penalty,
                                    interpolates, train_step)
from tinygen.train import train

SMALL = {"hidden": [16, 16], "channels": 4}


def _hparams(**changes):
    spec = get_model("wgan-gp")
    return {**spec.default_hparams, **SMALL, **changes}


@pytest.fixture(scope="module")
def ring():
    return get_dataset("ring")


def _batches(dataset, m=32, seed=0):
    rng = np.random.default_rng(seed)
    return lambda: (dataset.x[rng.integers(0, len(dataset), m)],)


def _parameters(module: nn.Module) -> list[np.ndarray]:
    return [p.numpy().copy() for p in module.parameters()]


def _slots(modules: list[nn.Module]) -> list[tuple[nn.Module, str]]:
    """(owner, attribute) of every parameter of ``modules``, in the order of their named_parameters."""
    slots = []
    for module in modules:
        for name, _ in module.named_parameters():
            *path, leaf = name.split(".")
            owner = module
            for part in path:
                owner = getattr(owner, part)
            slots.append((owner, leaf))
    return slots


def _put(slots: list[tuple[nn.Module, str]], values: list[Tensor]) -> None:
    for (owner, leaf), value in zip(slots, values, strict=True):
        setattr(owner, leaf, value)


def gradcheck_parameters(modules: list[nn.Module], loss) -> bool:
    """gradcheck ``loss()`` (float64) with respect to every parameter of ``modules``."""
    for module in modules:
        module.double()
    slots = _slots(modules)
    originals = [p for module in modules for p in module.parameters()]

    def f(*params: Tensor) -> Tensor:
        _put(slots, params)
        return loss()

    try:
        return tinygen.gradcheck(f, originals)
    finally:
        _put(slots, originals)


def _networks(kind: str):
    """A small generator and critic of the model's own architectures, data and latents (float64)."""
    tinygen.manual_seed(0)
    if kind == "2d":
        G, D, z_dim = mlp_generator(2, [5, 4], 2), mlp_critic(2, [5, 4]), 2
    else:
        G, D, z_dim = conv_generator(3, (1, 8, 8), 1), conv_critic((1, 8, 8), 1), 3
    rng = np.random.default_rng(1)
    m = 4
    x = Tensor(rng.uniform(0.0, 1.0, (m, 2) if kind == "2d" else (m, 1, 8, 8)))
    z = Tensor(rng.standard_normal((m, z_dim)))
    return G.double(), D.double(), x, z


# ------------------------------------------------------------------ gradients of the losses
@pytest.mark.parametrize("kind", ["2d", "image"])
def test_critic_loss_with_penalty_gradients_through_both_networks_match_finite_differences(kind):
    G, D, x, z = _networks(kind)

    def loss():
        tinygen.manual_seed(3)  # the same interpolation weights at every evaluation
        return critic_objective(D, x, G(z), 10.0)[0]

    assert gradcheck_parameters([G, D], loss)


@pytest.mark.parametrize("kind", ["2d", "image"])
def test_generator_loss_gradients_through_both_networks_match_finite_differences(kind):
    G, D, x, z = _networks(kind)
    assert gradcheck_parameters([G, D], lambda: generator_loss(D(G(z))))


# ------------------------------------------------------------------------------ the penalty
def _linear_critic(weight: np.ndarray) -> nn.Module:
    """D(x) = <w, flatten(x)> + b: its gradient is w everywhere."""
    linear = nn.Linear(weight.size, 1).double()
    linear.weight.data[...] = weight.reshape(1, -1)
    linear.bias.data[...] = 0.3
    return nn.Sequential(nn.Flatten(), linear)


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_the_penalty_is_zero_for_a_critic_of_slope_one_and_lambda_for_slope_two(shape):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape)
    x_hat = Tensor(rng.standard_normal((16, *shape)))
    unit = _linear_critic(w / np.linalg.norm(w))
    assert gradient_penalty(unit, x_hat, 10.0).item() == pytest.approx(0.0, abs=1e-20)
    # slope 2: (2 - 1)^2 at every interpolate, times lambda
    assert gradient_penalty(_linear_critic(2 * w / np.linalg.norm(w)), x_hat, 10.0).item() == pytest.approx(10.0)


def test_the_norm_is_per_sample_and_the_penalty_their_mean():
    # D(x) = |x|^2 / 2 has grad_x D = x: the gradient norms are the samples' norms, 1 and 3
    def critic(x):
        return 0.5 * (x * x).sum(1, keepdim=True)

    x_hat = Tensor(np.array([[0.6, 0.8], [0.0, 3.0]]))
    np.testing.assert_allclose(gradient_norms(critic, x_hat.detach().requires_grad_(True)).numpy(), [1.0, 3.0])
    # lambda mean((1 - 1)^2, (3 - 1)^2) = 10 * 2; the norm of the whole batch's gradient would give
    # 10 (sqrt(10) - 1)^2 = 46.8, a sum over the batch 40
    assert gradient_penalty(critic, x_hat, 10.0).item() == pytest.approx(20.0)


def _finite_difference_penalty(D: nn.Module, x_hat: np.ndarray, lambda_gp: float, h: float = 1e-6) -> float:
    """lambda mean_i (||grad_x D(x_hat_i)||_2 - 1)^2 with grad_x D by central differences."""
    def score(x: np.ndarray) -> np.ndarray:
        with tinygen.no_grad():
            return D(Tensor(x)).numpy().reshape(-1)

    m = len(x_hat)
    flat = x_hat.reshape(m, -1)
    gradients = np.zeros_like(flat)
    for j in range(flat.shape[1]):  # one coordinate at a time, in every sample at once
        step = np.zeros_like(flat)
        step[:, j] = h
        plus, minus = (flat + step).reshape(x_hat.shape), (flat - step).reshape(x_hat.shape)
        gradients[:, j] = (score(plus) - score(minus)) / (2 * h)
    norms = np.sqrt((gradients ** 2).sum(1))
    return lambda_gp * float(((norms - 1) ** 2).mean())


@pytest.mark.parametrize("kind", ["2d", "image"])
def test_the_penalty_matches_its_finite_difference_value(kind):
    _, D, _, _ = _networks(kind)
    for p in D.parameters():  # a critic whose slope varies a lot from sample to sample
        p.data *= 3.0
    shape = (8, 2) if kind == "2d" else (8, 1, 8, 8)
    x_hat = np.random.default_rng(4).standard_normal(shape)
    norms = gradient_norms(D, Tensor(x_hat, requires_grad=True)).numpy()
    assert norms.std() > 0.1 * norms.mean()  # a per-batch norm would be far off
    expected = _finite_difference_penalty(D, x_hat, 10.0)
    assert gradient_penalty(D, Tensor(x_hat), 10.0).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kind", ["2d", "image"])
def test_the_penalty_gradient_wrt_the_critic_goes_through_second_order(kind):
    _, D, _, _ = _networks(kind)
    shape = (4, 2) if kind == "2d" else (4, 1, 8, 8)
    x_hat = np.random.default_rng(5).standard_normal(shape)
    # a fresh leaf at each evaluation: grad_x D is recomputed for the perturbed weights
    assert gradcheck_parameters([D], lambda: gradient_penalty(D, Tensor(x_hat), 10.0))
    penalty = gradient_penalty(D, Tensor(x_hat), 10.0)
    assert penalty.requires_grad
    grads = tinygen.grad(penalty, list(D.parameters()), allow_unused=True)
    assert any(g is not None and np.abs(g.numpy()).max() > 1e-3 for g in grads)


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_interpolates_lie_on_the_segment_with_one_weight_per_sample(shape):
    rng = np.random.default_rng(6)
    m = 200
    x_real, x_fake = Tensor(rng.standard_normal((m, *shape))), Tensor(rng.standard_normal((m, *shape)))
    tinygen.manual_seed(0)
    x_hat = interpolates(x_real, x_fake).numpy().reshape(m, -1)
    real, fake = x_real.numpy().reshape(m, -1), x_fake.numpy().reshape(m, -1)
    # x_hat = eps x + (1 - eps) x_tilde  =>  eps = (x_hat - x_tilde) / (x - x_tilde), coordinate by coordinate
    eps = (x_hat - fake) / (real - fake)
    # the same eps for every coordinate of a sample
    np.testing.assert_allclose(eps, np.broadcast_to(eps[:, :1], eps.shape), atol=1e-4)
    assert eps.min() >= 0.0 and eps.max() <= 1.0
    assert eps[:, 0].std() > 0.2  # a fresh eps for each sample, uniform on [0, 1] (std 0.29)


def test_the_critic_step_penalises_the_interpolates_it_draws():
    G, D, x, z = _networks("2d")
    x_fake = G(z)
    tinygen.manual_seed(7)
    loss, wasserstein_term, penalty = critic_objective(D, x, x_fake, 10.0)
    tinygen.manual_seed(7)
    x_hat = interpolates(x, x_fake)
    assert penalty.item() == pytest.approx(gradient_penalty(D, x_hat, 10.0).item(), rel=1e-12)
    assert wasserstein_term.item() == pytest.approx(D(x_fake).mean().item() - D(x).mean().item(), rel=1e-12)
    assert loss.item() == pytest.approx(wasserstein_term.item() + penalty.item(), rel=1e-12)


# ---------------------------------------------------------------------------- the algorithm
def test_n_critic_critic_updates_per_generator_update_each_on_its_own_minibatch(ring):
    model = build(_hparams(n_critic=4), ring)
    events = []
    draw = _batches(ring)

    def next_batch():
        events.append("batch")
        return draw()

    for name, optimiser in (("D", model.opt_D), ("G", model.opt_G)):
        original = optimiser.step
        optimiser.step = lambda original=original, name=name: (events.append(name), original())
    losses = train_step(model, next_batch, 0)
    assert events == ["batch", "D"] * 4 + ["G"]
    assert set(losses) == {"loss_D", "loss_G", "wasserstein", "gradient_penalty"}
    assert get_model("wgan-gp").cost("batches_per_step", _hparams(n_critic=4)) == 4


def test_the_generator_step_leaves_the_critic_unchanged(ring):
    model = build(_hparams(), ring)
    train_step(model, _batches(ring), 0)
    critic_before, state_before = _parameters(model.D), model.opt_D.state_dict()["state"]
    generator_before = _parameters(model.G)
    generator_step(model, 32)
    for a, b in zip(critic_before, _parameters(model.D)):
        np.testing.assert_array_equal(a, b)
    state_after = model.opt_D.state_dict()["state"]
    for i, s in state_before.items():
        np.testing.assert_array_equal(s["exp_avg"], state_after[i]["exp_avg"])
    assert any(not np.array_equal(a, b) for a, b in zip(generator_before, _parameters(model.G)))


def test_the_papers_hyperparameters_and_no_batch_norm_in_the_critic(ring):
    h = get_model("wgan-gp").default_hparams
    assert (h["lr"], h["beta1"], h["beta2"], h["lambda_gp"], h["n_critic"]) == (1e-4, 0.5, 0.9, 10.0, 5)
    for dataset in (ring, get_dataset("digits")):
        model = build(_hparams(), dataset)
        assert isinstance(model.opt_D, tinygen.optim.Adam) and model.opt_D.defaults["betas"] == (0.5, 0.9)
        assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.D.modules())
        # so a sample's score does not depend on the rest of its batch
        x = Tensor(dataset.x[:6])
        with tinygen.no_grad():
            np.testing.assert_allclose(model.D(x[:2]).numpy(), model.D(x).numpy()[:2], rtol=1e-5)
    assert wgan_gp.sample(build(_hparams(), get_dataset("digits")), 3).shape == (3, 1, 8, 8)


def test_linear_decay_lowers_both_learning_rates_to_zero_over_the_run(ring):
    model = build(_hparams(lr_decay="linear", steps=10), ring)
    draw = _batches(ring)
    for step in (0, 5, 9):
        train_step(model, draw, step)
        assert model.opt_D.lr == model.opt_G.lr == pytest.approx(1e-4 * (1 - step / 10))
    constant = build(_hparams(), ring)
    train_step(constant, draw, 7)
    assert constant.opt_D.lr == constant.opt_G.lr == 1e-4
    with pytest.raises(ValueError, match="lr_decay"):
        build(_hparams(lr_decay="cosine"), ring)


@pytest.mark.slow
def test_with_the_toy_lambda_wgan_gp_covers_every_mode_of_the_ring(tmp_path):
    run = train("wgan-gp", "ring", out=tmp_path, steps=5000, hparams={"lambda_gp": 0.1, "lr_decay": "linear"},
                progress=False, sample_every=0)
    m = run.metrics
    assert m["modes_covered"] == 8 and m["kl_to_uniform"] < 0.05 and m["high_quality_pct"] > 20, m
