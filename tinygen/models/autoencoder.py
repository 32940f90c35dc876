"""An autoencoder, turned into a (weak) generator by a Gaussian fitted to its codes.

Hinton and Salakhutdinov (2006), "Reducing the Dimensionality of Data with Neural Networks",
Science 313(5786).

The model
---------
An encoder f_phi maps a data point x in R^D to a code z = f_phi(x) in R^d with d << D; a
decoder g_theta maps the code back, x_hat = g_theta(z). Both are trained together to make the
reconstruction match the input. For data in [0, 1] (pixel intensities, binary patterns) the
paper's loss is the cross-entropy between the pixels and the decoder's outputs, read as
probabilities:

    L(phi, theta) = -(1/ND) sum_n sum_i [ x_ni log sigma(a_ni) + (1 - x_ni) log(1 - sigma(a_ni)) ],
    a_n = g_theta(f_phi(x_n))                      (the decoder outputs logits a)

computed stably from the logits (``binary_cross_entropy_with_logits``). Why this loss and not
the squared error on pixels: it is the paper's; and behind a sigmoid output the squared error's
gradient carries the factor sigma'(a), which vanishes when a pixel saturates at the wrong value,
while the cross-entropy's gradient sigma(a) - x does not. For real-valued data (the 2-D and
1-D toys) the decoder output is linear and the loss is the mean squared error
L = (1/ND) sum ||x_n - x_hat_n||^2. ``loss="auto"`` picks by the kind of data.

Two architectures:

* ``"mlp"``: the paper's shape, D -> 1000 -> 500 -> 250 -> d=30 and back, with a linear code
  layer (``hidden`` and ``latent_dim`` set the sizes).
* ``"conv"``: two stride-2 convolutions down and two stride-2 transposed convolutions up,
  around a linear code layer, for images whose height and width divide by 4 (8x8, 28x28).

The generator
-------------
An autoencoder has no prior over its codes, so by itself it cannot generate. The usual trick
(and the source material's) fits a Gaussian to the codes of the training set after training,

    mu = (1/N) sum_n z_n,     Sigma = (1/(N-1)) sum_n (z_n - mu)(z_n - mu)^T        (full covariance)

and samples x = sigma(g_theta(z)) with z ~ N(mu, Sigma), drawn as z = mu + V diag(sqrt(lambda)) eps
from the eigendecomposition Sigma = V diag(lambda) V^T (which works for a singular Sigma too).

Why this generator is weak
--------------------------
Nothing in training asked the codes to be Gaussian. The encoder is free to put the ten digit
classes in ten separate clumps, on thin curved sheets, with empty space between them; a single
Gaussian fitted to that set spreads its mass over the gaps. Codes drawn from the gaps were never
decoded during training, and the decoder maps them to blurry blends of several digits or to
shapes that are no digit at all. Reconstructions of real codes look good (the decoder is fine
where it was trained); samples do not. The demo (``demos/autoencoder.py``) puts the two side by
side and measures the gap with the image metrics. The variational autoencoder (Kingma and
Welling, 2014) fixes exactly this by training the codes to fill a known prior.

Deviations from the paper
-------------------------
* No layer-wise RBM pretraining: ReLU hidden units (the paper's are logistic) and Adam (the
  paper fine-tunes with conjugate gradients) train the deep autoencoder from a random start.
* The loss is averaged over pixels and examples, not summed (a constant factor).
* The paper does not sample at all; the Gaussian over codes is the source material's addition.
"""
from __future__ import annotations

from typing import Any, Callable

from .. import backend as B
from .. import nn, optim
from .. import ops as F
from ..autograd import Tensor, no_grad
from .registry import ModelSpec, Paper, register
from .state import ModelState


