"""The backend: the default and the switch, seeding (bit-identical draws on the CPU), dtypes,
host copies, and what happens when the GPU is asked for on a machine without one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import backend as B
from tinygen import nn

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, backend: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with TINYGEN_BACKEND set to ``backend`` (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "TINYGEN_BACKEND"}
    if backend is not None:
        env["TINYGEN_BACKEND"] = backend
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


# ----------------------------------------------------------------------------- backend choice
def test_import_without_tinygen_backend_uses_numpy_on_the_cpu() -> None:
    result = run_python("import numpy, tinygen; from tinygen import backend as B; "
                        "print(B.xp is numpy, tinygen.zeros(2).device, tinygen.zeros(2).data.__class__.__name__)",
                        backend=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "cpu", "ndarray"]


def test_tinygen_backend_cupy_without_a_gpu_fails_with_a_backend_error_saying_what_is_missing() -> None:
    problem = B.gpu_status()
    if problem is None:
        pytest.skip("this machine has CuPy and a GPU, so TINYGEN_BACKEND=cupy works here")
    # importing works (so the command line can print its one-line error); the first array fails
    assert run_python("import tinygen", backend="cupy").returncode == 0
    result = run_python("import tinygen; tinygen.zeros(2)", backend="cupy")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("tinygen.backend.BackendError: TINYGEN_BACKEND=cupy: ")
    assert ("CuPy is not installed" if B._cupy is None else "no CUDA GPU") in last_line


def test_tinygen_backend_numpy_and_an_unknown_name() -> None:
    assert run_python("import tinygen", backend="numpy").returncode == 0
    result = run_python("import tinygen", backend="jax")
    assert result.returncode != 0
    assert "unknown backend 'jax': expected 'numpy' or 'cupy'" in result.stderr


def test_use_switches_the_active_module_and_the_default_device(backend: str) -> None:
    expected = np if backend == "numpy" else B._cupy
    assert B.xp is expected
    assert tinygen.zeros(2).device == ("cpu" if backend == "numpy" else "gpu")
    B.use("cpu")  # "cpu" is an alias of "numpy"
    assert B.xp is np and B.default_device() == "cpu"


# ------------------------------------------------------------------------------------ seeding
DRAWS: dict[str, Callable[[], Any]] = {
    "randn": lambda: tinygen.randn(3, 4).numpy(),
    "rand": lambda: tinygen.rand(3, 4, dtype=tinygen.float64).numpy(),
    "randint": lambda: tinygen.randint(0, 1000, (3, 4)).numpy(),
    "randperm": lambda: tinygen.randperm(20).numpy(),
    "randn_like": lambda: tinygen.randn_like(tinygen.zeros(5)).numpy(),
    "dropout_mask": lambda: F.dropout(tinygen.ones(6, 7), 0.5).numpy(),
    "linear_init": lambda: nn.Linear(6, 5).weight.numpy(),
    "host_generator": lambda: B.host_generator().normal(size=4),
}


@pytest.mark.parametrize("name", list(DRAWS))
def test_manual_seed_makes_every_random_draw_bit_identical_on_the_cpu(name: str) -> None:
    draw = DRAWS[name]
    tinygen.manual_seed(1234)
    first = draw()
    tinygen.manual_seed(1234)
    second = draw()
    np.testing.assert_array_equal(first, second)
    assert first.tobytes() == second.tobytes()
    tinygen.manual_seed(1235)
    assert draw().tobytes() != first.tobytes()


def test_a_seeded_sequence_of_mixed_draws_repeats_exactly() -> None:
    def sequence() -> list[np.ndarray]:
        tinygen.manual_seed(7)
        model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.3), nn.Linear(4, 2))
        out = model(tinygen.randn(5, 3))
        return [p.numpy() for p in model.parameters()] + [out.numpy(), tinygen.randint(0, 9, 3).numpy()]

    for a, b in zip(sequence(), sequence()):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_manual_seed_rejects_anything_but_a_non_negative_integer(seed: Any) -> None:
    with pytest.raises(ValueError, match=r"manual_seed expects a non-negative integer"):
        tinygen.manual_seed(seed)


def test_rng_state_round_trip_replays_the_same_draws() -> None:
    tinygen.manual_seed(0)
    tinygen.randn(10)
    state = B.get_rng_state()
    assert isinstance(state, str)  # JSON text: storable in a checkpoint without pickle
    first = [tinygen.randn(3).numpy(), tinygen.randint(0, 100, 3).numpy()]
    tinygen.manual_seed(99)  # move elsewhere, then come back
    B.set_rng_state(state)
    second = [tinygen.randn(3).numpy(), tinygen.randint(0, 100, 3).numpy()]
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()
    with pytest.raises(TypeError, match="JSON string"):
        B.set_rng_state({"state": 1})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- dtypes
def test_tensors_from_python_floats_are_float32_by_default(backend: str) -> None:
    assert tinygen.tensor(1.5).dtype == np.float32
    assert tinygen.tensor([[1.0, 2.0]]).dtype == np.float32
    for make in (tinygen.zeros, tinygen.ones, tinygen.randn, tinygen.rand):
        assert make(2, 3).dtype == np.float32, make.__name__
    assert nn.Linear(2, 3).weight.dtype == np.float32
    assert tinygen.tensor([1, 2]).dtype == np.int64


def test_float32_stays_float32_through_ops_with_python_numbers(backend: str) -> None:
    x = tinygen.randn(3, requires_grad=True)
    y = F.sigmoid(x * 2.5 + 1 - 0.5 / (x.abs() + 1)).mean() ** 2
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_float64_where_asked(backend: str) -> None:
    assert tinygen.tensor([1.0], dtype=tinygen.float64).dtype == np.float64
    assert tinygen.randn(2, dtype=tinygen.float64).dtype == np.float64
    assert tinygen.zeros(2, dtype=tinygen.float64).dtype == np.float64
    assert tinygen.tensor(np.array([1.0, 2.0])).dtype == np.float64  # a NumPy array keeps its dtype
    x = tinygen.randn(3, requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()  # the conversion is differentiable, and the gradient comes back as float32
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------ host and device
def test_to_cpu_on_a_cpu_tensor_is_a_no_op() -> None:
    x = tinygen.randn(3, requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x
    assert x.device == "cpu"


def test_numpy_returns_a_copy(backend: str) -> None:
    x = tinygen.tensor([1.0, 2.0, 3.0])
    host = x.numpy()
    assert type(host) is np.ndarray
    host[0] = 100.0
    assert x.numpy()[0] == 1.0


def test_item_returns_a_python_number(backend: str) -> None:
    value = tinygen.tensor([[2.5]]).item()
    assert type(value) is float and value == 2.5
    assert type(tinygen.tensor(3).item()) is int


def test_detach_shares_the_data_but_leaves_the_graph(backend: str) -> None:
    x = tinygen.randn(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.creator is None and d.is_leaf
    assert d.data is y.data
    np.testing.assert_array_equal(d.numpy(), y.numpy())


def test_scatter_add_accumulates_repeated_indices(backend: str) -> None:
    target = B.xp.zeros(4)
    B.scatter_add(target, B.xp.asarray([0, 2, 2, 2]), B.xp.asarray([1.0, 1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(B.to_host(target), [1.0, 0.0, 6.0, 0.0])


def test_as_strided_is_a_read_only_view(backend: str) -> None:
    base = B.xp.arange(6.0)
    windows = B.as_strided(base, (4, 3), (base.strides[0], base.strides[0]))  # sliding windows of 3
    np.testing.assert_array_equal(B.to_host(windows), [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    if backend == "numpy":
        with pytest.raises(ValueError):
            windows[0, 0] = 9.0


def test_cupy_tensors_move_to_the_host_and_back(backend: str) -> None:
    if backend != "cupy":
        pytest.skip("moving between devices needs the cupy backend (a GPU)")
    x = tinygen.randn(3, requires_grad=True)
    assert x.device == "gpu"
    host = x.to("cpu")
    assert host.device == "cpu"
    (host * host).sum().backward()
    assert x.grad.device == "gpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)
