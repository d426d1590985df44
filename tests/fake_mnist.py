"""Synthetic MNIST-shaped data sets and a local HTTP server standing in for the mirrors.

Shared by the tests of nnscratch.idx, nnscratch.downloads and nnscratch.data; the fixtures
that use them (``folders``, ``fake``, ``server``) are in conftest.py. Never the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
from numpy.testing import assert_array_equal

from nnscratch import data
from nnscratch.idx import write_idx

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


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
