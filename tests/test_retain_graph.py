"""Backward frees the graph as it goes, as PyTorch's does: ``retain_graph``.

Once an op's backward has run, the op lets go of its inputs and of what its forward saved, so the
intermediate values die while backward proceeds. A second backward through a freed op raises and
names ``retain_graph``; ``retain_graph=True`` keeps everything (the default with
``create_graph=True``); ``tinygen.grad`` runs and frees only the ops between its outputs and its
inputs. One deliberate difference, on the side of raising: PyTorch lets a second backward pass
through ops that saved nothing (``(x + 1).sum()``), tinygen refuses every freed op.
"""
from __future__ import annotations

import re
import weakref
from typing import Any

import numpy as np
import pytest

import tinygen
from tinygen import Function, Tensor

SECOND_TIME = r"backward through the graph a second time.*retain_graph=True"
A = np.array([0.5, -1.5, 2.0])


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def chain(x: Tensor, depth: int) -> tuple[Tensor, list[weakref.ref]]:
    """loss = sum(t_depth), t_k = tanh(t_{k-1}) * 0.9 ... built so only ``loss`` is held strongly;
    returns it with weak references to every intermediate tensor."""
    refs, t = [], x
    for k in range(depth):
        t = t.tanh() if k % 2 else t * 0.9
        refs.append(weakref.ref(t))
    return t.sum(), refs


def alive(refs: list[weakref.ref]) -> int:
    return sum(r() is not None for r in refs)


# --------------------------------------------------------------------------- the second backward
def test_a_second_backward_through_a_freed_graph_raises_naming_retain_graph(backend: str) -> None:
    x = leaf(A)
    y = (x * x.exp()).sum()
    y.backward()
    first = x.grad.numpy()
    with pytest.raises(RuntimeError, match=SECOND_TIME) as info:
        y.backward()
    assert "op Sum" in str(info.value)  # the op reached again is named
    np.testing.assert_array_equal(x.grad.numpy(), first)  # nothing was added by the failed pass


def test_a_second_backward_raises_even_through_ops_that_save_nothing(backend: str) -> None:
    # PyTorch would let this one pass (Add and Sum save no tensors); tinygen raises for every op
    x = leaf(A)
    y = (x + 1).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.backward()


def test_retain_graph_true_allows_a_second_backward_that_adds_the_same_gradients(backend: str) -> None:
    x = leaf(A)
    y = (tinygen.max(x.exp() * x) + (x * x).sum())  # Max saves a mask, Exp reads its output
    y.backward(retain_graph=True)
    first = x.grad.numpy()
    # d/dx [max(x e^x) + sum x^2]: the max is at x = 2 -> (1 + x) e^x there, plus 2x everywhere
    np.testing.assert_allclose(first, 2 * A + np.array([0.0, 0.0, 3 * np.exp(2.0)]), rtol=1e-14)
    y.backward()  # the second pass, which frees the graph
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.backward()  # the third finds it freed


def test_a_second_backward_from_an_intermediate_tensor_raises_too(backend: str) -> None:
    x = leaf(A)
    h = x.exp()
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        h.sum().backward()  # a new Sum, but it reaches Exp, freed by the first pass


def test_separate_graphs_over_the_same_leaf_are_not_affected(backend: str) -> None:
    x = leaf(A)
    (x * x).sum().backward()
    (x * x).sum().backward()  # a new graph each time: nothing to retain
    np.testing.assert_allclose(x.grad.numpy(), 4 * A)


def test_under_detect_anomaly_the_message_names_where_the_freed_op_was_created(backend: str) -> None:
    x = leaf(A)
    with tinygen.detect_anomaly():
        y = x.exp().sum()
        y.backward()
        with pytest.raises(RuntimeError, match=SECOND_TIME) as info:
            y.backward()
    message = str(info.value)
    assert "op Sum (inputs freed by backward, created at" in message, message
    assert re.search(r"test_retain_graph\.py:\d+", message), message


# ---------------------------------------------------------------------------------- tinygen.grad
def test_grad_frees_the_graph_unless_retain_graph(backend: str) -> None:
    x = leaf(A)
    y = (x ** 3).sum()
    (g1,) = tinygen.grad(y, x, retain_graph=True)
    (g2,) = tinygen.grad(y, x)
    np.testing.assert_allclose(g1.numpy(), 3 * A ** 2, rtol=1e-14)
    np.testing.assert_array_equal(g2.numpy(), g1.numpy())
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        tinygen.grad(y, x)


def test_grad_after_backward_reports_the_freed_graph_not_an_unused_input(backend: str) -> None:
    x = leaf(A)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        tinygen.grad(y, x)


def test_grad_runs_and_frees_only_the_ops_between_its_outputs_and_inputs(backend: str) -> None:
    # y = sum(h^2), h = exp(x): grad(y, h) stops at h, so Exp (below h) is neither run nor freed
    x = leaf(A)
    h = x.exp()
    y = (h * h).sum()
    (gh,) = tinygen.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * np.exp(A), rtol=1e-14)
    assert x.grad is None
    (h * 3).sum().backward()  # through Exp, still whole: d/dx 3 e^x
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(A), rtol=1e-14)
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        tinygen.grad(y, h)  # the part grad did walk is freed


def test_create_graph_retains_the_graph_by_default(backend: str) -> None:
    # gradient penalty pattern: g = dy/dx with a graph, then backward of y and of a loss on g
    x = leaf(A)
    h = x.exp()  # a non-leaf the double backward must pass through
    y = (h * h).sum()  # y = sum e^{2x}
    (g,) = tinygen.grad(y, x, create_graph=True)  # g = 2 e^{2x}
    np.testing.assert_allclose(g.numpy(), 2 * np.exp(2 * A), rtol=1e-14)
    (g * g).sum().backward()  # d/dx sum 4 e^{4x} = 16 e^{4x}
    np.testing.assert_allclose(x.grad.numpy(), 16 * np.exp(4 * A), rtol=1e-13)
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        (g * g).sum().backward()  # that backward (no retain) freed the graph under g, h's Exp too


