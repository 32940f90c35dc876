"""Type promotion as PyTorch's (tinygen/promotion.py): which dtype an op computes in when its
operands' dtypes differ, and that a float32 leaf always gets a float32 gradient.

The grid crosses every op that takes a second operand or a scalar argument (binary arithmetic in
both orders, comparisons, where, clamp and clip, the parameters of leaky_relu, elu and softplus,
the weights and scalars of the losses, the eps of the normalisations) with seven kinds of
operand. The expected dtypes are written out as a table, checked without PyTorch; a parity test
(run where torch is installed) checks the same table against PyTorch, cell by cell.

A 0-d NumPy array stands for the 0-d tensor it holds, as ``torch.as_tensor`` makes it: PyTorch
itself never takes a NumPy array as an operand (``t + np.array(0.5)`` is computed by NumPy, in
float64, and the reflected form raises), so the parity test hands torch that tensor.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import nn
from tinygen.promotion import as_number, promote_types, result_type

X = np.array([0.5, 1.25, 2.0], dtype=np.float32)  # exact in float32; positive, for pow and log
TARGET = np.array([0.0, 1.0, 1.0], dtype=np.float32)

KINDS = ("python_float", "python_int", "numpy_float64", "numpy_0d_float64", "tensor_0d_float64",
         "tensor_int64", "tensor_bool")


def operand(kind: str, value: float, integer: int) -> Any:
    """The operand of one kind: ``value`` for the floating kinds, ``integer`` for python_int; the
    dimensioned tensors have X's shape (3,)."""
    return {
        "python_float": lambda: value,
        "python_int": lambda: integer,
        "numpy_float64": lambda: np.float64(value),
        "numpy_0d_float64": lambda: np.array(value),
        "tensor_0d_float64": lambda: tinygen.tensor(value, dtype=tinygen.float64),
        "tensor_int64": lambda: tinygen.tensor(np.array([integer, integer + 1, integer + 2])),
        "tensor_bool": lambda: tinygen.tensor(np.array([True, False, True])),
    }[kind]()


def _hot(x: Any) -> Any:
    return x > 1.0


