"""Convolution layers: ``Conv2d`` and ``ConvTranspose2d``, thin Modules around ``F.conv2d`` and
``F.conv_transpose2d`` (tinygen/ops/conv.py, where the adjoint lives; the im2col kernels are in
tinygen/ops/im2col.py).

Parameter names, shapes and default initialisation are PyTorch's, so a state_dict maps one-to-one:
``weight`` (out, in, kH, kW) for Conv2d, (in, out, kH, kW) for ConvTranspose2d, ``bias`` (out,);
both drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.shape[1] * kH * kW.
No ``dilation`` or ``groups``.
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import backend as B
from ..autograd import Tensor
from ..ops import conv as C
from ..ops.pooling import pad
from .init import default_layer_init_
from .module import Module, Parameter

_PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _positive_int(value: Any, name: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return value


class _Conv(Module):
    """What Conv2d and ConvTranspose2d share: arguments, parameters, initialisation, printing."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, bias: bool, weight_shape: Sequence[int], dtype: Any,
                 device: str | None) -> None:
        super().__init__()
        where = type(self).__name__
        self.in_channels = _positive_int(in_channels, "in_channels", where)
        self.out_channels = _positive_int(out_channels, "out_channels", where)
        self.kernel_size, self.stride, self.padding = C.conv_params(kernel_size, stride, padding, where)
        xp = B.module_for(device or B.default_device())
        dtype = dtype or B.float32
        self.weight = Parameter(xp.empty(tuple(weight_shape) + self.kernel_size, dtype=dtype))
        self.bias = Parameter(xp.empty((out_channels,), dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        default_layer_init_(self.weight, self.bias)

    def describe(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_Conv):
    """y = conv2d(x, weight) + bias for x (N, in_channels, H, W).

    ``padding_mode`` ("zeros", "reflect", "replicate", "circular") as in PyTorch: non-zero modes
    pad with ``F.pad`` and then convolve without padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, bias: bool = True, padding_mode: str = "zeros",
                 dtype: Any = None, device: str | None = None) -> None:
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {list(_PADDING_MODES)}, got {padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias,
                         (out_channels, in_channels), dtype, device)
        self.padding_mode = padding_mode

    def forward(self, x: Tensor) -> Tensor:
        C.check_conv2d_input(x, self.weight, self.bias, self.stride, self.padding, self.describe())
        padding = self.padding
        if self.padding_mode != "zeros" and padding != (0, 0):
            ph, pw = padding
            x = pad(x, (pw, pw, ph, ph), mode=_PADDING_MODES[self.padding_mode])
            padding = (0, 0)
        return C.conv2d(x, self.weight, self.bias, self.stride, padding)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (f", padding_mode={self.padding_mode}" if self.padding_mode != "zeros" else "")


class ConvTranspose2d(_Conv):
    """z = conv_transpose2d(x, weight) + bias for x (N, in_channels, H, W): the adjoint of a
    Conv2d with the same arguments, H_out = (H - 1) stride - 2 padding + kernel + output_padding.

    ``forward(x, output_size)`` picks the output_padding that gives ``output_size``, as in PyTorch.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, bias: bool = True,
                 dtype: Any = None, device: str | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias,
                         (in_channels, out_channels), dtype, device)
        self.output_padding = C.conv_params(kernel_size, stride, padding, "ConvTranspose2d",
                                            output_padding)[3]

    def _output_padding(self, x: Tensor, output_size: Sequence[int] | None) -> tuple[int, int]:
        if output_size is None:
            return self.output_padding
        size = tuple(int(v) for v in output_size)[-2:]
        smallest = C.conv_transpose2d_output_size(x.shape[2:], self.kernel_size, self.stride,
                                                  self.padding, (0, 0))
        op = tuple(want - low for want, low in zip(size, smallest))
        if len(size) != 2 or any(not 0 <= o < s for o, s in zip(op, self.stride)):
            raise ValueError(f"{self.describe()}: output_size {tuple(output_size)} is not reachable from "
                             f"input shape {x.shape}: the output can be from {smallest} to "
                             f"{tuple(low + s - 1 for low, s in zip(smallest, self.stride))}")
        return op

    def forward(self, x: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        C.check_conv_transpose2d_input(x, self.weight, self.bias, self.stride, self.padding,
                                       self.output_padding, self.describe())
        op = self._output_padding(x, output_size)
        return C.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, op)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (f", output_padding={self.output_padding}" if self.output_padding != (0, 0) else "")
