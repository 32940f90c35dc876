"""nn.Module bookkeeping and the basic layers, and that a state_dict maps one-to-one onto the same
PyTorch module."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import Tensor, nn


class Block(nn.Module):
    """Parameters, a buffer and sub-modules assigned in a deliberately mixed order."""

    def __init__(self) -> None:
        super().__init__()
        self.second = nn.Linear(3, 4)
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))
        self.register_buffer("running", tinygen.zeros(4))
        self.first = nn.Linear(4, 2, bias=False)
        self.not_a_parameter = tinygen.ones(2)  # a plain tensor attribute: not registered

    def forward(self, x: Tensor) -> Tensor:
        return self.first(self.second(x) * self.scale)


def test_parameters_are_registered_own_first_then_children_in_assignment_order(backend: str) -> None:
    block = Block()
    names = [n for n, _ in block.named_parameters()]
    assert names == ["scale", "second.weight", "second.bias", "first.weight"]
    assert [p is q for p, q in zip(block.parameters(), [block.scale, block.second.weight,
                                                        block.second.bias, block.first.weight])] == [True] * 4
    assert list(block.children()) == [block.second, block.first]
    assert [n for n, _ in block.named_children()] == ["second", "first"]
    assert [n for n, _ in block.named_buffers()] == ["running"]


def test_reassigning_a_parameter_keeps_its_place_in_the_order(backend: str) -> None:
    layer = nn.Linear(3, 2)
    layer.weight = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert list(layer.state_dict()) == ["weight", "bias"]


def test_a_shared_parameter_is_listed_once(backend: str) -> None:
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(model.parameters())) == 2


def test_replacing_a_module_attribute_with_a_plain_value_unregisters_it(backend: str) -> None:
    block = Block()
    block.first = None
    assert [n for n, _ in block.named_parameters()] == ["scale", "second.weight", "second.bias"]


def test_state_dict_holds_plain_numpy_copies_of_parameters_and_buffers(backend: str) -> None:
    block = Block()
    state = block.state_dict()
    assert list(state) == ["scale", "running", "second.weight", "second.bias", "first.weight"]  # PyTorch's order
    assert all(type(v) is np.ndarray for v in state.values())
    state["scale"][:] = 7.0  # a copy: editing it does not touch the model
    np.testing.assert_array_equal(block.scale.numpy(), 1.0)


def test_load_state_dict_copies_values_in_and_keeps_dtype(backend: str) -> None:
    source, target = Block(), Block()
    source.scale.data[:] = 3.0
    state = {k: v.astype(np.float64) for k, v in source.state_dict().items()}
    target.load_state_dict(state)
    for (k, v), w in zip(target.state_dict().items(), source.state_dict().values()):
        np.testing.assert_array_equal(v, w)
        assert v.dtype == np.float32, k
    state["scale"][:] = 0.0
    np.testing.assert_array_equal(target.scale.numpy(), 3.0)  # copied, not aliased


def test_train_and_eval_set_the_mode_of_every_submodule(backend: str) -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.ReLU()))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_module_zero_grad_clears_every_parameter_gradient(backend: str) -> None:
    block = Block()
    block(tinygen.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


def test_module_double_converts_parameters_and_buffers(backend: str) -> None:
    block = Block().double()
    assert all(t.dtype == np.float64 for t in list(block.parameters()) + list(block.buffers()))
    assert block(tinygen.randn(2, 3, dtype=tinygen.float64)).dtype == np.float64


# ------------------------------------------------------------------------------------- Linear
def test_linear_weight_is_out_by_in_and_its_forward_is_x_w_transposed_plus_b(backend: str) -> None:
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.requires_grad and isinstance(layer.weight, nn.Parameter)
    x = tinygen.randn(4, 5)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    assert nn.Linear(5, 3, bias=False).bias is None
    assert [n for n, _ in nn.Linear(5, 3, bias=False).named_parameters()] == ["weight"]


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in(backend: str) -> None:
    tinygen.manual_seed(0)
    fan_in = 64
    layer = nn.Linear(fan_in, 500)
    bound = 1 / np.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-a, a) has mean 0 and variance a^2 / 3; 32,000 draws pin both down to about 1%
    assert abs(w.mean()) < 0.02 * bound
    assert abs(w.var() / (bound ** 2 / 3) - 1) < 0.03
    assert np.abs(w).max() > 0.99 * bound  # the whole interval is used, not a narrower one
    assert np.abs(b).max() > 0.8 * bound and abs(b.mean()) < 0.2 * bound


# ---------------------------------------------------------------------------------- dcgan_init_
def _dcgan_model() -> nn.Module:
    # the inner Linear and BatchNorm1d sit inside 2 enclosing modules, the outer Linear inside 1
    return nn.Sequential(nn.Sequential(nn.Linear(40, 50), nn.BatchNorm1d(50)), nn.Linear(50, 60))


def test_dcgan_init_draws_weights_from_n_0_002_gamma_from_n_1_002_and_zeroes_biases(backend: str) -> None:
    tinygen.manual_seed(0)
    model = nn.init.dcgan_init_(_dcgan_model())
    inner, norm, outer = model[0][0], model[0][1], model[1]
    weights = np.concatenate([inner.weight.numpy().ravel(), outer.weight.numpy().ravel()])
    assert abs(weights.mean()) < 0.002 and abs(weights.std() - 0.02) < 0.001  # 5,000 draws
    assert abs(norm.weight.numpy().mean() - 1.0) < 0.01 and 0.01 < norm.weight.numpy().std() < 0.03
    for bias in (inner.bias, norm.bias, outer.bias):
        assert np.all(bias.numpy() == 0.0)


def _draws_per_weight(monkeypatch: pytest.MonkeyPatch, initialise: object) -> dict[str, int]:
    """How many times ``normal_`` drew each weight of the model while ``initialise(model)`` ran."""
    model = _dcgan_model()
    names = {id(p): name for name, p in model.named_parameters()}
    counts = dict.fromkeys((n for n in names.values() if n.endswith("weight")), 0)
    original = nn.init.normal_

    def counting_normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
        counts[names[id(t)]] += 1
        return original(t, mean, std)

    monkeypatch.setattr(nn.init, "normal_", counting_normal_)
    initialise(model)
    return counts


def test_dcgan_init_on_the_model_draws_each_weight_once(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = _draws_per_weight(monkeypatch, nn.init.dcgan_init_)
    assert counts == {"0.0.weight": 1, "0.1.weight": 1, "1.weight": 1}


def test_dcgan_init_under_apply_draws_a_layer_once_per_enclosing_module_plus_one(
        backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # what the docstring says about model.apply(dcgan_init_)
    counts = _draws_per_weight(monkeypatch, lambda model: model.apply(nn.init.dcgan_init_))
    assert counts == {"0.0.weight": 3, "0.1.weight": 3, "1.weight": 2}


# ----------------------------------------------------------------------- containers and layers
def test_sequential_indexing_length_iteration_and_names(backend: str) -> None:
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    model = nn.Sequential(a, b, c)
    assert model[0] is a and model[1] is b and model[-1] is c
    assert len(model) == 3 and list(model) == [a, b, c]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    named = nn.Sequential(OrderedDict([("encoder", nn.Linear(2, 3)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["encoder.weight", "encoder.bias"]
    x = tinygen.randn(4, 2)
    np.testing.assert_allclose(model(x).numpy(), c(b(a(x))).numpy())


def test_slicing_a_sequential_gives_a_sequential_that_keeps_the_names(backend: str) -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid())
    head = model[2:]
    assert isinstance(head, nn.Sequential) and list(head) == [model[2], model[3]]
    assert [n for n, _ in head.named_parameters()] == ["2.weight", "2.bias"]
    x = tinygen.randn(4, 2)
    np.testing.assert_array_equal(head(model[:2](x)).numpy(), model(x).numpy())
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)])
    assert isinstance(layers[1:], nn.ModuleList) and list(layers[1:]) == [layers[1], layers[2]]


@pytest.mark.parametrize("layer, op", [(nn.ReLU(), F.relu), (nn.Tanh(), F.tanh), (nn.Sigmoid(), F.sigmoid),
                                       (nn.LeakyReLU(0.3), lambda x: F.leaky_relu(x, 0.3)),
                                       (nn.Identity(), lambda x: x)],
                         ids=["ReLU", "Tanh", "Sigmoid", "LeakyReLU", "Identity"])
def test_activation_layers_apply_their_functional_op(backend: str, layer: nn.Module, op: object) -> None:
    x = tinygen.randn(3, 4)
    np.testing.assert_array_equal(layer(x).numpy(), op(x).numpy())  # type: ignore[operator]


def test_identity_returns_its_input_unchanged(backend: str) -> None:
    x = tinygen.randn(3, 4)
    assert nn.Identity(54, unused="arguments")(x) is x


def test_flatten_keeps_the_batch_axis_and_unflatten_undoes_it(backend: str) -> None:
    x = tinygen.randn(2, 3, 4, 5)
    flat = nn.Flatten()(x)
    assert flat.shape == (2, 60)
    np.testing.assert_array_equal(flat.numpy(), x.numpy().reshape(2, 60))
    back = nn.Unflatten(1, (3, 4, 5))(flat)
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    with pytest.raises(ValueError, match=r"Unflatten: dim 1.*\(2, 60\).*size 60.*\(7, 8\) needs 56"):
        nn.Unflatten(1, (7, 8))(flat)


def test_dropout_drops_in_training_and_is_the_identity_in_eval(backend: str) -> None:
    tinygen.manual_seed(0)
    layer = nn.Dropout(0.5)
    x = tinygen.ones(100, 100)
    y = layer(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs((y == 0).mean() - 0.5) < 0.03
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


def test_module_repr_follows_pytorch(backend: str) -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Dropout(0.1))
    text = repr(model)
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(1): LeakyReLU(negative_slope=0.2)" in text and "(2): Dropout(p=0.1)" in text


# ------------------------------------------------------------------------------ torch mapping
def _pair() -> tuple[nn.Sequential, object]:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                                 torch.nn.Tanh(), torch.nn.Linear(8, 3))
    return ours, theirs


def test_our_state_dict_loads_strictly_into_the_same_torch_module_and_gives_the_same_outputs() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _pair()
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert state[k].shape == tuple(v.shape), k
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(tinygen.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_torch_state_dict_loads_into_our_module_and_gives_the_same_outputs() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _pair()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(tinygen.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_state_dict_keys_of_nested_modules_carry_every_parent_prefix(backend: str) -> None:
    # three levels deep: a dropped or doubled prefix anywhere changes a key
    inner = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    model = nn.Sequential(OrderedDict([("body", nn.Sequential(inner, nn.ReLU())), ("head", nn.Linear(2, 1))]))
    assert list(model.state_dict()) == [
        "body.0.0.weight", "body.0.0.bias", "body.0.1.weight", "body.0.1.bias",
        "body.0.1.running_mean", "body.0.1.running_var", "body.0.1.num_batches_tracked",
        "head.weight", "head.bias"]
    fresh = nn.Sequential(OrderedDict([("body", nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)),
                                                              nn.ReLU())), ("head", nn.Linear(2, 1))]))
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(fresh.body[0][0].weight.numpy(), inner[0].weight.numpy())


def test_state_dict_key_order_is_pytorchs() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Sequential(nn.Linear(3, 1)))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3),
                                 torch.nn.Sequential(torch.nn.Linear(3, 1)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
