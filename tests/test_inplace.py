"""In-place ops with PyTorch's semantics: ``x += y``, ``add_`` ... ``copy_`` and ``t[i] = v`` write
into the tensor's own array, a leaf that requires grad refuses them outside no_grad, and every
write bumps a version counter, so backward raises (never returns a wrong gradient) when a tensor
it needs was changed after the forward pass used it."""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import pytest

import tinygen
from tinygen import Tensor, gradcheck

MODIFIED = "modified by an in-place operation"


def leaf(array: Any, dtype: Any = np.float64) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=dtype), requires_grad=True)


def const(array: Any, dtype: Any = np.float64) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=dtype))


X = np.array([0.5, -1.5, 2.0])
Y = np.array([2.0, 4.0, -0.5])

# name: (apply the op to tensor t, expected values from the NumPy array x)
OPS: dict[str, tuple[Callable[[Tensor], Any], Callable[[np.ndarray], np.ndarray]]] = {
    "+=": (lambda t: t.__iadd__(const(Y)), lambda x: x + Y),
    "-=": (lambda t: t.__isub__(const(Y)), lambda x: x - Y),
    "*=": (lambda t: t.__imul__(const(Y)), lambda x: x * Y),
    "/=": (lambda t: t.__itruediv__(const(Y)), lambda x: x / Y),
    "add_ alpha": (lambda t: t.add_(const(Y), alpha=-0.5), lambda x: x - 0.5 * Y),
    "sub_ alpha": (lambda t: t.sub_(const(Y), alpha=2.0), lambda x: x - 2.0 * Y),
    "mul_ number": (lambda t: t.mul_(3.0), lambda x: 3.0 * x),
    "div_ number": (lambda t: t.div_(4.0), lambda x: x / 4.0),
    "clamp_": (lambda t: t.clamp_(-1.0, 1.0), lambda x: np.clip(x, -1.0, 1.0)),
    "clamp_ min": (lambda t: t.clamp_(min=0.0), lambda x: np.maximum(x, 0.0)),
    "fill_": (lambda t: t.fill_(7.0), lambda x: np.full_like(x, 7.0)),
    "zero_": (lambda t: t.zero_(), lambda x: np.zeros_like(x)),
    "copy_": (lambda t: t.copy_(const(Y)), lambda x: Y.copy()),
    "copy_ broadcast": (lambda t: t.copy_(const([9.0])), lambda x: np.full_like(x, 9.0)),
}


# ------------------------------------------------------------------------- values and aliases
@pytest.mark.parametrize("name", list(OPS))
def test_in_place_op_writes_the_same_array_and_bumps_the_version_once(backend: str, name: str) -> None:
    apply, expected = OPS[name]
    t = const(X)
    array, alias = t.data, t
    result = apply(t)
    assert result is t  # the in-place ops return the tensor itself, so x += y keeps the name bound to it
    assert t.data is array  # the same array object: an optimiser's or a view's alias sees the change
    np.testing.assert_allclose(alias.numpy(), expected(X), rtol=1e-15)
    assert t._version == 1


def test_no_grad_sgd_loop_reduces_the_loss_and_updates_the_parameters_own_arrays(backend: str) -> None:
    # least squares y = x @ w_true; the textbook loop: forward, backward, p -= lr * p.grad under no_grad
    rng = np.random.default_rng(0)
    x = const(rng.standard_normal((64, 3)))
    y = x @ const([[1.0], [2.0], [-1.0]])
    w, b = leaf(np.zeros((3, 1))), leaf(np.zeros(1))
    arrays = [w.data, b.data]
    losses = []
    for step in range(60):
        loss = ((x @ w + b - y) ** 2).mean()
        losses.append(loss.item())
        w.grad = b.grad = None
        loss.backward()
        if step == 0:  # one step by hand: theta_1 = theta_0 - lr * g
            expected_w = w.numpy() - 0.1 * w.grad.numpy()
        with tinygen.no_grad():
            for p in (w, b):
                p -= 0.1 * p.grad
        if step == 0:
            np.testing.assert_allclose(w.numpy(), expected_w, rtol=1e-12)
    assert losses[-1] < 1e-3 * losses[0]
    assert [w.data, b.data] == arrays and all(p.data is a for p, a in zip((w, b), arrays))
    assert w.is_leaf and w.requires_grad and w._version == 60


