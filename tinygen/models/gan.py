"""The generative adversarial network: a generator and a discriminator trained against each other.

Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville and Bengio (2014),
"Generative Adversarial Nets", NeurIPS 27.

The game
--------
A generator G maps noise z ~ p_z to a point G(z); the distribution of G(z) is p_g. A
discriminator D(x) in (0, 1) is the probability it gives that x came from the data rather than
from G. The two play the minimax game

    min_G max_D V(D, G),     V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p_z}[log(1 - D(G(z)))].

For a fixed G the best discriminator is (the paper's Proposition 1; maximise
p_data(x) log D + p_g(x) log(1 - D) pointwise in D)

    D*_G(x) = p_data(x) / (p_data(x) + p_g(x)),

and with it V(D*_G, G) = -log 4 + 2 JS(p_data || p_g) (Theorem 1): against a perfect
discriminator the generator minimises the Jensen-Shannon divergence, whose minimum p_g = p_data
gives D* = 1/2 everywhere. ``optimal_discriminator`` computes D*, and the demo
``demos/gan_optimal_discriminator.py`` trains a D towards it.

D outputs a logit a(x) and D(x) = sigmoid(a(x)); every loss below is written in the logits
(log sigmoid(a) = -softplus(-a), log(1 - sigmoid(a)) = -softplus(a)), which never takes the log of
a probability that has rounded to 0.

The two generator losses
------------------------
The minimax generator descends E_z[log(1 - D(G(z)))] (``saturating=True``). Early in training,
when D rejects G's samples confidently (D(G(z)) ~ 0, a very negative), this loss is flat: its
derivative in the logit is -sigmoid(a), about 0, so G learns nothing. The paper therefore trains G
to *maximise* E_z[log D(G(z))] instead, i.e. to descend -E_z[log D(G(z))] (``saturating=False``,
the default here, as in PacGAN's toy experiments); its derivative in the logit is
-(1 - sigmoid(a)), about -1 when D rejects G. Both have the same fixed point p_g = p_data.
``demos/gan_vanishing_gradients.py`` measures the generator's gradient under each as D improves.

Algorithm (the paper's Algorithm 1, as ``train_step`` runs it)
--------------------------------------------------------------
For each training iteration (``--steps`` counts these, i.e. generator updates):

1. For k steps (the hyperparameter ``k``; the paper used k = 1):
   a. draw a fresh minibatch of m data points x_1..x_m (one ``next_batch()`` per step) and m
      noise samples z_1..z_m ~ p_z;
   b. compute the fakes G(z_i) with G held fixed (no gradient flows into G);
   c. update D by *ascending* (1/m) sum_i [log D(x_i) + log(1 - D(G(z_i)))], i.e. descending
      ``discriminator_loss`` = -V.
2. Draw m fresh noise samples z_1..z_m (no data: the generator's objective does not involve x).
3. Update G by descending (1/m) sum_i log(1 - D(G(z_i))) (saturating) or
   -(1/m) sum_i log D(G(z_i)) (non-saturating). The gradient flows back *through* D into G, but
   only G's optimiser steps, so D's parameters are unchanged by this update.

Since the generator step draws no minibatch, one iteration draws k minibatches
(``batches_per_step = k``, or k P when packing, below); m is the size of the discriminator's minibatches.

Networks
--------
The paper gives no architecture for its toy experiments; the ones here are PacGAN's for the 2-D
ring and grid (Lin, Khetan, Fanti and Oh, 2018, "PacGAN: The power of two samples in generative
adversarial networks"), the protocol whose published GAN results (ring: 6.3 of 8 modes, 98.2 %
high quality; grid: 17.3 of 25, 94.8 %) we compare with:

* G: z in R^2 ~ N(0, I) -> 4 x [Linear(400, no bias) -> BatchNorm -> ReLU] -> Linear(d).
* D: x in R^d -> 3 x Maxout(200 units, 5 pieces) -> Linear(1), a logit. Maxout units,
  h_j = max_p (W_{jp} x + b_{jp}), are also what the GAN paper's own discriminators used.
* Weights drawn from N(0, 0.02^2), biases 0 (PacGAN's initialisation), BatchNorm's scale 1 and
  shift 0. ``sample`` runs G in eval mode, BatchNorm on its running statistics.

Packing (PacGAN), against mode collapse
---------------------------------------
With ``pack`` = P (default 1, the plain GAN) the discriminator judges P points at once: its input
is P points of one kind, all real or all generated, concatenated into one vector of P d numbers,
D(x_1, ..., x_P). This is Lin et al.'s PacGAN with "degree of packing" P (their m; here m stays
the minibatch size); nothing else changes (the networks widen only D's first layer, the losses
are the same in the packed logits). A generator that covers few modes is easy to catch from P
points, since P samples from a collapsed p_g look alike far more often than P real ones do;
PacGAN proves that packing turns mode collapse into a larger loss for G. As in their code, a
discriminator minibatch holds m packed rows, so one D step reads P data minibatches
(``batches_per_step = k P``) and m P fakes, and G's step makes m P points too. G makes its m P
points in one call, so its BatchNorm statistics are taken over all of them (PacGAN's code
normalises each of its P groups apart); see ``pack_points``.

Deviations from the papers, and choices
---------------------------------------
* Optimiser: Adam with beta1 = 0.8 (PacGAN's toy setting), not the GAN paper's momentum SGD.
  The measurement target is PacGAN's table, and their numbers were obtained with Adam; the GAN
  paper's SGD settings (learning rate, momentum schedule) were tuned for MNIST-sized networks,
  not for a 2-D toy.
* Length and learning rate: PacGAN trains 400 epochs of 100,000 points at batch 100 (400,000
  iterations) with a constant lr of 1e-4. That is hours on one CPU core, so the defaults here
  train for 8,000 iterations (2 % of PacGAN's; about 4-5 minutes on one core) at a larger
  learning rate that decays exponentially, lr_t = lr 2^(-t / lr_half_life), from 1e-3 with a
  half-life of 2,000 iterations (``lr_half_life=null`` keeps it constant). Without the decay the
  samples stay scattered around the modes (fewer "high-quality" ones); the GAN paper's released
  configuration also decays its learning rate exponentially, if far more slowly. The schedule
  depends on the iteration t alone, so a resumed run follows it exactly.
* PacGAN updates D and G at the same time from one minibatch; this file alternates, as the GAN
  paper's Algorithm 1 does (k D-steps, then one G-step on fresh noise).
* The GAN paper's discriminator used dropout, and its generator some sigmoid units; neither is
  used here (PacGAN's networks have neither).
* The data sets are ours (``tinygen.data``): 10,000 training points, not 100,000; the ring and
  grid have PacGAN's centres and standard deviations.
"""
from __future__ import annotations