# name: (op(x, v), float value, integer value); x is float32 X (a leaf), v the operand
OPS: dict[str, tuple[Callable[[Any, Any], Any], float, int]] = {
    "add": (lambda x, v: x + v, 0.75, 2),
    "radd": (lambda x, v: v + x, 0.75, 2),
    "sub": (lambda x, v: x - v, 0.75, 2),
    "rsub": (lambda x, v: v - x, 0.75, 2),
    "mul": (lambda x, v: x * v, 0.75, 2),
    "rmul": (lambda x, v: v * x, 0.75, 2),
    "div": (lambda x, v: x / v, 0.75, 2),
    "rdiv": (lambda x, v: v / x, 0.75, 2),
    "pow": (lambda x, v: x ** v, 0.75, 2),
    "rpow": (lambda x, v: v ** x, 0.75, 2),
    "lt": (lambda x, v: x < v, 1.25, 1),
    "rlt": (lambda x, v: v < x, 1.25, 1),
    "eq": (lambda x, v: x == v, 1.25, 2),
    "ge": (lambda x, v: x >= v, 1.25, 1),
    "where_other": (lambda x, v: tinygen.where(_hot(x), x, v), 0.75, 2),
    "where_first": (lambda x, v: tinygen.where(_hot(x), v, x), 0.75, 2),
    "clamp_min": (lambda x, v: tinygen.clamp(x, min=v), 0.75, 1),
    "clamp_max": (lambda x, v: x.clamp(max=v), 0.75, 1),
    "clip": (lambda x, v: tinygen.clip(x, -1.0, v), 0.75, 1),
    "leaky_relu": (lambda x, v: F.leaky_relu(x - 1.0, v), 0.25, 2),
    "elu": (lambda x, v: F.elu(x - 1.0, v), 0.25, 2),
    "softplus": (lambda x, v: F.softplus(x - 1.0, v), 0.25, 2),
    "bce_weight": (lambda x, v: F.binary_cross_entropy(x / 2.5, tinygen.tensor(TARGET), weight=v), 0.75, 2),
    "bce_logits_weight": (lambda x, v: F.binary_cross_entropy_with_logits(x, tinygen.tensor(TARGET), weight=v),
                          0.75, 2),
    "bce_logits_pos_weight": (lambda x, v: F.binary_cross_entropy_with_logits(x, tinygen.tensor(TARGET),
                                                                              pos_weight=v), 0.75, 2),
    "gaussian_nll_var": (lambda x, v: F.gaussian_nll_loss(x, tinygen.tensor(TARGET), v), 0.75, 2),
    "gaussian_nll_eps": (lambda x, v: F.gaussian_nll_loss(x, tinygen.tensor(TARGET), tinygen.tensor([0.5, 1.0, 1.5]),
                                                          eps=v), 0.75, 1),
    "cross_entropy_label_smoothing": (lambda x, v: F.cross_entropy(x.reshape(1, 3), tinygen.tensor(np.array([1])),
                                                                   label_smoothing=v), 0.25, 1),
    "batch_norm_eps": (lambda x, v: F.batch_norm(x.reshape(3, 1), None, None, training=True, eps=v), 0.25, 1),
    "layer_norm_eps": (lambda x, v: F.layer_norm(x, (3,), eps=v), 0.25, 1),
    "group_norm_eps": (lambda x, v: F.group_norm(x.reshape(1, 3), 1, eps=v), 0.25, 1),
    "BatchNorm2d_eps": (lambda x, v: nn.BatchNorm2d(1, eps=v)(x.reshape(3, 1, 1, 1)), 0.25, 1),
    "BatchNorm2d_eps_eval": (lambda x, v: nn.BatchNorm2d(1, eps=v).eval()(x.reshape(3, 1, 1, 1)), 0.25, 1),
}

f32, f64, b, TE = "float32", "float64", "bool", "TypeError"
ALL_F32 = (f32,) * 7
NUMBERS_ONLY = (f32,) * 5 + (TE, TE)  # a scalar argument: a dimensioned tensor is refused
# the dtype of op(x, v) for a float32 x, one column per kind in KINDS; TypeError: tinygen refuses
EXPECTED: dict[str, tuple[str, ...]] = {
    #                python   python  numpy    0-d      0-d f64  int64    bool
    #                float    int     float64  array    tensor   tensor   tensor
    "add":          ALL_F32,
    "radd":         ALL_F32,
    "sub":          (f32, f32, f32, f32, f32, f32, TE),  # PyTorch refuses - with a bool tensor
    "rsub":         (f32, f32, f32, f32, f32, f32, TE),
    "mul":          ALL_F32,
    "rmul":         ALL_F32,
    "div":          ALL_F32,
    "rdiv":         ALL_F32,
    "pow":          ALL_F32,
    "rpow":         ALL_F32,
    "lt":           (b,) * 7,
    "rlt":          (b,) * 7,
    "eq":           (b,) * 7,
    "ge":           (b,) * 7,
    "where_other":  ALL_F32,
    "where_first":  ALL_F32,
    "clamp_min":    NUMBERS_ONLY,
    "clamp_max":    NUMBERS_ONLY,
    "clip":         NUMBERS_ONLY,
    "leaky_relu":   NUMBERS_ONLY,
    "elu":          NUMBERS_ONLY,
    "softplus":     NUMBERS_ONLY,
    "bce_weight":            (TE, TE, TE, TE, f32, f32, f32),  # weight: a tensor
    "bce_logits_weight":     (TE, TE, TE, TE, f32, f32, f32),
    "bce_logits_pos_weight": (TE, TE, TE, TE, f32, f32, TE),  # (pos_weight - 1) with a bool tensor
    # a 0-d var is one variance per row: (1,)-shaped, a dimensioned float64, so float64 as in PyTorch
    "gaussian_nll_var":      (f32, f32, f32, TE, f64, TE, TE),
    "gaussian_nll_eps":      NUMBERS_ONLY,
    "cross_entropy_label_smoothing": NUMBERS_ONLY,
    "batch_norm_eps":        NUMBERS_ONLY,
    "layer_norm_eps":        NUMBERS_ONLY,
    "group_norm_eps":        NUMBERS_ONLY,
    "BatchNorm2d_eps":       NUMBERS_ONLY,
    "BatchNorm2d_eps_eval":  NUMBERS_ONLY,
}

