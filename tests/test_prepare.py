"""Tests of nnscratch.prepare: images into the network's input rows, a seeded validation set."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from nnscratch.prepare import preprocess, train_validation_split


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_preprocess(dtype):
    images = np.array([[[0, 255], [51, 1]], [[255, 255], [0, 0]]], dtype=np.uint8)
    x = preprocess(images, dtype=dtype)
    assert x.dtype == dtype
    assert x.shape == (2, 4)
    assert_array_equal(x, (images.reshape(2, 4) / 255).astype(dtype))
    assert x.min() == 0 and x.max() == 1
    assert preprocess(images).dtype == np.float32
    assert preprocess(np.zeros((0, 28, 28), np.uint8)).shape == (0, 784)


def test_preprocess_refuses_bad_inputs():
    with pytest.raises(ValueError, match="uint8 pixel values 0-255, found dtype float64"):
        preprocess(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match=r"found shape \(784,\)"):
        preprocess(np.zeros(784, np.uint8))
    with pytest.raises(ValueError, match="floating-point type, found int32"):
        preprocess(np.zeros((2, 28, 28), np.uint8), dtype=np.int32)


def test_train_validation_split():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    x_tr, y_tr, x_val, y_val = train_validation_split(x, y, validation_size=3, seed=5)
    assert x_tr.shape == (7, 2) and x_val.shape == (3, 2)
    assert_array_equal(x_tr[:, 0] // 2, y_tr)
    assert_array_equal(x_val[:, 0] // 2, y_val)
    assert sorted([*y_tr, *y_val]) == list(range(10))
    again = train_validation_split(x, y, validation_size=3, seed=5)
    assert_array_equal(again[3], y_val)
    generator = train_validation_split(x, y, validation_size=3, seed=np.random.default_rng(5))
    assert_array_equal(generator[3], y_val)
    others = {tuple(train_validation_split(x, y, validation_size=3, seed=s)[3]) for s in range(5)}
    assert len(others) > 1


def test_train_validation_split_refuses_bad_arguments():
    x, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(ValueError, match=r"same length, found shapes \(10, 2\) and \(9,\)"):
        train_validation_split(x, y[:9])
    for size in (0, 10):
        with pytest.raises(ValueError, match=f"between 1 and 9 .*found {size}"):
            train_validation_split(x, y, validation_size=size)
    for size in (2.5, True):
        with pytest.raises(ValueError, match="validation_size must be an integer"):
            train_validation_split(x, y, validation_size=size)