from typing import Any, Callable

from .. import backend as B
from .. import nn, optim
from ..autograd import Tensor, grad, no_grad
from ..creation import randn
from ..ops.activation import softplus
from ..ops.reduction import max as reduce_max
from ..ops.shape import reshape
from .registry import ModelSpec, Paper, register
from .state import ModelState


# ------------------------------------------------------------------------------------ the losses
def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-V(D, G) for D = sigmoid(logits): the discriminator maximises V, so it minimises this.

    V = E_x[log D(x)] + E_z[log(1 - D(G(z)))], with log sigmoid(a) = -softplus(-a) and
    log(1 - sigmoid(a)) = -softplus(a), so -V = mean softplus(-a_real) + mean softplus(a_fake).
    """
    # -V = -E_x[log D(x)] - E_z[log(1 - D(G(z)))]
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor, saturating: bool = False) -> Tensor:
    """The generator's loss: the minimax one (``saturating=True``) or the non-saturating one.

    saturating:      min_G E_z[log(1 - D(G(z)))]  = -mean softplus(a_fake)
    non-saturating:  min_G -E_z[log D(G(z))]      =  mean softplus(-a_fake)
    """
    if saturating:
        # E_z[log(1 - D(G(z)))]: its gradient vanishes when D confidently rejects G(z)
        return -softplus(fake_logits).mean()
    # -E_z[log D(G(z))]: the same fixed point, strong gradients early in training
    return softplus(-fake_logits).mean()


def value_function(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))], estimated on a minibatch (= -discriminator_loss)."""
    return -discriminator_loss(real_logits, fake_logits)


