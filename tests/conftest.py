"""Shared fixtures: the real MNIST, loaded once per test session; and, for the tests of the
data modules, private data folders, a synthetic MNIST pinned in place of the real one, and a
local HTTP server standing in for the mirrors."""

import os
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from fake_mnist import FakeDataSet, Handler, Server, fake_arrays

import nnscratch as ns
from nnscratch import data


@pytest.fixture(scope="session")
def mnist() -> ns.data.Dataset:
    """The real MNIST from $NNSCRATCH_DATA_DIR: skipped if unset, but a failure when CI is set."""
    if not os.environ.get(ns.data.DATA_DIR_VARIABLE):
        message = f"the real MNIST needs {ns.data.DATA_DIR_VARIABLE} (e.g. ../shared/datasets)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so real-data tests must run: {message}")
        pytest.skip(message)
    return ns.data.load_mnist(download=False)


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


@pytest.fixture
def server() -> Iterator[Server]:
    handler = type("TestHandler", (Handler,), {"routes": {}, "requests": [], "pauses": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}"
    yield Server(url, handler.routes, handler.requests, handler.pauses)
    httpd.shutdown()
    httpd.server_close()
    thread.join()
