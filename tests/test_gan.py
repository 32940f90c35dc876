"""The GAN (tinygen/models/gan.py) against its math.

* Both losses (and -V) are gradient-checked in float64 with respect to the noise and to the
  parameters of *both* networks: the generator's gradient must flow through the discriminator.
* The minimax value: the discriminator step moves D along the finite-difference gradient of
  -V(D, G) in D's parameters; the generator step moves G along that of V (minimax loss) or of the
  non-saturating surrogate -E log D(G(z)) in G's parameters. V is computed here independently,
  from the logits with NumPy, so a sign, a missing term or a sum for a mean in the library fails.
* The alternation: the generator step leaves D's parameters bit for bit as they were, the
  discriminator steps leave G's; k discriminator updates per generator update, each on its own
  minibatch; leftover gradients in D (from the generator's backward) do not leak into D's step.
* A D trained against a fixed, known p_g approaches D* = p_data / (p_data + p_g).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import pytest

import tinygen
from tinygen import cli, nn, optim
from tinygen import divergences as dv
from tinygen.data import get_dataset
from tinygen.models import gan
from tinygen.models import get_model

Tensor = tinygen.Tensor


# --------------------------------------------------------------------------------- helpers
def _small_networks(seed: int = 0, d: int = 2) -> tuple[nn.Module, nn.Module]:
    """A float64 G (2 BatchNorm-ReLU layers of 6) and D (2 maxout layers of 4 units x 3 pieces).

    They keep the layers' default initialisation, whose biases are not 0: with zero biases a
    generator output of exactly 0 (all ReLUs off) ties every maxout piece at 0, a kink.
    """
    tinygen.manual_seed(seed)
    G = gan.generator_mlp(2, 6, 2, d).double()
    D = gan.discriminator_mlp(d, 4, 2, 3).double()
    return G, D


def _slots(net: nn.Module) -> list[tuple[nn.Module, str]]:
    """(owning module, attribute name) of each parameter, in ``parameters()`` order."""
    slots = []
    for name, _ in net.named_parameters():
        owner = net
        *path, attr = name.split(".")
        for part in path:
            owner = getattr(owner, part)
        slots.append((owner, attr))
    return slots


@contextlib.contextmanager
def _parameters_replaced(slots: list[tuple[nn.Module, str]], tensors: list[Tensor]) -> Iterator[None]:
    """Run the networks with the given tensors in place of their parameters (gradcheck's float64
    copies), so gradcheck can differentiate with respect to the parameters."""
    saved = [getattr(owner, attr) for owner, attr in slots]
    try:
        for (owner, attr), t in zip(slots, tensors):
            object.__setattr__(owner, attr, t)
        yield
    finally:
        for (owner, attr), p in zip(slots, saved):
            object.__setattr__(owner, attr, p)


def _log_sigmoid(a: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -a)  # log sigmoid(a) = -log(1 + e^-a)


def _V(D: nn.Module, G: nn.Module, x: np.ndarray, z: np.ndarray) -> float:
    """V(D, G) = mean log D(x) + mean log(1 - D(G(z))), from the logits, in NumPy."""
    with tinygen.no_grad():
        a_real = D(Tensor(x)).data
        a_fake = D(G(Tensor(z))).data
    # log(1 - sigmoid(a)) = log sigmoid(-a)
    return float(_log_sigmoid(a_real).mean() + _log_sigmoid(-a_fake).mean())


def _non_saturating(D: nn.Module, G: nn.Module, z: np.ndarray) -> float:
    """-mean log D(G(z)), in NumPy."""
    with tinygen.no_grad():
        a_fake = D(G(Tensor(z))).data
    return float(-_log_sigmoid(a_fake).mean())


def _finite_difference(f, params: list[Any], eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of the scalar f() in every element of every parameter (float64)."""
    grads = []
    for p in params:
        g = np.zeros_like(p.data)
        flat, gflat = p.data.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = f()
            flat[j] = original - eps
            minus = f()
            flat[j] = original
            gflat[j] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def _copy(net: nn.Module) -> list[np.ndarray]:
    return [p.data.copy() for p in net.parameters()]


