"""The backward engine: reused values, diamonds, very deep graphs, accumulation, no_grad,
``tinygen.grad`` (non-leaf inputs, allow_unused, create_graph), detect_anomaly and the DOT view."""
from __future__ import annotations

import re
import sys
from typing import Any

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import AnomalyError, Function, Tensor, gradcheck


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


A = np.array([0.5, -1.5, 2.0])


def test_a_value_used_twice_receives_both_gradients(backend: str) -> None:
    # y = x*x + x: dy/dx = 2x + 1 (x appears three times in the graph)
    x = leaf(A)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * A + 1)


def test_diamond_graph_adds_the_gradients_of_both_branches(backend: str) -> None:
    # a = 2x; y = exp(a) + 3a: dy/dx = 2 exp(2x) + 6, the two paths from a meeting again at y
    x = leaf(A)
    a = x * 2
    y = (a.exp() + a * 3).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * A) + 6)
    assert gradcheck(lambda x: (x * 2).exp() + (x * 2) * 3, [leaf(A)])


def test_backward_through_a_100000_op_chain_needs_no_recursion() -> None:
    depth = 100_000
    assert depth > 10 * sys.getrecursionlimit()
    x = tinygen.tensor(0.5, dtype=tinygen.float64, requires_grad=True)
    y = x
    for _ in range(depth):
        y = y + x  # y = (depth + 1) x, one op deeper each time
    y.backward()
    assert x.grad.item() == depth + 1
    del y  # tearing the chain down must not overflow the stack either


def test_calling_backward_twice_accumulates_the_gradients(backend: str) -> None:
    x = leaf(A)
    y = (x * x).sum()
    y.backward(retain_graph=True)  # keep the graph for the second pass (PyTorch needs it too)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (2 * A))


def test_gradients_from_separate_graphs_accumulate_into_the_same_leaf(backend: str) -> None:
    x = leaf(A)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * A)
    assert x.grad.creator is None and not x.grad.requires_grad  # a plain value, not a graph


def test_constants_receive_no_gradient(backend: str) -> None:
    x, c = leaf(A), tinygen.tensor(A)
    (x * c).sum().backward()
    assert c.grad is None and not c.requires_grad


def test_no_grad_records_nothing(backend: str) -> None:
    x = leaf(A)
    with tinygen.no_grad():
        y = (x * 2).exp().sum()
        assert not tinygen.is_grad_enabled()
    assert y.creator is None and not y.requires_grad and y.is_leaf
    assert tinygen.is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_works_as_a_decorator_and_restores_the_mode_after_an_exception(backend: str) -> None:
    @tinygen.no_grad()
    def doubled(x: Tensor) -> Tensor:
        return x * 2

    x = leaf(A)
    assert doubled(x).creator is None
    with pytest.raises(ZeroDivisionError):
        with tinygen.no_grad():
            1 / 0
    assert tinygen.is_grad_enabled()


def test_enable_grad_inside_no_grad_records_again(backend: str) -> None:
    x = leaf(A)
    with tinygen.no_grad():
        with tinygen.enable_grad():
            y = (x * x).sum()
        z = x * 2
    assert y.requires_grad and y.creator is not None
    assert z.creator is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * A)