class Autoencoder(nn.Module):
    """x -> z = encoder(x) -> decoder(z); ``forward`` returns the decoder's raw output (logits
    when the loss is the cross-entropy)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def mlp_autoencoder(data_shape: tuple[int, ...], hidden: list[int], latent_dim: int) -> Autoencoder:
    """D -> hidden[0] -> ... -> latent_dim (linear code) -> ... -> hidden[0] -> D, ReLU between."""
    D = 1
    for s in data_shape:
        D *= s
    sizes = [D, *hidden]
    down: list[nn.Module] = [nn.Flatten()]  # (N, D)
    for a, b in zip(sizes[:-1], sizes[1:]):
        down += [nn.Linear(a, b), nn.ReLU()]
    down.append(nn.Linear(sizes[-1], latent_dim))  # (N, d): the code layer is linear, as in the paper
    up: list[nn.Module] = []
    for a, b in zip([latent_dim, *reversed(hidden)], reversed(sizes)):
        up += [nn.Linear(a, b), nn.ReLU()]
    up.pop()  # the output layer stays linear: logits (cross-entropy) or values (squared error)
    up.append(nn.Unflatten(1, data_shape))  # (N, *data_shape)
    return Autoencoder(nn.Sequential(*down), nn.Sequential(*up))


def conv_autoencoder(data_shape: tuple[int, ...], latent_dim: int, channels: int = 32) -> Autoencoder:
    """Two stride-2 convolutions down, a linear code, two stride-2 transposed convolutions up."""
    if len(data_shape) != 3 or data_shape[1] % 4 or data_shape[2] % 4:
        raise ValueError(f"the convolutional autoencoder needs images (c, h, w) with h and w divisible by 4, "
                         f"got data of shape {data_shape}")
    c, h, w = data_shape
    c1, c2 = channels, 2 * channels
    flat = c2 * (h // 4) * (w // 4)
    encoder = nn.Sequential(
        nn.Conv2d(c, c1, 3, stride=2, padding=1), nn.ReLU(),  # (N, c1, h/2, w/2)
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),  # (N, c2, h/4, w/4)
        nn.Flatten(),  # (N, c2 * h/4 * w/4)
        nn.Linear(flat, latent_dim),  # (N, d)
    )
    decoder = nn.Sequential(
        nn.Linear(latent_dim, flat), nn.ReLU(),  # (N, c2 * h/4 * w/4)
        nn.Unflatten(1, (c2, h // 4, w // 4)),  # (N, c2, h/4, w/4)
        nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # (N, c1, h/2, w/2)
        nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),  # (N, c, h, w): logits or values
    )
    return Autoencoder(encoder, decoder)


class AutoencoderGenerator(ModelState):
    """The autoencoder, its optimiser, and the Gaussian over codes that turns it into a generator.

    Buffers: ``latent_mean`` / ``latent_cov``, the fitted mu and Sigma, and ``latent_step``, the
    training step they were fitted at (``step`` is the current one), so ``sample`` refits them
    when the network has moved on since. ``loss`` ("bce" or "mse") and ``x_train`` (the host
    training set, encoded to fit the Gaussian) come from ``build`` and are not checkpointed.
    """

    def __init__(self, net: Autoencoder, optimizer: optim.Optimizer, loss: str, x_train: Any) -> None:
        super().__init__(net=net, optimizer=optimizer, step=0, latent_mean=None, latent_cov=None, latent_step=-1)
        self.loss = loss
        self.x_train = x_train

    def reconstruction_loss(self, x: Tensor) -> Tensor:
        a = self.net(x)
        if self.loss == "bce":
            # L = -mean[x log sigma(a) + (1 - x) log(1 - sigma(a))]  (the paper's cross-entropy)
            return F.binary_cross_entropy_with_logits(a, x)
        # L = mean (x - x_hat)^2
        return F.mse_loss(a, x)

    def output(self, a: Tensor) -> Tensor:
        """From the decoder's raw output to data space: sigma(a) for the cross-entropy."""
        return F.sigmoid(a) if self.loss == "bce" else a

    def reconstruct(self, x: Any) -> Any:
        """x -> g(f(x)) in data space, as an array (no gradients)."""
        self.net.eval()
        with no_grad():
            return self.output(self.net(Tensor(x))).data

    def encode(self, x: Any, batch_size: int = 512) -> Any:
        """The codes z = f(x) of an array of data points, (N, d), without gradients."""
        self.net.eval()
        device = B.default_device()
        codes = []
        with no_grad():
            for start in range(0, len(x), batch_size):
                chunk = B.to_device(x[start:start + batch_size], device)
                codes.append(self.net.encode(Tensor(chunk)).data)
        return B.array_module(codes[0]).concatenate(codes, axis=0)

    def fit_latent_gaussian(self) -> None:
        """mu and Sigma (full covariance) of the codes of the training set."""
        Z = self.encode(self.x_train).astype(B.float64)  # (N, d)
        N = Z.shape[0]
        # mu = (1/N) sum_n z_n
        self.latent_mean = Z.mean(axis=0)  # (d,)
        centred = Z - self.latent_mean
        # Sigma = (1/(N-1)) sum_n (z_n - mu)(z_n - mu)^T
        self.latent_cov = centred.T @ centred / (N - 1)  # (d, d)
        self.latent_step = self.step

    def sample_latents(self, n: int) -> Any:
        """z ~ N(mu, Sigma) as z = mu + V diag(sqrt(lambda)) eps, eps ~ N(0, I)."""
        xp = B.array_module(self.latent_cov)
        lambdas, V = xp.linalg.eigh(self.latent_cov)  # Sigma = V diag(lambda) V^T
        lambdas = xp.clip(lambdas, 0.0, None)  # round-off can make a zero eigenvalue slightly negative
        d = self.latent_mean.shape[0]
        eps = B.randn((n, d), dtype=B.float64, device=B.device_of(self.latent_cov))  # (n, d)
        return self.latent_mean + (eps * xp.sqrt(lambdas)) @ V.T  # (n, d)

    def sample(self, n: int) -> Any:
        """n samples x = sigma(g(z)), z ~ N(mu, Sigma), as a host float32 array shaped like the data."""
        if self.latent_mean is None and self.x_train is None:
            raise RuntimeError("autoencoder.sample: no Gaussian over the codes has been fitted, and there is no "
                               "training set to fit one to")
        if self.latent_mean is None or (self.latent_step != self.step and self.x_train is not None):
            self.fit_latent_gaussian()
        z = self.sample_latents(n).astype(B.float32)
        self.net.eval()
        with no_grad():
            x = self.output(self.net.decode(Tensor(z))).data
        return B.to_host(x).astype(B.float32)


