"""Batch normalisation: gradient checks (train and eval, first and second order, and the gradients
built with create_graph=True against finite differences), the training-mode statistics, running
statistics with PyTorch's momentum convention, eval behaviour, state_dict names and PyTorch parity."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import nn
from tinygen.autograd import Tensor
from tinygen.gradcheck import gradcheck, gradgradcheck


def t64(a: np.ndarray, requires_grad: bool = False) -> Tensor:
    return tg.tensor(a, dtype=tg.float64, requires_grad=requires_grad)


def gamma_beta(c: int, seed: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed)
    # non-unit gamma and non-zero beta, so a backward that ignored either would be caught
    return t64(rng.uniform(0.5, 2.0, c), True), t64(rng.standard_normal(c), True)


def test_gradcheck_linear_then_batch_norm_1d_in_training_mode() -> None:
    """A Linear before the batch norm: the input gradient of batch norm (through mu_B and
    sigma2_B) reaches x and the Linear's weight, which a loss of sum(y) alone would not test."""
    rng = np.random.default_rng(0)
    x = t64(rng.standard_normal((6, 3)), True)
    w, b = t64(rng.standard_normal((4, 3)), True), t64(rng.standard_normal(4), True)
    gamma, beta = gamma_beta(4, 1)

    def f(x_: Tensor, w_: Tensor, b_: Tensor, g_: Tensor, be_: Tensor) -> Tensor:
        return F.batch_norm(F.linear(x_, w_, b_), None, None, g_, be_, training=True)

    assert gradcheck(f, [x, w, b, gamma, beta])


def test_gradcheck_batch_norm_2d_training_mode_input_gamma_beta() -> None:
    rng = np.random.default_rng(2)
    x = t64(rng.standard_normal((2, 3, 3, 2)), True)
    gamma, beta = gamma_beta(3, 3)
    assert gradcheck(lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True, eps=1e-3), [x, gamma, beta])


def test_gradcheck_batch_norm_1d_on_n_c_l_input() -> None:
    rng = np.random.default_rng(4)
    x = t64(rng.standard_normal((3, 2, 4)), True)
    gamma, beta = gamma_beta(2, 5)
    assert gradcheck(lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True), [x, gamma, beta])


def test_gradcheck_batch_norm_eval_mode_uses_the_running_statistics() -> None:
    rng = np.random.default_rng(6)
    x = t64(rng.standard_normal((2, 3, 2, 2)), True)
    gamma, beta = gamma_beta(3, 7)
    mean, var = t64(rng.standard_normal(3)), t64(rng.uniform(0.5, 2, 3))
    assert gradcheck(lambda a, g, b: F.batch_norm(a, mean, var, g, b, training=False), [x, gamma, beta])


# BatchNorm1d on (N, C) and (N, C, L), BatchNorm2d on (N, C, H, W)
TRAINING_SHAPES = [(6, 3), (3, 2, 4), (3, 2, 2, 3)]


def central_differences(value: Callable[..., float], arrays: list[np.ndarray], k: int,
                        eps: float = 1e-6) -> np.ndarray:
    """d value / d arrays[k], element by element: (value(a + eps e_i) - value(a - eps e_i)) / (2 eps)."""
    numeric = np.zeros_like(arrays[k])
    for index in np.ndindex(arrays[k].shape):
        shifted = [a.copy() for a in arrays]
        shifted[k][index] += eps
        plus = value(*shifted)
        shifted[k][index] -= 2 * eps
        numeric[index] = (plus - value(*shifted)) / (2 * eps)
    return numeric


