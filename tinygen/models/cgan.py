"""The conditional GAN: both networks are told the class label.

Mirza and Osindero (2014), "Conditional Generative Adversarial Nets", arXiv:1411.1784.

The objective
-------------
Give the GAN's generator and discriminator an extra input y, here the class label, and play the
same game on the joint distribution of (x, y):

    min_G max_D V(D, G) = E_{(x, y) ~ p_data}[log D(x | y)] + E_{z ~ p_z, y ~ p(y)}[log(1 - D(G(z | y) | y))].

D now judges pairs: a real image paired with its own label against a generated image paired with
the label it was generated for. A G that ignores y loses to a D that checks whether image and
label agree, so at the game's fixed point G(z | y) follows p_data(x | y): asking for a 3 gives a 3.
As in ``dcgan.py``, D minimises L_D = -V and G the non-saturating L_G = -E[log D(G(z | y) | y)],
from D's logits (``gan.discriminator_loss``, ``gan.generator_loss``).

How the label enters each network
---------------------------------
* The generator: a learned embedding e_G(y) in R^nz (one vector per class) multiplies the noise
  elementwise, and the product goes through DCGAN's generator:

      G(z | y) = G_DCGAN(z * e_G(y))                                   (N, nz) -> (N, c, h, w)

  Multiplying (rather than adding or concatenating) lets each class rescale, silence or flip every
  latent direction: the class chooses how the noise is read.
* The discriminator, for images: a learned embedding e_D(y) in R^(h w), reshaped to one (h, w)
  channel, is stacked onto the image as an extra channel, and DCGAN's discriminator (with c + 1
  input channels) sees both from its first convolution on:

      D(x | y) = D_DCGAN([x ; reshape(e_D(y), (1, h, w))])             (N, c + 1, h, w) -> (N, 1)

* For points and binary vectors (the 2-D toys, binary digits): G is an MLP on z * e_G(y), and
  e_D(y) in R^(n_classes) is concatenated to the features x before D's first layer.

The algorithm (one ``train_step``, k = 1)
-----------------------------------------
1. For each of k discriminator steps, on a fresh minibatch:
   a. draw real pairs (x_i, y_i), i = 1..m, and scale images to [-1, 1] (x <- 2x - 1);
   b. draw z_1..z_m ~ p_z and make fakes G(z_i | y_i) for the *same* labels y_i (so the labels of
      the fakes follow p(y), the data's label frequencies), with G held fixed;
   c. L_D = -(1/m) sum_i [log D(x_i | y_i) + log(1 - D(G(z_i | y_i) | y_i))], the real and the fake
      minibatch through D in separate passes;
   d. one Adam step on D's parameters (the label embedding e_D included).
2. The generator step, on one more minibatch (its labels y_i, i = 1..m), with fresh z_i:
   a. L_G = -(1/m) sum_i log D(G(z_i | y_i) | y_i), with D held fixed and in training mode (the
      reasons are in ``dcgan.py``);
   b. one Adam step on G's parameters (e_G included).

Sampling takes the labels: ``sample(model, n, label)`` with ``label`` an (n,) int64 array gives
x_i = (G(z_i | label_i) + 1) / 2 (G in evaluation mode); the platform draws the labels uniformly
when none are asked for and keeps them beside the samples (``samples_labels.npy``).

Deviations and choices
----------------------
* Architecture: the paper's MNIST networks are fully connected. Its generator maps z (100
  uniform values) and y (one-hot) to separate ReLU layers, joins them in a wider ReLU layer and
  ends in sigmoids; its discriminator maps x and y to separate maxout layers and joins them before
  the output, with dropout. Here the networks are DCGAN's (``dcgan.py``: batch norm, strided and
  transposed convolutions, LeakyReLU(0.2), N(0, 0.02) weights), and the label enters as above:
  multiplying z in G, as an image channel in D. The MLP variant (for 2-D points and binary
  vectors) has two hidden layers of ``hidden`` units, ReLU in G and LeakyReLU(0.2) in D, no dropout,
  no maxout, and PyTorch's default initialisation.
* Optimiser: Adam(2e-4, beta1 = 0.5) and minibatches of 128, DCGAN's, instead of the paper's SGD
  with momentum and a decaying learning rate.
* Prior: U(-1, 1)^nz (the paper's noise is uniform on the unit hypercube); ``prior="normal"``
  gives N(0, I).
* Data in [0, 1] (images, binary vectors) is scaled to tanh's range [-1, 1] inside the model and
  mapped back on the way out; 2-D points are left as they are and G's output is linear.
* The label embeddings start from N(0, 1) (PyTorch's ``Embedding``); ``dcgan_init_`` leaves them so.
"""
from __future__ import annotations

from typing import Any, Callable

