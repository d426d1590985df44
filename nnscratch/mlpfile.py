"""What a model file of an MLP must hold: a header that describes a network, and its arrays.

:mod:`nnscratch.modelfile` knows the container, named arrays and a JSON header in one
``.npz``, and checks everything a file must be to be safe to read. This module knows what
the header and the arrays of a multilayer perceptron must be: the header holds the layer
sizes, the dtype, the dropout, the activation and the model's free-form metadata
(:data:`FILE_KEYS`), and the arrays are ``W1``, ``b1``, ``W2``, ... of the shapes those
sizes make, in that dtype. :meth:`nnscratch.model.MLP.save` writes a model with :func:`save`
and :meth:`~nnscratch.model.MLP.load` reads one with :func:`load`, which checks the header
and the declared arrays before any array is read.

The dtypes and activations a model may have (``DTYPE_NAMES`` and ``ACTIVATIONS`` of
:mod:`nnscratch.architecture`) are passed in by :meth:`~nnscratch.model.MLP.load`: this
module checks a file against what it is told a model may be.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import modelfile
from ._checks import check_choice, check_fraction, check_layer_sizes

Floats = NDArray[np.floating]

FILE_KEYS = ("sizes", "dtype", "dropout", "metadata")
"""The keys every MLP's header holds (``activation`` too, in files written since leaky ReLU)."""
MAX_FILE_LAYERS = (modelfile.MAX_ENTRIES - 1) // 2
"""The most layers a model file can describe (two arrays each, and the header)."""
METADATA_TYPES: Mapping[str, type | tuple[type, ...]] = MappingProxyType(
    {
        "dataset": str,
        "seed": int,
        "training_seconds": (int, float),
        "recipe": dict,
        "preprocessing": dict,
        "history": dict,
        "metrics": dict,
    }
)
"""The JSON types of the :attr:`~nnscratch.model.MLP.metadata` entries nnscratch writes,
checked by :func:`load` so that their readers (the command line, the book) get what they
expect."""


def check_file(
    header: dict[str, Any],
    arrays: Mapping[str, Any],
    *,
    dtypes: Sequence[str],
    activations: Sequence[str],
) -> None:
    """Check a model file's header and its declared arrays, before the arrays are read.

    Parameters
    ----------
    header : dict
        The decoded JSON header (see :func:`check_header`).
    arrays : mapping of str to anything with ``shape`` and ``dtype``
        The arrays the file declares (:class:`nnscratch.modelfile.ArraySpec`).
    dtypes, activations : sequence of str
        The dtype names and the activations a model may have.

    Raises
    ------
    ValueError
        Saying what is wrong.
    """
    check_header(header, dtypes=dtypes, activations=activations)
    check_arrays(arrays, header)


def check_header(
    header: dict[str, Any], *, dtypes: Sequence[str], activations: Sequence[str]
) -> None:
    """Check the model's part of a model file's header: ValueError for what is wrong.

    It must hold the keys of :data:`FILE_KEYS`: layer ``sizes`` (at most
    :data:`MAX_FILE_LAYERS` layers, and no more parameters than a model file may hold), a
    ``dtype`` among ``dtypes``, a ``dropout`` in [0, 1) and a ``metadata`` object whose entries
    have the types of :data:`METADATA_TYPES`; and an ``activation`` among ``activations``, if
    any (files from before leaky ReLU have none).
    """
    missing = [key for key in FILE_KEYS if key not in header]
    if missing:
        raise ValueError(f"the metadata lacks {missing}")
    sizes = header["sizes"]
    if not isinstance(sizes, list):
        raise ValueError(f"sizes must be a list of layer widths, got {sizes!r:.80}")
    if len(sizes) > MAX_FILE_LAYERS + 1:
        raise ValueError(
            f"sizes lists {len(sizes)} widths; a model file holds at most {MAX_FILE_LAYERS} layers"
        )
    check_layer_sizes(sizes)
    check_choice(header["dtype"], "dtype", dtypes)
    parameters = sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    size = parameters * np.dtype(header["dtype"]).itemsize
    if size > modelfile.MAX_ARRAY_BYTES:
        raise ValueError(
            f"sizes {sizes} make a network of {parameters:,} parameters ({size / 2**30:.1f} GiB "
            f"in {header['dtype']}), more than the {modelfile.MAX_ARRAY_BYTES / 2**30:.0f} GiB a "
            "model file may hold"
        )
    check_fraction(header["dropout"], "dropout")
    metadata = header["metadata"]
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    for key, kind in METADATA_TYPES.items():
        value = metadata.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(
                f"metadata[{key!r}] must be {names}, got {type(value).__name__} {value!r:.80}"
            )
    check_choice(header.get("activation", "relu"), "activation", activations)


