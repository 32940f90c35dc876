"""WGAN-GP: the Wasserstein GAN with a gradient penalty in place of weight clipping.

Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017), "Improved Training of Wasserstein
GANs", NeurIPS.

Why not clip
------------
The WGAN (``wgan.py``) keeps its critic Lipschitz by clipping every weight to [-c, c]. That works,
but the paper shows what it costs: a critic squeezed into a box of weights pushes them to the
box's corners and becomes a very simple function (on the 8-Gaussians toy, clipped critics learn
little more than a ramp), and c trades vanishing against exploding gradients through deep
critics. The gradient penalty constrains what is actually meant, the critic's slope.

The objective
-------------
A differentiable f is 1-Lipschitz exactly when ||grad_x f(x)||_2 <= 1 everywhere. Moreover, the
optimal critic f* of the Kantorovich-Rubinstein dual has gradient norm exactly 1 on the straight
lines joining points x ~ P_r to their partners y ~ P_g under the optimal coupling (Proposition 1
of the paper). So instead of a hard constraint the paper adds a soft one, enforced where it
matters, on points x_hat drawn uniformly along straight lines between real and generated samples:

    L = E_{x_tilde ~ P_g}[D(x_tilde)] - E_{x ~ P_r}[D(x)]
        + lambda E_{x_hat ~ P_x_hat}[(||grad_x_hat D(x_hat)||_2 - 1)^2],

    x_hat = eps x + (1 - eps) x_tilde,    eps ~ U[0, 1],  one eps per pair,

with lambda = 10. The critic minimises L; the generator minimises -E_z[D(G(z))], as in the WGAN.
Two details decide whether this is the paper's penalty:

* eps is one number per sample, so x_hat lies on the segment from x_tilde to x. A separate eps for
  every coordinate would scatter x_hat over the box spanned by the two points instead.
* the norm is taken per sample, over all of that sample's coordinates (for an image, over every
  pixel of every channel), and then squared-distance-to-1 averaged over the batch. The norm of the
  whole batch's gradient would be one number, about sqrt(m) times larger.

Differentiating the penalty with respect to the critic's weights w differentiates a gradient:
grad_w ||grad_x D_w(x_hat)||. ``gradient_penalty`` therefore asks ``tinygen.grad`` for
grad_x D with ``create_graph=True``, so that this gradient is itself a node of the graph, and the
backward pass of L runs through the backward pass of D (second order). Taken with
``create_graph=False`` (or detached) it would be a constant, and the penalty would move nothing.

The algorithm (Algorithm 1 of the paper), as ``train_step`` follows it
---------------------------------------------------------------------
One iteration, ``step``, is one generator update:

1. Repeat n_critic = 5 times (each time on its own minibatch):
   a. draw m real examples x (``next_batch()``), latents z ~ p(z), and eps ~ U[0, 1] (m of them);
   b. x_tilde = G(z);  x_hat = eps x + (1 - eps) x_tilde;
   c. L = D(x_tilde) - D(x) + lambda (||grad_x_hat D(x_hat)||_2 - 1)^2, averaged over the m;
   d. w <- Adam(grad_w L, alpha = 1e-4, beta1 = 0.5, beta2 = 0.9).
2. Draw m latents z (no data), theta <- Adam(grad_theta -(1/m) sum_i D(G(z_i)), same settings).

(With ``lr_decay="linear"`` both learning rates are first set to alpha (1 - step / steps).)

The logged ``wasserstein`` is E_x[D(x)] - E_z[D(G(z))] on the last critic minibatch: with the
critic close to 1-Lipschitz it estimates W(P_r, P_g) itself, in the data's units.
``gradient_penalty`` is the penalty term (lambda included) of that step.

The networks
------------
Those of ``wgan.py`` (MLPs for the 2-D mixtures, a small DCGAN-like convolutional pair ending in a
sigmoid for the 8x8 digits), with the paper's recommendation for the critic: no batch norm.
Batch norm makes each example's score depend on the rest of its batch, which breaks the penalty
(it constrains the gradient of D with respect to one input alone); the paper suggests layer norm
or nothing, and the critic here uses nothing. The generators keep their batch norm.

lambda and the scale of the data
--------------------------------
The penalty is not scale-free. Stretch the data by a factor s (x -> s x): the Wasserstein term
grows by s, while the penalty, which only compares a slope with 1, does not. Written back in
the original units, training on stretched data is training with lambda / s. lambda = 10 was
tuned on images, where distances between samples are tens of units; on the 2-D mixtures
(the ring has radius 1) the same lambda is a far stiffer constraint, the critic follows the
generator too slowly, and the generator swings around the data instead of settling on it. The
authors' released code for their toy experiments uses lambda = 0.1 ("smaller lambda seems to
help for toy tasks"); pass ``--hparam lambda_gp=0.1`` for the ring and the grid.

Deviations and choices
----------------------
* ||g||_2 is computed as sqrt(sum g^2 + 1e-12): at a point where the gradient is exactly zero
  (possible with ReLU units, all inactive) the derivative of the square root is infinite and
  0 * inf would poison the update with NaN. The shift changes the penalty by less than 1e-12.
* The toy-data networks have three hidden layers of 128 units (the authors' toy code uses 512,
  four times wider and several times slower on a CPU). z is 2-dimensional for 2-D data,
  64-dimensional for images.
* ``lr_decay="linear"`` (off by default, as in Algorithm 1) lowers alpha linearly to 0 over the
  run, alpha_t = alpha (1 - t / T), as the paper does for its CIFAR-10 ResNet: late steps get
  small, so the samples stop jittering around the modes. T is the run's ``steps``; a run resumed
  to a larger total keeps its steps so far but continues on the longer schedule.
* Losses are averaged over the minibatch; the generator's step takes its batch size from the
  critic's last minibatch and draws no data.
"""
from __future__ import annotations