# ------------------------------------------------------------------------------ tinygen.grad
def test_grad_agrees_with_backward_and_leaves_dot_grad_untouched(backend: str) -> None:
    x, w = leaf(A), leaf([1.0, 2.0, -1.0])

    def loss() -> Tensor:
        return ((x * w).tanh() * x).sum()

    gx, gw = tinygen.grad(loss(), [x, w])
    assert x.grad is None and w.grad is None
    loss().backward()
    np.testing.assert_allclose(gx.numpy(), x.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(gw.numpy(), w.grad.numpy(), rtol=1e-14)
    before = x.grad.numpy()
    tinygen.grad(loss(), x)
    np.testing.assert_array_equal(x.grad.numpy(), before)


def test_grad_with_respect_to_a_non_leaf_tensor(backend: str) -> None:
    x = leaf(A)
    h = x * 3
    y = (h * h).sum() + x.sum()
    (gh,) = tinygen.grad(y, h, retain_graph=True)  # the second grad walks the same graph
    np.testing.assert_allclose(gh.numpy(), 2 * 3 * A)  # dy/dh = 2h, not through the x.sum() path
    gh2, gx = tinygen.grad(y, [h, x])
    np.testing.assert_allclose(gh2.numpy(), 6 * A)
    np.testing.assert_allclose(gx.numpy(), 18 * A + 1)


def test_grad_of_a_non_scalar_output_takes_grad_outputs(backend: str) -> None:
    x = leaf(A)
    v = np.array([1.0, -2.0, 0.5])
    (g,) = tinygen.grad(x * x, x, grad_outputs=tinygen.tensor(v))
    np.testing.assert_allclose(g.numpy(), v * 2 * A)


def test_grad_of_several_outputs_sums_their_contributions(backend: str) -> None:
    x = leaf(A)
    (g,) = tinygen.grad([(x * x).sum(), (x * 5).sum()], x)
    np.testing.assert_allclose(g.numpy(), 2 * A + 5)


def test_grad_of_an_unused_input_raises_unless_allow_unused(backend: str) -> None:
    x, unused = leaf(A), leaf([1.0])
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(1,\)\) is not used.*allow_unused"):
        tinygen.grad((x * x).sum(), [x, unused])
    gx, gu = tinygen.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(gx.numpy(), 2 * A)


def test_grad_without_create_graph_returns_plain_values(backend: str) -> None:
    x = leaf(A)
    (g,) = tinygen.grad((x ** 3).sum(), x)
    assert not g.requires_grad and g.creator is None


def test_grad_with_create_graph_returns_differentiable_gradients(backend: str) -> None:
    x = leaf(A)
    (g,) = tinygen.grad((x ** 3).sum(), x, create_graph=True)  # 3 x^2
    assert g.requires_grad and g.creator is not None
    (gg,) = tinygen.grad((g * g).sum(), x)  # d/dx sum 9 x^4 = 36 x^3
    np.testing.assert_allclose(gg.numpy(), 36 * A ** 3)


def test_backward_with_create_graph_leaves_a_differentiable_grad(backend: str) -> None:
    x = leaf(A)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (gg,) = tinygen.grad(x.grad.sum(), x)  # d/dx sum 3 x^2 = 6 x
    np.testing.assert_allclose(gg.numpy(), 6 * A)


# ----------------------------------------------------------------- custom Functions, engine checks
class Cube(Function):
    """y = x^3, written the way the ops are: forward on arrays, backward on tensors."""

    def forward(self, x: Any) -> Any:
        return x ** 3

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        # dy/dx = 3 x^2
        return gy * 3 * x * x


class WrongShapeGrad(Function):
    def forward(self, x: Any) -> Any:
        return x * 2

    def backward(self, gy: Tensor) -> Tensor:
        return gy.sum()  # a bug: the gradient must have the input's shape


def test_a_user_defined_function_passes_first_and_second_order_checks(backend: str) -> None:
    assert gradcheck(lambda x: Cube()(x), [leaf(A)])
    assert tinygen.gradgradcheck(lambda x: Cube()(x), [leaf(A)])


def test_a_backward_returning_the_wrong_shape_is_reported_with_the_op_name(backend: str) -> None:
    x = leaf(A)
    with pytest.raises(RuntimeError, match=r"WrongShapeGrad\.backward returned a gradient of shape \(\) "
                                           r"for an input of shape \(3,\)"):
        WrongShapeGrad()(x).sum().backward()