CELLS = [(op, kind) for op in OPS for kind in KINDS]

GRID = CELLS


def _run(op: str, kind: str, dtype: Any) -> tuple[Any, tinygen.Tensor]:
    fn, value, integer = OPS[op]
    x = tinygen.tensor(X.astype(dtype), requires_grad=True)
    return fn(x, operand(kind, value, integer)), x


def _expected(op: str, kind: str) -> str:
    return EXPECTED[op][KINDS.index(kind)]


def test_the_table_has_a_row_of_seven_for_every_op() -> None:
    assert set(EXPECTED) == set(OPS)
    assert all(len(row) == len(KINDS) for row in EXPECTED.values())


@pytest.mark.parametrize("op,kind", GRID)
def test_result_dtype_values_and_float32_gradient(op: str, kind: str, backend: str) -> None:
    """op(float32 x, v) has the table's dtype; its values and x's gradient (float32) equal the
    same op computed with a float64 x, to float32 precision."""
    expected = _expected(op, kind)
    if expected == TE:
        with pytest.raises(TypeError):
            _run(op, kind, np.float32)
        return
    out, x = _run(op, kind, np.float32)
    assert str(out.dtype) == expected
    reference, x64 = _run(op, kind, np.float64)
    np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=2e-6, atol=1e-6)
    if expected == b:
        assert not out.requires_grad
        return
    out.sum().backward()
    reference.sum().backward()
    assert x.grad is not None and x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=2e-5, atol=1e-6)


def test_a_float64_scalar_beside_float32_values_is_rounded_to_float32_first() -> None:
    # computed in float32: 1.25 * float32(0.1), not the float64 product rounded at the end
    x = tinygen.tensor(np.array([1.25, 3.0], dtype=np.float32))
    expected = np.array([1.25, 3.0], dtype=np.float32) * np.float32(0.1)
    for v in (0.1, np.float64(0.1), np.array(0.1), tinygen.tensor(0.1, dtype=tinygen.float64)):
        y = x * v
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y.numpy(), expected)


def test_comparisons_happen_in_the_promoted_dtype() -> None:
    # float32(0.1) == 0.1 in float32, not in float64; 2^24 + 1 rounds to 2^24 in float32
    x = tinygen.tensor(np.array([0.1, 16777216.0], dtype=np.float32))
    for v in (0.1, np.float64(0.1), np.array(0.1), tinygen.tensor(0.1, dtype=tinygen.float64)):
        assert (x == v).tolist() == [True, False]
    big = tinygen.tensor(np.array([5, 16777217]))
    assert (x == big).tolist() == [False, True]
    assert (big == x).tolist() == [False, True]
    # an int64 tensor with a Python float compares in float32 too
    assert (big == 16777216.0).tolist() == [False, True]


