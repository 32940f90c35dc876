"""Bad input gets a clear exception that names the op (or layer, or argument) and the shapes or
values it received, never a deep NumPy traceback. NaN or inf reaching a loss is named under
``detect_anomaly``; without it the loss is NaN, as in PyTorch, and no time goes to scanning."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import backend as B
from tinygen import nn


def leaf(array: Any) -> tinygen.Tensor:
    return tinygen.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def randn(*shape: int) -> tinygen.Tensor:
    return leaf(np.random.default_rng(0).normal(size=shape))


# ------------------------------------------------------------------------------------- shapes
def test_adding_incompatible_shapes_names_the_op_and_both_shapes(backend: str) -> None:
    with pytest.raises(ValueError, match=r"Add.*\(3, 4\).*\(5,\)"):
        randn(3, 4) + randn(5)


@pytest.mark.parametrize("op, name", [(lambda x, y: x - y, "Sub"), (lambda x, y: x * y, "Mul"),
                                      (lambda x, y: x / y, "Div")])
def test_other_binary_ops_name_themselves_and_the_shapes(backend: str, op: Any, name: str) -> None:
    with pytest.raises(ValueError, match=rf"{name}.*\(2, 3\).*\(4, 1, 2\)"):
        op(randn(2, 3), randn(4, 1, 2))


def test_matmul_of_mismatched_inner_dims_names_both_shapes_and_the_dims(backend: str) -> None:
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 6\).*\(4\).*\(5\)"):
        randn(3, 4) @ randn(5, 6)
    with pytest.raises(ValueError, match=r"matmul.*\(3, 4\) and \(5,\)"):
        tinygen.matmul(randn(3, 4), randn(5))
    with pytest.raises(ValueError, match=r"matmul.*at least one dimension"):
        tinygen.matmul(randn(3, 4), leaf(2.0))


def test_matmul_of_non_broadcastable_batch_dims_names_the_shapes(backend: str) -> None:
    with pytest.raises(ValueError, match=r"MatMul.*\(2, 3, 4\).*\(3, 4, 5\)"):
        randn(2, 3, 4) @ randn(3, 4, 5)


def test_linear_with_the_wrong_number_of_features_names_input_and_weight_shapes(backend: str) -> None:
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) has 3 features but the weight "
                                         r"of shape \(4, 5\) expects 5"):
        F.linear(randn(2, 3), randn(4, 5))
    with pytest.raises(ValueError, match=r"linear: bias has shape \(3,\), expected \(4,\)"):
        F.linear(randn(2, 5), randn(4, 5), randn(3))
    with pytest.raises(ValueError, match=r"linear: weight must be 2-D.*\(5,\)"):
        F.linear(randn(2, 5), randn(5))


def test_a_linear_layer_fed_the_wrong_width_says_what_it_expected(backend: str) -> None:
    layer = nn.Linear(5, 2)
    with pytest.raises(ValueError, match=r"linear: input of shape \(7, 3\).*\(2, 5\) expects 5"):
        layer(tinygen.randn(7, 3))


def test_reshape_to_an_incompatible_size_names_both_shapes(backend: str) -> None:
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\) \(6 elements\).*\(4, 2\)"):
        randn(2, 3).reshape(4, 2)


def test_cat_and_stack_of_mismatched_shapes_name_the_offending_tensor(backend: str) -> None:
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\).*\(2, 3\)"):
        tinygen.cat([randn(2, 3), randn(2, 4)], 0)
    with pytest.raises(ValueError, match=r"stack: tensor 2 has shape \(3,\).*\(2,\)"):
        tinygen.stack([randn(2), randn(2), randn(3)])


def test_reducing_over_a_dim_out_of_range_names_the_op_and_dim(backend: str) -> None:
    with pytest.raises(IndexError, match=r"sum: dim 2 is out of range for a tensor with 2 dimensions"):
        randn(2, 3).sum(2)
    with pytest.raises(IndexError, match=r"softmax: dim -3"):
        F.softmax(randn(2, 3), -3)


def test_indexing_out_of_range_names_the_shape(backend: str) -> None:
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        randn(2, 3)[5]


# ------------------------------------------------------------------------ backward and dtypes
def test_backward_on_a_non_scalar_without_a_gradient_names_the_shape(backend: str) -> None:
    y = randn(2, 3) * 2
    with pytest.raises(RuntimeError, match=r"backward.*scalar.*shape \(2, 3\)"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_names_both_shapes(backend: str) -> None:
    y = randn(2, 3) * 2
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the output has shape \(2, 3\)"):
        y.backward(tinygen.ones(3, dtype=tinygen.float64))


@pytest.mark.parametrize("make", [
    lambda: tinygen.tensor([1, 2, 3], requires_grad=True),
    lambda: tinygen.zeros(2, 2, dtype=tinygen.int64, requires_grad=True),
    lambda: tinygen.tensor(np.array([1, 2, 3])).requires_grad_(),
    lambda: nn.Parameter(np.arange(3)),
], ids=["tensor", "zeros", "requires_grad_", "Parameter"])
def test_integer_tensors_cannot_require_grad(backend: str, make: Any) -> None:
    with pytest.raises(TypeError, match=r"only floating-point tensors can require gradients.*int64"):
        make()


def test_item_of_a_tensor_with_several_elements_names_its_shape(backend: str) -> None:
    with pytest.raises(ValueError, match=r"item\(\).*shape \(2,\)"):
        randn(2).item()


# ------------------------------------------------------------------------------------- losses
LOSSES = {
    "mse_loss": lambda x, t: F.mse_loss(x, t),
    "binary_cross_entropy_with_logits": lambda x, t: F.binary_cross_entropy_with_logits(x, t),
    "cross_entropy": lambda x, t: F.cross_entropy(x, t),  # probability targets: same shape as x
}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("argument", ["input", "target"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_under_detect_anomaly_nan_or_inf_into_a_loss_names_the_loss_and_the_argument(
        backend: str, loss: str, argument: str, bad: float) -> None:
    x, t = np.zeros((2, 3)), np.full((2, 3), 1 / 3)
    (x if argument == "input" else t)[1, 2] = bad
    with tinygen.detect_anomaly(), pytest.raises(
            tinygen.AnomalyError, match=rf"^{loss}: {argument} \(shape \(2, 3\)\) contains 1 NaN or inf"):
        LOSSES[loss](leaf(x), leaf(t))


@pytest.mark.parametrize("argument", ["input", "target"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_without_detect_anomaly_a_nan_into_a_loss_is_not_scanned_and_gives_a_nan_loss(
        backend: str, loss: str, argument: str) -> None:
    # the scan is a pass over the data and, on a GPU, a wait for the device in every loss
    x, t = np.zeros((2, 3)), np.full((2, 3), 1 / 3)
    (x if argument == "input" else t)[1, 2] = np.nan
    with np.errstate(invalid="ignore"):
        assert np.isnan(LOSSES[loss](leaf(x), leaf(t)).item())


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_logits_into_cross_entropy_and_nll_loss_with_class_targets(backend: str, bad: float) -> None:
    x = np.zeros((3, 4))
    x[0, 0] = bad
    labels = tinygen.tensor(np.array([0, 1, 3]))
    with tinygen.detect_anomaly():
        with pytest.raises(tinygen.AnomalyError,
                           match=r"^cross_entropy: input \(shape \(3, 4\)\) contains 1 NaN or inf"):
            F.cross_entropy(leaf(x), labels)
        with pytest.raises(tinygen.AnomalyError,
                           match=r"^nll_loss: log_probs \(shape \(3, 4\)\) contains 1 NaN or inf"):
            F.nll_loss(leaf(x), labels)
    with np.errstate(invalid="ignore"):  # not scanned: the loss itself is NaN or inf
        assert not np.isfinite(F.cross_entropy(leaf(x), labels).item())
        assert not np.isfinite(F.nll_loss(leaf(x), labels).item())


def test_finite_inputs_pass_the_loss_scan_under_detect_anomaly(backend: str) -> None:
    x, t = leaf(np.zeros((2, 3))), leaf(np.full((2, 3), 1 / 3))
    with tinygen.detect_anomaly():
        for loss in LOSSES.values():
            assert np.isfinite(loss(x, t).item())


@pytest.mark.parametrize("labels", [[0, 1, 4], [-1, 0, 1]], ids=["too_large", "negative"])
def test_cross_entropy_targets_out_of_range_name_the_loss_the_range_and_the_values(backend: str,
                                                                                 labels: list[int]) -> None:
    target = tinygen.tensor(np.array(labels))
    with pytest.raises(ValueError, match=rf"cross_entropy: target classes must lie in \[0, 4\).*"
                                         rf"from {min(labels)} to {max(labels)}"):
        F.cross_entropy(randn(3, 4), target)
    with pytest.raises(ValueError, match=rf"nll_loss: target classes must lie in \[0, 4\).*{max(labels)}"):
        F.nll_loss(randn(3, 4), target)


def test_cross_entropy_targets_of_the_wrong_shape_are_rejected_not_reshaped(backend: str) -> None:
    # (5, 2) holds as many labels as (2, 5) but pairs them with the wrong positions
    with pytest.raises(ValueError, match=r"cross_entropy: class targets for logits of shape \(2, 3, 5\) "
                                         r"must have shape \(2, 5\), got \(5, 2\)"):
        F.cross_entropy(randn(2, 3, 5), tinygen.tensor(np.zeros((5, 2), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(4, 3\).*\(4,\), got \(4, 1\)"):
        F.cross_entropy(randn(4, 3), tinygen.tensor(np.zeros((4, 1), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"cross_entropy: probability targets must match input shape"):
        F.cross_entropy(randn(4, 3), leaf(np.full((4, 2), 0.5)))


def test_nll_loss_with_float_targets_says_it_needs_class_indices(backend: str) -> None:
    with pytest.raises(TypeError, match=r"nll_loss: target must hold integer class indices.*float64"):
        F.nll_loss(randn(3, 4), leaf([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("value", [1.5, -0.25])
def test_bce_targets_outside_zero_one_name_the_loss_and_the_values(backend: str, value: float) -> None:
    t = np.array([[0.0, 1.0], [0.5, value]])
    with pytest.raises(ValueError, match=rf"binary_cross_entropy_with_logits: targets must lie in \[0, 1\].*"
                                         rf"{min(0.0, value)} to {max(1.0, value)}"):
        F.binary_cross_entropy_with_logits(randn(2, 2), leaf(t))


@pytest.mark.parametrize("loss", ["mse_loss", "binary_cross_entropy_with_logits"])
def test_losses_with_mismatched_input_and_target_shapes_name_both(backend: str, loss: str) -> None:
    with pytest.raises(ValueError, match=rf"{loss}: input shape \(2, 3\) and target shape \(3, 2\) differ"):
        LOSSES[loss](randn(2, 3), leaf(np.full((3, 2), 0.5)))


def test_an_unknown_reduction_is_named(backend: str) -> None:
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be one of .*'average'"):
        F.mse_loss(randn(2), randn(2), reduction="average")


# ------------------------------------------------------------------------------------ devices
def test_mixing_cpu_and_gpu_tensors_names_the_op_and_both_devices() -> None:
    problem = B.gpu_status()
    if problem is not None:
        pytest.skip(f"needs a GPU to put tensors on two devices: {problem}")
    x, y = tinygen.randn(3, device="cpu"), tinygen.randn(3, device="gpu")
    with pytest.raises(tinygen.DeviceError, match=r"Add: inputs are on different devices: cpu.*gpu"):
        x + y


def test_the_device_mismatch_message_names_the_op_both_devices_and_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a GPU, pretend one array lives there: the check only reads devices, never data
    x, y = tinygen.randn(2, 3), tinygen.randn(3)
    on_gpu = id(y.data)
    monkeypatch.setattr(B, "_cupy", object())  # "CuPy is importable", which turns the check on
    monkeypatch.setattr(B, "device_of", lambda array: "gpu" if id(array) == on_gpu else "cpu")
    with pytest.raises(tinygen.DeviceError, match=r"Mul: inputs are on different devices: "
                                                  r"cpu \(shape \(2, 3\)\), gpu \(shape \(3,\)\)"):
        x * y


def test_asking_for_the_cupy_backend_without_cupy_or_gpu_says_which_is_missing() -> None:
    problem = B.gpu_status()
    if problem is None:
        pytest.skip("this machine has CuPy and a GPU, so the GPU backend is available")
    missing = "CuPy is not installed" if B._cupy is None else "no CUDA GPU"
    with pytest.raises(tinygen.BackendError, match=rf"GPU backend was requested, but .*{missing}"):
        B.use("cupy")
    assert B.xp is np  # a failed switch leaves the NumPy backend active
    with pytest.raises(tinygen.BackendError, match=missing):
        tinygen.zeros(3, device="gpu")
    with pytest.raises(tinygen.BackendError, match=missing):
        tinygen.randn(3).to("gpu")


@pytest.mark.parametrize("name", ["tensorflow", "cuda:x", ""])
def test_an_unknown_backend_name_is_named_with_the_choices(name: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown backend {re.escape(repr(name))}: expected 'numpy' or 'cupy'"):
        B.use(name)


def test_an_unknown_device_name_is_named_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"device must be 'cpu' or 'gpu', got 'tpu'"):
        tinygen.zeros(2, device="tpu")


# ------------------------------------------------------------------------------- state dicts
def _model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_load_state_dict_lists_missing_unexpected_and_mismatched_keys_in_one_error() -> None:
    state = _model().state_dict()
    del state["2.bias"]                      # missing
    state["2.scale"] = np.ones(2)            # unexpected
    state["0.weight"] = np.zeros((4, 5))     # wrong shape
    with pytest.raises(nn.StateDictError) as info:
        _model().load_state_dict(state)
    message = str(info.value)
    assert "Sequential" in message
    assert "missing keys: ['2.bias']" in message
    assert "unexpected keys: ['2.scale']" in message
    assert "0.weight: checkpoint (4, 5) vs model (4, 3)" in message


def test_load_state_dict_strict_false_ignores_extra_keys_but_never_wrong_shapes() -> None:
    model, state = _model(), _model().state_dict()
    del state["2.bias"]
    state["extra"] = np.ones(1)
    model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model[0].weight.numpy(), state["0.weight"])
    state["0.bias"] = np.zeros(7)
    with pytest.raises(nn.StateDictError, match=r"0.bias: checkpoint \(7,\) vs model \(4,\)"):
        model.load_state_dict(state, strict=False)


def test_a_failed_load_state_dict_leaves_the_model_unchanged() -> None:
    model = _model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = _model().state_dict()
    state["2.bias"] = np.zeros(5)
    with pytest.raises(nn.StateDictError):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ------------------------------------------------------------------------------- arguments
def test_bad_hyperparameters_name_the_argument_and_value() -> None:
    with pytest.raises(ValueError, match=r"dropout: p must lie in \[0, 1\], got 1.5"):
        F.dropout(randn(3), 1.5)
    with pytest.raises(ValueError, match=r"Dropout: p must lie in \[0, 1\], got -0.1"):
        nn.Dropout(-0.1)
    with pytest.raises(ValueError, match=r"Linear: in_features must be a positive integer, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match=r"clamp: min \(1\) is greater than max \(0\)"):
        tinygen.clamp(randn(3), 1, 0)
    with pytest.raises(ValueError, match=r"Adam: betas must lie in \[0, 1\), got \(0.9, 1.0\)"):
        tinygen.optim.Adam([leaf([1.0])], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match=r"SGD: parameter 0 is not a tensor that requires grad"):
        tinygen.optim.SGD([tinygen.zeros(2)], lr=0.1)