# ----------------------------------------------------------------- the platform's interface
def build(hparams: dict[str, Any], dataset: Any) -> AutoencoderGenerator:
    data_shape = tuple(dataset.x.shape[1:])
    loss = hparams["loss"]
    if loss == "auto":
        loss = "bce" if dataset.kind in ("image", "binary") else "mse"
    if loss not in ("bce", "mse"):
        raise ValueError(f"autoencoder: loss must be 'auto', 'bce' or 'mse', got {loss!r}")
    if hparams["architecture"] == "mlp":
        net = mlp_autoencoder(data_shape, list(hparams["hidden"]), hparams["latent_dim"])
    elif hparams["architecture"] == "conv":
        net = conv_autoencoder(data_shape, hparams["latent_dim"], hparams["channels"])
    else:
        raise ValueError(f"autoencoder: architecture must be 'mlp' or 'conv', got {hparams['architecture']!r}")
    optimizer = optim.Adam(net.parameters(), lr=hparams["lr"])
    return AutoencoderGenerator(net, optimizer, loss, B.to_host(dataset.x))


def train_step(model: AutoencoderGenerator, next_batch: Callable[[], tuple[Any, ...]],
               step: int) -> dict[str, float]:
    x = Tensor(next_batch()[0])  # (N, *data_shape)
    loss = model.reconstruction_loss(x)
    model.optimizer.zero_grad()
    loss.backward()
    model.optimizer.step()
    model.step = step + 1
    return {"reconstruction": loss.item()}


register(ModelSpec(
    name="autoencoder",
    paper=Paper("Geoffrey E. Hinton, Ruslan R. Salakhutdinov", 2006,
                "Reducing the Dimensionality of Data with Neural Networks"),
    default_dataset="digits",
    # the paper's MNIST autoencoder (784-1000-500-250-30) and its 100-case mini-batches; Adam's lr
    # and the number of steps are ours (the paper fine-tunes with conjugate gradients)
    default_hparams={"architecture": "mlp", "hidden": [1000, 500, 250], "latent_dim": 30, "channels": 32,
                     "loss": "auto", "lr": 1e-3, "batch_size": 100, "steps": 3000},
    quick_hparams={"hidden": [128, 64], "latent_dim": 8, "batch_size": 64, "steps": 400, "lr": 2e-3},
    build=build,
    train_step=train_step,
    sample=lambda model, n: model.sample(n),
    summary="an MLP (or convolutional) autoencoder; samples decode codes drawn from a Gaussian fitted to the "
            "encoded training set",
))