def test_create_graph_with_retain_graph_false_frees_the_first_order_graph(backend: str) -> None:
    x = leaf(A)
    h = x.exp()
    (g,) = tinygen.grad((h * h).sum(), x, create_graph=True, retain_graph=False)
    np.testing.assert_allclose(g.numpy(), 2 * np.exp(2 * A), rtol=1e-14)
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        g.sum().backward()  # g's graph reaches h, whose Exp was freed


def test_backward_with_create_graph_keeps_a_differentiable_grad_when_retain_is_false(backend: str) -> None:
    x = leaf(A)
    y = (x ** 3).sum()
    y.backward(create_graph=True, retain_graph=False)  # x.grad = 3 x^2 needs only the leaf x
    (gg,) = tinygen.grad(x.grad.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * A, rtol=1e-14)
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.backward()


# ---------------------------------------------------------------- one backward, shared subgraphs
def test_an_op_reached_by_two_paths_runs_once_after_both_and_reads_its_freed_consumers_output(
        backend: str) -> None:
    # y = sum(e^2 + tanh e), e = exp(x) held by nobody but the graph: Exp reads its output after
    # both consumers have run and let go of it.   dy/dx = (2 e + 1 - tanh^2 e) e
    x = leaf(A)
    y = (lambda e: (e * e + e.tanh()).sum())(x.exp())
    y.backward()
    e = np.exp(A)
    np.testing.assert_allclose(x.grad.numpy(), (2 * e + 1 - np.tanh(e) ** 2) * e, rtol=1e-13)


def test_a_chain_of_ops_that_read_their_outputs_survives_the_release(backend: str) -> None:
    x = leaf(A)
    y = x.exp().exp().sigmoid().sum()  # no intermediate is held outside the graph
    y.backward()
    inner = np.exp(np.exp(A))
    s = 1 / (1 + np.exp(-inner))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s) * inner * np.exp(A), rtol=1e-12)


# ------------------------------------------------------------------------------------- memory
def test_backward_frees_every_intermediate_and_retain_graph_keeps_them(backend: str) -> None:
    x = leaf(np.random.default_rng(0).normal(size=50_000))
    loss, refs = chain(x, depth=12)
    assert alive(refs) == 12  # held by the graph alone
    loss.backward(retain_graph=True)
    assert alive(refs) == 12
    first = x.grad.numpy()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first)
    assert alive(refs) == 0  # all freed by the pass that did not retain
    assert loss.grad_fn.inputs == ()


def test_intermediates_are_freed_while_backward_proceeds(backend: str) -> None:
    # Probe sits right above the leaf, so its backward runs last: by then every tensor above it
    # has been used by its own op's backward and must already be gone
    seen: list[int] = []

    class Probe(Function):
        def forward(self, x: Any) -> Any:
            return x.copy()

        def backward(self, gy: Tensor) -> Tensor:
            seen.append(alive(refs))
            return gy

    x = leaf(np.random.default_rng(1).normal(size=50_000))
    loss, refs = chain(Probe()(x), depth=12)
    loss.backward(retain_graph=True)
    loss.backward()
    assert seen == [12, 0]


def test_released_ops_drop_the_arrays_their_forward_saved(backend: str) -> None:
    x = leaf(np.random.default_rng(2).normal(size=(4, 1000)))
    m = tinygen.max(x)
    fn = m.grad_fn
    mask = weakref.ref(fn.mask)  # the max over everything saves a mask of x's shape for its backward
    m.sum().backward()
    assert mask() is None
    assert fn.inputs == () and not hasattr(fn, "mask")


# ----------------------------------------------------------------------- the same as PyTorch
def test_the_same_sequences_raise_and_pass_as_in_pytorch() -> None:
    torch = pytest.importorskip("torch")

    def outcome(run: Any) -> str:
        try:
            run()
        except RuntimeError as error:
            assert "retain_graph=True" in str(error), error
            return "raises"
        return "passes"

    def twice(lib: Any, retain: bool) -> Any:
        def run() -> None:
            x = lib.tensor(A, requires_grad=True)
            y = (x * x.exp()).sum()
            y.backward(retain_graph=retain)
            y.backward()
        return run

    def partial_grad(lib: Any) -> Any:  # grad stops at h; backward below h still works
        def run() -> None:
            x = lib.tensor(A, requires_grad=True)
            h = x.exp()
            (lib.autograd.grad if lib is torch else lib.grad)((h * h).sum(), h)
            (h * 3).sum().backward()
        return run

    def penalty(lib: Any, retain: bool | None) -> Any:
        def run() -> None:
            x = lib.tensor(A, requires_grad=True)
            h = x.exp()
            grad = lib.autograd.grad if lib is torch else lib.grad
            (g,) = grad((h * h).sum(), x, create_graph=True, retain_graph=retain)
            (g * g).sum().backward()
        return run

    for make in (lambda lib: twice(lib, False), lambda lib: twice(lib, True), partial_grad,
                 lambda lib: penalty(lib, None), lambda lib: penalty(lib, False)):
        assert outcome(make(tinygen)) == outcome(make(torch))
    assert outcome(twice(tinygen, False)) == "raises" and outcome(penalty(tinygen, False)) == "raises"
    assert outcome(twice(tinygen, True)) == outcome(partial_grad(tinygen)) == "passes"
