"""The Wasserstein GAN: a critic in place of a discriminator, kept Lipschitz by clipping its weights.

Arjovsky, Chintala and Bottou (2017), "Wasserstein Generative Adversarial Networks", ICML.

The distance
------------
The original GAN's discriminator, trained to the end, makes the generator minimise a
Jensen-Shannon divergence. When the data and the generator live on low-dimensional manifolds that
do not overlap, that divergence is the constant log 2 and its gradient is zero: the generator gets
no signal where it needs one most. The Earth-Mover (Wasserstein-1) distance

    W(P_r, P_g) = inf_{gamma in Pi(P_r, P_g)} E_{(x, y) ~ gamma} ||x - y||

(the cheapest way to move the mass of P_g onto P_r) stays finite and changes smoothly as P_g
moves, overlapping or not. The infimum over couplings is intractable, but the
Kantorovich-Rubinstein duality turns it into a supremum over 1-Lipschitz functions:

    W(P_r, P_g) = sup_{||f||_L <= 1}  E_{x ~ P_r}[f(x)] - E_{x ~ P_g}[f(x)].

The objective
-------------
The WGAN replaces f by a network f_w, the *critic* (it outputs a real number, a score, not a
probability: there is no sigmoid at its end), and restricts its weights w to a compact set W.
Every f_w is then K-Lipschitz for one K that depends only on W and the architecture, and

    max_{w in W}  E_{x ~ P_r}[f_w(x)] - E_{z ~ p(z)}[f_w(g_theta(z))]                      (1)

is K W(P_r, P_g) up to how well the critic family approximates the supremum. The generator
minimises it; only the second term depends on theta, so the generator's loss is
-E_z[f_w(g_theta(z))]. Its gradient is

    grad_theta = -E_z[grad_theta f_w(g_theta(z))],

which flows through the critic into the generator. As code, both players minimise:

    critic:     L_D = E_z[f_w(g_theta(z))] - E_x[f_w(x)]          (the negative of (1))
    generator:  L_G = -E_z[f_w(g_theta(z))]

The compact set is the box W = [-c, c]^d: after every critic update, each weight (every
parameter of the critic, biases included) is clipped to [-c, c], with c = ``clip_value`` = 0.01.

Why the weights, not the gradients
----------------------------------
Some published WGAN code clips the critic's *gradients* to [-c, c] and leaves the weights alone.
That does not bound the critic's Lipschitz constant. For an MLP critic,
||f_w||_L <= prod_l ||W_l||_2 (the activations are 1-Lipschitz), and clipping every entry of W_l
to [-c, c] gives ||W_l||_2 <= ||W_l||_F <= c sqrt(n_in n_out): a bound on the weights is a bound
on the Lipschitz constant. A bound on the gradients only bounds the size of each *step*; the steps
add up, and after t updates a weight can have moved by t lr c or more (RMSprop rescales the
gradient anyway, so clipping it barely changes the step). The weights drift without limit, the
critic's Lipschitz constant with them, and (1) without the constraint has no maximum (scale f up
and the difference of expectations grows with it): the critic's scores blow up instead of
estimating a distance. ``clip_weights_`` therefore clips ``p.data``, the parameters themselves,
and ``tests/test_wgan.py`` checks every critic weight after every critic step.

The algorithm (Algorithm 1 of the paper), as ``train_step`` follows it
---------------------------------------------------------------------
One iteration, ``step``, is one generator update:

1. Repeat n_critic = 5 times (each time on its own minibatch):
   a. draw m real examples {x^(i)} from the data (``next_batch()``) and m latents z^(i) ~ p(z);
   b. compute L_D = (1/m) sum_i f_w(g_theta(z^(i))) - (1/m) sum_i f_w(x^(i)) and its gradient g_w;
   c. w <- w - RMSprop(w, g_w), learning rate alpha = 5e-5;
   d. w <- clip(w, -c, c).
2. Draw m latents z^(i) ~ p(z) (no data: L_G does not look at it), compute
   L_G = -(1/m) sum_i f_w(g_theta(z^(i))) and its gradient g_theta (through the critic), and
   theta <- theta - RMSprop(theta, g_theta). The critic is not updated in this step.

The paper uses RMSprop rather than Adam: with momentum, training was unstable (the critic's loss
landscape is nonstationary), which is why no momentum is used here either.

The logged ``wasserstein`` is E_x[f_w(x)] - E_z[f_w(g_theta(z))] on the last critic minibatch,
the critic's estimate of K W(P_r, P_g). It should fall (noisily) as the generator improves; it is
an estimate up to the unknown K, so compare it within a run, not across architectures.

The networks
------------
* 2-D data (``ring``, ``grid``): MLPs. The generator maps z ~ N(0, I_2) through ``hidden`` layers
  of Linear, batch norm and ReLU to a point in R^2 (a linear output), like PacGAN's generator for
  these data; the critic maps a point through ``hidden`` ReLU layers to one score (a linear
  output, no sigmoid).
* Images (``digits``, (N, 1, 8, 8) in [0, 1]): DCGAN-like. The generator projects z ~ N(0, I_d)
  to a (2 ch, 2, 2) map and doubles the resolution twice with stride-2 transposed convolutions
  (2 -> 4 -> 8), with batch norm and ReLU between, and ends in a sigmoid so that its pixels lie
  in [0, 1] like the data's. The critic halves the resolution twice with stride-2 convolutions
  (8 -> 4 -> 2) and LeakyReLU(0.2), then one linear layer gives the score.
  ``build`` picks the pair from ``dataset.kind``; ``sample`` runs the generator in eval mode
  (batch norm with its running statistics).

Deviations from the paper
-------------------------
* The critic has no batch norm (the paper's DCGAN critic has it). Without it the critic scores
  each example on its own, so f_w really is a function of x, and the same critic serves the
  WGAN-GP (``wgan_gp.py``), where batch norm would be wrong. The generators keep batch norm, as
  the DCGAN generator does.
* The paper's code trains the critic 100 times per generator step for the first 25 generator
  steps and every 500th; that schedule is not part of Algorithm 1 and is left out: every
  iteration does exactly n_critic critic steps.
* The paper's experiments are on LSUN bedrooms (64x64); the networks here are small MLPs for the
  2-D mixtures (three hidden layers of 128) and a small convolutional pair for 8x8 digits. z is
  2-dimensional for the 2-D data (as in the PacGAN and WGAN-GP toy experiments) and
  64-dimensional for images.
* Losses are averaged over the minibatch, as the expectations in (1) are.
* The generator's step draws no data; it takes its batch size m from the critic's last minibatch,
  so one iteration calls ``next_batch`` n_critic times (``batches_per_step``).
"""
from __future__ import annotations

