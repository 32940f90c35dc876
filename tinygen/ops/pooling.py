"""Pooling, nearest-neighbour upsampling and padding.

Pooling reads the same k_h x k_w windows a convolution does, through a strided view of the
(padded) input, (N, C, H_out, W_out, k_h, k_w), with no loop over pixels (avg pooling sums the
view directly; max pooling copies it once, to take the argmax over each flattened window):

* avg_pool2d averages each window. It is linear, and its adjoint spreads each output gradient
  evenly back over its window (a loop over the k_h k_w kernel offsets, each adding one strided
  slice, as in conv's col2im). The two are each other's backward.
* max_pool2d keeps each window's largest element; its gradient goes to that element only (the
  argmax, as PyTorch does; ties are broken by the first position in the window). The scatter of
  the gradient and the gather at the argmax positions are each other's backward.
* interpolate / upsample (nearest, integer scale) repeats every pixel s_h x s_w times: a
  broadcast, whose gradient sums each block back (``sum_to``).
* pad (PyTorch's pad tuple: last dimension first) adds constant borders; the reflect, replicate
  and circular modes are a gather with index arrays, whose backward scatter-adds.

Deviations from PyTorch: no ``ceil_mode``, ``dilation`` or ``return_indices``; avg_pool2d always
counts padded zeros in the average (PyTorch's default ``count_include_pad=True``); interpolate
supports only mode="nearest" with integer scale factors.
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import backend as B
from ..autograd import Function, Tensor
from .broadcast import broadcast_to
from .conv import Pair, conv2d_output_size, conv_params
from .shape import getitem, reshape


def _windows(x_pad: Any, kernel: Pair, stride: Pair, out_size: Pair) -> Any:
    """A strided view (N, C, H_out, W_out, k_h, k_w) of x_pad (N, C, Hp, Wp): window (i, j)."""
    n, c = x_pad.shape[:2]
    st_n, st_c, st_h, st_w = x_pad.strides
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_size
    return B.as_strided(x_pad, (n, c, ho, wo, kh, kw), (st_n, st_c, sh * st_h, sw * st_w, st_h, st_w))


def _padded(x: Any, padding: Pair, value: float) -> Any:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = B.array_module(x)
    n, c, h, w = x.shape
    out = xp.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _add_windows(g: Any, in_size: Pair, kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """The adjoint of ``_windows``: g (N, C, H_out, W_out, k_h, k_w) added back onto (N, C, H, W)."""
    xp = B.array_module(g)
    n, c, ho, wo, kh, kw = g.shape
    (sh, sw), (ph, pw) = stride, padding
    out = xp.zeros((n, c, in_size[0] + 2 * ph, in_size[1] + 2 * pw), dtype=g.dtype)
    for u in range(kh):  # one strided slice per kernel offset; no pixel repeats inside a slice
        for v in range(kw):
            out[:, :, u:u + sh * (ho - 1) + 1:sh, v:v + sw * (wo - 1) + 1:sw] += g[..., u, v]
    return out[:, :, ph:ph + in_size[0], pw:pw + in_size[1]]


class _Pool:
    """The geometry shared by the pooling Functions."""

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, in_size: Pair) -> None:
        self.kernel, self.stride, self.padding, self.in_size = kernel, stride, padding, in_size
        self.out_size = conv2d_output_size(in_size, kernel, stride, padding)


# ------------------------------------------------------------------------------- avg pooling
class AvgPool2d(Function, _Pool):
    """y[n, c, i, j] = (1 / (k_h k_w)) sum_{u, v} x_pad[n, c, s i + u, s j + v]"""

    def forward(self, x: Any) -> Any:
        kh, kw = self.kernel
        view = _windows(_padded(x, self.padding, 0.0), self.kernel, self.stride, self.out_size)
        return view.sum(axis=(4, 5)) * (1.0 / (kh * kw))

    def backward(self, gy: Tensor) -> Tensor:
        # dy[i, j]/dx_pad[s i + u, s j + v] = 1 / (k_h k_w): spread gy evenly over each window
        return AvgPool2dAdjoint(self.kernel, self.stride, self.padding, self.in_size)(gy)


class AvgPool2dAdjoint(Function, _Pool):
    """gx = the adjoint of avg_pool2d applied to gy (each window receives gy / (k_h k_w))."""

    def forward(self, gy: Any) -> Any:
        xp = B.array_module(gy)
        kh, kw = self.kernel
        spread = xp.broadcast_to((gy * (1.0 / (kh * kw)))[..., None, None], gy.shape + (kh, kw))
        return _add_windows(spread, self.in_size, self.kernel, self.stride, self.padding)

    def backward(self, ggx: Tensor) -> Tensor:
        # the adjoint of the adjoint is avg_pool2d itself
        return AvgPool2d(self.kernel, self.stride, self.padding, self.in_size)(ggx)


# ------------------------------------------------------------------------------- max pooling
class MaxPool2d(Function, _Pool):
    """y[n, c, i, j] = max_{u, v} x_pad[n, c, s i + u, s j + v]  (padding counts as -inf)"""

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        ho, wo = self.out_size
        view = _windows(_padded(x, self.padding, -xp.inf), self.kernel, self.stride, self.out_size)
        flat = view.reshape(view.shape[:4] + (-1,))  # (N, C, H_out, W_out, k_h k_w), a copy
        self.argmax = flat.argmax(axis=4)[..., None]  # position of the winner inside its window
        return xp.take_along_axis(flat, self.argmax, axis=4)[..., 0]

    def backward(self, gy: Tensor) -> Tensor:
        # dy[i, j]/dx = 1 at the window's argmax, 0 elsewhere
        return MaxPool2dScatter(self.argmax, self.kernel, self.stride, self.padding, self.in_size)(gy)


class MaxPool2dScatter(Function, _Pool):
    """gx = gy sent to the argmax of each window (windows may overlap: contributions add)."""

    def __init__(self, argmax: Any, *geometry: Any) -> None:
        _Pool.__init__(self, *geometry)
        self.argmax = argmax

    def forward(self, gy: Any) -> Any:
        xp = B.array_module(gy)
        kh, kw = self.kernel
        one_hot = self.argmax == xp.arange(kh * kw).reshape((1,) * 4 + (kh * kw,))
        routed = (gy[..., None] * one_hot).reshape(gy.shape + (kh, kw))
        return _add_windows(routed, self.in_size, self.kernel, self.stride, self.padding)

    def backward(self, ggx: Tensor) -> Tensor:
        # the adjoint of the scatter is the gather at the same positions
        return MaxPool2dGather(self.argmax, self.kernel, self.stride, self.padding, self.in_size)(ggx)


class MaxPool2dGather(Function, _Pool):
    """ggy[n, c, i, j] = ggx at the argmax of window (i, j)."""

    def __init__(self, argmax: Any, *geometry: Any) -> None:
        _Pool.__init__(self, *geometry)
        self.argmax = argmax

    def forward(self, ggx: Any) -> Any:
        xp = B.array_module(ggx)
        view = _windows(_padded(ggx, self.padding, 0.0), self.kernel, self.stride, self.out_size)
        flat = view.reshape(view.shape[:4] + (-1,))
        return xp.take_along_axis(flat, self.argmax, axis=4)[..., 0]

    def backward(self, gggy: Tensor) -> Tensor:
        return MaxPool2dScatter(self.argmax, self.kernel, self.stride, self.padding, self.in_size)(gggy)


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple[Pair, Pair, Pair]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    kernel, s, p = conv_params(kernel_size, kernel_size if stride is None else stride, padding, op)
    if p[0] > kernel[0] // 2 or p[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {kernel}")
    padded = (x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(f"{op}: kernel size {kernel} is larger than the padded input size {padded} "
                         f"(input shape {x.shape}, padding {p})")
    return kernel, s, p


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:  # noqa: A002
    """Average over k_h x k_w windows (stride defaults to the kernel size)."""
    kernel, s, p = _pool_args("avg_pool2d", input, kernel_size, stride, padding)
    return AvgPool2d(kernel, s, p, input.shape[2:])(input)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:  # noqa: A002
    """Maximum over k_h x k_w windows (stride defaults to the kernel size)."""
    kernel, s, p = _pool_args("max_pool2d", input, kernel_size, stride, padding)
    return MaxPool2d(kernel, s, p, input.shape[2:])(input)


# -------------------------------------------------------------------------------- upsampling
def _scale_pair(scale_factor: Any, where: str) -> Pair:
    values = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if len(values) != 2 or not all(float(v) == int(v) and int(v) >= 1 for v in values):
        raise ValueError(f"{where}: only positive integer scale factors are supported (nearest "
                         f"mode), got {scale_factor!r}")
    return int(values[0]), int(values[1])


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,  # noqa: A002
                mode: str = "nearest") -> Tensor:
    """Nearest-neighbour upsampling of (N, C, H, W) by integer factors (``scale_factor``, or a
    target ``size`` that is an integer multiple of (H, W))."""
    where = "interpolate"
    if mode != "nearest":
        raise NotImplementedError(f"{where}: only mode='nearest' is implemented, got {mode!r}")
    if not isinstance(input, Tensor) or input.ndim != 4:
        raise ValueError(f"{where}: expected a 4-D Tensor (N, C, H, W), got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{where}: give exactly one of size and scale_factor")
    n, c, h, w = input.shape
    if size is not None:
        target = (size, size) if isinstance(size, int) else tuple(size)
        if len(target) != 2 or target[0] % h or target[1] % w:
            raise ValueError(f"{where}: size {size} is not an integer multiple of the input size "
                             f"{(h, w)} (input shape {input.shape})")
        scale_factor = (target[0] // h, target[1] // w)
    sh, sw = _scale_pair(scale_factor, where)
    # y[n, c, s_h i + a, s_w j + b] = x[n, c, i, j]: a broadcast over two new block axes
    blocks = broadcast_to(reshape(input, n, c, h, 1, w, 1), (n, c, h, sh, w, sw))
    return reshape(blocks, n, c, h * sh, w * sw)


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None,  # noqa: A002
             mode: str = "nearest") -> Tensor:
    return interpolate(input, size, scale_factor, mode)


# ------------------------------------------------------------------------------------ padding
def _pad_pairs(pad: Sequence[int], ndim: int, where: str) -> list[tuple[int, int]]:
    """PyTorch's flat pad tuple (last dim first) -> (before, after) for every dimension."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > ndim or not all(isinstance(v, int) for v in pad):
        raise ValueError(f"{where}: pad must be an even-length tuple of ints covering at most "
                         f"{ndim} dimensions, got {pad}")
    if any(v < 0 for v in pad):
        raise ValueError(f"{where}: negative padding (cropping) is not supported, got {pad}; "
                         f"slice the tensor instead")
    pairs = [(0, 0)] * ndim
    for k in range(len(pad) // 2):
        pairs[ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return pairs


class ConstantPad(Function):
    """y = x surrounded by ``value``; dy/dx is the identity on the interior."""

    def __init__(self, pairs: list[tuple[int, int]], value: float) -> None:
        self.pairs, self.value = pairs, value

    def forward(self, x: Any) -> Any:
        xp = B.array_module(x)
        shape = tuple(n + a + b for n, (a, b) in zip(x.shape, self.pairs))
        y = xp.full(shape, self.value, dtype=x.dtype)
        y[self.interior(x.shape)] = x
        return y

    def interior(self, x_shape: tuple[int, ...]) -> tuple[slice, ...]:
        return tuple(slice(a, a + n) for n, (a, _) in zip(x_shape, self.pairs))

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # the border holds constants: only the interior of gy flows back
        return getitem(gy, self.interior(x.shape))


def _source_index(n: int, before: int, after: int, mode: str, where: str) -> Any:
    """For each output position along one axis, the input position it copies."""
    np = B.np
    positions = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(positions, 0, n - 1)
    if mode == "circular":
        if before > n or after > n:
            raise ValueError(f"{where}: circular padding ({before}, {after}) must not exceed the size {n}")
        return positions % n
    if before >= n or after >= n:  # reflect
        raise ValueError(f"{where}: reflect padding ({before}, {after}) must be smaller than the size {n}")
    period = 2 * (n - 1)
    folded = np.abs(positions) % period if period else np.zeros_like(positions)
    return np.where(folded >= n, period - folded, folded)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:  # noqa: A002
    """``F.pad``: ``pad`` lists (before, after) amounts starting from the LAST dimension, e.g.
    (left, right, top, bottom) for an image. Modes: constant, reflect, replicate, circular."""
    where = "pad"
    if not isinstance(input, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {type(input).__name__}")
    pairs = _pad_pairs(pad, input.ndim, where)
    if mode == "constant":
        return ConstantPad(pairs, value)(input)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"{where}: mode must be constant, reflect, replicate or circular, got {mode!r}")
    xp = B.array_module(input.data)
    first = next((d for d, (a, b) in enumerate(pairs) if a or b), None)
    if first is None:
        return input
    index: list[Any] = []
    trailing = range(first, input.ndim)
    for k, d in enumerate(trailing):
        idx = _source_index(input.shape[d], *pairs[d], mode, where)
        # an open mesh: one index array per dimension, broadcasting against the others
        index.append(xp.asarray(idx.reshape((-1,) + (1,) * (len(trailing) - 1 - k))))
    # a gather; its backward scatter-adds the gradient of each copied border pixel back onto its
    # source (backend.scatter_add: reflected pixels are used twice)
    return getitem(input, (slice(None),) * first + tuple(index))
