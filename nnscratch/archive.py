"""The container of a model file, read without trusting it: a zip archive of ``.npy`` arrays.

:mod:`nnscratch.modelfile` reads model files through these functions, which check each part
before reading what it describes. :func:`entries` checks the zip directory (how many entries,
no duplicates, only ``.npy`` arrays, the one the caller requires) and each entry's flags (no
encryption), compression (stored or deflate) and declared sizes, against the file's length and
deflate's largest ratio, reading nothing; :func:`npy_header` reads and checks an entry's
``.npy`` header (a dictionary literal parsed without evaluating code, never Python objects,
floating point unless told otherwise, a size that agrees with the entry's) into an
:class:`ArraySpec`; and :func:`read_data` reads the data into an array allocated once at its
declared size, the zip's CRC checked at the entry's end. Whatever is wrong raises
:class:`ModelFileError` naming the file and the part; nothing is ever unpickled.
"""

from __future__ import annotations

import ast
import math
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "NPY_HEADER_LIMIT",
    "ArraySpec",
    "ModelFileError",
    "entries",
    "npy_header",
    "read_data",
]

NPY_HEADER_LIMIT = 10_000
"""The longest ``.npy`` header read, in bytes (NumPy's own limit)."""

_ENCRYPTED = 0x0001 | 0x0040 | 0x2000  # zip flag bits: encrypted, strongly, the directory too
_FLAGS_KNOWN = 0x0002 | 0x0004 | 0x0008 | 0x0800  # deflate options, data descriptor, UTF-8 name
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_DEFLATE_RATIO = 1032  # deflate's largest expansion: 258 bytes from two bits
_LOCAL_HEADER_SIZE = 30  # a zip entry's local header before its name and extra field
_NPY_MAGIC = b"\x93NUMPY"
_NPY_PREFIX = 8  # the magic string and the format version
_NPY_LENGTHS = {(1, 0): 2, (2, 0): 4}  # .npy version -> bytes of the header length
_MAX_DIMENSIONS = 32
_READ_CHUNK = 1 << 20


class ModelFileError(ValueError):
    """A file that is not a valid nnscratch model file; the message says what is wrong."""


class ArraySpec(NamedTuple):
    """What an array's ``.npy`` header declares, before its data is read."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool = False
    offset: int = 0  # where the data starts in the entry: the length of the .npy header

    @property
    def nbytes(self) -> int:
        """The bytes of data the shape and dtype need."""
        return math.prod(self.shape) * self.dtype.itemsize


def entries(
    archive: zipfile.ZipFile, path: str, length: int, *, required: str, max_entries: int
) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by array name, after checking the directory and each entry's
    flags, compression and declared sizes against the file; nothing is read yet.

    Parameters
    ----------
    archive : zipfile.ZipFile
        The open archive.
    path : str
        The file's name, for the messages.
    length : int
        The file's length in bytes: no entry may declare data beyond it.
    required : str
        The name of an entry (without ``.npy``) the archive must hold.
    max_entries : int
        The most entries the archive may hold.

    Returns
    -------
    dict of str to zipfile.ZipInfo
        Each entry by its name without ``.npy``, in the order of the directory.

    Raises
    ------
    ModelFileError
        For too many entries, duplicates, an entry that is not ``.npy``, no ``required``
        entry, or an entry the loader would not read exactly as declared (encrypted,
        compressed other than by deflate, declaring sizes the file cannot hold).
    """
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise ModelFileError(
            f"{path}: the archive holds {len(infos)} entries, more than the {max_entries} a "
            "model file may hold"
        )
    names = [info.filename for info in infos]
    if len(names) != len(set(names)):
        raise ModelFileError(f"{path}: the archive holds duplicate entries")
    others = sorted(name for name in names if not name.endswith(".npy"))
    if others:
        raise ModelFileError(f"{path}: unexpected entries that are not arrays: {others}")
    found = {info.filename.removesuffix(".npy"): info for info in infos}
    if required not in found:
        raise ModelFileError(f"{path}: not an nnscratch model file (no {required} entry)")
    for info in infos:
        _check_entry(info, path, length)
    return found


def _check_entry(info: zipfile.ZipInfo, path: str, length: int) -> None:
    """Refuse an entry the loader would not read exactly as declared: encrypted, compressed
    other than by deflate, or declaring sizes the file cannot hold."""
    where = f"{path}: entry {info.filename!r}"
    if info.header_offset < 0:
        raise ModelFileError(f"{where} starts at offset {info.header_offset}, before the file")
    if info.flag_bits & _ENCRYPTED:
        raise ModelFileError(f"{where} is encrypted (zip flag bits 0x{info.flag_bits:04x})")
    if info.flag_bits & ~_FLAGS_KNOWN:
        raise ModelFileError(
            f"{where} uses zip features a model file never needs (flag bits 0x{info.flag_bits:04x})"
        )
    if info.compress_type not in _METHODS:
        raise ModelFileError(
            f"{where} uses compression method {info.compress_type}; a model file's entries are "
            "stored (0) or deflated (8)"
        )
    end = info.header_offset + _LOCAL_HEADER_SIZE + len(info.orig_filename) + info.compress_size
    if end > length:
        raise ModelFileError(
            f"{where} declares {info.compress_size} bytes of data at offset {info.header_offset}, "
            f"beyond the end of the {length}-byte file"
        )
    stored = info.compress_type == zipfile.ZIP_STORED
    largest = info.compress_size if stored else info.compress_size * _DEFLATE_RATIO + 64
    if info.file_size > largest or (stored and info.file_size != info.compress_size):
        raise ModelFileError(
            f"{where} declares {info.file_size} bytes of content from {info.compress_size} "
            f"{'stored' if stored else 'deflated'} bytes, which cannot be"
        )