def _data(seed: int = 1, m: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, 2)), rng.normal(size=(m, 2))  # x (m, 2), z (m, 2)


# ------------------------------------------------------------------------- the losses' values
def test_losses_match_their_formulas_on_known_logits():
    a_real = Tensor(np.array([[0.0], [2.0]]))
    a_fake = Tensor(np.array([[0.0], [-3.0]]))
    sig = lambda a: 1 / (1 + np.exp(-a))
    V = np.mean(np.log(sig(np.array([0.0, 2.0])))) + np.mean(np.log(1 - sig(np.array([0.0, -3.0]))))
    assert gan.discriminator_loss(a_real, a_fake).item() == pytest.approx(-V, rel=1e-12)
    assert gan.value_function(a_real, a_fake).item() == pytest.approx(V, rel=1e-12)
    fake = np.array([0.0, -3.0])
    assert gan.generator_loss(a_fake, saturating=True).item() == pytest.approx(np.mean(np.log(1 - sig(fake))))
    assert gan.generator_loss(a_fake).item() == pytest.approx(-np.mean(np.log(sig(fake))))  # the default


def test_the_default_generator_loss_is_the_non_saturating_one():
    assert get_model("gan").default_hparams["saturating"] is False
    a = Tensor(np.array([[-1.0]]))
    assert gan.generator_loss(a).item() == gan.generator_loss(a, saturating=False).item()


def test_losses_stay_finite_for_confident_discriminators():
    a = Tensor(np.array([[-800.0], [800.0]]))
    for value in (gan.discriminator_loss(a, a), gan.generator_loss(a, True), gan.generator_loss(a, False)):
        assert np.isfinite(value.item())


def test_the_saturating_gradient_vanishes_where_the_non_saturating_one_does_not():
    # D rejects the fake confidently: logit -10, D(G(z)) = 4.5e-5
    a = Tensor(np.array([[-10.0]]), requires_grad=True)
    g_sat, = tinygen.grad(gan.generator_loss(a, saturating=True), [a])
    g_ns, = tinygen.grad(gan.generator_loss(a, saturating=False), [a])
    # d/da log(1 - sigmoid(a)) = -sigmoid(a) ~ -4.5e-5;  d/da -log sigmoid(a) = -(1 - sigmoid(a)) ~ -1
    assert g_sat.item() == pytest.approx(-1 / (1 + np.exp(10)), rel=1e-9)
    assert g_ns.item() == pytest.approx(-1 + 1 / (1 + np.exp(10)), rel=1e-9)


# -------------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("saturating", [True, False])
def test_generator_loss_gradcheck_through_both_networks(saturating):
    G, D = _small_networks()
    _, z = _data()
    g_slots, d_slots = _slots(G), _slots(D)
    n_g = len(g_slots)

    def loss(z, *params):
        with _parameters_replaced(g_slots + d_slots, list(params)):
            return gan.generator_loss(D(G(z)), saturating)

    params = [Tensor(p.data, requires_grad=True) for p in list(G.parameters()) + list(D.parameters())]
    assert len(params) == n_g + len(d_slots)
    assert tinygen.gradcheck(loss, [Tensor(z, requires_grad=True), *params])


def test_discriminator_loss_gradcheck_in_both_networks_and_in_the_points():
    G, D = _small_networks(seed=3)
    x, z = _data(seed=4)
    slots = _slots(G) + _slots(D)

    def loss(x, z, *params):
        with _parameters_replaced(slots, list(params)):
            return gan.discriminator_loss(D(x), D(G(z)))

    params = [Tensor(p.data, requires_grad=True) for p in list(G.parameters()) + list(D.parameters())]
    assert tinygen.gradcheck(loss, [Tensor(x, requires_grad=True), Tensor(z, requires_grad=True), *params])


