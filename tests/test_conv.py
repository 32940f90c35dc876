"""conv2d and nn.Conv2d: a nested-loop reference, output shapes, float64 gradient checks (first and
second order), the adjoint structure of the backward, the memory settings (read from the
environment at each call) and PyTorch parity."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import nn
from tinygen.autograd import Tensor
from tinygen.gradcheck import gradcheck, gradgradcheck
from tinygen.ops import im2col


def reference_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
                     padding: tuple[int, int]) -> np.ndarray:
    """y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] x_pad[n, c, s i + u, s j + v], one
    output element at a time."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    x_pad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    x_pad[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for ni, oi, i, j in itertools.product(range(n), range(o), range(ho), range(wo)):
        total = 0.0 if b is None else b[oi]
        for ci, u, v in itertools.product(range(c), range(kh), range(kw)):
            total += w[oi, ci, u, v] * x_pad[ni, ci, sh * i + u, sw * j + v]
        y[ni, oi, i, j] = total
    return y


def t64(a: np.ndarray, requires_grad: bool = False) -> Tensor:
    return tg.tensor(a, dtype=tg.float64, requires_grad=requires_grad)


CONFIGS = [  # (N, C_in, H, W, C_out, kH, kW, stride, padding)
    (2, 3, 5, 5, 2, 3, 3, (1, 1), (1, 1)),
    (1, 2, 7, 6, 3, 3, 2, (2, 1), (0, 1)),
    (2, 1, 6, 6, 2, 4, 4, (2, 2), (1, 1)),
    (1, 2, 5, 4, 2, 1, 1, (1, 1), (0, 0)),
    (2, 2, 8, 7, 1, 3, 3, (3, 2), (2, 0)),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_conv2d_matches_nested_loop_reference(config: tuple) -> None:
    n, c, h, w, o, kh, kw, stride, padding = config
    rng = np.random.default_rng(0)
    x, weight, bias = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, kh, kw)), rng.standard_normal(o)
    y = F.conv2d(t64(x), t64(weight), t64(bias), stride, padding)
    np.testing.assert_allclose(y.numpy(), reference_conv2d(x, weight, bias, stride, padding), rtol=1e-12, atol=1e-12)
    y_nobias = F.conv2d(t64(x), t64(weight), None, stride, padding)
    np.testing.assert_allclose(y_nobias.numpy(), reference_conv2d(x, weight, None, stride, padding), atol=1e-12)


def test_conv2d_output_shape_formula_over_a_grid() -> None:
    rng = np.random.default_rng(1)
    weight_cache: dict = {}
    for h, k, s, p in itertools.product((4, 5, 7, 8), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2)):
        if k > h + 2 * p:
            continue
        weight = weight_cache.setdefault(k, t64(rng.standard_normal((2, 1, k, k))))
        y = F.conv2d(t64(rng.standard_normal((1, 1, h, h + 1))), weight, stride=s, padding=p)
        expected = ((h + 2 * p - k) // s + 1, (h + 1 + 2 * p - k) // s + 1)
        assert y.shape == (1, 2) + expected, (h, k, s, p)


def test_conv2d_accepts_any_memory_layout_of_its_input() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 6, 3))  # (N, H, W, C) memory ...
    x_view = t64(x).permute(0, 3, 1, 2)  # ... seen as (N, C, H, W)
    weight = t64(rng.standard_normal((4, 3, 3, 3)))
    expected = reference_conv2d(x.transpose(0, 3, 1, 2), weight.numpy(), None, (1, 1), (1, 1))
    np.testing.assert_allclose(F.conv2d(x_view, weight, padding=1).numpy(), expected, atol=1e-12)
    # and a conv of a conv (the first output is a channels-last view) is still right
    weight2 = rng.standard_normal((2, 4, 2, 2))
    second = F.conv2d(F.conv2d(x_view, weight, padding=1), t64(weight2), stride=2)
    np.testing.assert_allclose(second.numpy(), reference_conv2d(expected, weight2, None, (2, 2), (0, 0)), atol=1e-12)