# base dtype x other -> result, for x + other (PyTorch's rules beyond a float32 base)
BASES: dict[str, Callable[[], Any]] = {
    "int64": lambda: tinygen.tensor(np.array([1, 2, 3])),
    "int32": lambda: tinygen.tensor(np.array([1, 2, 3], dtype=np.int32)),
    "bool": lambda: tinygen.tensor(np.array([True, False, True])),
    "float16": lambda: tinygen.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float16)),
    "float32_0d": lambda: tinygen.tensor(np.float32(1.5)),
    "int64_0d": lambda: tinygen.tensor(np.array(3)),
}
OTHERS: dict[str, Callable[[], Any]] = {
    "python_float": lambda: 2.5,
    "python_int": lambda: 2,
    "python_bool": lambda: True,
    "numpy_float64": lambda: np.float64(2.5),
    "numpy_int64": lambda: np.int64(2),
    "tensor_0d_float64": lambda: tinygen.tensor(2.5, dtype=tinygen.float64),
    "tensor_0d_int64": lambda: tinygen.tensor(np.array(2)),
    "tensor_int64": lambda: tinygen.tensor(np.array([1, 2, 3])),
    "tensor_float64": lambda: tinygen.tensor(np.array([1.0, 2.0, 3.0])),
}
i64, i32, f16 = "int64", "int32", "float16"
BASE_EXPECTED: dict[str, tuple[str, ...]] = {
    #               py     py    py    np     np     0-d    0-d    int64  float64
    #               float  int   bool  f64    int64  f64    int64  tensor tensor
    "int64":       (f32,  i64,  i64,  f32,   i64,   f64,   i64,   i64,   f64),
    "int32":       (f32,  i32,  i32,  f32,   i32,   f64,   i32,   i64,   f64),
    "bool":        (f32,  i64,  b,    f32,   i64,   f64,   i64,   i64,   f64),
    "float16":     (f16,  f16,  f16,  f16,   f16,   f16,   f16,   f16,   f64),
    "float32_0d":  (f32,  f32,  f32,  f32,   f32,   f64,   f32,   f32,   f64),
    "int64_0d":    (f32,  i64,  i64,  f32,   i64,   f64,   i64,   i64,   f64),
}


@pytest.mark.parametrize("base", BASE_EXPECTED)
def test_addition_table_for_integer_bool_half_and_0d_bases(base: str) -> None:
    for other, expected in zip(OTHERS, BASE_EXPECTED[base]):
        for y in (BASES[base]() + OTHERS[other](), OTHERS[other]() + BASES[base]()):
            assert str(y.dtype) == expected, (base, other)


def test_true_division_of_integers_gives_float32_and_integer_powers_stay_integers() -> None:
    n = tinygen.tensor(np.array([1, 2, 3]))
    assert (n / 2).dtype == np.float32 and (n / n).dtype == np.float32 and (7 / n).dtype == np.float32
    np.testing.assert_allclose((n / 2).numpy(), [0.5, 1.0, 1.5])
    assert (n ** 2).dtype == np.int64 and (n ** 2).tolist() == [1, 4, 9]
    assert (n ** 0.5).dtype == np.float32
    np.testing.assert_allclose((n ** 0.5).numpy(), np.sqrt([1.0, 2.0, 3.0]), rtol=1e-6)
    for op in (tinygen.exp, tinygen.log, tinygen.sqrt):  # PyTorch: the default float
        assert op(n).dtype == np.float32
    assert tinygen.log(tinygen.tensor(np.array([True, False]))).dtype == np.float32  # NumPy: float16
    assert tinygen.clamp(n, min=1.5).dtype == np.float32 and tinygen.clamp(n, max=2).dtype == np.int64
    assert tinygen.clamp(n, min=1.5).tolist() == [1.5, 2.0, 3.0]


def test_each_input_gets_its_gradient_in_its_own_dtype() -> None:
    x = tinygen.tensor(X, requires_grad=True)
    for y in (tinygen.tensor(np.array([1.0, 2.0, 4.0]), requires_grad=True),  # dimensioned float64
              tinygen.tensor(0.75, dtype=tinygen.float64, requires_grad=True)):  # 0-d float64
        for op in (lambda a, c: a + c, lambda a, c: a - c, lambda a, c: a * c, lambda a, c: a / c,
                   lambda a, c: c / a):
            x.grad = y.grad = None
            op(x, y).sum().backward()
            assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
    # 0-d float32 beside 0-d float64: computed in float64, each gradient in its own dtype
    s = tinygen.tensor(np.float32(2.0), requires_grad=True)
    t = tinygen.tensor(3.0, dtype=tinygen.float64, requires_grad=True)
    z = s * t
    z.backward()
    assert z.dtype == np.float64 and s.grad.dtype == np.float32 and t.grad.dtype == np.float64
    assert s.grad.item() == 3.0 and t.grad.item() == 2.0