def test_optimiser_style_update_with_add_alpha_keeps_the_array(backend: str) -> None:
    w = leaf(X)
    before = w.data
    (w * w).sum().backward()  # g = 2w
    with tinygen.no_grad():
        w.add_(w.grad, alpha=-0.25)  # w - 0.25 * 2w = w / 2
    assert w.data is before
    np.testing.assert_allclose(w.numpy(), X / 2)


# ------------------------------------------------------------------------------- the leaf rule
@pytest.mark.parametrize("name", list(OPS))
def test_leaf_that_requires_grad_refuses_in_place_ops_outside_no_grad(backend: str, name: str) -> None:
    apply, expected = OPS[name]
    w = leaf(X)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad .* in-place operation"):
        apply(w)
    np.testing.assert_array_equal(w.numpy(), X)  # untouched, and still a leaf
    assert w.is_leaf and w._version == 0
    with tinygen.no_grad():
        apply(w)
    np.testing.assert_allclose(w.numpy(), expected(X), rtol=1e-15)
    assert w.is_leaf and w.requires_grad and w.grad_fn is None


def test_augmented_assignment_on_a_leaf_no_longer_turns_it_into_a_non_leaf(backend: str) -> None:
    w = leaf(X)
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1
    assert w.is_leaf


# ------------------------------------------------------------- writes after the forward pass
def test_changing_a_saved_input_before_backward_raises_with_the_versions(backend: str) -> None:
    a, b = leaf(X), const(Y)
    out = (a * b).sum()  # Mul keeps b: dL/da = b
    b.mul_(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED + r".*Mul input 1 \(shape \(3,\)\) is at version 1, "
                                                        r"expected version 0"):
        out.backward()


def test_the_expected_version_is_the_one_the_op_saw(backend: str) -> None:
    a, b = leaf(X), const(Y)
    b.add_(1.0)
    out = (a * b).sum()  # Mul sees b at version 1
    b.add_(1.0)
    b.add_(1.0)
    with pytest.raises(RuntimeError, match=r"is at version 3, expected version 1"):
        out.backward()


def test_updating_a_parameter_between_forward_and_backward_raises(backend: str) -> None:
    w, x = leaf(X), leaf(Y)
    out = (w * x).sum()  # dL/dx = w
    with tinygen.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.backward()


def test_changing_an_output_that_backward_reads_raises(backend: str) -> None:
    # exp's backward is gy * exp(x), read from its output: changing it would change the gradient
    x = leaf(X)
    y = x.exp()
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED + r".*Exp output 0 .* version 1, expected version 0"):
        y.sum().backward()


def test_changing_an_output_through_detach_raises(backend: str) -> None:
    x = leaf(X)
    y = x.exp()
    y.detach().zero_()  # detach shares memory and version counter
    assert y._version == 1
    with pytest.raises(RuntimeError, match="Exp output 0"):
        y.sum().backward()


def test_a_consumer_recorded_before_an_in_place_op_raises_rather_than_mislead(backend: str) -> None:
    # z used y's old value; tinygen checks every input of an op, so this raises (PyTorch, which
    # tracks what each op saved, would return 2). Either way, never 2 * 3 = 6.
    x = leaf(X)
    y = x * 1.0
    z = y * 2.0
    y.mul_(3.0)
    with pytest.raises(RuntimeError, match="Mul input 0"):
        z.sum().backward()


def test_in_place_op_on_an_unrelated_tensor_does_not_disturb_backward(backend: str) -> None:
    x, u = leaf(X), const(Y)
    out = (x * x).sum()
    u.add_(1.0)
    u[0] = 5.0
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * X)


def test_backward_after_the_write_uses_a_graph_built_after_it(backend: str) -> None:
    w, x = leaf(X), const(Y)
    with tinygen.no_grad():
        w.mul_(2.0)
    (w * x).sum().backward()  # built after the write: nothing stale
    np.testing.assert_allclose(w.grad.numpy(), Y)


