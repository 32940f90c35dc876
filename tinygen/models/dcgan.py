"""DCGAN: a GAN whose two networks are all-convolutional, with batch norm.

Radford, Metz and Chintala (2016), "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016.

The objective
-------------
DCGAN keeps the GAN game of Goodfellow et al. (2014): a generator G maps noise z ~ p_z to an
image, a discriminator D maps an image to the probability that it is real, and

    min_G max_D V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p_z}[log(1 - D(G(z)))].

D is trained to maximise V, i.e. to minimise L_D = -V. G is trained with the non-saturating
loss L_G = -E_z[log D(G(z))], which has the same fixed point as minimising V but strong gradients
while D still rejects G's samples easily (Goodfellow et al., section 3). D outputs a logit a and
D(x) = sigmoid(a); both losses are computed from the logits (``gan.discriminator_loss`` and
``gan.generator_loss``, with log sigmoid(a) = -softplus(-a)).

What the paper adds is an architecture that trains stably (its section 3):

* no pooling: D downsamples with strided convolutions, G upsamples with fractionally strided
  (transposed) convolutions;
* batch norm in both networks, except at G's output and at D's input;
* no fully connected hidden layers: G's first layer is a matrix multiplication of z whose result
  is reshaped into the first feature map, and D's last feature map is flattened into one output;
* ReLU in G, tanh at its output; LeakyReLU with slope 0.2 in D;
* weights from N(0, 0.02); Adam with learning rate 2e-4 and beta1 = 0.5 (0.9 oscillated);
  minibatches of 128; images scaled to tanh's range [-1, 1], no other preprocessing.

For images of h x w (h and w divisible by 4: the 8x8 digits, 28x28 MNIST), with ngf and ndf
setting the widths:

    G: z (N, nz) -> Linear -> reshape (N, 2 ngf, h/4, w/4) -> BN -> ReLU
         -> ConvT(2 ngf, ngf, 4, stride 2, pad 1) -> BN -> ReLU            (N, ngf, h/2, w/2)
         -> ConvT(ngf, c, 4, stride 2, pad 1) -> tanh                      (N, c, h, w)
    D: x (N, c, h, w) -> Conv(c, ndf, 4, stride 2, pad 1) -> LeakyReLU(0.2)   (N, ndf, h/2, w/2)
         -> Conv(ndf, 2 ndf, 4, stride 2, pad 1) -> BN -> LeakyReLU(0.2)     (N, 2 ndf, h/4, w/4)
         -> flatten -> Linear -> one logit                                  (N, 1)

The algorithm (one ``train_step``, k = 1 as in the paper)
--------------------------------------------------------
1. For each of k discriminator steps, on a fresh minibatch:
   a. draw real images x_1..x_m and scale them to [-1, 1]: x <- 2x - 1;
   b. draw z_1..z_m ~ p_z and make fakes G(z_i), with G held fixed (no gradient reaches it);
   c. L_D = -(1/m) sum_i [log D(x_i) + log(1 - D(G(z_i)))], the real and the fake minibatch
      through D in two separate passes (so each is normalised by its own batch statistics);
   d. one Adam step on D's parameters.
2. The generator step: draw one more minibatch (only its size m is used here; the conditional GAN
   uses its labels), draw fresh z_1..z_m, and
   a. L_G = -(1/m) sum_i log D(G(z_i)), with D held fixed: the gradient flows through D into G,
      and D's parameters get none;
   b. one Adam step on G's parameters.

Batch norm in the generator step. D runs in training mode there, as in its own step: its batch
norm normalises the fake minibatch by that minibatch's statistics, which is the function D was
just trained to be on fake minibatches (step 1c). In evaluation mode it would normalise with its
running averages, a mix of real and fake statistics that D was never trained with. A side effect:
D's running averages are updated in the generator step too. They are never used, since D is never
run in evaluation mode; D's parameters and its optimiser are untouched by the generator step, which
the tests check. ``sample`` runs G in evaluation mode (its running statistics, gathered over
training batches of z), so a sample does not depend on the other samples drawn with it.

The latent-space tools of the paper's section 6 (interpolation, vector arithmetic) are in
``tinygen/models/latent.py``; ``DCGAN.sample_z`` and ``DCGAN.generate`` give the latents and their
images.

Deviations and choices
----------------------
* Sizes: the paper's generator goes from 4x4x1024 to 64x64x3 in four transposed convolutions.
  For 8x8 and 28x28 images two stages are enough (2x2 -> 4x4 -> 8x8, 7x7 -> 14x14 -> 28x28), with
  ngf = ndf = 64 (128 and 64 channels), and D mirrors them.
* Data: tinygen's images lie in [0, 1]; the model scales them to [-1, 1] on the way in (the
  paper's own preprocessing) and maps G's tanh outputs back with (x + 1) / 2 on the way out, so
  the paper's tanh output layer is kept.
* The prior: the paper draws z from a uniform distribution (U(-1, 1)^100 here, ``prior="uniform"``);
  ``prior="normal"`` gives N(0, I) instead.
* The paper does not say which generator loss it uses; the non-saturating one is the usual choice
  (``saturating=True`` gives the minimax one).
* Layers followed by batch norm have no bias: the normalisation subtracts the batch mean, which
  would cancel it (its gradient is exactly zero). The other biases start at 0.
* Initialisation (``nn.init.dcgan_init_``): weights from N(0, 0.02) as in the paper; batch norm's
  gamma from N(1, 0.02) and beta = 0, which the paper does not specify (PyTorch's DCGAN example).
* The number of steps is ours, sized to the 1,437 training digits (see ``default_hparams``).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from .. import backend as B
from .. import nn, optim
from ..autograd import Tensor, no_grad
from ..creation import rand, randn
from .gan import discriminator_loss, generator_loss
from .registry import ModelSpec, Paper, register
from .state import ModelState

LEAKY_SLOPE = 0.2  # the paper's LeakyReLU slope in D
PRIORS = ("uniform", "normal")


# --------------------------------------------------------------------------- the networks
def _check_image_shape(image_shape: tuple[int, ...], where: str) -> tuple[int, int, int]:
    if len(image_shape) != 3 or image_shape[1] % 4 or image_shape[2] % 4:
        raise ValueError(f"{where}: needs images (c, h, w) with h and w divisible by 4, got data of shape "
                         f"{tuple(image_shape)}")
    c, h, w = image_shape
    return c, h, w


def generator_net(nz: int, image_shape: tuple[int, ...], ngf: int = 64) -> nn.Sequential:
    """G: z (N, nz) -> image (N, c, h, w) in [-1, 1] (see the module docstring)."""
    c, h, w = _check_image_shape(image_shape, "DCGAN generator")
    h0, w0 = h // 4, w // 4
    return nn.Sequential(
        # "project and reshape": one matrix multiplication of z, no hidden fully connected layer
        nn.Linear(nz, 2 * ngf * h0 * w0, bias=False),  # (N, 2 ngf h0 w0)
        nn.Unflatten(1, (2 * ngf, h0, w0)), nn.BatchNorm2d(2 * ngf), nn.ReLU(),  # (N, 2 ngf, h/4, w/4)
        nn.ConvTranspose2d(2 * ngf, ngf, 4, stride=2, padding=1, bias=False),  # (N, ngf, h/2, w/2)
        nn.BatchNorm2d(ngf), nn.ReLU(),
        nn.ConvTranspose2d(ngf, c, 4, stride=2, padding=1),  # (N, c, h, w): no batch norm at the output
        nn.Tanh(),
    )


def discriminator_net(image_shape: tuple[int, ...], ndf: int = 64, extra_channels: int = 0) -> nn.Sequential:
    """D: image (N, c + extra_channels, h, w) -> one logit (N, 1) (see the module docstring).

    ``extra_channels``: channels stacked onto the image before D sees it (the conditional GAN's
    label channel).
    """
    c, h, w = _check_image_shape(image_shape, "DCGAN discriminator")
    return nn.Sequential(
        nn.Conv2d(c + extra_channels, ndf, 4, stride=2, padding=1),  # (N, ndf, h/2, w/2): no BN at the input
        nn.LeakyReLU(LEAKY_SLOPE),
        nn.Conv2d(ndf, 2 * ndf, 4, stride=2, padding=1, bias=False),  # (N, 2 ndf, h/4, w/4)
        nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(LEAKY_SLOPE),
        nn.Flatten(),  # (N, 2 ndf h/4 w/4)
        nn.Linear(2 * ndf * (h // 4) * (w // 4), 1),  # (N, 1): the logit a, D(x) = sigmoid(a)
    )


def adam(params: Any, hparams: dict[str, Any]) -> optim.Adam:
    """The paper's optimiser: Adam(lr, betas=(beta1, beta2)), lr = 2e-4 and beta1 = 0.5 by default."""
    return optim.Adam(params, lr=hparams["lr"], betas=(hparams["beta1"], hparams["beta2"]))