from typing import Any, Callable

from .. import backend as B
from .. import nn, optim
from ..autograd import Tensor, no_grad
from ..creation import randn
from .registry import ModelSpec, Paper, register
from .state import ModelState

Z_DIM_AUTO = {"2d": 2, "image": 64}  # z's dimension when the hyperparameter z_dim is "auto"


# ------------------------------------------------------------------------------ the networks
def mlp_generator(z_dim: int, hidden: list[int], out_dim: int) -> nn.Sequential:
    """z (N, z_dim) -> Linear, batch norm, ReLU for each ``hidden`` width -> x (N, out_dim), a linear output."""
    sizes = [z_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]  # (N, b)
    layers.append(nn.Linear(sizes[-1], out_dim))  # (N, out_dim)
    return nn.Sequential(*layers)


def mlp_critic(in_dim: int, hidden: list[int]) -> nn.Sequential:
    """x (N, in_dim) -> ReLU layers of the ``hidden`` widths -> f(x) (N, 1): a score, no sigmoid."""
    sizes = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], 1))  # (N, 1)
    return nn.Sequential(*layers)


def _check_image_shape(data_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(data_shape) != 3 or data_shape[1] % 4 or data_shape[2] % 4:
        raise ValueError(f"the convolutional networks need images (c, h, w) with h and w divisible by 4, got "
                         f"data of shape {data_shape}")
    return data_shape  # type: ignore[return-value]


def conv_generator(z_dim: int, data_shape: tuple[int, ...], channels: int) -> nn.Sequential:
    """z (N, z_dim) -> a (2 ch, h/4, w/4) map -> two stride-2 transposed convolutions -> sigmoid."""
    c, h, w = _check_image_shape(data_shape)
    c1, c2 = channels, 2 * channels
    return nn.Sequential(
        nn.Linear(z_dim, c2 * (h // 4) * (w // 4)),  # (N, c2 * h/4 * w/4)
        nn.BatchNorm1d(c2 * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (c2, h // 4, w // 4)),  # (N, c2, h/4, w/4)
        nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),  # (N, c1, h/2, w/2)
        nn.BatchNorm2d(c1), nn.ReLU(),
        nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),  # (N, c, h, w)
        nn.Sigmoid(),  # pixels in [0, 1], like the data
    )


def conv_critic(data_shape: tuple[int, ...], channels: int) -> nn.Sequential:
    """x (N, c, h, w) -> two stride-2 convolutions, LeakyReLU(0.2) -> one linear score (N, 1).

    No batch norm: the score of one image must not depend on the other images of its batch."""
    c, h, w = _check_image_shape(data_shape)
    c1, c2 = channels, 2 * channels
    return nn.Sequential(
        nn.Conv2d(c, c1, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (N, c1, h/2, w/2)
        nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (N, c2, h/4, w/4)
        nn.Flatten(),  # (N, c2 * h/4 * w/4)
        nn.Linear(c2 * (h // 4) * (w // 4), 1),  # (N, 1)
    )


def networks(hparams: dict[str, Any], dataset: Any) -> tuple[nn.Module, nn.Module, int]:
    """(generator, critic, z_dim) for the kind of ``dataset``: MLPs for points, convolutions for images."""
    if dataset.kind not in Z_DIM_AUTO:
        raise ValueError(f"the Wasserstein GANs train on 2-D points or images, got a {dataset.kind!r} data set "
                         f"({dataset.name})")
    data_shape = tuple(dataset.x.shape[1:])
    z_dim = Z_DIM_AUTO[dataset.kind] if hparams["z_dim"] == "auto" else hparams["z_dim"]
    if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
        raise ValueError(f"z_dim must be 'auto' or a positive integer, got {z_dim!r}")
    if dataset.kind == "2d":
        hidden = list(hparams["hidden"])
        return mlp_generator(z_dim, hidden, data_shape[0]), mlp_critic(data_shape[0], hidden), z_dim
    channels = hparams["channels"]
    return conv_generator(z_dim, data_shape, channels), conv_critic(data_shape, channels), z_dim


# -------------------------------------------------------------------------------- the losses
def critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_D = E_z[f(G(z))] - E_x[f(x)]: the negative of the critic's objective (1)."""
    # max_f E_x[f(x)] - E_z[f(G(z))]  ->  minimise E_z[f(G(z))] - E_x[f(x)]
    return fake_scores.mean() - real_scores.mean()


def generator_loss(fake_scores: Tensor) -> Tensor:
    """L_G = -E_z[f(G(z))]: the only term of (1) that depends on the generator."""
    # min_G -E_z[f(G(z))]
    return -fake_scores.mean()


def clip_weights_(critic: nn.Module, clip_value: float) -> None:
    """w <- clip(w, -c, c) for every parameter of the critic, in place (the weights, not the gradients)."""
    for w in critic.parameters():
        xp = B.array_module(w.data)
        xp.clip(w.data, -clip_value, clip_value, out=w.data)


# ---------------------------------------------------------------------------- the algorithm
def critic_step(model: ModelState, x: Any) -> tuple[float, float]:
    """One critic update on the real minibatch ``x`` (steps 1a-1d); returns (L_D, the W estimate)."""
    x_real = Tensor(x)  # (m, *data_shape)
    z = randn(x_real.shape[0], model.z_dim)  # (m, z_dim)
    with no_grad():  # the critic's update does not differentiate through the generator
        x_fake = model.G(z)  # (m, *data_shape)
    loss_D = critic_loss(model.D(x_real), model.D(x_fake))
    model.opt_D.zero_grad()
    loss_D.backward()
    model.opt_D.step()
    # w <- clip(w, -c, c): keeps f_w in a K-Lipschitz family
    clip_weights_(model.D, model.clip_value)
    return loss_D.item(), -loss_D.item()


def generator_step(model: ModelState, m: int) -> float:
    """One generator update on m fresh latents (step 2); the critic's parameters are not touched."""
    z = randn(m, model.z_dim)  # (m, z_dim)
    loss_G = generator_loss(model.D(model.G(z)))
    model.opt_G.zero_grad()
    # grad_theta flows back through the critic; the critic's .grad gets filled too, and the next
    # critic step zeroes it before its own backward pass
    loss_G.backward()
    model.opt_G.step()
    return loss_G.item()


def build(hparams: dict[str, Any], dataset: Any) -> ModelState:
    G, D, z_dim = networks(hparams, dataset)
    model = ModelState(G=G, D=D,
                       opt_G=optim.RMSprop(G.parameters(), lr=hparams["lr"]),
                       opt_D=optim.RMSprop(D.parameters(), lr=hparams["lr"]))
    model.z_dim = z_dim
    model.n_critic = hparams["n_critic"]
    model.clip_value = hparams["clip_value"]
    return model


def train_step(model: ModelState, next_batch: Callable[[], tuple[Any, ...]], step: int) -> dict[str, float]:
    # train the critic n_critic times, each time on a fresh minibatch
    for _ in range(model.n_critic):
        x, = next_batch()
        loss_D, wasserstein = critic_step(model, x)
    # train the generator once, with as many latents as the critic saw examples
    loss_G = generator_step(model, x.shape[0])
    return {"loss_D": loss_D, "loss_G": loss_G, "wasserstein": wasserstein}


def sample(model: ModelState, n: int) -> Any:
    """n samples x = G(z), z ~ N(0, I), as a host float32 array shaped like the data."""
    model.G.eval()  # batch norm (images) from its running statistics
    with no_grad():
        x = model.G(randn(n, model.z_dim)).data
    return B.to_host(x).astype(B.float32)


register(ModelSpec(
    name="wgan",
    paper=Paper("Martin Arjovsky, Soumith Chintala, Leon Bottou", 2017, "Wasserstein Generative Adversarial Networks"),
    default_dataset="ring",
    # the paper's alpha = 5e-5, c = 0.01, m = 64, n_critic = 5; networks and steps are ours
    default_hparams={"lr": 5e-5, "clip_value": 0.01, "n_critic": 5, "batch_size": 64, "steps": 10_000,
                     "z_dim": "auto", "hidden": [128, 128, 128], "channels": 32},
    quick_hparams={"steps": 60, "hidden": [32, 32], "channels": 8, "lr": 1e-3},
    build=build,
    train_step=train_step,
    sample=sample,
    data_kinds=("2d", "image"),
    batches_per_step=lambda h: h["n_critic"],
    summary="Wasserstein GAN: a critic without sigmoid, n_critic RMSprop critic steps per generator step, "
            "every critic weight clipped to [-c, c]",
))
