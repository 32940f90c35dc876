"""Checkpoints: ``save(state, path)`` and ``load(path)`` over ``.npz`` files.

A training run's state is a nested dictionary: the model's and the optimiser's state dicts, the
step, the random generator's state (a JSON string), the hyperparameters, the data loader's
position. ``save`` flattens it into the arrays of one ``.npz`` archive, naming each array by its
path in the tree::

    {"model": {"0.weight": W}, "step": 100}   ->   entries "model/0.weight" and "step"

so a checkpoint can be opened with nothing but ``numpy.load`` and read by eye. One extra entry,
``__structure__``, is a JSON description of the tree (which paths were dicts, lists or tuples,
and whether a leaf was an array, a NumPy scalar, an int, a float, a bool, a string or None), so
``load`` gives back the same Python structure that was saved, not just a flat bag of arrays.

Three promises, and why:

* **No pickles.** ``numpy.load`` is called with ``allow_pickle=False`` and every entry is written
  with ``allow_pickle=False``. Unpickling runs arbitrary code, so a checkpoint downloaded from
  somewhere must never be able to contain one; a file that does is refused with
  :class:`CheckpointError`.
* **Atomic writes.** The archive is written to a temporary file in the same folder, flushed to
  disk (``fsync``) and then renamed over the target with ``os.replace``, which is atomic on POSIX
  and Windows. A crash (or a full disk, or Ctrl-C) part-way through a save leaves the previous
  checkpoint untouched, never a half-written file with the right name.
* **Host arrays only.** GPU (CuPy) arrays and Tensors are copied to NumPy before writing, so a
  checkpoint trained on a GPU loads on a machine without CuPy.
"""
from __future__ import annotations

import json
import os
import secrets
import zipfile
from typing import Any, Mapping

from . import backend as B
from .autograd import Tensor

STRUCTURE_KEY = "__structure__"
_SEPARATOR = "/"
_SCALARS = {bool: "bool", int: "int", float: "float", str: "str"}


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read (bad contents, a pickle, a damaged file)."""


# ----------------------------------------------------------------------------- flattening
def _leaf_array(value: Any, key: str) -> Any:
    """A host NumPy array for an array-like leaf; refuses object arrays (they would need pickle)."""
    data = value.data if isinstance(value, Tensor) else value
    array = B.to_host(data)
    if array.dtype.hasobject:
        raise CheckpointError(f"save: the entry {key!r} is an array of Python objects (dtype {array.dtype}); "
                              f"checkpoints hold only numeric, boolean and string arrays")
    return array


def _flatten(node: Any, key: str, arrays: dict[str, Any]) -> Any:
    """Put every leaf of ``node`` into ``arrays`` under its path; return the tree's description."""
    if isinstance(node, Mapping):
        items = []
        for name, child in node.items():
            if isinstance(name, bool) or not isinstance(name, (str, int)):
                raise CheckpointError(f"save: dictionary keys must be strings or integers, got "
                                      f"{type(name).__name__} {name!r} under {key or 'the top level'!r}")
            if _SEPARATOR in str(name) or str(name) == "":
                raise CheckpointError(f"save: the key {name!r} under {key or 'the top level'!r} is empty or "
                                      f"contains {_SEPARATOR!r}, which separates the levels of a path")
            items.append([name, _flatten(child, f"{key}{_SEPARATOR}{name}" if key else str(name), arrays)])
        return {"dict": items}
    if isinstance(node, (list, tuple)):
        kind = "list" if isinstance(node, list) else "tuple"
        return {kind: [_flatten(child, f"{key}{_SEPARATOR}{i}", arrays) for i, child in enumerate(node)]}
    if node is None:
        return {"none": key}
    if key in arrays or key == STRUCTURE_KEY:
        raise CheckpointError(f"save: two entries map to the same name {key!r} (e.g. keys 0 and '0')")
    kind = _SCALARS.get(type(node))
    if kind is not None:  # Python numbers and strings: stored as 0-d arrays
        arrays[key] = B.np.asarray(node)
        return {kind: key}
    if isinstance(node, B.np.generic):  # NumPy scalars (float32(1.5), int64(3)) keep their dtype
        arrays[key] = _leaf_array(B.np.asarray(node), key)
        return {"numpy_scalar": key}
    if isinstance(node, Tensor) or hasattr(node, "__array__") or hasattr(node, "shape"):
        arrays[key] = _leaf_array(node, key)
        return {"array": key}
    raise CheckpointError(f"save: cannot store a {type(node).__name__} at {key!r}; checkpoints hold nested "
                          f"dicts, lists and tuples of arrays, numbers, strings, booleans and None")