def test_gradcheck_catches_a_wrong_backward_and_names_input_element_and_values(backend: str) -> None:
    class Off(Cube):
        def backward(self, gy: Tensor) -> Tensor:
            (x,) = self.inputs
            return gy * 3.3 * x * x  # 10% too large

    with pytest.raises(tinygen.GradcheckError,
                       match=r"input 0 \(shape \(3,\)\) at element \(0,\): analytic .*numerical"):
        gradcheck(lambda x: Off()(x), [leaf(A)])
    assert gradcheck(lambda x: Off()(x), [leaf(A)], raise_exception=False) is False


def test_gradcheck_perturbs_transposed_and_fortran_ordered_inputs(backend: str) -> None:
    a = np.random.default_rng(0).normal(size=(3, 4))
    transposed = tinygen.from_numpy(np.asfortranarray(a)).requires_grad_()
    assert gradcheck(lambda x: x * x.exp(), [transposed])
    assert gradcheck(lambda x: x * x.exp(), [leaf(a).T.detach().requires_grad_()])


def test_gradcheck_accepts_a_function_that_differentiates_internally(backend: str) -> None:
    # f(w) = ||d/dx (w . x^2)||^2 = sum (2 w x)^2: gradcheck must run fn with grad mode on
    w = leaf([0.3, -0.7, 1.1])

    def f(w: Tensor) -> Tensor:
        x = leaf(A)
        (g,) = tinygen.grad((w * x * x).sum(), x, create_graph=True)
        return (g * g).sum()

    np.testing.assert_allclose(f(w).item(), np.sum((2 * w.numpy() * A) ** 2))
    assert gradcheck(f, [w])


# ---------------------------------------------------------------------------- detect_anomaly
def test_detect_anomaly_names_the_op_its_creation_site_and_shapes_of_a_forward_nan(backend: str) -> None:
    x = leaf([[-1.0, 1.0], [2.0, 3.0]])
    with np.errstate(invalid="ignore"), tinygen.detect_anomaly():
        with pytest.raises(AnomalyError) as info:
            tinygen.log(x)  # log(-1) = NaN
    message = str(info.value)
    assert "Log" in message and "forward" in message
    assert "(2, 2)" in message
    assert re.search(r"test_graph\.py:\d+", message), message


def test_detect_anomaly_names_the_op_whose_backward_produced_inf(backend: str) -> None:
    x = leaf([0.0, 4.0])
    with np.errstate(divide="ignore", invalid="ignore"), tinygen.detect_anomaly():
        y = tinygen.sqrt(x).sum()  # the forward is finite; d sqrt(x)/dx = 1 / (2 sqrt(x)) is inf at 0
        with pytest.raises(AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert "Sqrt" in message and "backward" in message, message
    assert "(2,)" in message
    assert re.search(r"test_graph\.py:\d+", message), message


def test_without_detect_anomaly_a_nan_passes_silently(backend: str) -> None:
    x = leaf([0.0, 4.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        tinygen.sqrt(x).sum().backward()
    assert np.isinf(x.grad.numpy()[0])


# -------------------------------------------------------------------------------------- viz
def test_graph_dot_text_lists_every_op_and_tensor_backward_will_visit(backend: str) -> None:
    x, w = leaf(A), leaf([[1.0, 2.0, 3.0]])
    y = F.relu(x * 2 + 1) @ w.T
    y = y.sum()
    dot = tinygen.viz.graph(y)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for op in ("Mul", "Add", "ReLU", "MatMul", "Permute", "Sum"):
        assert f'label="{op}"' in dot, op
    assert "(3,)" in dot and "(1, 3)" in dot  # tensors are labelled with their shapes
    assert dot.count("->") >= 12  # every op has its input and output edges


def test_the_graph_picture_marks_ops_freed_by_backward() -> None:
    x = tinygen.tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x.exp() * 2.0).sum()
    before = tinygen.viz.graph(loss)
    assert "Exp" in before and "freed" not in before
    loss.backward()
    assert "Sum\\n(freed by backward)" in tinygen.viz.graph(loss)
