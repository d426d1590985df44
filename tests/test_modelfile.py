"""Tests for nnscratch.modelfile: the container of named float arrays and a JSON header, its
round trip, atomic writing, and every kind of unsafe or damaged file refused clearly.

The model's own description in the header (sizes, dtype, dropout, metadata) is checked by
``MLP.load``: see tests/test_model.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import modelfile
from nnscratch.modelfile import FORMAT_VERSION, ModelFileError, load, save


def arrays_and_header() -> tuple[dict[str, np.ndarray], dict]:
    rng = np.random.default_rng(0)
    arrays = {"W1": rng.normal(size=(12, 7)).astype(np.float32), "b1": np.zeros(7, np.float32)}
    header = {
        "shape": (12, 7),
        "metrics": {"accuracy": np.float32(0.75), "confusion": np.eye(2, dtype=np.int64)},
    }
    return arrays, header


@pytest.fixture
def good(tmp_path) -> tuple[pathlib.Path, dict, dict]:
    """A valid file, its arrays and its decoded header, to tamper with."""
    path = tmp_path / "good.npz"
    save(path, *arrays_and_header())
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(arrays.pop("metadata").tobytes())
    return path, arrays, header


def test_round_trip(tmp_path):
    arrays, header = arrays_and_header()
    path = tmp_path / "file.npz"
    save(path, arrays, header)
    loaded, loaded_header = load(path)
    assert sorted(loaded) == ["W1", "b1"]
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == value.dtype and loaded[name].flags.writeable
    assert loaded_header == {
        "format": "nnscratch-mlp",
        "format_version": FORMAT_VERSION,
        "nnscratch_version": ns.__version__,
        "shape": [12, 7],  # tuples come back as lists, NumPy values as numbers
        "metrics": {"accuracy": 0.75, "confusion": [[1, 0], [0, 1]]},
    }


def test_file_layout(good):
    path, arrays, header = good
    assert sorted(arrays) == ["W1", "b1"]
    assert list(header)[:3] == ["format", "format_version", "nnscratch_version"]
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["W1.npy", "b1.npy", "metadata.npy"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())


def test_save_overwrites_atomically_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "file.npz"
    save(path, *arrays_and_header())
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save(path, *arrays_and_header())
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["file.npz"]


def test_save_refuses_bad_requests(tmp_path):
    arrays, header = arrays_and_header()
    with pytest.raises(ValueError, match=r"end in \.npz"):
        save(tmp_path / "file", arrays, header)
    with pytest.raises(ValueError, match="JSON"):
        save(tmp_path / "a.npz", arrays, {"callback": object()})
    with pytest.raises(ValueError, match="JSON"):
        save(tmp_path / "b.npz", arrays, {"loss": float("nan")})
    with pytest.raises(ValueError, match="'W1' must hold finite floating-point"):
        save(tmp_path / "c.npz", arrays | {"W1": np.full((2, 2), np.inf)}, header)
    with pytest.raises(ValueError, match="'b1' must hold finite floating-point"):
        save(tmp_path / "d.npz", arrays | {"b1": np.zeros(3, np.int32)}, header)
    with pytest.raises(ValueError, match="may not be named 'metadata'"):
        save(tmp_path / "e.npz", arrays | {"metadata": np.zeros(1)}, header)
    with pytest.raises(ValueError, match="nor a header key"):
        save(tmp_path / "f.npz", arrays, {"format_version": 2})
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        save(tmp_path / "no such folder" / "m.npz", arrays, header)


def write(path: pathlib.Path, arrays: dict, header=None, raw_metadata: bytes | None = None):
    """np.savez ``arrays`` plus a metadata entry made from ``header`` (or from raw bytes)."""
    entries = dict(arrays)
    if raw_metadata is None and header is not None:
        raw_metadata = json.dumps(header).encode()
    if raw_metadata is not None:
        entries["metadata"] = np.frombuffer(raw_metadata, dtype=np.uint8)
    np.savez(path, allow_pickle=True, **entries)
    return path


def test_not_a_zip(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello, I am a text file\n")
    with pytest.raises(ModelFileError, match=r"not an nnscratch model file \(not a zip archive\)"):
        load(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load(single)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load(empty)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_zip(good, tmp_path, keep):
    path, _, _ = good
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        load(cut)


def test_corrupted_bytes_fail_the_checksum(good, tmp_path):
    path, _, _ = good
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("W1.npy")
    data[info.header_offset + 200] ^= 0xFF  # inside W1's data
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged|CRC"):
        load(bad)


def test_no_metadata(good, tmp_path):
    _, arrays, _ = good
    with pytest.raises(ModelFileError, match="no metadata entry"):
        load(write(tmp_path / "m.npz", arrays))


@pytest.mark.parametrize(
    "raw", [b"{not json", b"\xff\xfe", b'{"format": NaN}', b"[1, 2]", b'"text"']
)
def test_metadata_not_valid(good, tmp_path, raw):
    _, arrays, _ = good
    with pytest.raises(ModelFileError, match="not valid JSON|not an nnscratch model file"):
        load(write(tmp_path / "m.npz", arrays, raw_metadata=raw))


def test_metadata_of_the_wrong_kind(good, tmp_path):
    _, arrays, header = good
    entries = {**arrays, "metadata": np.array([[1, 2]], dtype=np.uint8)}
    np.savez(tmp_path / "two_d.npz", **entries)
    with pytest.raises(ModelFileError, match="1-D"):
        load(tmp_path / "two_d.npz")
    entries["metadata"] = np.frombuffer(json.dumps(header).encode(), np.uint8).astype(np.int16)
    np.savez(tmp_path / "int16.npz", **entries)
    with pytest.raises(ModelFileError, match="'metadata' must be uint8, found int16"):
        load(tmp_path / "int16.npz")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not an nnscratch model file"),
        ({"format_version": 0}, "format_version must be a positive integer"),
        ({"format_version": "1"}, "format_version must be a positive integer"),
        ({"format_version": True}, "format_version must be a positive integer"),
        ({"nnscratch_version": 1}, "nnscratch_version must be a string"),
    ],
)
def test_format_keys(good, tmp_path, change, message):
    _, arrays, header = good
    with pytest.raises(ModelFileError, match=message):
        load(write(tmp_path / "m.npz", arrays, {**header, **change}))


def test_metadata_missing_the_version_of_nnscratch(good, tmp_path):
    _, arrays, header = good
    del header["nnscratch_version"]
    with pytest.raises(ModelFileError, match=r"lacks \['nnscratch_version'\]"):
        load(write(tmp_path / "m.npz", arrays, header))


def test_newer_format_version(good, tmp_path):
    _, arrays, _ = good
    # A future format may change everything else too: the version is checked first.
    newer = {"format": "nnscratch-mlp", "format_version": FORMAT_VERSION + 1, "layers": []}
    with pytest.raises(ModelFileError, match=r"version 2, newer .* \(1\); upgrade nnscratch"):
        load(write(tmp_path / "m.npz", arrays, newer))


def test_entry_that_is_not_an_array(good, tmp_path):
    path, _, _ = good
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("run_me.py", "print('hello')\n")
    with pytest.raises(ModelFileError, match=r"not arrays: \['run_me.py'\]"):
        load(path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros(3, np.int32), "'b1' must be floating point, found int32 of shape"),
        (np.array([0, np.nan], np.float32), "'b1' holds NaN or infinite"),
        (np.array([0, -np.inf]), "'b1' holds NaN or infinite"),
    ],
)
def test_arrays_that_are_not_finite_floats(good, tmp_path, value, message):
    _, arrays, header = good
    with pytest.raises(ModelFileError, match=message):
        load(write(tmp_path / "m.npz", arrays | {"b1": value}, header))


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
        load(path)
    assert not payload.marker.exists()


def test_object_array_refused_by_numpy_too(good, tmp_path, monkeypatch):
    # Even without the header check, reading with allow_pickle=False refuses; that error is
    # kept clear.
    _, arrays, header = good
    arrays["W1"] = np.empty((12, 7), dtype=object)
    real_header = modelfile._npy_header

    def lying_header(archive, path, name):
        if name == "W1":
            return (12, 7), np.dtype(np.float32), 336
        return real_header(archive, path, name)

    monkeypatch.setattr(modelfile, "_npy_header", lying_header)
    with pytest.raises(ModelFileError, match="'W1' cannot be read"):
        load(write(tmp_path / "m.npz", arrays, header))


def rewrite_entry(path: pathlib.Path, entry: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    entries[entry] = data
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)


def test_array_header_that_lies_about_its_size(good):
    path, _, _ = good
    with zipfile.ZipFile(path) as zf:
        b1 = zf.read("b1.npy")
    rewrite_entry(path, "b1.npy", b1[:-8])  # two float32 values short
    with pytest.raises(ModelFileError, match="'b1' holds 20 bytes of data, not the 28"):
        load(path)


def test_garbage_npy_header(good):
    path, _, _ = good
    rewrite_entry(path, "W1.npy", b"\x93NUMPY garbage")
    with pytest.raises(ModelFileError, match="'W1' has an invalid .npy header"):
        load(path)


def test_duplicate_entries(good):
    path, _, _ = good
    with zipfile.ZipFile(path) as zf:
        data = zf.read("b1.npy")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as zf:
        zf.writestr("b1.npy", data)
    with pytest.raises(ModelFileError, match="duplicate entries"):
        load(path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
