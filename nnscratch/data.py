"""The data sets: MNIST and Fashion-MNIST, found on disk or downloaded, always verified, and
their preparation as the network's input.

The registry pins each data set's files by the SHA-256 of their decompressed content and names
its mirrors and its classes (:data:`CLASSES`). The files are IDX (:mod:`nnscratch.idx`, whose
``read_idx`` and ``write_idx`` are importable from here too); :mod:`nnscratch.downloads`
fetches them.

:func:`load_mnist` and :func:`load_fashion_mnist` look for each of the four files, as ``NAME``
or ``NAME.gz``, in these folders, in order:

1. the ``data_dir`` argument;
2. ``$NNSCRATCH_DATA_DIR/mnist`` (resp. ``fashion-mnist``);
3. ``/usr/share/datasets/mnist`` (resp. ``fashion-mnist``), where Debian's
   ``dataset-fashion-mnist`` package installs its files (:data:`SYSTEM_DATA_DIR`);
4. the per-user cache, ``pooch.os_cache("nnscratch")/mnist`` (``$XDG_CACHE_HOME`` is respected).

What is missing is downloaded into the cache, trying each mirror in turn
(:data:`MNIST_MIRRORS`, :data:`FASHION_MNIST_MIRRORS`, or the ``mirrors=`` argument). Every file,
found or downloaded, is checked against the pinned SHA-256 of its *decompressed* bytes.

:func:`preprocess` turns images into the network's input rows, and
:func:`train_validation_split` holds out a seeded validation set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import check_int
from .downloads import ChecksumError, cache_folder, download_missing, read_verified
from .idx import IDXFormatError, parse_idx, read_idx, write_idx

__all__ = [
    "CLASSES",
    "DATA_DIR_VARIABLE",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_SHA256",
    "MNIST_CLASSES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "SYSTEM_DATA_DIR",
    "ChecksumError",
    "DataNotFoundError",
    "Dataset",
    "IDXFormatError",
    "load",
    "load_fashion_mnist",
    "load_mnist",
    "locate_files",
    "preprocess",
    "read_idx",
    "train_validation_split",
    "write_idx",
]

PathLike = str | os.PathLike[str]


class DataNotFoundError(FileNotFoundError):
    """A data set's files are neither on disk nor downloadable (the message says what to do)."""


#: MNIST's class names, index = label: the digits.
MNIST_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
#: Fashion-MNIST's class names, index = label.
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
#: The class names of each data set, index = label, by data set name; these are the data sets.
CLASSES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_MNIST_CLASSES}
)

# Dataset field -> file name, in the order the files are loaded.
_FIELDS = (
    ("x_train", "train-images-idx3-ubyte"),
    ("y_train", "train-labels-idx1-ubyte"),
    ("x_test", "t10k-images-idx3-ubyte"),
    ("y_test", "t10k-labels-idx1-ubyte"),
)


def _pinned(**digests: str) -> Mapping[str, str]:
    """File name -> SHA-256, each digest given by the :class:`Dataset` field its file fills."""
    return MappingProxyType({fname: digests[field] for field, fname in _FIELDS})


#: SHA-256 of the decompressed files (the canonical MNIST bytes), by file name without ``.gz``.
MNIST_SHA256: Mapping[str, str] = _pinned(
    x_train="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    y_train="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    x_test="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    y_test="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
)
#: SHA-256 of Fashion-MNIST's decompressed files, by file name without ``.gz``.
FASHION_MNIST_SHA256: Mapping[str, str] = _pinned(
    x_train="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    y_train="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    x_test="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    y_test="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
)

#: MNIST's download mirrors, tried in turn; a file's URL is the base followed by ``NAME.gz``.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: Fashion-MNIST's download mirror (its authors' bucket).
FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

#: The environment variable naming a folder with ``mnist/`` and ``fashion-mnist/`` inside.
DATA_DIR_VARIABLE = "NNSCRATCH_DATA_DIR"
#: Where system packages (Debian's ``dataset-fashion-mnist``) put data sets.
SYSTEM_DATA_DIR = Path("/usr/share/datasets")


# --------------------------------------------------------------------------- data sets


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled image data set split into training and test sets.

    Attributes
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``.
    x_train : ndarray of uint8, shape (n_train, 28, 28)
        Training images, pixel values 0 (background) to 255.
    y_train : ndarray of uint8, shape (n_train,)
        Training labels, 0 to 9.
    x_test : ndarray of uint8, shape (n_test, 28, 28)
        Test images.
    y_test : ndarray of uint8, shape (n_test,)
        Test labels.
    """

    name: str
    x_train: NDArray[np.uint8]
    y_train: NDArray[np.uint8]
    x_test: NDArray[np.uint8]
    y_test: NDArray[np.uint8]

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, index = label (see :data:`CLASSES`)."""
        return CLASSES[self.name]

    def __repr__(self) -> str:
        arrays = ", ".join(
            f"{field}={getattr(self, field).dtype}{getattr(self, field).shape}"
            for field, _ in _FIELDS
        )
        return f"Dataset(name={self.name!r}, {arrays})"


