"""DCGAN (tinygen/models/dcgan.py) and the latent-space tools (tinygen/models/latent.py).

The networks follow the paper's guidelines at 8x8 and 28x28; both losses are gradient-checked in
float64 with respect to the images, the latents and every parameter of both networks (batch norm
in training mode, no ReLU input near its kink); the discriminator step leaves G alone and the
generator step leaves D's parameters and optimiser alone, with D in training mode; interpolation
and vector arithmetic match hand values.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygen
from tinygen import nn
from tinygen.data.registry import Dataset
from tinygen.models import dcgan, latent
from tinygen.models.registry import get_model

TINY = {"nz": 3, "ngf": 2, "ndf": 2, "size": 4}  # float64 gradient checks: about 360 parameters


def _hparams(**changes):
    spec = get_model("dcgan")
    return {**spec.default_hparams, **spec.quick_hparams, **changes}


def _images(n, size=8, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 1, size, size)).astype(np.float32)


def _model(size=8, seed=0, **changes):
    tinygen.manual_seed(seed)
    data = Dataset("random", "image", _images(64, size), image_shape=(1, size, size))
    return dcgan.build(_hparams(**changes), data)


def _params(net):
    return [p.numpy().copy() for p in net.parameters()]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------------ gradient checks
def _swap(nets, values):
    """Put ``values`` in place of the parameters of ``nets`` (in named_parameters order)."""
    slots = [(net, name) for net in nets for name, _ in net.named_parameters()]
    for (net, name), value in zip(slots, values):
        *path, leaf = name.split(".")
        owner = net
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, leaf, value)


def check_loss_gradients(loss, nets, inputs):
    """gradcheck of ``loss(*inputs)`` with respect to the inputs and every parameter of ``nets``
    (gradcheck perturbs float64 copies, which are swapped in for the parameters while it runs)."""
    params = [p for net in nets for p in net.parameters()]

    def f(*args):
        _swap(nets, args[len(inputs):])
        return loss(*args[:len(inputs)])

    try:
        return tinygen.gradcheck(f, list(inputs) + params)
    finally:
        _swap(nets, params)


def kink_margin(net, x):
    """The smallest |input| of any ReLU or LeakyReLU of a Sequential ``net`` on the input x."""
    smallest = math.inf
    for layer in net:
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            smallest = min(smallest, float(np.abs(x.data).min()))
        x = layer(x)
    return smallest


def _float64_nets(seed=16):
    """Tiny G and D in float64, batch norm's gamma and beta moved off their initial 1 and 0."""
    tinygen.manual_seed(seed)
    shape = (1, TINY["size"], TINY["size"])  # 4x4 images: G goes 1x1 -> 2x2 -> 4x4, D back
    G = dcgan.generator_net(TINY["nz"], shape, TINY["ngf"]).double()
    D = dcgan.discriminator_net(shape, TINY["ndf"]).double()
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.3)
                nn.init.normal_(m.bias, 0.0, 0.3)
    rng = np.random.default_rng(seed)
    x = tinygen.tensor(rng.uniform(-1, 1, (4, *shape)), dtype=tinygen.float64, requires_grad=True)
    z = tinygen.tensor(rng.uniform(-1, 1, (4, TINY["nz"])), dtype=tinygen.float64, requires_grad=True)
    return G, D, x, z


def test_float64_check_inputs_keep_every_relu_off_its_kink():
    G, D, x, z = _float64_nets()
    assert G.training and D.training  # batch norm with batch statistics, as in training
    with tinygen.no_grad():
        fake = G(z)
        margins = [kink_margin(G, z), kink_margin(D, x), kink_margin(D, fake)]
    assert min(margins) > 1e-3, margins  # gradcheck perturbs by 1e-6


def test_discriminator_loss_gradients_wrt_images_latents_and_both_networks():
    G, D, x, z = _float64_nets()
    assert check_loss_gradients(lambda x_, z_: dcgan.d_loss(G, D, x_, z_), [G, D], [x, z])


