"""The lean backward path: ``backward_arrays`` against ``backward``, bit for bit.

Hot ops carry two copies of their chain rule: ``backward``, written with tensor ops (the lesson,
and what second order differentiates), and ``backward_arrays``, the same steps on bare arrays,
which the engine runs when no graph is being built. These tests hold the two to the same bits,
for every op that has the array copy, in float64, float32 and mixed dtypes, with broadcasting; and
they check that the engine really takes the array path (and only when it should).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tinygen
from tinygen import Tensor
from tinygen import autograd as AG
from tinygen import backend as B
from tinygen.autograd import Function
from tinygen.ops import activation as Act
from tinygen.ops import arithmetic as A
from tinygen.ops import broadcast as Br
from tinygen.ops import linalg as L
from tinygen.ops import loss as Lo
from tinygen.ops import reduction as R
from tinygen.ops import shape as S

MASK = np.random.default_rng(3).random((3, 4)) > 0.5


def _positive(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [np.abs(a) + 0.5 for a in arrays]


def _probability_target(arrays: list[np.ndarray]) -> list[np.ndarray]:
    x, t = arrays
    return [x, 1 / (1 + np.exp(-t))]


def _other_float(dtype: Any) -> Any:
    return np.float32 if dtype == np.float64 else np.float64


# class -> cases; a case is (make the op from the input dtype, input shapes, optional transform of
# the random inputs). Binary ops include shapes that broadcast.
Case = tuple[Callable[[Any], Function], list[tuple[int, ...]], Callable[..., Any] | None]
CASES: dict[type, list[Case]] = {
    A.Add: [(lambda d: A.Add(), [(3, 4), (4,)], None), (lambda d: A.Add(), [(2, 1, 4), (3, 1)], None)],
    A.Sub: [(lambda d: A.Sub(), [(3, 4), (3, 1)], None), (lambda d: A.Sub(), [(4,), (2, 3, 4)], None)],
    A.Mul: [(lambda d: A.Mul(), [(3, 4), (4,)], None), (lambda d: A.Mul(), [(2, 1, 4), (3, 1)], None)],
    A.Div: [(lambda d: A.Div(), [(3, 4), (4,)], _positive), (lambda d: A.Div(), [(1, 4), (3, 1)], _positive)],
    A.Neg: [(lambda d: A.Neg(), [(3, 4)], None)],
    A.Pow: [(lambda d: A.Pow(3.0), [(3, 4)], None), (lambda d: A.Pow(2), [(3, 4)], None),
            (lambda d: A.Pow(0), [(3, 4)], None), (lambda d: A.Pow(-1.5), [(3, 4)], _positive),
            (lambda d: A.Pow(3), [(3, 4)], None)],
    A.Exp: [(lambda d: A.Exp(), [(3, 4)], None)],
    A.Log: [(lambda d: A.Log(), [(3, 4)], _positive)],
    A.Sqrt: [(lambda d: A.Sqrt(), [(3, 4)], _positive)],
    A.Abs: [(lambda d: A.Abs(), [(3, 4)], None)],
    A.Clamp: [(lambda d: A.Clamp(-0.5, 0.5), [(3, 4)], None), (lambda d: A.Clamp(None, 0.2), [(3, 4)], None),
              (lambda d: A.Clamp(-0.1, None), [(3, 4)], None)],
    Act.ReLU: [(lambda d: Act.ReLU(), [(3, 4)], None)],
    Act.LeakyReLU: [(lambda d: Act.LeakyReLU(0.2), [(3, 4)], None),
                    (lambda d: Act.LeakyReLU(-1.5), [(3, 4)], None)],
    Act.Sigmoid: [(lambda d: Act.Sigmoid(), [(3, 4)], None)],
    Act.Tanh: [(lambda d: Act.Tanh(), [(3, 4)], None)],
    Act.Softplus: [(lambda d: Act.Softplus(), [(3, 4)], None)],
    Act.Softmax: [(lambda d: Act.Softmax(1), [(3, 4)], None), (lambda d: Act.Softmax(0), [(3, 4, 2)], None)],
    Act.LogSoftmax: [(lambda d: Act.LogSoftmax(1), [(3, 4)], None)],
    L.MatMul: [(lambda d: L.MatMul(), [(3, 4), (4, 5)], None), (lambda d: L.MatMul(), [(2, 3, 4), (4, 5)], None),
               (lambda d: L.MatMul(), [(2, 1, 3, 4), (5, 4, 2)], None)],
    L.Linear: [(lambda d: L.Linear(), [(6, 4), (3, 4), (3,)], None),
               (lambda d: L.Linear(), [(2, 5, 4), (3, 4)], None),
               (lambda d: L.Linear(), [(4,), (3, 4), (3,)], None)],
    Br.SumTo: [(lambda d: Br.SumTo((1, 4)), [(3, 4)], None), (lambda d: Br.SumTo((3, 1)), [(2, 3, 4)], None)],
    Br.BroadcastTo: [(lambda d: Br.BroadcastTo((3, 4)), [(1, 4)], None),
                     (lambda d: Br.BroadcastTo((2, 3, 4)), [(3, 1)], None)],
    R.Sum: [(lambda d: R.Sum((1,), False), [(3, 4)], None), (lambda d: R.Sum((0, 2), True), [(2, 3, 4)], None),
            (lambda d: R.Sum((0, 1), False), [(3, 4)], None)],
    R.Max: [(lambda d: R.Max(1, False), [(5, 3)], None), (lambda d: R.Max(0, True), [(3, 4)], None),
            (lambda d: R.Max(None, False), [(3, 4)], None)],
    R.LogSumExp: [(lambda d: R.LogSumExp((1,), False), [(3, 4)], None),
                  (lambda d: R.LogSumExp((0, 2), True), [(2, 3, 4)], None)],
    S.Reshape: [(lambda d: S.Reshape((4, 3)), [(3, 4)], None), (lambda d: S.Reshape((12,)), [(3, 4)], None)],
    S.Permute: [(lambda d: S.Permute((2, 0, 1)), [(2, 3, 4)], None)],
    S.GetItem: [(lambda d: S.GetItem((slice(None), slice(1, 3))), [(3, 4)], None),
                (lambda d: S.GetItem(np.array([0, 2, 0, 0])), [(3, 4)], None),  # repeats add up
                (lambda d: S.GetItem(MASK), [(3, 4)], None)],
    S.GetItemGrad: [(lambda d: S.GetItemGrad((slice(1, 3),), (4, 3)), [(2, 3)], None),
                    (lambda d: S.GetItemGrad(np.array([1, 1, 0]), (4, 3)), [(3, 3)], None)],
    S.Cat: [(lambda d: S.Cat(1), [(3, 2), (3, 4), (3, 1)], None)],
    S.Where: [(lambda d: S.Where(MASK), [(3, 4), (4,)], None)],
    S.Copy: [(lambda d: S.Copy(), [(3, 4)], None)],
    S.ToDtype: [(lambda d: S.ToDtype(_other_float(d)), [(3, 4)], None)],
    Lo.BCEWithLogits: [(lambda d: Lo.BCEWithLogits(), [(3, 4), (3, 4)], _probability_target)],
    Lo.ClampMinKeepGrad: [(lambda d: Lo.ClampMinKeepGrad(1e-3), [(3, 4)], None)],
}

BINARY_MIXED = (A.Add, A.Sub, A.Mul, A.Div, L.MatMul, S.Where, Lo.BCEWithLogits)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def ops_with_array_backward() -> list[type]:
    return sorted({c for c in _subclasses(Function) if c.backward_arrays is not None
                   and c.__module__.startswith("tinygen.")}, key=lambda c: c.__qualname__)


def _inputs(case: Case, dtypes: list[Any], seed: int) -> list[np.ndarray]:
    _, shapes, transform = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    if transform is not None:
        arrays = transform(arrays)
    return [np.asarray(a, dtype=d) for a, d in zip(arrays, dtypes)]


def _record(case: Case, arrays: list[np.ndarray]) -> tuple[Function, list[Tensor], Tensor]:
    fn = case[0](arrays[0].dtype)
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    return fn, leaves, fn(*leaves)


def _upstream(out: Tensor, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return np.asarray(rng.standard_normal(out.shape), dtype=out.dtype)


def _as_tuple(grads: Any) -> tuple[Any, ...]:
    return grads if isinstance(grads, tuple) else (grads,)


def assert_same_bits(fast: Any, slow: Any, what: str) -> None:
    fast, slow = np.asarray(fast), np.asarray(slow)
    np.testing.assert_array_equal(fast, slow, err_msg=what, strict=True)  # values, shape, dtype
    assert np.ascontiguousarray(fast).tobytes() == np.ascontiguousarray(slow).tobytes(), what  # -0.0, NaN


def _dtype_runs(cls: type) -> list[tuple[str, Callable[[int], list[Any]]]]:
    runs = [("float64", lambda n: [np.float64] * n), ("float32", lambda n: [np.float32] * n)]
    if cls in BINARY_MIXED:  # a float32 input beside a float64 one
        runs.append(("mixed", lambda n: [np.float32, np.float64] + [np.float64] * (n - 2)))
        runs.append(("mixed-rev", lambda n: [np.float64, np.float32] + [np.float32] * (n - 2)))
    return runs


# ------------------------------------------------------------------------------------------ tests
def test_every_op_with_backward_arrays_has_cases_here() -> None:
    missing = [c.__qualname__ for c in ops_with_array_backward() if c not in CASES]
    assert not missing, f"add cases for these ops to CASES: {missing}"
    wanted = {"Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Sqrt", "Abs", "Clamp", "MatMul",
              "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus", "Sum", "Max", "LogSumExp",
              "Reshape", "Permute", "GetItem", "Cat", "BroadcastTo", "SumTo", "BCEWithLogits"}
    assert wanted <= {c.__name__ for c in ops_with_array_backward()}


def test_backward_arrays_sits_beside_backward_in_the_same_class() -> None:
    # an op that inherits one and overrides the other would run a stale array version
    for cls in ops_with_array_backward():
        assert "backward" in vars(cls) and "backward_arrays" in vars(cls), cls.__qualname__


@pytest.mark.parametrize("cls", ops_with_array_backward(), ids=lambda c: c.__name__)
def test_backward_arrays_matches_backward_to_the_bit(cls: type) -> None:
    for k, case in enumerate(CASES[cls]):
        for name, dtypes in _dtype_runs(cls):
            arrays = _inputs(case, dtypes(len(case[1])), seed=k)
            fn, leaves, out = _record(case, arrays)
            gy = _upstream(out, seed=k)
            with B.quiet_floating_point():
                fast = _as_tuple(fn.backward_arrays(gy))
                with tinygen.no_grad():
                    slow = _as_tuple(fn.backward(Tensor._make(gy)))
            assert len(fast) == len(slow)
            for i, (f, s) in enumerate(zip(fast, slow)):
                assert_same_bits(f, s.data, f"{cls.__name__} case {k} ({name}), input {i}")


def _counting(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[int]:
    """Make cls.backward_arrays count its calls and cls.backward refuse to run."""
    calls = [0]
    original = cls.backward_arrays

    def counted(self: Function, gy: Any) -> Any:
        calls[0] += 1
        return original(self, gy)

    def refused(self: Function, gy: Any) -> Any:
        raise AssertionError(f"{cls.__name__}.backward ran although it has backward_arrays")

    monkeypatch.setattr(cls, "backward_arrays", counted)
    monkeypatch.setattr(cls, "backward", refused)
    return calls


@pytest.mark.parametrize("cls", ops_with_array_backward(), ids=lambda c: c.__name__)
def test_the_engine_takes_backward_arrays_and_gets_the_same_gradients(
        cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[cls][0]
    arrays = _inputs(case, [np.float64] * len(case[1]), seed=0)
    fn, leaves, out = _record(case, arrays)
    gy = _upstream(out, seed=0)
    with B.quiet_floating_point(), tinygen.no_grad():
        expected = _as_tuple(fn.backward(Tensor._make(gy)))
    calls = _counting(monkeypatch, cls)
    out.backward(Tensor(gy))
    assert calls[0] == 1
    for i, (t, g) in enumerate(zip(leaves, expected)):
        assert_same_bits(t.grad.data, g.data, f"{cls.__name__}: .grad of input {i}")


def test_create_graph_uses_the_tensor_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0]
    original = A.Mul.backward_arrays
    monkeypatch.setattr(A.Mul, "backward_arrays", lambda self, g: (calls.__setitem__(0, calls[0] + 1),
                                                                    original(self, g))[1])
    x = tinygen.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = tinygen.grad((x * x * x).sum(), [x], create_graph=True)
    assert calls[0] == 0
    assert g.requires_grad  # a graph: second order works
    (gg,) = tinygen.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.numpy(), 6 * np.array([1.0, 2.0, 3.0]))  # d2/dx2 x^3 = 6x
    assert calls[0] > 0  # the second, graph-free pass is lean


def _small_network(lean: bool, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Gradients of a small mixed-dtype graph: a reused tensor, broadcasting, ops with and
    without backward_arrays (gelu, norm), both ``backward`` and ``tinygen.grad``."""
    monkeypatch.setattr(AG, "_lean_backward", lean)
    rng = np.random.default_rng(0)
    x = tinygen.tensor(rng.standard_normal((5, 3)), requires_grad=True)  # float64
    W = tinygen.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    b = tinygen.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    h = tinygen.nn.functional.leaky_relu(tinygen.nn.functional.linear(x.float(), W, b), 0.2)
    h = tinygen.nn.functional.gelu(h) + h * b  # h used twice, b used twice
    z = tinygen.logsumexp(h, 1) + tinygen.norm(h, dim=1) * x.sum(1)
    loss = tinygen.nn.functional.binary_cross_entropy_with_logits(z, tinygen.full_like(z, 0.3))
    (gx,) = tinygen.grad(loss, [x], retain_graph=True)
    loss.backward()
    return [gx.data, x.grad.data, W.grad.data, b.grad.data]


