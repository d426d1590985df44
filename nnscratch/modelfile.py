"""Model files: named floating-point arrays and a JSON header in one ``.npz``, without pickle.

A model file is an uncompressed zip archive (``numpy.savez``) with one ``.npy`` entry per
array and an entry ``metadata``: the UTF-8 bytes of a JSON object, the *header*, stored as a
1-D ``uint8`` array. The header always holds the format's name and version and the version of
nnscratch that wrote it; the rest is the caller's. :meth:`nnscratch.model.MLP.save` writes its
weights ``W1``, ``b1``, ``W2``, ... and describes them in the header::

    {"format": "nnscratch-mlp", "format_version": 1, "nnscratch_version": "0.1.0",
     "sizes": [784, 512, 10], "dtype": "float32", "dropout": 0.1, "activation": "relu",
     "metadata": {...}}     # the model's free-form metadata: recipe, preprocessing, metrics

This module knows the container, not the model: :func:`load` checks everything a file must
be to be safe to read (a zip of ``.npy`` arrays, no pickled objects, sizes that agree with the
bytes, finite floats, a valid JSON header of a known format version), and
:meth:`nnscratch.model.MLP.load` checks that the arrays are the network the header describes.
Loading reads arrays only (``allow_pickle=False``), so it never executes code from the file.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import __version__
from ._files import atomic_write

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "HEADER_ENTRY", "ModelFileError", "load", "save"]

FORMAT_NAME = "nnscratch-mlp"
FORMAT_VERSION = 1
HEADER_ENTRY = "metadata"
"""The name of the entry holding the JSON header (for the format's first version's sake)."""

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries; an empty zip
_FORMAT_KEYS = ("format", "format_version", "nnscratch_version")


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


def load(path: str | os.PathLike[str]) -> tuple[dict[str, NDArray[np.floating]], dict[str, Any]]:
    """Read a file written by :func:`save`, checking everything in it.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    arrays : dict of str to ndarray
        Every array of the file, floating point and finite.
    header : dict
        The decoded JSON header, with the format's keys.

    Raises
    ------
    ModelFileError
        If the file is not a zip archive, is damaged or truncated, holds an entry that is not an
        array, lacks a valid header, has a newer format version, or holds an array of Python
        objects (a pickle), an array that is not floating point, one whose size disagrees with
        its bytes, or values that are not finite.
    OSError
        If the file cannot be read at all (e.g. it does not exist).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        if f.read(4) not in _ZIP_MAGICS:
            raise ModelFileError(f"{path}: not an nnscratch model file (not a zip archive)")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                return _read(archive, path)
        except zipfile.BadZipFile as exc:
            raise ModelFileError(f"{path}: damaged or truncated zip archive ({exc})") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def _read(
    archive: zipfile.ZipFile, path: str
) -> tuple[dict[str, NDArray[np.floating]], dict[str, Any]]:
    entries = archive.namelist()
    if len(entries) != len(set(entries)):
        raise ModelFileError(f"{path}: the archive holds duplicate entries")
    others = sorted(entry for entry in entries if not entry.endswith(".npy"))
    if others:
        raise ModelFileError(f"{path}: unexpected entries that are not arrays: {others}")
    names = sorted(entry.removesuffix(".npy") for entry in entries)
    if HEADER_ENTRY not in names:
        raise ModelFileError(f"{path}: not an nnscratch model file (no metadata entry)")
    header = _read_header(archive, path)
    arrays = {name: _read_array(archive, path, name) for name in names if name != HEADER_ENTRY}
    return arrays, header


def _read_header(archive: zipfile.ZipFile, path: str) -> dict[str, Any]:
    raw = _read_entry(archive, path, HEADER_ENTRY, np.dtype(np.uint8))
    if raw.ndim != 1:
        raise ModelFileError(f"{path}: the metadata entry must be 1-D, got shape {raw.shape}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the metadata entry is not valid JSON ({exc})") from exc
    _check_format(header, path)
    return header


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


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


def _read_array(archive: zipfile.ZipFile, path: str, name: str) -> NDArray[np.floating]:
    """Read the floating-point array ``name``; refuse values that are not finite."""
    value = _read_entry(archive, path, name, None)
    if not np.isfinite(value).all():
        raise ModelFileError(f"{path}: array {name!r} holds NaN or infinite values")
    return value


def _read_entry(
    archive: zipfile.ZipFile, path: str, name: str, dtype: np.dtype | None
) -> NDArray[Any]:
    """Read entry ``name`` after checking its ``.npy`` header: never objects (pickles), the
    given ``dtype`` (None: any floating point), and as many bytes as its shape needs."""
    shape, found, data_bytes = _npy_header(archive, path, name)
    if found.hasobject:
        raise ModelFileError(
            f"{path}: array {name!r} holds Python objects (pickled data), which are never loaded"
        )
    if (found != dtype) if dtype is not None else (found.kind != "f"):
        want = dtype if dtype is not None else "floating point"
        raise ModelFileError(
            f"{path}: array {name!r} must be {want}, found {found} of shape {shape}"
        )
    needed = math.prod(shape) * found.itemsize
    if data_bytes != needed:
        raise ModelFileError(
            f"{path}: array {name!r} holds {data_bytes} bytes of data, not the "
            f"{needed} its shape {shape} needs"
        )
    try:
        with archive.open(f"{name}.npy") as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: array {name!r} cannot be read ({exc})") from exc


def _npy_header(
    archive: zipfile.ZipFile, path: str, name: str
) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data size of an entry, from its ``.npy`` header (the data is not read)."""
    entry = f"{name}.npy"
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    try:
        with archive.open(entry) as fp:
            version = fmt.read_magic(fp)
            if version not in readers:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = readers[version](fp)
            return shape, dtype, archive.getinfo(entry).file_size - fp.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: array {name!r} has an invalid .npy header ({exc})") from exc
