"""The data: IDX files, and MNIST / Fashion-MNIST found on disk or downloaded, always verified.

IDX is the tiny binary format MNIST is distributed in: a 4-byte magic number (two zero bytes,
a type code, the number of dimensions), one big-endian 32-bit size per dimension, then the
values in C order, big-endian. :func:`read_idx` and :func:`write_idx` handle every type code
and any number of dimensions, raw or gzip-compressed (recognised from the bytes, not the name).

:func:`load_mnist` and :func:`load_fashion_mnist` look for each of the four files, as ``NAME``
or ``NAME.gz``, in these folders, in order:

1. the ``data_dir`` argument;
2. ``$NNSCRATCH_DATA_DIR/mnist`` (resp. ``fashion-mnist``);
3. ``/usr/share/datasets/mnist`` (resp. ``fashion-mnist``), where Debian's
   ``dataset-fashion-mnist`` package installs its files (:data:`SYSTEM_DATA_DIR`);
4. the per-user cache, ``pooch.os_cache("nnscratch")/mnist`` (``$XDG_CACHE_HOME`` is respected).

What is missing is downloaded into the cache, trying each mirror in turn
(:data:`MNIST_MIRRORS`, :data:`FASHION_MNIST_MIRRORS`, or the ``mirrors=`` argument). Every file,
found or downloaded, is checked against the pinned SHA-256 of its *decompressed* bytes
(:data:`MNIST_SHA256`, :data:`FASHION_MNIST_SHA256`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import math
import operator
import os
import struct
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import IO, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = [
    "DATA_DIR_VARIABLE",
    "DOWNLOAD_TIMEOUT",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_SHA256",
    "IDX_DTYPES",
    "MNIST_CLASSES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "SYSTEM_DATA_DIR",
    "ChecksumError",
    "DataNotFoundError",
    "Dataset",
    "IDXFormatError",
    "content_sha256",
    "load_fashion_mnist",
    "load_mnist",
    "locate_files",
    "preprocess",
    "read_idx",
    "train_validation_split",
    "write_idx",
]

PathLike = str | os.PathLike[str]


class IDXFormatError(ValueError):
    """A file is not valid IDX: bad magic number or type code, sizes that do not match, bad gzip."""


class ChecksumError(ValueError):
    """A data file's decompressed content does not have the pinned SHA-256 digest."""


class DataNotFoundError(FileNotFoundError):
    """A data set's files are neither on disk nor downloadable (the message says what to do)."""


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
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # compressed bytes per step: big enough to be fast, small enough to overlap

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

#: SHA-256 of the decompressed files (the canonical MNIST bytes), by file name without ``.gz``.
MNIST_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "train-images-idx3-ubyte": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
    }
)
#: SHA-256 of Fashion-MNIST's decompressed files, by file name without ``.gz``.
FASHION_MNIST_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "train-images-idx3-ubyte": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    }
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
#: Seconds to wait for a mirror, as (to connect, between two received chunks).
DOWNLOAD_TIMEOUT: tuple[float, float] = (5.0, 60.0)

# Dataset field -> file name, in the order the files are loaded.
_FIELDS = (
    ("x_train", "train-images-idx3-ubyte"),
    ("y_train", "train-labels-idx1-ubyte"),
    ("x_test", "t10k-images-idx3-ubyte"),
    ("y_test", "t10k-labels-idx1-ubyte"),
)