def load(
    name: str,
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> Dataset:
    """Load the data set ``name``, a key of :data:`CLASSES` (``ValueError`` for another).

    :func:`load_mnist` and :func:`load_fashion_mnist` name it for you; see them for the
    parameters, the return value and the errors (the default mirrors are the data set's).
    """
    paths = locate_files(name, data_dir, download=download, mirrors=mirrors)
    pinned, _ = _registry(name)
    arrays = {}
    for field, fname in _FIELDS:
        source = os.fspath(paths[fname])
        content = read_verified(paths[fname], pinned[fname], source=source)
        arrays[field] = parse_idx(content, source=source)
    for split in ("train", "test"):
        _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"], split=split, paths=paths)
    return Dataset(name, **arrays)


def load_mnist(
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> Dataset:
    """Load MNIST: 60,000 training and 10,000 test images of handwritten digits, verified.

    Parameters
    ----------
    data_dir : str or path-like, optional
        A folder holding the four files (``train-images-idx3-ubyte`` etc., raw or ``.gz``),
        searched first; see the module documentation for the other folders.
    download : bool
        Download missing files into the per-user cache. If False, raise instead.
    mirrors : sequence of str, optional
        Base URLs to download from, tried in turn; default :data:`MNIST_MIRRORS`.

    Returns
    -------
    Dataset
        uint8 images of shape (n, 28, 28) and uint8 labels of shape (n,).

    Raises
    ------
    DataNotFoundError
        If files are missing and cannot be downloaded; the message lists the folders searched
        and how to provide the files.
    ChecksumError
        If a file's decompressed content does not have the pinned SHA-256.
    IDXFormatError
        If a file is not valid IDX or does not hold (n, 28, 28) images / (n,) labels 0-9.
    """
    return load("mnist", data_dir, download=download, mirrors=mirrors)


def load_fashion_mnist(
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> Dataset:
    """Load Fashion-MNIST: 28 x 28 pictures of clothes in ten classes, in MNIST's format.

    Same parameters, return value and errors as :func:`load_mnist`; the default mirrors are
    :data:`FASHION_MNIST_MIRRORS` and the class names :data:`FASHION_MNIST_CLASSES`.
    """
    return load("fashion-mnist", data_dir, download=download, mirrors=mirrors)


def locate_files(
    name: str = "mnist",
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Find a data set's four files, downloading (and verifying) the missing ones.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
        The data set.
    data_dir, download, mirrors
        As for :func:`load_mnist`.

    Returns
    -------
    dict of str to Path
        File name without ``.gz`` -> the file found (raw or gzip). Files found on disk are
        not verified here; :func:`load_mnist` verifies every file it reads.
    """
    pinned, default_mirrors = _registry(name)
    folders = _local_folders(name, data_dir)
    paths = {fname: _find(fname, folders) for fname in pinned}
    if (found := _complete(paths)) is not None:
        return found
    cache = cache_folder(name)
    folders.append(cache)
    paths = {fname: path or _find(fname, [cache]) for fname, path in paths.items()}
    if mirrors is None:
        mirrors = default_mirrors
    mirrors = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
    failures = []
    if download and not all(paths.values()):
        failures = download_missing(paths, cache, mirrors, pinned)
    if (found := _complete(paths)) is not None:
        return found
    missing = [fname for fname, path in paths.items() if path is None]
    raise DataNotFoundError(
        _not_found_message(name, missing, folders, mirrors, download=download, failures=failures)
    )


def _complete(paths: Mapping[str, Path | None]) -> dict[str, Path] | None:
    """``paths`` if every file was found, else None."""
    found = {fname: path for fname, path in paths.items() if path is not None}
    return found if len(found) == len(paths) else None


def _registry(name: str) -> tuple[Mapping[str, str], tuple[str, ...]]:
    """A data set's pinned digests and default mirrors (read at call time: tests patch them)."""
    if name == "mnist":
        return MNIST_SHA256, MNIST_MIRRORS
    if name == "fashion-mnist":
        return FASHION_MNIST_SHA256, FASHION_MNIST_MIRRORS
    raise ValueError(
        f"unknown data set: expected {' or '.join(map(repr, CLASSES))}, found {name!r}"
    )


def _check_split(x: np.ndarray, y: np.ndarray, *, split: str, paths: Mapping[str, Path]) -> None:
    """Check that images and labels of one split have the shapes and values of MNIST."""
    prefix = "train" if split == "train" else "t10k"
    x_path, y_path = paths[f"{prefix}-images-idx3-ubyte"], paths[f"{prefix}-labels-idx1-ubyte"]
    if x.dtype != np.uint8 or x.shape[1:] != (28, 28):
        raise IDXFormatError(
            f"{x_path}: expected uint8 images of shape (n, 28, 28), found {x.dtype} of shape "
            f"{x.shape}"
        )
    if y.dtype != np.uint8 or y.ndim != 1:
        raise IDXFormatError(
            f"{y_path}: expected uint8 labels of shape (n,), found {y.dtype} of shape {y.shape}"
        )
    if len(x) != len(y):
        raise IDXFormatError(
            f"{y_path}: expected one label per image of {x_path} ({len(x)}), found {len(y)}"
        )
    if y.size and y.max() > 9:
        raise IDXFormatError(f"{y_path}: expected labels 0 to 9, found {y.max()}")


def _local_folders(name: str, data_dir: PathLike | None) -> list[Path]:
    """The folders searched before the cache, in order."""
    folders = [] if data_dir is None else [Path(data_dir).expanduser()]
    if env := os.environ.get(DATA_DIR_VARIABLE):
        folders.append(Path(env).expanduser() / name)
    folders.append(SYSTEM_DATA_DIR / name)
    return folders


def _find(fname: str, folders: Sequence[Path]) -> Path | None:
    """The first ``fname`` or ``fname.gz`` in ``folders``, or None."""
    for folder in folders:
        for candidate in (folder / fname, folder / f"{fname}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _not_found_message(
    name: str,
    missing: Sequence[str],
    folders: Sequence[Path],
    mirrors: Sequence[str],
    *,
    download: bool,
    failures: Sequence[str],
) -> str:
    """Say which files are missing, where we looked, and how to provide them."""
    loader = f"load_{name.replace('-', '_')}"
    retry = "retry with network access" if download else f"download them: {loader}(download=True)"
    lines = [
        f"{name}: {len(missing)} file(s) not found: {', '.join(missing)}.",
        "Searched, in order (each file as NAME or NAME.gz):",
        *(f"  {folder}" for folder in folders),
    ]
    if download:
        lines += ["Downloading failed:", *(f"  {failure}" for failure in failures)]
    else:
        lines.append("Downloading is off (download=False).")
    lines += [
        "To provide the files, do one of:",
        f"  - put them in a folder DIR/{name}/ and set the environment variable "
        f"{DATA_DIR_VARIABLE}=DIR;",
        f"  - pass the folder holding them: {loader}(data_dir=...);",
        f"  - {retry}; the files come from {', '.join(mirrors) or 'the mirrors you pass'}.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- preparing inputs


def preprocess(images: ArrayLike, *, dtype: DTypeLike = np.float32) -> NDArray[np.floating]:
    """Turn uint8 images into the network's input: one row of floats in [0, 1] per image.

    Parameters
    ----------
    images : array_like of uint8, shape (n, 28, 28) (or any (n, ...))
        Pixel values 0 to 255.
    dtype : floating dtype
        The output's dtype.

    Returns
    -------
    ndarray, shape (n, 784) (n by the product of the other dimensions)
        ``images / 255`` flattened per image.

    Raises
    ------
    ValueError
        If ``images`` is not uint8 with at least 2 dimensions, or ``dtype`` is not floating.
    """
    x = np.asarray(images)
    out_dtype = np.dtype(dtype)
    if x.dtype != np.uint8:
        raise ValueError(f"images must be uint8 pixel values 0-255, found dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"images must have shape (n, height, width), found shape {x.shape}")
    if out_dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type, found {out_dtype}")
    flat = x.reshape(x.shape[0], math.prod(x.shape[1:]))
    return np.divide(flat, 255, dtype=out_dtype)


def train_validation_split(
    x: ArrayLike,
    y: ArrayLike,
    *,
    validation_size: int = 5000,
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off a random validation set, the same one for the same seed.

    Parameters
    ----------
    x : array_like, shape (n, ...)
        Inputs, one per row (first axis).
    y : array_like, shape (n, ...)
        Targets aligned with ``x``.
    validation_size : int
        Rows in the validation set, from 1 to n - 1.
    seed : int or numpy.random.Generator
        Chooses the permutation.

    Returns
    -------
    x_train, y_train : ndarray, shapes (n - validation_size, ...)
    x_val, y_val : ndarray, shapes (validation_size, ...)
        Copies, rows in the order of the seeded permutation.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` have different lengths or ``validation_size`` is out of range.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"x and y must have the same length, found shapes {x.shape} and {y.shape}")
    size = check_int(validation_size, "validation_size")
    if not 0 < size < len(x):
        raise ValueError(
            f"validation_size must be between 1 and {len(x) - 1} (n = {len(x)}), found {size}"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    train, validation = order[size:], order[:size]
    return x[train], y[train], x[validation], y[validation]
