"""Tests of nnscratch.data: IDX files, finding / downloading / verifying data sets, inputs.

The loader is tested against a local HTTP server on 127.0.0.1 that stands in for the mirrors,
serving small synthetic IDX files whose digests replace the pinned ones; never the internet.
"""

import gzip
import hashlib
import os
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from numpy.testing import assert_array_equal

from nnscratch import data
from nnscratch.data import (
    ChecksumError,
    DataNotFoundError,
    IDXFormatError,
    preprocess,
    read_idx,
    train_validation_split,
    write_idx,
)

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FIELDS = dict(zip(FILES, ("x_train", "y_train", "x_test", "y_test"), strict=True))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``, built independently of write_idx."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    header = bytes([0, 0, codes[array.dtype.str[1:]], array.ndim])
    sizes = struct.pack(f">{array.ndim}I", *array.shape)
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder``, as sorted relative paths."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


# --------------------------------------------------------------------------- IDX round trips

IDX_DTYPES = ("u1", "i1", ">i2", "<i2", ">i4", "<i4", ">f4", "<f4", ">f8", "<f8")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    array=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dtype: arrays(dtype, array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=4))
    ),
    compress=st.booleans(),
)
def test_round_trip_keeps_every_bit(tmp_path, array, compress):
    path = tmp_path / "array.idx"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.dtype.isnative
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.shape == array.shape
    assert back.tobytes() == array.astype(back.dtype).tobytes()  # NaN payloads and -0.0 too
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress


@pytest.mark.parametrize("shape", [(7,), (2, 3), (1, 1, 1, 1, 1, 1, 1, 1, 1, 1), (3, 0, 2)])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_reads_the_bytes_the_format_specifies(tmp_path, shape, dtype):
    array = np.arange(np.prod(shape), dtype=dtype).reshape(shape) - 3 * (dtype != "u1")
    path = tmp_path / "hand-made"
    path.write_bytes(idx_bytes(array))
    assert_array_equal(read_idx(path), array)
    write_idx(tmp_path / "written", array)
    assert (tmp_path / "written").read_bytes() == path.read_bytes()


def test_write_idx_header_bytes(tmp_path):
    write_idx(tmp_path / "a", np.array([[1, 2, 3], [-4, 5, 6]], dtype=">i2"))
    expected = "00000b02 00000002 00000003 0001 0002 0003 fffc 0005 0006"
    assert (tmp_path / "a").read_bytes() == bytes.fromhex(expected)


def test_compression_follows_suffix_and_reading_follows_bytes(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array, compress=False)
    write_idx(tmp_path / "c.idx", array, compress=True)
    write_idx(tmp_path / "d.idx", array)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "b.gz").read_bytes()[:2] == b"\x00\x00"
    assert (tmp_path / "c.idx").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "d.idx").read_bytes()[:2] == b"\x00\x00"
    for name in ("a.gz", "b.gz", "c.idx", "d.idx"):
        assert_array_equal(read_idx(str(tmp_path / name)), array)


def test_gzip_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_reads_multi_member_gzip_and_zero_padding(tmp_path):
    raw = idx_bytes(np.arange(10, dtype=np.int32))
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(raw[:13]) + gzip.compress(raw[13:]) + bytes(10))
    assert_array_equal(read_idx(path), np.arange(10))


def test_uint8_arrays_are_writable(tmp_path):
    for name in ("raw", "zipped.gz"):
        write_idx(tmp_path / name, np.zeros((2, 2), np.uint8))
        array = read_idx(tmp_path / name)
        array[0, 0] = 1
        assert array[0, 0] == 1


def test_content_sha256_is_of_decompressed_bytes(tmp_path):
    array = np.arange(50, dtype=np.int16)
    write_idx(tmp_path / "a", array)
    write_idx(tmp_path / "a.gz", array)
    expected = hashlib.sha256(idx_bytes(array)).hexdigest()
    assert data.content_sha256(tmp_path / "a") == expected
    assert data.content_sha256(tmp_path / "a.gz") == expected


# --------------------------------------------------------------------------- malformed IDX files

