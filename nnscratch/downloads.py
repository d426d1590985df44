"""Downloads into the per-user cache: files fetched from mirrors, verified, written atomically,
safely shared by processes that download at the same time.

:func:`download_missing` fetches the files a data set lacks into its cache folder
(:func:`cache_folder`), trying each mirror in turn with pooch's HTTP downloader. A download
goes to a temporary file beside its target, under a name of its own
(``.NAME.<random>.part``), and is renamed into place only once complete and verified against
its pinned SHA-256 and size (:func:`read_verified`), under a lock (``filelock``, the file
``.lock`` in the cache folder) so that of two processes that finish together one puts its
file in place and the other keeps it. Whatever fails, or is interrupted (``KeyboardInterrupt``,
``SIGTERM``, ``SIGHUP``, which then end the process as they would have), deletes its own
temporary file; folders are made as needed and never removed, since another process may be
downloading into them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from ._files import signals_raise, temporary_path
from ._optional import import_optional
from .idx import MAX_CONTENT_SIZE, read_content

__all__ = ["DOWNLOAD_TIMEOUT", "ChecksumError", "cache_folder", "download_missing", "read_verified"]

#: Seconds to wait for a mirror, as (to connect, between two received chunks).
DOWNLOAD_TIMEOUT: tuple[float, float] = (5.0, 60.0)


class ChecksumError(ValueError):
    """A data file's decompressed content does not have the pinned SHA-256 digest."""


def read_verified(
    path: str | os.PathLike[str],
    expected: str,
    *,
    source: str,
    max_size: int = MAX_CONTENT_SIZE,
) -> bytearray:
    """A file's decompressed bytes, after checking their SHA-256 against ``expected``.

    Parameters
    ----------
    path : str or path-like
    expected : str
        The pinned SHA-256 hex digest of the decompressed content.
    source : str
        What the messages call the file (a path, a URL).
    max_size : int
        The known size of the decompressed content: reading stops as soon as it is exceeded.

    Raises
    ------
    ChecksumError
        If the digest differs; the message names ``source``, both digests and what it means.
    IDXFormatError
        If the file starts like gzip but is not a valid gzip stream, or holds more than
        ``max_size`` bytes.
    """
    digest = hashlib.sha256()
    content = read_content(path, source=source, digest=digest, max_size=max_size)
    if digest.hexdigest() != expected:
        raise ChecksumError(
            f"{source}: SHA-256 of the decompressed content is {digest.hexdigest()}, "
            f"expected {expected}: the file is damaged or not the expected one"
        )
    return content


def _import_pooch() -> ModuleType:
    return import_optional(
        "pooch",
        package="pooch",
        needed_for="the download cache of nnscratch.data",
        otherwise="or load files already on disk (see nnscratch.data.load_mnist)",
    )


def cache_folder(name: str) -> Path:
    """The per-user download cache for the data set ``name``:
    ``pooch.os_cache("nnscratch")/name`` (``$XDG_CACHE_HOME`` is respected)."""
    return Path(_import_pooch().os_cache("nnscratch")).expanduser() / name


def _import_filelock() -> ModuleType:
    return import_optional(
        "filelock",
        package="filelock",
        needed_for="the download cache of nnscratch.data",
        otherwise="or load files already on disk (see nnscratch.data.load_mnist)",
    )


class _MirrorsError(Exception):
    """No mirror could deliver a file (network errors; the reasons are in ``failures``)."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__("; ".join(failures))
        self.failures = failures


def download_missing(
    paths: dict[str, Path | None],
    folder: Path,
    mirrors: Sequence[str],
    pinned: Mapping[str, str],
    sizes: Mapping[str, int],
) -> list[str]:
    """Download into ``folder`` the files whose path is None, filling in ``paths``.

    Parameters
    ----------
    paths : dict of str to Path or None
        File name (without ``.gz``) -> where it is, None for the files to download; updated
        with the paths of the files downloaded.
    folder : Path
        Where to download to (made if missing, and kept).
    mirrors : sequence of str
        Base URLs, tried in turn; a file's URL is the base followed by ``NAME.gz``.
    pinned : mapping of str to str
        File name -> the SHA-256 of its decompressed content.
    sizes : mapping of str to int
        File name -> the size of its decompressed content.

    Returns
    -------
    list of str
        Why the mirrors failed, if they did, one ``"download from URL failed: reason"`` per
        attempt (the files after that one are not tried); empty when every file was
        downloaded.

    Raises
    ------
    ChecksumError, IDXFormatError
        If a mirror served bytes that fail verification and no mirror served the right ones
        (nothing is saved).
    """
    if not mirrors:
        return ["there is no mirror to download from"]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for fname in [fname for fname, path in paths.items() if path is None]:
            paths[fname] = _download(fname, folder, mirrors, pinned[fname], sizes[fname])
    except _MirrorsError as error:
        return error.failures
    return []


def _download(fname: str, folder: Path, mirrors: Sequence[str], expected: str, size: int) -> Path:
    """Download ``fname.gz`` into ``folder`` from the first mirror that serves the right bytes.

    Each attempt goes to a temporary file of its own, renamed into place (under the folder's
    lock) once complete and verified, and deleted otherwise. If a mirror served bytes that
    fail verification and no mirror succeeds, that verification error is raised; if all
    failed for network reasons, ``_MirrorsError``.
    """
    pooch = _import_pooch()
    lock = _import_filelock().FileLock(folder / ".lock")
    progressbar = importlib.util.find_spec("tqdm") is not None  # pooch draws it with tqdm
    downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=DOWNLOAD_TIMEOUT)
    target = folder / f"{fname}.gz"
    failures: list[str] = []
    rejected: list[ValueError] = []
    with signals_raise():  # SIGTERM and SIGHUP, too, reach each attempt's `finally`
        for mirror in mirrors:
            url = f"{mirror.rstrip('/')}/{fname}.gz"
            temporary = temporary_path(target)
            try:
                downloader(url, os.fspath(temporary), None)
                read_verified(temporary, expected, source=url, max_size=size)
                with lock:
                    os.replace(temporary, target)
                return target
            except ValueError as error:  # the bytes are wrong (ChecksumError, IDXFormatError)
                rejected.append(error)
                failures.append(f"download from {url} failed: {_reason(error)}")
            except OSError as error:  # connection, HTTP status, truncated body (requests)
                failures.append(f"download from {url} failed: {_reason(error)}")
            finally:
                temporary.unlink(missing_ok=True)
    if rejected:
        rejected[0].add_note("Nothing was saved. Mirrors tried:\n" + "\n".join(failures))
        raise rejected[0]
    raise _MirrorsError(failures)


def _reason(error: BaseException) -> str:
    """Why a download failed, in a few words on one line: the innermost cause of a network
    error (requests wraps urllib3, which wraps the socket's ``Connection refused``), the
    message of anything else."""
    if not isinstance(error, ValueError):
        seen = {id(error)}
        while (cause := _cause(error)) is not None and id(cause) not in seen:
            error = cause
            seen.add(id(error))
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
    return " ".join(str(error).split()) or type(error).__name__


def _cause(error: BaseException) -> BaseException | None:
    wrapped = [arg for arg in error.args if isinstance(arg, BaseException)]
    for candidate in (*wrapped, getattr(error, "reason", None), error.__cause__, error.__context__):
        if isinstance(candidate, BaseException):
            return candidate
    return None
