"""Tests for nnscratch.modelfile: round trips, and every kind of bad file refused clearly."""

from __future__ import annotations

import json
import os
import pathlib
import zipfile

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import modelfile
from nnscratch.modelfile import FORMAT_VERSION, ModelFileError, load_model, save_model


def make_model(dtype=np.float32, sizes=(12, 7, 5, 3), dropout=0.25) -> ns.MLP:
    model = ns.MLP(sizes, seed=0, dtype=dtype, dropout=dropout)
    model.metadata = {
        "recipe": {"hidden": (7, 5), "lr": 1e-3},
        "metrics": {"accuracy": np.float32(0.75), "confusion": np.eye(2, dtype=np.int64)},
        "preprocessing": {"scale": 1 / 255, "shape": [12]},
    }
    return model


@pytest.fixture
def good(tmp_path) -> tuple[pathlib.Path, dict, dict]:
    """A valid model file, its arrays and its decoded metadata, to tamper with."""
    path = tmp_path / "good.npz"
    save_model(make_model(), path)
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(arrays.pop("metadata").tobytes())
    return path, arrays, header


def write(path: pathlib.Path, arrays: dict, header=None, raw_metadata: bytes | None = None):
    """np.savez ``arrays`` plus a metadata entry made from ``header`` (or from raw bytes)."""
    entries = dict(arrays)
    if raw_metadata is None and header is not None:
        raw_metadata = json.dumps(header).encode()
    if raw_metadata is not None:
        entries["metadata"] = np.frombuffer(raw_metadata, dtype=np.uint8)
    np.savez(path, allow_pickle=True, **entries)
    return path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_predicts_bit_for_bit(tmp_path, dtype):
    model = make_model(dtype)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = ns.MLP.load(path)
    x = np.random.default_rng(1).normal(size=(20, 12)).astype(dtype)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.sizes == model.sizes and loaded.dtype == model.dtype
    assert loaded.dropout == model.dropout
    for name, value in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
        assert loaded.params[name].dtype == dtype and loaded.params[name].flags.writeable
    assert loaded.metadata == {
        "recipe": {"hidden": [7, 5], "lr": 1e-3},
        "metrics": {"accuracy": 0.75, "confusion": [[1, 0], [0, 1]]},
        "preprocessing": {"scale": 1 / 255, "shape": [12]},
    }


def test_file_layout_and_header(good):
    path, arrays, header = good
    assert sorted(arrays) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert header["format"] == "nnscratch-mlp"
    assert header["format_version"] == FORMAT_VERSION == 1
    assert header["nnscratch_version"] == ns.__version__
    assert header["sizes"] == [12, 7, 5, 3] and header["dtype"] == "float32"
    assert header["dropout"] == 0.25
    assert header["metadata"]["preprocessing"] == {"scale": 1 / 255, "shape": [12]}
    with zipfile.ZipFile(path) as zf:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())