u1_header = bytes.fromhex("00000801 00000005")
MALFORMED = {
    "empty": (b"", r"truncated header: expected at least 4 bytes .*, found 0"),
    "short magic": (b"\x00\x00", r"truncated header: expected at least 4 bytes .*, found 2"),
    "bad magic": (
        bytes.fromhex("01000801 00000001 07"),
        r"bad magic number: expected it to start with 00 00, found 01 00 08 01",
    ),
    "unknown type": (
        bytes.fromhex("00000a01 00000001 07"),
        r"unknown type code: expected one of 0x08, .*0x0E, found 0x0A",
    ),
    "no dimensions": (bytes.fromhex("00000800"), r"dimension count: expected 1 to 255, found 0"),
    "truncated sizes": (
        bytes.fromhex("00000803 00000002 0000"),
        r"truncated header: 3 dimensions need 16 header bytes, found 10",
    ),
    "missing bytes": (u1_header + bytes(4), r"missing bytes: .*\(5,\), 13 bytes in all, found 12"),
    "trailing bytes": (
        u1_header + bytes(6),
        r"trailing bytes: .*\(5,\), 13 bytes in all, found 14",
    ),
    "missing bytes int32": (
        bytes.fromhex("00000c01 00000002") + bytes(7),
        r"missing bytes: .*int32 values of shape \(2,\), 16 bytes in all, found 15",
    ),
    "too many dimensions": (
        bytes([0, 0, 8, 100]) + struct.pack(">100I", *[1] * 100) + b"\x07",
        r"cannot make a 100-dimensional array",
    ),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_idx_is_refused(tmp_path, case, compress):
    content, message = MALFORMED[case]
    path = tmp_path / "bad-file"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(IDXFormatError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def gzipped_labels() -> bytes:
    return gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8) % 10), mtime=0)


