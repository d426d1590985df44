"""The IDX format, raw or gzip-compressed: the tiny binary format MNIST is distributed in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian 32-bit size per dimension, then the values in C order, big-endian.
:func:`read_idx` and :func:`write_idx` handle every type code and any number of dimensions,
raw or gzip-compressed (recognised from the bytes, not the name); :func:`read_content` gives a
file's bytes, decompressed if need be, and :func:`content_sha256` their digest.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._files import atomic_write

__all__ = [
    "IDX_DTYPES",
    "IDXFormatError",
    "content_sha256",
    "parse_idx",
    "read_content",
    "read_idx",
    "write_idx",
]

PathLike = str | os.PathLike[str]


class IDXFormatError(ValueError):
    """A file is not valid IDX: bad magic number or type code, sizes that do not match, bad gzip."""


#: IDX type code (third byte of the magic number) -> the big-endian NumPy dtype it stands for.
IDX_DTYPES: Mapping[int, np.dtype] = MappingProxyType(
    {
        0x08: np.dtype(">u1"),
        0x09: np.dtype(">i1"),
        0x0B: np.dtype(">i2"),
        0x0C: np.dtype(">i4"),
        0x0D: np.dtype(">f4"),
        0x0E: np.dtype(">f8"),
    }
)
_IDX_CODES = {dtype.str[1:]: code for code, dtype in IDX_DTYPES.items()}  # "i4" -> 0x0C
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # compressed bytes per step: big enough to be fast, small enough to overlap


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed (told apart by its first bytes, not its name).

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    ndarray, shape as declared in the header
        In native byte order, with the dtype of the file's type code (see :data:`IDX_DTYPES`).

    Raises
    ------
    IDXFormatError
        For a bad magic number, an unknown type code, no dimensions, a truncated header,
        a payload shorter or longer than the header declares, or a corrupt or truncated gzip
        stream. The message names the file, what was expected and what was found.
    """
    return parse_idx(read_content(path), source=os.fspath(path))


def write_idx(path: PathLike, array: ArrayLike, *, compress: bool | None = None) -> None:
    """Write an array as an IDX file, atomically (a temporary file renamed onto ``path``).

    Parameters
    ----------
    path : str or path-like
        The file to (over)write. Nothing is written there unless the whole file is.
    array : array_like, any shape with 1 to 255 dimensions, each below 2**32
        Of dtype uint8, int8, int16, int32, float32 or float64 (any byte order).
    compress : bool, optional
        Gzip-compress the file. By default, compress if ``path`` ends in ``.gz``.

    Raises
    ------
    ValueError
        For a dtype IDX cannot hold, a 0-d array, or a dimension of 2**32 or more.
    """
    path = Path(path)
    arr = np.asarray(array)
    header = _idx_header(arr, source=os.fspath(path))
    payload = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder(">")).reshape(-1)
    if compress is None:
        compress = path.suffix == ".gz"
    with atomic_write(path) as file:
        if compress:
            # No name or time stamp in the gzip header: the same array gives the same bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=file, mtime=0) as zipped:
                zipped.write(header)
                zipped.write(payload.data)
        else:
            file.write(header)
            file.write(payload.data)


def content_sha256(path: PathLike) -> str:
    """The SHA-256 hex digest of a file's content, decompressed first if it is gzip.

    Raises
    ------
    IDXFormatError
        If the file starts like gzip but is not a valid gzip stream.
    """
    digest = hashlib.sha256()
    read_content(path, digest=digest)
    return digest.hexdigest()


def _idx_header(arr: np.ndarray, *, source: str) -> bytes:
    """The magic number and sizes for ``arr``, or ValueError if IDX cannot hold it."""
    code = _IDX_CODES.get(arr.dtype.str[1:])
    if code is None:
        known = ", ".join(dtype.name for dtype in IDX_DTYPES.values())
        raise ValueError(
            f"cannot write {source}: IDX holds {known}, found dtype {arr.dtype} "
            "(convert with .astype first)"
        )
    if arr.ndim == 0:
        raise ValueError(f"cannot write {source}: IDX needs 1 to 255 dimensions, found a 0-d array")
    if max(arr.shape) >= 2**32:
        raise ValueError(
            f"cannot write {source}: IDX sizes are 32-bit, expected every dimension below 2**32, "
            f"found shape {arr.shape}"
        )
    return struct.pack(f">HBB{arr.ndim}I", 0, code, arr.ndim, *arr.shape)


