"""The stand-in GPU (tinygen/standin.py): CuPy's strictness on NumPy, and the GPU path it proves.

The first half specifies the stand-in itself: each place where NumPy code breaks on CuPy breaks
here too, with CuPy's error, and what CuPy allows stays allowed. The second half runs the GPU
path on it: the backend's few device-specific calls, the GPU random stream and its place in the
checkpoint, and every model trained with ``device="gpu"`` and resumed.

The backend-parametrised tests of the rest of the suite run on the stand-in too (see the
``backend`` fixture in conftest.py); the tests here need the stand-in itself, so they use it even
where real CuPy is installed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

import tinygen
from tinygen import backend as B
from tinygen import cli, nn, optim, standin
from tinygen.models import ModelState, list_models
from tinygen.train import load, train

REPO = Path(__file__).resolve().parents[1]
IMPLICIT = "Implicit conversion to a NumPy array is not allowed"


@pytest.fixture
def gpu() -> Iterator[None]:
    """The stand-in is the "gpu" device; new tensors still default to the CPU."""
    previous = B.current_backend()
    B.use("standin")
    B.use("numpy")
    try:
        yield
    finally:
        B.remove_standin()
        B.use(previous if previous != "standin" else "numpy")


def device(values: Any) -> standin.ndarray:
    return standin.asarray(np.asarray(values, dtype=np.float64))


# ------------------------------------------------------------- what CuPy refuses, refused
@pytest.mark.parametrize("convert", [np.asarray, np.array, np.ascontiguousarray, np.float64,
                                     lambda a: np.testing.assert_allclose(a, [1.0, 2.0])],
                         ids=["asarray", "array", "ascontiguousarray", "np.float64", "np.testing"])
def test_implicit_conversion_to_numpy_raises_cupys_type_error(convert: Any) -> None:
    with pytest.raises(TypeError, match=IMPLICIT):
        convert(device([1.0, 2.0]))


def test_the_host_buffer_is_out_of_reach() -> None:
    a = device([1.0, 2.0])
    with pytest.raises(TypeError):
        memoryview(a)
    for name in ("__array_interface__", "__array_struct__", "data", "ctypes"):
        with pytest.raises(AttributeError):
            getattr(a, name)


@pytest.mark.parametrize("mix", [
    lambda d, h: d + h, lambda d, h: h + d, lambda d, h: d * h[0:1], lambda d, h: h @ d,
    lambda d, h: np.add(d, h), lambda d, h: np.concatenate([d, h]), lambda d, h: standin.maximum(d, h),
    lambda d, h: d + np.asarray(1.0),  # a 0-d NumPy array is an array, not a scalar, for CuPy
], ids=["device+host", "host+device", "device*host[slice]", "host@device", "np.add", "np.concatenate",
        "xp.maximum", "device+0d-host"])
def test_mixing_a_device_array_with_a_host_array_raises_whichever_side_it_is_on(mix: Any) -> None:
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        mix(device([1.0, 2.0]), np.array([3.0, 4.0]))


def test_writing_a_host_array_into_a_device_array_raises_cupys_value_error() -> None:
    a = device([0.0, 0.0])
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[...] = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for copyto"):
        standin.copyto(a, np.array([1.0, 2.0]))
    a[...] = device([1.0, 2.0])
    a[0] = np.float64(5.0)  # NumPy scalars (and a 1-element host array in copyto) are values
    standin.copyto(a[1:], np.array([7.0]))
    assert a.tolist() == [5.0, 7.0]


def test_functions_cupy_lacks_are_missing() -> None:
    with pytest.raises(AttributeError, match="errstate"):
        standin.errstate  # noqa: B018  (cupyx.errstate is CuPy's, with other modes)


# ------------------------------------------------------------- what CuPy allows, allowed
def test_scalars_mix_freely_and_results_stay_on_the_device() -> None:
    a = device([1.0, 2.0])
    for result in (a * 2.0, 2.0 - a, np.float32(2.0) * a, a / np.float64(4.0), -a, abs(a), np.exp(a),
                   np.sum(a), standin.where(a > 1.5, a, 0.0)):
        assert type(result) is standin.ndarray
    assert (np.float32(2.0) * a).tolist() == [2.0, 4.0] and np.exp(a).get()[0] == np.exp(1.0)


def test_reductions_and_integer_indexing_give_0d_device_arrays_and_indexing_views_write_through() -> None:
    a = device([[1.0, 2.0], [3.0, 4.0]])
    total, element = a.sum(), a[1, 0]
    assert type(total) is standin.ndarray and total.shape == () and float(total) == 10.0
    assert type(element) is standin.ndarray and element.shape == ()
    element += 10.0  # a view, as in CuPy (a NumPy scalar would be a copy)
    assert a.tolist() == [[1.0, 2.0], [13.0, 4.0]]


def test_explicit_reads_of_values_are_allowed_and_many_values_are_not_one_number() -> None:
    a = device([1.5, 2.5])
    assert (float(a[0]), int(a[1]), bool(a[0]), a.sum().item(), a.tolist()) == (1.5, 2, True, 4.0, [1.5, 2.5])
    assert f"{a[0]:.2f}" == "1.50"
    with pytest.raises(TypeError):
        float(a)
    with pytest.raises(TypeError):  # CuPy's arrays have no __index__: a device integer is no list index
        ["x", "y"][standin.asarray(1)]


def test_to_host_and_asarray_are_copies_across_the_device_boundary(gpu: None) -> None:
    host = np.array([1.0, 2.0])
    a = standin.asarray(host)
    host[0] = 99.0  # the device keeps what was copied
    assert a.tolist() == [1.0, 2.0]
    back = B.to_host(a)
    assert type(back) is np.ndarray
    back[1] = 99.0
    assert a.tolist() == [1.0, 2.0] and standin.asarray(a) is a


def test_views_name_their_base_so_tinygen_can_tell_views_from_copies() -> None:
    a = standin.zeros(6)
    assert a.base is None
    assert a.reshape(2, 3).base is a and a[1:].base is a and a.reshape(2, 3)[0].base is a
    assert a.copy().base is None


def test_a_gpu_tensor_lives_on_the_device_and_reaches_numpy_only_explicitly(gpu: None) -> None:
    t = tinygen.tensor([1.0, 2.0], device="gpu")
    assert t.device == "gpu" and type(t.data) is standin.ndarray and B.device_of(t.data) == "gpu"
    assert t.numpy().tolist() == [1.0, 2.0] and t.cpu().device == "cpu"
    with pytest.raises(TypeError, match=r"on the gpu.*\.numpy\(\)"):
        np.asarray(t)
    with pytest.raises(B.DeviceError, match="different devices"):
        t + tinygen.tensor([1.0, 2.0])


# ------------------------------------------------------------- selecting the stand-in
def test_use_standin_makes_it_the_gpu_until_remove_standin(gpu: None) -> None:
    assert B.current_backend() == "numpy" and B.module_for("gpu") is standin and B.gpu_status() is None
    B.use("gpu")
    assert B.xp is standin and B.current_backend() == "standin" and tinygen.zeros(2).device == "gpu"
    B.remove_standin()
    assert B.xp is np and B._cupy is B._real_cupy
    if B._real_cupy is None:
        with pytest.raises(B.BackendError, match="CuPy is not installed"):
            tinygen.zeros(2, device="gpu")


def test_tinygen_backend_standin_selects_it_at_import() -> None:
    code = "import tinygen; print(tinygen.zeros(2).device, type(tinygen.zeros(2).data).__module__)"
    env = {**os.environ, "TINYGEN_BACKEND": "standin", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["gpu", "tinygen.standin"]


# ------------------------------------------------------------- the calls that differ by backend
def test_scatter_add_accumulates_repeated_indices_on_the_gpu(gpu: None) -> None:
    target = standin.zeros(3)
    B.scatter_add(target, device([0, 0, 2]).astype(np.int64), device([1.0, 2.0, 5.0]))
    assert target.tolist() == [3.0, 0.0, 5.0]  # a plain target[idx] += v would give 2.0 at 0


def test_erf_runs_on_the_device_that_holds_the_array(gpu: None) -> None:
    from scipy.special import erf

    x = np.linspace(-3.0, 3.0, 7)
    on_gpu = B.erf(standin.asarray(x))
    assert type(on_gpu) is standin.ndarray
    np.testing.assert_array_equal(B.to_host(on_gpu), erf(x))
    np.testing.assert_array_equal(B.erf(x), erf(x))


# ------------------------------------------------------------- the GPU random stream
def _gpu_draws() -> list[Any]:
    return [B.to_host(B.randn(4, device="gpu")), B.to_host(B.randint(0, 1000, 4, device="gpu")),
            B.to_host(B.rand(4, device="gpu")), B.to_host(B.permutation(6, device="gpu"))]


def _same(a: list[Any], b: list[Any]) -> bool:
    return all(x.tobytes() == y.tobytes() for x, y in zip(a, b))


def test_cupy_13_2_refuses_python_int_seeds_so_the_backend_seeds_with_uint64(gpu: None) -> None:
    """CuPy 13.2 under NumPy 2 raises on RandomState(5); the stand-in does too, so the backend,
    which passes numpy.uint64 seeds, is checked to work on it."""
    with pytest.raises(TypeError, match="Cannot cast"):
        standin.random.RandomState(5)
    tinygen.manual_seed(5)
    assert _gpu_draws()[0].shape == (4,)


def test_gpu_draws_repeat_under_manual_seed_and_are_not_the_cpu_stream(gpu: None) -> None:
    tinygen.manual_seed(3)
    first = _gpu_draws()
    cpu = B.randn(4)
    tinygen.manual_seed(3)
    assert _same(first, _gpu_draws())
    assert not np.array_equal(first[0], cpu) and not np.array_equal(first[0], B.to_host(B.randn(4, device="gpu")))
    tinygen.manual_seed(4)
    assert not np.array_equal(first[0], _gpu_draws()[0])


def test_rng_state_holds_the_gpu_stream_and_replays_it(gpu: None) -> None:
    tinygen.manual_seed(0)
    B.randn(3, device="gpu")
    state = B.get_rng_state()
    assert json.loads(state)["gpu"]["draws"] == 1
    first = _gpu_draws() + [B.randn(3)]
    tinygen.manual_seed(99)
    B.set_rng_state(state)
    assert _same(first, _gpu_draws() + [B.randn(3)])


def test_a_cpu_only_state_from_an_older_checkpoint_restores_the_cpu_and_leaves_the_gpu(gpu: None) -> None:
    tinygen.manual_seed(0)
    legacy = json.dumps(json.loads(B.get_rng_state())["cpu"])  # what get_rng_state used to return
    expected_cpu = B.randn(3)
    gpu_next = B.to_host(B.randn(3, device="gpu"))
    tinygen.manual_seed(0)
    B.randn(3, device="gpu")
    B.set_rng_state(legacy)
    assert np.array_equal(B.randn(3), expected_cpu)
    assert not np.array_equal(B.to_host(B.randn(3, device="gpu")), gpu_next)  # the GPU stream went on
    with pytest.raises(ValueError, match="not a state from get_rng_state"):
        B.set_rng_state(json.dumps([1, 2]))


# ------------------------------------------------------------- training on the GPU
@pytest.fixture
def quiet_pictures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress pictures still sample on the GPU (and draw from its stream) but skip matplotlib."""
    from tinygen.train import pictures

    monkeypatch.setattr(pictures, "save_samples_picture", lambda *args, **kwargs: None)


