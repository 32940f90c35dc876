"""The array kernels behind tinygen/ops/conv.py: im2col, col2im, batch chunks and the memory guard.

Everything here works on raw NumPy/CuPy arrays; the autograd story (which kernel is whose
backward) is in conv.py. PyTorch's conventions: input x (N, C_in, H, W), conv2d weight
(C_out, C_in, k_h, k_w), conv_transpose2d weight (C_in, C_out, k_h, k_w).

im2col: every k_h x k_w window of the zero-padded input becomes one row of a matrix ``cols``
(N H_out W_out, k_h k_w C_in), gathered through a strided view of the input (no Python loop over
pixels or samples). A convolution is then the single product ``cols @ W_mat`` with W_mat
(k_h k_w C_in, C_out), and its weight gradient the product ``gy_mat^T @ cols``.

col2im is the adjoint of im2col: it adds every entry of a row back onto the input pixel its
window read. The add is a loop over the k_h k_w kernel offsets, each adding one strided slice;
within one offset no two entries land on the same pixel, so it is an ordinary (deterministic) add
and no scatter with repeated indices is needed. The loop runs over kernel positions, never over
pixels or samples. A transposed convolution is col2im(x_mat @ W_mat^T): one matrix product, with
the same W_mat a conv2d would use, whose rows are exactly the ``cols`` that col2im reads.

Memory layout: inside these kernels arrays are *channels-last* (N, H, W, C). An im2col row is then
k_h k_w runs of contiguous channels, which makes the gather several times faster than from
(N, C, H, W), and the product's result is the (N, H_out, W_out, C_out) output, copied back to
PyTorch's (N, C, H, W) layout (a cheap copy next to the product).

Memory: the ``cols`` matrix is k_h k_w / s^2 times larger than the input (12 MiB for a batch of 64
through DCGAN's 4x4 stride-2 64-to-128-channel layer), so the batch is processed in chunks of
samples whose buffer stays near a byte budget, one matrix product per chunk. Small chunks cost
nothing here: a chunk that fits in the CPU's L2 cache is faster than one big product, and the peak
memory of a DCGAN training step drops by a quarter to a third (bench/bench_dcgan.py). If a single
sample's buffer is over a limit, a :class:`MemoryError` names the shapes and the limit instead of
exhausting memory. Both numbers are read from the environment at every call, so they can be changed
at any time:

    TINYGEN_CONV_COLUMN_CHUNK_BYTES   the budget of one chunk (default 2 MiB)
    TINYGEN_CONV_MAX_COLUMN_BYTES     the largest buffer for a single sample (default 1 GiB)
"""
from __future__ import annotations

import os
from typing import Any

from .. import backend as B

Pair = tuple[int, int]

COLUMN_CHUNK_BYTES_VARIABLE = "TINYGEN_CONV_COLUMN_CHUNK_BYTES"
MAX_COLUMN_BYTES_VARIABLE = "TINYGEN_CONV_MAX_COLUMN_BYTES"
DEFAULT_COLUMN_CHUNK_BYTES = 2 << 20
DEFAULT_MAX_COLUMN_BYTES = 1 << 30


# ------------------------------------------------------------------------------------ settings
def _bytes_setting(variable: str, default: int, where: str) -> int:
    """The positive byte count in the environment variable ``variable``, or ``default`` if unset."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{where}: the environment variable {variable} must be a positive whole "
                         f"number of bytes (for example {default}), got {text!r}")
    return value


def column_limits(where: str) -> tuple[int, int]:
    """(chunk budget, single-sample limit) in bytes, read from the environment now."""
    return (_bytes_setting(COLUMN_CHUNK_BYTES_VARIABLE, DEFAULT_COLUMN_CHUNK_BYTES, where),
            _bytes_setting(MAX_COLUMN_BYTES_VARIABLE, DEFAULT_MAX_COLUMN_BYTES, where))


def batch_chunks(where: str, n: int, bytes_per_sample: int, describe: str) -> list[slice]:
    """Slices of the batch whose column buffers stay near the chunk budget (at least one sample
    each); a MemoryError if a single sample's buffer is over the limit."""
    chunk_bytes, max_bytes = column_limits(where)
    if bytes_per_sample > max_bytes:
        raise MemoryError(
            f"{where}: the column buffer for a single sample ({describe}) needs {bytes_per_sample:,} "
            f"bytes, more than the limit of {max_bytes:,} bytes (environment variable "
            f"{MAX_COLUMN_BYTES_VARIABLE}). Use a smaller input or kernel, or raise the limit.")
    per_chunk = max(1, min(n, chunk_bytes // max(bytes_per_sample, 1)))
    return [slice(i, min(i + per_chunk, n)) for i in range(0, n, per_chunk)]


# --------------------------------------------------------------------------------------- sizes
def conv2d_output_size(size: Pair, kernel: Pair, stride: Pair, padding: Pair) -> Pair:
    """(H_out, W_out) = floor((H + 2p - k) / s) + 1 in each dimension."""
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, padding))


