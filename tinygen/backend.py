"""The array backend: the one module of tinygen that imports NumPy or CuPy.

Everything else asks this module for arrays. A reader who wants to know how tinygen runs on a GPU
needs to read only this page:

* ``xp`` is the *active* array module: NumPy by default, CuPy after ``use("cupy")`` or when the
  environment variable ``TINYGEN_BACKEND=cupy`` is set before import. Read it as ``backend.xp``
  (not ``from tinygen.backend import xp``), because ``use`` rebinds it.
* A device is a string, ``"cpu"`` (NumPy arrays) or ``"gpu"`` (CuPy arrays). Ops never consult
  ``xp`` for arithmetic: they use the module that owns their inputs (``array_module``), so CPU and
  GPU tensors can coexist and a mix of the two is caught with a clear error.
* The few calls that differ between NumPy and CuPy live here once: scatter-add, strided views,
  moving an array to the host.
* Every random draw tinygen makes goes through the generators here, so ``manual_seed`` makes a run
  repeatable (bit for bit on the CPU).

CuPy is optional. Without it (or without a GPU), importing tinygen works; only asking for the GPU
raises :class:`BackendError`, which says what is missing. That holds for ``TINYGEN_BACKEND=cupy``
too: the import succeeds, and the first array made on the default device raises the error (so the
command line can report it in one line, as it does for ``--device gpu``).

A third backend, ``"standin"`` (``use("standin")`` or ``TINYGEN_BACKEND=standin``), is a testing
tool: :mod:`tinygen.standin`, a strict imitation of CuPy on NumPy, becomes the module of the
``"gpu"`` device, so the GPU code path runs (and breaks where CuPy would) on any machine. It stays
the GPU's module until :func:`remove_standin`; it never replaces a real GPU by accident, since only
an explicit request selects it.
"""
from __future__ import annotations

import contextlib
import json
import os
import types
from typing import Any, Iterator, Sequence

import numpy

try:  # CuPy is an optional extra: tinygen[gpu]
    import cupy as _real_cupy  # type: ignore[import-not-found]

    _CUPY_IMPORT_ERROR: str | None = None
except Exception as error:  # ImportError, or a broken CUDA install
    _real_cupy = None
    _CUPY_IMPORT_ERROR = f"{type(error).__name__}: {error}"

_cupy: Any = _real_cupy  # the module of the "gpu" device: CuPy, the stand-in (use("standin")), or None

np = numpy  # the host module, for code that must run on the CPU (file I/O, plotting)
xp: Any = numpy  # the active array module

float32 = numpy.float32
float64 = numpy.float64
int64 = numpy.int64
bool_ = numpy.bool_

DEVICES = ("cpu", "gpu")


class BackendError(RuntimeError):
    """The requested backend or device cannot be used on this machine."""


class DeviceError(RuntimeError):
    """Arrays on different devices were combined."""


# ------------------------------------------------------------------------------------ devices
def gpu_status() -> str | None:
    """Why the GPU cannot be used, or ``None`` when it can (always ``None`` on the stand-in)."""
    if _cupy is None:
        return ("CuPy is not installed (pip install 'tinygen[gpu]' or a cupy-cudaXXx wheel)"
                f"; the import failed with {_CUPY_IMPORT_ERROR}")
    try:
        count = _cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # no driver, no device
        return f"CuPy is installed but no CUDA GPU is usable ({type(error).__name__}: {error})"
    if count < 1:
        return "CuPy is installed but no CUDA GPU was found"
    return None


def gpu_available() -> bool:
    return gpu_status() is None


def _require_gpu() -> Any:
    problem = gpu_status()
    if problem is not None:
        raise BackendError(f"the GPU backend was requested, but {problem}")
    return _cupy


def check_device(device: str) -> str:
    """Normalise a device name ("cpu", "gpu"; "cuda" is accepted as an alias of "gpu")."""
    if not isinstance(device, str):
        raise TypeError(f"device must be 'cpu' or 'gpu', got {type(device).__name__} {device!r}")
    name = device.lower()
    if name == "cuda" or name.startswith("cuda:"):
        name = "gpu"
    if name not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    return name


def use(name: str) -> None:
    """Select the active backend: "numpy" (or "cpu") or "cupy" (or "gpu").

    "standin" (for tests) installs :mod:`tinygen.standin` as the GPU's module and selects it; a
    later ``use("gpu")`` keeps meaning the stand-in until :func:`remove_standin`.
    """
    global xp, _cupy
    key = name.lower() if isinstance(name, str) else name
    if key in ("numpy", "cpu"):
        xp = numpy
    elif key in ("cupy", "gpu", "cuda"):
        xp = _require_gpu()
    elif key == "standin":
        from . import standin

        _cupy = xp = standin
    else:
        raise ValueError(f"unknown backend {name!r}: expected 'numpy' or 'cupy'")