from typing import Any, Callable

from .. import ops as F
from .. import optim
from ..autograd import Tensor, grad, no_grad
from ..creation import rand, randn
from .registry import ModelSpec, Paper, register
from .state import ModelState
from .wgan import critic_loss, generator_step, networks, sample  # step 2, the generator update, is WGAN's

NORM_EPS = 1e-12  # inside the square root of the gradient norm (see the docstring)


# ----------------------------------------------------------------------------- the penalty
def interpolates(x_real: Tensor, x_fake: Tensor) -> Tensor:
    """x_hat = eps x + (1 - eps) x_tilde with one eps ~ U[0, 1] per sample, broadcast over its coordinates."""
    m = x_real.shape[0]
    eps = rand(m, *([1] * (x_real.ndim - 1)), dtype=x_real.dtype, device=x_real.device)  # (m, 1, ...)
    return eps * x_real + (1 - eps) * x_fake  # (m, *data_shape)


def gradient_norms(critic: Callable[[Tensor], Tensor], x_hat: Tensor) -> Tensor:
    """||grad_x D(x_hat_i)||_2 for each sample i, (m,), kept in the graph (create_graph=True)."""
    scores = critic(x_hat)  # (m, 1)
    # D scores each sample on its own, so d(sum_i D(x_hat_i))/d x_hat_j = grad D(x_hat_j)
    g, = grad(scores.sum(), x_hat, create_graph=True)  # (m, *data_shape)
    g = g.reshape(x_hat.shape[0], -1)  # (m, D): one row per sample
    # ||g_i||_2 = sqrt(sum_d g_id^2)   (per sample, over all its coordinates)
    return F.sqrt((g * g).sum(1) + NORM_EPS)  # (m,)


def gradient_penalty(critic: Callable[[Tensor], Tensor], x_hat: Tensor, lambda_gp: float) -> Tensor:
    """lambda E_x_hat[(||grad_x_hat D(x_hat)||_2 - 1)^2], the mean over the m interpolates."""
    if not x_hat.requires_grad:  # a fresh leaf (the critic step's interpolates carry no graph)
        x_hat = x_hat.detach().requires_grad_(True)
    norms = gradient_norms(critic, x_hat)  # (m,)
    # lambda (1/m) sum_i (||g_i|| - 1)^2
    return lambda_gp * ((norms - 1) ** 2).mean()