def test_maxout_gradcheck():
    tinygen.manual_seed(0)
    layer = gan.Maxout(3, 4, 5).double()
    slots = _slots(layer)

    def f(x, *params):
        with _parameters_replaced(slots, list(params)):
            return layer(x)

    x = Tensor(np.random.default_rng(0).normal(size=(6, 3)), requires_grad=True)
    params = [Tensor(p.data, requires_grad=True) for p in layer.parameters()]
    assert tinygen.gradcheck(f, [x, *params])


def test_maxout_takes_the_largest_piece_of_each_unit():
    tinygen.manual_seed(0)
    layer = gan.Maxout(3, 4, 5)
    x = tinygen.randn(7, 3)
    pieces = (x.data @ layer.linear.weight.data.T + layer.linear.bias.data).reshape(7, 4, 5)
    np.testing.assert_allclose(layer(x).data, pieces.max(axis=2), rtol=1e-6)


# ----------------------------------------------------------------------- the minimax value
def test_the_discriminator_step_descends_minus_V_in_Ds_parameters():
    G, D = _small_networks(seed=5)
    x, z = _data(seed=6)
    with tinygen.no_grad():
        fake = G(Tensor(z))
    # leftovers in D.grad from a generator backward must not leak into D's step
    gan.generator_loss(D(G(Tensor(z)))).backward()
    before = _copy(D)
    gan.discriminator_update(D, optim.SGD(D.parameters(), lr=1.0), Tensor(x), fake)
    step = [b - p.data for b, p in zip(before, D.parameters())]  # lr * d(-V)/d theta_D, lr = 1
    for p, b in zip(D.parameters(), before):
        p.data[...] = b
    expected = _finite_difference(lambda: -_V(D, G, x, z), list(D.parameters()))
    for s, e in zip(step, expected):
        np.testing.assert_allclose(s, e, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("saturating", [True, False])
def test_the_generator_step_descends_its_loss_in_Gs_parameters(saturating):
    G, D = _small_networks(seed=7)
    x, z = _data(seed=8)
    before = _copy(G)
    gan.generator_update(G, D, optim.SGD(G.parameters(), lr=1.0), Tensor(z), saturating)
    step = [b - p.data for b, p in zip(before, G.parameters())]  # lr * d loss_G / d theta_G
    for p, b in zip(G.parameters(), before):
        p.data[...] = b
    # minimax: G descends V (only its second term depends on G); non-saturating: -E log D(G(z))
    objective = (lambda: _V(D, G, x, z)) if saturating else (lambda: _non_saturating(D, G, z))
    expected = _finite_difference(objective, list(G.parameters()))
    for s, e in zip(step, expected):
        np.testing.assert_allclose(s, e, rtol=1e-5, atol=1e-8)
    assert max(np.abs(s).max() for s in step) > 1e-4  # a real step, not a trivially empty one


def test_the_generator_step_leaves_D_untouched():
    G, D = _small_networks(seed=9)
    _, z = _data()
    opt_D = optim.Adam(D.parameters(), lr=0.1)
    before_D, before_G = _copy(D), _copy(G)
    gan.generator_update(G, D, optim.Adam(G.parameters(), lr=0.1), Tensor(z))
    for b, p in zip(before_D, D.parameters()):
        np.testing.assert_array_equal(b, p.data)
    assert all(not s for s in opt_D.state)  # D's optimiser never stepped
    assert any(not np.array_equal(b, p.data) for b, p in zip(before_G, G.parameters()))


def test_generator_gradient_norm_is_the_norm_of_the_generator_step():
    G, D = _small_networks(seed=10)
    _, z = _data()
    norm = gan.generator_gradient_norm(G, D, Tensor(z), saturating=False)
    before = _copy(G)
    gan.generator_update(G, D, optim.SGD(G.parameters(), lr=1.0), Tensor(z), saturating=False)
    step = np.concatenate([(b - p.data).ravel() for b, p in zip(before, G.parameters())])
    assert norm == pytest.approx(np.linalg.norm(step), rel=1e-9)


# ----------------------------------------------------------------------------- the alternation
def _model(k: int = 1, saturating: bool = False) -> gan.GAN:
    spec = get_model("gan")
    hparams = {**spec.default_hparams, **spec.quick_hparams, "k": k, "saturating": saturating, "lr": 0.01}
    tinygen.manual_seed(0)
    return spec.build(hparams, get_dataset("ring", n=256))


def _batches(m: int = 16) -> tuple[Any, list[np.ndarray]]:
    """A next_batch that hands out distinct minibatches and remembers them."""
    drawn: list[np.ndarray] = []
    rng = np.random.default_rng(0)

    def next_batch():
        x = rng.normal(size=(m, 2)).astype(np.float32)
        drawn.append(x)
        return (x,)

    return next_batch, drawn


@pytest.mark.parametrize("k", [1, 3])
def test_k_discriminator_updates_per_generator_update_each_on_its_own_minibatch(k, monkeypatch):
    model = _model(k=k)
    seen_by_D: list[np.ndarray] = []
    real_update = gan.discriminator_update

    def recording_update(D, opt_D, real, fake):
        seen_by_D.append(real.data.copy())
        return real_update(D, opt_D, real, fake)

    monkeypatch.setattr(gan, "discriminator_update", recording_update)
    next_batch, drawn = _batches()
    steps = 2
    for step in range(steps):
        losses = gan.train_step(model, next_batch, step)
        assert set(losses) == {"loss_D", "loss_G"} and all(isinstance(v, float) for v in losses.values())
    assert len(drawn) == k * steps == len(seen_by_D)  # the generator step draws no data
    for mine, theirs in zip(seen_by_D, drawn):
        np.testing.assert_array_equal(mine, theirs)  # each D step on the batch it drew, in order
    assert model.opt_D.state[0]["step"] == k * steps and model.opt_G.state[0]["step"] == steps
    assert get_model("gan").cost("batches_per_step", {"k": k, "pack": 1}) == k
    assert get_model("gan").cost("batches_per_step", {"k": k, "pack": 4}) == 4 * k


def test_the_discriminator_steps_leave_G_untouched(monkeypatch):
    model = _model(k=3)
    monkeypatch.setattr(gan, "generator_update", lambda *args: 0.0)
    before_G, before_D = _copy(model.G), _copy(model.D)
    next_batch, _ = _batches()
    gan.train_step(model, next_batch, 0)
    for b, p in zip(before_G, model.G.parameters()):
        np.testing.assert_array_equal(b, p.data)
    assert any(not np.array_equal(b, p.data) for b, p in zip(before_D, model.D.parameters()))


def test_the_generator_step_of_train_step_leaves_D_untouched(monkeypatch):
    model = _model(k=2)
    monkeypatch.setattr(gan, "discriminator_update", lambda *args: 0.0)
    before_G, before_D = _copy(model.G), _copy(model.D)
    gan.train_step(model, _batches()[0], 0)
    for b, p in zip(before_D, model.D.parameters()):
        np.testing.assert_array_equal(b, p.data)
    assert any(not np.array_equal(b, p.data) for b, p in zip(before_G, model.G.parameters()))


def test_the_generator_steps_on_the_chosen_loss(monkeypatch):
    for saturating in (True, False):
        model = _model(saturating=saturating)
        used = []
        monkeypatch.setattr(gan, "generator_update",
                            lambda G, D, opt, z, s, pack: used.append((s, z.shape, pack)) or 0.0)
        gan.train_step(model, _batches(m=16)[0], 0)
        assert used == [(saturating, (16, 2), 1)]  # m noise samples, m the minibatch size


# ------------------------------------------------------------------------------ packing (PacGAN)
def test_pack_points_concatenates_consecutive_points_into_one_row():
    points = Tensor(np.arange(12, dtype=np.float64).reshape(6, 2))  # points (0,1), (2,3), ...
    packed = gan.pack_points(points, 3)
    np.testing.assert_array_equal(packed.data, [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    assert gan.pack_points(points, 1) is points
    with pytest.raises(ValueError, match="cannot pack 6 points into groups of 4"):
        gan.pack_points(points, 4)


def test_packed_discriminator_judges_pack_minibatches_of_real_points_per_step(monkeypatch):
    spec = get_model("gan")
    hparams = {**spec.default_hparams, **spec.quick_hparams, "k": 2, "pack": 3, "lr": 0.01}
    tinygen.manual_seed(0)
    model = spec.build(hparams, get_dataset("ring", n=256))
    assert model.D[0].linear.in_features == 3 * 2  # three 2-D points side by side
    assert spec.cost("batches_per_step", hparams) == 6
    seen_by_D: list[tuple[np.ndarray, tuple[int, ...]]] = []
    real_update = gan.discriminator_update

    def recording_update(D, opt_D, real, fake):
        seen_by_D.append((real.data.copy(), fake.shape))
        return real_update(D, opt_D, real, fake)

    monkeypatch.setattr(gan, "discriminator_update", recording_update)
    next_batch, drawn = _batches(m=8)
    gan.train_step(model, next_batch, 0)
    assert len(drawn) == 6 and len(seen_by_D) == 2
    for i, (real, fake_shape) in enumerate(seen_by_D):
        points = np.concatenate(drawn[3 * i:3 * i + 3])  # (24, 2): this step's three minibatches
        np.testing.assert_array_equal(real, points.reshape(8, 6))  # 8 rows of 3 consecutive points
        assert fake_shape == (8, 6)


def test_packed_generator_loss_is_D_on_packed_points(monkeypatch):
    tinygen.manual_seed(1)
    G = gan.init_weights_(gan.generator_mlp(2, 8, 1, 2), 0.5).double()
    D = gan.init_weights_(gan.discriminator_mlp(4, 6, 1, 3), 0.5).double()
    z = Tensor(np.random.default_rng(2).normal(size=(10, 2)))
    G.eval()  # running statistics: the two evaluations below see the same G
    with tinygen.no_grad():
        points = G(z).data  # (10, 2)
        a = D(Tensor(points.reshape(5, 4))).data  # (5, 1): pairs (0, 1), (2, 3), ... judged together
    expected = np.log1p(np.exp(-a)).mean()  # -E log D(pack) in the logits
    loss = gan.generator_update(G, D, optim.SGD(G.parameters(), lr=0.0), z, saturating=False, pack=2)
    assert loss == pytest.approx(expected, rel=1e-12)


def test_the_learning_rate_halves_every_half_life_in_both_optimisers():
    model = _model()
    model.lr, model.lr_half_life = 0.01, 10
    next_batch = _batches()[0]
    for step, expected in ((0, 0.01), (10, 0.005), (25, 0.01 * 2 ** -2.5)):
        gan.train_step(model, next_batch, step)
        assert model.opt_D.lr == model.opt_G.lr == pytest.approx(expected, rel=1e-12)
    model.lr_half_life = None  # a constant rate
    gan.train_step(model, next_batch, 1000)
    assert model.opt_D.lr == model.opt_G.lr == 0.01


def test_samples_have_the_datas_shape_and_leave_training_mode_to_the_loop():
    model = _model()
    assert gan.sample(model, 5).shape == (5, 2) and gan.sample(model, 5).dtype == np.float32
    one_d = get_model("gan").build({**get_model("gan").default_hparams, **get_model("gan").quick_hparams},
                                   get_dataset("gmm-1d", n=64))
    assert gan.sample(one_d, 3).shape == (3, 1)


def test_the_networks_are_pacgans():
    model = get_model("gan").build(dict(get_model("gan").default_hparams), get_dataset("ring", n=64))
    linears = [(m.in_features, m.out_features, m.bias is not None) for m in model.G.modules()
               if isinstance(m, nn.Linear)]
    assert linears == [(2, 400, False), (400, 400, False), (400, 400, False), (400, 400, False), (400, 2, True)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.G.modules()) == 4
    maxouts = [(m.linear.in_features, m.out_features, m.pieces) for m in model.D.modules()
               if isinstance(m, gan.Maxout)]
    assert maxouts == [(2, 200, 5), (200, 200, 5), (200, 200, 5)]
    weight = model.D[0].linear.weight.data
    assert abs(weight.std() - 0.02) < 0.002 and not model.D[0].linear.bias.data.any()


def test_bad_hyperparameters_are_named():
    spec = get_model("gan")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        spec.build({**spec.default_hparams, "k": 0}, get_dataset("ring", n=64))
    with pytest.raises(ValueError, match="lr_half_life must be a positive integer or null"):
        spec.build({**spec.default_hparams, "lr_half_life": 0}, get_dataset("ring", n=64))
    with pytest.raises(ValueError, match="saturating must be true or false"):
        spec.build({**spec.default_hparams, "saturating": "yes"}, get_dataset("ring", n=64))


# ----------------------------------------------------------------------- the optimal discriminator
def test_optimal_discriminator_formula():
    np.testing.assert_allclose(gan.optimal_discriminator(np.array([1.0, 0.0, 3.0, 0.0]),
                                                         np.array([1.0, 2.0, 1.0, 0.0])),
                               [0.5, 0.0, 0.75, 0.5])


def test_a_discriminator_trained_against_a_fixed_p_g_approaches_D_star():
    """p_data = gmm-1d (three narrow peaks), p_g = N(0, 1.5^2) fixed; D trained alone."""
    tinygen.manual_seed(0)
    D = gan.init_weights_(gan.discriminator_mlp(1, 32, 2, 3), 0.3)
    opt_D = optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    data = get_dataset("gmm-1d").x
    rng = np.random.default_rng(0)
    m = 128

    def real():
        return Tensor(data[rng.integers(0, len(data), m)])

    def fake():
        return Tensor((1.5 * rng.standard_normal((m, 1))).astype(np.float32))

    gan.train_discriminator(D, opt_D, real, fake, steps=300)
    grid = np.linspace(-4, 4, 801)
    p_data = dv.mixture_density_1d(grid, [-2, 0, 2], [0.25, 0.25, 0.25])
    p_g = dv.mixture_density_1d(grid, [0.0], [1.5])
    d_star = gan.optimal_discriminator(p_data, p_g)
    with tinygen.no_grad():
        d = tinygen.sigmoid(D(Tensor(grid.reshape(-1, 1).astype(np.float32)))).numpy().ravel()
    weight = (p_data + p_g) / (p_data + p_g).sum()  # where the two distributions put their mass
    error = float((weight * np.abs(d - d_star)).sum())
    untrained = float((weight * np.abs(0.5 - d_star)).sum())  # a D that knows nothing: 1/2 everywhere
    # measured: 0.26 for D = 1/2, 0.06 after these 300 steps (0.04 after 3,000, the demo's)
    assert untrained > 0.25 and error < 0.08, (untrained, error)


# ---------------------------------------------------------------------------- through the loop
def test_a_few_steps_through_the_command_line(tmp_path, capsys, monkeypatch):
    from tinygen.train import loop
    monkeypatch.setattr(loop, "save_progress_picture", lambda run: None)  # matplotlib is the slow part
    code = cli.main(["train", "gan", "--quick", "--steps", "6", "--hparam", "k=2", "--hparam", "saturating=true",
                     "--out", str(tmp_path), "--quiet"])
    assert code == 0, capsys.readouterr().err
    for name in ("samples.npy", "samples.png", "metrics.json", "checkpoint.npz"):
        assert (tmp_path / name).is_file(), name
    log = tinygen.train.read_log(tmp_path / "losses.jsonl")
    assert len(log) == 6 and {"loss_D", "loss_G"} <= set(log[0])
    assert all(line["loss_G"] < 0 for line in log)  # the saturating loss, log(1 - D) < 0
    assert np.load(tmp_path / "samples.npy").shape == (2500, 2)


def test_training_on_the_1d_mixture_runs(tmp_path):
    run = tinygen.train.train("gan", "gmm-1d", out=tmp_path, quick=True, steps=5, progress=False, outputs=False,
                              sample_every=0)
    assert run.step == 5 and run.model.opt_G.state[0]["step"] == 5