def test_whole_backward_is_the_same_with_and_without_the_lean_path(monkeypatch: pytest.MonkeyPatch) -> None:
    lean = _small_network(True, monkeypatch)
    full = _small_network(False, monkeypatch)
    for i, (f, s) in enumerate(zip(lean, full)):
        assert_same_bits(f, s, f"gradient {i}")
    assert lean[2].dtype == np.float32 and lean[1].dtype == np.float64  # each in its tensor's dtype


def test_lean_path_keeps_in_place_checks_and_freeing() -> None:
    x = tinygen.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y * 2.0
    with tinygen.no_grad():
        y.add_(1.0)  # exp's backward reads y: must raise
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()
    w = (x * x).sum()
    w.backward()
    with pytest.raises(RuntimeError, match="second time"):
        w.backward()


def test_grad_with_allow_unused_gives_none_for_an_unused_input() -> None:
    x = tinygen.tensor([1.0, 2.0], requires_grad=True)
    unused = tinygen.tensor([3.0], requires_grad=True)
    gx, gu = tinygen.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])


def test_no_grad_call_records_nothing() -> None:
    x = tinygen.tensor([1.0, 2.0], requires_grad=True)
    fn = A.Mul()
    with tinygen.no_grad():
        y = fn(x, x)
    assert y.creator is None and not y.requires_grad and fn.inputs == ()
