"""A strict stand-in for CuPy: the GPU code path, tested on a machine without a GPU.

A testing tool, never a way to train: it is NumPy underneath and no faster. Select it with
``backend.use("standin")`` (or ``TINYGEN_BACKEND=standin``); from then on the device ``"gpu"``
holds stand-in arrays, and every GPU-only line of tinygen runs. ``tests/conftest.py`` runs the
GPU half of the suite on it wherever CuPy is missing.

Code written for NumPy usually breaks on CuPy in a few places, and the stand-in's arrays
(:class:`ndarray`) break in the same places, with CuPy's errors:

* Implicit conversion to NumPy raises ``TypeError`` (``np.asarray(a)``, ``np.array(a)``, handing
  ``a`` to matplotlib or ``np.testing``). The only ways to the host are explicit: ``a.get()``,
  :func:`asnumpy`, ``tinygen.backend.to_host``.
* Arithmetic that mixes a device array with a host NumPy array raises ``TypeError``, whichever
  side the NumPy array is on. Python and NumPy *scalars* mix freely, as in CuPy.
* Reductions and integer indexing give 0-d device arrays, never NumPy scalars
  (``a.sum()`` is an ``ndarray`` of shape ``()``).
* ``float(a)``, ``int(a)``, ``bool(a)``, ``a.item()`` and ``a.tolist()`` are allowed: they are
  explicit reads of a value, which CuPy also allows (and pays for with a device synchronisation).
  A device integer is no Python index, though (CuPy has no ``__index__``): ``range(a)`` and
  ``items[a]`` raise ``TypeError``.
* Functions come from the array module (``standin.exp(a)``, ``standin.zeros(3)``); NumPy's own
  functions called on a device array are handed to them (the ``__array_ufunc__`` and
  ``__array_function__`` protocols), as CuPy does, so ``np.exp(a)`` is a device array too.

Besides arrays it has the small parts of CuPy that tinygen's backend calls: ``random.RandomState``
(NumPy's PCG64 underneath), ``cuda.runtime.getDeviceCount``, ``cuda.curand``'s generator names,
and ``cupyx``'s ``scatter_add`` and ``scipy.special.erf``.

What it does not model: speed, asynchrony and streams, memory limits, CuPy's own kernels and
their rounding (results equal NumPy's to the bit), and functions NumPy has and CuPy lacks (only
``errstate``, ``seterr`` and ``geterr`` are refused).
"""
from __future__ import annotations

import functools
import operator
import types
import weakref
from typing import Any, Callable

# This module is itself an array module (it plays CuPy's part, below tinygen.backend), so it is
# built on NumPy directly, as CuPy is built on CUDA; nothing above the backend may do the same.
import numpy

IS_STANDIN = True  # how tinygen.backend tells this module from real CuPy

_HOST_ARRAY_ERROR = ("Unsupported type {kind}: {where} mixes a device array with a host NumPy array "
                     "of shape {shape}; move it to the device first (backend.to_device or xp.asarray)")
_IMPLICIT_ERROR = ("Implicit conversion to a NumPy array is not allowed. "
                   "Please use `.get()` to construct a NumPy array explicitly.")
_SCALARS = (bool, int, float, complex, numpy.generic)
_NOT_IN_CUPY = frozenset({"errstate", "seterr", "geterr"})  # cupyx.errstate is CuPy's, with other modes


# ------------------------------------------------------------------------------ wrapping
# One wrapper per host array, so that identity means what it means for real arrays: ``b.base is a``
# when ``b`` is a view of ``a`` (tinygen.autograd tells views from copies this way).
_live: dict[int, weakref.ref] = {}


def _forget(key: int, ref: weakref.ref) -> None:
    if _live.get(key) is ref:
        del _live[key]


def _wrap(host: numpy.ndarray) -> "ndarray":
    """The device array holding ``host`` (the same wrapper every time while it lives)."""
    key = id(host)
    ref = _live.get(key)
    found = ref() if ref is not None else None
    if found is not None and found._host is host:
        return found
    array = object.__new__(ndarray)
    _hold(array, host)
    return array


