"""Model files: named floating-point arrays and a JSON header in one ``.npz``, without pickle.

A model file is an uncompressed zip archive (``numpy.savez``) with one ``.npy`` entry per
array and an entry ``metadata``: the UTF-8 bytes of a JSON object, the *header*, stored as a
1-D ``uint8`` array. The header always holds the format's name and version and the version of
nnscratch that wrote it; the rest is the caller's. :meth:`nnscratch.model.MLP.save` writes its
weights ``W1``, ``b1``, ``W2``, ... and describes them in the header::

    {"format": "nnscratch-mlp", "format_version": 1, "nnscratch_version": "0.1.0",
     "sizes": [784, 512, 10], "dtype": "float32", "dropout": 0.1, "activation": "relu",
     "metadata": {...}}     # the model's free-form metadata: recipe, preprocessing, metrics

This module knows the container, not the model: :func:`load` is the one gate a file passes.
It checks everything a file must be to be safe to read, from the outside in, and reads data
only after the parts that describe it: the zip directory; each entry's flags (no encryption),
compression (stored or deflate) and declared sizes, against the file's length and deflate's
largest ratio; the JSON header (bounded in size and depth, a known format version); each
array's ``.npy`` header (floating point, never Python objects, a size that agrees with the
entry's), and the caller's ``check`` of the declared shapes. Only then are the arrays
allocated, at their declared sizes, and read (the zip's CRC checked at each entry's end, the
values finite). Whatever is wrong raises :class:`ModelFileError` naming the file and the part.
:meth:`nnscratch.model.MLP.load` passes a ``check`` that the arrays are the network the header
describes. Loading never unpickles: arrays are raw bytes read into arrays the loader made.
"""

from __future__ import annotations

import ast
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from . import __version__
from ._files import atomic_write

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADER_ENTRY",
    "MAX_ARRAY_BYTES",
    "MAX_ENTRIES",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
    "ArraySpec",
    "ModelFileError",
    "load",
    "save",
]

FORMAT_NAME = "nnscratch-mlp"
FORMAT_VERSION = 1
HEADER_ENTRY = "metadata"
"""The name of the entry holding the JSON header (for the format's first version's sake)."""
MAX_ARRAY_BYTES = 1 << 30
"""The most array data :func:`load` accepts by default: 1 GiB (a 784-512-10 network in float64
takes 3.3 MB)."""
MAX_HEADER_BYTES = 1 << 20
"""The largest JSON header a model file may hold: 1 MiB."""
MAX_HEADER_DEPTH = 32
"""How deeply the JSON header's objects and lists may nest."""
MAX_ENTRIES = 1024
"""The most entries (arrays and the header) a model file may hold."""

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries; an empty zip
_FORMAT_KEYS = ("format", "format_version", "nnscratch_version")
_ENCRYPTED = 0x0001 | 0x0040 | 0x2000  # zip flag bits: encrypted, strongly, the directory too
_FLAGS_KNOWN = 0x0002 | 0x0004 | 0x0008 | 0x0800  # deflate options, data descriptor, UTF-8 name
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_DEFLATE_RATIO = 1032  # deflate's largest expansion: 258 bytes from two bits
_LOCAL_HEADER_SIZE = 30  # a zip entry's local header before its name and extra field
_NPY_MAGIC = b"\x93NUMPY"
_NPY_PREFIX = 8  # the magic string and the format version
_NPY_LENGTHS = {(1, 0): 2, (2, 0): 4}  # .npy version -> bytes of the header length
_NPY_HEADER_LIMIT = 10_000  # numpy's own limit on a .npy header
_MAX_DIMENSIONS = 32
_READ_CHUNK = 1 << 20


class ModelFileError(ValueError):
    """A file that is not a valid nnscratch model file; the message says what is wrong."""