def test_generator_loss_gradients_flow_through_the_discriminator():
    G, D, _, z = _float64_nets()
    assert check_loss_gradients(lambda z_: dcgan.g_loss(G, D, z_), [G, D], [z])
    # the generator's gradient is not zero: it reached G through D
    loss = dcgan.g_loss(G, D, z)
    grads = tinygen.grad(loss, list(G.parameters()))
    assert all(float(np.abs(g.numpy()).max()) > 0 for g in grads)


def test_the_losses_are_the_gan_value_function_of_ds_logits():
    G, D, x, z = _float64_nets()
    a_real, a_fake = D(x).numpy(), D(G(z)).numpy()
    log_d = lambda a: -np.logaddexp(0, -a)  # log sigmoid(a)
    log_one_minus_d = lambda a: -np.logaddexp(0, a)  # log(1 - sigmoid(a))
    # L_D = -V = -mean log D(x) - mean log(1 - D(G(z)))
    expected_d = -log_d(a_real).mean() - log_one_minus_d(a_fake).mean()
    assert dcgan.d_loss(G, D, x, z).item() == pytest.approx(expected_d, rel=1e-10)
    # the default generator loss is the non-saturating -mean log D(G(z))
    assert dcgan.g_loss(G, D, z).item() == pytest.approx(-log_d(a_fake).mean(), rel=1e-10)
    assert dcgan.g_loss(G, D, z, saturating=True).item() == pytest.approx(log_one_minus_d(a_fake).mean(), rel=1e-10)