def _parameters(path: Path) -> dict[str, Any]:
    """Every array of a checkpoint's model state, flattened to 'part/name' keys."""
    flat: dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{key}/{k}")
        elif hasattr(node, "shape"):
            flat[key] = node

    walk(load(path)["model"], "model")
    return flat


def _assert_same_parameters(a: Path, b: Path) -> None:
    pa, pb = _parameters(a), _parameters(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_on_the_gpu_and_two_plus_two_steps_equal_four(tmp_path: Path, name: str, gpu: None,
                                                                         quiet_pictures: None) -> None:
    common = dict(quick=True, progress=False, outputs=False, checkpoint_every=1, sample_every=1, seed=2,
                  device="gpu")
    straight = train(name, out=tmp_path / "straight", steps=4, **common)
    train(name, out=tmp_path / "resumed", steps=2, **common)
    resumed = train(name, out=tmp_path / "resumed", steps=4, resume=True, **common)
    assert all(type(p.data) is standin.ndarray for _, net in resumed.model.networks() for p in net.parameters())
    _assert_same_parameters(tmp_path / "straight" / "checkpoint.npz", tmp_path / "resumed" / "checkpoint.npz")
    assert straight.step == resumed.step == 4


def test_a_gpu_resume_that_lost_the_gpu_stream_would_differ(tmp_path: Path, gpu: None, quiet_pictures: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: restore only the CPU's state (as checkpoints used to) and the GAN,
    whose noise is drawn on the GPU, parts ways with the straight run."""
    common = dict(quick=True, progress=False, outputs=False, checkpoint_every=1, sample_every=0, seed=2,
                  device="gpu")
    train("gan", out=tmp_path / "straight", steps=4, **common)
    train("gan", out=tmp_path / "resumed", steps=2, **common)
    restore = B.set_rng_state
    monkeypatch.setattr(B, "set_rng_state", lambda state: restore(json.dumps(json.loads(state)["cpu"])))
    train("gan", out=tmp_path / "resumed", steps=4, resume=True, **common)
    straight, resumed = (_parameters(tmp_path / d / "checkpoint.npz") for d in ("straight", "resumed"))
    assert any(not np.array_equal(straight[k], resumed[k]) for k in straight)


def test_the_command_line_trains_on_the_gpu_and_resumes(tmp_path: Path, gpu: None, quiet_pictures: None,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    import tinygen.metrics
    from tinygen.train import outputs
    from tinygen.viz import plots

    # the outputs are written from host arrays; their pictures and metrics are tested elsewhere
    monkeypatch.setattr(tinygen.metrics, "evaluate", lambda name, samples, labels=None: {"n": len(samples)})
    for module, name in ((outputs, "save_samples_picture"), (outputs, "animate_progress"), (plots, "loss_curves")):
        monkeypatch.setattr(module, name, lambda *args, **kwargs: None)
    common = ["--quick", "--device", "gpu", "--seed", "1", "--quiet"]
    assert cli.main(["train", "wgan", "--steps", "4", "--out", str(tmp_path / "straight"), *common]) == 0
    assert cli.main(["train", "wgan", "--steps", "2", "--out", str(tmp_path / "resumed"), *common]) == 0
    assert cli.main(["train", "wgan", "--steps", "4", "--out", str(tmp_path / "resumed"), "--resume", *common]) == 0
    _assert_same_parameters(tmp_path / "straight" / "checkpoint.npz", tmp_path / "resumed" / "checkpoint.npz")
    assert load(tmp_path / "resumed" / "checkpoint.npz")["device"] == "gpu"
    assert np.load(tmp_path / "resumed" / "samples.npy").shape[1] == 2  # host arrays on disk


def test_model_state_restores_a_buffer_given_as_a_device_array(gpu: None) -> None:
    """load_state_dict copied buffers with numpy.array, which CuPy refuses for its arrays."""
    net = nn.Linear(2, 1).to("gpu")
    model = ModelState(net=net, opt=optim.SGD(net.parameters(), lr=0.1), chains=standin.zeros((2, 2)))
    state = model.state_dict()
    state["chains"] = standin.ones((2, 2))
    model.load_state_dict(state)
    assert type(model.chains) is standin.ndarray and model.chains.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert model.chains is not state["chains"]