def _hold(array: "ndarray", host: numpy.ndarray) -> None:
    """Make ``array`` the device array of ``host``, known as such while it lives."""
    array._host = host
    _live[id(host)] = weakref.ref(array, functools.partial(_forget, id(host)))


def _to_device(result: Any) -> Any:
    """Wrap what a NumPy call returned: arrays (and NumPy scalars, as 0-d arrays, like CuPy)."""
    if isinstance(result, numpy.ndarray):
        return _wrap(result)
    if isinstance(result, numpy.generic):
        return _wrap(numpy.asarray(result))
    if isinstance(result, tuple):
        items = [_to_device(r) for r in result]
        return type(result)(*items) if hasattr(result, "_fields") else tuple(items)
    if isinstance(result, list) and result and isinstance(result[0], numpy.ndarray):
        return [_to_device(r) for r in result]
    return result


def _strict(value: Any, where: str) -> Any:
    """Unwrap device arrays (also inside lists and tuples); a host NumPy array is an error."""
    if type(value) is ndarray:
        return value._host
    if isinstance(value, numpy.ndarray):
        raise TypeError(_HOST_ARRAY_ERROR.format(kind=type(value), where=where, shape=value.shape))
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_strict(v, where) for v in value)
    return value


def _lenient(value: Any) -> Any:
    """Unwrap device arrays, leaving host data as it is (indices, and data being copied in)."""
    if type(value) is ndarray:
        return value._host
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_lenient(v) for v in value)
    return value


def _on_device(function: Callable[..., Any], where: str) -> Callable[..., Any]:
    """``function`` over device arrays: device arguments in, device results out, host arrays refused."""
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_strict(a, where) for a in args)
        kwargs = {k: _strict(v, where) for k, v in kwargs.items()}
        return _to_device(function(*args, **kwargs))
    return call


# ------------------------------------------------------------------------------ the array
class Device:
    """What ``a.device`` is: the one stand-in GPU."""

    id = 0

    def __repr__(self) -> str:
        return "<CUDA Device 0 (stand-in)>"


_DEVICE = Device()