def test_save_overwrites_atomically_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_model(make_model(sizes=(4, 3)), path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_model(make_model(sizes=(4, 3)), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_refuses_bad_requests(tmp_path):
    model = make_model()
    with pytest.raises(ValueError, match=r"end in \.npz"):
        save_model(model, tmp_path / "model")
    model.metadata = {"callback": object()}
    with pytest.raises(ValueError, match="JSON"):
        save_model(model, tmp_path / "a.npz")
    model.metadata = {"loss": float("nan")}
    with pytest.raises(ValueError, match="JSON"):
        save_model(model, tmp_path / "b.npz")
    model.metadata = {}
    model.params["W1"][0, 0] = np.inf
    with pytest.raises(ValueError, match="W1"):
        save_model(model, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        save_model(make_model(), tmp_path / "no such folder" / "m.npz")


def test_not_a_zip(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello, I am a text file\n")
    with pytest.raises(ModelFileError, match=r"not an nnscratch model file \(not a zip archive\)"):
        load_model(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(single)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(empty)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.npz")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_zip(good, tmp_path, keep):
    path, _, _ = good
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        load_model(cut)


def test_corrupted_bytes_fail_the_checksum(good, tmp_path):
    path, _, _ = good
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("W1.npy")
    data[info.header_offset + 200] ^= 0xFF  # inside W1's data
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged|CRC"):
        load_model(bad)


def test_no_metadata(good, tmp_path):
    _, arrays, _ = good
    with pytest.raises(ModelFileError, match="no metadata entry"):
        load_model(write(tmp_path / "m.npz", arrays))


@pytest.mark.parametrize(
    "raw", [b"{not json", b"\xff\xfe", b'{"format": NaN}', b"[1, 2]", b'"text"']
)
def test_metadata_not_valid(good, tmp_path, raw):
    _, arrays, _ = good
    with pytest.raises(ModelFileError, match="not valid JSON|not an nnscratch model file"):
        load_model(write(tmp_path / "m.npz", arrays, raw_metadata=raw))


def test_metadata_of_the_wrong_kind(good, tmp_path):
    _, arrays, header = good
    entries = {**arrays, "metadata": np.array([[1, 2]], dtype=np.uint8)}
    np.savez(tmp_path / "two_d.npz", **entries)
    with pytest.raises(ModelFileError, match="1-D"):
        load_model(tmp_path / "two_d.npz")
    entries["metadata"] = np.frombuffer(json.dumps(header).encode(), np.uint8).astype(np.int16)
    np.savez(tmp_path / "int16.npz", **entries)
    with pytest.raises(ModelFileError, match="'metadata' must be uint8, found int16"):
        load_model(tmp_path / "int16.npz")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not an nnscratch model file"),
        ({"format_version": 0}, "format_version must be a positive integer"),
        ({"format_version": "1"}, "format_version must be a positive integer"),
        ({"sizes": None}, "sizes must be a list"),
        ({"sizes": [12]}, "sizes must be a list"),
        ({"sizes": [12, 0, 5, 3]}, "sizes must be a list"),
        ({"sizes": [12, 7.5, 5, 3]}, "sizes must be a list"),
        ({"dtype": "object"}, "dtype must be"),
        ({"dtype": "float16"}, "dtype must be"),
        ({"dropout": 1.0}, "dropout must be"),
        ({"dropout": True}, "dropout must be"),
        ({"metadata": [1]}, "metadata must be a JSON object"),
        ({"nnscratch_version": 1}, "nnscratch_version must be a string"),
    ],
)
def test_metadata_schema(good, tmp_path, change, message):
    _, arrays, header = good
    with pytest.raises(ModelFileError, match=message):
        load_model(write(tmp_path / "m.npz", arrays, {**header, **change}))


@pytest.mark.parametrize("key", ["sizes", "dtype", "dropout", "metadata", "nnscratch_version"])
def test_metadata_missing_a_key(good, tmp_path, key):
    _, arrays, header = good
    del header[key]
    with pytest.raises(ModelFileError, match=f"lacks.*{key}"):
        load_model(write(tmp_path / "m.npz", arrays, header))


def test_newer_format_version(good, tmp_path):
    _, arrays, header = good
    # A future format may change everything else too: the version is checked first.
    newer = {"format": "nnscratch-mlp", "format_version": FORMAT_VERSION + 1, "layers": []}
    with pytest.raises(ModelFileError, match=r"version 2, newer .* \(1\); upgrade nnscratch"):
        load_model(write(tmp_path / "m.npz", arrays, newer))


def test_missing_array(good, tmp_path):
    _, arrays, header = good
    del arrays["b2"]
    with pytest.raises(ModelFileError, match=r"missing: \['b2'\], unexpected: none"):
        load_model(write(tmp_path / "m.npz", arrays, header))


def test_extra_array(good, tmp_path):
    _, arrays, header = good
    arrays["W4"] = np.zeros((3, 2), np.float32)
    with pytest.raises(ModelFileError, match=r"missing: none, unexpected: \['W4'\]"):
        load_model(write(tmp_path / "m.npz", arrays, header))


def test_entry_that_is_not_an_array(good, tmp_path):
    path, _, _ = good
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("run_me.py", "print('hello')\n")
    with pytest.raises(ModelFileError, match=r"not arrays: \['run_me.py'\]"):
        load_model(path)


def test_sizes_that_do_not_match_the_arrays(good, tmp_path):
    _, arrays, header = good
    header["sizes"] = [12, 7, 5, 4]
    with pytest.raises(ModelFileError, match=r"'W3' must be float32 of shape \(5, 4\)"):
        load_model(write(tmp_path / "m.npz", arrays, header))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("W1", np.zeros((7, 12), np.float32), r"shape \(12, 7\), found float32 of shape \(7, 12\)"),
        ("b1", np.zeros((1, 7), np.float32), r"shape \(7,\), found float32 of shape \(1, 7\)"),
        ("W2", np.zeros((7, 5), np.float64), "must be float32 of shape .* found float64"),
        ("b3", np.zeros(3, np.int32), "found int32"),
        ("W1", np.full((12, 7), np.nan, np.float32), "'W1' holds NaN or infinite"),
        ("b2", np.array([0, 0, np.inf, 0, 0], np.float32), "'b2' holds NaN or infinite"),
    ],
)
def test_bad_arrays(good, tmp_path, name, value, message):
    _, arrays, header = good
    arrays[name] = value
    with pytest.raises(ModelFileError, match=message):
        load_model(write(tmp_path / "m.npz", arrays, header))


class _Payload:
    """Unpickling this would create the marker file: proof that code ran."""

    marker: pathlib.Path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["W1", "metadata"])