# --------------------------------------------------------------------------- IDX files


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed (told apart by its first bytes, not its name).

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
        a payload shorter or longer than the header declares, or a corrupt or truncated gzip
        stream. The message names the file, what was expected and what was found.
    """
    source = os.fspath(path)
    return _parse_idx(_read_content(Path(path), source=source), source=source)


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
    with _atomic_write(path) as file:
        if compress:
            # No name or time stamp in the gzip header: the same array gives the same bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=file, mtime=0) as zipped:
                zipped.write(header)
                zipped.write(payload.view(np.uint8))
        else:
            file.write(header)
            file.write(payload.view(np.uint8))


def content_sha256(path: PathLike) -> str:
    """The SHA-256 hex digest of a file's content, decompressed first if it is gzip.

    Raises
    ------
    IDXFormatError
        If the file starts like gzip but is not a valid gzip stream.
    """
    digest = hashlib.sha256()
    _read_content(Path(path), source=os.fspath(path), digest=digest)
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


def _parse_idx(data: bytearray, *, source: str) -> np.ndarray:
    """Decode the IDX bytes ``data`` into an array that shares their memory when it can."""
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
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    dtype = IDX_DTYPES[code]
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
            f"{source}: cannot make a {ndim}-dimensional array ({error})"
        ) from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def _read_content(path: Path, *, source: str, digest: Any = None) -> bytearray:
    """A file's bytes, gunzipped if they start with the gzip magic; fed to ``digest`` if given."""
    with open(path, "rb") as file:
        data = bytearray(os.fstat(file.fileno()).st_size)
        del data[file.readinto(data) :]
    if data[:2] != _GZIP_MAGIC:
        if digest is not None:
            digest.update(data)
        return data
    pieces = []
    with ThreadPoolExecutor(max_workers=1) as hasher:  # hashing overlaps decompression
        for piece in _gunzip(memoryview(data), source=source):
            pieces.append(piece)
            if digest is not None:
                hasher.submit(digest.update, piece)
    return bytearray().join(pieces)


def _gunzip(view: memoryview, *, source: str) -> Iterator[bytes]:
    """Decompress each gzip member in ``view`` in turn (CRC-checked), yielding pieces of output."""
    start = 0
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16 +: expect a gzip wrapper
        while not inflater.eof and start < len(view):
            end = min(start + _CHUNK, len(view))
            try:
                piece = inflater.decompress(view[start:end])
            except zlib.error as error:
                raise IDXFormatError(f"{source}: corrupt gzip stream ({error})") from None
            start = end
            yield piece
        if not inflater.eof:
            raise IDXFormatError(
                f"{source}: truncated gzip stream: expected more compressed data, "
                f"found the end of the file after {len(view)} bytes"
            )
        start -= len(inflater.unused_data)
        rest = view[start:].tobytes()
        if not rest.startswith(_GZIP_MAGIC):
            if rest.strip(b"\0"):
                raise IDXFormatError(
                    f"{source}: trailing data: expected the file to end after the gzip stream "
                    f"at byte {start}, found {len(rest)} more bytes"
                )
            return