from .. import backend as B
from .. import nn
from ..autograd import Tensor, no_grad
from ..ops import cat
from .dcgan import (LEAKY_SLOPE, PAPER_HPARAMS, PRIORS, adam, discriminator_net, frozen, from_tanh_range,
                    generator_net, sample_prior, to_tanh_range)
from .gan import discriminator_loss, generator_loss
from .registry import ModelSpec, Paper, register
from .state import ModelState


# --------------------------------------------------------------------------- the networks
class ConditionalGenerator(nn.Module):
    """G(z | y) = net(z * e_G(y)): the label embedding multiplies the noise elementwise."""

    def __init__(self, net: nn.Module, n_classes: int, nz: int) -> None:
        super().__init__()
        self.label_embedding = nn.Embedding(n_classes, nz)  # e_G: one vector in R^nz per class
        self.net = net

    def forward(self, z: Tensor, y: Any) -> Tensor:
        # h = z * e_G(y)                                    (N, nz) * (N, nz) -> (N, nz)
        h = z * self.label_embedding(y)
        return self.net(h)


class ConditionalDiscriminator(nn.Module):
    """D(x | y) = net([x ; e_D(y)]): the label embedding joins x as one more image channel
    (images (c, h, w)) or as more features (vectors (d,))."""

    def __init__(self, net: nn.Module, n_classes: int, data_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        if len(self.data_shape) == 3:
            _, h, w = self.data_shape
            self.label_embedding = nn.Embedding(n_classes, h * w)  # e_D: one h x w picture per class
        else:
            self.label_embedding = nn.Embedding(n_classes, n_classes)  # e_D: n_classes features per class
        self.net = net

    def label_input(self, y: Any) -> Tensor:
        """e_D(y) shaped to join x: (N, 1, h, w) for images, (N, n_classes) for vectors."""
        e = self.label_embedding(y)  # (N, h w) or (N, n_classes)
        if len(self.data_shape) == 3:
            _, h, w = self.data_shape
            return e.reshape(e.shape[0], 1, h, w)  # (N, 1, h, w): a channel the size of the image
        return e

    def forward(self, x: Tensor, y: Any) -> Tensor:
        # [x ; e_D(y)] along the channels (images) or the features (vectors)
        return self.net(cat([x, self.label_input(y)], dim=1))


def mlp_generator(nz: int, dim: int, hidden: int, tanh: bool) -> nn.Sequential:
    """z (N, nz) -> (N, dim): two ReLU layers, then linear (points) or tanh (data in [-1, 1])."""
    layers: list[nn.Module] = [nn.Linear(nz, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                               nn.Linear(hidden, dim)]
    return nn.Sequential(*layers, nn.Tanh()) if tanh else nn.Sequential(*layers)


def mlp_discriminator(in_features: int, hidden: int) -> nn.Sequential:
    """[x ; e_D(y)] (N, in_features) -> one logit (N, 1), two LeakyReLU(0.2) layers."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(LEAKY_SLOPE),
                         nn.Linear(hidden, hidden), nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(hidden, 1))


def conditional_nets(hparams: dict[str, Any], data_shape: tuple[int, ...],
                     n_classes: int) -> tuple[ConditionalGenerator, ConditionalDiscriminator]:
    """DCGAN's networks for images (c, h, w); MLPs for vectors (d,): points (linear output) or
    binary vectors (tanh output, the data scaled to [-1, 1])."""
    nz = hparams["nz"]
    if len(data_shape) == 3:
        G_net = nn.init.dcgan_init_(generator_net(nz, data_shape, hparams["ngf"]))
        D_net = nn.init.dcgan_init_(discriminator_net(data_shape, hparams["ndf"], extra_channels=1))
    else:
        dim, = data_shape
        G_net = mlp_generator(nz, dim, hparams["hidden"], tanh=hparams["rescale"])
        D_net = mlp_discriminator(dim + n_classes, hparams["hidden"])
    return ConditionalGenerator(G_net, n_classes, nz), ConditionalDiscriminator(D_net, n_classes, data_shape)


# ------------------------------------------------------------------------------ the losses
def d_loss(G: nn.Module, D: nn.Module, x: Tensor, y: Any, z: Tensor) -> Tensor:
    """L_D = -V(D, G) on real pairs (x_i, y_i) and fakes G(z_i | y_i) for the same labels."""
    fake = G(z, y)  # (m, *data_shape)
    # -V = -(1/m) sum_i [log D(x_i | y_i) + log(1 - D(G(z_i | y_i) | y_i))]
    return discriminator_loss(D(x, y), D(fake, y))


def g_loss(G: nn.Module, D: nn.Module, z: Tensor, y: Any, saturating: bool = False) -> Tensor:
    """L_G = -(1/m) sum_i log D(G(z_i | y_i) | y_i) (non-saturating), or the minimax one."""
    return generator_loss(D(G(z, y), y), saturating)


# ------------------------------------------------------------------------------- the model
class CGAN(ModelState):
    """G(z | y), D(x | y), their Adam optimisers, and the settings the training step reads.
    ``rescale``: the data lies in [0, 1] and G ends in tanh, so x <- 2x - 1 on the way in."""

    def __init__(self, G: ConditionalGenerator, D: ConditionalDiscriminator, hparams: dict[str, Any],
                 n_classes: int, rescale: bool) -> None:
        super().__init__(G=G, D=D, opt_G=adam(G.parameters(), hparams), opt_D=adam(D.parameters(), hparams))
        self.nz, self.prior = hparams["nz"], hparams["prior"]
        self.k, self.saturating = hparams["k"], hparams["saturating"]
        self.n_classes, self.rescale = n_classes, rescale

    def sample_z(self, n: int) -> Tensor:
        return sample_prior(n, self.nz, self.prior)

    def data_in(self, x: Any) -> Tensor:
        """A minibatch as D sees it: [-1, 1] for data in [0, 1], points unchanged."""
        return to_tanh_range(x) if self.rescale else (x if isinstance(x, Tensor) else Tensor(x))

    def generate(self, z: Any, y: Any) -> Any:
        """Data-space samples for latents z (n, nz) and labels y (n,), as an array. Switches G to
        evaluation mode (and leaves it there: the training loop restores the flags after sampling)."""
        self.G.eval()
        with no_grad():
            out = self.G(z if isinstance(z, Tensor) else Tensor(z), y)
        return from_tanh_range(out) if self.rescale else out.data


def discriminator_step(model: CGAN, x: Tensor, y: Any) -> float:
    """One update of D on real pairs (x, y) and fakes generated for the same labels (step 1)."""
    z = model.sample_z(len(x))  # (m, nz)
    with frozen(model.G):  # G fixed
        loss = d_loss(model.G, model.D, x, y, z)
        model.opt_D.zero_grad()
        loss.backward()
    model.opt_D.step()
    return loss.item()


def generator_step(model: CGAN, y: Any) -> float:
    """One update of G on fresh latents for the labels y (m,), through D held fixed (step 2)."""
    z = model.sample_z(len(y))  # (m, nz)
    with frozen(model.D):  # D fixed, in training mode
        loss = g_loss(model.G, model.D, z, y, model.saturating)
        model.opt_G.zero_grad()
        loss.backward()
    model.opt_G.step()
    return loss.item()


# ----------------------------------------------------------------- the platform's interface
def build(hparams: dict[str, Any], dataset: Any) -> CGAN:
    if dataset.n_classes is None or dataset.y is None:
        raise ValueError(f"cgan: needs a labelled dataset, and {dataset.name!r} has no labels")
    if hparams["prior"] not in PRIORS:
        raise ValueError(f"cgan: prior must be one of {PRIORS}, got {hparams['prior']!r}")
    rescale = dataset.kind in ("image", "binary")  # data in [0, 1]: G ends in tanh
    G, D = conditional_nets({**hparams, "rescale": rescale}, tuple(dataset.x.shape[1:]), dataset.n_classes)
    return CGAN(G, D, hparams, dataset.n_classes, rescale)


def train_step(model: CGAN, next_batch: Callable[[], tuple[Any, ...]], step: int) -> dict[str, float]:
    # 1. train the discriminator k times, each on a fresh minibatch of (image, label) pairs
    for _ in range(model.k):
        x, y = next_batch()
        loss_D = discriminator_step(model, model.data_in(x), y)
    # 2. train the generator once, for the labels of one more minibatch
    _, y = next_batch()
    loss_G = generator_step(model, y)
    return {"loss_D": loss_D, "loss_G": loss_G}


def sample(model: CGAN, n: int, label: Any) -> Any:
    """n samples, sample i of class label[i] (an (n,) int64 array): (n, *data_shape), host float32."""
    return B.to_host(model.generate(model.sample_z(n), label)).astype(B.float32)


register(ModelSpec(
    name="cgan",
    paper=Paper("Mehdi Mirza, Simon Osindero", 2014, "Conditional Generative Adversarial Nets"),
    default_dataset="digits",
    # DCGAN's networks and optimiser (see the deviations); the number of steps is ours
    default_hparams={**PAPER_HPARAMS, "hidden": 256, "steps": 3000},
    quick_hparams={"nz": 16, "ngf": 8, "ndf": 8, "hidden": 32, "batch_size": 32, "steps": 30},
    build=build,
    train_step=train_step,
    sample=sample,
    data_kinds=("image", "binary", "2d"),
    uses_labels=True,
    conditions=("label",),
    batches_per_step=lambda h: h["k"] + 1,
    summary="a DCGAN told the class label: e_G(y) multiplies z, e_D(y) joins the image as a channel; "
            "sample with --label",
))
