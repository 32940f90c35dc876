"""Weight initialisation, in place, with PyTorch's names and formulas.

PyTorch's default for ``Linear`` (and convolutions) is ``kaiming_uniform_(w, a=sqrt(5))``, which
works out to U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound. tinygen uses the
same, so a freshly built model has the same distribution of weights as its PyTorch twin.
"""
from __future__ import annotations

import math
from typing import Any

from .. import backend as B
from ..autograd import Tensor


def _fill(t: Tensor, array: Any) -> Tensor:
    t.data = B.module_for(t.device).asarray(array).astype(t.dtype, copy=False).reshape(t.shape)
    return t


def fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    """fan_in = in_features * receptive field, fan_out = out_features * receptive field."""
    if t.ndim < 2:
        raise ValueError(f"fan in/out needs a tensor with at least 2 dims, got shape {t.shape}")
    receptive = 1
    for s in t.shape[2:]:
        receptive *= s
    return t.shape[1] * receptive, t.shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    if nonlinearity in ("linear", "sigmoid", "conv2d", "conv_transpose2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    return _fill(t, B.uniform(a, b, t.shape, t.dtype, t.device))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(t, mean + std * B.randn(t.shape, t.dtype, t.device))


def constant_(t: Tensor, value: float) -> Tensor:
    return _fill(t, B.module_for(t.device).full(t.shape, value, dtype=t.dtype))


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    # bound = gain * sqrt(3 / fan)
    fan_in, fan_out = fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    # bound = gain * sqrt(6 / (fan_in + fan_out))
    fan_in, fan_out = fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def default_layer_init_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default for Linear and convolutions: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)


# The layers are named rather than imported: they are defined in files that import this one.
# (PyTorch's DCGAN example picks its layers by class name too.) A subclass counts as its base.
_WEIGHT_LAYERS = ("Conv2d", "ConvTranspose2d", "Linear")
_BATCH_NORMS = ("BatchNorm1d", "BatchNorm2d")


def _is_a(module: Any, class_names: tuple[str, ...]) -> bool:
    return any(cls.__name__ in class_names and cls.__module__.startswith("tinygen.nn")
               for cls in type(module).__mro__)


def dcgan_init_(module: Any) -> Any:
    """DCGAN's initialisation, in place, of ``module`` and every module inside it.

    * Convolution, transposed convolution and linear weights ~ N(0, 0.02). This is all the DCGAN
      paper (Radford et al., 2016, section 4) gives: every weight from a zero-centred normal with
      standard deviation 0.02.
    * Batch-norm gamma ~ N(1, 0.02) and beta = 0. Not in the paper: this comes from the common
      PyTorch DCGAN example (pytorch/examples, ``dcgan/main.py``, ``weights_init``).
    * Convolution and linear biases = 0. That example builds its convolutions without a bias, so a
      zero bias starts each layer as it starts there.

    Call it once on the whole model, ``dcgan_init_(model)``: it visits each module once. Under
    ``model.apply(dcgan_init_)`` it still gives these distributions, but ``apply`` calls it on every
    module and each call walks that module's whole subtree, so a layer inside d enclosing modules
    is drawn d + 1 times (the root's call draws last), spending d extra draws of the random stream.
    """
    for m in module.modules():
        if _is_a(m, _WEIGHT_LAYERS):
            normal_(m.weight, 0.0, 0.02)
        elif _is_a(m, _BATCH_NORMS) and m.weight is not None:
            normal_(m.weight, 1.0, 0.02)
        else:
            continue
        if m.bias is not None:
            zeros_(m.bias)
    return module