@contextmanager
def _atomic_write(path: Path) -> Iterator[IO[bytes]]:
    """Yield a temporary file next to ``path``, renamed onto it only if the block succeeds."""
    temporary = _temporary_name(path)
    try:
        with open(temporary, "xb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _temporary_name(path: Path) -> Path:
    """A hidden, unique name in ``path``'s folder (so the final rename is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")


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
        """The class names, index = label."""
        return FASHION_MNIST_CLASSES if self.name == "fashion-mnist" else MNIST_CLASSES

    def __repr__(self) -> str:
        arrays = ", ".join(
            f"{field}={getattr(self, field).dtype}{getattr(self, field).shape}"
            for field, _ in _FIELDS
        )
        return f"Dataset(name={self.name!r}, {arrays})"


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
    return _load("mnist", data_dir, download=download, mirrors=mirrors)


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
    return _load("fashion-mnist", data_dir, download=download, mirrors=mirrors)


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
    if all(paths.values()):
        return paths
    cache = _cache_folder(name)
    folders.append(cache)
    paths = {fname: path or _find(fname, [cache]) for fname, path in paths.items()}
    if mirrors is None:
        mirrors = default_mirrors
    mirrors = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
    failures = []
    if download and not all(paths.values()):
        failures = _download_missing(paths, cache, mirrors, pinned)
    missing = [fname for fname, path in paths.items() if path is None]
    if missing:
        raise DataNotFoundError(
            _not_found_message(
                name, missing, folders, mirrors, download=download, failures=failures
            )
        )
    return paths


def _load(
    name: str, data_dir: PathLike | None, *, download: bool, mirrors: Sequence[str] | None
) -> Dataset:
    """Locate, verify, read and check the four files of a data set."""
    paths = locate_files(name, data_dir, download=download, mirrors=mirrors)
    pinned, _ = _registry(name)
    arrays = {}
    for field, fname in _FIELDS:
        source = os.fspath(paths[fname])
        content = _read_verified(paths[fname], pinned[fname], source=source)
        arrays[field] = _parse_idx(content, source=source)
    for split in ("train", "test"):
        _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"], split=split, paths=paths)
    return Dataset(name, **arrays)


def _registry(name: str) -> tuple[Mapping[str, str], tuple[str, ...]]:
    """A data set's pinned digests and default mirrors (read at call time: tests patch them)."""
    if name == "mnist":
        return MNIST_SHA256, MNIST_MIRRORS
    if name == "fashion-mnist":
        return FASHION_MNIST_SHA256, FASHION_MNIST_MIRRORS
    raise ValueError(f"unknown data set: expected 'mnist' or 'fashion-mnist', found {name!r}")


def _read_verified(path: Path, expected: str, *, source: str) -> bytearray:
    """A file's decompressed bytes, after checking their SHA-256 against ``expected``."""
    digest = hashlib.sha256()
    content = _read_content(path, source=source, digest=digest)
    if digest.hexdigest() != expected:
        raise ChecksumError(
            f"{source}: SHA-256 of the decompressed content is {digest.hexdigest()}, "
            f"expected {expected}: the file is damaged or not the expected one"
        )
    return content


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


def _import_pooch() -> ModuleType:
    """Import pooch, or say how to install it."""
    try:
        import pooch
    except ImportError as error:
        raise ImportError(
            'nnscratch.data needs pooch for its download cache: pip install "nnscratch[full]" '
            f"(or set {DATA_DIR_VARIABLE}, or pass data_dir, to load files already on disk)"
        ) from error
    return pooch


def _cache_folder(name: str) -> Path:
    """The per-user download cache for a data set (honours XDG_CACHE_HOME)."""
    return Path(_import_pooch().os_cache("nnscratch")).expanduser() / name


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return created


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove ``folders`` (deepest first) as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


class _MirrorsError(Exception):
    """No mirror could deliver a file (network errors; the reasons are in ``failures``)."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__("; ".join(failures))
        self.failures = failures


def _download_missing(
    paths: dict[str, Path | None], folder: Path, mirrors: Sequence[str], pinned: Mapping[str, str]
) -> list[str]:
    """Download into ``folder`` the files whose path is None, filling in ``paths``.

    Returns why the mirrors failed, if they did (the files after that one are not tried).
    The folders created for the download are removed again if they are left empty.
    """
    created = _make_folders(folder)
    try:
        for fname in [fname for fname, path in paths.items() if path is None]:
            paths[fname] = _download(fname, folder, mirrors, pinned[fname])
    except _MirrorsError as error:
        return error.failures or ["no mirror to download from (mirrors=())"]
    finally:
        _remove_empty(created)
    return []


def _download(fname: str, folder: Path, mirrors: Sequence[str], expected: str) -> Path:
    """Download ``fname.gz`` into ``folder`` from the first mirror that serves the right bytes.

    Each attempt goes to a temporary file, renamed into place once complete and verified, and
    deleted otherwise. If a mirror served bytes that fail verification and no mirror succeeds,
    that verification error is raised; if all failed for network reasons, ``_MirrorsError``.
    """
    pooch = _import_pooch()
    progressbar = importlib.util.find_spec("tqdm") is not None  # pooch draws it with tqdm
    downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=DOWNLOAD_TIMEOUT)
    target = folder / f"{fname}.gz"
    failures: list[str] = []
    rejected: list[ValueError] = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{fname}.gz"
        temporary = _temporary_name(target)
        try:
            downloader(url, os.fspath(temporary), None)
            _read_verified(temporary, expected, source=url)
            os.replace(temporary, target)
            return target
        except ValueError as error:  # the bytes are wrong (ChecksumError, IDXFormatError)
            rejected.append(error)
            failures.append(f"{url}: {error}")
        except OSError as error:  # connection, HTTP status, truncated body (requests errors)
            failures.append(f"{url}: {error}")
        finally:
            temporary.unlink(missing_ok=True)
    if rejected:
        rejected[0].add_note("Nothing was saved. Mirrors tried:\n" + "\n".join(failures))
        raise rejected[0]
    raise _MirrorsError(failures)


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
    size = operator.index(validation_size)
    if not 0 < size < len(x):
        raise ValueError(
            f"validation_size must be between 1 and {len(x) - 1} (n = {len(x)}), found {size}"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    train, validation = order[size:], order[:size]
    return x[train], y[train], x[validation], y[validation]
