"""``tinygen.nn.utils``: gradient clipping by the joint norm and by value, and parameters as one
flat vector, with PyTorch's semantics (checked by hand, and against torch where it is installed)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygen
from tinygen import Tensor, nn
from tinygen.nn.utils import clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters


def params_with_grads(*grads: list) -> list[Tensor]:
    out = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g)))
        p.grad = tinygen.tensor(np.asarray(g, dtype=np.float64))
        out.append(p)
    return out


# ----------------------------------------------------------------------------- clip_grad_norm_
def test_clip_grad_norm_scales_all_gradients_by_max_norm_over_their_joint_norm(backend: str) -> None:
    # ||(3, 4)|| = 5 and ||(12,)|| = 12: the joint norm is sqrt(9 + 16 + 144) = 13
    a, b = params_with_grads([3.0, 4.0], [[12.0]])
    total = clip_grad_norm_([a, b], max_norm=6.5)
    assert isinstance(total, Tensor) and total.ndim == 0
    np.testing.assert_allclose(total.item(), 13.0, rtol=1e-15)  # the norm before clipping
    coef = 6.5 / (13.0 + 1e-6)  # PyTorch's coefficient, with its 1e-6
    np.testing.assert_allclose(a.grad.numpy(), [3 * coef, 4 * coef], rtol=1e-15)
    np.testing.assert_allclose(b.grad.numpy(), [[12 * coef]], rtol=1e-15)


def test_clip_grad_norm_leaves_gradients_below_max_norm_untouched(backend: str) -> None:
    a, b = params_with_grads([3.0, 4.0], [[12.0]])
    grad_a = a.grad
    total = clip_grad_norm_(iter([a, b]), max_norm=20.0)  # a generator, as model.parameters() is
    np.testing.assert_allclose(total.item(), 13.0)
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(b.grad.numpy(), [[12.0]])
    assert a.grad is grad_a  # the same gradient tensor, as PyTorch's in-place update keeps it


@pytest.mark.parametrize("norm_type, expected", [(1.0, 19.0), (math.inf, 12.0), ("inf", 12.0),
                                                 (3.0, (27 + 64 + 1728) ** (1 / 3))])
def test_clip_grad_norm_other_norm_types(backend: str, norm_type: object, expected: float) -> None:
    a, b = params_with_grads([3.0, -4.0], [[12.0]])
    total = clip_grad_norm_([a, b], max_norm=1.0, norm_type=norm_type)
    np.testing.assert_allclose(total.item(), expected, rtol=1e-14)
    np.testing.assert_allclose(a.grad.numpy(), np.array([3.0, -4.0]) / (expected + 1e-6), rtol=1e-14)


def test_clip_grad_norm_skips_parameters_without_gradients_and_takes_a_single_tensor(backend: str) -> None:
    (a,) = params_with_grads([6.0, 8.0])
    frozen = nn.Parameter(np.ones(3))
    total = clip_grad_norm_([frozen, a], 5.0)
    np.testing.assert_allclose(total.item(), 10.0)
    assert frozen.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [6 * 5 / (10 + 1e-6), 8 * 5 / (10 + 1e-6)], rtol=1e-15)
    np.testing.assert_allclose(clip_grad_norm_(a, 1.0).item(), 5 / (10 + 1e-6) * 10, rtol=1e-12)
    assert clip_grad_norm_([frozen], 1.0).item() == 0.0


def test_clip_grad_norm_scales_a_gradient_array_shared_by_two_leaves_once_each(backend: str) -> None:
    # the backward of a + b hands a and b the same gradient array: each must still be scaled once
    a = tinygen.tensor([1.0, 1.0], requires_grad=True)
    b = tinygen.tensor([1.0, 1.0], requires_grad=True)
    (a + b).backward(tinygen.tensor([3.0, 4.0]))
    clip_grad_norm_([a, b], max_norm=1.0)
    expected = np.array([3.0, 4.0]) / (math.sqrt(50.0) + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), expected, rtol=1e-6)


def test_clip_grad_norm_keeps_float32_and_can_refuse_a_nonfinite_norm(backend: str) -> None:
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    p.grad = tinygen.tensor([3.0, 4.0])
    clip_grad_norm_([p], 1.0)
    assert p.grad.dtype == np.float32
    p.grad = tinygen.tensor([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="clip_grad_norm_: norm_type must be a positive number or inf, got 'two'"):
        clip_grad_norm_([p], 1.0, norm_type="two")


# ---------------------------------------------------------------------------- clip_grad_value_
def test_clip_grad_value_clamps_each_entry(backend: str) -> None:
    a, b = params_with_grads([-3.0, 0.5, 2.0], [[0.1, -0.2]])
    assert clip_grad_value_([a, b], 1.0) is None
    np.testing.assert_array_equal(a.grad.numpy(), [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [[0.1, -0.2]])
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value must be non-negative, got -1"):
        clip_grad_value_([a], -1)


# ------------------------------------------------------------------ parameters <-> one vector
def test_parameters_to_vector_joins_the_flattened_parameters_in_order(backend: str) -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = parameters_to_vector(model.parameters())
    expected = np.concatenate([p.numpy().reshape(-1) for p in model.parameters()])
    assert vec.shape == (3 * 2 + 2 + 2 + 1,)
    np.testing.assert_array_equal(vec.numpy(), expected)
    # differentiable: d(sum_i c_i vec_i)/dp = c, put back in each parameter's shape
    coefficients = tinygen.arange(11).float()
    (vec * coefficients).sum().backward()
    np.testing.assert_array_equal(model[0].weight.grad.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(model[1].bias.grad.numpy(), [10.0])


def test_vector_to_parameters_is_the_inverse_and_shares_memory_like_pytorch(backend: str) -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = tinygen.arange(11).float()
    vector_to_parameters(vec, model.parameters())
    np.testing.assert_array_equal(model[0].weight.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(model[1].bias.numpy(), [10.0])
    np.testing.assert_array_equal(parameters_to_vector(model.parameters()).numpy(), np.arange(11))
    vec.data[0] = -1.0  # the parameters are views of vec, as in PyTorch
    assert model[0].weight.numpy()[0, 0] == -1.0
    with pytest.raises(ValueError, match=r"vector_to_parameters: vec must be a 1-D tensor of 11 elements "
                                         r".* got shape \(10,\)"):
        vector_to_parameters(tinygen.zeros(10), model.parameters())
    with pytest.raises(TypeError, match="vector_to_parameters: vec must be a Tensor, got list"):
        vector_to_parameters([0.0] * 11, model.parameters())


def test_nn_utils_is_reachable_as_an_attribute_like_torch_nn_utils() -> None:
    assert tinygen.nn.utils.clip_grad_norm_ is clip_grad_norm_


# ----------------------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("max_norm, norm_type", [(0.5, 2.0), (100.0, 2.0), (1.0, math.inf), (2.0, 1.0)])
def test_clip_grad_norm_matches_torch(max_norm: float, norm_type: float) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    ours = params_with_grads(*grads)
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(g)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.item(), total_t.item(), rtol=1e-13)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-13)
