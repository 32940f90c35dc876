"""The small habits of a PyTorch user: ``np.asarray(t)``, ``f"{loss:.3f}"``, ``grad_fn``,
``int()`` / ``bool()``, ``t.type()``, ``contiguous()``, the dtype names (``tinygen.float``...),
``set_grad_enabled``, ``inference_mode``, refusing non-numeric data, and nan / inf without NumPy's
RuntimeWarning (while detect_anomaly still catches them)."""
from __future__ import annotations

import re
import warnings
from typing import Any, Iterator

import numpy as np
import pytest

import tinygen
from tinygen import AnomalyError, Tensor, backend as B


def leaf(array: Any) -> Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


@pytest.fixture
def no_warnings() -> Iterator[None]:
    """Any warning inside the test is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------------------- np.asarray
def test_asarray_gives_the_numbers_sharing_memory_like_pytorch() -> None:
    t = tinygen.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 2) and a.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.shares_memory(a, t.data)  # torch: np.asarray(t) is a view of a CPU tensor
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert not np.shares_memory(np.array(t, copy=True), t.data)


def test_asarray_of_a_tensor_that_requires_grad_is_a_copy() -> None:
    w = leaf([1.0, 2.0])
    a = np.asarray(w)
    assert a.tolist() == [1.0, 2.0] and not np.shares_memory(a, w.data)
    with pytest.raises(ValueError, match="requires grad is never shared"):
        np.asarray(w, copy=False)
    with pytest.raises(ValueError, match="needs a copy"):
        np.asarray(tinygen.tensor([1.0]), dtype=np.float64, copy=False)


def test_numpy_builds_arrays_from_lists_of_tensors_and_still_defers_arithmetic() -> None:
    x = tinygen.tensor([1.0, 2.0])
    assert np.asarray(x.sum()).tolist() == 3.0 and np.asarray(x.sum()).shape == ()  # a reduction's 0-d result
    losses = [tinygen.tensor(0.5), (x * 0.125).sum()]
    assert np.array(losses).dtype == np.float32 and np.mean(np.array(losses)) == pytest.approx(0.4375)
    for result in (np.ones(2) * x, np.float32(2.0) * x, np.ones(2) + x):
        assert isinstance(result, Tensor)  # numpy hands the op to the tensor (__array_priority__)


@pytest.mark.gpu
def test_asarray_of_a_gpu_tensor_names_the_ways_to_the_host(backend: str) -> None:
    if backend != "cupy":
        pytest.skip("a GPU-only check")
    t = tinygen.tensor([1.0, 2.0], device="gpu")
    with pytest.raises(TypeError, match=r"on the gpu.*\.numpy\(\).*tinygen\.backend\.to_host"):
        np.asarray(t)
    assert t.numpy().tolist() == [1.0, 2.0]


# ---------------------------------------------------------------------------- format
def test_a_0d_tensor_formats_as_its_number() -> None:
    loss = tinygen.tensor(1.23456, dtype=np.float64)
    assert f"{loss:.3f}" == "1.235" and f"{loss:8.2e}" == "1.23e+00" and format(loss) == "1.23456"
    assert f"{tinygen.tensor(7):>4d}" == "   7"
    assert f"{(leaf([1.0, 2.0]) ** 2).sum():.1f}" == "5.0"  # a loss straight from the graph


def test_other_tensors_format_only_without_a_spec() -> None:
    t = tinygen.tensor([1.0, 2.0])
    assert f"{t}" == str(t)
    with pytest.raises(TypeError, match=r"unsupported format string '\.2f' passed to a tensor of shape \(2,\)"):
        f"{t:.2f}"
    with pytest.raises(TypeError, match=r"shape \(1,\)"):
        f"{tinygen.tensor([1.0]):.2f}"  # PyTorch too: one element, but not 0-d


def test_format_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for value in (1.23456, -0.5, 1e-7):
        for spec in (".3f", "10.4e", "", "g"):
            assert format(tinygen.tensor(value, dtype=np.float64), spec) == format(
                torch.tensor(value, dtype=torch.float64), spec)
    with pytest.raises(TypeError):
        format(torch.tensor([1.0]), ".2f")


# ---------------------------------------------------------------------------- grad_fn
def test_grad_fn_is_none_for_leaves_and_the_creating_function_otherwise() -> None:
    x = leaf([1.0, 2.0])
    y = x.exp()
    assert x.grad_fn is None and tinygen.tensor([1.0]).grad_fn is None
    assert y.grad_fn is y.creator and type(y.grad_fn).__name__ == "Exp"
    assert "grad_fn=<Exp>" in repr(y)
    with tinygen.no_grad():
        assert x.exp().grad_fn is None


# ---------------------------------------------------------------------------- int, float, bool
def test_int_float_bool_take_exactly_one_element() -> None:
    assert int(tinygen.tensor([[3.7]])) == 3 and int(tinygen.tensor(-2.9)) == -2
    assert float(tinygen.tensor([2])) == 2.0
    assert bool(tinygen.tensor([0.5])) is True and bool(tinygen.tensor(0.0)) is False
    assert bool(tinygen.tensor([[True]])) is True
    with pytest.raises(ValueError, match=r"one element.*\(2,\)"):
        int(tinygen.tensor([1, 2]))
    with pytest.raises(ValueError, match="one element"):
        float(tinygen.zeros(0))
    with pytest.raises(RuntimeError, match=r"truth value of a tensor with 2 values \(shape \(2,\)\) is ambiguous"):
        bool(tinygen.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="0 values"):
        bool(tinygen.zeros(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        if tinygen.tensor([1.0, 2.0]) > 0:
            pass


# ---------------------------------------------------------------------------- type()
@pytest.mark.parametrize("dtype, name", [(np.float32, "FloatTensor"), (np.float64, "DoubleTensor"),
                                         (np.float16, "HalfTensor"), (np.int64, "LongTensor"),
                                         (np.int32, "IntTensor"), (np.uint8, "ByteTensor"),
                                         (np.bool_, "BoolTensor")])
def test_type_names_the_tensor_type_as_pytorch_does(dtype: Any, name: str) -> None:
    t = tinygen.zeros(2, dtype=dtype)
    assert t.type() == f"tinygen.{name}"
    converted = tinygen.tensor([1.5, -2.5]).type(f"tinygen.{name}")
    assert converted.dtype == dtype
    torch = pytest.importorskip("torch")
    assert torch.zeros(2, dtype=getattr(torch, np.dtype(dtype).name)).type() == f"torch.{name}"


def test_type_with_a_dtype_converts_and_stays_differentiable() -> None:
    x = tinygen.tensor([1.0, 2.0], requires_grad=True)
    y = x.type(tinygen.float64)
    assert y.dtype == np.float64 and x.type(tinygen.float32) is x
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 4.0]
    assert x.type(tinygen.long).tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"unknown tensor type 'tinygen.Complex'.*tinygen.FloatTensor"):
        x.type("tinygen.Complex")


# ---------------------------------------------------------------------------- contiguous
def test_contiguous_is_self_or_a_contiguous_copy_and_passes_the_gradient() -> None:
    x = leaf(np.arange(6.0).reshape(2, 3))
    assert x.contiguous() is x and x.is_contiguous()
    xt = x.T
    assert not xt.is_contiguous()
    c = xt.contiguous()
    assert c.is_contiguous() and c.data.flags.c_contiguous and c.tolist() == xt.tolist()
    (c * tinygen.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])


# ---------------------------------------------------------------------------- dtype names
def test_pytorch_dtype_names() -> None:
    names = {"float": np.float32, "float32": np.float32, "double": np.float64, "float64": np.float64,
             "half": np.float16, "float16": np.float16, "long": np.int64, "int64": np.int64,
             "int": np.int32, "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8,
             "bool": np.bool_}
    for name, dtype in names.items():
        assert getattr(tinygen, name) is dtype, name
        assert tinygen.zeros(2, dtype=getattr(tinygen, name)).dtype == dtype
    torch = pytest.importorskip("torch")
    for name, dtype in names.items():  # the same meaning as in torch
        assert str(getattr(torch, name)) == f"torch.{np.dtype(dtype).name}", name


# ---------------------------------------------------------------------------- grad mode
@pytest.fixture
def restore_grad_mode() -> Iterator[None]:
    yield
    tinygen.set_grad_enabled(True)


def test_set_grad_enabled_as_a_call_a_context_and_a_decorator(restore_grad_mode: None) -> None:
    x = leaf([1.0])
    tinygen.set_grad_enabled(False)  # a call: off from now on
    assert not tinygen.is_grad_enabled() and not (x * 2).requires_grad
    tinygen.set_grad_enabled(True)
    with tinygen.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with tinygen.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not tinygen.is_grad_enabled()
    assert tinygen.is_grad_enabled()

    @tinygen.set_grad_enabled(False)
    def frozen() -> Tensor:
        return x * 2

    assert tinygen.is_grad_enabled()  # decorating changes nothing yet
    assert not frozen().requires_grad and tinygen.is_grad_enabled()
    with pytest.raises(TypeError, match="mode must be True or False"):
        tinygen.set_grad_enabled("no")


def test_inference_mode_records_nothing() -> None:
    x = leaf([1.0])
    with tinygen.inference_mode():
        assert not (x * 2).requires_grad and not tinygen.is_grad_enabled()
    with tinygen.inference_mode(False):
        assert (x * 2).requires_grad
    with tinygen.no_grad(), tinygen.inference_mode(False):
        assert not tinygen.is_grad_enabled()  # mode=False leaves the mode as it was

    @tinygen.inference_mode()
    def predict() -> Tensor:
        return x * 2

    assert not predict().requires_grad and tinygen.is_grad_enabled()


# ---------------------------------------------------------------------------- non-numeric data
@pytest.mark.parametrize("data, kind", [(np.array(["a", "b"]), "<U1 (strings)"), (["a", "b"], "<U1 (strings)"),
                                        (np.array([b"x"]), "|S1 (byte strings)"),
                                        (np.array([1, None], dtype=object), "object (Python objects)"),
                                        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64[D] (dates)")])
def test_non_numeric_data_is_refused_naming_its_dtype(data: Any, kind: str) -> None:
    with pytest.raises(TypeError, match=re.escape(f"tensor: data of dtype {kind} cannot be a tensor")):
        tinygen.tensor(data)
    with pytest.raises(TypeError, match="cannot be a tensor"):
        Tensor(data)
    if isinstance(data, np.ndarray):
        with pytest.raises(TypeError, match=re.escape(f"from_numpy: data of dtype {kind} cannot be a tensor")):
            tinygen.from_numpy(data)


def test_numeric_data_of_every_kind_is_accepted() -> None:
    for data in ([True, False], [1, 2], np.array([1, 2], dtype=np.uint8), [1.5], np.array([1 + 2j])):
        assert tinygen.tensor(data).shape == (len(data),)


# ---------------------------------------------------------------------------- nan, inf, no warning
def test_log_sqrt_and_division_give_nan_and_inf_without_a_warning(no_warnings: None) -> None:
    x = tinygen.tensor([-1.0, 0.0, 4.0])
    np.testing.assert_allclose(tinygen.log(x).numpy(), [np.nan, -np.inf, np.log(4.0)], rtol=1e-6)
    np.testing.assert_array_equal(tinygen.sqrt(x).numpy(), [np.nan, 0.0, 2.0])
    np.testing.assert_array_equal((tinygen.tensor([1.0, -1.0, 0.0]) / 0).numpy(), [np.inf, -np.inf, np.nan])
    assert np.isinf(tinygen.exp(tinygen.tensor([100.0])).item())  # float32 overflow
    assert np.isinf((tinygen.tensor([1e30]) * 1e30).item())
    assert np.isnan((tinygen.tensor([np.inf]) - np.inf).item())
    assert (0 ** tinygen.tensor([2.0])).item() == 0.0  # c ** x = exp(x log c), log 0 = -inf


def test_backward_through_nan_and_inf_is_quiet_too(no_warnings: None) -> None:
    x = leaf([0.0, -1.0, 4.0])
    tinygen.sqrt(x).sum().backward()  # 1 / (2 sqrt(x)): inf at 0, nan below
    g = x.grad.numpy()
    assert np.isinf(g[0]) and np.isnan(g[1]) and g[2] == 0.25


def test_in_place_ops_are_quiet_too(no_warnings: None) -> None:
    t = tinygen.tensor([1.0, -1.0, 0.0])
    t /= 0
    np.testing.assert_array_equal(t.numpy(), [np.inf, -np.inf, np.nan])


def test_pytorch_gives_the_same_nan_and_inf(no_warnings: None) -> None:
    torch = pytest.importorskip("torch")
    values = [-1.0, 0.0, 4.0]
    for name in ("log", "sqrt", "exp"):  # the same nan and inf; finite values to float32's last bits
        np.testing.assert_allclose(getattr(tinygen, name)(tinygen.tensor(values)).numpy(),
                                   getattr(torch, name)(torch.tensor(values)).numpy(), rtol=1e-6)
    np.testing.assert_array_equal((tinygen.tensor(values) / 0).numpy(), (torch.tensor(values) / 0).numpy())


def test_numpy_itself_still_warns_outside_tinygen() -> None:
    # tinygen turns NumPy's warnings off only while its own ops run, never for the whole program
    before = np.geterr()
    tinygen.log(tinygen.tensor([-1.0]))
    assert np.geterr() == before
    with pytest.warns(RuntimeWarning, match="invalid value"):
        np.log(np.array([-1.0]))


def test_an_explicit_numpy_errstate_raise_is_still_obeyed() -> None:
    # how tests/test_stability.py proves that an op never overflows
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        tinygen.log(tinygen.tensor([-1.0]))
    with np.errstate(divide="raise"):
        assert np.isnan(tinygen.log(tinygen.tensor([-1.0])).item())  # invalid stays quiet
        with pytest.raises(FloatingPointError, match="divide"):
            tinygen.log(tinygen.tensor([0.0]))
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        leaf([0.0]).sqrt().sum().backward()


def test_detect_anomaly_still_names_the_op_that_made_nan(no_warnings: None) -> None:
    x = leaf([-1.0, 2.0])
    with tinygen.detect_anomaly():
        with pytest.raises(AnomalyError, match=r"op Log \(input shapes \(2,\).*forward"):
            tinygen.log(x)
        y = tinygen.sqrt(leaf([0.0, 4.0])).sum()
        with pytest.raises(AnomalyError, match=r"Sqrt.*backward"):
            y.backward()


def test_the_quiet_state_follows_a_changed_numpy_setting() -> None:
    # the cached quiet state is derived again when the NumPy state changes
    x = tinygen.tensor([-1.0])
    with np.errstate(invalid="raise"):
        with pytest.raises(FloatingPointError):
            tinygen.log(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(tinygen.log(x).item())
    with np.errstate(invalid="raise"):
        with pytest.raises(FloatingPointError):
            tinygen.log(x)
    assert B.np.geterr()["invalid"] == "warn"
