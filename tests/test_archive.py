"""Tests for nnscratch.archive: the zip directory, each entry's flags, compression and sizes,
the ``.npy`` headers and the data, never trusted.

Most go through :func:`nnscratch.modelfile.load`, the gate that reads model files with these
functions (crafted or damaged files that crashed the loader, issue 11, each one
ModelFileError naming the file and the part); the first ones call the functions directly.
"""

from __future__ import annotations

import json
import pathlib
import zipfile

import hostile
import numpy as np
import pytest
from model_files import crafted, forged_2_kb_file, good_file, refused, rewrite_entry, write

from nnscratch import archive
from nnscratch.archive import ArraySpec, ModelFileError
from nnscratch.modelfile import load


@pytest.fixture
def good(tmp_path) -> tuple[pathlib.Path, dict, dict]:
    """A valid file, its arrays and its decoded header, to tamper with."""
    return good_file(tmp_path)


def test_entries_headers_and_data_of_a_good_file(good):
    path, arrays, header = good
    with zipfile.ZipFile(path) as zf:
        length = path.stat().st_size
        found = archive.entries(zf, str(path), length, required="metadata", max_entries=3)
        assert list(found) == ["W1", "b1", "metadata"]
        for name, value in arrays.items():
            spec = archive.npy_header(zf, found[name], str(path))
            assert spec == ArraySpec(value.shape, value.dtype, False, 128)
            read = archive.read_data(zf, found[name], spec, str(path), name)
            np.testing.assert_array_equal(read, value)
        spec = archive.npy_header(zf, found["metadata"], str(path), floating=False)
        raw = archive.read_data(zf, found["metadata"], spec, str(path), "metadata")
        assert json.loads(raw.tobytes()) == header


def test_entries_and_headers_refuse_what_the_caller_does_not_allow(good):
    path, _, _ = good
    where = str(path)
    with zipfile.ZipFile(path) as zf:
        length = path.stat().st_size
        with pytest.raises(ModelFileError, match="holds 3 entries, more than the 2"):
            archive.entries(zf, where, length, required="metadata", max_entries=2)
        with pytest.raises(ModelFileError, match=r"not an nnscratch model file \(no W9 entry\)"):
            archive.entries(zf, where, length, required="W9", max_entries=3)
        info = zf.getinfo("metadata.npy")
        with pytest.raises(ModelFileError, match="'metadata' must be floating point, found uint8"):
            archive.npy_header(zf, info, where)


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


def test_entry_that_is_not_an_array(good, tmp_path):
    path, _, _ = good
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("run_me.py", "print('hello')\n")
    with pytest.raises(ModelFileError, match=r"not arrays: \['run_me.py'\]"):
        load(path)


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


def test_deflate_stream_corrupted_near_its_start(good, tmp_path):
    """Issue 11: a compressed entry corrupted near its start raised ``zlib.error``."""
    data = bytearray(hostile.deflated(good[0].read_bytes()))
    at = hostile.data_offset(bytes(data), "W1.npy")
    data[at] = 0xFF  # the first block's header: block type 3, which does not exist
    refused(crafted(tmp_path, bytes(data)), r"array 'W1' .*\(Error -3 .*invalid block type")


def test_encryption_flag(good, tmp_path):
    """Issue 11: the zip encryption flag set raised ``RuntimeError`` (password required)."""
    data = hostile.edit_central(good[0].read_bytes(), "b1.npy", flags=0x1)
    refused(crafted(tmp_path, data), r"entry 'b1.npy' is encrypted")


def test_unknown_compression_method(good, tmp_path):
    """Issue 11: an unknown compression method raised ``NotImplementedError``."""
    data = hostile.edit_central(good[0].read_bytes(), "W1.npy", method=99)
    data = hostile.edit_local(data, "W1.npy", method=99)
    refused(crafted(tmp_path, data), r"'W1.npy' uses compression method 99; .* stored \(0\)")


@pytest.mark.parametrize(("flags", "what"), [(0x20, "features"), (0x40, "encrypted")])
def test_other_zip_features(good, tmp_path, flags, what):
    """Patched data (bit 5) raised NotImplementedError; strong encryption (bit 6) too."""
    data = hostile.edit_central(good[0].read_bytes(), "W1.npy", flags=flags)
    refused(crafted(tmp_path, data), what)