@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[1], CONFIGS[4]])
def test_conv2d_gradcheck_input_weight_bias(config: tuple) -> None:
    n, c, h, w, o, kh, kw, stride, padding = config
    rng = np.random.default_rng(3)
    x = t64(rng.standard_normal((n, c, h, w)), True)
    weight = t64(rng.standard_normal((o, c, kh, kw)), True)
    bias = t64(rng.standard_normal(o), True)
    assert gradcheck(lambda a, b, c_: F.conv2d(a, b, c_, stride, padding), [x, weight, bias])


def test_conv2d_gradgradcheck_second_order() -> None:
    # WGAN-GP differentiates a gradient through a convolutional critic
    rng = np.random.default_rng(4)
    x = t64(rng.standard_normal((1, 2, 4, 4)), True)
    weight = t64(rng.standard_normal((2, 2, 3, 3)), True)
    bias = t64(rng.standard_normal(2), True)
    assert gradgradcheck(lambda a, b, c_: F.conv2d(a, b, c_, 2, 1), [x, weight, bias])


def test_conv2d_input_gradient_is_conv_transpose2d_of_the_output_gradient() -> None:
    rng = np.random.default_rng(5)
    x = t64(rng.standard_normal((2, 3, 7, 7)), True)
    weight = t64(rng.standard_normal((4, 3, 3, 3)), True)
    y = F.conv2d(x, weight, stride=2, padding=1)
    gy = t64(rng.standard_normal(y.shape))
    gx, g_weight = tg.grad(y, [x, weight], gy, create_graph=True)
    # the backward is literally a transposed convolution (recorded as such in the graph)
    assert type(gx.creator).__name__ == "ConvTranspose2d"
    assert type(g_weight.creator).__name__ == "Conv2dWeight"
    # (7 + 2 - 3) = 6 is a multiple of the stride: no rows skipped, output_padding 0
    np.testing.assert_allclose(gx.numpy(), F.conv_transpose2d(gy, weight, stride=2, padding=1).numpy(), atol=1e-12)
    np.testing.assert_allclose(g_weight.numpy(), F.conv2d_weight(x, weight.shape, gy, 2, 1).numpy(), atol=1e-12)


def test_conv2d_input_gradient_is_zero_on_rows_the_stride_skips() -> None:
    rng = np.random.default_rng(6)
    x = t64(rng.standard_normal((1, 1, 6, 6)), True)
    weight = t64(rng.standard_normal((1, 1, 3, 3)))
    y = F.conv2d(x, weight, stride=2)  # windows start at 0 and 2: row and column 5 are never read
    y.backward(t64(np.ones(y.shape)))
    assert np.all(x.grad.numpy()[..., 5, :] == 0) and np.all(x.grad.numpy()[..., :, 5] == 0)
    assert np.all(np.abs(x.grad.numpy()[..., :5, :5]).sum() > 0)


def test_conv2d_weight_matches_a_finite_sum_reference() -> None:
    rng = np.random.default_rng(7)
    x, gy = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 3, 3, 3))
    got = F.conv2d_weight(t64(x), (3, 2, 2, 2), t64(gy), stride=2, padding=1).numpy()
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros((3, 2, 2, 2))
    for o, c, u, v in itertools.product(range(3), range(2), range(2), range(2)):
        expected[o, c, u, v] = (gy[:, o] * x_pad[:, c, u:u + 5:2, v:v + 5:2]).sum()
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_chunk_size_set_after_import_takes_effect_and_gives_the_same_result(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    x = t64(rng.standard_normal((5, 2, 6, 6)), True)
    weight = t64(rng.standard_normal((3, 2, 3, 3)), True)
    monkeypatch.delenv("TINYGEN_CONV_COLUMN_CHUNK_BYTES", raising=False)
    y_full = F.conv2d(x, weight, padding=1)
    y_full.backward(t64(np.ones(y_full.shape)))
    g_full = x.grad.numpy(), weight.grad.numpy()
    x.grad = weight.grad = None
    # one sample's column buffer: 6 * 6 * 3 * 3 * 2 doubles = 5184 bytes; allow two samples at once
    monkeypatch.setenv("TINYGEN_CONV_COLUMN_CHUNK_BYTES", str(2 * 5184))
    assert im2col.batch_chunks("conv2d", 5, 5184, "") == [slice(0, 2), slice(2, 4), slice(4, 5)]
    y = F.conv2d(x, weight, padding=1)
    y.backward(t64(np.ones(y.shape)))
    np.testing.assert_allclose(y.numpy(), y_full.numpy(), atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), g_full[0], atol=1e-12)
    np.testing.assert_allclose(weight.grad.numpy(), g_full[1], atol=1e-12)