class ndarray:  # noqa: N801  (CuPy's name)
    """An array in "device" memory: a NumPy array that only this module's functions may touch."""

    __slots__ = ("_host", "__weakref__")
    __array_priority__ = 100.0  # CuPy's: a tinygen Tensor (1000) wins, so array + tensor is Tensor.__radd__
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape: Any, dtype: Any = float) -> None:
        """``ndarray(shape, dtype)``: uninitialised memory, as ``cupy.ndarray(shape, dtype)``."""
        _hold(self, numpy.empty(shape, dtype))

    # ------------------------------------------------------------ what CuPy refuses
    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise TypeError(_IMPLICIT_ERROR)

    def __getattr__(self, name: str) -> Any:
        # NumPy's methods, run on the device; never the host buffer (__array_interface__, data, ...)
        if name.startswith("__") or name in ("data", "ctypes", "to_device"):
            raise AttributeError(f"'ndarray' (stand-in device array) has no attribute {name!r}")
        value = getattr(self._host, name)
        return _on_device(value, f"ndarray.{name}") if callable(value) else _to_device(value)

    # ------------------------------------------------------------ the explicit way to the host
    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> numpy.ndarray:
        """A host copy (CuPy's device-to-host transfer)."""
        if out is not None:
            numpy.copyto(out, self._host)
            return out
        return numpy.array(self._host, order=order, copy=True)

    def set(self, array: numpy.ndarray) -> None:
        """Copy the host array ``array`` into this one (CuPy's host-to-device transfer)."""
        if not isinstance(array, numpy.ndarray) or array.shape != self.shape:
            raise ValueError(f"set: needs a NumPy array of shape {self.shape}, got {type(array).__name__}")
        numpy.copyto(self._host, array)

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self._host.shape)
    dtype = property(lambda self: self._host.dtype)
    ndim = property(lambda self: self._host.ndim)
    size = property(lambda self: self._host.size)
    itemsize = property(lambda self: self._host.itemsize)
    nbytes = property(lambda self: self._host.nbytes)
    strides = property(lambda self: self._host.strides)
    flags = property(lambda self: self._host.flags)
    T = property(lambda self: _wrap(self._host.T))
    device = property(lambda self: _DEVICE)

    @property
    def base(self) -> Any:
        """The array whose memory this one views (None when it owns its memory)."""
        base = self._host.base
        return _wrap(base) if isinstance(base, numpy.ndarray) else base

    # ------------------------------------------------------------ Python protocols
    def __len__(self) -> int:
        return len(self._host)

    def __iter__(self) -> Any:
        for i in range(len(self._host)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self._host)

    def __float__(self) -> float:
        return float(self._host)

    def __int__(self) -> int:
        return int(self._host)

    def __complex__(self) -> complex:
        return complex(self._host)

    def __repr__(self) -> str:
        return repr(self._host)

    def __str__(self) -> str:
        return str(self._host)

    def __format__(self, spec: str) -> str:
        return format(self._host, spec)

    def __copy__(self) -> "ndarray":
        return _wrap(self._host.copy())

    def __deepcopy__(self, memo: dict) -> "ndarray":
        return _wrap(self._host.copy())

    def __reduce__(self) -> Any:
        return (asarray, (self._host,))

    def __getitem__(self, key: Any) -> "ndarray":
        key = _lenient(key)  # CuPy copies host index arrays to the device
        result = self._host[key]
        if isinstance(result, numpy.generic):  # CuPy gives a 0-d view, not a scalar
            keys = key if isinstance(key, tuple) else (key,)
            if not any(k is Ellipsis for k in keys):
                return _wrap(self._host[keys + (Ellipsis,)])
        return _to_device(result)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, numpy.ndarray) and value.ndim > 0:  # CuPy's message (from ndarray.fill)
            raise ValueError(f"non-scalar numpy.ndarray cannot be used for fill: a host array of shape "
                             f"{value.shape} written into a device array; move it to the device first")
        self._host[_lenient(key)] = _lenient(value)

    # ------------------------------------------------------------ NumPy's protocols
    def __array_ufunc__(self, ufunc: numpy.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``np.exp(a)``, ``host + a``: run on the device; a host array among the inputs is an error."""
        where = f"numpy.{ufunc.__name__}"
        if any(_defers_to(x) for x in inputs):
            return NotImplemented
        inputs = tuple(_strict(x, where) for x in inputs)
        kwargs = {k: _strict(v, where) for k, v in kwargs.items()}
        return _to_device(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, function: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """``np.sum(a)``, ``np.concatenate([a, b])``: run on the device, host arrays refused."""
        return _on_device(function, f"numpy.{function.__name__}")(*args, **kwargs)


def _defers_to(other: Any) -> bool:
    """True when ``other`` (a tinygen Tensor, say) should handle an operation with a device array."""
    return (not isinstance(other, (ndarray, numpy.ndarray, list, tuple) + _SCALARS)
            and getattr(other, "__array_priority__", 0) > ndarray.__array_priority__)


def _operand(other: Any, where: str) -> Any:
    """The host value of an operator's other operand, or NotImplemented for a type CuPy refuses."""
    if type(other) is ndarray:
        return other._host
    if isinstance(other, numpy.ndarray):
        raise TypeError(_HOST_ARRAY_ERROR.format(kind=type(other), where=where, shape=other.shape))
    if isinstance(other, _SCALARS):
        return other
    return NotImplemented


def _binary(op: Callable[[Any, Any], Any], name: str, reflected: bool = False) -> Callable[..., Any]:
    def method(self: ndarray, other: Any) -> Any:
        value = _operand(other, f"ndarray.{name}")
        if value is NotImplemented:
            return NotImplemented
        return _to_device(op(value, self._host) if reflected else op(self._host, value))
    method.__name__ = name
    return method


def _unary(op: Callable[[Any], Any], name: str) -> Callable[..., Any]:
    def method(self: ndarray) -> Any:
        return _to_device(op(self._host))
    method.__name__ = name
    return method


_BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
           "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow, "matmul": operator.matmul,
           "and": operator.and_, "or": operator.or_, "xor": operator.xor, "lshift": operator.lshift,
           "rshift": operator.rshift, "divmod": divmod}