def test_second_order_through_a_mixed_dtype_product_stays_in_each_dtype() -> None:
    x = tinygen.tensor(X, requires_grad=True)
    w = tinygen.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)  # float64
    (g,) = tinygen.grad((x * x * w).sum(), x, create_graph=True)  # 2 x w, in x's float32
    assert g.dtype == np.float32
    np.testing.assert_allclose(g.numpy(), 2 * X * np.array([1.0, -2.0, 0.5]), rtol=1e-6)
    gw, gx = tinygen.grad(g.sum(), [w, x])
    assert gw.dtype == np.float64 and gx.dtype == np.float32
    np.testing.assert_allclose(gw.numpy(), 2 * X, rtol=1e-6)  # d/dw sum(2 x w) = 2 x
    np.testing.assert_allclose(gx.numpy(), 2 * np.array([1.0, -2.0, 0.5]), rtol=1e-6)


def test_batch_norm_with_a_float64_eps_saves_float32_statistics() -> None:
    layer = nn.BatchNorm2d(2, eps=np.float64(1e-3))
    assert type(layer.eps) is float and layer.eps == 1e-3
    x = tinygen.tensor(np.random.default_rng(0).normal(size=(4, 2, 3, 3)).astype(np.float32), requires_grad=True)
    y = layer(x)
    bn = y.creator  # batch norm runs on an (N, C, H*W) view: find its op below the reshape
    while not hasattr(bn, "inv_std"):
        bn = bn.inputs[0].creator
    assert y.dtype == np.float32 and bn.inv_std.dtype == np.float32
    assert layer.running_var.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and layer.weight.grad.dtype == np.float32
    assert type(nn.LayerNorm(3, eps=np.float64(1e-3)).eps) is float
    assert type(nn.GroupNorm(1, 3, eps=np.array(1e-3)).eps) is float


def test_scalar_arguments_are_numbers_or_0d_and_never_tensors_that_require_grad() -> None:
    x = tinygen.tensor(X)
    with pytest.raises(TypeError, match=r"clamp: min must be a real number.*shape \(3,\)"):
        tinygen.clamp(x, min=tinygen.tensor(X))
    with pytest.raises(TypeError, match="leaky_relu: negative_slope is a tensor that requires grad"):
        F.leaky_relu(x, tinygen.tensor(0.2, requires_grad=True))
    with pytest.raises(TypeError, match="eps must be a real number"):
        nn.BatchNorm2d(2, eps="small")
    with pytest.raises(TypeError, match="sub: subtracting with a bool tensor"):
        x - tinygen.tensor(np.array([True, False, True]))
    assert as_number(np.float32(0.5), "f", "a") == 0.5 and type(as_number(np.float32(0.5), "f", "a")) is float
    assert type(as_number(np.int8(3), "f", "a")) is int and as_number(np.bool_(True), "f", "a") is True


@pytest.mark.parametrize("loss", [F.binary_cross_entropy_with_logits,
                                  lambda x, t: F.binary_cross_entropy(x / 2.5, t)])
def test_bce_targets_of_other_dtypes_meet_the_input_and_its_gradient_stays_float32(loss: Any) -> None:
    # float64 targets: a float64 loss, as in PyTorch; integer targets: float32 (PyTorch refuses them)
    for target, dtype in ((TARGET.astype(np.float64), np.float64), (TARGET.astype(np.int64), np.float32)):
        x = tinygen.tensor(X, requires_grad=True)
        out = loss(x, tinygen.tensor(target))
        out.backward()
        x64 = tinygen.tensor(X.astype(np.float64), requires_grad=True)
        reference = loss(x64, tinygen.tensor(TARGET.astype(np.float64)))
        reference.backward()
        assert out.dtype == dtype and x.grad.dtype == np.float32
        np.testing.assert_allclose(out.item(), reference.item(), rtol=1e-6)
        np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=1e-5)