# ----------------------------------------------------------------------- data and noise
def to_tanh_range(x: Any) -> Tensor:
    """Images in [0, 1] -> [-1, 1], the range of G's tanh output: x <- 2x - 1."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return x * 2.0 - 1.0


def from_tanh_range(x: Tensor) -> Any:
    """G's outputs in [-1, 1] -> images in [0, 1]: (x + 1) / 2, as an array."""
    return (x.data + 1.0) / 2.0


def sample_prior(n: int, nz: int, prior: str) -> Tensor:
    """z_1..z_n ~ p_z: U(-1, 1)^nz (the paper's) or N(0, I): (n, nz)."""
    if prior == "uniform":
        # z = 2u - 1, u ~ U[0, 1)
        return rand(n, nz) * 2.0 - 1.0
    if prior == "normal":
        return randn(n, nz)
    raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")


@contextlib.contextmanager
def frozen(net: nn.Module) -> Iterator[nn.Module]:
    """Hold ``net`` fixed while the block runs: its parameters get no gradient (the graph does not
    reach them), though gradients still flow *through* it to its input."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    net.requires_grad_(False)
    try:
        yield net
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


# ------------------------------------------------------------------------------ the losses
def d_loss(G: nn.Module, D: nn.Module, x: Tensor, z: Tensor) -> Tensor:
    """L_D = -V(D, G) on one minibatch: x real images in [-1, 1] (m, c, h, w), z latents (m, nz)."""
    fake = G(z)  # (m, c, h, w)
    # -V = -(1/m) sum_i [log D(x_i) + log(1 - D(G(z_i)))]: the two minibatches in separate passes
    return discriminator_loss(D(x), D(fake))


def g_loss(G: nn.Module, D: nn.Module, z: Tensor, saturating: bool = False) -> Tensor:
    """L_G = -(1/m) sum_i log D(G(z_i)) (non-saturating) or (1/m) sum_i log(1 - D(G(z_i)))."""
    return generator_loss(D(G(z)), saturating)


# ------------------------------------------------------------------------------- the model
class DCGAN(ModelState):
    """G, D, their Adam optimisers, and the settings the training step reads."""

    def __init__(self, G: nn.Module, D: nn.Module, hparams: dict[str, Any]) -> None:
        super().__init__(G=G, D=D, opt_G=adam(G.parameters(), hparams), opt_D=adam(D.parameters(), hparams))
        self.nz, self.prior = hparams["nz"], hparams["prior"]
        self.k, self.saturating = hparams["k"], hparams["saturating"]

    def sample_z(self, n: int) -> Tensor:
        return sample_prior(n, self.nz, self.prior)

    def generate(self, z: Any) -> Any:
        """Images in [0, 1] for given latents (n, nz), as an array. Switches G to evaluation mode
        (and leaves it there: the training loop restores the flags after sampling)."""
        self.G.eval()
        with no_grad():
            return from_tanh_range(self.G(z if isinstance(z, Tensor) else Tensor(z)))


def discriminator_step(model: DCGAN, x: Tensor) -> float:
    """One update of D on a real minibatch x (m, c, h, w) in [-1, 1] and m fresh fakes (step 1)."""
    z = model.sample_z(len(x))  # (m, nz)
    with frozen(model.G):  # G fixed: the fakes carry no graph back into G
        loss = d_loss(model.G, model.D, x, z)
        model.opt_D.zero_grad()
        loss.backward()
    model.opt_D.step()
    return loss.item()


def generator_step(model: DCGAN, m: int) -> float:
    """One update of G on m fresh latents, through D held fixed and in training mode (step 2)."""
    z = model.sample_z(m)  # (m, nz)
    with frozen(model.D):  # D fixed: the gradient passes through it to G(z), none lands on its parameters
        loss = g_loss(model.G, model.D, z, model.saturating)
        model.opt_G.zero_grad()
        loss.backward()
    model.opt_G.step()
    return loss.item()


# ----------------------------------------------------------------- the platform's interface
def build(hparams: dict[str, Any], dataset: Any) -> DCGAN:
    if dataset.kind != "image":
        raise ValueError(f"dcgan: trains on images, got {dataset.kind} data ({dataset.name!r})")
    if hparams["prior"] not in PRIORS:
        raise ValueError(f"dcgan: prior must be one of {PRIORS}, got {hparams['prior']!r}")
    image_shape = tuple(dataset.x.shape[1:])
    G = nn.init.dcgan_init_(generator_net(hparams["nz"], image_shape, hparams["ngf"]))
    D = nn.init.dcgan_init_(discriminator_net(image_shape, hparams["ndf"]))
    return DCGAN(G, D, hparams)


def train_step(model: DCGAN, next_batch: Callable[[], tuple[Any, ...]], step: int) -> dict[str, float]:
    # 1. train the discriminator k times, each on a fresh minibatch
    for _ in range(model.k):
        x, = next_batch()
        loss_D = discriminator_step(model, to_tanh_range(x))
    # 2. train the generator once; its minibatch sets m
    m = len(next_batch()[0])
    loss_G = generator_step(model, m)
    return {"loss_D": loss_D, "loss_G": loss_G}


def sample(model: DCGAN, n: int) -> Any:
    """n images x = (G(z) + 1) / 2, z ~ p_z, G in evaluation mode: (n, c, h, w) in [0, 1]."""
    return B.to_host(model.generate(model.sample_z(n))).astype(B.float32)


PAPER_HPARAMS = {
    "nz": 100, "ngf": 64, "ndf": 64, "prior": "uniform", "k": 1, "saturating": False,
    "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 128,
}

register(ModelSpec(
    name="dcgan",
    paper=Paper("Alec Radford, Luke Metz, Soumith Chintala", 2016,
                "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial Networks"),
    default_dataset="digits",
    # the paper's settings; the number of steps (generator updates) is ours, for the 8x8 digits
    default_hparams={**PAPER_HPARAMS, "steps": 3000},
    quick_hparams={"nz": 16, "ngf": 8, "ndf": 8, "batch_size": 32, "steps": 30},
    build=build,
    train_step=train_step,
    sample=sample,
    data_kinds=("image",),
    batches_per_step=lambda h: h["k"] + 1,
    summary="strided convolutions in D, transposed convolutions in G, batch norm, LeakyReLU(0.2), "
            "N(0, 0.02) weights, Adam(2e-4, beta1 0.5)",
))
