"""Layers (Modules) and ``nn.functional``."""
from . import functional, init
from .layers import (ELU, GELU, Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ModuleDict,
                     ModuleList, ReLU, Sequential, Sigmoid, SiLU, Softmax, Softplus, Tanh, Unflatten)
from .module import Module, Parameter, StateDictError
from .conv import Conv2d, ConvTranspose2d
from .embedding import Embedding
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AvgPool2d, Dropout2d, MaxPool2d, Upsample
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, KLDivLoss, L1Loss,
                   MSELoss, NLLLoss)
from . import utils  # noqa: E402  (nn.utils.clip_grad_norm_, ...)
