"""The WGAN: the Wasserstein losses and their gradients through both networks, weight clipping
after every critic step (the weights, not the gradients), n_critic critic steps per generator step,
each on its own minibatch, and a generator step that leaves the critic alone."""
from __future__ import annotations

import numpy as np
import pytest

import tinygen
from tinygen import Tensor, nn
from tinygen.data import get_dataset
from tinygen.models import get_model
from tinygen.models import wgan
from tinygen.models.wgan import (build, clip_weights_, conv_critic, conv_generator, critic_loss, critic_step,
                                 generator_loss, generator_step, mlp_critic, mlp_generator, train_step)
from tinygen.train import train

SMALL = {"hidden": [16, 16], "channels": 4}


def _hparams(**changes):
    spec = get_model("wgan")
    return {**spec.default_hparams, **SMALL, **changes}


@pytest.fixture(scope="module")
def ring():
    return get_dataset("ring")


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


def _batches(dataset, m=32, seed=0):
    """next_batch for tests: fresh minibatches of ``dataset``, each a tuple (x,)."""
    rng = np.random.default_rng(seed)
    return lambda: (dataset.x[rng.integers(0, len(dataset), m)],)


def _parameters(module: nn.Module) -> list[np.ndarray]:
    return [p.numpy().copy() for p in module.parameters()]


# ------------------------------------------------------------------------- the gradients
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


def gradcheck_through_both_networks(G: nn.Module, D: nn.Module, loss) -> bool:
    """gradcheck ``loss(G, D)`` (float64) with respect to every parameter of G and of D."""
    G.double(), D.double()
    slots = _slots([G, D])
    originals = list(G.parameters()) + list(D.parameters())

    def f(*params: Tensor) -> Tensor:
        _put(slots, params)
        return loss(G, D)

    try:
        return tinygen.gradcheck(f, originals)
    finally:
        _put(slots, originals)


def _networks(kind: str):
    tinygen.manual_seed(0)
    if kind == "2d":
        G, D, z_dim = mlp_generator(2, [5, 4], 2), mlp_critic(2, [5, 4]), 2
    else:
        G, D, z_dim = conv_generator(3, (1, 8, 8), 1), conv_critic((1, 8, 8), 1), 3
    rng = np.random.default_rng(1)
    m = 4
    x = Tensor(rng.uniform(0.0, 1.0, (m, 2) if kind == "2d" else (m, 1, 8, 8)))
    z = Tensor(rng.standard_normal((m, z_dim)))
    return G, D, x, z


@pytest.mark.parametrize("kind", ["2d", "image"])
def test_critic_loss_gradients_through_both_networks_match_finite_differences(kind):
    G, D, x, z = _networks(kind)
    assert gradcheck_through_both_networks(G, D, lambda G, D: critic_loss(D(x), D(G(z))))


@pytest.mark.parametrize("kind", ["2d", "image"])
def test_generator_loss_gradients_flow_through_the_critic_and_match_finite_differences(kind):
    G, D, x, z = _networks(kind)
    assert gradcheck_through_both_networks(G, D, lambda G, D: generator_loss(D(G(z))))
    G.float(), D.float()
    generator_loss(D(G(z.float()))).backward()
    # the generator's gradient exists only by passing through the critic
    assert all(p.grad is not None and np.abs(p.grad.numpy()).max() > 0 for p in G.parameters())


def test_losses_are_the_wasserstein_estimate_with_the_right_signs():
    real, fake = Tensor([[3.0], [1.0]]), Tensor([[0.5], [-0.5]])
    # the critic minimises E[f(fake)] - E[f(real)] = 0 - 2
    assert critic_loss(real, fake).item() == pytest.approx(-2.0)
    # the generator minimises -E[f(fake)]
    assert generator_loss(fake).item() == pytest.approx(0.0)
    assert generator_loss(Tensor([[1.0], [2.0]])).item() == pytest.approx(-1.5)


def test_the_critic_has_no_sigmoid_and_no_batch_norm():
    for D in (mlp_critic(2, [8, 8]), conv_critic((1, 8, 8), 4)):
        assert isinstance(list(D.modules())[-1], nn.Linear)  # a raw score
        assert not any(isinstance(m, (nn.Sigmoid, nn.BatchNorm1d, nn.BatchNorm2d)) for m in D.modules())


# ---------------------------------------------------------------------------- the updates
def test_a_critic_step_raises_the_wasserstein_estimate_and_a_generator_step_the_fake_scores(ring):
    model = build(_hparams(clip_value=100.0, lr=1e-3), ring)  # a wide box: clipping stays out of the way
    x = Tensor(ring.x[:64])

    def estimate():
        tinygen.manual_seed(5)
        z = tinygen.randn(64, model.z_dim)  # the latents critic_step draws after the same seed
        with tinygen.no_grad():
            return (model.D(x).mean() - model.D(model.G(z)).mean()).item()

    before = estimate()
    tinygen.manual_seed(5)
    critic_step(model, ring.x[:64])
    assert estimate() > before

    def fake_score():
        tinygen.manual_seed(6)
        with tinygen.no_grad():
            return model.D(model.G(tinygen.randn(64, model.z_dim))).mean().item()

    before = fake_score()
    tinygen.manual_seed(6)
    generator_step(model, 64)
    assert fake_score() > before