@pytest.mark.parametrize("shape", TRAINING_SHAPES)
def test_create_graph_gradients_of_training_batch_norm_match_central_differences(shape: tuple) -> None:
    """The gradients tinygen.grad returns with create_graph=True (the ones a gradient penalty then
    differentiates) against finite differences of <u, batch_norm(x)> for x, gamma and beta."""
    rng = np.random.default_rng(17)
    c = shape[1]
    x = rng.standard_normal(shape) * 1.5 + 0.5
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.standard_normal(c)
    u = rng.standard_normal(shape)

    def value(x_: np.ndarray, gamma_: np.ndarray, beta_: np.ndarray) -> float:
        y = F.batch_norm(t64(x_), None, None, t64(gamma_), t64(beta_), training=True)
        return float((y.numpy() * u).sum())

    leaves = [t64(x, True), t64(gamma, True), t64(beta, True)]
    y = F.batch_norm(leaves[0], None, None, leaves[1], leaves[2], training=True)
    grads = tg.grad(y, leaves, t64(u), create_graph=True)
    # recorded in a graph, so the create_graph path is what is being checked
    assert grads[0].requires_grad and grads[1].requires_grad
    for k, name in enumerate(["input", "weight", "bias"]):
        numeric = central_differences(value, [x, gamma, beta], k)
        np.testing.assert_allclose(grads[k].numpy(), numeric, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("shape", TRAINING_SHAPES)
def test_gradgradcheck_batch_norm_training_mode(shape: tuple) -> None:
    rng = np.random.default_rng(8)
    x = t64(rng.standard_normal(shape), True)
    gamma, beta = gamma_beta(shape[1], 9)
    assert gradgradcheck(lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True), [x, gamma, beta],
                         atol=1e-4)


def test_third_order_gradients_of_batch_norm_training_mode() -> None:
    """InvStd's backward is built from InvStd again, so every order is exact: gradgradcheck of
    x -> dL/dx (itself taken with create_graph=True) checks the third derivatives."""
    rng = np.random.default_rng(18)
    x = t64(rng.standard_normal((4, 2)), True)
    gamma, beta = gamma_beta(2, 19)
    v = t64(rng.standard_normal((4, 2)), True)

    def input_gradient(x_: Tensor, gamma_: Tensor, beta_: Tensor, v_: Tensor) -> Tensor:
        y = F.batch_norm(x_, None, None, gamma_, beta_, training=True)
        return tg.grad(y, [x_], v_, create_graph=True)[0]

    assert gradgradcheck(input_gradient, [x, gamma, beta, v], atol=1e-4)


def test_layer_gradcheck_through_linear_and_batchnorm1d_parameters() -> None:
    tg.manual_seed(10)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    nn.init.normal_(model[1].weight, 1.0, 0.5)  # gamma away from 1
    nn.init.normal_(model[1].bias, 0.0, 0.5)
    x = tg.randn(5, 3, dtype=tg.float64, requires_grad=True)
    named = list(model.named_parameters())

    def put(values: list) -> None:
        for (name, _), value in zip(named, values):
            index, leaf = name.split(".")
            setattr(model[int(index)], leaf, value)

    def f(x_: Tensor, *params: Tensor) -> Tensor:
        put(list(params))
        return model(x_)

    try:
        assert gradcheck(f, [x] + [p for _, p in named])
    finally:
        put([p for _, p in named])