def test_object_arrays_are_never_unpickled(good, tmp_path, name):
    _, arrays, header = good
    payload = _Payload()
    payload.marker = tmp_path / "code-ran"
    objects = np.empty(1, dtype=object)
    objects[0] = payload
    entries = {**arrays, "metadata": np.frombuffer(json.dumps(header).encode(), np.uint8)}
    entries[name] = objects
    path = tmp_path / "pickle.npz"
    np.savez(path, allow_pickle=True, **entries)
    with pytest.raises(ModelFileError, match="Python objects"):
        load_model(path)
    assert not payload.marker.exists()


def test_object_array_refused_by_numpy_too(good, tmp_path, monkeypatch):
    # Even without the header check, np.load(allow_pickle=False) refuses; that error is kept clear.
    _, arrays, header = good
    arrays["W1"] = np.empty((12, 7), dtype=object)
    real_header = modelfile._npy_header

    def lying_header(npz, path, name):
        return (
            ((12, 7), np.dtype(np.float32), 336) if name == "W1" else real_header(npz, path, name)
        )

    monkeypatch.setattr(modelfile, "_npy_header", lying_header)
    with pytest.raises(ModelFileError, match="'W1' cannot be read"):
        load_model(write(tmp_path / "m.npz", arrays, header))


def test_array_header_that_lies_about_its_size(good, tmp_path):
    _, arrays, header = good
    path = write(tmp_path / "m.npz", arrays, header)
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    entries["b1.npy"] = entries["b1.npy"][:-8]  # two float32 values short
    with zipfile.ZipFile(path, "w") as zf:
        for entry, data in entries.items():
            zf.writestr(entry, data)
    with pytest.raises(ModelFileError, match="'b1' holds 20 bytes of data, not the 28"):
        load_model(path)


def test_garbage_npy_header(good, tmp_path):
    _, arrays, header = good
    path = write(tmp_path / "m.npz", arrays, header)
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    entries["W1.npy"] = b"\x93NUMPY garbage"
    with zipfile.ZipFile(path, "w") as zf:
        for entry, data in entries.items():
            zf.writestr(entry, data)
    with pytest.raises(ModelFileError, match="'W1' has an invalid .npy header"):
        load_model(path)


def test_duplicate_entries(good, tmp_path):
    path, _, _ = good
    with zipfile.ZipFile(path) as zf:
        data = zf.read("b1.npy")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as zf:
        zf.writestr("b1.npy", data)
    with pytest.raises(ModelFileError, match="duplicate entries"):
        load_model(path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
