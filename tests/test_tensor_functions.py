"""The PyTorch functions a PyTorch user reaches for: split/chunk/repeat, norm, cumsum, sort/topk,
mm/bmm, comparisons and boolean logic, all/any, isnan/isfinite, allclose/equal, randint, and
``axis=`` as NumPy's spelling of ``dim=``.

Values are checked against small hand-worked examples and NumPy; gradients against float64 finite
differences (first and second order), with inputs away from ties and kinks. The torch parity
tests at the end run only where torch is installed.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygen as tg
from tinygen import Tensor, gradcheck, gradgradcheck


def leaf(array: Any) -> Tensor:
    return tg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    """Continuous draws: no two elements tie, and none is 0."""
    return np.random.default_rng(seed).normal(0.0, 2.0, shape)


def check_gradients(op: Callable[..., Any], *arrays: np.ndarray) -> None:
    """First- and second-order gradients of ``op`` against central differences."""
    assert gradcheck(op, [leaf(a) for a in arrays])
    assert gradgradcheck(op, [leaf(a) for a in arrays])


# ------------------------------------------------------------------------------ split, chunk
def test_split_by_size_cuts_equal_pieces_and_a_smaller_last_one(backend: str) -> None:
    x = tg.arange(10).reshape(5, 2)
    pieces = x.split(2)
    assert isinstance(pieces, tuple) and [p.shape for p in pieces] == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(pieces[2].numpy(), [[8, 9]])
    columns = tg.split(x, 1, dim=1)
    np.testing.assert_array_equal(columns[1].numpy(), [[1], [3], [5], [7], [9]])


def test_split_by_sections_gives_pieces_of_exactly_those_sizes(backend: str) -> None:
    a = normal(2, 6)
    pieces = tg.split(leaf(a), [1, 0, 3, 2], dim=-1)
    for piece, expected in zip(pieces, np.split(a, [1, 1, 4], axis=-1)):
        np.testing.assert_array_equal(piece.numpy(), expected)
    with pytest.raises(ValueError, match=r"split: sizes \[2, 2\] .* sum to 6.*\(2, 6\)"):
        tg.split(leaf(a), [2, 2], dim=1)
    with pytest.raises(ValueError, match=r"split: split_size must be a positive integer, got 0"):
        leaf(a).split(0)
    with pytest.raises(IndexError, match=r"split: dim 2 is out of range for shape \(2, 6\)"):
        leaf(a).split(1, dim=2)


def test_split_gradient_sends_each_piece_back_to_its_own_place(backend: str) -> None:
    x = leaf(normal(5, 3))
    first, second, third = x.split(2)
    (first * 1.0 + 0 * second).sum().backward()  # only the first piece reaches the loss
    (third * 3.0).sum().backward()
    expected = np.zeros((5, 3))
    expected[:2] = 1.0
    expected[4:] = 3.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    check_gradients(lambda x: x.split([1, 3, 1], dim=0), normal(5, 3))


@pytest.mark.parametrize("n, chunks, sizes", [(5, 4, [2, 2, 1]), (6, 4, [2, 2, 2]), (6, 3, [2, 2, 2]),
                                              (7, 3, [3, 3, 1]), (2, 5, [1, 1]), (0, 3, [0, 0, 0])])
def test_chunk_uses_ceil_n_over_chunks_and_may_return_fewer_chunks(backend: str, n: int, chunks: int,
                                                                   sizes: list[int]) -> None:
    # torch.chunk: pieces of ceil(n / chunks), so 5 in 4 chunks is 2, 2, 1 (three pieces)
    pieces = tg.chunk(tg.zeros(3, n), chunks, dim=1)
    assert [p.shape[1] for p in pieces] == sizes
    assert all(p.shape[0] == 3 for p in pieces)


def test_chunk_values_gradients_and_errors(backend: str) -> None:
    a = normal(2, 7)
    pieces = leaf(a).chunk(3, -1)
    np.testing.assert_array_equal(pieces[2].numpy(), a[:, 6:])
    check_gradients(lambda x: x.chunk(3, 1), a)
    with pytest.raises(ValueError, match=r"chunk: chunks must be a positive integer, got 0"):
        leaf(a).chunk(0)
    with pytest.raises(ValueError, match=r"chunk: a 0-dimensional tensor"):
        leaf(1.0).chunk(2)


# ------------------------------------------------------------------------------------ repeat
def test_repeat_tiles_the_whole_tensor_like_torch_not_each_element_like_numpy_repeat(backend: str) -> None:
    x = tg.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(x.repeat(1, 2).numpy(), [[1, 2, 1, 2], [3, 4, 3, 4]])
    np.testing.assert_array_equal(tg.repeat(x, 2, 1).numpy(), [[1, 2], [3, 4], [1, 2], [3, 4]])
    # extra leading counts add leading dims
    assert x.repeat(3, 1, 1).shape == (3, 2, 2)
    np.testing.assert_array_equal(tg.tensor([5, 6]).repeat((2, 2)).numpy(), [[5, 6, 5, 6], [5, 6, 5, 6]])
    with pytest.raises(ValueError, match=r"repeat: got 1 repeat counts \(2,\) for a tensor of shape \(2, 2\)"):
        x.repeat(2)
    with pytest.raises(ValueError, match=r"repeat: repeat counts must be non-negative"):
        x.repeat(1, -1)


@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       reps=st.lists(st.integers(0, 3), min_size=3, max_size=4))
def test_repeat_matches_numpy_tile_for_any_shape(backend: str, shape: tuple[int, ...], reps: list[int]) -> None:
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    out = leaf(a).repeat(*reps)
    np.testing.assert_array_equal(out.numpy(), np.tile(a, reps))
    assert out.shape == np.tile(a, reps).shape


def test_repeat_gradient_is_the_sum_over_the_copies(backend: str) -> None:
    x = leaf([[1.0, 2.0]])
    weights = tg.tensor(np.arange(12.0).reshape(2, 6))  # (1, 2) repeated (2, 3): six copies
    (x.repeat(2, 3) * weights).sum().backward()
    # element (0, j) sits at columns j, j + 2, j + 4 of both rows
    expected = [[sum(np.arange(12.0).reshape(2, 6)[:, j::2].ravel()) for j in range(2)]]
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    check_gradients(lambda x: x.repeat(2, 1, 3), normal(2, 3))


def test_tile_pads_missing_counts_with_ones_in_front(backend: str) -> None:
    a = normal(2, 3)
    np.testing.assert_array_equal(tg.tile(leaf(a), (2,)).numpy(), np.tile(a, 2))
    np.testing.assert_array_equal(leaf(a).tile((2, 1, 1)).numpy(), np.tile(a, (2, 1, 1)))


# -------------------------------------------------------------------------------------- norm
def test_norm_of_three_four_is_five_with_gradient_x_over_norm(backend: str) -> None:
    x = leaf([3.0, -4.0])
    n = x.norm()
    assert n.shape == () and n.item() == 5.0
    n.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.6, -0.8])  # d||x||/dx = x / ||x||


@pytest.mark.parametrize("p, reference", [
    (2, lambda a, d, k: np.sqrt((a ** 2).sum(d, keepdims=k))),
    (1, lambda a, d, k: np.abs(a).sum(d, keepdims=k)),
    (3, lambda a, d, k: (np.abs(a) ** 3).sum(d, keepdims=k) ** (1 / 3)),
    (float("inf"), lambda a, d, k: np.abs(a).max(d, keepdims=k)),
    ("fro", lambda a, d, k: np.sqrt((a ** 2).sum(d, keepdims=k))),
], ids=["2", "1", "3", "inf", "fro"])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_norm_matches_the_p_norm_formula_and_finite_differences(backend: str, p: Any, reference: Any,
                                                                dim: Any, keepdim: bool) -> None:
    a = normal(2, 3, 4, seed=1)
    out = tg.norm(leaf(a), p, dim, keepdim)
    expected = reference(a, dim, keepdim)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert out.shape == np.shape(expected)
    op = lambda x: x.norm(p=p, dim=dim, keepdim=keepdim)  # noqa: E731
    assert gradcheck(op, [leaf(a)])
    if dim is not None:  # second order on the smaller cases only
        assert gradgradcheck(op, [leaf(a[:, :2, :2])])


def test_norm_gradient_at_zero_is_zero_not_nan(backend: str) -> None:
    x = leaf([[0.0, 0.0], [3.0, 4.0]])
    tg.norm(x, dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [0.6, 0.8]])


def test_norm_rejects_unknown_p(backend: str) -> None:
    x = leaf(normal(2, 3, 4))
    with pytest.raises(ValueError, match=r"norm: p must be a positive number, inf or 'fro', got p='nuc'"):
        x.norm(p="nuc")
    with pytest.raises(ValueError, match=r"norm: p must be .* got p=0"):
        x.norm(p=0)
    with pytest.raises(ValueError, match=r"norm: p='fro' takes at most 2 dims, got dim=\(0, 1, 2\)"):
        x.norm(p="fro", dim=(0, 1, 2))


# ------------------------------------------------------------------------------------ cumsum
def test_cumsum_is_the_running_sum_and_its_gradient_the_running_sum_from_the_end(backend: str) -> None:
    x = leaf([1.0, 2.0, 3.0, 4.0])
    y = x.cumsum(0)
    np.testing.assert_array_equal(y.numpy(), [1.0, 3.0, 6.0, 10.0])
    y.backward(tg.tensor([1.0, 10.0, 100.0, 1000.0], dtype=tg.float64))
    # dL/dx_j = sum_{i >= j} gy_i
    np.testing.assert_array_equal(x.grad.numpy(), [1111.0, 1110.0, 1100.0, 1000.0])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_matches_numpy_and_finite_differences(backend: str, dim: int) -> None:
    a = normal(3, 4, 2)
    np.testing.assert_allclose(tg.cumsum(leaf(a), dim).numpy(), np.cumsum(a, dim), rtol=1e-12)
    check_gradients(lambda x: tg.cumsum(x, dim), a)


def test_cumsum_needs_a_dim_and_sums_integers_as_integers(backend: str) -> None:
    with pytest.raises(TypeError, match=r"cumsum: missing the dim"):
        tg.cumsum(leaf([1.0, 2.0]))
    out = tg.tensor([True, False, True]).cumsum(0)
    np.testing.assert_array_equal(out.numpy(), [1, 1, 2])
    assert np.issubdtype(out.dtype, np.integer)


# -------------------------------------------------------------------------------- sort, topk
def test_sort_returns_values_and_indices_named_like_torch(backend: str) -> None:
    x = leaf([[3.0, 1.0, 2.0], [0.0, 5.0, -1.0]])
    result = x.sort()
    values, indices = result
    assert result.values is values and result.indices is indices
    np.testing.assert_array_equal(values.numpy(), [[1.0, 2.0, 3.0], [-1.0, 0.0, 5.0]])
    np.testing.assert_array_equal(indices.numpy(), [[1, 2, 0], [2, 0, 1]])
    assert indices.dtype == np.int64 and not indices.requires_grad
    down = tg.sort(x, dim=0, descending=True)
    np.testing.assert_array_equal(down.values.numpy(), [[3.0, 5.0, 2.0], [0.0, 1.0, -1.0]])
    np.testing.assert_array_equal(down.indices.numpy(), [[0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(tg.argsort(x, descending=True).numpy(), [[0, 2, 1], [1, 0, 2]])


def test_sort_is_stable_in_both_directions_and_puts_nan_last_ascending(backend: str) -> None:
    x = tg.tensor([2.0, 1.0, 2.0, 1.0])
    np.testing.assert_array_equal(x.sort().indices.numpy(), [1, 3, 0, 2])
    np.testing.assert_array_equal(x.sort(descending=True).indices.numpy(), [0, 2, 1, 3])
    with_nan = tg.tensor([3.0, float("nan"), 1.0])
    np.testing.assert_array_equal(with_nan.sort().indices.numpy(), [2, 0, 1])
    np.testing.assert_array_equal(with_nan.sort(descending=True).indices.numpy(), [1, 0, 2])
    flags = tg.tensor([False, True, False])  # bools sort too (no negation trick)
    np.testing.assert_array_equal(flags.sort(descending=True).indices.numpy(), [1, 0, 2])


def test_sort_gradient_goes_back_to_the_position_each_value_came_from(backend: str) -> None:
    x = leaf([3.0, 1.0, 2.0])
    x.sort().values.backward(tg.tensor([10.0, 20.0, 30.0], dtype=tg.float64))
    # sorted = (x1, x2, x0): x1 gets 10, x2 gets 20, x0 gets 30
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 10.0, 20.0])


@pytest.mark.parametrize("dim, descending", [(-1, False), (0, True), (1, False)])
def test_sort_matches_numpy_and_finite_differences(backend: str, dim: int, descending: bool) -> None:
    a = normal(3, 4, 2, seed=2)
    values, indices = tg.sort(leaf(a), dim, descending)
    expected = np.argsort(-a if descending else a, axis=dim)
    np.testing.assert_array_equal(indices.numpy(), expected)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(a, expected, dim))
    check_gradients(lambda x: tg.sort(x, dim, descending).values, a)


def test_topk_takes_the_k_largest_or_smallest_in_order(backend: str) -> None:
    x = leaf([[4.0, -1.0, 7.0, 2.0], [0.5, 3.0, -2.0, 1.0]])
    values, indices = x.topk(2)
    np.testing.assert_array_equal(values.numpy(), [[7.0, 4.0], [3.0, 1.0]])
    np.testing.assert_array_equal(indices.numpy(), [[2, 0], [1, 3]])
    small = tg.topk(x, 3, dim=1, largest=False)
    np.testing.assert_array_equal(small.values.numpy(), [[-1.0, 2.0, 4.0], [-2.0, 0.5, 1.0]])
    np.testing.assert_array_equal(small.indices.numpy(), [[1, 3, 0], [2, 0, 3]])
    along_0 = x.topk(1, dim=0)
    np.testing.assert_array_equal(along_0.values.numpy(), [[4.0, 3.0, 7.0, 2.0]])
    assert type(values) is Tensor and type(x.topk(1)).__name__ == "TopKResult"


def test_topk_gradient_reaches_only_the_selected_elements(backend: str) -> None:
    x = leaf([4.0, -1.0, 7.0, 2.0])
    x.topk(2).values.backward(tg.tensor([10.0, 20.0], dtype=tg.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 0.0, 10.0, 0.0])
    check_gradients(lambda x: x.topk(2, dim=1).values, normal(3, 4, 2, seed=3))
    check_gradients(lambda x: tg.topk(x, 3, 0, largest=False).values, normal(3, 4, seed=3))


def test_topk_rejects_k_outside_the_dim(backend: str) -> None:
    with pytest.raises(ValueError, match=r"topk: k=5 is out of range for dim -1 of shape \(2, 4\) \(size 4\)"):
        leaf(normal(2, 4)).topk(5)


# ------------------------------------------------------------------------------------ mm, bmm
def test_mm_and_bmm_match_numpy_and_finite_differences(backend: str) -> None:
    a, b = normal(3, 4, seed=4), normal(4, 2, seed=5)
    np.testing.assert_allclose(tg.mm(leaf(a), leaf(b)).numpy(), a @ b, rtol=1e-12)
    np.testing.assert_allclose(leaf(a).mm(leaf(b)).numpy(), a @ b, rtol=1e-12)
    check_gradients(tg.mm, a, b)
    c, d = normal(2, 3, 4, seed=6), normal(2, 4, 2, seed=7)
    np.testing.assert_allclose(tg.bmm(leaf(c), leaf(d)).numpy(), c @ d, rtol=1e-12)
    check_gradients(lambda x, y: x.bmm(y), c, d)


def test_mm_and_bmm_refuse_other_shapes_with_clear_errors(backend: str) -> None:
    with pytest.raises(ValueError, match=r"mm: expected 2-D tensors .* got input of shape \(3,\)"):
        tg.mm(leaf(normal(3)), leaf(normal(3, 2)))
    with pytest.raises(ValueError, match=r"mm: expected 2-D .* got mat2 of shape \(2, 3, 2\)"):
        tg.mm(leaf(normal(2, 3)), leaf(normal(2, 3, 2)))
    with pytest.raises(ValueError, match=r"mm: shapes \(2, 3\) and \(4, 2\) cannot be multiplied"):
        tg.mm(leaf(normal(2, 3)), leaf(normal(4, 2)))
    with pytest.raises(ValueError, match=r"bmm: expected 3-D tensors .* got input of shape \(3, 4\)"):
        tg.bmm(leaf(normal(3, 4)), leaf(normal(2, 4, 2)))
    with pytest.raises(ValueError, match=r"bmm: batch sizes differ: shapes \(2, 3, 4\) and \(3, 4, 2\)"):
        tg.bmm(leaf(normal(2, 3, 4)), leaf(normal(3, 4, 2)))
    with pytest.raises(ValueError, match=r"bmm: shapes \(2, 3, 4\) and \(2, 3, 2\) cannot be multiplied"):
        tg.bmm(leaf(normal(2, 3, 4)), leaf(normal(2, 3, 2)))
    with pytest.raises(TypeError, match=r"mm: mat2 must be a Tensor, got ndarray"):
        tg.mm(leaf(normal(2, 3)), normal(3, 2))


# ------------------------------------------------------------------------------- comparisons
COMPARISONS = {
    # name: (operator, NumPy reference)
    "eq": (lambda x, y: x == y, np.equal), "ne": (lambda x, y: x != y, np.not_equal),
    "lt": (lambda x, y: x < y, np.less), "le": (lambda x, y: x <= y, np.less_equal),
    "gt": (lambda x, y: x > y, np.greater), "ge": (lambda x, y: x >= y, np.greater_equal),
}


@pytest.mark.parametrize("name", list(COMPARISONS))
def test_comparison_function_method_and_operator_agree_and_return_bool_without_grad(backend: str,
                                                                                  name: str) -> None:
    operator, reference = COMPARISONS[name]
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])  # ties in every row, broadcast over rows
    x, y = leaf(a), leaf(b)
    expected = reference(a, b)
    for out in (getattr(tg, name)(x, y), getattr(x, name)(y), operator(x, y)):
        np.testing.assert_array_equal(out.numpy(), expected)
        assert out.dtype == np.bool_ and not out.requires_grad and out.creator is None
    np.testing.assert_array_equal(getattr(x, name)(2.0).numpy(), reference(a, 2.0))
    np.testing.assert_array_equal(operator(2.0, x).numpy(), reference(2.0, a))  # reflected: 2 < x
    assert getattr(tg, name)(tg.tensor(1.0), 1.0).shape == ()


def test_comparison_of_shapes_that_do_not_broadcast_names_both_shapes(backend: str) -> None:
    with pytest.raises(ValueError, match=r"lt: shapes \(2, 3\) and \(2,\) do not broadcast"):
        leaf(normal(2, 3)) < leaf(normal(2))
    with pytest.raises(TypeError, match=r"eq: input must be a Tensor, got float"):
        tg.eq(1.0, leaf(normal(2)))
    assert (leaf(normal(2)) == None) is False  # noqa: E711 - as in PyTorch


def test_a_comparison_builds_a_mask_that_where_and_indexing_use(backend: str) -> None:
    x = leaf([-1.0, 2.0, -3.0, 4.0])
    tg.where(x > 0, x, 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(x[x >= 2].numpy(), [2.0, 4.0])


# ----------------------------------------------------------------------------- boolean logic
def test_and_or_xor_not_on_bool_tensors_follow_the_truth_tables(backend: str) -> None:
    p = tg.tensor([True, True, False, False])
    q = tg.tensor([True, False, True, False])
    np.testing.assert_array_equal((p & q).numpy(), [True, False, False, False])
    np.testing.assert_array_equal((p | q).numpy(), [True, True, True, False])
    np.testing.assert_array_equal((p ^ q).numpy(), [False, True, True, False])
    np.testing.assert_array_equal((~p).numpy(), [False, False, True, True])
    np.testing.assert_array_equal(tg.bitwise_and(p, True).numpy(), [True, True, False, False])
    np.testing.assert_array_equal((False | q).numpy(), [True, False, True, False])  # reflected
    assert (p & q).dtype == np.bool_


def test_and_or_xor_not_on_integer_tensors_act_bit_by_bit(backend: str) -> None:
    a, b = tg.tensor([6, 5]), tg.tensor([3, 3])  # 110 & 011 = 010, 101 | 011 = 111
    np.testing.assert_array_equal((a & b).numpy(), [2, 1])
    np.testing.assert_array_equal((a | b).numpy(), [7, 7])
    np.testing.assert_array_equal((a ^ b).numpy(), [5, 6])
    np.testing.assert_array_equal((~a).numpy(), [-7, -6])


def test_boolean_logic_on_floating_point_tensors_is_an_error_that_says_what_to_do(backend: str) -> None:
    x, mask = leaf([1.0, 0.0]), tg.tensor([True, False])
    with pytest.raises(TypeError, match=r"bitwise_and \(&\): needs bool or integer tensors, got input of "
                                        r"dtype float64 and shape \(2,\); compare first"):
        x & mask
    with pytest.raises(TypeError, match=r"bitwise_or \(\|\): .* got other of dtype float64"):
        mask | x
    with pytest.raises(TypeError, match=r"bitwise_not \(~\): .* dtype float64"):
        ~x
    with pytest.raises(TypeError, match=r"bitwise_xor \(\^\): needs bool or integer operands, got other float"):
        mask ^ 1.5


# ----------------------------------------------------------------------------------- all, any
def test_all_and_any_reduce_with_dim_keepdim_and_treat_nonzero_as_true(backend: str) -> None:
    m = tg.tensor([[True, False, True], [True, True, True]])
    assert m.all().shape == () and m.all().item() is False and tg.any(m).item() is True
    np.testing.assert_array_equal(m.all(1).numpy(), [False, True])
    np.testing.assert_array_equal(tg.any(m, dim=0, keepdim=True).numpy(), [[True, True, True]])
    np.testing.assert_array_equal(tg.all(m, axis=(0, 1)).numpy(), False)
    floats = leaf([[1.0, 0.0], [2.0, -3.0]])
    np.testing.assert_array_equal(floats.all(1).numpy(), [False, True])
    np.testing.assert_array_equal((floats == 0).any(0).numpy(), [False, True])
    assert not floats.all().requires_grad
    assert bool((floats > -5).all())


# ------------------------------------------------------------------------ nan, inf, closeness
def test_isnan_isfinite_isinf_flag_the_special_values(backend: str) -> None:
    x = leaf([1.0, float("nan"), float("inf"), -float("inf"), 0.0])
    np.testing.assert_array_equal(tg.isnan(x).numpy(), [False, True, False, False, False])
    np.testing.assert_array_equal(x.isfinite().numpy(), [True, False, False, False, True])
    np.testing.assert_array_equal(tg.isinf(x).numpy(), [False, False, True, True, False])
    assert tg.isnan(x).dtype == np.bool_ and not tg.isnan(x).requires_grad
    np.testing.assert_array_equal(tg.isfinite(tg.tensor([1, 2])).numpy(), [True, True])
    np.testing.assert_array_equal(tg.isnan(tg.tensor([True])).numpy(), [False])


def test_allclose_uses_atol_plus_rtol_times_other_and_answers_a_python_bool(backend: str) -> None:
    x = leaf([1.0, 100.0])
    assert tg.allclose(x, leaf([1.0 + 1e-6, 100.0 + 1e-3])) is True   # 1e-6 <= 1e-8 + 1e-5 * 1
    assert tg.allclose(x, leaf([1.0 + 1e-4, 100.0])) is False          # 1e-4 > 1e-8 + 1e-5 * 1
    assert x.allclose(leaf([1.1, 100.0]), rtol=0.0, atol=0.2) is True
    nan = leaf([float("nan")])
    assert tg.allclose(nan, nan) is False and tg.allclose(nan, nan, equal_nan=True) is True


def test_equal_needs_the_same_shape_and_elements(backend: str) -> None:
    x = leaf([[1.0, 2.0]])
    assert tg.equal(x, leaf([[1.0, 2.0]])) is True
    assert x.equal(leaf([[1.0, 2.5]])) is False
    assert tg.equal(x, leaf([1.0, 2.0])) is False  # would broadcast, but the shapes differ
    assert tg.equal(leaf([float("nan")]), leaf([float("nan")])) is False


def test_aliases_concat_and_clip_are_cat_and_clamp(backend: str) -> None:
    assert tg.concat is tg.cat and tg.clip is tg.clamp
    a = normal(2, 3)
    np.testing.assert_array_equal(tg.concat([leaf(a), leaf(a)], 1).numpy(), np.concatenate([a, a], 1))
    np.testing.assert_array_equal(tg.clip(leaf(a), -1.0, 1.0).numpy(), np.clip(a, -1.0, 1.0))


# --------------------------------------------------------------------------- axis as dim
AXIS_OPS: dict[str, Callable[..., Any]] = {
    "sum": tg.sum, "mean": tg.mean, "var": tg.var, "std": lambda x, **kw: x.std(**kw),
    "max": lambda x, **kw: tg.max(x, **kw).values, "min": lambda x, **kw: tg.min(x, **kw).values,
    "argmax": lambda x, **kw: x.argmax(**kw), "argmin": lambda x, **kw: x.argmin(**kw),
    "logsumexp": tg.logsumexp, "norm": tg.norm, "cumsum": tg.cumsum,
    "all": lambda x, **kw: tg.all(x > 0, **kw), "any": lambda x, **kw: (x > 0).any(**kw),
}


@pytest.mark.parametrize("name", list(AXIS_OPS))
def test_axis_is_accepted_as_numpys_name_for_dim(backend: str, name: str) -> None:
    op = AXIS_OPS[name]
    x = leaf(normal(3, 4))
    np.testing.assert_array_equal(op(x, axis=1).numpy(), op(x, dim=1).numpy())
    np.testing.assert_array_equal(op(x, axis=0).numpy(), op(x, dim=0).numpy())
    # and the two dims differ, so passing axis to the wrong one would fail above
    assert op(x, dim=0).shape != op(x, dim=1).shape or not np.array_equal(op(x, dim=0).numpy(), op(x, dim=1).numpy())
    with pytest.raises(TypeError, match=rf"{name}: got both dim=1 and axis=0"):
        op(x, dim=1, axis=0)


# ----------------------------------------------------------------------------------- randint
def test_randint_takes_torchs_two_signatures_and_the_old_one(backend: str) -> None:
    tg.manual_seed(0)
    high_only = tg.randint(3, (1000,))  # randint(high, size): [0, high)
    assert high_only.shape == (1000,) and high_only.dtype == np.int64
    assert set(np.unique(high_only.numpy())) == {0, 1, 2}
    low_high = tg.randint(5, 8, (10, 100))
    assert low_high.shape == (10, 100) and set(np.unique(low_high.numpy())) == {5, 6, 7}
    assert tg.randint(0, 9, 3).shape == (3,)  # an integer size, as the existing callers pass it
    assert tg.randint(4, size=(2, 2)).numpy().max() < 4
    assert tg.randint(2, 4, size=5).numpy().min() >= 2
    assert tg.randint(10, (3,), dtype=np.int32).dtype == np.int32


def test_randint_is_reproducible_and_checks_its_range(backend: str) -> None:
    tg.manual_seed(1)
    first = tg.randint(100, (5,)).numpy()
    tg.manual_seed(1)
    np.testing.assert_array_equal(tg.randint(0, 100, (5,)).numpy(), first)  # the same draw
    with pytest.raises(ValueError, match=r"randint: low \(5\) must be less than high \(5\)"):
        tg.randint(5, 5, (2,))
    with pytest.raises(TypeError, match=r"randint: missing size"):
        tg.randint(5)


# ------------------------------------------------------------------------------ torch parity
def test_new_functions_match_torch_values_indices_and_gradients() -> None:
    torch = pytest.importorskip("torch")
    a = normal(3, 5, 4, seed=9)
    g = np.random.default_rng(10)

    def both(op_tg: Callable[[Any], Any], op_torch: Callable[[Any], Any]) -> None:
        x, t = leaf(a), torch.tensor(a, requires_grad=True)
        out, ref = op_tg(x), op_torch(t)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
        upstream = g.normal(size=ref.shape)
        out.backward(tg.tensor(upstream, dtype=tg.float64))
        ref.backward(torch.tensor(upstream))
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)

    both(lambda x: x.sort(1, descending=True).values, lambda t: t.sort(1, descending=True).values)
    both(lambda x: x.topk(2, 0, largest=False).values, lambda t: t.topk(2, 0, largest=False).values)
    both(lambda x: x.cumsum(-1), lambda t: t.cumsum(-1))
    both(lambda x: x.norm(dim=(1, 2), keepdim=True), lambda t: t.norm(dim=(1, 2), keepdim=True))
    both(lambda x: x.norm(p=1, dim=0), lambda t: t.norm(p=1, dim=0))
    both(lambda x: x.norm(p=3), lambda t: t.norm(p=3))
    both(lambda x: x.repeat(2, 1, 1, 3), lambda t: t.repeat(2, 1, 1, 3))
    both(lambda x: x.split([2, 3], 1)[1], lambda t: t.split([2, 3], 1)[1])
    both(lambda x: x.chunk(2, 1)[-1], lambda t: t.chunk(2, 1)[-1])
    both(lambda x: tg.bmm(x, x.transpose(1, 2)), lambda t: torch.bmm(t, t.transpose(1, 2)))
    x, t = leaf(a), torch.tensor(a)
    np.testing.assert_array_equal(x.sort(0).indices.numpy(), t.sort(0).indices.numpy())
    np.testing.assert_array_equal(x.topk(3).indices.numpy(), t.topk(3).indices.numpy())
    np.testing.assert_array_equal(((x > 0) ^ (x < 1)).numpy(), ((t > 0) ^ (t < 1)).numpy())
    assert [p.shape for p in tg.zeros(7).chunk(4)] == [tuple(p.shape) for p in torch.zeros(7).chunk(4)]
