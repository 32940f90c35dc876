"""Pooling, upsampling, padding and channel dropout: nested-loop references, gradient checks
(max-pool inputs built without ties), and PyTorch parity."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import nn
from tinygen.autograd import Tensor
from tinygen.gradcheck import gradcheck, gradgradcheck


def t64(a: np.ndarray, requires_grad: bool = False) -> Tensor:
    return tg.tensor(a, dtype=tg.float64, requires_grad=requires_grad)


def distinct(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Values at least 0.1 apart (a shuffled grid), so no window of a max pool has a tie, and
    the finite differences of gradcheck (eps = 1e-6) never change which element wins."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(int(np.prod(shape)))).reshape(shape) * 0.1 - 1.0


def reference_pool(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], p: tuple[int, int],
                   reduce: str) -> np.ndarray:
    fill = 0.0 if reduce == "mean" else -np.inf
    x_pad = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    n, c, hp, wp = x_pad.shape
    ho, wo = (hp - k[0]) // s[0] + 1, (wp - k[1]) // s[1] + 1
    y = np.zeros((n, c, ho, wo))
    for i, j in itertools.product(range(ho), range(wo)):
        window = x_pad[:, :, s[0] * i:s[0] * i + k[0], s[1] * j:s[1] * j + k[1]]
        y[:, :, i, j] = window.mean(axis=(2, 3)) if reduce == "mean" else window.max(axis=(2, 3))
    return y


POOLS = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (0, 1)), ((2, 2), (1, 1), (0, 0))]


@pytest.mark.parametrize("k,s,p", POOLS)
def test_avg_pool2d_matches_reference_and_counts_padding(k: tuple, s: tuple, p: tuple) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(F.avg_pool2d(t64(x), k, s, p).numpy(), reference_pool(x, k, s, p, "mean"), atol=1e-12)


@pytest.mark.parametrize("k,s,p", POOLS)
def test_max_pool2d_matches_reference(k: tuple, s: tuple, p: tuple) -> None:
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(F.max_pool2d(t64(x), k, s, p).numpy(), reference_pool(x, k, s, p, "max"), atol=0)


@pytest.mark.parametrize("k,s,p", POOLS)
def test_avg_pool2d_gradcheck(k: tuple, s: tuple, p: tuple) -> None:
    x = t64(np.random.default_rng(2).standard_normal((1, 2, 5, 4)), True)
    assert gradcheck(lambda a: F.avg_pool2d(a, k, s, p), [x])


@pytest.mark.parametrize("k,s,p", POOLS)
def test_max_pool2d_gradcheck_without_ties(k: tuple, s: tuple, p: tuple) -> None:
    x = t64(distinct((1, 2, 5, 4), 3), True)
    assert gradcheck(lambda a: F.max_pool2d(a, k, s, p), [x])


def test_max_pool2d_overlapping_windows_add_their_gradients() -> None:
    # 3x3 windows at stride 1 over a 4x4 map: the global maximum wins all 4 windows
    x = distinct((1, 1, 4, 4), 4)
    x[0, 0, 1, 2] = 100.0
    xs = t64(x, True)
    F.max_pool2d(xs, 3, 1).sum().backward()
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 1, 2] = 4.0
    np.testing.assert_array_equal(xs.grad.numpy(), expected)


def test_pooling_second_order_gradients() -> None:
    x = t64(distinct((1, 1, 4, 4), 5), True)
    assert gradgradcheck(lambda a: F.max_pool2d(a, 2, 1) ** 2, [x])
    assert gradgradcheck(lambda a: F.avg_pool2d(a, 3, 2, 1) ** 2, [x])


def test_upsample_nearest_repeats_pixels_and_sums_gradients_back() -> None:
    x = np.random.default_rng(6).standard_normal((2, 3, 2, 3))
    y = F.interpolate(t64(x), scale_factor=(2, 3))
    np.testing.assert_array_equal(y.numpy(), x.repeat(2, axis=2).repeat(3, axis=3))
    assert F.interpolate(t64(x), size=(4, 6)).shape == (2, 3, 4, 6)
    assert nn.Upsample(scale_factor=2)(t64(x)).shape == (2, 3, 4, 6)
    xs = t64(x, True)
    assert gradcheck(lambda a: F.interpolate(a, scale_factor=2), [xs])


def test_interpolate_rejects_what_it_does_not_implement() -> None:
    x = tg.randn(1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"interpolate.*integer scale factors.*1.5"):
        F.interpolate(x, scale_factor=1.5)
    with pytest.raises(ValueError, match=r"interpolate: size \(5, 6\).*\(3, 3\)"):
        F.interpolate(x, size=(5, 6))
    with pytest.raises(NotImplementedError, match="bilinear"):
        F.interpolate(x, scale_factor=2, mode="bilinear")


def test_pad_constant_uses_pytorchs_last_dimension_first_order() -> None:
    x = np.random.default_rng(7).standard_normal((2, 3, 4))
    y = F.pad(t64(x), (1, 2, 0, 3), value=-5.0)  # last dim: (1, 2); the one before: (0, 3)
    np.testing.assert_array_equal(y.numpy(), np.pad(x, ((0, 0), (0, 3), (1, 2)), constant_values=-5.0))
    assert gradcheck(lambda a: F.pad(a, (1, 2, 0, 3)), [t64(x, True)])


@pytest.mark.parametrize("mode,numpy_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
def test_pad_modes_match_numpy_and_scatter_their_gradient(mode: str, numpy_mode: str) -> None:
    x = np.random.default_rng(8).standard_normal((1, 2, 4, 5))
    y = F.pad(t64(x), (2, 1, 3, 0), mode=mode)
    np.testing.assert_array_equal(y.numpy(), np.pad(x, ((0, 0), (0, 0), (3, 0), (2, 1)), mode=numpy_mode))
    # border pixels are copies: their gradient adds onto the source pixel
    assert gradcheck(lambda a: F.pad(a, (2, 1, 3, 0), mode=mode), [t64(x, True)])


def test_pad_rejects_bad_arguments() -> None:
    x = tg.randn(1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"pad: negative padding.*\(-1, 0\)"):
        F.pad(x, (-1, 0))
    with pytest.raises(ValueError, match=r"pad: reflect padding \(3, 0\) must be smaller than the size 3"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="even-length"):
        F.pad(x, (1, 2, 3))


def test_dropout2d_zeroes_whole_channels_and_rescales() -> None:
    tg.manual_seed(0)
    x = tg.ones(16, 32, 3, 3)
    y = F.dropout2d(x, p=0.25, training=True).numpy()
    per_channel = y.reshape(16, 32, 9)
    # every feature map is either all zero or all 1 / (1 - p)
    assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.75).all(-1))
    dropped = (per_channel == 0).all(-1).mean()
    assert 0.15 < dropped < 0.35
    assert F.dropout2d(x, 0.25, training=False) is x
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x


def test_dropout2d_gradcheck_with_a_fixed_mask() -> None:
    x = tg.randn(2, 3, 2, 2, dtype=tg.float64, requires_grad=True)

    def f(a: Tensor) -> Tensor:
        tg.manual_seed(7)  # the same channel mask at every evaluation
        return F.dropout2d(a, 0.4)

    assert gradcheck(f, [x])


def test_dropout2d_gradient_is_the_same_mask() -> None:
    tg.manual_seed(1)
    x = tg.randn(4, 5, 2, 2, requires_grad=True)
    y = F.dropout2d(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (y.numpy() != 0) * 2.0)


def test_pool_layers_match_torch() -> None:
    torch = pytest.importorskip("torch")
    x = distinct((2, 3, 7, 7), 9)
    for ours, theirs in [(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
                         (nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
                         (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
                         (nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2))]:
        xs, xt = t64(x, True), torch.tensor(x, requires_grad=True)
        y, yt = ours(xs), theirs(xt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), atol=1e-12)
        g = np.random.default_rng(10).standard_normal(y.shape)
        y.backward(t64(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), atol=1e-12, err_msg=repr(ours))