def test_training_mode_normalises_each_channel_with_the_batch_statistics() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 3, 4, 5)) * np.array([1.0, 5.0, 0.1]).reshape(1, 3, 1, 1) + 3.0
    bn = nn.BatchNorm2d(3).double()
    y = bn(t64(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-10)
    # biased variance, shrunk slightly by eps: var(y) = var / (var + eps)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), var / (var + bn.eps), rtol=1e-10)


def test_running_statistics_follow_pytorch_momentum_convention() -> None:
    rng = np.random.default_rng(12)
    bn = nn.BatchNorm2d(2, momentum=0.3).double()
    running_mean, running_var = np.zeros(2), np.ones(2)
    for step in range(3):
        x = rng.standard_normal((4, 2, 3, 3)) * 2 + step
        bn(t64(x))
        m = x.shape[0] * x.shape[2] * x.shape[3]
        # running = (1 - momentum) running + momentum batch_stat, unbiased variance
        running_mean = 0.7 * running_mean + 0.3 * x.mean(axis=(0, 2, 3))
        running_var = 0.7 * running_var + 0.3 * x.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(bn.running_mean.numpy(), running_mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), running_var, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 3


def test_momentum_none_gives_the_cumulative_average() -> None:
    rng = np.random.default_rng(13)
    bn = nn.BatchNorm1d(3, momentum=None).double()
    batches = [rng.standard_normal((5, 3)) + k for k in range(4)]
    for x in batches:
        bn(t64(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([x.var(0, ddof=1) for x in batches], axis=0),
                               rtol=1e-12)


def test_eval_mode_uses_running_stats_so_a_sample_ignores_the_rest_of_the_batch() -> None:
    rng = np.random.default_rng(14)
    bn = nn.BatchNorm2d(2).double()
    nn.init.normal_(bn.weight, 1.0, 0.3)
    for _ in range(5):
        bn(t64(rng.standard_normal((6, 2, 3, 3)) * 3 + 1))
    frozen = bn.running_mean.numpy(), bn.running_var.numpy(), int(bn.num_batches_tracked.item())
    sample = rng.standard_normal((1, 2, 3, 3))
    others = rng.standard_normal((5, 2, 3, 3)) * 10
    bn.eval()
    alone = bn(t64(sample)).numpy()
    in_batch = bn(t64(np.concatenate([sample, others])))[0:1].numpy()
    np.testing.assert_allclose(alone, in_batch, rtol=1e-12)
    expected = ((sample - frozen[0].reshape(1, 2, 1, 1)) / np.sqrt(frozen[1].reshape(1, 2, 1, 1) + bn.eps)
                * bn.weight.numpy().reshape(1, 2, 1, 1) + bn.bias.numpy().reshape(1, 2, 1, 1))
    np.testing.assert_allclose(alone, expected, rtol=1e-12)
    # eval leaves the running statistics alone
    assert int(bn.num_batches_tracked.item()) == frozen[2]
    np.testing.assert_array_equal(bn.running_mean.numpy(), frozen[0])
    # whereas in training mode the same sample's output does depend on its batch
    bn.train()
    assert not np.allclose(bn(t64(np.concatenate([sample, sample + 1])))[0:1].numpy(),
                           bn(t64(np.concatenate([sample, others])))[0:1].numpy())


def test_track_running_stats_false_always_uses_batch_statistics() -> None:
    bn = nn.BatchNorm1d(2, track_running_stats=False, affine=False).double()
    assert bn.running_mean is None and list(bn.state_dict()) == []
    x = np.random.default_rng(15).standard_normal((4, 2))
    bn.eval()
    np.testing.assert_allclose(bn(t64(x)).numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)


def test_training_needs_more_than_one_value_per_channel() -> None:
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        nn.BatchNorm1d(3)(tg.randn(1, 3))


def test_state_dict_names_and_shapes_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm2d(5).state_dict()
    theirs = torch.nn.BatchNorm2d(5).state_dict()
    assert set(ours) == set(theirs)
    for k in theirs:
        assert tuple(ours[k].shape) == tuple(theirs[k].shape), k
    assert ours["num_batches_tracked"].dtype == np.int64


@pytest.mark.parametrize("shape,layer", [((6, 3), "BatchNorm1d"), ((4, 3, 5), "BatchNorm1d"),
                                         ((4, 3, 2, 3), "BatchNorm2d")])
def test_batch_norm_matches_torch_through_training_steps_and_eval(shape: tuple, layer: str) -> None:
    torch = pytest.importorskip("torch")
    ours = getattr(nn, layer)(3, momentum=0.2).double()
    nn.init.normal_(ours.weight, 1.0, 0.3)
    nn.init.normal_(ours.bias, 0.0, 0.3)
    ref = getattr(torch.nn, layer)(3, momentum=0.2).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(16)
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 0.5
        g = rng.standard_normal(shape)
        xs, xt = t64(x, True), torch.tensor(x, requires_grad=True)
        y, yt = ours(xs), ref(xt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        y.backward(t64(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-8)
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-10, err_msg=k)
    ours.eval()
    ref.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(t64(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