def test_memory_limit_set_after_import_names_shapes_limit_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    x, weight = tg.zeros(2, 2, 6, 6), tg.zeros(3, 2, 3, 3)
    monkeypatch.delenv("TINYGEN_CONV_MAX_COLUMN_BYTES", raising=False)
    assert F.conv2d(x, weight, padding=1).shape == (2, 3, 6, 6)
    monkeypatch.setenv("TINYGEN_CONV_MAX_COLUMN_BYTES", "1000")
    with pytest.raises(MemoryError, match=r"conv2d.*\(2, 2, 6, 6\).*\(3, 2, 3, 3\).*1,000 bytes.*"
                                          r"TINYGEN_CONV_MAX_COLUMN_BYTES"):
        F.conv2d(x, weight, padding=1)
    with pytest.raises(MemoryError, match="conv_transpose2d.*TINYGEN_CONV_MAX_COLUMN_BYTES"):
        F.conv_transpose2d(tg.zeros(2, 3, 6, 6), weight, padding=1)
    monkeypatch.setenv("TINYGEN_CONV_MAX_COLUMN_BYTES", str(1 << 30))
    assert F.conv2d(x, weight, padding=1).shape == (2, 3, 6, 6)


@pytest.mark.parametrize("variable", ["TINYGEN_CONV_COLUMN_CHUNK_BYTES", "TINYGEN_CONV_MAX_COLUMN_BYTES"])
@pytest.mark.parametrize("value", ["lots", "1.5", "2e6", "0", "-4096"])
def test_a_malformed_memory_setting_is_a_clear_error_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    x, weight = tg.zeros(2, 2, 6, 6), tg.zeros(3, 2, 3, 3)
    def message(where: str) -> str:
        return (rf"^{where}: the environment variable {variable} must be a positive whole number of "
                rf"bytes.*'{re.escape(value)}'")

    with pytest.raises(ValueError, match=message("conv2d")):
        F.conv2d(x, weight, padding=1)
    with pytest.raises(ValueError, match=message("conv_transpose2d")):
        F.conv_transpose2d(x, weight.permute(1, 0, 2, 3), padding=1)
    with pytest.raises(ValueError, match=message("conv2d_weight")):
        F.conv2d_weight(x, (3, 2, 3, 3), tg.zeros(2, 3, 6, 6), padding=1)
    with pytest.raises(ValueError, match=variable):
        nn.Conv2d(2, 3, 3)(x)


# ------------------------------------------------------------------------------ nn.Conv2d
def test_conv2d_layer_parameters_match_pytorch_names_shapes_and_init() -> None:
    tg.manual_seed(0)
    layer = nn.Conv2d(16, 32, (3, 5), stride=2, padding=(1, 2))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (32, 16, 3, 5) and layer.bias.shape == (32,)
    bound = 1 / np.sqrt(16 * 3 * 5)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in kH kW
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert nn.Conv2d(3, 4, 3, bias=False).bias is None
    assert layer(tg.randn(2, 16, 9, 9)).shape == (2, 32, 5, 5)


