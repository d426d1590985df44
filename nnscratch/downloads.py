"""Downloads into the per-user cache: files fetched from mirrors, verified, written atomically.

:func:`download_missing` fetches the files a data set lacks into its cache folder
(:func:`cache_folder`), trying each mirror in turn with pooch's HTTP downloader. A download
goes to a temporary file beside its target and is renamed into place only once complete and
verified against its pinned SHA-256 (:func:`read_verified`); whatever fails is deleted, and the
folders made for it are removed again if they are left empty.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from ._files import atomic_path
from ._optional import import_optional
from .idx import read_content

__all__ = ["DOWNLOAD_TIMEOUT", "ChecksumError", "cache_folder", "download_missing", "read_verified"]

#: Seconds to wait for a mirror, as (to connect, between two received chunks).
DOWNLOAD_TIMEOUT: tuple[float, float] = (5.0, 60.0)


class ChecksumError(ValueError):
    """A data file's decompressed content does not have the pinned SHA-256 digest."""


def read_verified(path: str | os.PathLike[str], expected: str, *, source: str) -> bytearray:
    """A file's decompressed bytes, after checking their SHA-256 against ``expected``.

    Raises
    ------
    ChecksumError
        If the digest differs; the message names ``source``, both digests and what it means.
    IDXFormatError
        If the file starts like gzip but is not a valid gzip stream.
    """
    digest = hashlib.sha256()
    content = read_content(path, source=source, digest=digest)
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


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return created


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove ``folders`` (deepest first) as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


class _MirrorsError(Exception):
    """No mirror could deliver a file (network errors; the reasons are in ``failures``)."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__("; ".join(failures))
        self.failures = failures


def download_missing(
    paths: dict[str, Path | None], folder: Path, mirrors: Sequence[str], pinned: Mapping[str, str]
) -> list[str]:
    """Download into ``folder`` the files whose path is None, filling in ``paths``.

    Parameters
    ----------
    paths : dict of str to Path or None
        File name (without ``.gz``) -> where it is, None for the files to download; updated
        with the paths of the files downloaded.
    folder : Path
        Where to download to (made if missing).
    mirrors : sequence of str
        Base URLs, tried in turn; a file's URL is the base followed by ``NAME.gz``.
    pinned : mapping of str to str
        File name -> the SHA-256 of its decompressed content.

    Returns
    -------
    list of str
        Why the mirrors failed, if they did (the files after that one are not tried); empty
        when every file was downloaded.

    Raises
    ------
    ChecksumError, IDXFormatError
        If a mirror served bytes that fail verification and no mirror served the right ones
        (nothing is saved).
    """
    created = _make_folders(folder)
    try:
        for fname in [fname for fname, path in paths.items() if path is None]:
            paths[fname] = _download(fname, folder, mirrors, pinned[fname])
    except _MirrorsError as error:
        return error.failures or ["no mirror to download from (mirrors=())"]
    finally:
        _remove_empty(created)
    return []


def _download(fname: str, folder: Path, mirrors: Sequence[str], expected: str) -> Path:
    """Download ``fname.gz`` into ``folder`` from the first mirror that serves the right bytes.

    Each attempt goes to a temporary file, renamed into place once complete and verified, and
    deleted otherwise. If a mirror served bytes that fail verification and no mirror succeeds,
    that verification error is raised; if all failed for network reasons, ``_MirrorsError``.
    """
    pooch = _import_pooch()
    progressbar = importlib.util.find_spec("tqdm") is not None  # pooch draws it with tqdm
    downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=DOWNLOAD_TIMEOUT)
    target = folder / f"{fname}.gz"
    failures: list[str] = []
    rejected: list[ValueError] = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{fname}.gz"
        try:
            with atomic_path(target) as temporary:
                downloader(url, os.fspath(temporary), None)
                read_verified(temporary, expected, source=url)
            return target
        except ValueError as error:  # the bytes are wrong (ChecksumError, IDXFormatError)
            rejected.append(error)
            failures.append(f"{url}: {error}")
        except OSError as error:  # connection, HTTP status, truncated body (requests errors)
            failures.append(f"{url}: {error}")
    if rejected:
        rejected[0].add_note("Nothing was saved. Mirrors tried:\n" + "\n".join(failures))
        raise rejected[0]
    raise _MirrorsError(failures)