def optimal_discriminator(p_data: Any, p_g: Any) -> Any:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), from the two densities evaluated at the same points.

    Where both densities are 0 the ratio is undefined; it is returned as 1/2 (any value is optimal
    there, since those x carry no weight in V).
    """
    xp = B.array_module(p_data)
    total = p_data + p_g
    safe = xp.where(total > 0, total, 1.0)
    return xp.where(total > 0, p_data / safe, 0.5)


# ---------------------------------------------------------------------------------- the networks
class Maxout(nn.Module):
    """h_j = max_{p < pieces} (W_{jp} x + b_{jp}), j < out_features (Goodfellow et al., 2013).

    One Linear layer computes the out_features * pieces affine maps; the max takes, for each
    unit, the largest of its pieces. A maxout unit is a learned convex piecewise-linear function.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        a = self.linear(x)  # (N, out * pieces)
        a = reshape(a, (x.shape[0], self.out_features, self.pieces))  # (N, out, pieces)
        return reduce_max(a, 2).values  # (N, out)

    def extra_repr(self) -> str:
        return f"out_features={self.out_features}, pieces={self.pieces}"


def generator_mlp(z_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    """z -> layers x [Linear(hidden, no bias) -> BatchNorm1d -> ReLU] -> Linear(out_dim).

    The hidden Linear layers have no bias: BatchNorm's shift plays its part.
    """
    blocks: list[nn.Module] = []
    width = z_dim
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]  # (N, hidden)
        width = hidden
    blocks.append(nn.Linear(width, out_dim))  # (N, d): a point in data space
    return nn.Sequential(*blocks)


def discriminator_mlp(in_dim: int, hidden: int, layers: int, pieces: int) -> nn.Sequential:
    """x -> layers x Maxout(hidden, pieces) -> Linear(1): the logit a(x), D(x) = sigmoid(a(x))."""
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        blocks.append(Maxout(width, hidden, pieces))  # (N, hidden)
        width = hidden
    blocks.append(nn.Linear(width, 1))  # (N, 1): a logit
    return nn.Sequential(*blocks)


