"""(Lead's placeholder: helper replaces this docstring and builds the GAN model around the two
loss functions below, keeping their names and signatures; dcgan.py and cgan.py import them.)"""
from __future__ import annotations

from ..autograd import Tensor
from ..ops.activation import softplus


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