def remove_standin() -> None:
    """Give the "gpu" device back to real CuPy (or to nothing); NumPy becomes active if the
    stand-in was."""
    global xp, _cupy
    if is_standin(xp):
        xp = numpy
    _cupy = _real_cupy


def is_standin(module: Any) -> bool:
    """True for :mod:`tinygen.standin`."""
    return isinstance(module, types.ModuleType) and getattr(module, "IS_STANDIN", False) is True


def current_backend() -> str:
    """The name that ``use`` takes to select the active backend again: "numpy", "cupy" or "standin"."""
    if xp is numpy:
        return "numpy"
    return "standin" if is_standin(xp) else "cupy"


def default_device() -> str:
    """The device new tensors are created on: the active backend's."""
    if isinstance(xp, _Unusable):
        raise BackendError(xp.problem)
    return "cpu" if xp is numpy else "gpu"


def device_of(array: Any) -> str:
    """'cpu' for a NumPy array (or scalar), 'gpu' for a CuPy array."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "gpu"
    return "cpu"


def module_for(device: str) -> Any:
    """The array module that holds arrays of ``device``."""
    return _require_gpu() if check_device(device) == "gpu" else numpy


def array_module(*arrays: Any) -> Any:
    """The array module owning ``arrays`` (NumPy unless one of them is a CuPy array)."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return numpy


def to_device(array: Any, device: str) -> Any:
    """Move (copy) ``array`` to ``device``; returns it unchanged when already there."""
    device = check_device(device)
    if device == "cpu":
        return to_host(array)
    cupy = _require_gpu()
    return cupy.asarray(array)


def to_host(array: Any) -> numpy.ndarray:
    """A NumPy array with the data of ``array`` (a copy if it lives on the GPU).

    The one way from the GPU to the host: CuPy refuses ``numpy.asarray`` of its arrays."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return numpy.asarray(array)


# --------------------------------------------------------------- calls that differ by backend
def scatter_add(target: Any, indices: Any, values: Any) -> None:
    """``target[indices] += values`` where repeated indices *accumulate* (in place).

    Plain ``target[idx] += v`` keeps only one of the repeated writes; NumPy spells the
    accumulating version ``numpy.add.at`` and CuPy ``cupyx.scatter_add``.
    """
    if _cupy is not None and isinstance(target, _cupy.ndarray):
        _cupyx().scatter_add(target, indices, values)
    else:
        numpy.add.at(target, indices, values)


def erf(array: Any) -> Any:
    """erf(x) = 2/sqrt(pi) int_0^x e^(-s^2) ds, elementwise, on the device that holds ``array``
    (SciPy's on the CPU, ``cupyx.scipy.special``'s on the GPU)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupyx().scipy.special.erf(array)
    from scipy.special import erf as erf_on_host

    return erf_on_host(array)


def _cupyx() -> Any:
    """CuPy's companion package (scatter_add, scipy.special), or the stand-in's imitation of it."""
    if is_standin(_cupy):
        return _cupy.cupyx
    import cupyx  # type: ignore[import-not-found]
    import cupyx.scipy.special  # type: ignore[import-not-found]  # noqa: F401  (a submodule, imported on demand)

    return cupyx


