"""MNIST's file format and cache: the IDX reader on files written here byte by byte, the checksum
check, the offline error, and the download path against an HTTP server on 127.0.0.1.

No test touches the network beyond 127.0.0.1 or the user's real cache: ``TINYGEN_DATA`` points
into tmp_path and the checksum table is patched to the digests of the files made here.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tinygen import backend as B
from tinygen.data import (CHECKSUMS, MNIST_FILES, ChecksumError, DatasetNotFoundError, get_dataset,
                          load_mnist, read_idx, verify_file)

np = B.np

TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding, written out independently of the reader: 0, 0, type code, ndim, the
    dimensions as big-endian uint32, then the values big-endian."""
    header = struct.pack(">BBBB", 0, 0, TYPE_CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, compress: bool) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------- the reader
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype, shape", [(np.uint8, (3, 4, 5)), (np.int8, (7,)), (np.int16, (2, 3)),
                                          (np.int32, (4, 2)), (np.float32, (2, 2, 2)), (np.float64, (3,))])
def test_read_idx_recovers_values_shape_and_type(tmp_path: Path, compress: bool, dtype: type,
                                                 shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    got = read_idx(write(tmp_path / "a.idx", idx_bytes(array), compress))
    assert got.shape == shape and got.dtype == np.dtype(dtype).newbyteorder("=")
    assert np.array_equal(got, array)


def test_read_idx_reads_the_mnist_header_byte_for_byte(tmp_path: Path) -> None:
    # an MNIST label file starts 00 00 08 01 and then the count, big-endian
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    assert read_idx(write(tmp_path / "labels", raw, False)).tolist() == [7, 2, 1]


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "not an IDX file"),
    (b"\x00\x00\x08\x02\x00\x00", "ends inside its header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x04\x05\x06", "calls for 12"),
])
def test_read_idx_explains_what_is_wrong_with_a_malformed_file(tmp_path: Path, raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_idx(write(tmp_path / "bad", raw, False))


def test_read_idx_reports_a_truncated_gzip_file(tmp_path: Path) -> None:
    data = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="could not read"):
        read_idx(tmp_path / "cut.gz")


# ------------------------------------------------------------------------------ checksums
def test_verify_file_accepts_the_right_digest_and_rejects_any_other(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"tinygen", False)
    verify_file(path, ("sha256", hashlib.sha256(b"tinygen").hexdigest()))
    verify_file(path, ("md5", hashlib.md5(b"tinygen").hexdigest()))
    with pytest.raises(ChecksumError, match="sha256"):
        verify_file(path, ("sha256", hashlib.sha256(b"tinygen!").hexdigest()))


def test_every_official_file_has_a_checksum_entry() -> None:
    for kind in ("mnist", "fashion-mnist"):
        names = {name for pair in MNIST_FILES.values() for name in pair}
        assert set(CHECKSUMS[kind]) == names
        for algorithm, digest in CHECKSUMS[kind].values():
            assert algorithm in ("sha256", "md5") and len(digest) == {"sha256": 64, "md5": 32}[algorithm]
            int(digest, 16)  # hexadecimal