def _unflatten(description: Any, arrays: Mapping[str, Any]) -> Any:
    """Rebuild the tree that ``_flatten`` described."""
    ((kind, body),) = description.items()
    if kind == "dict":
        return {name: _unflatten(child, arrays) for name, child in body}
    if kind in ("list", "tuple"):
        children = [_unflatten(child, arrays) for child in body]
        return children if kind == "list" else tuple(children)
    if kind == "none":
        return None
    if body not in arrays:
        raise CheckpointError(f"load: the checkpoint's structure names an entry {body!r} that the file lacks")
    value = arrays[body]
    if kind == "array":
        return value
    if kind == "numpy_scalar":
        return value[()]  # a 0-d array indexed by () is the NumPy scalar of its dtype
    return {"bool": bool, "int": int, "float": float, "str": str}[kind](value.item())


# ------------------------------------------------------------------------------- writing
def _write_npz(file: Any, arrays: Mapping[str, Any]) -> None:
    """What ``numpy.savez`` does, without its reserved keyword names (``file``, ``allow_pickle``)."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", mode="w", force_zip64=True) as entry:
                B.np.lib.format.write_array(entry, B.np.asanyarray(array), allow_pickle=False)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` (a nested dict of arrays, numbers, strings...) to ``path`` atomically.

    The bytes go to a temporary file next to ``path``; only after they are on disk is the file
    renamed to ``path``. If anything fails before the rename, the temporary file is removed and
    whatever was at ``path`` before is left as it was.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"save: the state must be a dict, got {type(state).__name__}")
    arrays: dict[str, Any] = {}
    structure = _flatten(state, "", arrays)
    arrays[STRUCTURE_KEY] = B.np.asarray(json.dumps(structure))
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: the folder {directory!r} for the checkpoint {path!r} does not exist")
    # a fresh name beside the target, created with the umask's permissions like every other output
    # (tempfile.mkstemp would make it private, 0600)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            _write_npz(file, arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # atomic: readers see the old file or the new one, never half of one
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


# ------------------------------------------------------------------------------- reading
_SIGNATURES = {b"PK\x03\x04": "npz", b"\x93NUMPY": "npy"}  # a zip archive's first bytes, a .npy's


def file_format(path: str | os.PathLike) -> str | None:
    """``"npz"`` or ``"npy"`` from the first bytes of the file at ``path``; ``None`` for anything else.

    ``numpy.load`` takes any other file for a pickle and says so ("allow_pickle=False"), which
    misleads when the file is a PNG or a text file; this tells them apart before loading.
    """
    with open(path, "rb") as file:
        head = file.read(6)
    return next((kind for signature, kind in _SIGNATURES.items() if head.startswith(signature)), None)


def _read_entries(path: str) -> dict[str, Any]:
    if os.path.isfile(path) and file_format(path) is None:
        raise CheckpointError(f"load: {path!r} is not a checkpoint written by tinygen (an .npz archive); "
                              f"it is neither a zip archive nor a NumPy file")
    try:
        archive = B.np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no checkpoint at {path!r}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"load: {path!r} is not a readable .npz checkpoint ({error})") from None
    if not isinstance(archive, B.np.lib.npyio.NpzFile):
        raise CheckpointError(f"load: {path!r} holds a single .npy array, not an .npz checkpoint")
    entries = {}
    with archive:
        for key in archive.files:
            try:
                entries[key] = archive[key]
            except ValueError as error:
                if "pickle" in str(error).lower():
                    raise CheckpointError(
                        f"load: the entry {key!r} of {path!r} is a pickled Python object; tinygen refuses to "
                        f"unpickle checkpoints (unpickling can run arbitrary code)") from None
                raise CheckpointError(f"load: the entry {key!r} of {path!r} is damaged ({error})") from None
            except (OSError, zipfile.BadZipFile, EOFError) as error:
                raise CheckpointError(f"load: the entry {key!r} of {path!r} is damaged ({error})") from None
    return entries


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save`: the same nested structure, with NumPy arrays.

    Arrays come back as NumPy arrays on the host whatever device they were saved from. An ``.npz``
    written by plain ``numpy.savez`` (no ``__structure__`` entry) loads as a flat dict of arrays.
    """
    path = os.fspath(path)
    entries = _read_entries(path)
    if STRUCTURE_KEY not in entries:
        return entries
    try:
        structure = json.loads(str(entries.pop(STRUCTURE_KEY)))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"load: the structure entry of {path!r} is not valid JSON ({error})") from None
    return _unflatten(structure, entries)
