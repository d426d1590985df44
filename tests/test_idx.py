"""Tests of nnscratch.idx: IDX files round trip bit for bit, raw or gzip; malformed files and
corrupt gzip streams are refused with messages naming what was expected and found; writing is
atomic; the content's SHA-256 is of the decompressed bytes."""

import gzip
import hashlib
import struct

import numpy as np
import pytest
from fake_mnist import files_under, idx_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from numpy.testing import assert_array_equal

from nnscratch import idx
from nnscratch.idx import IDXFormatError, read_idx, write_idx

# --------------------------------------------------------------------------- IDX round trips

IDX_DTYPES = ("u1", "i1", ">i2", "<i2", ">i4", "<i4", ">f4", "<f4", ">f8", "<f8")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    array=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dtype: arrays(dtype, array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=4))
    ),
    compress=st.booleans(),
)
def test_round_trip_keeps_every_bit(tmp_path, array, compress):
    path = tmp_path / "array.idx"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.dtype.isnative
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.shape == array.shape
    assert back.tobytes() == array.astype(back.dtype).tobytes()  # NaN payloads and -0.0 too
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress


@pytest.mark.parametrize("shape", [(7,), (2, 3), (1, 1, 1, 1, 1, 1, 1, 1, 1, 1), (3, 0, 2)])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_reads_the_bytes_the_format_specifies(tmp_path, shape, dtype):
    array = np.arange(np.prod(shape), dtype=dtype).reshape(shape) - 3 * (dtype != "u1")
    path = tmp_path / "hand-made"
    path.write_bytes(idx_bytes(array))
    assert_array_equal(read_idx(path), array)
    write_idx(tmp_path / "written", array)
    assert (tmp_path / "written").read_bytes() == path.read_bytes()


def test_write_idx_header_bytes(tmp_path):
    write_idx(tmp_path / "a", np.array([[1, 2, 3], [-4, 5, 6]], dtype=">i2"))
    expected = "00000b02 00000002 00000003 0001 0002 0003 fffc 0005 0006"
    assert (tmp_path / "a").read_bytes() == bytes.fromhex(expected)


def test_compression_follows_suffix_and_reading_follows_bytes(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array, compress=False)
    write_idx(tmp_path / "c.idx", array, compress=True)
    write_idx(tmp_path / "d.idx", array)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "b.gz").read_bytes()[:2] == b"\x00\x00"
    assert (tmp_path / "c.idx").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "d.idx").read_bytes()[:2] == b"\x00\x00"
    for name in ("a.gz", "b.gz", "c.idx", "d.idx"):
        assert_array_equal(read_idx(str(tmp_path / name)), array)


def test_gzip_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_reads_multi_member_gzip_and_zero_padding(tmp_path):
    raw = idx_bytes(np.arange(10, dtype=np.int32))
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(raw[:13]) + gzip.compress(raw[13:]) + bytes(10))
    assert_array_equal(read_idx(path), np.arange(10))


def test_uint8_arrays_are_writable(tmp_path):
    for name in ("raw", "zipped.gz"):
        write_idx(tmp_path / name, np.zeros((2, 2), np.uint8))
        array = read_idx(tmp_path / name)
        array[0, 0] = 1
        assert array[0, 0] == 1


def test_content_sha256_is_of_decompressed_bytes(tmp_path):
    array = np.arange(50, dtype=np.int16)
    write_idx(tmp_path / "a", array)
    write_idx(tmp_path / "a.gz", array)
    expected = hashlib.sha256(idx_bytes(array)).hexdigest()
    assert idx.content_sha256(tmp_path / "a") == expected
    assert idx.content_sha256(tmp_path / "a.gz") == expected


# --------------------------------------------------------------------------- malformed IDX files