# ---------------------------------------------------------------------- small fake MNIST
@pytest.fixture
def fake_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The four MNIST files with 5 training and 3 test images, gzipped, in tmp_path/served; the
    checksum tables of both kinds patched to their SHA-256 digests; TINYGEN_DATA in tmp_path."""
    rng = np.random.default_rng(0)
    served = tmp_path / "served"
    served.mkdir()
    arrays = {}
    for split, n in (("train", 5), ("test", 3)):
        images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images_name, labels_name = MNIST_FILES[split]
        for name, array in ((images_name, images), (labels_name, labels)):
            path = write(served / name, idx_bytes(array), True)
            for kind in ("mnist", "fashion-mnist"):
                monkeypatch.setitem(CHECKSUMS[kind], name, ("sha256", sha256(path)))
        arrays[split] = (images, labels)
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path / "cache"))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return {"served": served, "cache": tmp_path / "cache", "arrays": arrays}


def _check_loaded(x: np.ndarray, y: np.ndarray, images: np.ndarray, labels: np.ndarray) -> None:
    assert x.shape == (len(images), 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.allclose(x[:, 0], images / 255.0) and np.array_equal(y, labels)


def test_load_mnist_reads_and_verifies_files_already_in_the_cache(fake_mnist: dict) -> None:
    folder = fake_mnist["cache"] / "mnist"
    folder.mkdir(parents=True)
    for path in fake_mnist["served"].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    _check_loaded(*load_mnist("test", download=False), *fake_mnist["arrays"]["test"])
    _check_loaded(*load_mnist("train", download=False), *fake_mnist["arrays"]["train"])


def test_a_corrupted_cached_file_fails_its_checksum(fake_mnist: dict) -> None:
    folder = fake_mnist["cache"] / "mnist"
    folder.mkdir(parents=True)
    for path in fake_mnist["served"].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    images_name = MNIST_FILES["test"][0]
    data = bytearray((folder / images_name).read_bytes())
    data[-5] ^= 0xFF
    (folder / images_name).write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=f"{images_name}.*delete it"):
        load_mnist("test", download=False)


def test_offline_error_says_which_files_to_put_where(fake_mnist: dict) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        load_mnist("train", kind="fashion-mnist", download=False)
    message = str(error.value)
    assert str(fake_mnist["cache"] / "fashion-mnist") in message and "TINYGEN_DATA" in message
    for pair in MNIST_FILES.values():
        for name in pair:
            assert name in message
    assert not (fake_mnist["cache"] / "fashion-mnist" / MNIST_FILES["train"][0]).exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def test_unreachable_server_gives_the_offline_error_with_the_reason(fake_mnist: dict,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGEN_MNIST_URL", f"http://127.0.0.1:{_closed_port()}/")
    with pytest.raises(DatasetNotFoundError, match="downloading http://127.0.0.1.*failed"):
        load_mnist("test")


# ---------------------------------------------------------------------------- the loopback
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def server(fake_mnist: dict) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) serving the fake files; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(fake_mnist["served"]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("kind, variable", [("mnist", "TINYGEN_MNIST_URL"),
                                            ("fashion-mnist", "TINYGEN_FASHION_MNIST_URL")])
def test_download_from_a_loopback_server_fills_the_cache_and_reads_back(
        fake_mnist: dict, server: str, monkeypatch: pytest.MonkeyPatch, kind: str, variable: str) -> None:
    monkeypatch.setenv(variable, server)
    for split in ("train", "test"):
        _check_loaded(*load_mnist(split, kind=kind), *fake_mnist["arrays"][split])
    folder = fake_mnist["cache"] / kind
    assert sorted(p.name for p in folder.iterdir()) == sorted(n for pair in MNIST_FILES.values() for n in pair)
    for path in folder.iterdir():  # the cached copies are the served files, byte for byte
        assert path.read_bytes() == (fake_mnist["served"] / path.name).read_bytes()
    # once cached, no network is needed, and the registry serves the same data
    data = get_dataset(kind, "test")
    assert data.kind == "image" and data.image_shape == (1, 28, 28) and data.n_classes == 10
    _check_loaded(data.x, data.y, *fake_mnist["arrays"]["test"])


def test_a_download_with_the_wrong_checksum_is_refused_and_not_kept(
        fake_mnist: dict, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGEN_MNIST_URL", server)
    monkeypatch.setitem(CHECKSUMS["mnist"], MNIST_FILES["test"][0], ("sha256", "0" * 64))
    with pytest.raises(DatasetNotFoundError, match="did not have the sha256 0000.*not kept"):
        load_mnist("test")
    assert list((fake_mnist["cache"] / "mnist").iterdir()) == []  # no partial or bad file left