def npy_header(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    path: str,
    *,
    name: str | None = None,
    floating: bool = True,
) -> ArraySpec:
    """Shape and dtype of an entry from its ``.npy`` header, checked against the entry's
    declared size; only the header is read.

    Parameters
    ----------
    archive : zipfile.ZipFile
    info : zipfile.ZipInfo
        The entry, one that :func:`entries` checked.
    path : str
        The file's name, for the messages.
    name : str, optional
        The array's name in the messages; default the entry's name without ``.npy``.
    floating : bool
        Require a floating-point dtype (the caller checks any other dtype it accepts).

    Returns
    -------
    ArraySpec
        The declared shape, dtype, order, and where the data starts in the entry.

    Raises
    ------
    ModelFileError
        If the header is not a valid ``.npy`` header of versions 1 or 2 (at most
        :data:`NPY_HEADER_LIMIT` bytes), declares Python objects, another dtype than floating
        point when ``floating``, or a size that disagrees with the entry's.
    """
    name = info.filename.removesuffix(".npy") if name is None else name
    where = f"{path}: array {name!r}"
    with _reading(where, "has an invalid .npy header"):
        with archive.open(info) as fp:
            prefix = fp.read(_NPY_PREFIX)
            if len(prefix) < _NPY_PREFIX or prefix[:6] != _NPY_MAGIC:
                raise ValueError("no .npy magic string")
            version = (prefix[6], prefix[7])
            if version not in _NPY_LENGTHS:
                raise ValueError(f"unsupported .npy format version {version}")
            width = _NPY_LENGTHS[version]
            length_bytes = fp.read(width)
            if len(length_bytes) < width:
                raise ValueError("the entry ends inside the header")
            (size,) = struct.unpack("<H" if width == 2 else "<I", length_bytes)
            if size > NPY_HEADER_LIMIT:
                raise ValueError(f"a header of {size} bytes, more than {NPY_HEADER_LIMIT}")
            text = fp.read(size)
            if len(text) < size:
                raise ValueError("the entry ends inside the header")
        spec = _parse_npy_header(text.decode("latin-1"), offset=8 + width + size)
    if spec.dtype.hasobject:
        raise ModelFileError(f"{where} holds Python objects (pickled data), which are never loaded")
    if floating and spec.dtype.kind != "f":
        raise ModelFileError(
            f"{where} must be floating point, found {spec.dtype} of shape {spec.shape}"
        )
    data_bytes = info.file_size - spec.offset
    if data_bytes != spec.nbytes:
        raise ModelFileError(
            f"{where} holds {data_bytes} bytes of data, not the {spec.nbytes} its shape "
            f"{spec.shape} needs"
        )
    return spec


def _parse_npy_header(text: str, *, offset: int) -> ArraySpec:
    """The ``.npy`` header's dictionary literal -> ArraySpec, or ValueError."""
    try:
        fields = ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        raise ValueError(f"not a dictionary literal ({type(exc).__name__})") from None
    if not isinstance(fields, dict) or fields.keys() != {"descr", "fortran_order", "shape"}:
        raise ValueError("not a dictionary of descr, fortran_order and shape")
    descr, fortran_order, shape = fields["descr"], fields["fortran_order"], fields["shape"]
    if not isinstance(fortran_order, bool):
        raise ValueError(f"fortran_order must be True or False, found {fortran_order!r}")
    if not (
        isinstance(shape, tuple)
        and len(shape) <= _MAX_DIMENSIONS
        and all(type(side) is int and side >= 0 for side in shape)
    ):
        raise ValueError(f"shape must be a tuple of sizes >= 0, found {shape!r:.80}")
    if descr == "|O":
        return ArraySpec(shape, np.dtype(object), fortran_order, offset)
    if not isinstance(descr, str) or len(descr) > 8:
        raise ValueError(f"descr must name a simple dtype, found {descr!r:.80}")
    try:
        dtype = np.dtype(descr)
    except TypeError:
        raise ValueError(f"descr {descr!r} is not a dtype") from None
    return ArraySpec(shape, dtype, fortran_order, offset)


def read_data(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, spec: ArraySpec, path: str, name: str
) -> NDArray[Any]:
    """The entry's data as the array ``spec`` declares, read in pieces into an array allocated
    once, at its declared size; the entry's CRC is checked at its end.

    Parameters
    ----------
    archive : zipfile.ZipFile
    info : zipfile.ZipInfo
        The entry.
    spec : ArraySpec
        What :func:`npy_header` read of the entry.
    path, name : str
        The file's and the array's names, for the messages.

    Returns
    -------
    ndarray, shape ``spec.shape``, dtype ``spec.dtype``
        In Fortran order if ``spec.fortran_order``.

    Raises
    ------
    ModelFileError
        If the entry is damaged (a CRC or deflate error), ends early, or holds more data
        than it declares.
    """
    flat = np.empty(math.prod(spec.shape), dtype=spec.dtype)
    buffer = flat.view(np.uint8)
    with _reading(f"{path}: array {name!r}", "cannot be read"), archive.open(info) as fp:
        fp.read(spec.offset)
        done = 0
        while done < len(buffer):
            piece = fp.read(min(_READ_CHUNK, len(buffer) - done))
            if not piece:
                raise EOFError(f"the entry ends after {done} of {len(buffer)} bytes of data")
            buffer[done : done + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            done += len(piece)
        if fp.read(1):  # also reaches the end, where zipfile checks the CRC
            raise ValueError("more data than the entry declares")
    return flat.reshape(spec.shape, order="F" if spec.fortran_order else "C")


@contextmanager
def _reading(where: str, what: str) -> Iterator[None]:
    """Turn what reading a damaged entry raises into a ModelFileError: ``where what (why)``."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{where} {what} ({exc})") from exc
