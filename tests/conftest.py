"""Shared fixtures: the real MNIST, loaded once per test session; for the tests of the data
modules, private data folders, a synthetic MNIST pinned in place of the real one, and a local
HTTP server standing in for the mirrors; and the built artefacts and JupyterLab.

A test that needs something a test run cannot make itself (the real MNIST, the HTML book of
``make book``, the PDF of ``make pdf``) skips without it and says why in the summary. Where
it must run, the skip becomes a failure: under ``CI`` for the data (CI always has it), and
for the built artefacts when :data:`REQUIRE_VARIABLE` names them, which `.ci/run` sets only
in the steps after the build (``NNSCRATCH_REQUIRE=site`` after ``make book``, ``=pdf`` after
``make pdf``): the first ``make test`` on a fresh clone runs before any build.
"""

import contextlib
import functools
import http.server
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fake_mnist import FakeDataSet, Handler, Server, fake_arrays

import nnscratch as ns
from nnscratch import data

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_VARIABLE = "NNSCRATCH_REQUIRE"
SITE = ROOT / "_build" / "html"
PDF = ROOT / "_build" / "pdf" / "nnscratch.pdf"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST = "127.0.0.1"
TIMEOUT_MS = 60_000  # what a page may take to load and settle in the browser tests


@pytest.fixture(autouse=True, scope="session")
def default_hangup() -> Iterator[None]:
    """SIGHUP at its default for the tests and the processes they start: under ``nohup`` it
    is ignored, children inherit that, and the tests of what a hangup does would fail."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, previous)


def _unavailable(artefact: str, message: str) -> None:
    """Skip, or fail when :data:`REQUIRE_VARIABLE` (comma-separated) names ``artefact``."""
    required = {name.strip() for name in os.environ.get(REQUIRE_VARIABLE, "").split(",")}
    if artefact in required:
        pytest.fail(f"{REQUIRE_VARIABLE} names {artefact!r}, so this test must run: {message}")
    pytest.skip(message)


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


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The HTML book of ``make book`` (``_build/html``); required when NNSCRATCH_REQUIRE=site."""
    if not (SITE / "index.html").is_file():
        _unavailable("site", f"{SITE} is missing: run `make book` first")
    return SITE


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, which Playwright drives (no browser is downloaded)."""
    if not CHROMIUM.is_file():
        _unavailable("site", f"{CHROMIUM} is missing: apt-get install chromium")
    return CHROMIUM


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of one line per request."""


@pytest.fixture(scope="module")
def site_url(built_site: Path) -> Iterator[str]:
    """Serve the built book on 127.0.0.1 at an ephemeral port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """Debian's Chromium, headless, with background networking off (Playwright's Browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def book_pdf() -> Path:
    """The PDF of ``make pdf``, with poppler's tools; required when NNSCRATCH_REQUIRE=pdf."""
    if not PDF.is_file():
        _unavailable("pdf", f"{PDF} is missing: run `make pdf` first")
    missing = [tool for tool in ("pdfinfo", "pdftotext", "pdfimages") if not shutil.which(tool)]
    if missing:
        _unavailable("pdf", f"{', '.join(missing)} not found: apt-get install poppler-utils")
    return PDF


@contextlib.contextmanager
def _running_jupyterlab(bin_dir: Path, workdir: Path, *options: str) -> Iterator[Callable]:
    """JupyterLab from ``bin_dir``, headless on 127.0.0.1 at a free port, with a random token.

    Its configuration, user settings and runtime files live in ``workdir``, so that nothing
    of the user's own setup takes part. Yields ``get(path)``, which returns the JSON of the
    server's answer to an authenticated GET of ``path``.
    """
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(workdir / "config"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(workdir / "user-settings"),
    }
    command = [
        str(bin_dir / "jupyter"), "lab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        # Nothing leaves the machine: no extension catalogue, no update check.
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *options,
    ]  # fmt: skip
    log = workdir / "jupyterlab.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    server_file = workdir / "runtime" / f"jpserver-{process.pid}.json"
    try:
        deadline = time.monotonic() + 120
        while not server_file.is_file():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but give it a moment to be complete
        base = json.loads(server_file.read_text(encoding="utf-8"))["url"].rstrip("/")

        def get(path: str) -> object:
            request = urllib.request.Request(
                f"{base}/{path.lstrip('/')}", headers={"Authorization": f"token {token}"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)

        yield get
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Callable:
    """Start JupyterLab from a ``bin`` folder (a context manager): see _running_jupyterlab."""

    def start(bin_dir: Path, *options: str) -> contextlib.AbstractContextManager[Callable]:
        return _running_jupyterlab(bin_dir, tmp_path, *options)

    return start
