"""Model files: named floating-point arrays and a JSON header in one ``.npz``, without pickle.

A model file is an uncompressed zip archive (``numpy.savez``) with one ``.npy`` entry per
array and an entry ``metadata``: the UTF-8 bytes of a JSON object, the *header*, stored as a
1-D ``uint8`` array. The header always holds the format's name and version and the version of
nnscratch that wrote it; the rest is the caller's. :meth:`nnscratch.model.MLP.save` writes its
weights ``W1``, ``b1``, ``W2``, ... and describes them in the header::

    {"format": "nnscratch-mlp", "format_version": 1, "nnscratch_version": "0.1.0",
     "sizes": [784, 512, 10], "dtype": "float32", "dropout": 0.1, "activation": "relu",
     "metadata": {...}}     # the model's free-form metadata: recipe, preprocessing, metrics

This module knows the format, not the model: :func:`load` is the one gate a file passes.
It checks everything a file must be to be safe to read, from the outside in, and reads data
only after the parts that describe it: the zip directory and each entry's flags, compression
and declared sizes; the JSON header (bounded in size and depth, a known format version); each
array's ``.npy`` header, and the caller's ``check`` of the declared shapes. Only then are the
arrays allocated, at their declared sizes, and read (the zip's CRC checked at each entry's
end, the values finite). Reading the zip and the ``.npy`` headers without trusting them is
:mod:`nnscratch.archive`'s job, whose :class:`ModelFileError` (raised for whatever is wrong,
naming the file and the part) and :class:`ArraySpec` are importable from here too.
:meth:`nnscratch.model.MLP.load` passes a ``check`` that the arrays are the network the header
describes. Loading never unpickles: arrays are raw bytes read into arrays the loader made.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import __version__
from ._files import atomic_write
from .archive import NPY_HEADER_LIMIT, ArraySpec, ModelFileError, entries, npy_header, read_data

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
            found = entries(archive, path, length, required=HEADER_ENTRY, max_entries=MAX_ENTRIES)
            header = _read_header(archive, found.pop(HEADER_ENTRY), path)
            declared = {name: npy_header(archive, info, path) for name, info in found.items()}
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
                name: _read_array(archive, found[name], spec, path)
                for name, spec in declared.items()
            }
    return arrays, header


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


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> dict[str, Any]:
    if info.file_size > MAX_HEADER_BYTES + NPY_HEADER_LIMIT:
        raise ModelFileError(
            f"{path}: the metadata entry holds {info.file_size} bytes, more than the "
            f"{MAX_HEADER_BYTES} a header may hold"
        )
    spec = npy_header(archive, info, path, name=HEADER_ENTRY, floating=False)
    if spec.dtype != np.uint8 or len(spec.shape) != 1:
        raise ModelFileError(
            f"{path}: the metadata entry must be 1-D uint8 (JSON text), found {spec.dtype} of "
            f"shape {spec.shape}"
        )
    raw = read_data(archive, info, spec, path, HEADER_ENTRY).tobytes()
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


def _read_array(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, spec: ArraySpec, path: str
) -> NDArray[np.floating]:
    """Read the floating-point array declared by ``spec``; refuse values that are not finite."""
    name = info.filename.removesuffix(".npy")
    value = read_data(archive, info, spec, path, name)
    if not np.isfinite(value).all():
        raise ModelFileError(f"{path}: array {name!r} holds NaN or infinite values")
    return value