def pack_points(points: Tensor, pack: int) -> Tensor:
    """(m pack, d) points -> (m, pack d) packed rows: rows i pack .. i pack + pack - 1 become row i.

    The points come in random order (shuffled data, independent noise), so consecutive ones form
    an honest draw of ``pack`` independent points. pack = 1 returns the points as they are.
    """
    n, d = points.shape
    if n % pack:
        raise ValueError(f"gan: cannot pack {n} points into groups of {pack}")
    return points if pack == 1 else reshape(points, (n // pack, pack * d))  # (m, pack d)


def init_weights_(net: nn.Module, std: float) -> nn.Module:
    """Every Linear weight from N(0, std^2) and its bias 0 (BatchNorm keeps scale 1, shift 0)."""
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return net


# ------------------------------------------------------------------------------ the two updates
def discriminator_update(D: nn.Module, opt_D: optim.Optimizer, real: Tensor, fake: Tensor) -> float:
    """One step of D up the gradient of V: descend -V = discriminator_loss on real and fake points.

    ``fake`` must not carry a graph back into G (the caller makes it under ``no_grad``), so this
    step cannot move G. Returns the loss -V before the step.
    """
    # -V(D, G) = -(1/m) sum_i [log D(x_i) + log(1 - D(G(z_i)))]
    loss = discriminator_loss(D(real), D(fake))
    opt_D.zero_grad()  # also clears what the last generator step's backward left in D's .grad
    loss.backward()
    opt_D.step()
    return loss.item()


def generator_update(G: nn.Module, D: nn.Module, opt_G: optim.Optimizer, z: Tensor,
                     saturating: bool = False, pack: int = 1) -> float:
    """One step of G down its loss; the gradient flows back through D, but only opt_G steps.

    With ``pack`` > 1, D judges G's points in packed rows of ``pack`` (PacGAN), z holding m pack rows.

    backward fills D's .grad too (D's parameters are on the path from the loss to G); opt_G holds
    G's parameters alone, so D's parameters are left exactly as they were. Returns the loss before
    the step.
    """
    # saturating: (1/m) sum_i log(1 - D(G(z_i)));  non-saturating: -(1/m) sum_i log D(G(z_i))
    loss = generator_loss(D(pack_points(G(z), pack)), saturating)
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()


def train_discriminator(D: nn.Module, opt_D: optim.Optimizer, real: Callable[[], Tensor],
                        fake: Callable[[], Tensor], steps: int) -> list[float]:
    """The inner max_D of the game alone: ``steps`` discriminator updates against a fixed p_g.

    ``real()`` and ``fake()`` return fresh minibatches from p_data and from p_g (G's samples, or
    any known distribution). As steps grow, D approaches D* = p_data / (p_data + p_g) where the
    two distributions have mass. Returns the loss -V of every step.
    """
    return [discriminator_update(D, opt_D, real(), fake()) for _ in range(steps)]


def generator_gradient_norm(G: nn.Module, D: nn.Module, z: Tensor, saturating: bool) -> float:
    """||d loss_G / d theta_G||_2 over all of G's parameters, without changing anything."""
    params = list(G.parameters())
    grads = grad(generator_loss(D(G(z)), saturating), params, allow_unused=True)
    total = sum(float((g.data.astype(B.float64) ** 2).sum()) for g in grads if g is not None)
    return total ** 0.5


# ---------------------------------------------------------------------------------- the model
class GAN(ModelState):
    """G, D and their optimisers; ``k``, ``z_dim``, ``saturating`` and ``pack`` are settings from the hparams."""

    def __init__(self, G: nn.Module, D: nn.Module, opt_G: optim.Optimizer, opt_D: optim.Optimizer,
                 k: int, z_dim: int, saturating: bool, lr: float, lr_half_life: int | None = None,
                 pack: int = 1) -> None:
        super().__init__(G=G, D=D, opt_G=opt_G, opt_D=opt_D)
        self.k, self.z_dim, self.saturating, self.pack = k, z_dim, saturating, pack
        self.lr, self.lr_half_life = lr, lr_half_life

    def learning_rate(self, step: int) -> float:
        """lr_t = lr 2^(-t / half_life) at iteration t (constant when half_life is None).

        A function of the iteration alone, so a resumed run follows the same schedule.
        """
        if self.lr_half_life is None:
            return self.lr
        return self.lr * 0.5 ** (step / self.lr_half_life)

    def noise(self, m: int) -> Tensor:
        """z_1..z_m ~ p_z = N(0, I), shape (m, z_dim)."""
        return randn(m, self.z_dim)


def _check_hparams(hparams: dict[str, Any]) -> None:
    for key in ("k", "pack", "z_dim", "g_hidden", "g_layers", "d_hidden", "d_layers", "maxout_pieces"):
        value = hparams[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"gan: {key} must be a positive integer, got {value!r}")
    half_life = hparams["lr_half_life"]
    if half_life is not None and (isinstance(half_life, bool) or not isinstance(half_life, int) or half_life < 1):
        raise ValueError(f"gan: lr_half_life must be a positive integer or null, got {half_life!r}")
    if not isinstance(hparams["saturating"], bool):
        raise ValueError(f"gan: saturating must be true or false, got {hparams['saturating']!r}")


def build(hparams: dict[str, Any], dataset: Any) -> GAN:
    _check_hparams(hparams)
    d = int(B.np.prod(dataset.x.shape[1:]))  # 2 for the plane, 1 for the line
    G = init_weights_(generator_mlp(hparams["z_dim"], hparams["g_hidden"], hparams["g_layers"], d),
                      hparams["init_std"])
    # D reads pack points concatenated: (N, pack d)
    D = init_weights_(discriminator_mlp(d * hparams["pack"], hparams["d_hidden"], hparams["d_layers"], hparams["maxout_pieces"]),
                      hparams["init_std"])
    betas = (hparams["beta1"], hparams["beta2"])
    return GAN(G, D, optim.Adam(G.parameters(), lr=hparams["lr"], betas=betas),
               optim.Adam(D.parameters(), lr=hparams["lr"], betas=betas),
               k=hparams["k"], z_dim=hparams["z_dim"], saturating=hparams["saturating"], lr=hparams["lr"],
               lr_half_life=hparams["lr_half_life"], pack=hparams["pack"])


def train_step(model: GAN, next_batch: Callable[[], tuple[Any, ...]], step: int) -> dict[str, float]:
    """One iteration of Algorithm 1: k discriminator steps, each on its own minibatch, then one
    generator step on fresh noise. With ``pack`` > 1 each step reads ``pack`` minibatches and D
    judges packed rows of ``pack`` points (PacGAN)."""
    # both optimisers at lr_t for this iteration (the schedule is in the docstring's deviations)
    model.opt_D.lr = model.opt_G.lr = model.learning_rate(step)
    pack = model.pack
    # 1. train the discriminator k times, each time on a fresh minibatch (pack of them when packing)
    for _ in range(model.k):
        x = B.xp.concatenate([b.reshape(len(b), -1) for b, in (next_batch() for _ in range(pack))])
        n = len(x)  # m pack points
        real = pack_points(Tensor(x), pack)  # (m, pack d)
        with no_grad():  # G is held fixed while D learns
            fake = pack_points(model.G(model.noise(n)), pack)  # (m, pack d)
        loss_D = discriminator_update(model.D, model.opt_D, real, fake)
    # 2.-3. train the generator once, on fresh noise; D sees G's points packed as it was trained
    loss_G = generator_update(model.G, model.D, model.opt_G, model.noise(n), model.saturating, pack)
    return {"loss_D": loss_D, "loss_G": loss_G}


def sample(model: GAN, n: int) -> Any:
    """n points G(z), z ~ N(0, I), with BatchNorm on its running statistics (eval mode)."""
    model.G.eval()
    with no_grad():
        x = model.G(model.noise(n)).data
    return B.to_host(x).astype(B.float32)


register(ModelSpec(
    name="gan",
    paper=Paper("Ian J. Goodfellow, Jean Pouget-Abadie, Mehdi Mirza, Bing Xu, David Warde-Farley, Sherjil Ozair, "
                "Aaron Courville, Yoshua Bengio", 2014, "Generative Adversarial Nets"),
    default_dataset="ring",
    # k = 1 as in the paper's experiments; networks, initialisation, batch 100, Adam's beta1 = 0.8 and
    # the non-saturating loss as in PacGAN's toy experiments; lr and steps are ours (see the docstring)
    default_hparams={"k": 1, "pack": 1, "saturating": False, "z_dim": 2, "g_hidden": 400, "g_layers": 4, "d_hidden": 200,
                     "d_layers": 3, "maxout_pieces": 5, "init_std": 0.02, "lr": 1e-3, "lr_half_life": 2000,
                     "beta1": 0.8, "beta2": 0.999, "batch_size": 100, "steps": 8000},
    quick_hparams={"g_hidden": 64, "g_layers": 2, "d_hidden": 32, "d_layers": 2, "steps": 100},
    build=build,
    train_step=train_step,
    sample=sample,
    data_kinds=("2d", "1d"),
    batches_per_step=lambda h: h["k"] * h["pack"],
    summary="MLP generator and maxout discriminator; k discriminator steps then one generator step, "
            "non-saturating (default) or minimax generator loss; pack=m for PacGAN",
))
