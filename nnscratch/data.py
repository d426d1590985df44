"""The data sets: MNIST and Fashion-MNIST, found on disk or downloaded, always verified.

The registry pins each data set's files by the SHA-256 of their decompressed content and names
its mirrors and its classes (:data:`CLASSES`). The files are IDX (:mod:`nnscratch.idx`, whose
``read_idx`` and ``write_idx`` are importable from here too); :mod:`nnscratch.downloads`
fetches them.

:func:`load_mnist` and :func:`load_fashion_mnist` look for each of the four files, as ``NAME``
or ``NAME.gz``, in these folders, in order:

1. the ``data_dir`` argument, then ``data_dir/mnist`` (resp. ``fashion-mnist``);
2. ``$NNSCRATCH_DATA_DIR``, then ``$NNSCRATCH_DATA_DIR/mnist`` (resp. ``fashion-mnist``);
3. ``/usr/share/datasets/mnist`` (resp. ``fashion-mnist``), where Debian's
   ``dataset-fashion-mnist`` package installs its files (:data:`SYSTEM_DATA_DIR`);
4. the per-user cache, ``pooch.os_cache("nnscratch")/mnist`` (``$XDG_CACHE_HOME`` is respected).

So a data folder, given or in the environment, means the same at either level: the folder
holding the four files, or its parent holding ``mnist/`` and ``fashion-mnist/``. What is
missing is downloaded into the cache, trying each mirror in turn (:data:`MNIST_MIRRORS`,
:data:`FASHION_MNIST_MIRRORS`, or the ``mirrors=`` argument). Every file, found or
downloaded, is checked against the pinned SHA-256 of its *decompressed* bytes; reading stops
as soon as a file holds more than its known size (:data:`MNIST_SIZES`), so a damaged or
hostile file that inflates to gigabytes costs no more than the real one. The
:class:`Dataset` records where each of its files came from.

Turning the images into the network's input is :mod:`nnscratch.prepare`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from .downloads import ChecksumError, cache_folder, download_missing, read_verified
from .idx import IDXFormatError, parse_idx, read_idx, write_idx

__all__ = [
    "CLASSES",
    "DATA_DIR_VARIABLE",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_SIZES",
    "MNIST_CLASSES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "MNIST_SIZES",
    "SYSTEM_DATA_DIR",
    "ChecksumError",
    "DataNotFoundError",
    "Dataset",
    "IDXFormatError",
    "load",
    "load_fashion_mnist",
    "load_mnist",
    "locate_files",
    "read_idx",
    "write_idx",
]

PathLike = str | os.PathLike[str]
T = TypeVar("T")


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


def _by_file(**values: T) -> Mapping[str, T]:
    """File name -> value, each value given by the :class:`Dataset` field its file fills."""
    return MappingProxyType({fname: values[field] for field, fname in _FIELDS})


#: SHA-256 of the decompressed files (the canonical MNIST bytes), by file name without ``.gz``.
MNIST_SHA256: Mapping[str, str] = _by_file(
    x_train="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    y_train="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    x_test="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    y_test="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
)
#: SHA-256 of Fashion-MNIST's decompressed files, by file name without ``.gz``.
FASHION_MNIST_SHA256: Mapping[str, str] = _by_file(
    x_train="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    y_train="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    x_test="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    y_test="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
)

#: Size in bytes of each decompressed file (the IDX header and 60,000 or 10,000 images of 28 x 28
#: pixels, or as many labels), by file name without ``.gz``.
MNIST_SIZES: Mapping[str, int] = _by_file(
    x_train=16 + 60_000 * 28 * 28,
    y_train=8 + 60_000,
    x_test=16 + 10_000 * 28 * 28,
    y_test=8 + 10_000,
)
#: Fashion-MNIST's files have MNIST's layout, hence its sizes.
FASHION_MNIST_SIZES: Mapping[str, int] = MNIST_SIZES

#: MNIST's download mirrors, tried in turn; a file's URL is the base followed by ``NAME.gz``.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: Fashion-MNIST's download mirror (its authors' bucket).
FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

#: The environment variable naming a data folder: one holding a data set's four files, or its
#: parent, holding ``mnist/`` and ``fashion-mnist/``.
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
    files : mapping of str to Path
        Where each file was read from, by file name without ``.gz`` (empty for a data set
        made in memory).
    """

    name: str
    x_train: NDArray[np.uint8]
    y_train: NDArray[np.uint8]
    x_test: NDArray[np.uint8]
    y_test: NDArray[np.uint8]
    files: Mapping[str, Path] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, index = label (see :data:`CLASSES`)."""
        return CLASSES[self.name]

    @property
    def folders(self) -> tuple[Path, ...]:
        """The folders the files came from, each once, in the order of the files (one folder,
        unless some files were found in one and the others downloaded into the cache)."""
        return tuple(dict.fromkeys(path.parent for path in self.files.values()))

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
    pinned, sizes, _ = _registry(name)
    arrays = {}
    for field_name, fname in _FIELDS:
        source = os.fspath(paths[fname])
        content = read_verified(paths[fname], pinned[fname], source=source, max_size=sizes[fname])
        arrays[field_name] = parse_idx(content, source=source)
    for split in ("train", "test"):
        _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"], split=split, paths=paths)
    return Dataset(name, **arrays, files=MappingProxyType(dict(paths)))


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
        or its parent holding them in ``mnist/``; searched first. See the module
        documentation for the other folders.
    download : bool
        Download missing files into the per-user cache. If False, raise instead.
    mirrors : sequence of str, optional
        Base URLs to download from, tried in turn; default :data:`MNIST_MIRRORS`.

    Returns
    -------
    Dataset
        uint8 images of shape (n, 28, 28) and uint8 labels of shape (n,); ``files`` says where
        each came from.

    Raises
    ------
    DataNotFoundError
        If files are missing and cannot be downloaded; the message, one line, names the files,
        the folders searched, why each download failed, and how to provide the files.
    ChecksumError
        If a file's decompressed content does not have the pinned SHA-256.
    IDXFormatError
        If a file is not valid IDX, holds (or decompresses to) more than the known size of
        that file, or does not hold (n, 28, 28) images / (n,) labels 0-9.
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
    pinned, sizes, default_mirrors = _registry(name)
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
        failures = download_missing(paths, cache, mirrors, pinned, sizes)
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


def _registry(name: str) -> tuple[Mapping[str, str], Mapping[str, int], tuple[str, ...]]:
    """A data set's pinned digests, file sizes and default mirrors (read at call time: tests
    patch them)."""
    if name == "mnist":
        return MNIST_SHA256, MNIST_SIZES, MNIST_MIRRORS
    if name == "fashion-mnist":
        return FASHION_MNIST_SHA256, FASHION_MNIST_SIZES, FASHION_MNIST_MIRRORS
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
    """The folders searched before the cache, in order, each once: a data folder (given, or
    in the environment) and its sub-folder ``name``, then the system's."""
    folders = []
    for folder in (data_dir, os.environ.get(DATA_DIR_VARIABLE) or None):
        if folder is not None:
            folder = Path(folder).expanduser()
            folders += [folder, folder / name]
    folders.append(SYSTEM_DATA_DIR / name)
    return list(dict.fromkeys(folders))


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
    """One line: which files are missing, where we looked, why downloading failed, and how to
    provide them."""
    files = f"{len(missing)} file{'s' * (len(missing) > 1)} ({', '.join(missing)})"
    where = ", ".join(map(str, folders))
    why = "; ".join(failures) if download else f"downloading is off (mirrors: {', '.join(mirrors)})"
    return (
        f"{name}: {files} not found in {where}; {why}. Put the files (as NAME or NAME.gz) in "
        f"one of those folders, or set {DATA_DIR_VARIABLE} to the folder that holds them."
    )