# ------------------------------------------------------------ recorded in-place on non-leaves
def test_in_place_chain_on_a_non_leaf_is_differentiated(backend: str) -> None:
    # h = clamp(3 (x + 1), 0, 7): dh/dx = 3 where 0 <= 3 (x + 1) <= 7, else 0
    x = leaf(X)
    h = x * 1.0
    h += 1.0
    h *= 3.0
    h.clamp_(0.0, 7.0)
    assert h.grad_fn is not None and type(h.grad_fn).__name__ == "Clamp" and h._version == 3
    h.sum().backward()
    raw = 3 * (X + 1)
    np.testing.assert_allclose(h.numpy(), np.clip(raw, 0, 7))
    np.testing.assert_allclose(x.grad.numpy(), np.where((raw >= 0) & (raw <= 7), 3.0, 0.0))


def test_loss_accumulated_with_plus_equals_gets_every_term(backend: str) -> None:
    # L = sum x^2 + sum 2x: dL/dx = 2x + 2
    x = leaf(X)
    loss = (x * x).sum()
    loss += (x * 2.0).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * X + 2)


def test_in_place_by_a_tensor_that_requires_grad_uses_the_old_values(backend: str) -> None:
    # a = x; a *= b; a /= c:  a = x b / c, so da/dx = b / c, da/db = x / c, da/dc = -x b / c^2
    x, b, c = leaf(X), leaf(Y), leaf([3.0, -2.0, 0.5])
    a = x * 1.0
    a *= b
    a /= c
    a.sum().backward()
    C = np.array([3.0, -2.0, 0.5])
    np.testing.assert_allclose(x.grad.numpy(), Y / C)
    np.testing.assert_allclose(b.grad.numpy(), X / C)
    np.testing.assert_allclose(c.grad.numpy(), -X * Y / C**2)


def test_a_tensor_that_does_not_require_grad_joins_the_graph_by_an_in_place_op(backend: str) -> None:
    acc = tinygen.zeros(3, dtype=np.float64)
    w = leaf(X)
    acc += w * w  # acc = w^2: d sum(acc)/dw = 2w
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * X)


def test_squaring_in_place_uses_the_old_value_twice(backend: str) -> None:
    x = leaf(X)
    a = x * 1.0
    a *= a  # a = x^2: 2x
    a.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * X)


def _with_in_place(op: str) -> Callable[..., Tensor]:
    """A function of (x, y) that routes x through one recorded in-place op."""
    def f(x: Tensor, y: Tensor) -> Tensor:
        h = x * 1.0  # a non-leaf, so the in-place op is recorded
        if op == "add_":
            h.add_(y, alpha=0.5)
        elif op == "sub_":
            h.sub_(y)
        elif op == "mul_":
            h.mul_(y)
        elif op == "div_":
            h.div_(y)
        elif op == "clamp_":
            h.add_(y).clamp_(-1.0, 1.5)
        elif op == "fill_":
            h.fill_(2.0)
            h = h + y * x
        elif op == "copy_":
            h.copy_(y * y)
        return h * x  # uses h's new values and x once more
    return f


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "clamp_", "fill_", "copy_"])
def test_recorded_in_place_ops_pass_gradcheck(op: str) -> None:
    # random upstream gradient, float64 central differences; inputs away from clamp's kinks
    x, y = leaf([0.5, -1.3, 0.9, 2.0]), leaf([0.7, 1.9, -0.6, 1.2])
    assert gradcheck(_with_in_place(op), [x, y])


def test_in_place_on_a_view_in_a_graph_refuses_at_once(backend: str) -> None:
    # PyTorch rewrites the base's history; tinygen refuses instead of returning a wrong gradient
    x = leaf(X)
    y = x * 1.0
    v = y.reshape(1, 3)
    with pytest.raises(RuntimeError, match=r"mul_: in-place operation on a tensor that shares memory with a view"):
        v.mul_(3.0)
    with pytest.raises(RuntimeError, match="view"):
        y.mul_(3.0)  # the base shares the memory too


def test_write_through_a_view_is_seen_by_the_base_and_counted(backend: str) -> None:
    t = const(np.arange(6.0))
    v = t.reshape(2, 3)
    row = t[1:3]
    v += 1.0
    row.zero_()
    np.testing.assert_array_equal(t.numpy(), [1.0, 0.0, 0.0, 4.0, 5.0, 6.0])
    assert t._version == v._version == row._version == 2