BAD_GZIP = {
    "bad CRC": (
        lambda z: z[:-8] + bytes(b ^ 0xFF for b in z[-8:-4]) + z[-4:],
        r"corrupt gzip stream \(.*incorrect data check",
    ),
    "bad method": (
        lambda z: z[:2] + b"\x07" + z[3:],
        r"corrupt gzip stream \(.*compression method",
    ),
    "cut short": (lambda z: z[:-10], r"truncated gzip stream: expected more compressed data"),
    "cut in half": (lambda z: z[: len(z) // 2], r"truncated gzip stream"),
    "only the magic": (lambda z: z[:2], r"truncated gzip stream"),
    "junk after": (lambda z: z + b"junk", r"trailing data: .*found 4 more bytes"),
}


@pytest.mark.parametrize("case", BAD_GZIP)
def test_corrupt_gzip_is_refused(tmp_path, case):
    damage, message = BAD_GZIP[case]
    path = tmp_path / "labels.gz"
    path.write_bytes(damage(gzipped_labels()))
    with pytest.raises(IDXFormatError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


# --------------------------------------------------------------------------- writing refusals


@pytest.mark.parametrize("dtype", ["int64", "uint16", "uint32", "bool", "float16", "complex128"])
def test_write_refuses_dtypes_idx_cannot_hold(tmp_path, dtype):
    path = tmp_path / "out.idx"
    with pytest.raises(ValueError, match=f"IDX holds uint8, .*found dtype {dtype}") as caught:
        write_idx(path, np.zeros(3, dtype=dtype))
    assert str(path) in str(caught.value)
    assert files_under(tmp_path) == []


def test_write_refuses_objects_strings_scalars_and_huge_sizes(tmp_path):
    path = tmp_path / "out.idx"
    with pytest.raises(ValueError, match="found dtype object"):
        write_idx(path, np.array([1, "a"], dtype=object))
    with pytest.raises(ValueError, match="found dtype <U"):
        write_idx(path, np.array(["ab"]))
    with pytest.raises(ValueError, match="found a 0-d array"):
        write_idx(path, np.float32(1))
    with pytest.raises(ValueError, match=r"below 2\*\*32, found shape \(4294967296,\)"):
        write_idx(path, np.broadcast_to(np.uint8(0), (2**32,)))
    assert files_under(tmp_path) == []


def test_write_is_atomic(tmp_path):
    path = tmp_path / "out.idx"
    write_idx(path, np.arange(3, dtype=np.uint8))
    write_idx(path, np.arange(5, dtype=np.uint8))
    assert_array_equal(read_idx(path), np.arange(5))
    assert files_under(tmp_path) == ["out.idx"]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep").write_bytes(b"")
    with pytest.raises(OSError):  # the final rename onto a non-empty folder fails
        write_idx(tmp_path / "taken", np.arange(5, dtype=np.uint8))
    assert files_under(tmp_path) == ["out.idx", "taken/keep"]


# --------------------------------------------------------------------------- loader fixtures


@dataclass
class FakeDataSet:
    """Small synthetic MNIST-shaped arrays, their gzipped IDX bytes, and pinned digests."""

    arrays: dict[str, np.ndarray]
    gz: dict[str, bytes] = field(init=False)
    sha256: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        raw = {name: idx_bytes(array) for name, array in self.arrays.items()}
        self.gz = {name: gzip.compress(content, mtime=0) for name, content in raw.items()}
        self.sha256 = {name: hashlib.sha256(content).hexdigest() for name, content in raw.items()}

    def write(self, folder: Path, names=FILES, *, compress: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            write_idx(folder / (name + ".gz" * compress), self.arrays[name])

    def check(self, dataset: data.Dataset) -> None:
        for name, array in self.arrays.items():
            assert_array_equal(getattr(dataset, FIELDS[name]), array)
            assert getattr(dataset, FIELDS[name]).dtype == np.uint8


def fake_arrays(seed: int, n_train: int = 3, n_test: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        FILES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        FILES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }


@pytest.fixture
def folders(tmp_path, monkeypatch) -> dict[str, Path]:
    """No NNSCRATCH_DATA_DIR, a private system folder and cache; proxies bypassed for 127.0.0.1."""
    monkeypatch.delenv(data.DATA_DIR_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")
    if sys.platform != "linux":  # platformdirs reads XDG_CACHE_HOME on Linux only
        pooch = pytest.importorskip("pooch")
        monkeypatch.setattr(pooch, "os_cache", lambda project: tmp_path / "cache-home" / project)
    return {
        "cache home": tmp_path / "cache-home",
        "cache": tmp_path / "cache-home" / "nnscratch" / "mnist",
        "system": tmp_path / "system",
        "data_dir": tmp_path / "given",
        "env": tmp_path / "env",
    }


@pytest.fixture
def fake(monkeypatch) -> FakeDataSet:
    """A synthetic MNIST whose digests are the pinned ones for the duration of a test."""
    fake = FakeDataSet(fake_arrays(seed=0))
    monkeypatch.setattr(data, "MNIST_SHA256", fake.sha256)
    return fake


class Handler(BaseHTTPRequestHandler):
    """Serves ``routes[path] = (status, body, declared Content-Length or None)``; logs paths."""

    routes: dict[str, tuple[int, bytes, int | None]]
    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.requests.append(self.path)
        status, body, length = self.routes.get(self.path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@dataclass
class Server:
    url: str
    routes: dict[str, tuple[int, bytes, int | None]]
    requests: list[str]

    def mirror(self, prefix: str, files: dict[str, bytes], *, declared: int = 0) -> str:
        """Serve ``files`` under /prefix/ (bodies claiming ``declared`` extra bytes)."""
        for name, body in files.items():
            self.routes[f"/{prefix}/{name}.gz"] = (200, body, len(body) + declared or None)
        return f"{self.url}/{prefix}/"


@pytest.fixture
def server() -> Iterator[Server]:
    handler = type("TestHandler", (Handler,), {"routes": {}, "requests": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_port}", handler.routes, handler.requests)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# --------------------------------------------------------------------------- downloading


def test_download_good_files_then_use_the_cache(folders, fake, server):
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)
    assert sorted(server.requests) == sorted(f"/good/{name}.gz" for name in FILES)
    fake.check(data.load_mnist(download=False))
    fake.check(data.load_mnist(mirrors=[closed_port_url()]))
    assert len(server.requests) == 4


def test_one_mirror_as_a_string(folders, fake, server):
    paths = data.locate_files("mnist", mirrors=server.mirror("good", fake.gz))
    assert paths == {name: folders["cache"] / f"{name}.gz" for name in FILES}


def test_404_then_a_good_mirror(folders, fake, server):
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[f"{server.url}/missing", good]))
    for name in FILES:
        assert server.requests.index(f"/missing/{name}.gz") < server.requests.index(
            f"/good/{name}.gz"
        )
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)


def test_truncated_body_leaves_nothing_behind(folders, fake, server):
    truncated = {name: body[: len(body) // 2] for name, body in fake.gz.items()}
    mirror = server.mirror("truncated", truncated, declared=len(max(truncated.values())) + 1)
    with pytest.raises(DataNotFoundError, match="Downloading failed") as caught:
        data.load_mnist(mirrors=[mirror])
    assert f"{mirror}{FILES[0]}.gz" in str(caught.value)
    assert not folders["cache home"].exists()  # no partial file, no folder we created


def test_truncated_body_then_a_good_mirror(folders, fake, server):
    truncated = {name: body[:-5] for name, body in fake.gz.items()}
    bad = server.mirror("truncated", truncated, declared=5)
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[bad, good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)


def test_body_shorter_than_no_declared_length_is_caught_by_verification(folders, fake, server):
    bad = server.mirror("cut", {name: body[:-5] for name, body in fake.gz.items()})
    with pytest.raises(IDXFormatError, match="truncated gzip stream"):
        data.load_mnist(mirrors=[bad])
    assert not folders["cache home"].exists()


def test_wrong_bytes_are_refused_and_deleted(folders, fake, server):
    other = FakeDataSet(fake_arrays(seed=1))
    mirror = server.mirror("wrong", other.gz)
    with pytest.raises(ChecksumError) as caught:
        data.load_mnist(mirrors=[mirror])
    message = str(caught.value)
    assert f"{mirror}{FILES[0]}.gz" in message
    assert other.sha256[FILES[0]] in message  # found
    assert fake.sha256[FILES[0]] in message  # expected
    assert not folders["cache home"].exists()


def test_garbage_bytes_are_refused(folders, fake, server):
    page = b"<html>Access denied</html>"
    mirror = server.mirror("garbage", dict.fromkeys(FILES, page))
    with pytest.raises(ChecksumError, match=hashlib.sha256(page).hexdigest()):
        data.load_mnist(mirrors=[mirror])
    assert not folders["cache home"].exists()


def test_wrong_bytes_then_a_good_mirror(folders, fake, server):
    wrong = server.mirror("wrong", FakeDataSet(fake_arrays(seed=1)).gz)
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[wrong, good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)


def test_wrong_bytes_then_a_dead_mirror_reports_the_wrong_bytes(folders, fake, server):
    wrong = server.mirror("wrong", FakeDataSet(fake_arrays(seed=1)).gz)
    with pytest.raises(ChecksumError) as caught:
        data.load_mnist(mirrors=[wrong, f"{server.url}/missing/"])
    assert "404" in "\n".join(caught.value.__notes__)
    assert not folders["cache home"].exists()


def test_only_missing_files_are_downloaded(folders, fake, server):
    fake.write(folders["data_dir"], FILES[:2])
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(folders["data_dir"], mirrors=[good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES[2:])


def test_no_network_fails_fast_and_leaves_nothing(folders, fake):
    dead = closed_port_url()
    with pytest.raises(DataNotFoundError) as caught:
        data.load_mnist(mirrors=[dead, dead])
    message = str(caught.value)
    assert "4 file(s) not found" in message
    assert message.count(dead) >= 2
    assert not folders["cache home"].exists()


def test_no_mirrors(folders, fake):
    with pytest.raises(DataNotFoundError, match=r"no mirror to download from"):
        data.load_mnist(mirrors=[])


# --------------------------------------------------------------------------- finding files


def test_download_false_with_nothing_present(folders, fake, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    with pytest.raises(DataNotFoundError) as caught:
        data.load_mnist(folders["data_dir"], download=False)
    message = str(caught.value)
    searched = [folders["data_dir"], folders["env"] / "mnist", folders["system"] / "mnist"]
    for folder in [*searched, folders["cache"]]:
        assert f"  {folder}\n" in message
    for name in FILES:
        assert name in message
    for hint in (data.DATA_DIR_VARIABLE, "data_dir=", "download=True", "download=False"):
        assert hint in message
    assert isinstance(caught.value, FileNotFoundError)
    assert files_under(folders["data_dir"].parent) == []
    assert not folders["cache home"].exists()


@pytest.mark.parametrize("where", ["data_dir", "env", "system", "cache"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_files_are_found_in_each_folder(folders, fake, monkeypatch, where, compress):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    folder = {"env": folders["env"] / "mnist", "system": folders["system"] / "mnist"}.get(
        where, folders[where]
    )
    fake.write(folder, compress=compress)
    data_dir = folders["data_dir"] if where == "data_dir" else None
    fake.check(data.load_mnist(data_dir, download=False))
    paths = data.locate_files("mnist", data_dir, download=False)
    assert paths == {name: folder / (name + ".gz" * compress) for name in FILES}


def test_search_order(folders, fake, monkeypatch):
    """Each folder wins over the later ones, which hold damaged copies that would fail."""
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    order = [
        folders["data_dir"],
        folders["env"] / "mnist",
        folders["system"] / "mnist",
        folders["cache"],
    ]
    damaged = FakeDataSet(fake_arrays(seed=1))
    for i, folder in enumerate(order):
        for later in order[i + 1 :]:
            damaged.write(later)
        fake.write(folder)
        fake.check(data.load_mnist(folders["data_dir"], download=False))
        for name in FILES:
            (folder / f"{name}.gz").unlink()


def test_checksum_mismatch_in_a_local_file(folders, fake):
    fake.write(folders["data_dir"])
    bad = folders["data_dir"] / f"{FILES[3]}.gz"
    wrong_labels = (fake.arrays[FILES[3]] + 1) % 10
    write_idx(bad, wrong_labels)
    with pytest.raises(ChecksumError) as caught:
        data.load_mnist(folders["data_dir"], download=False)
    message = str(caught.value)
    assert str(bad) in message
    assert hashlib.sha256(idx_bytes(wrong_labels)).hexdigest() in message
    assert fake.sha256[FILES[3]] in message
    assert bad.exists()  # a file we did not download is the user's: never deleted


def test_a_local_file_that_is_not_idx(folders, fake, monkeypatch):
    fake.write(folders["data_dir"])
    bad = folders["data_dir"] / f"{FILES[1]}.gz"
    bad.write_bytes(fake.gz[FILES[1]][:-3])
    with pytest.raises(IDXFormatError, match="truncated gzip stream"):
        data.load_mnist(folders["data_dir"], download=False)


BAD_CONTENT = {
    "label out of range": (FILES[1], np.array([0, 10, 3], np.uint8), r"labels 0 to 9, found 10"),
    "wrong image size": (FILES[2], np.zeros((2, 27, 28), np.uint8), r"shape \(n, 28, 28\)"),
    "images of int32": (FILES[2], np.zeros((2, 28, 28), np.int32), r"found int32"),
    "labels in 2-D": (FILES[3], np.zeros((2, 1), np.uint8), r"labels of shape \(n,\)"),
    "count mismatch": (FILES[3], np.zeros(3, np.uint8), r"one label per image .* \(2\), found 3"),
}


@pytest.mark.parametrize("case", BAD_CONTENT)
def test_content_that_is_not_mnist_shaped(folders, monkeypatch, case):
    name, array, message = BAD_CONTENT[case]
    fake = FakeDataSet({**fake_arrays(seed=0), name: array})
    monkeypatch.setattr(data, "MNIST_SHA256", fake.sha256)
    fake.write(folders["data_dir"])
    with pytest.raises(IDXFormatError, match=message):
        data.load_mnist(folders["data_dir"], download=False)


def test_fashion_mnist_from_the_system_folder(folders, monkeypatch):
    fake = FakeDataSet(fake_arrays(seed=2))
    monkeypatch.setattr(data, "FASHION_MNIST_SHA256", fake.sha256)
    fake.write(folders["system"] / "fashion-mnist")
    dataset = data.load_fashion_mnist(download=False)
    fake.check(dataset)
    assert dataset.name == "fashion-mnist"
    assert dataset.classes == data.FASHION_MNIST_CLASSES
    with pytest.raises(DataNotFoundError, match=r"load_mnist\(data_dir"):
        data.load_mnist(download=False)  # Fashion-MNIST's files are not MNIST's
    for name in FILES:
        (folders["system"] / "fashion-mnist" / f"{name}.gz").unlink()
    with pytest.raises(DataNotFoundError) as caught:
        data.load_fashion_mnist(download=False)
    message = str(caught.value)
    assert message.startswith("fashion-mnist: 4 file(s) not found")
    assert "load_fashion_mnist(data_dir=...)" in message
    assert data.FASHION_MNIST_MIRRORS[0] in message


def test_unknown_data_set(folders):
    with pytest.raises(ValueError, match="expected 'mnist' or 'fashion-mnist', found 'cifar'"):
        data.locate_files("cifar")


def test_missing_pooch_is_explained(folders, fake, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)
    with pytest.raises(ImportError, match=r"nnscratch\[full\]"):
        data.load_mnist(download=False)
    fake.write(folders["data_dir"])
    fake.check(data.load_mnist(folders["data_dir"], download=False))  # no cache needed


def test_dataset_is_frozen_and_short_to_print(folders, fake):
    fake.write(folders["data_dir"])
    dataset = data.load_mnist(folders["data_dir"], download=False)
    with pytest.raises(FrozenInstanceError):
        dataset.x_train = None
    assert repr(dataset) == (
        "Dataset(name='mnist', x_train=uint8(3, 28, 28), y_train=uint8(3,), "
        "x_test=uint8(2, 28, 28), y_test=uint8(2,))"
    )
    assert dataset.classes == data.MNIST_CLASSES == tuple("0123456789")


def test_class_names():
    assert len(data.FASHION_MNIST_CLASSES) == len(set(data.FASHION_MNIST_CLASSES)) == 10


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_preprocess(dtype):
    images = np.array([[[0, 255], [51, 1]], [[255, 255], [0, 0]]], dtype=np.uint8)
    x = preprocess(images, dtype=dtype)
    assert x.dtype == dtype
    assert x.shape == (2, 4)
    assert_array_equal(x, (images.reshape(2, 4) / 255).astype(dtype))
    assert x.min() == 0 and x.max() == 1
    assert preprocess(images).dtype == np.float32
    assert preprocess(np.zeros((0, 28, 28), np.uint8)).shape == (0, 784)


def test_preprocess_refuses_bad_inputs():
    with pytest.raises(ValueError, match="uint8 pixel values 0-255, found dtype float64"):
        preprocess(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match=r"found shape \(784,\)"):
        preprocess(np.zeros(784, np.uint8))
    with pytest.raises(ValueError, match="floating-point type, found int32"):
        preprocess(np.zeros((2, 28, 28), np.uint8), dtype=np.int32)


def test_train_validation_split():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    x_tr, y_tr, x_val, y_val = train_validation_split(x, y, validation_size=3, seed=5)
    assert x_tr.shape == (7, 2) and x_val.shape == (3, 2)
    assert_array_equal(x_tr[:, 0] // 2, y_tr)
    assert_array_equal(x_val[:, 0] // 2, y_val)
    assert sorted([*y_tr, *y_val]) == list(range(10))
    again = train_validation_split(x, y, validation_size=3, seed=5)
    assert_array_equal(again[3], y_val)
    generator = train_validation_split(x, y, validation_size=3, seed=np.random.default_rng(5))
    assert_array_equal(generator[3], y_val)
    others = {tuple(train_validation_split(x, y, validation_size=3, seed=s)[3]) for s in range(5)}
    assert len(others) > 1


def test_train_validation_split_refuses_bad_arguments():
    x, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(ValueError, match=r"same length, found shapes \(10, 2\) and \(9,\)"):
        train_validation_split(x, y[:9])
    for size in (0, 10):
        with pytest.raises(ValueError, match=f"between 1 and 9 .*found {size}"):
            train_validation_split(x, y, validation_size=size)
    with pytest.raises(TypeError):
        train_validation_split(x, y, validation_size=2.5)


# --------------------------------------------------------------------------- the real data


def test_real_mnist_shapes_and_dtypes(mnist):
    assert mnist.name == "mnist"
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.x_test.dtype == np.uint8
    assert mnist.y_test.shape == (10000,) and mnist.y_test.dtype == np.uint8
    assert_array_equal(mnist.y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])


def test_real_mnist_label_counts(mnist):
    train = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(mnist.y_train, minlength=10).tolist() == train
    assert np.bincount(mnist.y_test, minlength=10).tolist() == test


def test_real_mnist_pixel_mean(mnist):
    assert abs(mnist.x_train.mean(dtype=np.float64) / 255 - 0.1306604762738429) < 1e-12
    x = preprocess(mnist.x_test, dtype=np.float64)
    assert x.shape == (10000, 784)
    assert_array_equal(x, mnist.x_test.reshape(10000, 784) / 255)
    assert x.min() == 0.0 and x.max() == 1.0


def test_real_mnist_files(mnist):
    paths = data.locate_files("mnist", download=False)
    for path in paths.values():
        assert path.parent == Path(os.environ[data.DATA_DIR_VARIABLE]) / "mnist"
    labels = paths["t10k-labels-idx1-ubyte"]
    assert data.content_sha256(labels) == data.MNIST_SHA256["t10k-labels-idx1-ubyte"]


@pytest.mark.skipif(
    not (data.SYSTEM_DATA_DIR / "fashion-mnist").is_dir(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist():
    fashion = data.load_fashion_mnist(data.SYSTEM_DATA_DIR / "fashion-mnist", download=False)
    assert fashion.x_train.shape == (60000, 28, 28)
    assert fashion.x_test.shape == (10000, 28, 28)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
