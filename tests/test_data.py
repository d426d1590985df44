"""Tests of nnscratch.data: finding and verifying data sets on disk, the registry, the inputs.

Downloading is tested in test_downloads.py, the IDX format in test_idx.py.
"""

import hashlib
import os
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest
from fake_mnist import FILES, FakeDataSet, fake_arrays, files_under, idx_bytes
from numpy.testing import assert_array_equal

from nnscratch import data, idx
from nnscratch.data import (
    ChecksumError,
    DataNotFoundError,
    IDXFormatError,
    preprocess,
    train_validation_split,
    write_idx,
)

# --------------------------------------------------------------------------- finding files


def test_download_false_with_nothing_present(folders, fake, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    with pytest.raises(DataNotFoundError) as caught:
        data.load_mnist(folders["data_dir"], download=False)
    message = str(caught.value)
    searched = [folders["data_dir"], folders["env"] / "mnist", folders["system"] / "mnist"]
    for folder in [*searched, folders["cache"]]:
        assert f"  {folder}\n" in message
    for name in FILES:
        assert name in message
    for hint in (data.DATA_DIR_VARIABLE, "data_dir=", "download=True", "download=False"):
        assert hint in message
    assert isinstance(caught.value, FileNotFoundError)
    assert files_under(folders["data_dir"].parent) == []
    assert not folders["cache home"].exists()


@pytest.mark.parametrize("where", ["data_dir", "env", "system", "cache"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_files_are_found_in_each_folder(folders, fake, monkeypatch, where, compress):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    folder = {"env": folders["env"] / "mnist", "system": folders["system"] / "mnist"}.get(
        where, folders[where]
    )
    fake.write(folder, compress=compress)
    data_dir = folders["data_dir"] if where == "data_dir" else None
    fake.check(data.load_mnist(data_dir, download=False))
    paths = data.locate_files("mnist", data_dir, download=False)
    assert paths == {name: folder / (name + ".gz" * compress) for name in FILES}


def test_search_order(folders, fake, monkeypatch):
    """Each folder wins over the later ones, which hold damaged copies that would fail."""
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    order = [
        folders["data_dir"],
        folders["env"] / "mnist",
        folders["system"] / "mnist",
        folders["cache"],
    ]
    damaged = FakeDataSet(fake_arrays(seed=1))
    for i, folder in enumerate(order):
        for later in order[i + 1 :]:
            damaged.write(later)
        fake.write(folder)
        fake.check(data.load_mnist(folders["data_dir"], download=False))
        for name in FILES:
            (folder / f"{name}.gz").unlink()


def test_checksum_mismatch_in_a_local_file(folders, fake):
    fake.write(folders["data_dir"])
    bad = folders["data_dir"] / f"{FILES[3]}.gz"
    wrong_labels = (fake.arrays[FILES[3]] + 1) % 10
    write_idx(bad, wrong_labels)
    with pytest.raises(ChecksumError) as caught:
        data.load_mnist(folders["data_dir"], download=False)
    message = str(caught.value)
    assert str(bad) in message
    assert hashlib.sha256(idx_bytes(wrong_labels)).hexdigest() in message
    assert fake.sha256[FILES[3]] in message
    assert bad.exists()  # a file we did not download is the user's: never deleted


def test_a_local_file_that_is_not_idx(folders, fake, monkeypatch):
    fake.write(folders["data_dir"])
    bad = folders["data_dir"] / f"{FILES[1]}.gz"
    bad.write_bytes(fake.gz[FILES[1]][:-3])
    with pytest.raises(IDXFormatError, match="truncated gzip stream"):
        data.load_mnist(folders["data_dir"], download=False)


BAD_CONTENT = {
    "label out of range": (FILES[1], np.array([0, 10, 3], np.uint8), r"labels 0 to 9, found 10"),
    "wrong image size": (FILES[2], np.zeros((2, 27, 28), np.uint8), r"shape \(n, 28, 28\)"),
    "images of int32": (FILES[2], np.zeros((2, 28, 28), np.int32), r"found int32"),
    "labels in 2-D": (FILES[3], np.zeros((2, 1), np.uint8), r"labels of shape \(n,\)"),
    "count mismatch": (FILES[3], np.zeros(3, np.uint8), r"one label per image .* \(2\), found 3"),
}


@pytest.mark.parametrize("case", BAD_CONTENT)
def test_content_that_is_not_mnist_shaped(folders, monkeypatch, case):
    name, array, message = BAD_CONTENT[case]
    fake = FakeDataSet({**fake_arrays(seed=0), name: array})
    monkeypatch.setattr(data, "MNIST_SHA256", fake.sha256)
    fake.write(folders["data_dir"])
    with pytest.raises(IDXFormatError, match=message):
        data.load_mnist(folders["data_dir"], download=False)


def test_fashion_mnist_from_the_system_folder(folders, monkeypatch):
    fake = FakeDataSet(fake_arrays(seed=2))
    monkeypatch.setattr(data, "FASHION_MNIST_SHA256", fake.sha256)
    fake.write(folders["system"] / "fashion-mnist")
    dataset = data.load_fashion_mnist(download=False)
    fake.check(dataset)
    assert dataset.name == "fashion-mnist"
    assert dataset.classes == data.FASHION_MNIST_CLASSES
    with pytest.raises(DataNotFoundError, match=r"load_mnist\(data_dir"):
        data.load_mnist(download=False)  # Fashion-MNIST's files are not MNIST's
    for name in FILES:
        (folders["system"] / "fashion-mnist" / f"{name}.gz").unlink()
    with pytest.raises(DataNotFoundError) as caught:
        data.load_fashion_mnist(download=False)
    message = str(caught.value)
    assert message.startswith("fashion-mnist: 4 file(s) not found")
    assert "load_fashion_mnist(data_dir=...)" in message
    assert data.FASHION_MNIST_MIRRORS[0] in message


def test_unknown_data_set(folders):
    with pytest.raises(ValueError, match="expected 'mnist' or 'fashion-mnist', found 'cifar'"):
        data.locate_files("cifar")


def test_missing_pooch_is_explained(folders, fake, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)
    with pytest.raises(ImportError, match=r"nnscratch\[full\]"):
        data.load_mnist(download=False)
    fake.write(folders["data_dir"])
    fake.check(data.load_mnist(folders["data_dir"], download=False))  # no cache needed


def test_dataset_is_frozen_and_short_to_print(folders, fake):
    fake.write(folders["data_dir"])
    dataset = data.load_mnist(folders["data_dir"], download=False)
    with pytest.raises(FrozenInstanceError):
        dataset.x_train = None
    assert repr(dataset) == (
        "Dataset(name='mnist', x_train=uint8(3, 28, 28), y_train=uint8(3,), "
        "x_test=uint8(2, 28, 28), y_test=uint8(2,))"
    )
    assert dataset.classes == data.MNIST_CLASSES == tuple("0123456789")


def test_class_names():
    assert len(data.FASHION_MNIST_CLASSES) == len(set(data.FASHION_MNIST_CLASSES)) == 10


# --------------------------------------------------------------------------- inputs


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


# --------------------------------------------------------------------------- the real data


def test_real_mnist_shapes_and_dtypes(mnist):
    assert mnist.name == "mnist"
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.x_test.dtype == np.uint8
    assert mnist.y_test.shape == (10000,) and mnist.y_test.dtype == np.uint8
    assert_array_equal(mnist.y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])


def test_real_mnist_label_counts(mnist):
    train = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(mnist.y_train, minlength=10).tolist() == train
    assert np.bincount(mnist.y_test, minlength=10).tolist() == test


def test_real_mnist_pixel_mean(mnist):
    assert abs(mnist.x_train.mean(dtype=np.float64) / 255 - 0.1306604762738429) < 1e-12
    x = preprocess(mnist.x_test, dtype=np.float64)
    assert x.shape == (10000, 784)
    assert_array_equal(x, mnist.x_test.reshape(10000, 784) / 255)
    assert x.min() == 0.0 and x.max() == 1.0


def test_real_mnist_files(mnist):
    paths = data.locate_files("mnist", download=False)
    for path in paths.values():
        assert path.parent == Path(os.environ[data.DATA_DIR_VARIABLE]) / "mnist"
    labels = paths["t10k-labels-idx1-ubyte"]
    assert idx.content_sha256(labels) == data.MNIST_SHA256["t10k-labels-idx1-ubyte"]


@pytest.mark.skipif(
    not (data.SYSTEM_DATA_DIR / "fashion-mnist").is_dir(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist():
    fashion = data.load_fashion_mnist(data.SYSTEM_DATA_DIR / "fashion-mnist", download=False)
    assert fashion.x_train.shape == (60000, 28, 28)
    assert fashion.x_test.shape == (10000, 28, 28)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
