"""Tests of nnscratch._files: atomic writes leave the old file or the whole new one, never a
part, and no temporary file behind, not even when the process is told to stop."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nnscratch._files import (
    TERMINATING_SIGNALS,
    Terminated,
    atomic_path,
    atomic_write,
    check_writable,
    signals_raise,
    temporary_path,
)

SIGNALS = [pytest.param(sig, id=sig.name) for sig in TERMINATING_SIGNALS]


def test_temporary_paths_are_hidden_fresh_and_beside_the_target(tmp_path):
    first, second = temporary_path(tmp_path / "model.npz"), temporary_path(tmp_path / "model.npz")
    assert first != second and first.parent == tmp_path
    assert first.name.startswith(".model.npz.") and first.suffix == ".part"


def test_atomic_write_replaces_the_file_when_the_block_succeeds(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"old")
    with atomic_write(path) as file:
        file.write(b"new")
        assert path.read_bytes() == b"old"  # nothing is seen before the end
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["out"]


def test_a_failure_leaves_the_old_file_and_nothing_else(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(path) as file:
        file.write(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out"]


def test_atomic_path_for_a_writer_that_opens_the_file_itself(tmp_path):
    path = tmp_path / "download.gz"
    with atomic_path(path) as temporary:
        temporary.write_bytes(b"complete")
    assert path.read_bytes() == b"complete"
    with pytest.raises(ValueError, match="wrong bytes"), atomic_path(path) as temporary:
        temporary.write_bytes(b"damaged")
        raise ValueError("wrong bytes")
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "never.gz"):
        pass  # the block must write the file: a missing one is an error, not an empty file
    assert path.read_bytes() == b"complete" and os.listdir(tmp_path) == ["download.gz"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444], ids=oct)
def test_overwriting_keeps_the_files_permissions(tmp_path, mode):
    """Issue 11: overwriting a model file of mode 600 made it 644 (the umask's default)."""
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    path.chmod(mode)
    with atomic_write(path) as file:
        file.write(b"new")
    assert path.read_bytes() == b"new"
    assert path.stat().st_mode & 0o777 == mode


def test_a_new_file_gets_the_umasks_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "new") as file:
            file.write(b"content")
    finally:
        os.umask(old)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- check_writable


def test_check_writable_accepts_a_new_or_existing_file_and_leaves_nothing(tmp_path):
    check_writable(tmp_path / "model.npz")
    (tmp_path / "old.npz").write_bytes(b"old")
    check_writable(tmp_path / "old.npz")
    assert os.listdir(tmp_path) == ["old.npz"]


def test_check_writable_refuses_a_folder_and_a_missing_or_false_folder(tmp_path):
    """Issue 11: these were found only after the whole training run."""
    (tmp_path / "models").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder") as caught:
        check_writable(tmp_path / "models")
    assert caught.value.filename == str(tmp_path / "models")
    with pytest.raises(FileNotFoundError, match="no such folder") as caught:
        check_writable(tmp_path / "missing" / "model.npz")
    assert caught.value.filename == str(tmp_path / "missing")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        check_writable(tmp_path / "file" / "model.npz")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_writable_refuses_a_read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as caught:
            check_writable(folder / "model.npz")
    finally:
        folder.chmod(0o755)
    assert caught.value.filename == str(folder)


@pytest.mark.skipif(not os.path.isdir("/sys"), reason="needs Linux's /sys")
def test_check_writable_refuses_a_folder_nobody_may_write_in():
    """/sys refuses new files even to root: the probe finds what permission bits do not say."""
    with pytest.raises(OSError) as caught:
        check_writable("/sys/model.npz")
    assert caught.value.filename == "/sys" and caught.value.strerror


# --------------------------------------------------------------------------- signals


def stop_while_writing(script: str, sig: signal.Signals, *args: str) -> subprocess.Popen:
    """Run ``script`` (which prints "writing" once its temporary file exists), send it ``sig``
    then, and return the finished process."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "writing\n", line + process.communicate(timeout=60)[1]
    process.send_signal(sig)
    process.communicate(timeout=60)
    return process


WRITE_AND_WAIT = """
    import sys, time
    from nnscratch._files import atomic_write
    with atomic_write(sys.argv[1]) as file:
        file.write(b"x" * 100_000)
        file.flush()
        print("writing", flush=True)
        time.sleep(60)
"""


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_terminating_signal_leaves_no_temporary_file(tmp_path, sig):
    """Issue 11: SIGTERM left the hidden temporary file of a write (16 MB from save())."""
    (tmp_path / "model.npz").write_bytes(b"old")
    process = stop_while_writing(WRITE_AND_WAIT, sig, str(tmp_path / "model.npz"))
    assert process.returncode == -sig  # ended by the signal, as without the clean-up
    assert os.listdir(tmp_path) == ["model.npz"]
    assert (tmp_path / "model.npz").read_bytes() == b"old"


def test_a_handler_someone_installed_is_kept(tmp_path):
    """A program with its own SIGTERM handler keeps it: the write is not cut short."""
    script = """
        import signal, sys, time
        from nnscratch._files import atomic_write
        signal.signal(signal.SIGTERM, lambda *args: print("handled", flush=True))
        with atomic_write(sys.argv[1]) as file:
            print("writing", flush=True)
            time.sleep(1)
            file.write(b"new")
        print("saved", flush=True)
    """
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "writing\n"
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and out == "handled\nsaved\n"
    assert (tmp_path / "out").read_bytes() == b"new"


def test_signals_raise_restores_the_default_handlers():
    with signals_raise():
        for sig in TERMINATING_SIGNALS:
            assert signal.getsignal(sig) is not signal.SIG_DFL
    for sig in TERMINATING_SIGNALS:
        assert signal.getsignal(sig) is signal.SIG_DFL


def test_signals_raise_leaves_an_ignored_signal_ignored():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with signals_raise():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_signals_raise_in_another_thread_changes_nothing():
    seen = []

    def write() -> None:
        with signals_raise():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert seen == [signal.SIG_DFL]


def test_terminated_names_its_signal():
    error = Terminated(signal.SIGTERM)
    assert error.signum == signal.SIGTERM and str(error) == "terminated by SIGTERM"
    assert not isinstance(error, Exception)  # `except Exception` does not swallow it


class Stalling(BaseHTTPRequestHandler):
    """Sends half of a body, then waits until the test lets it go."""

    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.send_response(200)
        self.send_header("Content-Length", "2000000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + b"\0" * 999_998)
        self.wfile.flush()
        self.release.wait(60)

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_terminating_signal_during_a_download_leaves_no_part_file(tmp_path, sig):
    """Issue 11: SIGTERM left a 3.5 MB ``.part`` in the download cache."""
    pytest.importorskip("pooch")
    handler = type("Handler", (Stalling,), {"release": threading.Event()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    script = """
        import sys
        from pathlib import Path
        from nnscratch import data

        data.SYSTEM_DATA_DIR = Path(sys.argv[2])  # nothing there: the files are downloaded
        data.load("mnist", sys.argv[2], mirrors=[sys.argv[1]])
    """
    cache = tmp_path / "cache"
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "NO_PROXY": "127.0.0.1"}
    env.pop("NNSCRATCH_DATA_DIR", None)
    url = f"http://127.0.0.1:{httpd.server_port}/"
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), url, str(tmp_path / "empty")],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 60
        while not any(part.stat().st_size for part in cache.rglob(".*.part")):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.01)
        process.send_signal(sig)
        process.communicate(timeout=60)
    finally:
        handler.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert process.returncode == -sig
    assert list(cache.rglob("*.part")) == []