def conv_transpose2d_output_size(size: Pair, kernel: Pair, stride: Pair, padding: Pair,
                                 output_padding: Pair) -> Pair:
    """(H_out, W_out) = (H - 1) s - 2p + k + output_padding in each dimension."""
    return tuple((n - 1) * s - 2 * p + k + op
                 for n, k, s, p, op in zip(size, kernel, stride, padding, output_padding))


# ------------------------------------------------------------------------------ im2col, col2im
def im2col(x: Any, kernel: Pair, stride: Pair, padding: Pair, out_size: Pair) -> Any:
    """x (n, C, H, W) -> cols (n H_out W_out, k_h k_w C): row (n, i, j) is the window
    x_pad[n, :, s_h i : s_h i + k_h, s_w j : s_w j + k_w], flattened in (u, v, c) order."""
    xp = B.array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_size
    # a zero-padded channels-last copy (n, H + 2p_h, W + 2p_w, C)
    x_pad = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    x_pad[:, ph:ph + h, pw:pw + w, :] = x.transpose(0, 2, 3, 1)
    st_n, st_h, st_w, st_c = x_pad.strides
    # a view: window (i, j) starts s_h i rows and s_w j columns in; (u, v) walks inside it
    windows = B.as_strided(x_pad, (n, ho, wo, kh, kw, c), (st_n, sh * st_h, sw * st_w, st_h, st_w, st_c))
    return windows.reshape(n * ho * wo, kh * kw * c)  # the one copy: each window becomes a row


def col2im_add(target: Any, cols: Any, stride: Pair, padding: Pair) -> None:
    """target (n, H_out, W_out, C) += col2im(cols), for cols (n, H, W, k_h, k_w, C) laid out as
    im2col's output (its rows reshaped): the adjoint of im2col.

    cols[n, i, j, u, v] belongs to the output pixel (s_h i + u - p_h, s_w j + v - p_w); pixels that
    fall into the padding are dropped. For each kernel offset (u, v) the pixels form one strided
    slice of the target, with no pixel repeated inside it.
    """
    _, h, w, kh, kw, _ = cols.shape
    for u in range(kh):
        rows, source_rows = _landing(u, h, stride[0], padding[0], target.shape[1])
        for v in range(kw):
            columns, source_columns = _landing(v, w, stride[1], padding[1], target.shape[2])
            target[:, rows, columns, :] += cols[:, source_rows, source_columns, u, v, :]


