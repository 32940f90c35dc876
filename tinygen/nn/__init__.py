"""Layers (Modules) and ``nn.functional``."""
from . import functional, init
from .layers import (Dropout, Flatten, Identity, LeakyReLU, Linear, ModuleList, ReLU, Sequential,
                     Sigmoid, Softplus, Tanh, Unflatten)
from .module import Module, Parameter, StateDictError
from .conv import Conv2d, ConvTranspose2d
from .embedding import Embedding
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AvgPool2d, Dropout2d, MaxPool2d, Upsample
