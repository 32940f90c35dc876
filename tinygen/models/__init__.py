"""The generative models, one file each. Importing this package registers every model in it.

A new model file ends with ``register(ModelSpec(...))`` and gets one import line below; then
``tinygen list``, ``tinygen train NAME`` and the tests reach it like every other model.
"""
from .registry import ModelSpec, Paper, get_model, list_models, register
from .state import ModelState
from . import pca  # noqa: E402,F401  (registers "pca")
from . import autoencoder  # noqa: E402,F401  (registers "autoencoder")
from . import gan  # noqa: E402,F401  (registers "gan")
from . import wgan  # noqa: E402,F401  (registers "wgan")
from . import wgan_gp  # noqa: E402,F401  (registers "wgan-gp")
from . import dcgan  # noqa: E402,F401  (registers "dcgan")
from . import cgan  # noqa: E402,F401  (registers "cgan")

__all__ = ["ModelSpec", "ModelState", "Paper", "get_model", "list_models", "register"]