_IN_PLACE = {"add": operator.iadd, "sub": operator.isub, "mul": operator.imul, "truediv": operator.itruediv,
             "floordiv": operator.ifloordiv, "mod": operator.imod, "pow": operator.ipow,
             "matmul": operator.imatmul, "and": operator.iand, "or": operator.ior, "xor": operator.ixor,
             "lshift": operator.ilshift, "rshift": operator.irshift}
_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
            "ge": operator.ge}
for _name, _op in _BINARY.items():
    setattr(ndarray, f"__{_name}__", _binary(_op, f"__{_name}__"))
    setattr(ndarray, f"__r{_name}__", _binary(_op, f"__r{_name}__", reflected=True))
for _name, _op in _IN_PLACE.items():
    setattr(ndarray, f"__i{_name}__", _binary(_op, f"__i{_name}__"))
for _name, _op in _COMPARE.items():
    setattr(ndarray, f"__{_name}__", _binary(_op, f"__{_name}__"))
for _name, _op in {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs, "invert": operator.invert}.items():
    setattr(ndarray, f"__{_name}__", _unary(_op, f"__{_name}__"))


# ------------------------------------------------------------------------ moving data
def asarray(a: Any, dtype: Any = None, order: Any = None, **kwargs: Any) -> ndarray:
    """A device array of ``a``: itself when already on the device, else a copy (a transfer)."""
    if type(a) is ndarray:
        return a if dtype is None or a.dtype == dtype else _wrap(a._host.astype(dtype))
    return _wrap(numpy.array(_lenient(a), dtype=dtype, order=order or "K", copy=True))


def array(obj: Any, dtype: Any = None, copy: Any = True, order: str = "K", ndmin: int = 0, **kwargs: Any) -> ndarray:
    """A new device array with the data of ``obj`` (host data is copied to the device)."""
    if type(obj) is ndarray and copy is False:
        return asarray(obj, dtype)
    return _wrap(numpy.array(_lenient(obj), dtype=dtype, copy=True, order=order, ndmin=ndmin))


asanyarray = asarray


def ascontiguousarray(a: Any, dtype: Any = None, **kwargs: Any) -> ndarray:
    return _wrap(numpy.ascontiguousarray(_lenient(a) if type(a) is ndarray else numpy.array(_lenient(a)), dtype))


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None) -> numpy.ndarray:
    """A host NumPy array of ``a`` (a copy when ``a`` is on the device)."""
    if type(a) is ndarray:
        return a.get(order=order, out=out)
    return numpy.asarray(a, order=order)


def get_array_module(*args: Any) -> Any:
    """This module when any argument is a device array, else NumPy."""
    import sys
    return sys.modules[__name__] if any(type(a) is ndarray for a in args) else numpy


def copyto(dst: ndarray, src: Any, casting: str = "same_kind", where: Any = None) -> None:
    """``dst[...] = src``: a host source must be a single value, as in CuPy."""
    if type(dst) is not ndarray:
        raise TypeError(f"copyto: dst must be a device array, got {type(dst).__name__}")
    if isinstance(src, numpy.ndarray) and src.size != 1:
        raise ValueError("non-scalar numpy.ndarray cannot be used for copyto")
    numpy.copyto(dst._host, _lenient(src), casting=casting,
                 where=True if where is None else _strict(where, "copyto"))