def check_arrays(arrays: Mapping[str, Any], header: dict[str, Any]) -> None:
    """Check that ``arrays`` (anything with ``shape`` and ``dtype``: arrays, or the specs a
    model file declares) are the parameters of the network ``header`` describes."""
    sizes, dtype = header["sizes"], np.dtype(header["dtype"])
    expected: dict[str, tuple[int, ...]] = {}
    for layer in range(1, len(sizes)):
        expected[f"W{layer}"] = (sizes[layer - 1], sizes[layer])
        expected[f"b{layer}"] = (sizes[layer],)
    missing, extra = sorted(expected.keys() - arrays.keys()), sorted(arrays.keys() - expected)
    if missing or extra:
        raise ValueError(
            f"for layer sizes {sizes} the arrays must be {sorted(expected)}; "
            f"missing: {missing or 'none'}, unexpected: {extra or 'none'}"
        )
    for name, shape in expected.items():
        value = arrays[name]
        if value.shape != shape or value.dtype != dtype:
            raise ValueError(
                f"array {name!r} must be {dtype} of shape {shape}, "
                f"found {value.dtype} of shape {value.shape}"
            )


def save(
    path: str | os.PathLike[str], params: Mapping[str, Floats], header: dict[str, Any]
) -> None:
    """Write a model's ``params`` and ``header`` to the model file ``path``, atomically.

    Parameters
    ----------
    path : str or path-like
        Must end in ``.npz``.
    params : mapping of str to ndarray
        ``W1``, ``b1``, ... : ``W_l`` of shape ``(sizes[l-1], sizes[l])``, ``b_l`` of shape
        ``(sizes[l],)``, finite, in the header's dtype.
    header : dict
        The keys of :data:`FILE_KEYS` and ``activation``; ``metadata`` must be
        JSON-serialisable (see :func:`nnscratch.modelfile.save`).

    Raises
    ------
    ValueError
        If ``params`` are not the network ``header`` describes, or :func:`nnscratch.modelfile.save`
        refuses the path, the arrays or the header.
    """
    try:
        check_arrays(params, header)
    except ValueError as error:
        raise ValueError(f"cannot save the model's parameters: {error}") from None
    modelfile.save(path, params, header)


def load(
    path: str | os.PathLike[str], *, dtypes: Sequence[str], activations: Sequence[str]
) -> tuple[dict[str, Floats], dict[str, Any]]:
    """Read a model file written by :func:`save`, checking its header and declared arrays
    (:func:`check_file`) before reading them.

    Parameters
    ----------
    path : str or path-like
    dtypes, activations : sequence of str
        The dtype names and the activations a model may have.

    Returns
    -------
    arrays : dict of str to ndarray
        ``W1``, ``b1``, ... as :func:`check_arrays` requires.
    header : dict
        With an ``activation`` in any case: ``"relu"`` for a file from before leaky ReLU.

    Raises
    ------
    nnscratch.modelfile.ModelFileError
        If the file is not a valid model file, or its header does not describe a network or
        not the one its arrays make.
    OSError
        If the file cannot be read at all.
    """

    def check(header: dict[str, Any], arrays: Mapping[str, Any]) -> None:
        check_file(header, arrays, dtypes=dtypes, activations=activations)

    arrays, header = modelfile.load(path, check=check)
    header.setdefault("activation", "relu")  # files from before leaky ReLU: ReLU
    return arrays, header