def parse_idx(data: bytearray, *, source: str) -> np.ndarray:
    """Decode the IDX bytes ``data`` (uncompressed) into an array sharing their memory.

    Parameters
    ----------
    data : bytearray
        The file's content, e.g. from :func:`read_content`.
    source : str
        Where the bytes come from, for the messages.

    Raises
    ------
    IDXFormatError
        As :func:`read_idx`.
    """
    if len(data) < 4:
        raise IDXFormatError(
            f"{source}: truncated header: expected at least 4 bytes (the magic number), "
            f"found {len(data)}"
        )
    if data[0] or data[1]:
        raise IDXFormatError(
            f"{source}: bad magic number: expected it to start with 00 00, "
            f"found {data[:4].hex(' ')}"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{known:02X}" for known in IDX_DTYPES)
        raise IDXFormatError(
            f"{source}: unknown type code: expected one of {known}, found 0x{code:02X}"
        )
    if ndim == 0:
        raise IDXFormatError(f"{source}: bad dimension count: expected 1 to 255, found 0")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise IDXFormatError(
            f"{source}: truncated header: {ndim} dimensions need {offset} header bytes, "
            f"found {len(data)}"
        )
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    dtype = IDX_DTYPES[code]
    count = math.prod(shape)
    expected = offset + count * dtype.itemsize
    if len(data) != expected:
        problem = "missing bytes" if len(data) < expected else "trailing bytes"
        raise IDXFormatError(
            f"{source}: {problem}: the header declares {dtype.name} values of shape {shape}, "
            f"{expected} bytes in all, found {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    try:
        array = array.reshape(shape)
    except ValueError as error:  # more dimensions than a NumPy array can have (64)
        raise IDXFormatError(
            f"{source}: cannot make a {ndim}-dimensional array ({error})"
        ) from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_content(path: PathLike, *, source: str | None = None, digest: Any = None) -> bytearray:
    """A file's bytes, gunzipped if they start with the gzip magic number.

    Parameters
    ----------
    path : str or path-like
    source : str, optional
        What the messages call the file; default ``path``.
    digest : hashlib hash object, optional
        Fed the (decompressed) bytes as they come, e.g. ``hashlib.sha256()``; hashing
        overlaps decompression.

    Raises
    ------
    IDXFormatError
        If the file starts like gzip but is not a valid gzip stream.
    """
    source = os.fspath(path) if source is None else source
    with open(path, "rb") as file:
        data = bytearray(os.fstat(file.fileno()).st_size)
        del data[file.readinto(data) :]
    if data[:2] != _GZIP_MAGIC:
        if digest is not None:
            digest.update(data)
        return data
    pieces = []
    with ThreadPoolExecutor(max_workers=1) as hasher:  # hashing overlaps decompression
        for piece in _gunzip(memoryview(data), source=source):
            pieces.append(piece)
            if digest is not None:
                hasher.submit(digest.update, piece)
    return bytearray().join(pieces)


def _gunzip(view: memoryview, *, source: str) -> Iterator[bytes]:
    """Decompress each gzip member in ``view`` in turn (CRC-checked), yielding pieces of output."""
    start = 0
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16 +: expect a gzip wrapper
        while not inflater.eof and start < len(view):
            end = min(start + _CHUNK, len(view))
            try:
                piece = inflater.decompress(view[start:end])
            except zlib.error as error:
                raise IDXFormatError(f"{source}: corrupt gzip stream ({error})") from None
            start = end
            yield piece
        if not inflater.eof:
            raise IDXFormatError(
                f"{source}: truncated gzip stream: expected more compressed data, "
                f"found the end of the file after {len(view)} bytes"
            )
        start -= len(inflater.unused_data)
        rest = view[start:].tobytes()
        if not rest.startswith(_GZIP_MAGIC):
            if rest.strip(b"\0"):
                raise IDXFormatError(
                    f"{source}: trailing data: expected the file to end after the gzip stream "
                    f"at byte {start}, found {len(rest)} more bytes"
                )
            return
