"""conv_transpose2d and nn.ConvTranspose2d: a scatter-form nested-loop reference, adjointness with
conv2d, output-size formulas, output_padding round trips, gradient checks and PyTorch parity."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import nn
from tinygen.autograd import Tensor
from tinygen.gradcheck import gradcheck, gradgradcheck


def t64(a: np.ndarray, requires_grad: bool = False) -> Tensor:
    return tg.tensor(a, dtype=tg.float64, requires_grad=requires_grad)


def reference_conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
                               padding: tuple[int, int], output_padding: tuple[int, int]) -> np.ndarray:
    """Every input pixel x[n, c, i, j] paints w[c, :, :, :] * x[n, c, i, j] onto the output at
    (s i - p + u, s j - p + v); one input pixel at a time."""
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    n, c_in, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    ho, wo = (h - 1) * sh - 2 * ph + kh + oph, (wd - 1) * sw - 2 * pw + kw + opw
    y = np.zeros((n, c_out, ho, wo))
    for ni, ci, i, j in itertools.product(range(n), range(c_in), range(h), range(wd)):
        for o, u, v in itertools.product(range(c_out), range(kh), range(kw)):
            r, q = sh * i - ph + u, sw * j - pw + v
            if 0 <= r < ho and 0 <= q < wo:
                y[ni, o, r, q] += w[ci, o, u, v] * x[ni, ci, i, j]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


CONFIGS = [  # (N, C_in, H, W, C_out, kH, kW, stride, padding, output_padding)
    (2, 3, 3, 3, 2, 3, 3, (1, 1), (1, 1), (0, 0)),
    (1, 2, 4, 3, 3, 4, 4, (2, 2), (1, 1), (1, 0)),
    (2, 2, 3, 4, 1, 3, 2, (3, 2), (0, 1), (2, 1)),
    (1, 1, 2, 2, 2, 1, 1, (2, 2), (0, 0), (1, 1)),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_conv_transpose2d_matches_nested_loop_reference(config: tuple) -> None:
    n, c, h, w, o, kh, kw, stride, padding, output_padding = config
    rng = np.random.default_rng(0)
    x, weight, bias = rng.standard_normal((n, c, h, w)), rng.standard_normal((c, o, kh, kw)), rng.standard_normal(o)
    y = F.conv_transpose2d(t64(x), t64(weight), t64(bias), stride, padding, output_padding)
    expected = reference_conv_transpose2d(x, weight, bias, stride, padding, output_padding)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,padding,output_padding", [
    (1, 0, 0), (1, 1, 0), (2, 0, 0), (2, 1, 1), (3, 2, 2), ((2, 3), (1, 0), (1, 2)), (2, 3, 1)])
def test_adjointness_conv2d_and_conv_transpose2d(stride: object, padding: object, output_padding: object) -> None:
    """<conv2d(x, W), y> == <x, conv_transpose2d(y, W)>: the transposed convolution is the adjoint."""
    rng = np.random.default_rng(1)
    weight = t64(rng.standard_normal((3, 2, 3, 4)))  # conv2d: (C_out=3, C_in=2); convT: (C_in=3, C_out=2)
    y_small = t64(rng.standard_normal((2, 3, 4, 3)))
    x = t64(rng.standard_normal(F.conv_transpose2d(y_small, weight, None, stride, padding, output_padding).shape))
    conv_x = F.conv2d(x, weight, None, stride, padding)
    assert conv_x.shape == y_small.shape
    lhs = float((conv_x.numpy() * y_small.numpy()).sum())
    rhs = float((x.numpy() * F.conv_transpose2d(y_small, weight, None, stride, padding, output_padding).numpy()).sum())
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_weight_gradients_of_the_pair_are_each_other_with_roles_swapped() -> None:
    rng = np.random.default_rng(2)
    x, g = t64(rng.standard_normal((2, 2, 3, 3))), t64(rng.standard_normal((2, 3, 6, 6)))
    weight = t64(rng.standard_normal((2, 3, 4, 4)), True)  # convT weight (C_in, C_out, kH, kW)
    z = F.conv_transpose2d(x, weight, stride=2, padding=1)
    (gw,) = tg.grad(z, [weight], g)
    np.testing.assert_allclose(gw.numpy(), F.conv2d_weight(g, weight.shape, x, 2, 1).numpy(), atol=1e-12)


def test_conv_transpose2d_output_shape_formula_over_a_grid() -> None:
    rng = np.random.default_rng(3)
    for h, k, s, p in itertools.product((1, 2, 3, 5), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2)):
        for op in range(s):
            expected = (h - 1) * s - 2 * p + k + op
            if expected < 1:
                continue
            y = F.conv_transpose2d(t64(rng.standard_normal((1, 2, h, h))), t64(rng.standard_normal((2, 1, k, k))),
                                   stride=s, padding=p, output_padding=op)
            assert y.shape == (1, 1, expected, expected), (h, k, s, p, op)


def test_output_padding_round_trip_recovers_every_input_size() -> None:
    """conv2d maps sizes H and H + 1 (stride 2) to the same output; output_padding picks one back."""
    rng = np.random.default_rng(4)
    for h, k, s, p in itertools.product(range(4, 10), (3, 4), (1, 2, 3), (0, 1)):
        x = t64(rng.standard_normal((1, 1, h, h + 1)))
        weight = t64(rng.standard_normal((1, 1, k, k)))
        y = F.conv2d(x, weight, stride=s, padding=p)
        lost = tuple((n + 2 * p - k) % s for n in (h, h + 1))
        back = F.conv_transpose2d(y, weight, stride=s, padding=p, output_padding=lost)
        assert back.shape == x.shape, (h, k, s, p)
        # and the forward direction: conv2d undoes conv_transpose2d's size change for every output_padding
        for op in range(s):
            z = F.conv_transpose2d(y, weight, stride=s, padding=p, output_padding=op)
            assert F.conv2d(z, weight, stride=s, padding=p).shape == y.shape


@pytest.mark.parametrize("config", [CONFIGS[1], CONFIGS[2]])
def test_conv_transpose2d_gradcheck_input_weight_bias(config: tuple) -> None:
    n, c, h, w, o, kh, kw, stride, padding, output_padding = config
    rng = np.random.default_rng(5)
    x = t64(rng.standard_normal((n, c, h, w)), True)
    weight = t64(rng.standard_normal((c, o, kh, kw)), True)
    bias = t64(rng.standard_normal(o), True)
    assert gradcheck(lambda a, b, c_: F.conv_transpose2d(a, b, c_, stride, padding, output_padding),
                     [x, weight, bias])


def test_conv_transpose2d_gradgradcheck_second_order() -> None:
    rng = np.random.default_rng(6)
    x = t64(rng.standard_normal((1, 2, 2, 3)), True)
    weight = t64(rng.standard_normal((2, 2, 3, 3)), True)
    assert gradgradcheck(lambda a, b: F.conv_transpose2d(a, b, None, 2, 1, 1), [x, weight])


def test_conv_transpose2d_input_gradient_is_conv2d_of_the_output_gradient() -> None:
    rng = np.random.default_rng(7)
    x = t64(rng.standard_normal((2, 3, 4, 4)), True)
    weight = t64(rng.standard_normal((3, 2, 4, 4)), True)
    z = F.conv_transpose2d(x, weight, stride=2, padding=1)
    gz = t64(rng.standard_normal(z.shape))
    (gx,) = tg.grad(z, [x], gz, create_graph=True)
    assert type(gx.creator).__name__ == "Conv2d"
    np.testing.assert_allclose(gx.numpy(), F.conv2d(gz, weight, stride=2, padding=1).numpy(), atol=1e-12)


# ---------------------------------------------------------------------- nn.ConvTranspose2d
def test_conv_transpose2d_layer_parameters_match_pytorch() -> None:
    tg.manual_seed(0)
    layer = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    assert layer.weight.shape == (8, 4, 4, 4) and layer.bias.shape == (4,)
    bound = 1 / np.sqrt(4 * 4 * 4)  # PyTorch's fan_in for a transposed conv: weight.shape[1] * kH * kW
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.weight.numpy()).max() > 0.9 * bound
    assert layer(tg.randn(2, 8, 7, 7)).shape == (2, 4, 14, 14)


def test_conv_transpose2d_layer_gradcheck_through_input_and_parameters() -> None:
    tg.manual_seed(1)
    layer = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1).double()
    x = tg.randn(1, 2, 3, 2, dtype=tg.float64, requires_grad=True)
    w, b = layer.weight, layer.bias

    def f(x_: Tensor, w_: Tensor, b_: Tensor) -> Tensor:
        layer.weight, layer.bias = w_, b_  # the float64 copies gradcheck perturbs
        return layer(x_)

    try:
        assert gradcheck(f, [x, w, b])
    finally:
        layer.weight, layer.bias = w, b


def test_conv_transpose2d_output_size_argument_picks_output_padding() -> None:
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    x = tg.randn(1, 1, 4, 4)
    assert layer(x).shape == (1, 1, 7, 7)
    assert layer(x, output_size=(8, 7)).shape == (1, 1, 8, 7)
    assert layer(x, output_size=[1, 1, 8, 8]).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"ConvTranspose2d.*output_size \(9, 9\).*\(7, 7\) to \(8, 8\)"):
        layer(x, output_size=(9, 9))


def test_conv_transpose2d_layer_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    tg.manual_seed(2)
    layer = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1, output_padding=1)
    ref = torch.nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1, output_padding=1)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4)).astype(np.float32)
    xs, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = layer(xs), ref(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), atol=1e-5)
    g = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    y.backward(tg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(layer.weight.grad.numpy(), ref.weight.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad.numpy(), ref.bias.grad.numpy(), atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       data=st.data())
def test_property_adjointness_and_reference_for_random_geometries(
        h: int, w: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, data: st.DataObject) -> None:
    oph, opw = data.draw(st.integers(0, sh - 1)), data.draw(st.integers(0, sw - 1))
    ho, wo = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
    assume(ho >= 1 and wo >= 1)
    rng = np.random.default_rng(h * 1000 + w * 100 + kh * 10 + kw)
    weight = rng.standard_normal((2, 3, kh, kw))
    y_small = rng.standard_normal((1, 2, h, w))
    geometry = ((sh, sw), (ph, pw), (oph, opw))
    z = F.conv_transpose2d(t64(y_small), t64(weight), None, *geometry)
    np.testing.assert_allclose(z.numpy(), reference_conv_transpose2d(y_small, weight, None, *geometry), atol=1e-12)
    x = rng.standard_normal(z.shape)
    conv_x = F.conv2d(t64(x), t64(weight), None, (sh, sw), (ph, pw)).numpy()
    assert conv_x.shape == y_small.shape
    assert abs((conv_x * y_small).sum() - (x * z.numpy()).sum()) <= 1e-10 * max(1.0, abs((x * z.numpy()).sum()))


def test_conv_transpose2d_row_and_column_padding_are_not_swapped() -> None:
    # padding (0, 1) and stride (2, 1) on a 3 x 4 input: swapping the row and column amounts
    # changes both the output shape, (7 - 0, 6 - 2) = (7, 4), and which border is cropped
    rng = np.random.default_rng(5)
    x, weight = rng.standard_normal((1, 1, 3, 4)), rng.standard_normal((1, 1, 3, 3))
    y = F.conv_transpose2d(t64(x), t64(weight), None, (2, 1), (0, 1))
    assert y.shape == (1, 1, 7, 4)
    np.testing.assert_allclose(y.numpy(), reference_conv_transpose2d(x, weight, None, (2, 1), (0, 1), (0, 0)),
                               rtol=1e-12, atol=1e-12)