def critic_objective(D: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor,
                     lambda_gp: float) -> tuple[Tensor, Tensor, Tensor]:
    """(L, the Wasserstein term, the penalty): L = E[D(x_tilde)] - E[D(x)] + lambda E[(||grad D(x_hat)|| - 1)^2]."""
    wasserstein_term = critic_loss(D(x_real), D(x_fake))  # E[D(x_tilde)] - E[D(x)]
    penalty = gradient_penalty(D, interpolates(x_real, x_fake), lambda_gp)
    return wasserstein_term + penalty, wasserstein_term, penalty


# ---------------------------------------------------------------------------- the algorithm
def critic_step(model: ModelState, x: Any) -> tuple[float, float, float]:
    """One critic update on the real minibatch ``x`` (steps 1a-1d); returns (L, W estimate, penalty)."""
    x_real = Tensor(x)  # (m, *data_shape)
    z = randn(x_real.shape[0], model.z_dim)  # (m, z_dim)
    with no_grad():  # the critic's update does not differentiate through the generator
        x_fake = model.G(z)  # (m, *data_shape)
    loss_D, wasserstein_term, penalty = critic_objective(model.D, x_real, x_fake, model.lambda_gp)
    model.opt_D.zero_grad()
    loss_D.backward()  # through grad_x D: second order
    model.opt_D.step()
    return loss_D.item(), -wasserstein_term.item(), penalty.item()


def build(hparams: dict[str, Any], dataset: Any) -> ModelState:
    G, D, z_dim = networks(hparams, dataset)
    betas = (hparams["beta1"], hparams["beta2"])
    model = ModelState(G=G, D=D,
                       opt_G=optim.Adam(G.parameters(), lr=hparams["lr"], betas=betas),
                       opt_D=optim.Adam(D.parameters(), lr=hparams["lr"], betas=betas))
    model.z_dim = z_dim
    model.n_critic = hparams["n_critic"]
    model.lambda_gp = hparams["lambda_gp"]
    model.lr, model.lr_decay, model.total_steps = hparams["lr"], hparams["lr_decay"], hparams["steps"]
    if model.lr_decay not in ("none", "linear"):
        raise ValueError(f"wgan-gp: lr_decay must be 'none' or 'linear', got {model.lr_decay!r}")
    return model


def train_step(model: ModelState, next_batch: Callable[[], tuple[Any, ...]], step: int) -> dict[str, float]:
    if model.lr_decay == "linear":
        # alpha_t = alpha (1 - t / T): down to 0 at the last generator step T
        for optimiser in (model.opt_D, model.opt_G):
            optimiser.lr = model.lr * (1 - step / model.total_steps)
    # train the critic n_critic times, each time on a fresh minibatch
    for _ in range(model.n_critic):
        x, = next_batch()
        loss_D, wasserstein, penalty = critic_step(model, x)
    # train the generator once, with as many latents as the critic saw examples
    loss_G = generator_step(model, x.shape[0])
    return {"loss_D": loss_D, "loss_G": loss_G, "wasserstein": wasserstein, "gradient_penalty": penalty}


register(ModelSpec(
    name="wgan-gp",
    paper=Paper("Ishaan Gulrajani, Faruk Ahmed, Martin Arjovsky, Vincent Dumoulin, Aaron Courville", 2017,
                "Improved Training of Wasserstein GANs"),
    default_dataset="ring",
    # the paper's lambda = 10, n_critic = 5, Adam(1e-4, 0.5, 0.9), m = 64; networks and steps are ours
    default_hparams={"lr": 1e-4, "beta1": 0.5, "beta2": 0.9, "lambda_gp": 10.0, "n_critic": 5,
                     "batch_size": 64, "steps": 10_000, "z_dim": "auto", "hidden": [128, 128, 128],
                     "channels": 32, "lr_decay": "none"},
    quick_hparams={"steps": 60, "hidden": [32, 32], "channels": 8, "lr": 1e-3},
    build=build,
    train_step=train_step,
    sample=sample,
    data_kinds=("2d", "image"),
    batches_per_step=lambda h: h["n_critic"],
    summary="WGAN with a gradient penalty: lambda (||grad D(x_hat)|| - 1)^2 on random interpolates, "
            "Adam(1e-4, 0.5, 0.9), n_critic = 5, no batch norm in the critic",
))
