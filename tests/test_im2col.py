"""The array kernels of tinygen/ops/im2col.py: im2col rows are the padded windows, col2im is its
adjoint, the landing slices match a brute-force search, and the batch is cut into chunks by the
byte budget read from the environment at each call."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinygen.ops import im2col as K

GEOMETRIES = [  # (N, C, H, W, kH, kW, stride, padding)
    (2, 3, 5, 5, 3, 3, (1, 1), (1, 1)),
    (1, 2, 7, 6, 3, 2, (2, 1), (0, 1)),
    (2, 1, 6, 6, 4, 4, (2, 2), (1, 1)),
    (2, 2, 8, 7, 3, 3, (3, 2), (2, 0)),
    (1, 2, 5, 5, 2, 2, (3, 3), (0, 0)),  # stride larger than the kernel: some pixels never read
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_im2col_rows_are_the_padded_windows_in_u_v_c_order(geometry: tuple) -> None:
    n, c, h, w, kh, kw, (sh, sw), (ph, pw) = geometry
    x = np.random.default_rng(0).standard_normal((n, c, h, w))
    ho, wo = K.conv2d_output_size((h, w), (kh, kw), (sh, sw), (ph, pw))
    cols = K.im2col(x, (kh, kw), (sh, sw), (ph, pw), (ho, wo))
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    assert cols.shape == (n * ho * wo, kh * kw * c)
    for ni, i, j in itertools.product(range(n), range(ho), range(wo)):
        window = x_pad[ni, :, sh * i:sh * i + kh, sw * j:sw * j + kw]  # (C, kH, kW)
        np.testing.assert_array_equal(cols[(ni * ho + i) * wo + j], window.transpose(1, 2, 0).reshape(-1))


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(geometry: tuple) -> None:
    """<im2col(x), G> = <x, col2im(G)> for every x and G: col2im adds each entry back onto the
    pixel its window read, and drops the entries that read padding."""
    n, c, h, w, kh, kw, stride, padding = geometry
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, h, w))
    ho, wo = K.conv2d_output_size((h, w), (kh, kw), stride, padding)
    g = rng.standard_normal((n * ho * wo, kh * kw * c))
    lhs = float((K.im2col(x, (kh, kw), stride, padding, (ho, wo)) * g).sum())
    target = np.zeros((n, h, w, c))  # channels-last, like the kernels
    # col2im_add reads cols as im2col writes them: (n, H_out, W_out, kH, kW, C)
    K.col2im_add(target, g.reshape(n, ho, wo, kh, kw, c), stride, padding)
    rhs = float((x.transpose(0, 2, 3, 1) * target).sum())
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


def test_landing_slices_match_a_brute_force_search() -> None:
    for u, n, s, p, size in itertools.product(range(4), range(1, 6), range(1, 4), range(3), range(1, 12)):
        out, source = K._landing(u, n, s, p, size)
        expected = [(s * i + u - p, i) for i in range(n) if 0 <= s * i + u - p < size]
        got = list(zip(range(size)[out], range(n)[source]))
        assert got == expected, (u, n, s, p, size)


def test_batch_chunks_use_the_default_budget_when_the_variable_is_unset_or_empty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (None, "", "  "):
        if value is None:
            monkeypatch.delenv(K.COLUMN_CHUNK_BYTES_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(K.COLUMN_CHUNK_BYTES_VARIABLE, value)
        assert K.column_limits("test") == (2 << 20, 1 << 30)
        # 2 MiB / 1 MiB per sample: two samples per chunk
        assert K.batch_chunks("test", 5, 1 << 20, "") == [slice(0, 2), slice(2, 4), slice(4, 5)]


def test_batch_chunks_keep_at_least_one_sample_and_never_exceed_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(K.COLUMN_CHUNK_BYTES_VARIABLE, "100")
    assert K.batch_chunks("test", 3, 1000, "") == [slice(0, 1), slice(1, 2), slice(2, 3)]
    monkeypatch.setenv(K.COLUMN_CHUNK_BYTES_VARIABLE, str(10 ** 9))
    assert K.batch_chunks("test", 3, 1000, "") == [slice(0, 3)]


def test_chunked_kernels_agree_with_the_whole_batch_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    x, weight = rng.standard_normal((5, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    stride, padding = (2, 1), (1, 1)
    gy = rng.standard_normal((5, 4) + K.conv2d_output_size((7, 6), (3, 3), stride, padding))
    results = []
    for budget in (str(10 ** 9), "1"):  # the whole batch at once, then one sample at a time
        monkeypatch.setenv(K.COLUMN_CHUNK_BYTES_VARIABLE, budget)
        results.append((K.conv2d_array(x, weight, None, stride, padding),
                        K.conv_transpose2d_array(gy, weight, None, stride, padding, (1, 0)),
                        K.conv2d_weight_array(x, gy, (3, 3), stride, padding)))
    for whole, chunked in zip(*results):
        np.testing.assert_allclose(chunked, whole, rtol=1e-13, atol=1e-13)