def test_clipping_bounds_the_weights_and_leaves_the_gradients_alone():
    D = mlp_critic(2, [8])
    for p in D.parameters():
        p.data[...] = np.linspace(-1.0, 1.0, p.data.size).reshape(p.shape)
        p.grad = Tensor(np.full(p.shape, 5.0, dtype=np.float32))
    clip_weights_(D, 0.01)
    for p in D.parameters():
        assert np.abs(p.numpy()).max() == pytest.approx(0.01)  # clipped, biases included
        np.testing.assert_array_equal(p.grad.numpy(), 5.0)


def test_every_critic_weight_lies_in_the_box_after_every_critic_step(ring):
    tinygen.manual_seed(1)
    c = 0.01
    model = build(_hparams(clip_value=c), ring)
    # the initial weights are far outside [-c, c]: clipping the gradients would leave them there
    assert max(np.abs(p.numpy()).max() for p in model.D.parameters()) > 10 * c
    draw = _batches(ring)
    snapshots = []

    def next_batch():
        # a batch is drawn just before each critic step, so the weights seen here are those left
        # by the previous critic step (the very first call sees the initial weights)
        snapshots.append(_parameters(model.D))
        return draw()

    for step in range(3):
        train_step(model, next_batch, step)
        snapshots.append(_parameters(model.D))  # after the last critic step (and the generator step)
    after_critic_steps = snapshots[1:]
    assert len(after_critic_steps) == 3 * (model.n_critic + 1) - 1
    for weights in after_critic_steps:
        for w in weights:
            assert np.abs(w).max() <= c
    # clipping is active, and the critic keeps learning inside the box
    assert any(np.isclose(np.abs(w), c).any() for w in after_critic_steps[-1])
    assert any(not np.array_equal(a, b) for a, b in zip(after_critic_steps[-2], after_critic_steps[-1]))


def test_n_critic_critic_updates_per_generator_update_each_on_its_own_minibatch(ring):
    model = build(_hparams(n_critic=3), ring)
    events = []
    draw = _batches(ring)

    def next_batch():
        events.append("batch")
        return draw()

    for name, optimiser in (("D", model.opt_D), ("G", model.opt_G)):
        original = optimiser.step
        optimiser.step = lambda original=original, name=name: (events.append(name), original())
    train_step(model, next_batch, 0)
    assert events == ["batch", "D"] * 3 + ["G"]
    train_step(model, next_batch, 1)
    assert events == (["batch", "D"] * 3 + ["G"]) * 2


def test_the_loop_draws_n_critic_batches_per_generator_update(tmp_path):
    run = train("wgan", out=tmp_path, steps=3, hparams=SMALL, progress=False, outputs=False, sample_every=0)
    assert run.loader.step == 3 * 5
    assert run.model.opt_D.state[0]["step"] == 15 and run.model.opt_G.state[0]["step"] == 3
    assert get_model("wgan").cost("batches_per_step", run.hparams) == 5


def test_the_generator_step_leaves_the_critic_unchanged(ring):
    model = build(_hparams(), ring)
    train_step(model, _batches(ring), 0)  # the critic's optimiser has state now
    critic_before = _parameters(model.D)
    state_before = model.opt_D.state_dict()
    generator_before = _parameters(model.G)
    generator_step(model, 32)
    for a, b in zip(critic_before, _parameters(model.D)):
        np.testing.assert_array_equal(a, b)
    after = model.opt_D.state_dict()["state"]
    for i, s in state_before["state"].items():
        np.testing.assert_array_equal(s["square_avg"], after[i]["square_avg"])
    assert any(not np.array_equal(a, b) for a, b in zip(generator_before, _parameters(model.G)))


# ----------------------------------------------------------------------------- the data
def test_the_papers_hyperparameters_are_the_defaults():
    spec = get_model("wgan")
    h = spec.default_hparams
    assert (h["lr"], h["clip_value"], h["n_critic"]) == (5e-5, 0.01, 5)
    assert set(spec.data_kinds) == {"2d", "image"}


def test_the_architecture_follows_the_kind_of_data(ring, digits):
    points, images = build(_hparams(), ring), build(_hparams(), digits)
    assert points.z_dim == 2 and images.z_dim == wgan.Z_DIM_AUTO["image"]
    assert isinstance(points.optimizers().__next__()[1], tinygen.optim.RMSprop)
    assert any(isinstance(m, nn.Conv2d) for m in images.D.modules())
    assert any(isinstance(m, nn.ConvTranspose2d) for m in images.G.modules())
    x = wgan.sample(images, 5)
    assert x.shape == (5, 1, 8, 8) and x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert wgan.sample(points, 7).shape == (7, 2)
    with pytest.raises(ValueError, match="binary"):
        build(_hparams(), get_dataset("bars-and-stripes"))


def test_a_quick_digits_run_trains_and_samples_images(tmp_path):
    run = train("wgan", "digits", out=tmp_path, quick=True, steps=4, progress=False, outputs=False,
                sample_every=0)
    losses = tinygen.train.read_log(tmp_path / "losses.jsonl")
    assert len(losses) == 4 and set(losses[0]) >= {"loss_D", "loss_G", "wasserstein"}
    assert tinygen.train.sample(run, 3).shape == (3, 1, 8, 8)