u1_header = bytes.fromhex("00000801 00000005")
MALFORMED = {
    "empty": (b"", r"truncated header: expected at least 4 bytes .*, found 0"),
    "short magic": (b"\x00\x00", r"truncated header: expected at least 4 bytes .*, found 2"),
    "bad magic": (
        bytes.fromhex("01000801 00000001 07"),
        r"bad magic number: expected it to start with 00 00, found 01 00 08 01",
    ),
    "unknown type": (
        bytes.fromhex("00000a01 00000001 07"),
        r"unknown type code: expected one of 0x08, .*0x0E, found 0x0A",
    ),
    "no dimensions": (bytes.fromhex("00000800"), r"dimension count: expected 1 to 255, found 0"),
    "truncated sizes": (
        bytes.fromhex("00000803 00000002 0000"),
        r"truncated header: 3 dimensions need 16 header bytes, found 10",
    ),
    "missing bytes": (u1_header + bytes(4), r"missing bytes: .*\(5,\), 13 bytes in all, found 12"),
    "trailing bytes": (
        u1_header + bytes(6),
        r"trailing bytes: .*\(5,\), 13 bytes in all, found 14",
    ),
    "missing bytes int32": (
        bytes.fromhex("00000c01 00000002") + bytes(7),
        r"missing bytes: .*int32 values of shape \(2,\), 16 bytes in all, found 15",
    ),
    "too many dimensions": (
        bytes([0, 0, 8, 100]) + struct.pack(">100I", *[1] * 100) + b"\x07",
        r"cannot make a 100-dimensional array",
    ),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_idx_is_refused(tmp_path, case, compress):
    content, message = MALFORMED[case]
    path = tmp_path / "bad-file"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(IDXFormatError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def gzipped_labels() -> bytes:
    return gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8) % 10), mtime=0)


BAD_GZIP = {
    "bad CRC": (
        lambda z: z[:-8] + bytes(b ^ 0xFF for b in z[-8:-4]) + z[-4:],
        r"corrupt gzip stream \(.*incorrect data check",
    ),
    "bad method": (
        lambda z: z[:2] + b"\x07" + z[3:],
        r"corrupt gzip stream \(.*compression method",
    ),
    "cut short": (lambda z: z[:-10], r"truncated gzip stream: expected more compressed data"),
    "cut in half": (lambda z: z[: len(z) // 2], r"truncated gzip stream"),
    "only the magic": (lambda z: z[:2], r"truncated gzip stream"),
    "junk after": (lambda z: z + b"junk", r"trailing data: .*found 4 more bytes"),
}


@pytest.mark.parametrize("case", BAD_GZIP)
def test_corrupt_gzip_is_refused(tmp_path, case):
    damage, message = BAD_GZIP[case]
    path = tmp_path / "labels.gz"
    path.write_bytes(damage(gzipped_labels()))
    with pytest.raises(IDXFormatError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


# --------------------------------------------------------------------------- writing refusals


@pytest.mark.parametrize("dtype", ["int64", "uint16", "uint32", "bool", "float16", "complex128"])
def test_write_refuses_dtypes_idx_cannot_hold(tmp_path, dtype):
    path = tmp_path / "out.idx"
    with pytest.raises(ValueError, match=f"IDX holds uint8, .*found dtype {dtype}") as caught:
        write_idx(path, np.zeros(3, dtype=dtype))
    assert str(path) in str(caught.value)
    assert files_under(tmp_path) == []


def test_write_refuses_objects_strings_scalars_and_huge_sizes(tmp_path):
    path = tmp_path / "out.idx"
    with pytest.raises(ValueError, match="found dtype object"):
        write_idx(path, np.array([1, "a"], dtype=object))
    with pytest.raises(ValueError, match="found dtype <U"):
        write_idx(path, np.array(["ab"]))
    with pytest.raises(ValueError, match="found a 0-d array"):
        write_idx(path, np.float32(1))
    with pytest.raises(ValueError, match=r"below 2\*\*32, found shape \(4294967296,\)"):
        write_idx(path, np.broadcast_to(np.uint8(0), (2**32,)))
    assert files_under(tmp_path) == []


def test_write_is_atomic(tmp_path):
    path = tmp_path / "out.idx"
    write_idx(path, np.arange(3, dtype=np.uint8))
    write_idx(path, np.arange(5, dtype=np.uint8))
    assert_array_equal(read_idx(path), np.arange(5))
    assert files_under(tmp_path) == ["out.idx"]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep").write_bytes(b"")
    with pytest.raises(OSError):  # the final rename onto a non-empty folder fails
        write_idx(tmp_path / "taken", np.arange(5, dtype=np.uint8))
    assert files_under(tmp_path) == ["out.idx", "taken/keep"]
