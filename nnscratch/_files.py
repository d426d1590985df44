"""Writing files atomically: a reader sees the old file or the whole new one, never a part.

Everything the package writes (IDX files, model files, downloads into the cache) goes first
to a hidden temporary file in the target's folder, named by :func:`temporary_path`, and is
renamed onto the target only once complete: the rename is atomic within a folder, and a
failure leaves the target as it was and removes the temporary file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def temporary_path(path: str | os.PathLike[str]) -> Path:
    """A fresh hidden name beside ``path``: ``.NAME.<random hex>.part`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, for a writer that opens the file itself.

    The block must create the file there; it is renamed onto ``path`` if the block succeeds
    and deleted otherwise (a block that created nothing raises ``FileNotFoundError``).
    """
    temporary = temporary_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a new binary file to write ``path``'s content into, atomically.

    The content is flushed to the disk (``fsync``) before the rename, so that the new name
    never points at a file whose data is still only in memory. The file is created with the
    permissions of any new file (the umask applies).
    """
    with atomic_path(path) as temporary, open(temporary, "xb") as file:
        yield file
        file.flush()
        os.fsync(file.fileno())
