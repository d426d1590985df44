"""The argument checks every module shares: clear errors naming what was expected and found.

Each check returns the value it accepted, converted (an ``int``, a ``float``, an array of the
right dtype), or raises ``ValueError``. One rule holds for booleans everywhere: ``True`` and
``False`` are not numbers here, so ``num_classes=True`` or ``epochs=False`` is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

Choice = TypeVar("Choice")

# --------------------------------------------------------------------------- numbers


def check_int(value: Any, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an ``int``, or raise unless it is an integer ``>= minimum``.

    Python and NumPy integers are accepted; booleans, floats (even ``2.0``) and strings are not.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_count(value: Any, name: str) -> int:
    """Return ``value`` as an ``int``, or raise unless it is an integer ``>= 1``."""
    return check_int(value, name, minimum=1)


def as_real(value: Any, name: str) -> float:
    """``float(value)`` for a real number (Python or NumPy); booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return float(value)


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a ``float``, or raise unless it is a finite number ``> 0``."""
    number = as_real(value, name)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def check_non_negative(value: Any, name: str) -> float:
    """Return ``value`` as a ``float``, or raise unless it is a finite number ``>= 0``."""
    number = as_real(value, name)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def check_interval(
    value: Any,
    name: str,
    low: float,
    high: float,
    *,
    open_below: bool = False,
    open_above: bool = False,
    unit: str = "",
) -> float:
    """Return ``value`` as a ``float``, or raise unless it is a finite number from ``low`` to
    ``high`` (each end included unless ``open_below``/``open_above``); ``unit`` (such as
    ``" of degrees"``) is said in the message after "a number"."""
    interval = f"{'(' if open_below else '['}{low:g}, {high:g}{')' if open_above else ']'}"
    try:
        number = as_real(value, name)
    except ValueError:
        raise ValueError(f"{name} must be a number{unit} in {interval}, got {value!r}") from None
    inside = (low < number if open_below else low <= number) and (
        number < high if open_above else number <= high
    )
    if not (inside and math.isfinite(number)):
        raise ValueError(f"{name} must be a finite number{unit} in {interval}, got {value!r}")
    return number


def check_fraction(value: Any, name: str) -> float:
    """Return ``value`` as a ``float``, or raise unless ``0 <= value < 1``.

    The range of a probability that must leave something: dropout, label smoothing, momentum.
    """
    number = as_real(value, name)
    if not 0 <= number < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return number


def check_choice(value: Choice, name: str, choices: Iterable[Choice]) -> Choice:
    """Return ``value``, or raise unless it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_layer_sizes(sizes: Iterable[Any]) -> tuple[int, ...]:
    """Return the layer widths of a network as ints: at least two, each a positive integer."""
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"layer widths must be positive integers, got {sizes}")
    return tuple(int(size) for size in sizes)


# --------------------------------------------------------------------------- arrays


def as_float_array(x: ArrayLike, *, ndim: int, name: str = "x") -> NDArray[np.floating]:
    """Return ``x`` as a real floating array of rank ``ndim``, without copying if it already is one.

    Raises
    ------
    ValueError
        If ``x`` is not real floating point (integers, booleans, complex and objects are refused)
        or does not have ``ndim`` dimensions.
    """
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must be a real floating-point array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    return arr


def check_finite(x: NDArray[np.floating], *, name: str = "x") -> None:
    """Raise ``ValueError`` if ``x`` holds a NaN or an infinity, saying where the first one is."""
    finite = np.isfinite(x)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{name} must be finite, found {x[where]} at index {where}")


def as_batch(
    x: ArrayLike,
    *,
    features: int,
    dtype: DTypeLike,
    name: str = "x",
    allow_empty: bool = False,
) -> NDArray[np.floating]:
    """Return a batch of inputs as finite floats of shape ``(n, features)`` in ``dtype``.

    Parameters
    ----------
    x : array_like, shape (n, features)
        Real floating point; converted to ``dtype`` (no copy if it already has it).
    features : int
        The number of columns, e.g. a model's input width.
    dtype : floating dtype
    name : str
        What the messages call ``x``.
    allow_empty : bool
        Accept ``n == 0`` (prediction); by default a batch holds at least one sample.

    Raises
    ------
    ValueError
        For a dtype that is not real floating point, another rank or width, an empty batch
        (unless allowed), or a NaN or infinite value.
    """
    batch = as_float_array(x, ndim=2, name=name)
    if batch.shape[1] != features:
        raise ValueError(f"{name} must have {features} columns (features), got shape {batch.shape}")
    if len(batch) == 0 and not allow_empty:
        raise ValueError(f"{name} must hold at least one sample, got shape {batch.shape}")
    batch = batch.astype(dtype, copy=False)
    check_finite(batch, name=name)
    return batch


def as_labels(
    y: ArrayLike, *, num_classes: int | None = None, n: int | None = None, name: str = "y"
) -> NDArray[np.int64]:
    """Return integer class labels of shape ``(n,)`` as int64, checked.

    Parameters
    ----------
    y : array_like, shape (n,)
        Integer labels. Floats are accepted only if every value is integral.
    num_classes : int, optional
        If given, every label must lie in ``[0, num_classes)``.
    n : int, optional
        If given, the expected number of labels.

    Raises
    ------
    ValueError
        For a wrong rank or length, non-integral values, or labels out of range.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must hold {n} labels (one per sample), got {arr.shape[0]}")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError(f"{name} must hold integer class labels, got non-integral values")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    labels = arr.astype(np.int64, copy=False)
    if num_classes is not None and labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(f"{name} holds label {bad}, outside the range [0, {num_classes})")
    return labels


def check_probability_rows(rows: NDArray[np.floating], *, name: str) -> None:
    """Raise ``ValueError`` unless every row of ``rows`` (n, K) is a probability distribution:
    finite, non-negative, summing to 1 up to ``sqrt(eps)`` of the dtype."""
    check_finite(rows, name=name)
    if (rows < 0).any():
        raise ValueError(f"{name} must be non-negative, found {rows.min()}")
    sums = rows.sum(axis=-1)
    wrong = np.flatnonzero(np.abs(sums - 1) > np.sqrt(np.finfo(rows.dtype).eps))
    if wrong.size:
        row = int(wrong[0])
        raise ValueError(f"each row of {name} must sum to 1, row {row} sums to {sums[row]}")