# --------------------------------------------------------------------------- architecture
@pytest.mark.parametrize("size", [8, 28])
def test_the_networks_map_latents_to_images_and_images_to_one_logit(size):
    model = _model(size, **{k: v for k, v in dcgan.PAPER_HPARAMS.items() if k in ("nz", "ngf", "ndf")})
    z = model.sample_z(5)
    fake = model.G(z)
    assert z.shape == (5, 100) and fake.shape == (5, 1, size, size)
    assert float(np.abs(fake.numpy()).max()) <= 1.0  # tanh
    assert model.D(fake).shape == (5, 1)
    assert model.D(dcgan.to_tanh_range(_images(5, size))).shape == (5, 1)
    # the feature maps: (2 ngf, s/4, s/4) -> (ngf, s/2, s/2) in G, (ndf, s/2, s/2) -> (2 ndf, s/4, s/4) in D
    h = model.G[:4](z)
    assert h.shape == (5, 128, size // 4, size // 4)
    assert model.G[:7](z).shape == (5, 64, size // 2, size // 2)
    assert model.D[:2](fake).shape == (5, 64, size // 2, size // 2)
    assert model.D[:5](fake).shape == (5, 128, size // 4, size // 4)


def test_the_layers_follow_the_papers_guidelines():
    model = _model()
    G, D = list(model.G), list(model.D)
    kinds = lambda layers: [type(m).__name__ for m in layers]
    # G: projection (a matrix multiplication, reshaped), fractionally strided convolutions, BN,
    # ReLU, tanh at the output with no BN before it
    assert kinds(G) == ["Linear", "Unflatten", "BatchNorm2d", "ReLU", "ConvTranspose2d", "BatchNorm2d", "ReLU",
                        "ConvTranspose2d", "Tanh"]
    # D: strided convolutions, no BN on the input layer, LeakyReLU(0.2), one logit at the end
    assert kinds(D) == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten", "Linear"]
    assert all(m.stride == (2, 2) for m in model.G.modules() if isinstance(m, nn.ConvTranspose2d))
    assert all(m.stride == (2, 2) for m in model.D.modules() if isinstance(m, nn.Conv2d))
    assert all(m.negative_slope == 0.2 for m in D if isinstance(m, nn.LeakyReLU))
    assert not any("Pool" in type(m).__name__ for m in list(model.G.modules()) + list(model.D.modules()))
    # a layer followed by batch norm has no bias (the normalisation would cancel it)
    assert G[0].bias is None and G[4].bias is None and D[2].bias is None


def test_weights_start_from_n_0_0_02_and_adam_uses_the_papers_settings():
    model = _model(**{k: dcgan.PAPER_HPARAMS[k] for k in ("nz", "ngf", "ndf")})
    w = np.concatenate([m.weight.numpy().ravel() for m in list(model.G.modules()) + list(model.D.modules())
                        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(w.mean()) < 1e-3 and w.std() == pytest.approx(0.02, rel=0.02)
    biases = [m.bias.numpy() for m in list(model.G.modules()) + list(model.D.modules())
              if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None]
    assert biases and all(np.all(b == 0) for b in biases)
    gammas = np.concatenate([m.weight.numpy() for m in model.G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(gammas.mean() - 1) < 0.01 and 0.01 < gammas.std() < 0.03
    for opt in (model.opt_G, model.opt_D):
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)
    spec = get_model("dcgan")
    assert spec.default_hparams["batch_size"] == 128 and spec.default_hparams["k"] == 1
    assert spec.default_hparams["prior"] == "uniform" and spec.default_dataset == "digits"


def test_the_uniform_prior_is_u_minus_1_1_and_the_normal_one_standard():
    tinygen.manual_seed(0)
    u = dcgan.sample_prior(20_000, 5, "uniform").numpy()
    assert u.min() >= -1 and u.max() < 1 and abs(u.mean()) < 0.02 and u.var() == pytest.approx(1 / 3, rel=0.03)
    g = dcgan.sample_prior(20_000, 5, "normal").numpy()
    assert abs(g.mean()) < 0.03 and g.var() == pytest.approx(1.0, rel=0.03) and g.min() < -3


# --------------------------------------------------------------------------- the two steps
def test_the_discriminator_step_descends_its_loss_and_leaves_the_generator_alone():
    model = _model(lr=1e-3)
    x = dcgan.to_tanh_range(_images(32))
    G_before, D_before = _params(model.G), _params(model.D)
    tinygen.manual_seed(5)
    z = model.sample_z(32)
    before = dcgan.d_loss(model.G, model.D, x, z).item()
    tinygen.manual_seed(5)  # the step draws the same z
    dcgan.discriminator_step(model, x)
    assert _same(_params(model.G), G_before) and not _same(_params(model.D), D_before)
    assert all(p.grad is None for p in model.G.parameters())  # no gradient reached G
    assert all(not state for state in model.opt_G.state)  # G's optimiser never stepped
    assert dcgan.d_loss(model.G, model.D, x, z).item() < before


def test_the_generator_step_descends_its_loss_and_leaves_the_discriminators_parameters_alone():
    model = _model(lr=1e-3)
    dcgan.discriminator_step(model, dcgan.to_tanh_range(_images(32)))  # give D some optimiser state
    G_before, D_before = _params(model.G), _params(model.D)
    opt_D_before = [{k: np.array(v).copy() for k, v in state.items()} for state in model.opt_D.state]
    tinygen.manual_seed(6)
    z = model.sample_z(32)
    before = dcgan.g_loss(model.G, model.D, z).item()
    tinygen.manual_seed(6)
    dcgan.generator_step(model, 32)
    assert _same(_params(model.D), D_before) and not _same(_params(model.G), G_before)
    assert all(p.requires_grad for p in model.D.parameters())  # unfrozen again for its own step
    for state, saved in zip(model.opt_D.state, opt_D_before):
        assert all(np.array_equal(np.array(v), saved[k]) for k, v in state.items())
    assert dcgan.g_loss(model.G, model.D, z).item() < before


def test_the_generator_step_sees_the_discriminator_in_training_mode():
    """D's batch norm normalises the fake minibatch by its own statistics in the generator step."""
    model, twin = _model(seed=1), _model(seed=1)
    twin.load_state_dict(model.state_dict())
    tinygen.manual_seed(7)
    z = twin.sample_z(16)
    in_training_mode = dcgan.g_loss(twin.G, twin.D, z).item()
    twin.D.eval()
    in_eval_mode = dcgan.g_loss(twin.G, twin.D, z).item()
    assert abs(in_training_mode - in_eval_mode) > 1e-3  # the two modes are distinguishable here
    running_mean = model.D[3].running_mean.numpy().copy()
    tinygen.manual_seed(7)
    assert dcgan.generator_step(model, 16) == pytest.approx(in_training_mode, rel=1e-6)
    assert model.D.training
    # the documented side effect: D's (unused) running statistics move, its parameters do not
    assert not np.array_equal(model.D[3].running_mean.numpy(), running_mean)


def test_a_train_step_draws_k_plus_one_minibatches_and_shows_d_the_real_ones_in_tanh_range(monkeypatch):
    model = _model(k=2)
    batches = [(_images(8, seed=i),) for i in range(3)]
    drawn, seen_by_D, asked_of_G = [], [], []
    real_d_step, real_g_step = dcgan.discriminator_step, dcgan.generator_step

    def next_batch():
        drawn.append(len(drawn))
        return batches[len(drawn) - 1]

    monkeypatch.setattr(dcgan, "discriminator_step", lambda m, x: seen_by_D.append(x.numpy()) or real_d_step(m, x))
    monkeypatch.setattr(dcgan, "generator_step", lambda m, n: asked_of_G.append(n) or real_g_step(m, n))
    losses = dcgan.train_step(model, next_batch, 0)
    assert len(drawn) == 3 == get_model("dcgan").cost("batches_per_step", _hparams(k=2))
    assert len(seen_by_D) == 2 and asked_of_G == [8]
    for x, (batch,) in zip(seen_by_D, batches):
        np.testing.assert_allclose(x, 2 * batch - 1, atol=1e-7)  # a fresh batch each, scaled to [-1, 1]
    assert set(losses) == {"loss_D", "loss_G"} and all(np.isfinite(v) for v in losses.values())
    assert model.opt_D.state[0]["step"] == 2 and model.opt_G.state[0]["step"] == 1


def test_a_28x28_model_trains_a_step_on_random_images():
    model = _model(28, nz=8, ngf=8, ndf=8)
    batches = iter([(_images(6, 28, seed=i),) for i in range(2)])
    losses = dcgan.train_step(model, lambda: next(batches), 0)
    assert all(np.isfinite(v) for v in losses.values())
    assert dcgan.sample(model, 3).shape == (3, 1, 28, 28)


# ------------------------------------------------------------------------------- sampling
def test_samples_are_images_in_0_1_each_independent_of_the_others():
    model = _model()
    dcgan.train_step(model, lambda: (_images(16),), 0)  # batch-norm running statistics move off their start
    x = dcgan.sample(model, 10)
    assert x.shape == (10, 1, 8, 8) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    z = model.sample_z(10)
    together = model.generate(z)
    alone = model.generate(z.numpy()[3:4])
    np.testing.assert_allclose(alone[0], together[3], atol=1e-6)  # G in evaluation mode
    with tinygen.no_grad():
        np.testing.assert_allclose(together, (model.G(z).numpy() + 1) / 2, atol=1e-6)


# ---------------------------------------------------------------------- latent-space tools
E1, E2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])


def test_lerp_and_slerp_against_hand_values():
    np.testing.assert_allclose(latent.lerp(np.zeros(2), np.array([2.0, 4.0]), [0.0, 0.25, 1.0]),
                               [[0, 0], [0.5, 1.0], [2.0, 4.0]])
    np.testing.assert_allclose(latent.lerp(E1, E2, 0.5), [0.5, 0.5])
    # a quarter circle: at t the point at angle t * 90 degrees
    np.testing.assert_allclose(latent.slerp(E1, E2, 0.5), [math.sqrt(0.5), math.sqrt(0.5)], atol=1e-15)
    np.testing.assert_allclose(latent.slerp(E1, E2, [1 / 3, 2 / 3]),
                               [[math.sqrt(3) / 2, 0.5], [0.5, math.sqrt(3) / 2]], atol=1e-15)
    # 120 degrees apart: the midpoint bisects the angle, at unit norm
    z1 = np.array([-0.5, math.sqrt(3) / 2])
    np.testing.assert_allclose(latent.slerp(E1, z1, 0.5), [0.5, math.sqrt(3) / 2], atol=1e-15)
    assert latent.slerp(E1, E2, 0.5).shape == (2,) and latent.slerp(E1, E2, [0.5]).shape == (1, 2)


def test_slerp_keeps_unit_vectors_on_the_sphere_and_hits_the_endpoints_exactly():
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=(2, 100))
    u0, u1 = z0 / np.linalg.norm(z0), z1 / np.linalg.norm(z1)
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(np.linalg.norm(latent.slerp(u0, u1, t), axis=1), 1.0, atol=1e-12)
    assert np.linalg.norm(latent.lerp(u0, u1, 0.5)) < 0.8  # the chord cuts inside the sphere
    a, b = rng.uniform(-1, 1, (2, 100)).astype(np.float32)
    for method in (latent.lerp, latent.slerp):
        path = method(a, b, t)
        assert path.dtype == np.float32
        np.testing.assert_array_equal(path[0], a)
        np.testing.assert_array_equal(path[-1], b)
    np.testing.assert_array_equal(latent.interpolate(a, b, 5)[[0, -1]], np.stack([a, b]))


def test_slerp_of_parallel_opposite_or_zero_latents_falls_back_to_lerp():
    z = np.array([0.3, -1.2, 2.0])
    t = np.linspace(0, 1, 7)
    for other in (3 * z, z, -z, np.zeros(3)):
        path = latent.slerp(z, other, t)
        assert np.all(np.isfinite(path))
        np.testing.assert_allclose(path, latent.lerp(z, other, t), atol=1e-15)
    # nearly parallel: slerp is continuous into its lerp limit
    tilt = np.array([0.0, 1e-5, 0.0])
    np.testing.assert_allclose(latent.slerp(z, z + tilt, t), latent.lerp(z, z + tilt, t), atol=1e-9)


def test_the_angle_is_accurate_near_zero_and_near_pi():
    tiny = 1e-9
    assert latent.angle(E1, np.array([math.cos(tiny), math.sin(tiny)])) == pytest.approx(tiny, rel=1e-6)
    assert latent.angle(E1, np.array([-math.cos(tiny), math.sin(tiny)])) == pytest.approx(math.pi - tiny, rel=1e-15)
    assert latent.angle(E1, 5 * E2) == pytest.approx(math.pi / 2)


def test_vector_arithmetic_uses_the_average_of_each_group():
    plus = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0]])  # mean (2, 1)
    minus = np.array([[0.0, 1.0], [0.0, 3.0]])  # mean (0, 2)
    add = np.array([[5.0, 5.0]])  # mean (5, 5)
    np.testing.assert_allclose(latent.average_latents(plus), [2.0, 1.0])
    np.testing.assert_allclose(latent.vector_arithmetic(plus, minus, add), [7.0, 4.0])
    assert latent.vector_arithmetic(plus.astype(np.float32), minus.astype(np.float32),
                                    add.astype(np.float32)).dtype == np.float32


def test_jitter_adds_uniform_noise_of_the_papers_scale():
    tinygen.manual_seed(0)
    z = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    around = latent.jitter(z, 4000)
    assert around.shape == (4000, 3) and around.dtype == np.float32
    noise = around - z
    assert np.abs(noise).max() <= 0.25 and np.abs(noise).max() > 0.24
    np.testing.assert_allclose(noise.mean(0), 0, atol=0.01)


def test_interpolation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="same shape"):
        latent.slerp(np.zeros(2), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="steps"):
        latent.interpolate(E1, E2, 1)
    with pytest.raises(ValueError, match="method"):
        latent.interpolate(E1, E2, 3, method="cubic")
