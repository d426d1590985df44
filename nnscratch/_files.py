"""Writing files atomically: a reader sees the old file or the whole new one, never a part.

Everything the package writes (IDX files, model files, downloads into the cache) goes first
to a hidden temporary file in the target's folder, named by :func:`temporary_path`, and is
renamed onto the target only once complete: the rename is atomic within a folder, and a
failure leaves the target as it was and removes the temporary file. A file written over an
existing one keeps that file's permissions.

Nothing is left behind when the process is told to stop, either: ``SIGINT`` raises
``KeyboardInterrupt`` anyway, and for the duration of a write :func:`signals_raise` turns
``SIGTERM`` and ``SIGHUP`` into a :class:`Terminated` exception too, so that the clean-up runs,
and then ends the process by that signal as it would have ended without us.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO

#: The signals :func:`signals_raise` turns into :class:`Terminated` (SIGHUP is POSIX only).
TERMINATING_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Terminated(BaseException):  # noqa: N818 (named like KeyboardInterrupt, its sibling)
    """``SIGTERM`` or ``SIGHUP`` arrived inside :func:`signals_raise`.

    A ``BaseException``, like ``KeyboardInterrupt``, so that ``except Exception`` does not
    swallow it; ``signum`` is the signal.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


@contextmanager
def signals_raise() -> Iterator[None]:
    """Turn ``SIGTERM`` and ``SIGHUP`` into :class:`Terminated` for the duration of the block.

    Only signals whose handler is the default one (which ends the process at once, running no
    ``finally`` clause) are changed, and only in the main thread (the only one Python delivers
    signals to); a handler someone installed, or an ignored signal (``nohup``), is left alone.
    The handlers are restored on leaving. If :class:`Terminated` for a signal changed here
    leaves the block, the signal is delivered again once the handler is restored, so the
    process ends as the signal would have ended it, only after the block's clean-up.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    changed = [sig for sig in TERMINATING_SIGNALS if signal.getsignal(sig) is signal.SIG_DFL]

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    try:
        for sig in changed:
            signal.signal(sig, raise_terminated)
        yield
    except Terminated as stop:
        _restore(changed)
        if stop.signum in changed:
            signal.raise_signal(stop.signum)  # the default action: the process ends here
        raise
    finally:
        _restore(changed)


def _restore(changed: list[signal.Signals]) -> None:
    for sig in changed:
        signal.signal(sig, signal.SIG_DFL)


def temporary_path(path: str | os.PathLike[str]) -> Path:
    """A fresh hidden name beside ``path``: ``.NAME.<random hex>.part`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")


def check_writable(path: str | os.PathLike[str]) -> None:
    """Check, before any work, that :func:`atomic_write` could write ``path``.

    The folder must exist and be a folder, ``path`` must not be a folder, and a file must be
    creatable in the folder: one is created there under a :func:`temporary_path` name and
    deleted again, which finds a read-only folder or file system, whoever runs this.

    Raises
    ------
    OSError
        With ``filename`` and ``strerror`` saying what is wrong: ``IsADirectoryError`` if
        ``path`` is a folder, ``FileNotFoundError`` or ``NotADirectoryError`` if its folder is
        missing or is not one, ``PermissionError`` or another ``OSError`` if nothing can be
        created in it.
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file name", os.fspath(path))
    if not folder.exists():
        raise FileNotFoundError(errno.ENOENT, "no such folder", os.fspath(folder))
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", os.fspath(folder))
    probe = temporary_path(path)
    try:
        with open(probe, "xb"):
            pass
    except OSError as error:
        raise type(error)(error.errno, error.strerror, os.fspath(folder)) from None
    probe.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, for a writer that opens the file itself.

    The block must create the file there; it is renamed onto ``path`` if the block succeeds
    and deleted otherwise (a block that created nothing raises ``FileNotFoundError``). If
    ``path`` exists, the new file gets its permission bits (a model file of mode 600 stays
    600); otherwise those of any new file (the umask applies). ``SIGTERM`` and ``SIGHUP``
    delete the temporary file too (see :func:`signals_raise`).
    """
    temporary = temporary_path(path)
    with signals_raise():
        try:
            yield temporary
            mode = _permissions(path)
            if mode is not None:
                os.chmod(temporary, mode)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)


def _permissions(path: str | os.PathLike[str]) -> int | None:
    """The permission bits of the file at ``path``, or None if there is none."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a new binary file to write ``path``'s content into, atomically.

    The content is flushed to the disk (``fsync``) before the rename, so that the new name
    never points at a file whose data is still only in memory. Permissions and signals are
    handled as by :func:`atomic_path`.
    """
    with atomic_path(path) as temporary, open(temporary, "xb") as file:
        yield file
        file.flush()
        os.fsync(file.fileno())
