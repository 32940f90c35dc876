"""2-D convolution and transposed convolution: im2col, one matrix product, and the adjoint.

PyTorch's conventions throughout: input x (N, C_in, H, W); conv2d weight W (C_out, C_in, k_h, k_w);
conv_transpose2d weight (C_in, C_out, k_h, k_w); stride s and padding p are ints or (h, w) pairs.

    conv2d:            y[n, o, i, j] = b[o] + sum_{c, u, v} W[o, c, u, v] x_pad[n, c, s i + u, s j + v]
                       H_out = floor((H + 2p - k) / s) + 1

The forward is *im2col*: every k_h x k_w window of the padded input becomes one row of a matrix
``cols`` (N H_out W_out, k_h k_w C_in), and then the whole convolution is the single matrix product
``cols @ W_mat``.

A convolution is linear in x, y = A x. Its transpose A^T is the *transposed convolution*:

    conv_transpose2d:  z = col2im(g_mat @ W_mat^T)      H_out = (H - 1) s - 2p + k + output_padding

where col2im adds every entry of a row back onto the input pixel its window read. Because
<A x, g> = <x, A^T g>:

* the input gradient of conv2d is conv_transpose2d of the output gradient (``Conv2d.backward``),
* the input gradient of conv_transpose2d is conv2d of the output gradient
  (``ConvTranspose2d.backward``),
* both weight gradients are one more op, :func:`conv2d_weight` (``gy_mat^T @ cols``), whose own
  backward is again a conv2d and a conv_transpose2d.

So every backward here is made of these three differentiable ops, and second-order gradients (a
WGAN-GP penalty through a convolutional critic) come for free.

The array kernels (im2col, col2im, channels-last layout, processing the batch in chunks and the
memory guard, with their two environment variables) are in tinygen/ops/im2col.py; this file is the
autograd story on top of them.

Deviations from PyTorch: no ``dilation`` or ``groups``; 4-D (batched) input only; zero padding
only in the functional form (``nn.Conv2d(padding_mode=...)`` pads with ``F.pad`` first); no
``padding="same"``.
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import backend as B
from ..autograd import Function, Tensor
# the array kernels; pooling imports Pair and conv2d_output_size from this module
from .im2col import (Pair, column_limits, conv2d_array, conv2d_output_size, conv2d_weight_array,
                     conv_transpose2d_array, conv_transpose2d_output_size)


# ----------------------------------------------------------------------------- sizes and checks
def _pair(value: Any, name: str, where: str) -> Pair:
    """An int or an (h, w) pair of ints, as a pair."""
    if isinstance(value, (int, B.np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, B.np.integer)) and not isinstance(v, bool) for v in value)):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{where}: {name} must be an int or a pair of ints (h, w), got {value!r}")


def conv_params(kernel_size: Any, stride: Any, padding: Any, where: str,
                output_padding: Any = None) -> tuple[Pair, ...]:
    """Validated (kernel, stride, padding[, output_padding]) pairs; ``where`` names the caller."""
    kernel = _pair(kernel_size, "kernel_size", where) if kernel_size is not None else None
    s = _pair(stride, "stride", where)
    p = _pair(padding, "padding", where)
    if kernel is not None and min(kernel) < 1:
        raise ValueError(f"{where}: kernel_size must be positive, got {kernel}")
    if min(s) < 1:
        raise ValueError(f"{where}: stride must be positive, got {s}")
    if min(p) < 0:
        raise ValueError(f"{where}: padding must be non-negative, got {p}")
    if output_padding is None:
        return kernel, s, p
    op = _pair(output_padding, "output_padding", where)
    if min(op) < 0 or op[0] >= s[0] or op[1] >= s[1]:
        raise ValueError(f"{where}: output_padding must be non-negative and smaller than the stride "
                         f"in each dimension, got output_padding {op} with stride {s}")
    return kernel, s, p, op


def _skipped(in_size: Pair, out_size: Pair, kernel: Pair, stride: Pair, padding: Pair) -> Pair:
    """Rows/columns at the bottom/right of the padded input that no window of a conv2d reads
    (when (H + 2p - k) is not a multiple of s): the output_padding that its adjoint needs."""
    return tuple(n + 2 * p - k - (m - 1) * s
                 for n, m, k, s, p in zip(in_size, out_size, kernel, stride, padding))


def _check_4d(x: Tensor, what: str, layout: str, where: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: {what} must be a Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{where}: expected a 4-D {what} {layout}, got shape {x.shape}")


def _check_dtypes(where: str, *tensors: Tensor | None) -> None:
    present = [t for t in tensors if t is not None]
    for t in present:
        if not B.is_float(t.data):
            raise TypeError(f"{where}: expected floating-point tensors, got dtype {t.dtype} "
                            f"(shape {t.shape})")
    if any(t.dtype != present[0].dtype for t in present):
        listing = ", ".join(f"{t.dtype} {t.shape}" for t in present)
        raise TypeError(f"{where}: input, weight and bias must share one dtype, got {listing}; "
                        f"convert with .float() or .double()")


def check_conv2d_input(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Pair,
                       padding: Pair, where: str = "conv2d") -> None:
    """Raise a clear error (naming ``where`` and the shapes) if conv2d cannot apply."""
    _check_4d(x, "input", "(N, C_in, H, W)", where)
    _check_4d(weight, "weight", "(C_out, C_in, kH, kW)", where)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"{where}: the input of shape {x.shape} has {x.shape[1]} channels, but the "
                         f"weight of shape {weight.shape} expects {weight.shape[1]} (weight.shape[1])")
    kernel = weight.shape[2:]
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(f"{where}: kernel size {tuple(kernel)} is larger than the padded input size "
                         f"{padded} (input shape {x.shape}, padding {padding})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{where}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    _check_dtypes(where, x, weight, bias)
    # a malformed TINYGEN_CONV_* environment variable is reported here, before the Function runs
    column_limits(where)


def check_conv_transpose2d_input(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Pair,
                                 padding: Pair, output_padding: Pair,
                                 where: str = "conv_transpose2d") -> None:
    """Raise a clear error (naming ``where`` and the shapes) if conv_transpose2d cannot apply."""
    _check_4d(x, "input", "(N, C_in, H, W)", where)
    _check_4d(weight, "weight", "(C_in, C_out, kH, kW)", where)
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"{where}: the input of shape {x.shape} has {x.shape[1]} channels, but the "
                         f"weight of shape {weight.shape} expects {weight.shape[0]} (weight.shape[0])")
    out = conv_transpose2d_output_size(x.shape[2:], weight.shape[2:], stride, padding, output_padding)
    if min(out) < 1:
        raise ValueError(f"{where}: the output size (H - 1) * stride - 2 * padding + kernel + "
                         f"output_padding = {out} is not positive (input shape {x.shape}, weight "
                         f"shape {weight.shape}, stride {stride}, padding {padding}, output_padding "
                         f"{output_padding})")
    if bias is not None and bias.shape != (weight.shape[1],):
        raise ValueError(f"{where}: bias must have shape ({weight.shape[1]},), got {bias.shape}")
    _check_dtypes(where, x, weight, bias)
    column_limits(where)


# ---------------------------------------------------------------------------------- Functions
class Conv2d(Function):
    """y = conv2d(x, W) + b  (see the module docstring for the formula)."""

    def __init__(self, stride: Pair, padding: Pair) -> None:
        self.stride, self.padding = stride, padding

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        return conv2d_array(x, weight, bias, self.stride, self.padding)

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = self.inputs[0], self.inputs[1]
        gx = g_weight = g_bias = None
        if x.requires_grad:
            # dL/dx = A^T dL/dy: the transposed convolution of the output gradient with the same
            # weight; output_padding restores the rows/columns the stride never reached
            skipped = _skipped(x.shape[2:], gy.shape[2:], weight.shape[2:], self.stride, self.padding)
            gx = conv_transpose2d(gy, weight, None, self.stride, self.padding, skipped)
        if weight.requires_grad:
            # dL/dW[o, c, u, v] = sum_{n, i, j} dL/dy[n, o, i, j] x_pad[n, c, s i + u, s j + v]
            g_weight = conv2d_weight(x, weight.shape, gy, self.stride, self.padding)
        if len(self.inputs) == 2:
            return gx, g_weight
        if self.inputs[2].requires_grad:
            # dL/db[o] = sum_{n, i, j} dL/dy[n, o, i, j]
            g_bias = gy.sum((0, 2, 3))
        return gx, g_weight, g_bias


class ConvTranspose2d(Function):
    """z = conv_transpose2d(x, W) + b: the adjoint of conv2d (each input pixel paints a k x k
    patch of W, scaled by its value, onto the output at stride s)."""

    def __init__(self, stride: Pair, padding: Pair, output_padding: Pair) -> None:
        self.stride, self.padding, self.output_padding = stride, padding, output_padding

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        return conv_transpose2d_array(x, weight, bias, self.stride, self.padding, self.output_padding)

    def backward(self, gz: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = self.inputs[0], self.inputs[1]
        gx = g_weight = g_bias = None
        if x.requires_grad:
            # z = A^T x, so dL/dx = A dL/dz: a plain convolution of the output gradient
            gx = conv2d(gz, weight, None, self.stride, self.padding)
        if weight.requires_grad:
            # dL/dW[c, o, u, v] = sum_{n, i, j} x[n, c, i, j] dL/dz_pad[n, o, s i + u, s j + v]:
            # conv2d's weight gradient with the roles of input and output gradient swapped
            g_weight = conv2d_weight(gz, weight.shape, x, self.stride, self.padding)
        if len(self.inputs) == 2:
            return gx, g_weight
        if self.inputs[2].requires_grad:
            g_bias = gz.sum((0, 2, 3))
        return gx, g_weight, g_bias


class Conv2dWeight(Function):
    """gW = conv2d_weight(x, gy): gW[o, c, u, v] = sum_{n, i, j} gy[n, o, i, j] x_pad[n, c, s i + u, s j + v].

    Bilinear in (x, gy), so its backward is two more convolutions.
    """

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Any, gy: Any) -> Any:
        return conv2d_weight_array(x, gy, self.kernel, self.stride, self.padding)

    def backward(self, g_gw: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, gy = self.inputs
        gx = g_gy = None
        if x.requires_grad:
            # d<g_gW, gW>/dx_pad[n, c, s i + u, s j + v] collects g_gW[o, c, u, v] gy[n, o, i, j]:
            # the transposed convolution of gy with g_gW as the weight
            skipped = _skipped(x.shape[2:], gy.shape[2:], self.kernel, self.stride, self.padding)
            gx = conv_transpose2d(gy, g_gw, None, self.stride, self.padding, skipped)
        if gy.requires_grad:
            # d<g_gW, gW>/dgy[n, o, i, j] = sum_{c, u, v} g_gW[o, c, u, v] x_pad[n, c, s i + u, s j + v]
            g_gy = conv2d(x, g_gw, None, self.stride, self.padding)
        return gx, g_gy


# ---------------------------------------------------------------------- functional spellings
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0) -> Tensor:
    """2-D convolution (cross-correlation, as in every deep-learning library) of ``input``
    (N, C_in, H, W) with ``weight`` (C_out, C_in, kH, kW); output (N, C_out, H_out, W_out)."""
    _, s, p = conv_params(None, stride, padding, "conv2d")
    check_conv2d_input(input, weight, bias, s, p, "conv2d")
    fn = Conv2d(s, p)
    return fn(input, weight) if bias is None else fn(input, weight, bias)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0) -> Tensor:
    """Transposed convolution of ``input`` (N, C_in, H, W) with ``weight`` (C_in, C_out, kH, kW),
    the adjoint of :func:`conv2d`; output (N, C_out, (H - 1) s - 2p + kH + output_padding, ...)."""
    _, s, p, op = conv_params(None, stride, padding, "conv_transpose2d", output_padding)
    check_conv_transpose2d_input(input, weight, bias, s, p, op, "conv_transpose2d")
    fn = ConvTranspose2d(s, p, op)
    return fn(input, weight) if bias is None else fn(input, weight, bias)


def conv2d_weight(input: Tensor, weight_size: Sequence[int], grad_output: Tensor,  # noqa: A002
                  stride: Any = 1, padding: Any = 0) -> Tensor:
    """The gradient of conv2d with respect to its weight (``torch.nn.grad.conv2d_weight``):
    input (N, C_in, H, W), grad_output (N, C_out, H_out, W_out) -> (C_out, C_in, kH, kW)."""
    where = "conv2d_weight"
    weight_size = tuple(int(v) for v in weight_size)
    if len(weight_size) != 4:
        raise ValueError(f"{where}: weight_size must be (C_out, C_in, kH, kW), got {weight_size}")
    kernel, s, p = conv_params(weight_size[2:], stride, padding, where)
    _check_4d(input, "input", "(N, C_in, H, W)", where)
    _check_4d(grad_output, "grad_output", "(N, C_out, H_out, W_out)", where)
    expected = (input.shape[0], weight_size[0]) + conv2d_output_size(input.shape[2:], kernel, s, p)
    if input.shape[1] != weight_size[1] or grad_output.shape != expected:
        raise ValueError(f"{where}: input {input.shape} and weight size {weight_size} give an output "
                         f"of shape {expected}, but grad_output has shape {grad_output.shape}")
    _check_dtypes(where, input, grad_output)
    column_limits(where)
    return Conv2dWeight(kernel, s, p)(input, grad_output)