def test_write_through_a_view_under_no_grad_invalidates_the_graph_that_used_the_base(backend: str) -> None:
    w = leaf(X)
    out = (w * w).sum()
    with tinygen.no_grad():
        w.reshape(3, 1).mul_(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.backward()


# ---------------------------------------------------------------------------- item assignment
def test_item_assignment_writes_in_place_and_counts(backend: str) -> None:
    t = const(np.zeros((2, 3)))
    array = t.data
    t[0, 1] = 5.0
    t[1] = const([1.0, 2.0, 3.0])
    t[t > 2.5] = -1.0
    t[[0, 0], [0, 2]] = 7.0
    np.testing.assert_array_equal(t.numpy(), [[7.0, -1.0, 7.0], [1.0, 2.0, -1.0]])
    assert t.data is array and t._version == 4


def test_item_assignment_into_a_tensor_that_requires_grad_raises(backend: str) -> None:
    w = leaf(X)
    with pytest.raises(RuntimeError, match=r"t\[index\] = value: the tensor requires grad"):
        w[0] = 1.0
    with pytest.raises(RuntimeError, match="the tensor requires grad"):
        (w * 2.0)[0] = 1.0  # a non-leaf in a graph too
    with pytest.raises(RuntimeError, match="the value requires grad"):
        const(X)[0] = w.sum()
    np.testing.assert_array_equal(w.numpy(), X)
    with tinygen.no_grad():
        w[0] = 1.0
    assert w.numpy()[0] == 1.0 and w.is_leaf and w._version == 1


def test_item_assignment_errors_name_the_shape(backend: str) -> None:
    t = const(X)
    with pytest.raises(IndexError, match=r"t\[index\] = value: indexing a tensor of shape \(3,\)"):
        t[5] = 1.0
    with pytest.raises(ValueError, match=r"t\[index\] = value: cannot write .* shape \(3,\)"):
        t[:] = const([1.0, 2.0])
    assert t._version == 0  # a failed write is not counted


# ----------------------------------------------------------------------- dtype and shape rules
def test_in_place_result_must_fit_the_tensor_dtype_and_shape(backend: str) -> None:
    n = tinygen.tensor([1, 2, 3])
    n *= 2
    n += 1
    assert n.dtype == np.int64 and n.tolist() == [3, 5, 7]
    with pytest.raises(TypeError, match=r"add_: cannot write the result into this tensor .* dtype int64"):
        n += 1.5
    with pytest.raises(TypeError, match="div_: .*int64"):
        n /= 2  # true division makes floats, as in PyTorch
    f = tinygen.tensor([1.0, 2.0])  # float32 takes a float64 operand and stays float32
    f += const([0.5, 0.25])
    assert f.dtype == np.float32 and f.tolist() == [1.5, 2.25]
    with pytest.raises(ValueError, match=r"add_: cannot write the result into this tensor of shape \(2,\)"):
        f += tinygen.ones(3, 2)  # the result would be (3, 2): an in-place op keeps the shape
    assert n.tolist() == [3, 5, 7] and n._version == 2 and f._version == 1


def test_in_place_on_an_expanded_tensor_says_to_clone(backend: str) -> None:
    e = const([1.0, 2.0]).expand(3, 2)
    with pytest.raises(ValueError, match="read-only.*clone"):
        e += 1.0


def test_clamp_in_place_checks_its_bounds(backend: str) -> None:
    with pytest.raises(ValueError, match="clamp_: at least one of min and max"):
        const(X).clamp_()
    with pytest.raises(ValueError, match=r"clamp_: min \(2.0\) is greater than max \(1.0\)"):
        const(X).clamp_(2.0, 1.0)


def test_fill_takes_a_number_or_a_0d_tensor(backend: str) -> None:
    t = const(X)
    t.fill_(const(4.0))
    assert t.tolist() == [4.0, 4.0, 4.0]
    with pytest.raises(ValueError, match=r"fill_: the value must be a number or a 0-d tensor.*\(2,\)"):
        t.fill_(const([1.0, 2.0]))


def test_copy_casts_and_broadcasts_like_pytorch(backend: str) -> None:
    n = tinygen.tensor([0, 0, 0])
    n.copy_(const([1.7, -2.2, 3.9]))  # float into int truncates towards zero
    assert n.tolist() == [1, -2, 3] and n._version == 1


# ----------------------------------------------------------------------- parity with PyTorch
def _torch_outcome(torch: Any, script: Callable[[Any, Any], Any]) -> Any:
    try:
        return script(torch, torch.tensor)
    except RuntimeError as error:
        return "raises" if "inplace" in str(error) or "in-place" in str(error) else f"other: {error}"


def _tinygen_outcome(script: Callable[[Any, Any], Any]) -> Any:
    try:
        return script(tinygen, tinygen.tensor)
    except RuntimeError as error:
        return "raises" if "in-place" in str(error) else f"other: {error}"


def _leaf(tensor: Callable[..., Any], values: list[float]) -> Any:
    return tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


SCRIPTS: dict[str, Callable[[Any, Any], Any]] = {}


def _script(f: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    SCRIPTS[f.__name__] = f
    return f


@_script
def chain_on_non_leaf(lib: Any, tensor: Any) -> Any:
    x = _leaf(tensor, [0.5, -1.5, 2.0])
    h = x * 1.0
    h += 1.0
    h *= 3.0
    h.clamp_(0.0, 7.0)
    h.sum().backward()
    return np.asarray(x.grad.tolist())


@_script
def mul_div_by_grad_tensors(lib: Any, tensor: Any) -> Any:
    x, b, c = _leaf(tensor, [0.5, -1.5, 2.0]), _leaf(tensor, [2.0, 4.0, -0.5]), _leaf(tensor, [3.0, -2.0, 0.5])
    a = x * 1.0
    a.mul_(b)
    a.div_(c)
    (a * a).sum().backward()
    return np.asarray([x.grad.tolist(), b.grad.tolist(), c.grad.tolist()])


@_script
def clamp_at_its_bounds(lib: Any, tensor: Any) -> Any:
    x = _leaf(tensor, [-1.0, 0.0, 0.5, 1.0, 2.0])
    h = x * 1.0
    h.clamp_(0.0, 1.0)
    h.sum().backward()
    return np.asarray(x.grad.tolist())


@_script
def exp_then_add_(lib: Any, tensor: Any) -> Any:
    x = _leaf(tensor, [0.5, 1.0])
    y = x.exp()
    y.add_(1.0)
    y.sum().backward()
    return np.asarray(x.grad.tolist())


@_script
def saved_operand_changed(lib: Any, tensor: Any) -> Any:
    a, b = _leaf(tensor, [1.0, 2.0]), tensor([3.0, 4.0])
    out = (a * b).sum()
    b.mul_(2.0)
    out.backward()
    return np.asarray(a.grad.tolist())


@_script
def unrelated_tensor_changed(lib: Any, tensor: Any) -> Any:
    a, u = _leaf(tensor, [1.0, 2.0]), tensor([3.0, 4.0])
    out = (a * a).sum()
    u.add_(1.0)
    out.backward()
    return np.asarray(a.grad.tolist())


@_script
def fill_non_leaf(lib: Any, tensor: Any) -> Any:
    x = _leaf(tensor, [1.0, 2.0])
    h = x * 3.0
    h.fill_(5.0)
    (h * x).sum().backward()  # h is constant now: d/dx = h = 5
    return np.asarray(x.grad.tolist())


@_script
def versions(lib: Any, tensor: Any) -> Any:
    t = tensor([1.0, 2.0])
    t += 1
    t.mul_(2)
    t.zero_()
    t[0] = 3.0
    d = t.detach()
    d.fill_(1.0)
    return np.asarray([t._version, d._version])


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_in_place_outcomes_match_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    expected = _torch_outcome(torch, SCRIPTS[name])
    got = _tinygen_outcome(SCRIPTS[name])
    if isinstance(expected, str):
        assert got == expected
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_leaf_in_place_message_matches_pytorch_rule() -> None:
    torch = pytest.importorskip("torch")
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("a leaf Variable that requires grad")):
        w += 1
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad"):
        tinygen.ones(2, requires_grad=True).__iadd__(1)


def test_an_optimiser_step_between_forward_and_backward_is_caught():
    # PyTorch raises here too: the step changed a weight that the graph saved for backward
    w = tinygen.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = tinygen.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    loss = (w * w).sum()  # saves w
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()
