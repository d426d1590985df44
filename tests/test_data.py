"""Tests of nnscratch.data: finding and verifying data sets on disk, the registry.

Downloading is tested in test_downloads.py, the IDX format in test_idx.py, the preparation
of the inputs in test_prepare.py.
"""

import hashlib
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import hostile
import numpy as np
import pytest
from fake_mnist import FILES, FakeDataSet, closed_port_url, fake_arrays, files_under, idx_bytes
from numpy.testing import assert_array_equal

from nnscratch import data, idx, prepare
from nnscratch.data import (
    ChecksumError,
    DataNotFoundError,
    IDXFormatError,
    write_idx,
)

# --------------------------------------------------------------------------- finding files


def test_download_false_with_nothing_present(folders, fake, monkeypatch):
    """One line, the whole cause, no Python argument names: the command line prints it."""
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    with pytest.raises(DataNotFoundError) as caught:
        data.load_mnist(folders["data_dir"], download=False)
    message = str(caught.value)
    searched = [
        folders["data_dir"],
        folders["data_dir"] / "mnist",
        folders["env"],
        folders["env"] / "mnist",
        folders["system"] / "mnist",
        folders["cache"],
    ]
    assert f"not found in {', '.join(map(str, searched))}; downloading is off (mirrors: " in (
        message
    )
    assert message.startswith(f"mnist: 4 files ({', '.join(FILES)}) not found in ")
    assert data.MNIST_MIRRORS[0] in message and data.DATA_DIR_VARIABLE in message
    assert "\n" not in message and "=" not in message.replace(data.DATA_DIR_VARIABLE, "")
    assert isinstance(caught.value, FileNotFoundError)
    assert files_under(folders["data_dir"].parent) == []
    assert not folders["cache home"].exists()


def test_the_download_failure_is_in_the_message(folders, fake):
    """Issue 11: the message keeps why the download failed, on the same line."""
    dead = closed_port_url()
    with pytest.raises(DataNotFoundError) as caught:
        data.load_mnist(mirrors=[dead])
    message = str(caught.value)
    assert f"; download from {dead}{FILES[0]}.gz failed: Connection refused. Put" in message
    assert "\n" not in message


@pytest.mark.parametrize("where", ["data_dir", "env", "system", "cache"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_files_are_found_in_each_folder(folders, fake, monkeypatch, where, compress):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(folders["env"]))
    folder = {"env": folders["env"] / "mnist", "system": folders["system"] / "mnist"}.get(
        where, folders[where]
    )
    fake.write(folder, compress=compress)
    data_dir = folders["data_dir"] if where == "data_dir" else None
    dataset = data.load_mnist(data_dir, download=False)
    fake.check(dataset)
    paths = data.locate_files("mnist", data_dir, download=False)
    assert paths == {name: folder / (name + ".gz" * compress) for name in FILES}
    assert dict(dataset.files) == paths and dataset.folders == (folder,)


@pytest.mark.parametrize("level", ["the folder", "its parent"])
@pytest.mark.parametrize("given", ["data_dir", "env"])
def test_a_data_folder_means_the_same_at_either_level(folders, fake, monkeypatch, level, given):
    """Issue 11: ``load_mnist(data_dir)`` took the folder holding the files, and
    ``$NNSCRATCH_DATA_DIR`` its parent; both now take either."""
    parent = folders["data_dir"]
    fake.write(parent / "mnist")
    chosen = parent / "mnist" if level == "the folder" else parent
    if given == "env":
        monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(chosen))
    dataset = data.load_mnist(chosen if given == "data_dir" else None, download=False)
    fake.check(dataset)
    assert dataset.folders == (parent / "mnist",)


def test_the_files_may_come_from_two_folders(folders, fake, server):
    fake.write(folders["data_dir"], FILES[:2])
    dataset = data.load_mnist(folders["data_dir"], mirrors=[server.mirror("good", fake.gz)])
    assert dataset.folders == (folders["data_dir"], folders["cache"])
    assert dataset.files[FILES[3]] == folders["cache"] / f"{FILES[3]}.gz"


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
    with pytest.raises(DataNotFoundError, match=r"^mnist: 4 files"):
        data.load_mnist(download=False)  # Fashion-MNIST's files are not MNIST's
    for name in FILES:
        (folders["system"] / "fashion-mnist" / f"{name}.gz").unlink()
    with pytest.raises(DataNotFoundError) as caught:
        data.load_fashion_mnist(download=False)
    message = str(caught.value)
    assert message.startswith("fashion-mnist: 4 files")
    assert f"{folders['system'] / 'fashion-mnist'}," in message
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
    x = prepare.preprocess(mnist.x_test, dtype=np.float64)
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


# --------------------------------------------------------------------------- hostile files


def test_a_gzip_bomb_in_the_data_folder_is_refused_at_the_known_size(folders, fake):
    """Issue 11: a gzip bomb in a data folder was decompressed fully (1 GB: 6 s, 2.2 GB)
    before the checksum refused it; decompression now stops past the file's known size."""
    fake.write(folders["data_dir"])
    labels = folders["data_dir"] / f"{FILES[1]}.gz"
    labels.write_bytes(hostile.gzip_bomb(idx_bytes(fake.arrays[FILES[1]]), 256 << 20))
    with pytest.raises(IDXFormatError) as caught:
        data.load_mnist(folders["data_dir"], download=False)
    message = str(caught.value)
    assert message.startswith(f"{labels}: too large: more content than the 60008 bytes")
    assert int(message.rsplit(" ", 1)[1].rstrip(")")) <= 60008 + (1 << 20)  # stopped early


def test_a_gzip_bomb_stays_within_a_memory_ceiling(tmp_path, fake):
    """A bomb of 1 GiB for the training images (read first), loaded in a process limited to
    1 GiB of address space: refused with its message, no MemoryError (before: MemoryError)."""
    folder = tmp_path / "mnist"
    fake.write(folder, FILES[1:])
    bomb = hostile.gzip_bomb(idx_bytes(np.zeros((10, 28, 28), np.uint8)), 1 << 30)
    (folder / f"{FILES[0]}.gz").write_bytes(bomb)
    code = (
        "import sys\nfrom nnscratch import data\n"
        "try:\n    data.load_mnist(sys.argv[1], download=False)\n"
        "except data.IDXFormatError as error:\n    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        capture_output=True,
        text=True,
        preexec_fn=hostile.limit_memory,
    )
    assert done.returncode == 0, done.stderr
    assert "too large: more content than the 47040016 bytes expected" in done.stdout


def test_every_known_file_has_its_size():
    for sizes in (data.MNIST_SIZES, data.FASHION_MNIST_SIZES):
        assert dict(sizes) == {
            FILES[0]: 47040016,
            FILES[1]: 60008,
            FILES[2]: 7840016,
            FILES[3]: 10008,
        }


def test_real_mnist_sizes(mnist):
    paths = data.locate_files("mnist", download=False)
    for fname, path in paths.items():
        assert len(idx.read_content(path)) == data.MNIST_SIZES[fname]
