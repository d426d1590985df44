"""The IDX format, raw or gzip-compressed: the tiny binary format MNIST is distributed in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian 32-bit size per dimension, then the values in C order, big-endian.
:func:`read_idx` and :func:`write_idx` handle every type code and any number of dimensions,
raw or gzip-compressed (recognised from the bytes, not the name); :func:`read_content` gives a
file's bytes, decompressed if need be, and :func:`content_sha256` their digest.

Decompression is bounded: reading stops as soon as the content exceeds the size it may have
(for :func:`read_idx`, the size its header declares; for :func:`read_content`, the caller's
``max_size``, the known size of a data set's file; at most :data:`MAX_CONTENT_SIZE`), so a
small file that inflates to gigabytes (a gzip bomb) is refused after a few megabytes.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
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
    "MAX_CONTENT_SIZE",
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
#: The most content (decompressed) read from one file whose size is not known: 2 GiB.
MAX_CONTENT_SIZE = 1 << 31
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes per step, read or decompressed: big enough to be fast, small enough
# to overlap with hashing and to stop soon after a size is exceeded
_MAX_HEADER = 4 + 4 * 255  # the longest IDX header: the magic number and 255 sizes


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed (told apart by its first bytes, not its name).

    The header is read first, and then no more content than it declares: a file that holds
    (or decompresses to) more is refused as soon as that is seen.

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
        a payload shorter or longer than the header declares (or larger than
        :data:`MAX_CONTENT_SIZE`), or a corrupt or truncated gzip stream. The message names
        the file, what was expected and what was found.
    """
    source = os.fspath(path)
    head = bytearray()
    for piece in _pieces(path, source=source):
        head += piece
        if len(head) >= _MAX_HEADER:
            break
    shape, dtype, offset = _parse_header(head, source=source)
    size = offset + math.prod(shape) * dtype.itemsize
    if size > MAX_CONTENT_SIZE:
        raise IDXFormatError(
            f"{source}: too large: the header declares {dtype.name} values of shape {shape}, "
            f"{size} bytes in all, more than the {MAX_CONTENT_SIZE} read from one file"
        )
    declared = f"the header declares {dtype.name} values of shape {shape}, {size} bytes in all"
    pieces = _bounded(_pieces(path, source=source), size, source=source, declared=declared)
    return parse_idx(bytearray().join(pieces), source=source)


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

    The content is hashed as it is read, never held in memory whole.

    Raises
    ------
    IDXFormatError
        If the file starts like gzip but is not a valid gzip stream, or its content is larger
        than :data:`MAX_CONTENT_SIZE`.
    """
    digest = hashlib.sha256()
    source = os.fspath(path)
    for piece in _bounded(_pieces(path, source=source), MAX_CONTENT_SIZE, source=source):
        digest.update(piece)
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
    shape, dtype, offset = _parse_header(data, source=source)
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
            f"{source}: cannot make a {len(shape)}-dimensional array ({error})"
        ) from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def _parse_header(data: bytearray, *, source: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape, dtype and data offset the IDX header at the start of ``data`` declares."""
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
    return struct.unpack_from(f">{ndim}I", data, 4), IDX_DTYPES[code], offset


def read_content(
    path: PathLike,
    *,
    source: str | None = None,
    digest: Any = None,
    max_size: int = MAX_CONTENT_SIZE,
) -> bytearray:
    """A file's bytes, gunzipped if they start with the gzip magic number.

    Parameters
    ----------
    path : str or path-like
    source : str, optional
        What the messages call the file; default ``path``.
    digest : hashlib hash object, optional
        Fed the (decompressed) bytes as they come, e.g. ``hashlib.sha256()``; hashing
        overlaps decompression.
    max_size : int
        The most content the file may have, e.g. the known size of a data set's file:
        reading (and decompressing) stops as soon as it is exceeded. Default
        :data:`MAX_CONTENT_SIZE`.

    Raises
    ------
    IDXFormatError
        If the file starts like gzip but is not a valid gzip stream, or its content is larger
        than ``max_size``.
    """
    source = os.fspath(path) if source is None else source
    pieces = []
    with ThreadPoolExecutor(max_workers=1) as hasher:  # hashing overlaps decompression
        for piece in _bounded(_pieces(path, source=source), max_size, source=source):
            pieces.append(piece)
            if digest is not None:
                hasher.submit(digest.update, piece)
    return bytearray().join(pieces)


def _bounded(
    pieces: Iterator[bytes], max_size: int, *, source: str, declared: str | None = None
) -> Iterator[bytes]:
    """``pieces`` as long as they add up to at most ``max_size`` bytes, else IDXFormatError
    (saying what ``declared`` that size, if given)."""
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > max_size:
            if declared is not None:
                problem = f"trailing bytes: {declared}, found more"
            else:
                problem = f"too large: more content than the {max_size} bytes expected"
            raise IDXFormatError(f"{source}: {problem} (reading stopped after {total})")
        yield piece


def _pieces(path: PathLike, *, source: str) -> Iterator[bytes]:
    """The content of a file in pieces of about ``_CHUNK`` bytes, gunzipped if it is gzip."""
    with open(path, "rb") as file:
        first = file.read(max(_CHUNK, len(_GZIP_MAGIC)))
        if not first.startswith(_GZIP_MAGIC):
            while first:
                yield first
                first = file.read(_CHUNK)
            return
        chunks = itertools.chain([first], iter(lambda: file.read(_CHUNK), b""))
        yield from _gunzip(chunks, source=source)


def _gunzip(chunks: Iterator[bytes], *, source: str) -> Iterator[bytes]:
    """Decompress each gzip member in ``chunks`` in turn (CRC-checked), yielding pieces of
    output of at most ``_CHUNK`` bytes: however much a chunk inflates to, it is decompressed
    one piece at a time. After the last member only zero bytes (padding) may follow."""
    data, read = b"", 0
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16 +: expect a gzip wrapper
        while not inflater.eof:
            if not data:
                data = next(chunks, b"")
                read += len(data)
                if not data:
                    raise IDXFormatError(
                        f"{source}: truncated gzip stream: expected more compressed data, "
                        f"found the end of the file after {read} bytes"
                    )
            try:
                piece = inflater.decompress(data, _CHUNK)
            except zlib.error as error:
                raise IDXFormatError(f"{source}: corrupt gzip stream ({error})") from None
            data = inflater.unconsumed_tail
            yield piece
        data = inflater.unused_data
        while len(data) < len(_GZIP_MAGIC) and (more := next(chunks, b"")):
            data += more
            read += len(more)
        if not data.startswith(_GZIP_MAGIC):  # the end: nothing, or zero padding
            end, trailing = read - len(data), len(data)
            nonzero = bool(data.strip(b"\0"))
            for more in chunks:
                trailing += len(more)
                nonzero = nonzero or bool(more.strip(b"\0"))
            if nonzero:
                raise IDXFormatError(
                    f"{source}: trailing data: expected the file to end after the gzip stream "
                    f"at byte {end}, found {trailing} more bytes"
                )
            return
