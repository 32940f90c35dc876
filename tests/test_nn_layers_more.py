"""The layers a PyTorch user reaches for next: SiLU, GELU (erf and tanh forms), ELU, Softmax and
LogSoftmax as Modules, LayerNorm, GroupNorm, ModuleDict and the rest of ModuleList. Values are
checked against formulas written out in NumPy, gradients (first and second order) against central
differences in float64; the torch tests only add a parity check."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from scipy import special

import tinygen
import tinygen.nn.functional as F
from tinygen import Tensor, gradcheck, gradgradcheck, nn


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def away_from_zero(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Values at least 0.2 from 0, where ELU (alpha != 1) has a kink."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2.5, shape) * rng.choice([-1.0, 1.0], shape)


# ------------------------------------------------------------------------------- activations
def _gelu_exact(a: np.ndarray) -> np.ndarray:
    # x Phi(x), Phi the standard normal CDF
    return a * 0.5 * (1 + special.erf(a / math.sqrt(2)))


def _gelu_tanh(a: np.ndarray) -> np.ndarray:
    return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))


ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[np.ndarray], np.ndarray], nn.Module]] = {
    # name: (functional op, NumPy formula, the layer)
    "silu": (F.silu, lambda a: a / (1 + np.exp(-a)), nn.SiLU()),
    "gelu": (F.gelu, _gelu_exact, nn.GELU()),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), _gelu_tanh, nn.GELU(approximate="tanh")),
    "elu": (F.elu, lambda a: np.where(a > 0, a, np.exp(a) - 1), nn.ELU()),
    "elu_alpha_0.7": (lambda x: F.elu(x, alpha=0.7), lambda a: np.where(a > 0, a, 0.7 * (np.exp(a) - 1)),
                      nn.ELU(alpha=0.7)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_its_formula_and_its_layer(backend: str, name: str) -> None:
    op, formula, layer = ACTIVATIONS[name]
    a = away_from_zero((3, 5), seed=1)
    x = leaf(a)
    np.testing.assert_allclose(op(x).numpy(), formula(a), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(layer(x).numpy(), op(x).numpy())


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_first_and_second_order_gradients_match_finite_differences(backend: str, name: str) -> None:
    op = ACTIVATIONS[name][0]
    x = leaf(away_from_zero((2, 3), seed=2))
    assert gradcheck(op, [x])
    assert gradgradcheck(op, [x])


def test_gelu_exact_and_tanh_forms_differ_by_a_little_but_measurably(backend: str) -> None:
    # the tanh form is an approximation: |difference| is up to ~5e-4 near |x| = 2, never 1e-2
    a = np.linspace(-4, 4, 81)
    exact, approx = F.gelu(leaf(a)).numpy(), F.gelu(leaf(a), approximate="tanh").numpy()
    assert 1e-4 < np.abs(exact - approx).max() < 1e-3


def test_gelu_derivative_is_phi_plus_x_times_normal_density(backend: str) -> None:
    a = np.array([-2.0, -0.5, 0.0, 0.7, 3.0])
    x = leaf(a)
    F.gelu(x).sum().backward()
    density = np.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * (1 + special.erf(a / math.sqrt(2))) + a * density, rtol=1e-12)


def test_erf_matches_scipy_and_its_derivative_is_two_over_root_pi_exp_minus_x_squared(backend: str) -> None:
    a = np.linspace(-3, 3, 13)
    x = leaf(a)
    y = tinygen.ops.erf(x)
    np.testing.assert_allclose(y.numpy(), special.erf(a), rtol=1e-14)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 / math.sqrt(math.pi) * np.exp(-a * a), rtol=1e-14)


def test_elu_slope_below_zero_is_alpha_exp_x(backend: str) -> None:
    x = leaf([-1.0, -0.3, 0.5])
    F.elu(x, alpha=0.7).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.7 * math.exp(-1.0), 0.7 * math.exp(-0.3), 1.0], rtol=1e-14)


@pytest.mark.parametrize("op", [F.silu, F.gelu, lambda x: F.gelu(x, "tanh"), F.elu],
                         ids=["silu", "gelu", "gelu_tanh", "elu"])
def test_activations_stay_finite_at_plus_minus_ten_thousand(backend: str, op: Callable[[Tensor], Tensor]) -> None:
    with np.errstate(all="raise"):
        x = tinygen.tensor([-1e4, 1e4], requires_grad=True)
        y = op(x)
        y.sum().backward()
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(y.numpy()[1], 1e4)  # each is the identity far on the right


def test_gelu_rejects_an_unknown_approximation() -> None:
    with pytest.raises(ValueError, match=r"gelu: approximate must be one of \('none', 'tanh'\), got 'exact'"):
        F.gelu(tinygen.zeros(2), approximate="exact")
    with pytest.raises(ValueError, match=r"GELU: approximate must be 'none' or 'tanh', got 'erf'"):
        nn.GELU("erf")


@pytest.mark.parametrize("layer, op", [(nn.Softmax(dim=1), lambda a: special.softmax(a, 1)),
                                       (nn.Softmax(-1), lambda a: special.softmax(a, -1)),
                                       (nn.LogSoftmax(dim=0), lambda a: special.log_softmax(a, 0))],
                         ids=["Softmax1", "Softmax-1", "LogSoftmax0"])
def test_softmax_layers_normalise_along_their_dim(backend: str, layer: nn.Module, op: Any) -> None:
    a = np.random.default_rng(3).normal(size=(2, 3, 4))
    np.testing.assert_allclose(layer(leaf(a)).numpy(), op(a), rtol=1e-12)


def test_softmax_layer_needs_a_dim() -> None:
    with pytest.raises(TypeError, match=r"Softmax: pass the dim.*got dim=None"):
        nn.Softmax()


def test_activation_layers_take_inplace_and_print_like_pytorch() -> None:
    x = tinygen.tensor([-1.0, 2.0])
    for layer in (nn.ReLU(inplace=True), nn.LeakyReLU(0.2, inplace=True), nn.ELU(inplace=True), nn.SiLU(True)):
        before = x.numpy()
        layer(x)
        np.testing.assert_array_equal(x.numpy(), before)  # the input is left as it was
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(True)) == "ReLU(inplace=True)"
    assert repr(nn.LeakyReLU(0.2, True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)" and repr(nn.SiLU()) == "SiLU()"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')" and repr(nn.Softmax(1)) == "Softmax(dim=1)"


# ------------------------------------------------------------------------------- layer norm
def _layer_norm_reference(a: np.ndarray, k: int, eps: float) -> np.ndarray:
    # over the last k axes of each sample: (x - mean) / sqrt(biased var + eps)
    axes = tuple(range(a.ndim - k, a.ndim))
    mu = a.mean(axes, keepdims=True)
    return (a - mu) / np.sqrt(((a - mu) ** 2).mean(axes, keepdims=True) + eps)


@pytest.mark.parametrize("normalized_shape", [4, (3, 4)], ids=str)
def test_layer_norm_standardises_the_last_dims_then_applies_the_elementwise_affine(
        backend: str, normalized_shape: Any) -> None:
    rng = np.random.default_rng(4)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    a, w, b = rng.normal(1.0, 2.0, (2, 3, 4)), rng.normal(size=shape), rng.normal(size=shape)
    eps = 0.5  # large, so that eps inside or outside the square root would show
    expected = _layer_norm_reference(a, len(shape), eps) * w + b
    np.testing.assert_allclose(F.layer_norm(leaf(a), normalized_shape, leaf(w), leaf(b), eps).numpy(),
                               expected, rtol=1e-12)
    layer = nn.LayerNorm(normalized_shape, eps=eps).double()
    layer.weight.data[...], layer.bias.data[...] = (tinygen.backend.to_device(v, layer.weight.device) for v in (w, b))
    np.testing.assert_allclose(layer(leaf(a)).numpy(), expected, rtol=1e-12)
    layer.eval()  # no running statistics: eval computes the same thing
    np.testing.assert_allclose(layer(leaf(a)).numpy(), expected, rtol=1e-12)


def test_layer_norm_gradients_for_input_weight_and_bias_first_and_second_order(backend: str) -> None:
    rng = np.random.default_rng(5)
    x, w, b = leaf(rng.normal(size=(2, 2, 3))), leaf(rng.normal(size=(2, 3))), leaf(rng.normal(size=(2, 3)))

    def fn(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        return F.layer_norm(x, (2, 3), w, b, eps=0.1)

    assert gradcheck(fn, [x, w, b])
    assert gradgradcheck(fn, [x, w, b])


def test_layer_norm_without_affine_or_bias_has_those_parameters_absent(backend: str) -> None:
    assert [n for n, _ in nn.LayerNorm(3).named_parameters()] == ["weight", "bias"]
    assert list(nn.LayerNorm(3, bias=False).state_dict()) == ["weight"]
    plain = nn.LayerNorm((2, 3), elementwise_affine=False)
    assert plain.weight is None and plain.bias is None and not list(plain.parameters())
    a = np.random.default_rng(6).normal(size=(4, 2, 3))
    np.testing.assert_allclose(plain.double()(leaf(a)).numpy(), _layer_norm_reference(a, 2, 1e-5), rtol=1e-10)
    assert repr(plain) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=False)"


def test_layer_norm_rejects_an_input_whose_last_dims_do_not_match() -> None:
    with pytest.raises(ValueError, match=r"layer_norm: the input's last 2 dim\(s\) must be normalized_shape="
                                         r"\(3, 4\), got input of shape \(2, 4, 3\)"):
        nn.LayerNorm((3, 4))(tinygen.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(4,\), got \(3,\)"):
        F.layer_norm(tinygen.zeros(2, 4), 4, tinygen.ones(3))
    with pytest.raises(ValueError, match=r"LayerNorm: normalized_shape must be"):
        nn.LayerNorm(0)


# ------------------------------------------------------------------------------- group norm
def _group_norm_reference(a: np.ndarray, groups: int, eps: float) -> np.ndarray:
    # consecutive channels form a group: (N, C, ...) -> (N, G, C/G, ...), statistics over all but N, G
    n, c = a.shape[:2]
    g = a.reshape(n, groups, -1)
    mu = g.mean(2, keepdims=True)
    return ((g - mu) / np.sqrt(((g - mu) ** 2).mean(2, keepdims=True) + eps)).reshape(a.shape)


@pytest.mark.parametrize("shape", [(2, 6, 3, 2), (3, 6, 4), (4, 6)], ids=str)
def test_group_norm_standardises_groups_of_consecutive_channels_then_applies_a_per_channel_affine(
        backend: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    # channel c has mean c: a grouping by c % G instead of consecutive channels would mix means
    a = rng.normal(size=shape) + np.arange(6).reshape((1, 6) + (1,) * (len(shape) - 2))
    w, b = rng.normal(size=6), rng.normal(size=6)
    per_channel = (1, 6) + (1,) * (len(shape) - 2)
    expected = _group_norm_reference(a, 3, 0.5) * w.reshape(per_channel) + b.reshape(per_channel)
    np.testing.assert_allclose(F.group_norm(leaf(a), 3, leaf(w), leaf(b), eps=0.5).numpy(), expected, rtol=1e-12)
    layer = nn.GroupNorm(3, 6, eps=0.5).double()
    layer.weight.data[...], layer.bias.data[...] = (tinygen.backend.to_device(v, layer.weight.device) for v in (w, b))
    np.testing.assert_allclose(layer(leaf(a)).numpy(), expected, rtol=1e-12)


def test_group_norm_with_one_group_per_channel_and_with_one_group_overall(backend: str) -> None:
    a = np.random.default_rng(8).normal(size=(2, 4, 3))
    # G = C: instance norm, each channel of each sample on its own
    per_channel = (a - a.mean(2, keepdims=True)) / np.sqrt(a.var(2, keepdims=True) + 1e-5)
    np.testing.assert_allclose(F.group_norm(leaf(a), 4).numpy(), per_channel, rtol=1e-10)
    # G = 1: layer norm over (C, L)
    np.testing.assert_allclose(F.group_norm(leaf(a), 1).numpy(), _layer_norm_reference(a, 2, 1e-5), rtol=1e-10)


def test_group_norm_gradients_for_input_weight_and_bias_first_and_second_order(backend: str) -> None:
    rng = np.random.default_rng(9)
    x, w, b = leaf(rng.normal(size=(2, 4, 3))), leaf(rng.normal(size=4)), leaf(rng.normal(size=4))

    def fn(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        return F.group_norm(x, 2, w, b, eps=0.1)

    assert gradcheck(fn, [x, w, b])
    assert gradgradcheck(fn, [x, w, b])


def test_group_norm_checks_its_groups_and_channels() -> None:
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 6\): expected an input of shape \(N, 6, \.\.\.\), "
                                         r"got shape \(2, 4, 3\)"):
        nn.GroupNorm(2, 6)(tinygen.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=r"group_norm: num_groups must be a positive integer dividing the 4 channels"):
        F.group_norm(tinygen.zeros(2, 4, 3), 3)
    assert repr(nn.GroupNorm(2, 6)) == "GroupNorm(2, 6, eps=1e-05, affine=True)"
    assert not list(nn.GroupNorm(2, 6, affine=False).parameters())


def test_layer_and_group_norm_keep_float32(backend: str) -> None:
    x = tinygen.randn(2, 4, 3)
    assert nn.LayerNorm(3)(x).dtype == np.float32 and nn.GroupNorm(2, 4)(x).dtype == np.float32


# ------------------------------------------------------------------------------- containers
def test_module_dict_names_state_dict_keys_after_its_keys_in_insertion_order(backend: str) -> None:
    heads = nn.ModuleDict({"mu": nn.Linear(3, 2), "log_var": nn.Linear(3, 2, bias=False)})
    heads["extra"] = nn.LayerNorm(2)
    assert list(heads) == ["mu", "log_var", "extra"] and len(heads) == 3 and "mu" in heads
    assert list(heads.state_dict()) == ["mu.weight", "mu.bias", "log_var.weight", "extra.weight", "extra.bias"]
    model = nn.Sequential(nn.Linear(3, 3))
    model.heads = heads
    assert "heads.mu.weight" in model.state_dict()
    assert [k for k, _ in heads.items()] == list(heads.keys()) and list(heads.values())[0] is heads["mu"]


def test_module_dict_update_replace_pop_and_clear(backend: str) -> None:
    heads = nn.ModuleDict([("a", nn.Linear(2, 2)), ("b", nn.Tanh())])
    replacement = nn.ReLU()
    heads.update({"a": replacement, "c": nn.Identity()})
    assert list(heads) == ["a", "b", "c"] and heads["a"] is replacement  # a replaced entry keeps its place
    assert not list(heads.parameters())  # the old Linear's parameters are gone with it
    popped = heads.pop("b")
    assert isinstance(popped, nn.Tanh) and list(heads) == ["a", "c"] and not hasattr(heads, "b")
    del heads["a"]
    heads.clear()
    assert len(heads) == 0 and not list(heads.state_dict())


def test_module_dict_rejects_keys_that_would_hide_its_methods_or_break_state_dict_names() -> None:
    heads = nn.ModuleDict()
    with pytest.raises(KeyError, match="'keys' is already an attribute"):
        heads["keys"] = nn.ReLU()
    with pytest.raises(KeyError, match="without '.'"):
        heads["a.b"] = nn.ReLU()
    with pytest.raises(TypeError, match=r"ModuleDict\['a'\]: expected a Module, got int"):
        heads["a"] = 3


def test_module_list_extend_insert_setitem_and_delete_keep_the_names_numbered(backend: str) -> None:
    first, second, third = nn.Linear(1, 1), nn.Linear(1, 2), nn.Linear(2, 1)
    layers = nn.ModuleList([first])
    layers.extend([third])
    layers.insert(1, second)
    assert list(layers) == [first, second, third]
    assert list(layers.state_dict())[::2] == ["0.weight", "1.weight", "2.weight"]
    replacement = nn.Linear(1, 2)
    layers[1] = replacement
    assert layers[1] is replacement and second not in list(layers)
    del layers[0]
    assert list(layers) == [replacement, third]
    assert [n for n, _ in layers.named_children()] == ["0", "1"]
    assert layers.state_dict()["0.weight"].shape == (2, 1)
    with pytest.raises(TypeError, match="ModuleList.append: expected a Module, got str"):
        layers.append("relu")


# ----------------------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("ours, name, kwargs", [
    (F.silu, "silu", {}), (F.gelu, "gelu", {}),
    (lambda x: F.gelu(x, approximate="tanh"), "gelu", {"approximate": "tanh"}),
    (lambda x: F.elu(x, 0.7), "elu", {"alpha": 0.7})], ids=["silu", "gelu", "gelu_tanh", "elu"])
def test_activations_match_torch_values_and_gradients(ours: Any, name: str, kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(10).normal(0.0, 2.0, (4, 5))
    x, xt = leaf(a), torch.tensor(a, requires_grad=True)
    y, yt = ours(x), getattr(torch.nn.functional, name)(xt, **kwargs)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make", ["layer", "group"])
def test_layer_and_group_norm_match_torch_modules_and_state_dicts(make: str) -> None:
    torch = pytest.importorskip("torch")
    if make == "layer":
        ours, theirs, shape = nn.LayerNorm((3, 4)).double(), torch.nn.LayerNorm((3, 4)).double(), (2, 3, 4)
    else:
        ours, theirs, shape = nn.GroupNorm(2, 4).double(), torch.nn.GroupNorm(2, 4).double(), (2, 4, 3, 2)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(11)
    a, g = rng.normal(size=shape), rng.normal(size=shape)
    x, xt = leaf(a), torch.tensor(a, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.backward(tinygen.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_module_dict_state_dict_keys_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.ModuleDict({"enc": nn.Linear(2, 3), "norm": nn.LayerNorm(3)})
    theirs = torch.nn.ModuleDict({"enc": torch.nn.Linear(2, 3), "norm": torch.nn.LayerNorm(3)})
    assert list(ours.state_dict()) == list(theirs.state_dict())
