"""Image data: scikit-learn's 8x8 digits (offline, the default), and MNIST / Fashion-MNIST read
from IDX files in a local cache folder.

Images come back as float32 arrays of shape (n, 1, H, W) with values in [0, 1] (PyTorch's NCHW
layout, one channel), labels as int64 arrays of shape (n,).

The cache folder is ``$TINYGEN_DATA`` (default ``~/.cache/tinygen/data``); MNIST lives in its
``mnist/`` subfolder and Fashion-MNIST in ``fashion-mnist/``, as the four original ``.gz`` files.
A missing file is downloaded into the cache when the network allows, from the mirror in
``BASE_URLS`` or from ``$TINYGEN_MNIST_URL`` / ``$TINYGEN_FASHION_MNIST_URL`` when set; every
file, downloaded or put there by hand, is checked against ``CHECKSUMS`` before it is read.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from .. import backend as B


class DatasetNotFoundError(FileNotFoundError):
    """The files of a data set are not in the cache and could not be downloaded."""


class ChecksumError(ValueError):
    """A data file does not have the checksum it should have: corrupt, truncated or wrong file."""


# --------------------------------------------------------------------------- scikit-learn digits
@functools.lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[Any, Any]:
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:  # scikit-learn is a dependency, but say so if it is missing
        raise ImportError("tinygen.data.load_digits needs scikit-learn, which ships the 8x8 digits: "
                          "pip install scikit-learn") from error
    bunch = sklearn_load_digits()
    return bunch.images, bunch.target  # (1797, 8, 8) in 0..16, (1797,)


def _check_split(split: str, where: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"{where}: split must be 'train' or 'test', got {split!r}")
    return split


def load_digits(split: str = "train", seed: int = 0) -> tuple[Any, Any]:
    """scikit-learn's 1,797 handwritten 8x8 digits, split 80/20 into train (1,437) and test (360).

    The split is a permutation drawn from ``seed``: the same seed always gives the same split, and
    the two splits never share an image. Pixels (0..16 in the original) are divided by 16.
    Returns images (n, 1, 8, 8) float32 in [0, 1] and labels (n,) int64.
    """
    _check_split(split, "load_digits")
    images, labels = _sklearn_digits()
    order = B.np.random.default_rng(seed).permutation(len(images))
    n_train = int(0.8 * len(images))  # 1,437 of 1,797
    chosen = order[:n_train] if split == "train" else order[n_train:]
    x = (images[chosen] / 16.0).astype(B.float32)[:, None, :, :]  # (n, 1, 8, 8)
    return x, labels[chosen].astype(B.int64)


# ----------------------------------------------------------------------------------- IDX format
# The IDX header: two zero bytes, a type code, the number of dimensions; then one big-endian
# uint32 per dimension; then the values, big-endian, in C order.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open(path: Path) -> Any:
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"  # the gzip magic number
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def read_idx(path: str | os.PathLike[str]) -> Any:
    """Read an IDX file (the format of MNIST), gzipped or not, into a NumPy array.

    The array has the file's shape and element type in native byte order (uint8 for MNIST).
    A malformed file raises ValueError saying what was wrong.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:  # a truncated or corrupt gzip stream
        raise ValueError(f"read_idx: could not read {path}: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (header bytes {list(raw[:4])}; expected "
                         f"0, 0, a type code in {sorted(_IDX_TYPES)}, the number of dimensions)")
    dtype = B.np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    data_start = 4 + 4 * ndim
    if len(raw) < data_start:
        raise ValueError(f"read_idx: {path} ends inside its header ({len(raw)} bytes, {ndim} dimensions)")
    shape = tuple(int(d) for d in B.np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = data_start + dtype.itemsize * int(B.np.prod(shape, dtype=B.int64))
    if len(raw) != expected:
        raise ValueError(f"read_idx: {path} has {len(raw)} bytes, but its header (shape {shape}, "
                         f"{dtype.itemsize}-byte values) calls for {expected}")
    values = B.np.frombuffer(raw, dtype=dtype, offset=data_start).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


# ------------------------------------------------------------------------------ MNIST cache
def data_dir() -> Path:
    """The data cache: ``$TINYGEN_DATA``, or ``~/.cache/tinygen/data`` when it is not set."""
    value = os.environ.get("TINYGEN_DATA", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "tinygen" / "data"


MNIST_KINDS = ("mnist", "fashion-mnist")

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# Where to download from, tried in order; ``$TINYGEN_MNIST_URL`` / ``$TINYGEN_FASHION_MNIST_URL``
# replace the list with one base URL (the file name is appended to it).
BASE_URLS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
URL_ENV_VARS = {"mnist": "TINYGEN_MNIST_URL", "fashion-mnist": "TINYGEN_FASHION_MNIST_URL"}

# The expected SHA-256 digest of every file, as (algorithm, hex digest). Each value agrees across
# at least two independent public listings of the official files. ``verify_file`` also accepts
# ("md5", ...) entries, for mirrors that publish nothing else.
CHECKSUMS: dict[str, dict[str, tuple[str, str]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": ("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": ("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": ("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": ("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": ("sha256", "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
        "train-labels-idx1-ubyte.gz": ("sha256", "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"),
        "t10k-images-idx3-ubyte.gz": ("sha256", "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
        "t10k-labels-idx1-ubyte.gz": ("sha256", "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"),
    },
}


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes ("sha256" or "md5")."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, expected: tuple[str, str]) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the digest ``expected = (algorithm, hex)``."""
    algorithm, digest = expected
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"verify_file: unknown checksum algorithm {algorithm!r} for {path.name}")
    actual = file_digest(path, algorithm)
    if actual != digest.lower():
        raise ChecksumError(f"{path} has {algorithm} {actual}, expected {digest}: the file is corrupt, "
                            f"truncated or not the official one; delete it to download it again")


def _base_urls(kind: str) -> list[str]:
    override = os.environ.get(URL_ENV_VARS[kind], "").strip()
    return [override] if override else list(BASE_URLS[kind])


def _download(url: str, destination: Path, expected: tuple[str, str]) -> None:
    """Fetch ``url`` into ``destination``: written to a temporary name, verified, then renamed, so
    an interrupted or corrupt download never leaves a file that looks complete."""
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as f:
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
        verify_file(partial, expected)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def _missing_message(kind: str, folder: Path, missing: list[str], reasons: list[str]) -> str:
    every_file = [name for pair in MNIST_FILES.values() for name in pair]
    why = "; ".join(reasons) if reasons else "download=False, so nothing was downloaded"
    return (f"{kind}: {', '.join(missing)} not found in {folder} ({why}). Put the files "
            f"{', '.join(every_file)} into {folder} (or set TINYGEN_DATA to a folder whose "
            f"{kind}/ subfolder holds them), or let tinygen download them from {_base_urls(kind)[0]}")


def _fetch(kind: str, folder: Path, name: str, download: bool) -> Path:
    """The path of a verified copy of ``name`` in ``folder``, downloading it if needed and allowed."""
    path = folder / name
    expected = CHECKSUMS[kind][name]
    if path.exists():
        verify_file(path, expected)
        return path
    reasons: list[str] = []
    if download:
        folder.mkdir(parents=True, exist_ok=True)
        for base in _base_urls(kind):
            url = base.rstrip("/") + "/" + name
            try:
                _download(url, path, expected)
                return path
            except ChecksumError:
                reasons.append(f"the file from {url} did not have the {expected[0]} {expected[1]} "
                               f"that CHECKSUMS expects, so it was not kept")
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
                # offline, 404, a dropped connection, a malformed URL
                reasons.append(f"downloading {url} failed: {error}")
    raise DatasetNotFoundError(_missing_message(kind, folder, [name], reasons))


def load_mnist(split: str = "train", kind: str = "mnist", root: str | os.PathLike[str] | None = None,
               download: bool = True) -> tuple[Any, Any]:
    """MNIST (LeCun et al., 1998) or Fashion-MNIST (Xiao et al., 2017) from the cache folder.

    ``root`` is the data folder (default :func:`data_dir`); the files live in ``root/kind/``.
    Missing files are downloaded when ``download`` is true. Returns images (n, 1, 28, 28)
    float32 in [0, 1] (pixel / 255) and labels (n,) int64; n is 60,000 for train, 10,000 for test.
    """
    _check_split(split, "load_mnist")
    if kind not in MNIST_KINDS:
        raise ValueError(f"load_mnist: kind must be one of {MNIST_KINDS}, got {kind!r}")
    folder = (Path(root).expanduser() if root is not None else data_dir()) / kind
    images_name, labels_name = MNIST_FILES[split]
    images = read_idx(_fetch(kind, folder, images_name, download))
    labels = read_idx(_fetch(kind, folder, labels_name, download))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"load_mnist: {folder} holds images of shape {images.shape} and labels of shape "
                         f"{labels.shape}; expected (n, H, W) images and (n,) labels")
    x = (images.astype(B.float32) / 255.0)[:, None, :, :]  # (n, 1, 28, 28)
    return x, labels.astype(B.int64)