def test_norm_with_a_numpy_p_stays_float32() -> None:
    x = tinygen.tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32), requires_grad=True)
    for p in (np.float64(3.0), np.float32(3.0), np.int64(3)):
        x.grad = None
        y = x.norm(p)
        y.backward()
        assert y.dtype == np.float32 and x.grad.dtype == np.float32
        np.testing.assert_allclose(y.item(), 36.0 ** (1 / 3), rtol=1e-6)  # (1 + 8 + 27)^(1/3)


def test_promote_types_and_result_type_follow_the_three_classes() -> None:
    assert promote_types(np.int64, np.float16) == np.float16  # NumPy: float64
    assert promote_types(np.uint8, np.int8) == np.int16
    assert promote_types(np.bool_, np.int32) == np.int32
    f32_vector, f64_0d, i64_vector = np.zeros(2, np.float32), np.array(1.0), np.zeros(2, np.int64)
    assert result_type([f32_vector, f64_0d]) == np.float32
    assert result_type([i64_vector, f64_0d]) == np.float64
    assert result_type([i64_vector], [2.5]) == np.float32
    assert result_type([np.zeros(2, np.int32)], [7]) == np.int32
    assert result_type([f64_0d, np.array(1.0, np.float32)]) == np.float64  # both 0-d: they promote
    assert result_type([np.zeros(2, np.float32)], [1j]) == np.complex64


# ----------------------------------------------------------------------------- PyTorch parity
# Cells where PyTorch does something else, and what it does (checked below, so the list stays true)
TORCH_DIFFERS: dict[tuple[str, str], str] = {
    **{(op, kind): "float32" for op in ("clamp_min", "clamp_max") for kind in ("tensor_int64", "tensor_bool")},
    ("gaussian_nll_var", "python_int"): "raises",  # torch.any() on a Python bool inside PyTorch
    ("gaussian_nll_var", "numpy_0d_float64"): "float64",  # as a tensor: a (1,) float64 variance
    ("gaussian_nll_eps", "tensor_int64"): "float32",  # PyTorch clamps var by an eps tensor
    ("gaussian_nll_eps", "tensor_bool"): "float32",
    ("bce_weight", "numpy_0d_float64"): "float32",  # the array made a tensor; tinygen takes Tensors only
    ("bce_logits_weight", "numpy_0d_float64"): "float32",
    ("bce_logits_pos_weight", "numpy_0d_float64"): "float32",
    ("pow", "tensor_bool"): "float32, backward raises",  # d/dv x^v subtracts 1 from the bool v
}


def _to_torch(value: Any, torch: Any) -> Any:
    if isinstance(value, tinygen.Tensor):
        return torch.tensor(value.numpy())
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value)
    return value