def _landing(u: int, n: int, s: int, p: int, size: int) -> tuple[slice, slice]:
    """Where input positions i = 0 .. n-1 land at kernel offset u: output index s i + u - p,
    kept only inside [0, size). Returns (output slice, input slice)."""
    first = max(0, -((u - p) // s))  # the smallest i with s i + u - p >= 0
    last = min(n - 1, (size - 1 - u + p) // s)  # the largest i with s i + u - p < size
    if last < first:
        return slice(0, 0), slice(0, 0)
    start = s * first + u - p
    return slice(start, start + s * (last - first) + 1, s), slice(first, last + 1)


# ---------------------------------------------------------------------- the three convolutions
def weight_matrix(weight: Any) -> Any:
    """A conv2d weight (C_out, C_in, k_h, k_w) as the matrix W_mat (k_h k_w C_in, C_out) whose rows
    follow im2col's (u, v, c) order, so that conv2d is cols @ W_mat."""
    c_out, c_in, kh, kw = weight.shape
    return weight.transpose(2, 3, 1, 0).reshape(kh * kw * c_in, c_out)


def conv2d_array(x: Any, weight: Any, bias: Any, stride: Pair, padding: Pair) -> Any:
    """y = conv2d(x, W) + b on arrays: im2col, then one matrix product per chunk of the batch."""
    xp = B.array_module(x, weight)
    n, c, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    ho, wo = conv2d_output_size((h, w), (kh, kw), stride, padding)
    w_mat = weight_matrix(weight)  # (k_h k_w C_in, C_out)
    y = xp.empty((n, c_out, ho, wo), dtype=x.dtype)
    bytes_per_sample = ho * wo * kh * kw * c * x.dtype.itemsize
    for part in batch_chunks("conv2d", n, bytes_per_sample, f"input {x.shape}, weight {weight.shape}"):
        cols = im2col(x[part], (kh, kw), stride, padding, (ho, wo))  # (n H_out W_out, k_h k_w C_in)
        # y[n, i, j, :] = window(n, i, j) @ W_mat: the convolution as one matrix product
        y_hwc = (cols @ w_mat).reshape(-1, ho, wo, c_out)  # channels-last
        if bias is not None:
            y_hwc += bias
        y[part] = y_hwc.transpose(0, 3, 1, 2)  # back to (n, C_out, H_out, W_out)
    return y


def conv_transpose2d_array(x: Any, weight: Any, bias: Any, stride: Pair, padding: Pair,
                           output_padding: Pair) -> Any:
    """z = conv_transpose2d(x, W) + b on arrays: one matrix product per chunk, then col2im."""
    xp = B.array_module(x, weight)
    n, c_in, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    ho, wo = conv_transpose2d_output_size((h, w), (kh, kw), stride, padding, output_padding)
    # W is the weight of the conv2d this op is the adjoint of; its matrix is (k_h k_w C_out, C_in)
    w_mat = weight_matrix(weight)
    y = xp.empty((n, c_out, ho, wo), dtype=x.dtype)
    bytes_per_sample = kh * kw * h * w * c_out * x.dtype.itemsize
    for part in batch_chunks("conv_transpose2d", n, bytes_per_sample,
                             f"input {x.shape}, weight {weight.shape}"):
        m = part.stop - part.start
        x_mat = x[part].transpose(0, 2, 3, 1).reshape(m * h * w, c_in)  # (n H W, C_in)
        # cols = x_mat @ W_mat^T: each input pixel's row of k_h k_w C_out contributions, the
        # single product (W_mat^T is a transposed view, no copy)
        cols = x_mat @ w_mat.T  # (n H W, k_h k_w C_out)
        y_hwc = xp.zeros((m, ho, wo, c_out), dtype=x.dtype)  # channels-last
        col2im_add(y_hwc, cols.reshape(m, h, w, kh, kw, c_out), stride, padding)
        if bias is not None:
            y_hwc += bias
        y[part] = y_hwc.transpose(0, 3, 1, 2)
    return y


def conv2d_weight_array(x: Any, gy: Any, kernel: Pair, stride: Pair, padding: Pair) -> Any:
    """gW = conv2d_weight(x, gy) on arrays: the sum over chunks of gy_mat^T @ cols."""
    xp = B.array_module(x, gy)
    n, c, _, _ = x.shape
    _, c_out, ho, wo = gy.shape
    kh, kw = kernel
    g_w = xp.zeros((c_out, kh * kw * c), dtype=x.dtype)
    bytes_per_sample = ho * wo * kh * kw * c * x.dtype.itemsize
    for part in batch_chunks("conv2d_weight", n, bytes_per_sample,
                             f"input {x.shape}, grad_output {gy.shape}"):
        cols = im2col(x[part], kernel, stride, padding, (ho, wo))
        gy_mat = gy[part].transpose(0, 2, 3, 1).reshape(-1, c_out)  # (n H_out W_out, C_out)
        # gW[o, (u, v, c)] = sum over output pixels of gy[pixel, o] * window(pixel)[(u, v, c)]
        g_w += gy_mat.T @ cols
    return xp.ascontiguousarray(g_w.reshape(c_out, kh, kw, c).transpose(0, 3, 1, 2))
