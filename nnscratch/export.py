"""A trained model for a web page: its weights, compactly encoded, in a JavaScript file.

The page of the "Try it" chapter runs the forward pass in the reader's browser. It loads the
model with a plain ``<script>`` tag (which, unlike a request for a data file, works from
``file://`` as well as from a web server), from a file that sets one global variable::

    window.nnscratchPadModel = {"format": "nnscratch-browser-model", "format_version": 1,
      "model_file": "mnist-784-512-10-seed0.npz", "model_sha256": "9f86...",
      "sizes": [784, 512, 10], "encoding": "float16",
      "params": {"W1": ARRAY, "b1": ARRAY, ...},
      "samples": {"images": ARRAY, "labels": [7, 2, ...]}};

Each ``ARRAY`` is ``{"encoding": ..., "shape": [...], "data": BASE64}``: the values in
row-major order, as little-endian bytes, in base 64. The weight matrices use the file's
``encoding``:

- ``"float16"``: IEEE half precision, 2 bytes a weight;
- ``"int8"``: 1 byte a weight, scaled per column, ``W[i, j] = q[i, j] * scale[j]`` with ``q``
  in [-127, 127] and ``scale[j] = max_i |W[i, j]| / 127`` (the array's ``"scale"`` list), so
  each hidden unit's incoming weights keep their own range.

The biases are few and stay ``"float32"``; the sample images are ``"uint8"``. Decoded, every
number is exactly what the browser computes with (a float64), so `load_export` gives the
model the page runs, and `quantise` the same model without writing a file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_labels, check_choice
from ._files import atomic_write
from .model import MLP

__all__ = [
    "ENCODINGS",
    "FORMAT_NAME",
    "GLOBAL_NAME",
    "decode_array",
    "encode_array",
    "export_model",
    "load_export",
    "quantise",
    "script_text",
]

FORMAT_NAME = "nnscratch-browser-model"
FORMAT_VERSION = 1
GLOBAL_NAME = "nnscratchPadModel"  # the page reads window.nnscratchPadModel
ENCODINGS = ("float16", "int8")  # for the weight matrices
INT8_LEVELS = 127  # q in [-127, 127]: symmetric, so -W is encoded as -q
_BYTE_ORDER = {"float16": "<f2", "float32": "<f4", "uint8": "u1", "int8": "i1"}
_HEADER = "// A model for the browser, written by nnscratch.export: do not edit.\n"
_ASSIGNMENT = f"window.{GLOBAL_NAME} = "


def encode_array(array: ArrayLike, encoding: str) -> dict[str, Any]:
    """Encode ``array`` as the page reads it.

    Parameters
    ----------
    array : array_like
        Finite values. For ``"int8"`` a matrix, shape (rows, columns), scaled per column; for
        ``"uint8"`` integers in [0, 255].
    encoding : "float16", "int8", "float32" or "uint8"

    Returns
    -------
    dict
        ``{"encoding", "shape", "data"}`` (and ``"scale"``, one float per column, for int8).

    Raises
    ------
    ValueError
        For an unknown encoding, values that are not finite, a float16 overflow, an int8 array
        that is not a matrix, or uint8 values that are not integers in [0, 255].
    """
    if encoding not in _BYTE_ORDER:
        raise ValueError(f"encoding must be one of {sorted(_BYTE_ORDER)}, got {encoding!r}")
    arr = np.asarray(array)
    if not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"only finite values can be encoded, found {bad} NaN or infinite")
    entry: dict[str, Any] = {"encoding": encoding, "shape": list(arr.shape)}
    if encoding == "int8":
        values, entry["scale"] = _scaled_int8(arr)
    elif encoding == "uint8":
        if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() > 255)):
            raise ValueError(f"uint8 encoding needs integers in [0, 255], got dtype {arr.dtype}")
        values = arr
    else:
        with np.errstate(over="ignore"):
            values = arr.astype(_BYTE_ORDER[encoding])
        if not np.isfinite(values).all():
            raise ValueError(f"values beyond the range of {encoding}: largest |x| {abs(arr).max()}")
    raw = np.ascontiguousarray(values, dtype=_BYTE_ORDER[encoding]).tobytes()
    entry["data"] = base64.b64encode(raw).decode("ascii")
    return entry


def decode_array(entry: dict[str, Any]) -> NDArray[np.float64]:
    """The values of an `encode_array` entry, as float64: exactly what the browser decodes.

    Raises
    ------
    ValueError
        If the entry's encoding is unknown or its data does not match its shape.
    """
    encoding, shape = entry.get("encoding"), tuple(entry.get("shape", ()))
    if encoding not in _BYTE_ORDER:
        raise ValueError(f"encoding must be one of {sorted(_BYTE_ORDER)}, got {encoding!r}")
    raw = base64.b64decode(entry["data"], validate=True)
    values = np.frombuffer(raw, dtype=_BYTE_ORDER[encoding])
    expected = int(np.prod(shape, dtype=np.int64))
    if values.size != expected:
        raise ValueError(
            f"{encoding} data holds {values.size} values, shape {shape} needs {expected}"
        )
    decoded = values.astype(np.float64).reshape(shape)
    if encoding == "int8":
        scale = np.asarray(entry["scale"], dtype=np.float64)
        if len(shape) != 2 or scale.shape != shape[1:]:
            raise ValueError(f"int8 needs one scale per column of {shape}, got {scale.shape}")
        decoded *= scale
    return decoded


def quantise(model: MLP, encoding: str) -> MLP:
    """The float64 model whose weight matrices went through ``encoding`` (the page's model).

    Raises
    ------
    ValueError
        If ``encoding`` is not one of ``ENCODINGS``.
    """
    _check_encoding(encoding)
    return MLP.from_params(_decoded_params(_encoded_params(model, encoding)))


def script_text(
    model_file: str | os.PathLike[str],
    *,
    encoding: str,
    sample_images: ArrayLike | None = None,
    sample_labels: ArrayLike | None = None,
) -> str:
    """The JavaScript file's text for the model in ``model_file`` (see the module docstring).

    Parameters
    ----------
    model_file : str or path-like
        A model file written by ``MLP.save``; its SHA-256 is recorded with the weights.
    encoding : "float16" or "int8"
        Of the weight matrices.
    sample_images : array_like, shape (n, 28, 28), optional
        uint8 images the page can show (its Sample button).
    sample_labels : array_like, shape (n,), optional
        Their labels; required with ``sample_images``.

    Raises
    ------
    ValueError
        If the encoding is unknown, the file is not a valid model file, or the samples are not
        uint8 images with one label each.
    """
    _check_encoding(encoding)
    path = Path(model_file)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    model = MLP.load(path)
    content: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_file": path.name,
        "model_sha256": sha256,
        "sizes": list(model.sizes),
        "encoding": encoding,
        "params": _encoded_params(model, encoding),
    }
    if (sample_images is None) != (sample_labels is None):
        raise ValueError("sample_images and sample_labels go together: give both or neither")
    if sample_images is not None and sample_labels is not None:
        content["samples"] = _encoded_samples(sample_images, sample_labels, model.sizes[0])
    return _HEADER + _ASSIGNMENT + json.dumps(content, allow_nan=False) + ";\n"


def export_model(
    model_file: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    encoding: str,
    sample_images: ArrayLike | None = None,
    sample_labels: ArrayLike | None = None,
) -> None:
    """Write `script_text` to ``path`` (a ``.js`` file), atomically, creating its folder.

    A reader never sees a half-written file: it is written under a temporary name and then
    renamed. Parameters and errors as in `script_text`; ``path`` must end in ``.js``.
    """
    path = Path(path)
    if path.suffix != ".js":
        raise ValueError(f"the script's name must end in .js, got {str(path)!r}")
    text = script_text(
        model_file, encoding=encoding, sample_images=sample_images, sample_labels=sample_labels
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as file:
        file.write(text.encode("utf-8"))


def load_export(path: str | os.PathLike[str]) -> tuple[MLP, dict[str, Any]]:
    """Read a file written by `export_model`.

    Returns
    -------
    model : MLP
        float64, with the decoded weights: the model the page computes with.
    content : dict
        The file's object as written (``"model_sha256"``, ``"sizes"``, ``"encoding"``...),
        with ``"samples"`` decoded into ``{"images": uint8 (n, h, w), "labels": int64 (n,)}``.

    Raises
    ------
    ValueError
        Naming the file, if it is not such a script or its arrays cannot be decoded.
    """
    text = Path(path).read_text(encoding="utf-8")
    if not (text.startswith(_HEADER + _ASSIGNMENT) and text.endswith(";\n")):
        raise ValueError(f"{os.fspath(path)}: not a model script written by nnscratch.export")
    try:
        content = json.loads(text[len(_HEADER + _ASSIGNMENT) : -2])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)}: the model's JSON is damaged ({exc})") from exc
    if content.get("format") != FORMAT_NAME or content.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)}: expected format {FORMAT_NAME} version {FORMAT_VERSION}, found "
            f"{content.get('format')!r} version {content.get('format_version')!r}"
        )
    try:
        model = MLP.from_params(_decoded_params(content["params"]))
        if "samples" in content:
            images = decode_array(content["samples"]["images"]).astype(np.uint8)
            labels = np.asarray(content["samples"]["labels"], dtype=np.int64)
            content["samples"] = {"images": images, "labels": labels}
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)}: cannot decode the model ({exc})") from exc
    return model, content


def _check_encoding(encoding: str) -> None:
    check_choice(encoding, "encoding", ENCODINGS)


def _scaled_int8(matrix: NDArray[np.floating]) -> tuple[NDArray[np.int8], list[float]]:
    """``q`` and ``scale`` with ``matrix[i, j] ~ q[i, j] * scale[j]``, |error| <= scale[j] / 2."""
    if matrix.ndim != 2:
        raise ValueError(f"int8 encoding scales the columns of a matrix, got shape {matrix.shape}")
    matrix = matrix.astype(np.float64)
    largest = np.abs(matrix).max(axis=0, initial=0.0)
    scale = np.where(largest > 0, largest / INT8_LEVELS, 1.0)  # a zero column stays zero
    q = np.clip(np.rint(matrix / scale), -INT8_LEVELS, INT8_LEVELS).astype(np.int8)
    return q, scale.tolist()


def _encoded_samples(images: ArrayLike, labels: ArrayLike, pixels: int) -> dict[str, Any]:
    """uint8 images of ``pixels`` pixels each and their labels, for the page's Sample button."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or np.prod(images.shape[1:]) != pixels:
        raise ValueError(
            f"sample_images must be uint8 images (n, h, w) of h * w = {pixels} pixels, "
            f"got {images.dtype} {images.shape}"
        )
    labels = as_labels(labels, n=len(images), name="sample_labels")
    return {"images": encode_array(images, "uint8"), "labels": labels.tolist()}


def _encoded_params(model: MLP, encoding: str) -> dict[str, dict[str, Any]]:
    """The weight matrices in ``encoding``, the biases in float32 (few, and exact)."""
    return {
        name: encode_array(value, encoding if name.startswith("W") else "float32")
        for name, value in model.params.items()
    }


def _decoded_params(encoded: dict[str, dict[str, Any]]) -> dict[str, NDArray[np.float64]]:
    return {name: decode_array(entry) for name, entry in encoded.items()}
