"""Layers (Modules) and ``nn.functional``."""
from . import functional, init
from .layers import (Dropout, Flatten, Identity, LeakyReLU, Linear, ModuleList, ReLU, Sequential,
                     Sigmoid, Softplus, Tanh, Unflatten)
from .module import Module, Parameter, StateDictError