def save(
    path: str | os.PathLike[str],
    arrays: Mapping[str, NDArray[np.floating]],
    header: Mapping[str, Any],
) -> None:
    """Write ``arrays`` and ``header`` to ``path`` as one ``.npz`` file, atomically.

    The file is first written next to ``path`` under a temporary name and then renamed over
    ``path``, so a reader never sees a half-written file and a failure leaves ``path`` as it was.

    Parameters
    ----------
    path : str or path-like
        Must end in ``.npz`` (nothing is appended to the name you give).
    arrays : mapping of str to ndarray
        Real floating-point arrays, finite, any shapes; the names must not be ``"metadata"``.
    header : mapping of str to JSON-able values
        Written after the format's own keys (which it must not contain). NumPy scalars and
        arrays are converted to numbers and lists; tuples come back as lists; NaN and
        infinity are refused.

    Raises
    ------
    ValueError
        If the path does not end in ``.npz``, an array is not finite floating point, or the
        header cannot be written as JSON.
    """
    path = os.fspath(path)
    if not str(path).endswith(".npz"):
        raise ValueError(f"a model file name must end in .npz, got {path!r}")
    if HEADER_ENTRY in arrays or set(_FORMAT_KEYS) & header.keys():
        raise ValueError(
            f"an array may not be named {HEADER_ENTRY!r}, nor a header key one of {_FORMAT_KEYS}"
        )
    for name, value in arrays.items():
        if np.asarray(value).dtype.kind != "f" or not np.isfinite(value).all():
            raise ValueError(f"array {name!r} must hold finite floating-point values")
    own = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nnscratch_version": __version__,
    }
    try:
        text = json.dumps(own | dict(header), allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the header cannot be saved as JSON: {exc}") from exc
    entries = {**arrays, HEADER_ENTRY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    with atomic_write(path) as file:
        np.savez(file, allow_pickle=False, **entries)


def load(
    path: str | os.PathLike[str],
    *,
    check: Callable[[dict[str, Any], Mapping[str, ArraySpec]], None] | None = None,
    max_bytes: int = MAX_ARRAY_BYTES,
) -> tuple[dict[str, NDArray[np.floating]], dict[str, Any]]:
    """Read a file written by :func:`save`, checking everything in it before reading the data.

    The zip directory, every entry's flags, compression and declared sizes, the JSON header
    and the ``.npy`` headers of the arrays are checked first; only then are the arrays
    allocated and read, so a file cannot make the loader allocate more than the arrays it
    declares, nor more than ``max_bytes`` in all.

    Parameters
    ----------
    path : str or path-like
    check : callable, optional
        ``check(header, declared)``, called with the decoded header and each array's declared
        shape and dtype (:class:`ArraySpec`, by name) before any array is read; it raises
        ``ValueError`` if they are not what the caller expects (e.g. not the network the
        header describes). Its message becomes a :class:`ModelFileError` naming the file.
    max_bytes : int
        The most array data a file may declare, in bytes (default :data:`MAX_ARRAY_BYTES`).

    Returns
    -------
    arrays : dict of str to ndarray
        Every array of the file, floating point and finite.
    header : dict
        The decoded JSON header, with the format's keys.

    Raises
    ------
    ModelFileError
        If anything in the file is not as :func:`save` writes it, the message naming the file
        and the part that is wrong: not a zip archive, a damaged or truncated one, an entry
        that is encrypted, compressed other than by deflate, declares sizes the file cannot
        hold, or fails its CRC; an entry that is not an array; a header that is not a JSON
        object (or is larger than :data:`MAX_HEADER_BYTES` or nested deeper than
        :data:`MAX_HEADER_DEPTH`) of a known format version; an array of Python objects (a
        pickle), one that is not floating point, one whose size disagrees with its bytes or
        values that are not finite; arrays of more than ``max_bytes`` in all; or whatever
        ``check`` refuses.
    OSError
        If the file cannot be read at all (e.g. it does not exist).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        if f.read(4) not in _ZIP_MAGICS:
            raise ModelFileError(f"{path}: not an nnscratch model file (not a zip archive)")
        f.seek(0)
        length = os.fstat(f.fileno()).st_size
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, ValueError, EOFError, struct.error) as exc:
            raise ModelFileError(f"{path}: damaged or truncated zip archive ({exc})") from exc
        except NotImplementedError as exc:  # a "version needed to extract" above 6.3
            raise ModelFileError(f"{path}: a zip archive of an unknown kind ({exc})") from exc
        with archive:
            entries = _entries(archive, path, length)
            header = _read_header(archive, entries.pop(HEADER_ENTRY), path)
            declared = {name: _npy_header(archive, info, path) for name, info in entries.items()}
            if check is not None:
                try:
                    check(header, declared)
                except ValueError as error:
                    raise ModelFileError(f"{path}: {error}") from None
            total = sum(spec.nbytes for spec in declared.values())
            if total > max_bytes:
                raise ModelFileError(
                    f"{path}: the arrays declare {_bytes(total)} in all, more than the "
                    f"{_bytes(max_bytes)} a model file may hold"
                )
            arrays = {
                name: _read_array(archive, entries[name], spec, path)
                for name, spec in declared.items()
            }
    return arrays, header


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


def _bytes(count: int) -> str:
    """A byte count for a message: ``"29.0 GiB (31138512896 bytes)"``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit} ({count} bytes)"
    return f"{count} bytes"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def _entries(archive: zipfile.ZipFile, path: str, length: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by array name, after checking the directory and each entry's
    flags, compression and declared sizes against the file (nothing is read yet)."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ModelFileError(
            f"{path}: the archive holds {len(infos)} entries, more than the {MAX_ENTRIES} a "
            "model file may hold"
        )
    names = [info.filename for info in infos]
    if len(names) != len(set(names)):
        raise ModelFileError(f"{path}: the archive holds duplicate entries")
    others = sorted(name for name in names if not name.endswith(".npy"))
    if others:
        raise ModelFileError(f"{path}: unexpected entries that are not arrays: {others}")
    entries = {info.filename.removesuffix(".npy"): info for info in infos}
    if HEADER_ENTRY not in entries:
        raise ModelFileError(f"{path}: not an nnscratch model file (no metadata entry)")
    for info in infos:
        _check_entry(info, path, length)
    return entries


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


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> dict[str, Any]:
    if info.file_size > MAX_HEADER_BYTES + _NPY_HEADER_LIMIT:
        raise ModelFileError(
            f"{path}: the metadata entry holds {info.file_size} bytes, more than the "
            f"{MAX_HEADER_BYTES} a header may hold"
        )
    spec = _npy_header(archive, info, path, name=HEADER_ENTRY)
    if spec.dtype != np.uint8 or len(spec.shape) != 1:
        raise ModelFileError(
            f"{path}: the metadata entry must be 1-D uint8 (JSON text), found {spec.dtype} of "
            f"shape {spec.shape}"
        )
    raw = _read_data(archive, info, spec, path, HEADER_ENTRY).tobytes()
    try:
        header = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise ModelFileError(
            f"{path}: the metadata is nested more than {MAX_HEADER_DEPTH} levels deep"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the metadata entry is not valid JSON ({exc})") from exc
    if _depth(header) > MAX_HEADER_DEPTH:
        raise ModelFileError(
            f"{path}: the metadata is nested more than {MAX_HEADER_DEPTH} levels deep"
        )
    _check_format(header, path)
    return header


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large for a float")
    return value


def _depth(value: Any) -> int:
    """How deeply JSON containers nest in ``value`` (a number or string: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def _check_format(header: Any, path: str) -> None:
    """Check the format's own keys, the format version first (a newer format may differ in
    everything else)."""
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{path}: not an nnscratch model file (metadata without format {FORMAT_NAME!r})"
        )
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: the file has model format version {version}, newer than this nnscratch "
            f"supports ({FORMAT_VERSION}); upgrade nnscratch: pip install --upgrade nnscratch"
        )
    if "nnscratch_version" not in header:
        raise ModelFileError(f"{path}: the metadata lacks ['nnscratch_version']")
    if not isinstance(header["nnscratch_version"], str):
        raise ModelFileError(
            f"{path}: nnscratch_version must be a string, got {header['nnscratch_version']!r}"
        )


def _npy_header(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, name: str | None = None
) -> ArraySpec:
    """Shape and dtype of an entry from its ``.npy`` header, checked against the entry's
    declared size; only the header is read. Arrays must be floating point (the header entry's
    dtype is checked by its reader), never Python objects."""
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
            if size > _NPY_HEADER_LIMIT:
                raise ValueError(f"a header of {size} bytes, more than {_NPY_HEADER_LIMIT}")
            text = fp.read(size)
            if len(text) < size:
                raise ValueError("the entry ends inside the header")
        spec = _parse_npy_header(text.decode("latin-1"), offset=8 + width + size)
    if spec.dtype.hasobject:
        raise ModelFileError(f"{where} holds Python objects (pickled data), which are never loaded")
    if name != HEADER_ENTRY and spec.dtype.kind != "f":
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


def _read_array(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, spec: ArraySpec, path: str
) -> NDArray[np.floating]:
    """Read the floating-point array declared by ``spec``; refuse values that are not finite."""
    name = info.filename.removesuffix(".npy")
    value = _read_data(archive, info, spec, path, name)
    if not np.isfinite(value).all():
        raise ModelFileError(f"{path}: array {name!r} holds NaN or infinite values")
    return value


def _read_data(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, spec: ArraySpec, path: str, name: str
) -> NDArray[Any]:
    """The entry's data as the array ``spec`` declares (allocated once, at its declared size),
    read in pieces; the entry's CRC is checked at its end."""
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