def _torch_ops(torch: Any) -> dict[str, Callable[[Any, Any], Any]]:
    tf = torch.nn.functional
    target = torch.tensor(TARGET)
    ops: dict[str, Callable[[Any, Any], Any]] = {
        name: fn for name, (fn, _, _) in OPS.items()
        if name in ("add", "radd", "sub", "rsub", "mul", "rmul", "div", "rdiv", "pow", "rpow", "lt", "rlt", "eq", "ge")}
    ops.update({
        "where_other": lambda x, v: torch.where(x > 1.0, x, v),
        "where_first": lambda x, v: torch.where(x > 1.0, v, x),
        "clamp_min": lambda x, v: torch.clamp(x, min=v),
        "clamp_max": lambda x, v: x.clamp(max=v),
        "clip": lambda x, v: torch.clip(x, -1.0, v),
        "leaky_relu": lambda x, v: tf.leaky_relu(x - 1.0, v),
        "elu": lambda x, v: tf.elu(x - 1.0, v),
        "softplus": lambda x, v: tf.softplus(x - 1.0, v),
        "bce_weight": lambda x, v: tf.binary_cross_entropy(x / 2.5, target, weight=v),
        "bce_logits_weight": lambda x, v: tf.binary_cross_entropy_with_logits(x, target, weight=v),
        "bce_logits_pos_weight": lambda x, v: tf.binary_cross_entropy_with_logits(x, target, pos_weight=v),
        "gaussian_nll_var": lambda x, v: tf.gaussian_nll_loss(x, target, v),
        "gaussian_nll_eps": lambda x, v: tf.gaussian_nll_loss(x, target, torch.tensor([0.5, 1.0, 1.5]), eps=v),
        "cross_entropy_label_smoothing": lambda x, v: tf.cross_entropy(x.reshape(1, 3), torch.tensor([1]),
                                                                       label_smoothing=v),
        "batch_norm_eps": lambda x, v: tf.batch_norm(x.reshape(3, 1), None, None, training=True, eps=v),
        "layer_norm_eps": lambda x, v: tf.layer_norm(x, (3,), eps=v),
        "group_norm_eps": lambda x, v: tf.group_norm(x.reshape(1, 3), 1, eps=v),
        "BatchNorm2d_eps": lambda x, v: torch.nn.BatchNorm2d(1, eps=v)(x.reshape(3, 1, 1, 1)),
        "BatchNorm2d_eps_eval": lambda x, v: torch.nn.BatchNorm2d(1, eps=v).eval()(x.reshape(3, 1, 1, 1)),
    })
    return ops


def _torch_outcome(torch: Any, op: str, kind: str) -> str:
    _, value, integer = OPS[op]
    x = torch.tensor(X, requires_grad=True)
    try:
        out = _torch_ops(torch)[op](x, _to_torch(operand(kind, value, integer), torch))
    except Exception:  # noqa: BLE001 - any refusal counts; tinygen's is a TypeError
        return "raises"
    dtype = str(out.dtype).replace("torch.", "")
    if out.dtype.is_floating_point:
        try:
            out.sum().backward()
        except Exception:  # noqa: BLE001
            return f"{dtype}, backward raises"
        assert x.grad.dtype == torch.float32, (op, kind)  # PyTorch's float32 leaf: a float32 gradient
    return dtype


@pytest.mark.parametrize("op,kind", CELLS)
def test_table_matches_pytorch(op: str, kind: str) -> None:
    torch = pytest.importorskip("torch")
    expected = TORCH_DIFFERS.get((op, kind), _expected(op, kind))
    assert _torch_outcome(torch, op, kind) == ("raises" if expected == TE else expected)


def test_base_table_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for base, row in BASE_EXPECTED.items():
        for other, expected in zip(OTHERS, row):
            a, c = _to_torch(BASES[base](), torch), _to_torch(OTHERS[other](), torch)
            assert str((a + c).dtype) == f"torch.{expected}", (base, other)
            assert str((c + a).dtype) == f"torch.{expected}", (base, other)


def test_integer_division_pow_and_comparisons_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    n = torch.tensor([1, 2, 3])
    assert (n / 2).dtype == torch.float32 and (n ** 2).dtype == torch.int64 and (n ** 0.5).dtype == torch.float32
    assert torch.log(n).dtype == torch.float32 and torch.clamp(n, min=1.5).dtype == torch.float32
    x = torch.tensor([0.1, 16777216.0])
    assert (x == np.float64(0.1)).tolist() == [True, False]
    assert (x == torch.tensor(0.1, dtype=torch.float64)).tolist() == [True, False]
    assert (x == torch.tensor([5, 16777217])).tolist() == [False, True]
    assert math.isclose((torch.tensor([1.25, 3.0]) * np.float64(0.1))[0].item(),
                        float(np.float32(1.25) * np.float32(0.1)))
