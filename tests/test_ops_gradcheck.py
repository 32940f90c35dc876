"""Every differentiable op: forward values against NumPy/SciPy formulas, and first-order gradients
against float64 central differences (``tinygen.gradcheck``, random upstream gradient).

Inputs are drawn away from the points where an op has a kink (ReLU and abs at 0, clamp at its
bounds, ties in max) and from the edges of its domain (log and sqrt of non-positive numbers), where
a finite difference straddles two pieces and means nothing.
"""
from __future__ import annotations

import zlib
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

import tinygen
import tinygen.nn.functional as F
from tinygen import Tensor, gradcheck

MASK = np.random.default_rng(7).random((2, 3, 4)) > 0.5  # a fixed boolean mask for indexing


# --------------------------------------------------------------------------------- helpers
def leaf(array: Any) -> Tensor:
    """A float64 tensor that requires grad, on the active backend's device."""
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def const(array: Any) -> Tensor:
    """A tensor that does not require grad (dtype kept: integer labels stay integers)."""
    return tinygen.tensor(np.asarray(array))


def assert_values(t: Tensor, expected: Any, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(t.numpy(), np.asarray(expected), rtol=rtol, atol=atol)
    assert t.shape == np.shape(expected), f"shape {t.shape}, expected {np.shape(expected)}"


def sample(domain: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Inputs for an op, drawn where its derivative is smooth."""
    if domain == "any":
        return rng.normal(0.0, 1.5, shape)
    if domain == "positive":  # log, sqrt, fractional powers
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":  # relu, leaky_relu, abs: at least 0.2 from the kink at 0
        return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "clamp":  # clamp(-0.5, 0.7) and clamp(min=-0.2): at least 0.05 from every bound
        a = rng.uniform(-2.0, 2.0, shape)
        for bound in (-0.5, -0.2, 0.7):
            a = np.where(np.abs(a - bound) < 0.05, a + 0.1, a)
        return a
    raise ValueError(domain)


# ------------------------------------------------------------- binary ops with broadcasting
BINARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any], str, str]] = {
    # name: (tinygen op, NumPy reference, domain of x, domain of y)
    "add": (lambda x, y: x + y, np.add, "any", "any"),
    "sub": (lambda x, y: x - y, np.subtract, "any", "any"),
    "mul": (lambda x, y: x * y, np.multiply, "any", "any"),
    "div": (lambda x, y: x / y, np.divide, "any", "nonzero"),
    "pow_tensor_exponent": (lambda x, y: x ** y, np.power, "positive", "any"),
    "functional_add": (F.add, np.add, "any", "any"),
    "functional_sub": (F.sub, np.subtract, "any", "any"),
    "functional_mul": (F.mul, np.multiply, "any", "any"),
    "functional_div": (F.div, np.divide, "any", "nonzero"),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_binary_op_matches_numpy_and_finite_differences_for_any_broadcastable_shapes(
        backend: str, name: str, shapes: Any, seed: int) -> None:
    op, reference, x_domain, y_domain = BINARY[name]
    rng = np.random.default_rng(seed)
    a, b = sample(x_domain, shapes.input_shapes[0], rng), sample(y_domain, shapes.input_shapes[1], rng)
    x, y = leaf(a), leaf(b)
    z = op(x, y)
    assert_values(z, reference(a, b))
    assert z.shape == shapes.result_shape
    assert gradcheck(op, [x, y])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_op_with_a_constant_operand_only_differentiates_the_tensor(backend: str, name: str) -> None:
    op, reference, _, _ = BINARY[name]
    rng = np.random.default_rng(1)
    a, c = sample("nonzero", (3, 4), rng), sample("nonzero", (4,), rng)
    x = leaf(a)
    assert_values(op(x, const(c)), reference(a, c))
    assert_values(op(x, 1.5), reference(a, 1.5))
    assert_values(op(2.5, x), reference(2.5, a))  # the reflected operators (__radd__, ...)
    assert gradcheck(lambda x: op(x, const(c)), [x])
    assert gradcheck(lambda x: op(2.5, x), [x])


# --------------------------------------------------------------------------- unary ops
UNARY: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], str]] = {
    # name: (tinygen op, NumPy/SciPy reference, input domain)
    "neg": (lambda x: -x, np.negative, "any"),
    "functional_neg": (F.neg, np.negative, "any"),
    "exp": (tinygen.exp, np.exp, "any"),
    "log": (tinygen.log, np.log, "positive"),
    "sqrt": (tinygen.sqrt, np.sqrt, "positive"),
    "abs": (tinygen.abs, np.abs, "nonzero"),
    "pow_2": (lambda x: x ** 2, lambda a: a ** 2, "any"),
    "pow_3": (lambda x: F.pow(x, 3), lambda a: a ** 3, "any"),
    "pow_half": (lambda x: x ** 0.5, np.sqrt, "positive"),
    "pow_minus_1.5": (lambda x: x.pow(-1.5), lambda a: a ** -1.5, "positive"),
    "number_to_the_tensor": (lambda x: 2.0 ** x, lambda a: 2.0 ** a, "any"),
    "clamp_both": (lambda x: tinygen.clamp(x, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), "clamp"),
    "clamp_min": (lambda x: x.clamp(min=-0.2), lambda a: np.maximum(a, -0.2), "clamp"),
    "clamp_max": (lambda x: F.clamp(x, max=0.7), lambda a: np.minimum(a, 0.7), "clamp"),
    "relu": (F.relu, lambda a: np.maximum(a, 0.0), "nonzero"),
    "leaky_relu_default_slope": (F.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), "nonzero"),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda a: np.where(a > 0, a, 0.2 * a), "nonzero"),
    "sigmoid": (F.sigmoid, special.expit, "any"),
    "tanh": (F.tanh, np.tanh, "any"),
    "softplus": (F.softplus, lambda a: np.logaddexp(0.0, a), "any"),
    "softplus_beta_2": (lambda x: F.softplus(x, beta=2.0), lambda a: np.logaddexp(0.0, 2 * a) / 2, "any"),
    "log_sigmoid": (F.log_sigmoid, special.log_expit, "any"),
    "silu": (F.silu, lambda a: a * special.expit(a), "any"),
    "gelu": (F.gelu, lambda a: a * special.ndtr(a), "any"),  # x Phi(x), Phi the normal CDF
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3))), "any"),
    "elu": (F.elu, lambda a: np.where(a > 0, a, np.expm1(a)), "nonzero"),
    "elu_alpha_0.5": (lambda x: F.elu(x, 0.5), lambda a: np.where(a > 0, a, 0.5 * np.expm1(a)), "nonzero"),
    "erf": (tinygen.ops.erf, special.erf, "any"),
}


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_op_matches_reference_formula_and_finite_differences(backend: str, name: str,
                                                                   shape: tuple[int, ...]) -> None:
    op, reference, domain = UNARY[name]
    a = sample(domain, shape, np.random.default_rng(zlib.crc32(name.encode())))  # a stable per-op seed
    x = leaf(a)
    assert_values(op(x), reference(a))
    assert gradcheck(op, [x])


def test_power_zero_has_a_zero_gradient_even_at_zero(backend: str) -> None:
    x = leaf([0.0, -2.0, 3.0])
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    (g,) = tinygen.grad((x ** 1).sum(), x, create_graph=True)  # d/dx x^1 = 1 x^0: constant
    (gg,) = tinygen.grad(g.sum(), x, allow_unused=True)
    assert gg is None or np.all(gg.numpy() == 0.0)


def test_relu_gradient_is_the_indicator_of_positive_inputs(backend: str) -> None:
    x = leaf([-2.0, -0.5, 0.5, 3.0])
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0, 1.0])


def test_abs_gradient_is_the_sign_of_the_input(backend: str) -> None:
    x = leaf([-2.0, 0.5, 3.0])
    tinygen.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 1.0, 1.0])


def test_clamp_passes_gradient_only_inside_its_bounds(backend: str) -> None:
    x = leaf([-2.0, -0.3, 0.2, 0.9])
    tinygen.clamp(x, -0.5, 0.7).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 0.0])


# -------------------------------------------------------------------------------- reductions
REDUCTIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "sum_all": (lambda x: x.sum(), lambda a: a.sum()),
    "sum_dim": (lambda x: x.sum(1), lambda a: a.sum(1)),
    "sum_negative_dim": (lambda x: tinygen.sum(x, -1), lambda a: a.sum(-1)),
    "sum_dims_keepdim": (lambda x: x.sum((0, 2), keepdim=True), lambda a: a.sum((0, 2), keepdims=True)),
    "mean_all": (lambda x: x.mean(), lambda a: a.mean()),
    "mean_dim": (lambda x: tinygen.mean(x, 0), lambda a: a.mean(0)),
    "mean_keepdim": (lambda x: x.mean(-1, keepdim=True), lambda a: a.mean(-1, keepdims=True)),
    "var_all_unbiased": (lambda x: x.var(), lambda a: a.var(ddof=1)),
    "var_dim": (lambda x: tinygen.var(x, 1), lambda a: a.var(1, ddof=1)),
    "var_dims_keepdim_biased": (lambda x: x.var((0, 2), keepdim=True, unbiased=False),
                                lambda a: a.var((0, 2), keepdims=True)),
    "max_all": (lambda x: x.max(), lambda a: a.max()),
    "min_all": (lambda x: tinygen.min(x), lambda a: a.min()),
    "max_dim_values": (lambda x: x.max(1).values, lambda a: a.max(1)),
    "max_dim_keepdim_values": (lambda x: tinygen.max(x, -1, keepdim=True)[0], lambda a: a.max(-1, keepdims=True)),
    "min_dim_values": (lambda x: x.min(0).values, lambda a: a.min(0)),
    "logsumexp_all": (lambda x: tinygen.logsumexp(x), lambda a: special.logsumexp(a)),
    "logsumexp_dim": (lambda x: x.logsumexp(1), lambda a: special.logsumexp(a, 1)),
    "logsumexp_dims_keepdim": (lambda x: F.logsumexp(x, (0, 2), keepdim=True),
                               lambda a: special.logsumexp(a, (0, 2), keepdims=True)),
    "softmax_last": (lambda x: F.softmax(x, -1), lambda a: special.softmax(a, -1)),
    "softmax_dim1": (lambda x: tinygen.softmax(x, 1), lambda a: special.softmax(a, 1)),
    "log_softmax_dim0": (lambda x: F.log_softmax(x, 0), lambda a: special.log_softmax(a, 0)),
    "log_softmax_last": (lambda x: x.log_softmax(-1), lambda a: special.log_softmax(a, -1)),
    "sum_axis": (lambda x: x.sum(axis=1), lambda a: a.sum(axis=1)),
    "norm_all": (lambda x: x.norm(), lambda a: np.sqrt((a * a).sum())),
    "norm_dim_keepdim": (lambda x: tinygen.norm(x, dim=1, keepdim=True),
                         lambda a: np.sqrt((a * a).sum(1, keepdims=True))),
    "norm_p1_dims": (lambda x: x.norm(p=1, dim=(0, 2)), lambda a: np.abs(a).sum((0, 2))),
    "norm_p3_dim": (lambda x: x.norm(p=3, dim=-1), lambda a: (np.abs(a) ** 3).sum(-1) ** (1 / 3)),
    "norm_inf_dim": (lambda x: x.norm(p=float("inf"), dim=0), lambda a: np.abs(a).max(0)),
    "cumsum_dim": (lambda x: x.cumsum(1), lambda a: np.cumsum(a, 1)),
    "cumsum_axis_last": (lambda x: tinygen.cumsum(x, axis=-1), lambda a: np.cumsum(a, -1)),
    "sort_values": (lambda x: x.sort(1).values, lambda a: np.sort(a, 1)),
    "sort_descending_values": (lambda x: tinygen.sort(x, 0, descending=True).values, lambda a: -np.sort(-a, 0)),
    "topk_values": (lambda x: x.topk(2).values, lambda a: -np.sort(-a, -1)[..., :2]),
    "topk_smallest_values": (lambda x: tinygen.topk(x, 3, 1, largest=False).values, lambda a: np.sort(a, 1)[:, :3]),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_matches_reference_formula_and_finite_differences(backend: str, name: str) -> None:
    op, reference = REDUCTIONS[name]
    a = np.random.default_rng(3).normal(0.0, 2.0, (3, 4, 5))  # continuous draws: no ties for max
    x = leaf(a)
    assert_values(op(x), reference(a))
    assert gradcheck(op, [x])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_and_min_with_dim_return_the_indices_numpy_argmax_picks(backend: str, dim: int) -> None:
    a = np.random.default_rng(4).normal(size=(3, 4, 5))
    x = leaf(a)
    np.testing.assert_array_equal(x.max(dim).indices.numpy(), a.argmax(dim))
    np.testing.assert_array_equal(x.min(dim).indices.numpy(), a.argmin(dim))
    np.testing.assert_array_equal(x.max(dim, keepdim=True).indices.numpy(), np.expand_dims(a.argmax(dim), dim))


def test_max_without_dim_shares_the_gradient_equally_between_tied_maxima(backend: str) -> None:
    x = leaf([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


def test_max_with_dim_sends_the_gradient_to_the_element_argmax_picked(backend: str) -> None:
    x = leaf([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


# --------------------------------------------------------------------- shapes and indexing
SHAPE_OPS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    # all applied to x of shape (2, 3, 4)
    "reshape": (lambda x: x.reshape(4, 6), lambda a: a.reshape(4, 6)),
    "reshape_tuple_with_minus_one": (lambda x: F.reshape(x, (-1, 3)), lambda a: a.reshape(-1, 3)),
    "view": (lambda x: x.view(2, 12), lambda a: a.reshape(2, 12)),
    "transpose": (lambda x: x.transpose(0, 2), lambda a: a.transpose(2, 1, 0)),
    "transpose_negative_dims": (lambda x: F.transpose(x, -1, -2), lambda a: a.swapaxes(-1, -2)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "T": (lambda x: x.T, lambda a: a.T),
    "flatten": (lambda x: x.flatten(1), lambda a: a.reshape(2, 12)),
    "unflatten": (lambda x: x.unflatten(2, (2, 2)), lambda a: a.reshape(2, 3, 2, 2)),
    "unsqueeze_squeeze": (lambda x: x.unsqueeze(1).squeeze(1), lambda a: a),
    "expand": (lambda x: x[:, :1, :].expand(2, 3, 4), lambda a: np.broadcast_to(a[:, :1, :], (2, 3, 4))),
    "integer_index": (lambda x: x[1], lambda a: a[1]),
    "slice": (lambda x: x[:, 1:3], lambda a: a[:, 1:3]),
    "negative_index_and_step": (lambda x: x[-1, ::2, 1:], lambda a: a[-1, ::2, 1:]),
    "ellipsis_and_none": (lambda x: x[..., None, 2], lambda a: a[..., None, 2]),
    "integer_array_with_repeats": (lambda x: x[tinygen.tensor([0, 1, 1, 0, 1])],
                                   lambda a: a[[0, 1, 1, 0, 1]]),
    "two_integer_arrays_with_repeats": (lambda x: x[tinygen.tensor([0, 1, 1]), :, tinygen.tensor([3, 3, 0])],
                                        lambda a: a[[0, 1, 1], :, [3, 3, 0]]),
    "integer_array_after_slice": (lambda x: x[:, tinygen.tensor([2, 2, 0])], lambda a: a[:, [2, 2, 0]]),
    "boolean_mask": (lambda x: x[tinygen.tensor(MASK)], lambda a: a[MASK]),
    "boolean_mask_on_one_axis": (lambda x: x[:, tinygen.tensor([True, False, True])],
                                 lambda a: a[:, [True, False, True]]),
    "split_sections": (lambda x: x.split([1, 2], 1)[1], lambda a: a[:, 1:3]),
    "split_size": (lambda x: tinygen.split(x, 3, -1)[1], lambda a: a[..., 3:]),
    "chunk": (lambda x: tinygen.chunk(x, 2, -1)[1], lambda a: a[..., 2:]),
    "repeat": (lambda x: x.repeat(2, 1, 1, 2), lambda a: np.tile(a, (2, 1, 1, 2))),
    "tile": (lambda x: tinygen.tile(x, (2,)), lambda a: np.tile(a, 2)),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_op_matches_numpy_and_finite_differences(backend: str, name: str) -> None:
    op, reference = SHAPE_OPS[name]
    a = np.random.default_rng(5).normal(size=(2, 3, 4))
    x = leaf(a)
    assert_values(op(x), reference(a), rtol=0, atol=0)
    assert gradcheck(op, [x])


def test_indexing_with_repeated_indices_accumulates_the_gradient(backend: str) -> None:
    x = leaf([10.0, 20.0, 30.0])
    x[tinygen.tensor([0, 2, 2, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 3.0])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_matches_numpy_concatenate_and_finite_differences(backend: str, dim: int) -> None:
    rng = np.random.default_rng(6)
    shapes = [(2, 3), (2, 3), (2, 3)]
    shapes = [tuple(s + k if i == dim % 2 else s for i, s in enumerate(shape)) for k, shape in enumerate(shapes)]
    arrays = [rng.normal(size=s) for s in shapes]
    xs = [leaf(a) for a in arrays]
    assert_values(tinygen.cat(xs, dim), np.concatenate(arrays, dim), rtol=0, atol=0)
    assert gradcheck(lambda *xs: F.cat(list(xs), dim), xs)


def test_cat_gives_no_gradient_to_an_input_that_does_not_require_it(backend: str) -> None:
    rng = np.random.default_rng(6)
    x, c = leaf(rng.normal(size=(2, 3))), const(rng.normal(size=(1, 3)))
    assert gradcheck(lambda x: tinygen.cat([c, x, c], 0), [x])
    tinygen.cat([c, x], 0).sum().backward()
    assert c.grad is None


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_stack_matches_numpy_stack_and_finite_differences(backend: str, dim: int) -> None:
    arrays = [np.random.default_rng(k).normal(size=(2, 3)) for k in range(3)]
    xs = [leaf(a) for a in arrays]
    assert_values(tinygen.stack(xs, dim), np.stack(arrays, dim), rtol=0, atol=0)
    assert gradcheck(lambda *xs: F.stack(list(xs), dim), xs)


@pytest.mark.parametrize("x_shape, y_shape, cond_shape", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)),
                                                          ((2, 3, 4), (3, 4), (1, 4))], ids=str)
def test_where_matches_numpy_and_finite_differences_with_broadcasting(
        backend: str, x_shape: tuple[int, ...], y_shape: tuple[int, ...], cond_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(8)
    a, b, cond = rng.normal(size=x_shape), rng.normal(size=y_shape), rng.random(cond_shape) > 0.4
    x, y, c = leaf(a), leaf(b), tinygen.tensor(cond)
    assert_values(tinygen.where(c, x, y), np.where(cond, a, b), rtol=0, atol=0)
    assert gradcheck(lambda x, y: F.where(c, x, y), [x, y])


def test_where_with_a_number_as_one_branch(backend: str) -> None:
    a = np.random.default_rng(9).normal(size=(3, 4))
    x = leaf(a)
    assert_values(tinygen.where(x > 0, x, 0.0), np.where(a > 0, a, 0.0), rtol=0, atol=0)
    assert gradcheck(lambda x: tinygen.where(tinygen.tensor(a > 0), 0.5, x), [x])


def test_one_hot_matches_an_identity_matrix_lookup(backend: str) -> None:
    labels = np.array([[0, 2], [1, 3]])
    out = F.one_hot(const(labels), 5)
    np.testing.assert_array_equal(out.numpy(), np.eye(5, dtype=np.int64)[labels])
    assert out.shape == (2, 2, 5)
    assert F.one_hot(const([0, 4])).shape == (2, 5)  # num_classes=-1: max label + 1


# ------------------------------------------------------------------------- matmul and linear
@pytest.mark.parametrize("x_shape, y_shape", [
    ((3, 4), (4, 5)),              # matrix @ matrix
    ((2, 3, 4), (2, 4, 5)),        # batched
    ((2, 1, 3, 4), (3, 4, 2)),     # batch axes broadcast: (2, 1) with (3,)
    ((2, 3, 4), (4, 5)),           # batch @ shared matrix
    ((3, 4), (2, 4, 5)),           # shared matrix @ batch
    ((4,), (4,)),                  # vector . vector
    ((4,), (4, 5)),                # vector @ matrix
    ((3, 4), (4,)),                # matrix @ vector
    ((4,), (2, 4, 5)),             # vector @ batch
    ((2, 3, 4), (4,)),             # batch @ vector
], ids=str)
def test_matmul_matches_numpy_matmul_and_finite_differences(backend: str, x_shape: tuple[int, ...],
                                                             y_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=x_shape), rng.normal(size=y_shape)
    x, y = leaf(a), leaf(b)
    assert_values(x @ y, np.matmul(a, b))
    assert_values(tinygen.matmul(x, y), np.matmul(a, b))
    assert gradcheck(lambda x, y: F.matmul(x, y), [x, y])


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)], ids=str)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_x_times_weight_transposed_plus_bias_and_finite_differences(
        backend: str, x_shape: tuple[int, ...], with_bias: bool) -> None:
    rng = np.random.default_rng(11)
    a, w, b = rng.normal(size=x_shape), rng.normal(size=(2, 3)), rng.normal(size=(2,))
    x, W, bias = leaf(a), leaf(w), leaf(b)
    if with_bias:
        assert_values(F.linear(x, W, bias), a @ w.T + b)
        assert gradcheck(lambda x, W, bias: F.linear(x, W, bias), [x, W, bias])
    else:
        assert_values(F.linear(x, W), a @ w.T)
        assert gradcheck(lambda x, W: F.linear(x, W), [x, W])


# ------------------------------------------------------------------------------------ losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_the_mean_squared_difference_and_finite_differences(backend: str, reduction: str) -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    x, t = leaf(a), leaf(b)
    squared = (a - b) ** 2
    expected = {"mean": squared.mean(), "sum": squared.sum(), "none": squared}[reduction]
    assert_values(F.mse_loss(x, t, reduction=reduction), expected)
    assert gradcheck(lambda x, t: F.mse_loss(x, t, reduction=reduction), [x, t])


def _bce_reference(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    # -[t log sigma(x) + (1 - t) log(1 - sigma(x))],  with log(1 - sigma(x)) = log sigma(-x)
    return -(target * special.log_expit(logits) + (1 - target) * special.log_expit(-logits))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_the_bernoulli_log_likelihood_and_finite_differences(
        backend: str, reduction: str) -> None:
    rng = np.random.default_rng(13)
    a, b = rng.normal(0.0, 3.0, (4, 3)), rng.uniform(0.05, 0.95, (4, 3))  # soft targets
    x, t = leaf(a), leaf(b)
    per_element = _bce_reference(a, b)
    expected = {"mean": per_element.mean(), "sum": per_element.sum(), "none": per_element}[reduction]
    assert_values(F.binary_cross_entropy_with_logits(x, t, reduction=reduction), expected)
    # gradients for both the logits and the (soft) targets
    assert gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), [x, t])


def test_bce_with_logits_weight_scales_each_element(backend: str) -> None:
    rng = np.random.default_rng(14)
    a, b, w = rng.normal(size=(4, 3)), (rng.random((4, 3)) > 0.5) * 1.0, rng.uniform(0.5, 2.0, (3,))
    x, t, weight = leaf(a), const(b), leaf(w)
    assert_values(F.binary_cross_entropy_with_logits(x, t, weight=weight), (_bce_reference(a, b) * w).mean())
    assert gradcheck(lambda x, weight: F.binary_cross_entropy_with_logits(x, t, weight=weight), [x, weight])


def _cross_entropy_reference(logits: np.ndarray, target: np.ndarray, ignore_index: int = -100) -> float:
    # mean over the non-ignored positions of -log softmax(x)[target], class axis 1
    logp = np.moveaxis(special.log_softmax(logits, axis=1), 1, -1).reshape(-1, logits.shape[1])
    flat = target.reshape(-1)
    keep = flat != ignore_index
    return float(-logp[np.arange(flat.size)[keep], flat[keep]].mean())


def test_cross_entropy_with_integer_targets_matches_negative_log_softmax(backend: str) -> None:
    rng = np.random.default_rng(15)
    a, labels = rng.normal(0.0, 2.0, (6, 4)), rng.integers(0, 4, 6)
    x, t = leaf(a), const(labels)
    assert_values(F.cross_entropy(x, t), _cross_entropy_reference(a, labels))
    per_row = -special.log_softmax(a, 1)[np.arange(6), labels]
    assert_values(F.cross_entropy(x, t, reduction="sum"), per_row.sum())
    assert_values(F.cross_entropy(x, t, reduction="none"), per_row)
    assert gradcheck(lambda x: F.cross_entropy(x, t), [x])
    assert gradcheck(lambda x: F.cross_entropy(x, t, reduction="none"), [x])


def test_cross_entropy_over_spatial_positions_takes_the_class_axis_at_dim_1(backend: str) -> None:
    rng = np.random.default_rng(16)
    a, labels = rng.normal(size=(2, 3, 2, 2)), rng.integers(0, 3, (2, 2, 2))  # (N, C, d1, d2)
    x, t = leaf(a), const(labels)
    assert_values(F.cross_entropy(x, t), _cross_entropy_reference(a, labels))
    per_position = -np.take_along_axis(special.log_softmax(a, 1), labels[:, None], 1)[:, 0]
    assert_values(F.cross_entropy(x, t, reduction="none"), per_position)
    assert gradcheck(lambda x: F.cross_entropy(x, t), [x])
    assert gradcheck(lambda x: F.cross_entropy(x, t, reduction="none"), [x])


@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_ignore_index_drops_those_targets_from_the_mean(backend: str, ignore_index: int) -> None:
    rng = np.random.default_rng(17)
    a = rng.normal(size=(6, 4))
    labels = np.array([0, ignore_index, 3, 1, ignore_index, 2 if ignore_index != 2 else 1])
    x, t = leaf(a), const(labels)
    assert_values(F.cross_entropy(x, t, ignore_index=ignore_index), _cross_entropy_reference(a, labels, ignore_index))
    assert gradcheck(lambda x: F.cross_entropy(x, t, ignore_index=ignore_index), [x])
    x.grad = None
    F.cross_entropy(x, t, ignore_index=ignore_index).backward()
    ignored_rows = labels == ignore_index
    assert np.all(x.grad.numpy()[ignored_rows] == 0.0)


def test_cross_entropy_with_probability_targets_is_minus_sum_of_target_times_log_softmax(backend: str) -> None:
    rng = np.random.default_rng(18)
    a, p = rng.normal(size=(5, 4)), special.softmax(rng.normal(size=(5, 4)), 1)
    x, t = leaf(a), leaf(p)
    expected = -(p * special.log_softmax(a, 1)).sum(1)
    assert_values(F.cross_entropy(x, t), expected.mean())
    assert_values(F.cross_entropy(x, t, reduction="none"), expected)
    assert gradcheck(lambda x, t: F.cross_entropy(x, t), [x, t])


def test_nll_loss_picks_minus_the_log_probability_of_each_target(backend: str) -> None:
    rng = np.random.default_rng(19)
    a, labels = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    logp = leaf(special.log_softmax(a, 1))
    t = const(labels)
    picked = -special.log_softmax(a, 1)[np.arange(5), labels]
    assert_values(F.nll_loss(logp, t), picked.mean())
    assert_values(F.nll_loss(logp, t, reduction="sum"), picked.sum())
    assert_values(F.nll_loss(logp, t, reduction="none"), picked)
    assert gradcheck(lambda lp: F.nll_loss(lp, t), [logp])
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), t, reduction="sum"), [leaf(a)])


# ----------------------------------------------------------------------------------- dropout
def test_dropout_zeroes_elements_and_scales_the_survivors_by_one_over_keep_probability(backend: str) -> None:
    p = 0.3
    x = leaf(np.random.default_rng(20).uniform(1.0, 2.0, (50, 40)))
    tinygen.manual_seed(0)
    y = F.dropout(x, p)
    a, out = x.numpy(), y.numpy()
    dropped = out == 0.0
    np.testing.assert_allclose(out[~dropped], a[~dropped] / (1 - p), rtol=1e-12)
    assert abs(dropped.mean() - p) < 0.05  # 2000 Bernoulli draws: the rate is within ~4 sd of p
    assert F.dropout(x, p, training=False) is x


def test_dropout_gradient_uses_the_same_mask_when_reseeded(backend: str) -> None:
    x = leaf(np.random.default_rng(21).normal(size=(4, 5)))

    def fn(x: Tensor) -> Tensor:
        tinygen.manual_seed(3)  # the same mask on every evaluation of the finite difference
        return F.dropout(x, 0.4)

    assert gradcheck(fn, [x])
    x.grad = None
    fn(x).sum().backward()
    mask = fn(x).numpy() != 0.0
    np.testing.assert_allclose(x.grad.numpy(), mask / 0.6)