# ------------------------------------------------------------------------ everything else
class _Ufunc:
    """A NumPy ufunc on device arrays, with its methods (reduce, accumulate, outer, at)."""

    def __init__(self, ufunc: numpy.ufunc) -> None:
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self._call = _on_device(ufunc, f"standin.{ufunc.__name__}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._ufunc, name)
        return _on_device(value, f"standin.{self.__name__}.{name}") if callable(value) else value


class _Namespace:
    """A NumPy submodule (linalg, fft, lib.stride_tricks...) over device arrays."""

    def __init__(self, module: types.ModuleType, prefix: str) -> None:
        self._module, self._prefix = module, prefix

    def __getattr__(self, name: str) -> Any:
        value = _device_version(getattr(self._module, name), f"{self._prefix}.{name}")
        setattr(self, name, value)
        return value


def _device_version(value: Any, where: str) -> Any:
    if isinstance(value, types.ModuleType):
        return _Namespace(value, where)
    if isinstance(value, numpy.ufunc):
        return _Ufunc(value)
    if isinstance(value, type) or not callable(value):
        return value  # dtypes, scalar types, constants: the same objects as NumPy's (as in CuPy)
    return _on_device(value, where)


def __getattr__(name: str) -> Any:
    """``standin.exp``, ``standin.zeros``, ``standin.float32``...: NumPy's, on the device."""
    if name in _NOT_IN_CUPY or name.startswith("__"):
        raise AttributeError(f"module 'cupy' (stand-in) has no attribute {name!r}")
    value = _device_version(getattr(numpy, name), f"standin.{name}")
    globals()[name] = value  # looked up once
    return value


# ------------------------------------------------------------------------ random numbers
class RandomState:
    """``cupy.random.RandomState``'s calls that tinygen makes, drawn by NumPy's PCG64."""

    def __init__(self, seed: Any = None, method: Any = None) -> None:
        self.seed(seed)

    def seed(self, seed: Any = None) -> None:
        # CuPy 13.2's own conversion, which under NumPy 2 refuses Python ints (fixed in CuPy 13.3):
        # seeds given as numpy.uint64 work on every version
        if seed is not None:
            seed = int(numpy.asarray(seed).astype(numpy.uint64, casting="safe"))
        self._generator = numpy.random.Generator(numpy.random.PCG64(seed))

    def standard_normal(self, size: Any = None, dtype: Any = float) -> ndarray:
        return _to_device(self._generator.standard_normal(size, dtype=dtype))

    def random_sample(self, size: Any = None, dtype: Any = float) -> ndarray:
        return _to_device(self._generator.random(size, dtype=dtype))

    def randint(self, low: int, high: int | None = None, size: Any = None, dtype: Any = int) -> ndarray:
        return _to_device(self._generator.integers(low, high, size=size, dtype=dtype))

    def permutation(self, num: int) -> ndarray:
        return _to_device(self._generator.permutation(num))


random = types.SimpleNamespace(RandomState=RandomState)

# the names tinygen.backend reads from cupy.cuda: one device, and cuRAND's generator kinds
cuda = types.SimpleNamespace(
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
    curand=types.SimpleNamespace(CURAND_RNG_PSEUDO_DEFAULT=100, CURAND_RNG_PSEUDO_PHILOX4_32_10=161))


# ------------------------------------------------------------------------ cupyx
def _scatter_add(a: ndarray, slices: Any, value: Any) -> None:
    """``cupyx.scatter_add``: a[slices] += value, repeated indices accumulating."""
    numpy.add.at(_strict(a, "cupyx.scatter_add"), _lenient(slices), _strict(value, "cupyx.scatter_add"))


def _erf(x: ndarray) -> ndarray:
    """``cupyx.scipy.special.erf``."""
    from scipy.special import erf

    return _to_device(erf(_strict(x, "cupyx.scipy.special.erf")))


cupyx = types.SimpleNamespace(scatter_add=_scatter_add,
                              scipy=types.SimpleNamespace(special=types.SimpleNamespace(erf=_erf)))