def as_strided(array: Any, shape: Sequence[int], strides: Sequence[int]) -> Any:
    """A read-only strided view of ``array`` (no copy). Strides are in bytes."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)
    return numpy.lib.stride_tricks.as_strided(array, shape=shape, strides=strides, writeable=False)


def is_float(array: Any) -> bool:
    """True for floating-point arrays (the only kind that can carry gradients)."""
    return numpy.issubdtype(array.dtype, numpy.floating)


def tiny_exponent(dtype: Any) -> float:
    """The most negative ``a`` for which ``exp(a)`` is still a normal number of ``dtype``.

    Below it ``exp`` underflows, which NumPy reports as an error under ``errstate(all="raise")``;
    the stable losses use this to return an exact 0 instead.
    """
    return float(numpy.log(numpy.finfo(dtype).tiny)) + 1.0


# ------------------------------------------------------------------------------------- random
class _DeviceStream:
    """The GPU's random stream, restorable although cuRAND's generators are not.

    A cuRAND generator's state cannot be read back, so it cannot be stored in a checkpoint.
    Instead draw number k of the stream comes from a generator seeded afresh with a seed made
    from (entropy, k) by NumPy's SeedSequence. The stream's whole state is those two integers,
    and restoring them replays every later draw. The generator is cuRAND's Philox, a
    counter-based generator that costs nothing to seed (cuRAND's default, XORWOW, rebuilds its
    state in a kernel at every seeding).
    """

    def __init__(self) -> None:
        self.entropy, self.draws = 0, 0
        self._generator: Any = None
        self._module: Any = None  # the module that made _generator (CuPy, or the stand-in)

    def reset(self, entropy: int, draws: int = 0) -> None:
        """Continue the stream of ``entropy`` at draw number ``draws``."""
        self.entropy, self.draws = int(entropy), int(draws)

    def next(self) -> Any:
        """The generator for the next draw (one call of its methods per draw)."""
        module = _require_gpu()
        if self._module is not module:
            philox = module.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10
            self._generator, self._module = module.random.RandomState(numpy.uint64(0), method=philox), module
        sequence = numpy.random.SeedSequence(self.entropy, spawn_key=(self.draws,))
        # a numpy.uint64, not an int: CuPy before 13.3 refuses Python ints as seeds under NumPy 2
        self._generator.seed(sequence.generate_state(1, numpy.uint64)[0])
        self.draws += 1
        return self._generator

    def state(self) -> dict[str, int]:
        return {"entropy": self.entropy, "draws": self.draws}


class _Generators:
    """The random generators behind every draw: NumPy's PCG64 for the CPU, a stream for the GPU.

    Both come from one seed: the CPU's is ``SeedSequence(seed)``, the GPU's its children
    ``SeedSequence(seed, spawn_key=(k,))``, so the two never repeat each other's numbers.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.gpu = _DeviceStream()
        self.seed(seed)

    def seed(self, seed: int | None) -> None:
        sequence = numpy.random.SeedSequence(seed)  # seed=None: fresh entropy from the OS
        self.cpu = numpy.random.Generator(numpy.random.PCG64(sequence))
        self.gpu.reset(sequence.entropy)


_rng = _Generators()


def manual_seed(seed: int) -> None:
    """Seed every random draw tinygen makes, on the CPU and on the GPU."""
    if isinstance(seed, bool) or not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _rng.seed(int(seed))


def get_rng_state() -> str:
    """Both generators' states as a JSON string (storable in a checkpoint without pickle):
    ``{"cpu": PCG64's state, "gpu": {"entropy": ..., "draws": ...}}``."""
    return json.dumps({"cpu": _rng.cpu.bit_generator.state, "gpu": _rng.gpu.state()})


def set_rng_state(state: str) -> None:
    """Restore a state returned by :func:`get_rng_state` (or, from checkpoints written before the
    GPU's state was stored, the CPU's state alone; the GPU's stream is then left as it is)."""
    if not isinstance(state, str):
        raise TypeError(f"set_rng_state expects the JSON string from get_rng_state, got {type(state).__name__}")
    parsed = json.loads(state)
    if not isinstance(parsed, dict) or not ("cpu" in parsed or "bit_generator" in parsed):
        raise ValueError(f"set_rng_state: not a state from get_rng_state: {state[:80]!r}")
    if "bit_generator" in parsed:  # the older format: PCG64's state only
        _rng.cpu.bit_generator.state = parsed
        return
    _rng.cpu.bit_generator.state = parsed["cpu"]
    gpu = parsed.get("gpu")
    if gpu is not None:
        _rng.gpu.reset(gpu["entropy"], gpu["draws"])


def _shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, numpy.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def randn(shape: Any, dtype: Any = float32, device: str = "cpu") -> Any:
    """Standard normal samples."""
    if check_device(device) == "gpu":
        return _rng.gpu.next().standard_normal(_shape(shape), dtype=dtype)
    return _rng.cpu.standard_normal(_shape(shape), dtype=dtype)


def rand(shape: Any, dtype: Any = float32, device: str = "cpu") -> Any:
    """Uniform samples on [0, 1)."""
    if check_device(device) == "gpu":
        return _rng.gpu.next().random_sample(_shape(shape), dtype=dtype)
    return _rng.cpu.random(_shape(shape), dtype=dtype)


def uniform(low: float, high: float, shape: Any, dtype: Any = float32, device: str = "cpu") -> Any:
    """Uniform samples on [low, high)."""
    u = rand(shape, dtype, device)
    return (low + (high - low) * u).astype(dtype, copy=False)


def randint(low: int, high: int, shape: Any, device: str = "cpu") -> Any:
    """Integers uniform on [low, high), int64."""
    if check_device(device) == "gpu":
        return _rng.gpu.next().randint(low, high, size=_shape(shape), dtype=int64)
    return _rng.cpu.integers(low, high, size=_shape(shape), dtype=int64)


