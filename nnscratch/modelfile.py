"""Model files: one ``.npz`` holding the weights and a JSON description, loaded without pickle.

A model file is an uncompressed zip archive (``numpy.savez``) with one ``.npy`` entry per
parameter (``W1``, ``b1``, ``W2``, ...) and an entry ``metadata``: the UTF-8 bytes of a JSON
object, stored as a 1-D ``uint8`` array::

    {"format": "nnscratch-mlp", "format_version": 1, "nnscratch_version": "0.1.0",
     "sizes": [784, 512, 10], "dtype": "float32", "dropout": 0.1,
     "metadata": {...}}     # the model's free-form metadata: recipe, preprocessing, metrics

Loading reads arrays only (``allow_pickle=False``), so it never executes code from the file, and
it refuses anything that does not match the description exactly.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import zipfile
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .model import DTYPES, MLP

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFileError", "load_model", "save_model"]

FORMAT_NAME = "nnscratch-mlp"
FORMAT_VERSION = 1
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries; an empty zip
_HEADER_KEYS = {
    "format",
    "format_version",
    "nnscratch_version",
    "sizes",
    "dtype",
    "dropout",
    "metadata",
}


class ModelFileError(ValueError):
    """A file that is not a valid nnscratch model file; the message says what is wrong."""


def save_model(model: MLP, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` as one ``.npz`` file, atomically.

    The file is first written next to ``path`` under a temporary name and then renamed over
    ``path``, so a reader never sees a half-written file and a failure leaves ``path`` as it was.

    Parameters
    ----------
    model : MLP
        Its ``params``, ``sizes``, ``dtype``, ``dropout`` and ``metadata`` are saved. The metadata
        must be JSON-serialisable (NumPy scalars and arrays are converted to numbers and lists;
        tuples come back as lists); NaN and infinity are refused.
    path : str or path-like
        Must end in ``.npz`` (nothing is appended to the name you give).

    Raises
    ------
    ValueError
        If the path does not end in ``.npz``, the model's parameters do not match its sizes and
        dtype or are not finite, or the metadata cannot be written as JSON.
    """
    path = os.fspath(path)
    if not str(path).endswith(".npz"):
        raise ValueError(f"a model file name must end in .npz, got {path!r}")
    from . import __version__

    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nnscratch_version": __version__,
        "sizes": [int(size) for size in model.sizes],
        "dtype": np.dtype(model.dtype).name,
        "dropout": float(model.dropout),
        "metadata": model.metadata,
    }
    arrays = _checked_model_params(model, _expected_arrays(header))
    try:
        text = json.dumps(header, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model.metadata cannot be saved as JSON: {exc}") from exc
    arrays["metadata"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    _write_atomically(path, arrays)


def load_model(path: str | os.PathLike[str]) -> MLP:
    """Read a model written by `save_model`, checking everything in the file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    MLP
        With the saved weights, dropout and ``metadata``; it predicts exactly as the saved model.

    Raises
    ------
    ModelFileError
        If the file is not a zip archive, is damaged or truncated, lacks a valid metadata entry,
        has a newer format version, misses an array or holds an unexpected one, holds an array of
        the wrong shape or dtype, an object array (a pickle), or weights that are not finite.
    OSError
        If the file cannot be read at all (e.g. it does not exist).
    """
    path = os.fspath(path)
    # The file is opened here, not by np.load, so it is closed even if the archive is damaged.
    with open(path, "rb") as f:
        if f.read(4) not in _ZIP_MAGICS:
            raise ModelFileError(f"{path}: not an nnscratch model file (not a zip archive)")
        f.seek(0)
        try:
            with np.load(f, allow_pickle=False) as npz:
                return _read_model(npz, path)
        except zipfile.BadZipFile as exc:
            raise ModelFileError(f"{path}: damaged or truncated zip archive ({exc})") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def _expected_arrays(header: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The names, shapes and dtype of the parameter arrays that ``header`` describes."""
    sizes, dtype = header["sizes"], np.dtype(header["dtype"])
    expected = {}
    for layer in range(1, len(sizes)):
        expected[f"W{layer}"] = ((sizes[layer - 1], sizes[layer]), dtype)
        expected[f"b{layer}"] = ((sizes[layer],), dtype)
    return expected


def _checked_model_params(
    model: MLP, expected: dict[str, tuple[tuple[int, ...], np.dtype]]
) -> dict[str, NDArray]:
    if set(model.params) != set(expected):
        raise ValueError(
            f"model.params must be named {sorted(expected)} for sizes {list(model.sizes)}, "
            f"got {sorted(model.params)}"
        )
    arrays = {}
    for name, (shape, dtype) in expected.items():
        value = np.asarray(model.params[name])
        if value.shape != shape or value.dtype != dtype:
            raise ValueError(
                f"model.params[{name!r}] must be {dtype} of shape {shape}, "
                f"got {value.dtype} of shape {value.shape}"
            )
        if not np.isfinite(value).all():
            raise ValueError(f"model.params[{name!r}] holds NaN or infinite values")
        arrays[name] = value
    return arrays


def _write_atomically(path: str, arrays: dict[str, NDArray]) -> None:
    """``np.savez`` into a fresh temporary file beside ``path``, then rename it to ``path``."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_model(npz: np.lib.npyio.NpzFile, path: str) -> MLP:
    entries = npz.zip.namelist()
    if len(entries) != len(set(entries)):
        raise ModelFileError(f"{path}: the archive holds duplicate entries")
    others = sorted(entry for entry in entries if not entry.endswith(".npy"))
    if others:
        raise ModelFileError(f"{path}: unexpected entries that are not arrays: {others}")
    names = {entry.removesuffix(".npy") for entry in entries}
    if "metadata" not in names:
        raise ModelFileError(f"{path}: not an nnscratch model file (no metadata entry)")
    header = _read_header(npz, path)
    expected = _expected_arrays(header)
    missing = sorted(expected.keys() - names)
    extra = sorted(names - expected.keys() - {"metadata"})
    if missing or extra:
        raise ModelFileError(
            f"{path}: for layer sizes {header['sizes']} the arrays must be {sorted(expected)}; "
            f"missing: {missing or 'none'}, unexpected: {extra or 'none'}"
        )
    params = {name: _read_array(npz, path, name, *spec) for name, spec in expected.items()}
    model = MLP.from_params(params, dropout=header["dropout"])
    model.metadata = header["metadata"]
    return model


def _read_header(npz: np.lib.npyio.NpzFile, path: str) -> dict[str, Any]:
    raw = _read_array(npz, path, "metadata", None, np.dtype(np.uint8))
    if raw.ndim != 1:
        raise ModelFileError(f"{path}: the metadata entry must be 1-D, got shape {raw.shape}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the metadata entry is not valid JSON ({exc})") from exc
    _check_header(header, path)
    return header


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _check_header(header: Any, path: str) -> None:
    """Check the metadata against the schema, the format version first."""

    def fail(message: str) -> ModelFileError:
        return ModelFileError(f"{path}: {message}")

    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise fail(f"not an nnscratch model file (metadata without format {FORMAT_NAME!r})")
    version = header.get("format_version")
    if not _is_int(version) or version < 1:
        raise fail(f"format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise fail(
            f"the file has model format version {version}, newer than this nnscratch supports "
            f"({FORMAT_VERSION}); upgrade nnscratch: pip install --upgrade nnscratch"
        )
    missing = sorted(_HEADER_KEYS - header.keys())
    if missing:
        raise fail(f"the metadata lacks {missing}")
    sizes = header["sizes"]
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(_is_int(s) and s >= 1 for s in sizes)
    ):
        raise fail(f"sizes must be a list of at least two positive integers, got {sizes!r}")
    if header["dtype"] not in [dtype.name for dtype in DTYPES]:
        raise fail(f"dtype must be 'float32' or 'float64', got {header['dtype']!r}")
    dropout = header["dropout"]
    if not isinstance(dropout, int | float) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise fail(f"dropout must be a number in [0, 1), got {dropout!r}")
    if not isinstance(header["metadata"], dict):
        raise fail(f"metadata must be a JSON object, got {type(header['metadata']).__name__}")
    if not isinstance(header["nnscratch_version"], str):
        raise fail(f"nnscratch_version must be a string, got {header['nnscratch_version']!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_array(
    npz: np.lib.npyio.NpzFile,
    path: str,
    name: str,
    shape: tuple[int, ...] | None,
    dtype: np.dtype,
) -> NDArray:
    """Read entry ``name`` after checking its header (dtype, and shape unless None); no pickles."""
    found_shape, found_dtype, data_bytes = _npy_header(npz, path, name)
    if found_dtype.hasobject:
        raise ModelFileError(
            f"{path}: array {name!r} holds Python objects (pickled data), which are never loaded"
        )
    if found_dtype != dtype or (shape is not None and found_shape != shape):
        want = f"{dtype} of shape {shape}" if shape is not None else str(dtype)
        raise ModelFileError(
            f"{path}: array {name!r} must be {want}, found {found_dtype} of shape {found_shape}"
        )
    if data_bytes != math.prod(found_shape) * found_dtype.itemsize:
        raise ModelFileError(
            f"{path}: array {name!r} holds {data_bytes} bytes of data, not the "
            f"{math.prod(found_shape) * found_dtype.itemsize} its shape {found_shape} needs"
        )
    try:
        value = npz[name]
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: array {name!r} cannot be read ({exc})") from exc
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise ModelFileError(f"{path}: array {name!r} holds NaN or infinite values")
    return value


def _npy_header(npz: np.lib.npyio.NpzFile, path: str, name: str) -> tuple[tuple, np.dtype, int]:
    """Shape, dtype and data size of an entry, from its ``.npy`` header (the data is not read)."""
    entry = f"{name}.npy"
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    try:
        with npz.zip.open(entry) as fp:
            version = fmt.read_magic(fp)
            if version not in readers:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = readers[version](fp)
            return shape, dtype, npz.zip.getinfo(entry).file_size - fp.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: array {name!r} has an invalid .npy header ({exc})") from exc