def layer_gradcheck(layer: nn.Module, x: Tensor) -> bool:
    """gradcheck of ``layer(x)`` with respect to x and every parameter of the layer (gradcheck
    perturbs float64 copies, so the copies are swapped in for the parameters while it runs)."""
    named = list(layer.named_parameters())

    def swap(values: list) -> None:
        for (name, _), value in zip(named, values):
            *path, leaf = name.split(".")
            owner = layer
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, leaf, value)

    def f(x_: Tensor, *params: Tensor) -> Tensor:
        swap(list(params))
        return layer(x_)

    try:
        return gradcheck(f, [x] + [p for _, p in named])
    finally:
        swap([p for _, p in named])


def test_conv2d_layer_gradcheck_through_input_and_all_parameters() -> None:
    tg.manual_seed(2)
    layer = nn.Conv2d(2, 3, 3, stride=(1, 2), padding=1).double()
    x = tg.randn(2, 2, 4, 5, dtype=tg.float64, requires_grad=True)
    assert layer_gradcheck(layer, x)
    assert isinstance(layer.weight, nn.Parameter)  # restored


def test_conv2d_layer_matches_torch_forward_backward_and_state_dict() -> None:
    torch = pytest.importorskip("torch")
    tg.manual_seed(1)
    layer = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ref = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 8)).astype(np.float32)
    y = layer(tg.tensor(x, requires_grad=True))
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), atol=1e-5)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), ref.weight.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad.numpy(), ref.bias.grad.numpy(), atol=1e-4)
    assert set(layer.state_dict()) == set(ref.state_dict())


def _conv_by_hand(xp: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Stride-1 cross-correlation of an already padded input: y[n,o,i,j] = sum w[o,c,p,q] xp[n,c,i+p,j+q] + b[o]."""
    kh, kw = w.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, H', W', kh, kw)
    return np.einsum("ncijpq,ocpq->noij", windows, w) + b[None, :, None, None]


# numpy.pad's names for PyTorch's padding modes: reflect leaves the edge out, as PyTorch's does
NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes_match_padding_by_hand(mode: str) -> None:
    """Without PyTorch: the input padded by numpy.pad, then a plain convolution. Unequal row and
    column padding (1, 2) catches swapped axes; the mode's values catch a wrong mode."""
    tg.manual_seed(2)
    layer = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode).double()
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 6))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), mode=NUMPY_PAD_MODE[mode])
    expected = _conv_by_hand(padded, layer.weight.numpy(), layer.bias.numpy())
    np.testing.assert_allclose(layer(t64(x)).numpy(), expected, atol=1e-12)
    # the padding's gradient folds back onto the border pixels it copied
    assert gradcheck(lambda a: layer(a), [t64(x, requires_grad=True)])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes_match_torch(mode: str) -> None:
    torch = pytest.importorskip("torch")
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode).double()
    ref = torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 4))
    np.testing.assert_allclose(layer(t64(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), atol=1e-12)


def test_gradient_penalty_through_a_conv_critic_matches_torch() -> None:
    """WGAN-GP: d/dtheta (||d critic(x) / dx|| - 1)^2 needs second-order gradients of conv2d."""
    torch = pytest.importorskip("torch")
    tg.manual_seed(3)
    critic = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.Tanh(), nn.Conv2d(4, 2, 3, 2, 1), nn.Flatten(),
                           nn.Linear(8, 1)).double()
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, 2, 1), torch.nn.Tanh(), torch.nn.Conv2d(4, 2, 3, 2, 1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 1)).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in critic.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((3, 1, 7, 7))

    xs = t64(x, True)
    (g,) = tg.grad(critic(xs).sum(), [xs], create_graph=True)
    penalty = ((g.reshape(3, -1) ** 2).sum(1).sqrt() - 1) ** 2
    penalty.mean().backward()

    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(ref(xt).sum(), [xt], create_graph=True)
    ((gt.reshape(3, -1).norm(dim=1) - 1) ** 2).mean().backward()
    for (name, p), q in zip(critic.named_parameters(), ref.parameters()):
        if q.grad is None:  # the input gradient does not depend on the last biases
            assert p.grad is None or not np.any(p.grad.numpy()), name
            continue
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