def test_forged_zip64_size(good, tmp_path):
    """Issue 11: a 2 KB file whose zip64 size field is forged tried to allocate 29 GiB
    (``MemoryError``); it is refused from the sizes alone."""
    data = forged_2_kb_file(good)
    assert len(data) < 2048
    refused(crafted(tmp_path, data), r"'W1.npy' declares 31128000128 bytes .* beyond the end")


def test_forged_size_of_a_deflated_entry(good, tmp_path):
    """More content than deflate can make of the compressed bytes (1032 to 1) is refused."""
    data = hostile.deflated(good[0].read_bytes())
    (record,) = [r for r in hostile.central_directory(data)[0] if r.name == b"b1.npy"]
    size = record.fields["compressed_size"] * 2000
    data = hostile.forge_zip64_sizes(data, "b1.npy", size, record.fields["compressed_size"])
    refused(crafted(tmp_path, data), r"'b1.npy' declares \d+ bytes of content from \d+ deflated")


def test_stored_sizes_that_disagree(good, tmp_path):
    data = hostile.edit_central(good[0].read_bytes(), "b1.npy", size=10_000)
    refused(crafted(tmp_path, data), r"'b1.npy' declares 10000 bytes of content from \d+ stored")


def test_entry_offset_beyond_the_file(good, tmp_path):
    data = hostile.edit_central(good[0].read_bytes(), "b1.npy", offset=0x7FFFFFFF)
    refused(crafted(tmp_path, data), r"'b1.npy' declares .* at offset 2147483647, beyond the end")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (-12, -7), }", "shape must be"),
        ("{'descr': '<f4', 'fortran_order': 0, 'shape': (12, 7), }", "fortran_order must be"),
        ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (12,), }", "descr must"),
        ("{'descr': '<q9', 'fortran_order': False, 'shape': (12, 7), }", "is not a dtype"),
        ("{'descr': '<f4', 'shape': (12, 7), }", "not a dictionary of descr"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (12, 7), 'x': 1}", "dictionary of"),
        ("[1, 2]", "not a dictionary of"),
        ("{'descr': " + "(" * 40, "not a dictionary literal"),
    ],
)
def test_npy_headers_that_are_not_valid(good, tmp_path, text, message):
    data = hostile.edit_npy_header(good[0].read_bytes(), "W1.npy", text)
    data = hostile.recrc(data, "W1.npy")  # else the CRC, checked first, refuses the entry
    refused(crafted(tmp_path, data), rf"array 'W1' has an invalid .npy header \(.*{message}")


def test_npy_header_nested_deeply(good):
    """NumPy's header reader let ``RecursionError`` out of a header of 5000 minus signs."""
    path, _, _ = good
    header = "-" * 5000 + "1"
    entry = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    rewrite_entry(path, "b1.npy", entry)
    refused(path, r"array 'b1' has an invalid .npy header \(not a dictionary literal")


def test_npy_header_too_long_or_cut(good):
    path, _, _ = good
    rewrite_entry(path, "b1.npy", b"\x93NUMPY\x02\x00" + (1 << 30).to_bytes(4, "little"))
    refused(path, r"'b1' has an invalid .npy header \(a header of 1073741824 bytes, more")
    rewrite_entry(path, "b1.npy", b"\x93NUMPY\x01\x00" + (50).to_bytes(2, "little") + b"{")
    refused(path, r"'b1' has an invalid .npy header \(the entry ends inside the header")
    rewrite_entry(path, "b1.npy", b"\x93NUMPY\x03\x00")
    refused(path, r"'b1' has an invalid .npy header \(unsupported .npy format version \(3, 0\)")


def test_fortran_order_and_byte_order_are_read_as_declared(tmp_path):
    value = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
    path = write(
        tmp_path / "f.npz",
        {"W": value},
        {"format": "nnscratch-mlp", "format_version": 1, "nnscratch_version": "0"},
    )
    (loaded,) = load(path)[0].values()
    np.testing.assert_array_equal(loaded, value)
    assert loaded.dtype == np.dtype(">f8") and loaded.flags.f_contiguous