def permutation(n: int, device: str = "cpu") -> Any:
    """A random permutation of range(n), int64."""
    if check_device(device) == "gpu":
        return _rng.gpu.next().permutation(n).astype(int64)
    return _rng.cpu.permutation(n).astype(int64)


def host_generator() -> numpy.random.Generator:
    """The seeded CPU generator, for host-side code (data sets, shuffling)."""
    return _rng.cpu


# ------------------------------------------------------------------------------ start-up choice
class _Unusable:
    """Stands in for ``xp`` when ``TINYGEN_BACKEND`` asks for a GPU this machine cannot give: any
    use of it (or of the default device) raises :class:`BackendError` with ``problem``."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __getattr__(self, name: str) -> Any:
        raise BackendError(self.problem)


def environment_problem() -> str | None:
    """Why the backend named by ``TINYGEN_BACKEND`` cannot be used, or ``None`` when it can."""
    return xp.problem if isinstance(xp, _Unusable) else None


def _from_environment() -> None:
    global xp
    choice = os.environ.get("TINYGEN_BACKEND", "").strip()
    if choice.lower() in ("cupy", "gpu", "cuda") and gpu_status() is not None:
        # worded like the command line's "--device gpu: <problem>", and raised on first use
        xp = _Unusable(f"TINYGEN_BACKEND={choice}: {gpu_status()}")
    elif choice:
        use(choice)


_from_environment()


def quiet_underflow() -> Any:
    """A context in which underflow to 0 is not an error.

    ``exp(-10000)`` is exactly representable as 0.0 to within the precision of any float type;
    NumPy still reports it as an underflow, which ``errstate(all="raise")`` turns into an error.
    The stable losses and activations compute inside this context; overflow and invalid
    operations (the real errors) still raise.
    """
    return numpy.errstate(under="ignore")


# ------------------------------------------------------------------- floating-point warnings
# (the one place tinygen reaches into NumPy's private API: its error state, for speed)
# PyTorch computes log(-1) = nan and 1 / 0 = inf without a word; NumPy prints a RuntimeWarning
# from inside whichever op did it. So every op runs its array work with NumPy's "warn" (and
# "print") turned into "ignore", on the CPU (CuPy never warns). Other modes are kept: inside an
# explicit np.errstate(all="raise") an op still raises, which is how tests/test_stability.py
# proves that an op never overflows. detect_anomaly checks results for NaN and inf itself.
try:  # NumPy >= 2 keeps its error state in a context variable, which is cheap to set (~0.1 us)
    from numpy._core._ufunc_config import _extobj_contextvar as _fp_state
    from numpy._core._ufunc_config import _make_extobj
except ImportError:  # NumPy 1.x: the same three calls through np.seterr (slower)
    _make_extobj = None

    class _NumPy1State:
        """get / set / reset with the meaning of a context variable's, over np.seterr."""

        def get(self) -> Any:
            return self  # the state is read afresh by set, so one name stands for every state

        def set(self, quiet: Any) -> Any:
            return np.seterr(**_quiet_modes())

        def reset(self, token: Any) -> None:
            np.seterr(**token)

    _fp_state = _NumPy1State()

_fp_get, _fp_set, _fp_reset = _fp_state.get, _fp_state.set, _fp_state.reset  # bound once: ops call them

# (a NumPy error state, its quiet version): the last pair derived, read by Function.__call__
_fp_cache: tuple[Any, Any] = (_fp_state, _fp_state) if _make_extobj is None else (None, None)


def _quiet_modes() -> dict[str, str]:
    return {kind: "ignore" if mode in ("warn", "print") else mode for kind, mode in np.geterr().items()}


def _quiet_version(state: Any) -> Any:
    """The NumPy error state ``state`` (the current one) with warnings turned off; cached."""
    global _fp_cache
    quiet = _make_extobj(**_quiet_modes())
    _fp_cache = (state, quiet)
    return quiet


@contextlib.contextmanager
def quiet_floating_point() -> Iterator[None]:
    """NumPy's floating-point warnings off inside the block (Function.__call__ calls the two halves)."""
    token = quiet_fp()
    try:
        yield
    finally:
        restore_fp(token)


def quiet_fp() -> Any:
    """Turn NumPy's floating-point warnings off; returns the token ``restore_fp`` takes."""
    loud, quiet = _fp_cache
    state = _fp_get()
    return _fp_set(quiet if state is loud or state is quiet else _quiet_version(state))


def restore_fp(token: Any) -> None:
    """Put back the error state ``quiet_fp`` replaced."""
    _fp_reset(token)
