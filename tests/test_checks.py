"""Tests of nnscratch._checks: the argument checks every module shares, with one rule for
booleans (never numbers) and messages naming what was expected and what was found."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from nnscratch._checks import (
    as_batch,
    as_labels,
    as_real,
    check_choice,
    check_count,
    check_fraction,
    check_int,
    check_interval,
    check_layer_sizes,
    check_non_negative,
    check_positive,
    check_probability_rows,
)


def test_integers():
    assert check_int(np.int32(3), "n") == 3 and type(check_int(np.int32(3), "n")) is int
    assert check_int(0, "n") == 0 and check_count(1, "n") == 1
    assert check_int(-2, "n", minimum=-5) == -2
    for value in (True, False, 2.0, "2", None, -1):
        with pytest.raises(ValueError, match=f"n must be an integer >= 0, got {value!r}"):
            check_int(value, "n")
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        check_count(0, "epochs")


def test_real_numbers_positive_non_negative_and_fractions():
    assert as_real(np.float32(0.5), "x") == 0.5 and as_real(3, "x") == 3.0
    for value in (True, "0.5", None, 1j):
        with pytest.raises(ValueError, match="x must be a real number"):
            as_real(value, "x")
    assert check_positive(1e-9, "lr") == 1e-9
    for value in (0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="lr must be a finite number > 0"):
            check_positive(value, "lr")
    assert check_non_negative(0, "decay") == 0.0
    for value in (-1e-9, np.inf, np.nan):
        with pytest.raises(ValueError, match="decay must be a finite number >= 0"):
            check_non_negative(value, "decay")
    assert check_fraction(0, "p") == 0.0 and check_fraction(0.999, "p") == 0.999
    for value in (1.0, -0.1, np.nan):
        with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
            check_fraction(value, "p")
    with pytest.raises(ValueError, match="p must be a real number, got True"):
        check_fraction(True, "p")


def test_intervals_closed_and_open():
    assert check_interval(180, "rotate", 0, 180) == 180.0
    assert check_interval(np.float32(0.5), "scale", 0, 1, open_above=True) == 0.5
    with pytest.raises(ValueError, match=r"^scale must be a finite number in \[0, 1\), got 1$"):
        check_interval(1, "scale", 0, 1, open_above=True)
    with pytest.raises(ValueError, match=r"^s must be a finite number of pixels in \(0, inf\)"):
        check_interval(
            0.0, "s", 0, float("inf"), open_below=True, open_above=True, unit=" of pixels"
        )
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            check_interval(bad, "t", 0, float("inf"), open_above=True)
    with pytest.raises(ValueError, match=r"^r must be a number of degrees in \[0, 9\], got True$"):
        check_interval(True, "r", 0, 9, unit=" of degrees")


def test_choices_and_layer_sizes():
    assert check_choice("sgd", "optimizer", ("adam", "sgd")) == "sgd"
    with pytest.raises(ValueError, match="optimizer must be one of 'adam', 'sgd', got 'lbfgs'"):
        check_choice("lbfgs", "optimizer", ("adam", "sgd"))
    assert check_layer_sizes([784, np.int64(512), 10]) == (784, 512, 10)
    with pytest.raises(ValueError, match="at least an input and an output"):
        check_layer_sizes([784])
    for sizes in ([4, 0], [4, 2.0], [4, True]):
        with pytest.raises(ValueError, match="positive integers"):
            check_layer_sizes(sizes)


def test_batches():
    x = np.zeros((3, 4), np.float32)
    assert as_batch(x, features=4, dtype=np.float32) is x  # no copy when nothing changes
    assert as_batch(x, features=4, dtype=np.float64).dtype == np.float64
    assert as_batch(x[:0], features=4, dtype=np.float32, allow_empty=True).shape == (0, 4)
    cases = [
        (x[:0], "x must hold at least one sample"),
        (np.zeros((3, 5)), r"x must have 4 columns \(features\), got shape \(3, 5\)"),
        (np.zeros((3, 4), int), "x must be a real floating-point array, got dtype int64"),
        (np.zeros(4), "x must have 2 dimension"),
        (np.full((3, 4), np.nan), r"x must be finite, found nan at index \(0, 0\)"),
    ]
    for value, message in cases:
        with pytest.raises(ValueError, match=message):
            as_batch(value, features=4, dtype=np.float32)


def test_labels():
    assert_array_equal(as_labels([0.0, 2.0], num_classes=3), [0, 2])
    with pytest.raises(ValueError, match=r"label 3, outside the range \[0, 3\)"):
        as_labels([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="must hold 2 labels"):
        as_labels([0], n=2)
    with pytest.raises(ValueError, match="non-integral"):
        as_labels([0.5])


def test_probability_rows():
    check_probability_rows(np.array([[0.25, 0.75], [1.0, 0.0]]), name="proba")
    cases = [
        ([[0.5, 0.4]], "each row of proba must sum to 1, row 0 sums to 0.9"),
        ([[1.5, -0.5]], "proba must be non-negative, found -0.5"),
        ([[np.nan, 1.0]], "proba must be finite"),
    ]
    for rows, message in cases:
        with pytest.raises(ValueError, match=message):
            check_probability_rows(np.array(rows), name="proba")
