"""Second-order gradients: every op a gradient penalty can pass through, by ``gradgradcheck``
(finite differences of the first-order gradient, itself computed with ``create_graph=True`` and
first checked against finite differences of the op), and an end-to-end WGAN-GP penalty
differentiated with respect to the critic's parameters.

The tables below are the one list: ``test_every_function_is_in_a_second_order_table`` fails
when the library defines a Function (an op, or an op's backward) that no table entry reaches.

Inputs stay away from kinks (ReLU at 0, clamp bounds) and from log/sqrt of non-positive numbers.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import Tensor, gradcheck, gradgradcheck, nn


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


RNG = np.random.default_rng(0)
NORMAL = RNG.normal(0.0, 1.0, (2, 3))
POSITIVE = RNG.uniform(0.5, 2.0, (2, 3))
NONZERO = RNG.uniform(0.2, 2.0, (2, 3)) * np.array([[1, -1, 1], [-1, 1, -1]])
OTHER = RNG.normal(0.0, 1.0, (2, 3))
ROW = RNG.uniform(0.5, 2.0, (3,))

ONE_INPUT: dict[str, tuple[Callable[[Any], Any], np.ndarray]] = {
    # name: (op, input), input shape (2, 3)
    "neg": (lambda x: -x, NORMAL),
    "exp": (tinygen.exp, NORMAL),
    "log": (tinygen.log, POSITIVE),
    "sqrt": (tinygen.sqrt, POSITIVE),
    "abs": (tinygen.abs, NONZERO),
    "pow_2": (lambda x: x ** 2, NORMAL),
    "pow_3": (lambda x: x ** 3, NORMAL),
    "pow_minus_half": (lambda x: x ** -0.5, POSITIVE),
    "number_to_the_tensor": (lambda x: 3.0 ** x, NORMAL),
    "clamp": (lambda x: tinygen.clamp(x, -0.1, 0.1) + x * x, NONZERO),
    "relu": (lambda x: F.relu(x) * x, NONZERO),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2) * x, NONZERO),
    "sigmoid": (F.sigmoid, NORMAL),
    "tanh": (F.tanh, NORMAL),
    "softplus": (F.softplus, NORMAL),
    "softplus_beta": (lambda x: F.softplus(x, beta=3.0), NORMAL),
    "log_sigmoid": (F.log_sigmoid, NORMAL),
    "silu": (F.silu, NORMAL),
    "gelu": (F.gelu, NORMAL),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), NORMAL),
    "elu": (lambda x: F.elu(x, 0.5), NONZERO),
    "erf": (tinygen.ops.erf, NORMAL),
    "layer_norm": (lambda x: F.layer_norm(x, 3), NORMAL),
    "group_norm": (lambda x: F.group_norm(x.reshape(1, 2, 3), 2), NORMAL),
    "sum": (lambda x: (x * x).sum(1), NORMAL),
    "sum_keepdim": (lambda x: (x * x).sum(0, keepdim=True), NORMAL),
    "mean": (lambda x: (x * x).mean(), NORMAL),
    "var": (lambda x: x.var(1), NORMAL),
    "var_biased_all": (lambda x: x.var(unbiased=False), NORMAL),
    "max_dim": (lambda x: (x * x).max(1).values, NORMAL),
    "max_all": (lambda x: (x * x).max(), NORMAL),
    "min_dim": (lambda x: (x * x).min(0).values, NORMAL),
    "reshape": (lambda x: (x * x).reshape(3, 2), NORMAL),
    "permute": (lambda x: (x * x).permute(1, 0), NORMAL),
    "transpose": (lambda x: (x * x).transpose(0, 1), NORMAL),
    "getitem_slice": (lambda x: (x * x)[:, 1:], NORMAL),
    "getitem_repeats": (lambda x: (x * x)[:, tinygen.tensor([2, 0, 2])], NORMAL),
    "getitem_mask": (lambda x: (x * x)[tinygen.tensor(NORMAL > 0)], NORMAL),
    "cat": (lambda x: tinygen.cat([x * x, x.exp()], 1), NORMAL),
    "stack": (lambda x: tinygen.stack([x * x, x], 0), NORMAL),
    "where": (lambda x: tinygen.where(tinygen.tensor(OTHER > 0), x * x, x.exp()), NORMAL),
    "expand": (lambda x: (x[:, :1] * x[:, :1]).expand(2, 3), NORMAL),
    "flatten_unflatten": (lambda x: (x * x).unsqueeze(0).flatten(1).unflatten(1, (3, 2)), NORMAL),
    "dropout_reseeded": (lambda x: (tinygen.manual_seed(0), F.dropout(x * x, 0.5))[1], NORMAL),
    "logsumexp": (lambda x: tinygen.logsumexp(x, 1), NORMAL),
    "logsumexp_all": (lambda x: tinygen.logsumexp(x), NORMAL),
    "softmax": (lambda x: F.softmax(x, 1), NORMAL),
    "softmax_dim0": (lambda x: F.softmax(x, 0), NORMAL),
    "log_softmax": (lambda x: F.log_softmax(x, -1), NORMAL),
    "norm": (lambda x: x.norm(), NORMAL),
    "norm_dim_keepdim": (lambda x: tinygen.norm(x, dim=1, keepdim=True), NORMAL),
    "norm_p1": (lambda x: x.norm(p=1, dim=0) * x[0], NONZERO),
    "norm_p3": (lambda x: x.norm(p=3, dim=1), NORMAL),
    "norm_inf": (lambda x: (x * x).norm(p=float("inf"), dim=1), NORMAL),
    "cumsum": (lambda x: (x * x).cumsum(1), NORMAL),
    "sort": (lambda x: (x * x).sort(1, descending=True).values, NORMAL),
    "topk": (lambda x: (x * x).topk(2, dim=1).values, NORMAL),
    "split": (lambda x: (x * x).split([1, 2], 1)[1], NORMAL),
    "chunk": (lambda x: (x * x).chunk(2, 1)[0], NORMAL),
    "repeat": (lambda x: (x * x).repeat(2, 1, 2), NORMAL),
}


@pytest.mark.parametrize("name", list(ONE_INPUT))
def test_second_order_gradient_of_single_input_op_matches_finite_differences(backend: str, name: str) -> None:
    op, a = ONE_INPUT[name]
    assert gradgradcheck(op, [leaf(a)])


TWO_INPUTS: dict[str, tuple[Callable[[Any, Any], Any], np.ndarray, np.ndarray]] = {
    # name: (op, x, y); y broadcasts where its shape is (3,)
    "add": (lambda x, y: (x + y) * x, NORMAL, ROW),
    "sub": (lambda x, y: (x - y) * y, NORMAL, ROW),
    "mul": (lambda x, y: x * y, NORMAL, ROW),
    "div": (lambda x, y: x / y, NORMAL, ROW),
    "pow_tensor_exponent": (lambda x, y: x ** y, POSITIVE, OTHER),
    "matmul": (lambda x, y: x @ y, NORMAL, RNG.normal(size=(3, 2))),
    "matmul_batched_broadcast": (lambda x, y: tinygen.matmul(x, y), RNG.normal(size=(2, 1, 2, 3)),
                                 RNG.normal(size=(2, 3, 2))),
    "matmul_vector": (lambda x, y: x @ y, NORMAL, ROW),
    "mm": (tinygen.mm, NORMAL, OTHER.T),
    "bmm": (tinygen.bmm, np.stack([NORMAL, OTHER]), np.stack([OTHER.T, NORMAL.T])),
    "linear_no_bias": (lambda x, W: F.linear(x, W), NORMAL, RNG.normal(size=(4, 3))),
    "linear_3d_input": (lambda x, W: F.linear(x, W), RNG.normal(size=(2, 2, 3)), RNG.normal(size=(4, 3))),
    "mse_loss": (lambda x, t: F.mse_loss(x, t), NORMAL, OTHER),
    "bce_with_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t), NORMAL,
                        RNG.uniform(0.1, 0.9, (2, 3))),
    "cross_entropy_probability_targets": (lambda x, t: F.cross_entropy(x, t), NORMAL,
                                          np.exp(OTHER) / np.exp(OTHER).sum(1, keepdims=True)),
    "l1_loss": (lambda x, t: F.l1_loss(x, t), NORMAL, NORMAL + 0.5),
    "binary_cross_entropy": (lambda x, t: F.binary_cross_entropy(x, t), POSITIVE / 2.5, 0.5 - NORMAL.clip(-1, 1) / 4),
    "bce_with_logits_pos_weight": (lambda x, p: F.binary_cross_entropy_with_logits(
        x, tinygen.tensor(np.exp(-POSITIVE)), pos_weight=p), NORMAL, ROW),
    "cross_entropy_class_weight_smoothing": (lambda x, w: F.cross_entropy(
        x, tinygen.tensor(np.array([2, 0])), weight=w, label_smoothing=0.1), NORMAL, ROW),
    "kl_div": (lambda x, t: F.kl_div(x, t, reduction="batchmean"), NORMAL,
               np.exp(OTHER) / np.exp(OTHER).sum(1, keepdims=True)),
    "gaussian_nll_loss_var": (lambda x, v: F.gaussian_nll_loss(x, tinygen.tensor(OTHER), v), NORMAL, POSITIVE),
}


@pytest.mark.parametrize("name", list(TWO_INPUTS))
def test_second_order_gradient_of_two_input_op_matches_finite_differences(backend: str, name: str) -> None:
    op, a, b = TWO_INPUTS[name]
    assert gradgradcheck(op, [leaf(a), leaf(b)])


IMAGE = RNG.normal(0.0, 1.0, (2, 2, 5, 5))  # (N, C, H, W)
INDICES = np.array([[0, 2, 3], [3, 0, 1]])  # rows of a (4, 3) embedding table; 0 is the padding row
PAD_ROW_OFF = np.array([[0.0], [1.0], [1.0], [1.0]])

MANY_INPUTS: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    # name: (op, inputs); the ops with more than two inputs, or with image-shaped ones
    "linear_with_bias": (lambda x, W, b: F.tanh(F.linear(x, W, b)),  # tanh: the bias enters the Hessian
                         [NORMAL, RNG.normal(size=(4, 3)), RNG.normal(size=(4,))]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, 2, 1), [IMAGE, RNG.normal(size=(3, 2, 3, 3)), RNG.normal(size=(3,))]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, 1),
                         [IMAGE[:, :, :3, :3], RNG.normal(size=(2, 3, 3, 3))]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, 1) ** 2, [IMAGE]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1) ** 2, [IMAGE]),
    "constant_pad": (lambda x: F.pad(x * x, (1, 2, 0, 1), value=0.5), [IMAGE]),
    "reflect_pad": (lambda x: F.pad(x * x, (1, 1, 2, 0), mode="reflect"), [IMAGE]),
    # padding_idx's row gets no gradient by definition (PyTorch's), not by calculus: so the table's
    # row 0 is multiplied by 0 first, making the true gradient there 0 too, and the check exact
    "embedding_padding_idx": (lambda w: F.embedding(tinygen.tensor(INDICES), w * tinygen.tensor(PAD_ROW_OFF),
                                                    padding_idx=0) ** 2, [RNG.normal(size=(4, 3))]),
    "batch_norm_training": (lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
                            [IMAGE, RNG.uniform(0.5, 1.5, (2,)), RNG.normal(size=(2,))]),
    "batch_norm_eval": (lambda x, g: F.batch_norm(x, tinygen.tensor(np.array([0.1, -0.2])),
                                                   tinygen.tensor(np.array([1.5, 0.7])), g, None,
                                                   training=False) ** 2,
                        [IMAGE, RNG.uniform(0.5, 1.5, (2,))]),
    "clone": (lambda x: (x * x).clone() * x, [NORMAL]),
}


@pytest.mark.parametrize("name", list(MANY_INPUTS))
def test_second_order_gradient_of_many_input_op_matches_finite_differences(backend: str, name: str) -> None:
    op, arrays = MANY_INPUTS[name]
    assert gradgradcheck(op, [leaf(a) for a in arrays])


def test_second_order_gradient_through_float32_and_back(backend: str) -> None:
    # .float(), .double() and .to(dtype) are one op (ToDtype). In float32 the function's values
    # carry about 1e-7 relative rounding, so the differences use eps = 1e-3 (exact for this
    # quadratic, whose third derivative is 0) and the tolerance is float32's: rounding / eps ~ 1e-4.
    op = lambda x: (x.float() * x.to(tinygen.float32)).double()  # noqa: E731
    assert gradgradcheck(op, [leaf(NORMAL)], eps=1e-3, atol=1e-3, rtol=1e-3)


# Every Function the library defines must be reached by the second-order checks above, so that a
# new op without one fails here. The only exemption, and why:
NOT_IN_THE_TABLES = {
    "ToDevice": "moves data between CPU and GPU; its gradient is the move back, checked with a GPU",
}


def _every_function_class() -> set[type]:
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(tinygen.ops.__path__):  # every op module, imported
        importlib.import_module(f"tinygen.ops.{module.name}")
    found: set[type] = set()
    stack = [tinygen.Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__.startswith("tinygen.") and sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def _second_order_graph(op: Callable[..., Any], leaves: list[Tensor]) -> None:
    """op's forward, its first-order gradient built as a graph, and that graph's backward."""
    out = op(*leaves)
    outs = out if isinstance(out, tuple) else (out,)
    vs = [leaf(RNG.normal(size=o.shape)) for o in outs]  # upstream gradients, leaves as in gradgradcheck
    total = sum((o * v).sum() for o, v in zip(outs, vs))
    grads = tinygen.grad(total, leaves, create_graph=True, allow_unused=True)
    second = sum((g * g).sum() for g in grads if g is not None)
    tinygen.grad(second, leaves + vs, allow_unused=True)


def test_every_function_is_in_a_second_order_table(monkeypatch) -> None:
    reached: set[str] = set()
    original = tinygen.Function.__call__

    def recording_call(self, *inputs):
        reached.add(type(self).__name__)
        return original(self, *inputs)

    monkeypatch.setattr(tinygen.Function, "__call__", recording_call)
    for op, a in ONE_INPUT.values():
        _second_order_graph(op, [leaf(a)])
    for op, a, b in TWO_INPUTS.values():
        _second_order_graph(op, [leaf(a), leaf(b)])
    for op, arrays in MANY_INPUTS.values():
        _second_order_graph(op, [leaf(a) for a in arrays])
    _second_order_graph(lambda x: (x.float() * x.to(tinygen.float32)).double(), [leaf(NORMAL)])
    defined = {cls.__name__ for cls in _every_function_class()}
    missing = sorted(defined - reached - set(NOT_IN_THE_TABLES))
    assert not missing, f"ops with no second-order check in this file's tables: {missing}"
    assert set(NOT_IN_THE_TABLES) <= defined  # an exemption for an op that no longer exists goes


def test_second_order_gradient_of_cross_entropy_and_nll_loss_with_integer_targets(backend: str) -> None:
    labels = tinygen.tensor(np.array([2, 0]))
    assert gradgradcheck(lambda x: F.cross_entropy(x, labels), [leaf(NORMAL)])
    assert gradgradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), labels, reduction="sum"), [leaf(NORMAL)])
    spatial = tinygen.tensor(np.array([[0, 2], [1, 1]]))  # (N, d) targets for (N, C, d) logits
    assert gradgradcheck(lambda x: F.cross_entropy(x, spatial), [leaf(RNG.normal(size=(2, 3, 2)))])


def test_second_order_gradient_of_bce_with_logits_weight(backend: str) -> None:
    t = tinygen.tensor(np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    assert gradgradcheck(lambda x, w: F.binary_cross_entropy_with_logits(x, t, weight=w), [leaf(NORMAL), leaf(ROW)])


def test_hessian_of_a_cubic_is_six_x_on_the_diagonal(backend: str) -> None:
    # f = sum x^3: df/dx = 3 x^2, d/dx (sum df/dx) = 6 x, exactly
    x = leaf([0.5, -1.0, 2.0])
    (g,) = tinygen.grad((x ** 3).sum(), x, create_graph=True)
    (h,) = tinygen.grad(g.sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    np.testing.assert_allclose(h.numpy(), 6 * np.array([0.5, -1.0, 2.0]))


# ----------------------------------------------------------------------------- WGAN-GP penalty
def critic(x: Tensor, W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor) -> Tensor:
    """A small MLP critic D(x) = W2 tanh(W1 x + b1) + b2 (the layout of the nn.Sequential below).

    A smooth activation, so that b1 reaches grad_x D (through a piecewise-linear activation it would
    not: the penalty's gradient for b1 would be 0 almost everywhere)."""
    return F.linear(F.tanh(F.linear(x, W1, b1)), W2, b2)


def gradient_penalty(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    # lambda-free WGAN-GP penalty: E_x[(||grad_x D(x)||_2 - 1)^2]
    (g,) = tinygen.grad(D(x).sum(), x, create_graph=True)  # (N, d): one gradient per sample
    norm = tinygen.sqrt((g * g).sum(1))
    return ((norm - 1) ** 2).mean()


def _critic_and_points() -> tuple[nn.Sequential, np.ndarray]:
    tinygen.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    points = np.random.default_rng(1).normal(size=(4, 3))
    return D, points


def test_wgan_gp_penalty_gradient_wrt_critic_parameters_matches_finite_differences(backend: str) -> None:
    D, points = _critic_and_points()
    params = [leaf(p.numpy()) for p in D.parameters()]  # W1, b1, W2, b2
    def penalty(W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor) -> Tensor:
        x = leaf(points)  # interpolates: fresh leaves, so grad_x is taken anew at each evaluation
        return gradient_penalty(lambda x: critic(x, W1, b1, W2, b2), x)

    assert gradcheck(penalty, params)
    # b2 shifts D by a constant, so it cannot change grad_x D: its gradient is exactly 0
    grads = tinygen.grad(penalty(*params), params, allow_unused=True)
    assert grads[3] is None or np.all(grads[3].numpy() == 0.0)
    assert all(np.abs(g.numpy()).max() > 1e-3 for g in grads[:3])


def test_wgan_gp_penalty_through_nn_modules_gives_the_same_parameter_gradients(backend: str) -> None:
    D, points = _critic_and_points()
    params = list(D.parameters())
    x = leaf(points)
    gradient_penalty(D, x).backward()
    expected = tinygen.grad(gradient_penalty(lambda x: critic(x, *params), leaf(points)), params, allow_unused=True)
    for p, e in zip(params[:3], expected[:3]):
        np.testing.assert_allclose(p.grad.numpy(), e.numpy(), rtol=1e-12)
    assert x.grad is not None  # x is a leaf of the penalty too


class _SquareWithAWrongGraphBranch(tinygen.Function):
    """y = x^2 whose backward is right when no graph is built and drops the factor 2 when one is
    (the kind of bug a separate create_graph branch, as batch norm once had, can hide)."""

    def forward(self, x: Any) -> Any:
        return x * x

    def backward(self, gy: Tensor) -> Tensor:
        x, = self.inputs
        return gy * x if tinygen.is_grad_enabled() else gy * x * 2.0


def test_gradgradcheck_catches_a_wrong_first_order_gradient_in_graph_mode() -> None:
    x = leaf(NORMAL)
    op = lambda a: _SquareWithAWrongGraphBranch()(a)  # noqa: E731
    assert gradcheck(op, [x])  # the plain backward is right ...
    with pytest.raises(tinygen.GradcheckError, match="input 0"):
        gradcheck(op, [x], create_graph=True)  # ... the graph-building one is not
    with pytest.raises(tinygen.GradcheckError):
        gradgradcheck(op, [x])  # and gradgradcheck checks that one against finite differences first
