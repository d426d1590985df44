"""Hostile inputs for the three parsers a stranger's bytes reach: model files, IDX files (raw
or gzip) and images.

Shared by tests/test_modelfile.py, test_model.py, test_idx.py, test_data.py and
test_images.py:

- zip records rewritten field by field (:func:`edit_central`, :func:`edit_local`,
  :func:`forge_zip64_sizes`, :func:`edit_npy_header`), to craft damaged model files;
- :func:`mutations`, the Hypothesis strategy of the fuzz tests: bit flips, truncations, bytes
  overwritten, and header fields (zip, ``.npy``, IDX, gzip, PNG) set to forged values;
- :class:`Worker`, a process that parses files under a memory ceiling (``RLIMIT_AS``), so that
  an attempted huge allocation fails the test instead of the machine, and that reports what
  came out: a result, a documented refusal, or anything else (a crash).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import struct
import subprocess
import sys
import traceback
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# --------------------------------------------------------------------------- zip records

# The fixed parts of a zip's records (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16), as zipfile reads them.
LOCAL = struct.Struct("<4s2B4HL2L2H")
LOCAL_FIELDS = [
    "signature",
    "version",
    "system",
    "flags",
    "method",
    "time",
    "date",
    "crc",
    "compressed_size",
    "size",
    "name_length",
    "extra_length",
]
CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
CENTRAL_FIELDS = [
    "signature",
    "made_version",
    "made_system",
    "version",
    "system",
    "flags",
    "method",
    "time",
    "date",
    "crc",
    "compressed_size",
    "size",
    "name_length",
    "extra_length",
    "comment_length",
    "disk",
    "internal_attributes",
    "external_attributes",
    "offset",
]
END = struct.Struct("<4s4H2LH")
END_FIELDS = [
    "signature",
    "disk",
    "directory_disk",
    "disk_entries",
    "entries",
    "size",
    "offset",
    "comment_length",
]


@dataclass
class CentralRecord:
    fields: dict[str, Any]
    name: bytes
    extra: bytes
    comment: bytes

    def pack(self) -> bytes:
        self.fields |= {
            "name_length": len(self.name),
            "extra_length": len(self.extra),
            "comment_length": len(self.comment),
        }
        values = [self.fields[name] for name in CENTRAL_FIELDS]
        return CENTRAL.pack(*values) + self.name + self.extra + self.comment


def central_directory(data: bytes) -> tuple[list[CentralRecord], dict[str, Any]]:
    """The central directory records and the end record of a zip without a comment."""
    end = dict(zip(END_FIELDS, END.unpack_from(data, len(data) - END.size), strict=True))
    records, at = [], end["offset"]
    for _ in range(end["entries"]):
        fields = dict(zip(CENTRAL_FIELDS, CENTRAL.unpack_from(data, at), strict=True))
        at += CENTRAL.size
        lengths = fields["name_length"], fields["extra_length"], fields["comment_length"]
        pieces = []
        for length in lengths:
            pieces.append(data[at : at + length])
            at += length
        records.append(CentralRecord(fields, *pieces))
    return records, end


def with_central_directory(data: bytes, records: Sequence[CentralRecord]) -> bytes:
    """``data`` with its central directory (and end record) rebuilt from ``records``."""
    _, end = central_directory(data)
    directory = b"".join(record.pack() for record in records)
    end |= {"entries": len(records), "disk_entries": len(records), "size": len(directory)}
    return data[: end["offset"]] + directory + END.pack(*(end[name] for name in END_FIELDS))


def edit_central(data: bytes, entry: str, **changes: Any) -> bytes:
    """Set fields of ``entry``'s central directory record (``extra=`` replaces its extra)."""
    records, _ = central_directory(data)
    for record in records:
        if record.name.decode("latin-1") == entry:
            record.extra = changes.pop("extra", record.extra)
            record.fields |= changes
    return with_central_directory(data, records)


def local_offset(data: bytes, entry: str) -> int:
    records, _ = central_directory(data)
    return next(r.fields["offset"] for r in records if r.name.decode("latin-1") == entry)


def edit_local(data: bytes, entry: str, **changes: Any) -> bytes:
    """Set fields of ``entry``'s local header, in place (its name and extra keep their length)."""
    at = local_offset(data, entry)
    fields = dict(zip(LOCAL_FIELDS, LOCAL.unpack_from(data, at), strict=True)) | changes
    out = bytearray(data)
    LOCAL.pack_into(out, at, *(fields[name] for name in LOCAL_FIELDS))
    return bytes(out)


def data_offset(data: bytes, entry: str) -> int:
    """Where ``entry``'s (compressed) data starts."""
    at = local_offset(data, entry)
    fields = dict(zip(LOCAL_FIELDS, LOCAL.unpack_from(data, at), strict=True))
    return at + LOCAL.size + fields["name_length"] + fields["extra_length"]


def forge_zip64_sizes(data: bytes, entry: str, size: int, compressed_size: int) -> bytes:
    """Declare ``entry``'s sizes in a zip64 extra field of its central record (the 32-bit
    fields set to 0xFFFFFFFF, as for a real file over 4 GiB)."""
    zip64 = struct.pack("<HHQQ", 0x0001, 16, size, compressed_size)
    return edit_central(
        data, entry, size=0xFFFFFFFF, compressed_size=0xFFFFFFFF, version=45, extra=zip64
    )


def edit_npy_header(data: bytes, entry: str, text: str) -> bytes:
    """Replace the ``.npy`` header dictionary of a stored ``entry`` by ``text``, padded to the
    same length (the entry's CRC is left as it was)."""
    start = data_offset(data, entry) + 10  # magic, version, header length (format 1.0)
    end = data.index(b"\n", start)
    if len(text) > end - start:
        raise ValueError(f"{text!r} does not fit in {end - start} bytes")
    return data[:start] + text.ljust(end - start).encode("latin-1") + data[end:]


def deflated(data: bytes) -> bytes:
    """The same zip with every entry deflated (as ``numpy.savez_compressed`` writes)."""
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def recrc(data: bytes, entry: str) -> bytes:
    """Make the CRC fields of a stored ``entry`` agree with its bytes again."""
    records, _ = central_directory(data)
    record = next(r for r in records if r.name.decode("latin-1") == entry)
    start = data_offset(data, entry)
    crc = zlib.crc32(data[start : start + record.fields["compressed_size"]])
    return edit_local(edit_central(data, entry, crc=crc), entry, crc=crc)


def recrc_all(data: bytes) -> bytes:
    """Make every stored entry's CRC agree with its bytes, as far as the records can still be
    read: a fuzzed file whose damage the CRC would catch first then reaches the parsers
    behind it. A zip too broken to read is returned as it is."""
    try:
        records, _ = central_directory(data)
        for record in records:
            if record.fields["method"] == zipfile.ZIP_STORED:
                data = recrc(data, record.name.decode("latin-1"))
    except (struct.error, StopIteration, ValueError, IndexError):
        pass
    return data


def zip_field_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of every integer field of every zip record: the fields worth forging."""
    spans = []
    records, end = central_directory(data)
    formats = {"B": 1, "H": 2, "L": 4}

    def fields_of(base: int, layout: struct.Struct) -> Iterator[tuple[int, int]]:
        at = base
        for char in layout.format.lstrip("<"):
            if char.isdigit():
                continue
            width = 4 if char == "s" else formats[char]
            if char != "s":
                yield at, width
            at += width

    for record in records:
        spans += fields_of(record.fields["offset"], LOCAL)
    at = end["offset"]
    for record in records:
        spans += fields_of(at, CENTRAL)
        at += CENTRAL.size + len(record.name) + len(record.extra) + len(record.comment)
    spans += fields_of(len(data) - END.size, END)
    return spans


# --------------------------------------------------------------------------- gzip


def gzip_bomb(head: bytes, size: int) -> bytes:
    """``head`` and then zeros up to ``size`` bytes of content, in about ``size / 1000`` bytes
    of gzip: one member for ``head``, then one member of 1 MiB of zeros repeated."""
    zeros = gzip.compress(bytes(1 << 20), mtime=0)
    return gzip.compress(head, mtime=0) + zeros * ((size - len(head)) >> 20)


# --------------------------------------------------------------------------- PNG


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, row: bytes | None = None, *, idat: bool = True) -> bytes:
    """An 8-bit grey PNG of ``height`` copies of ``row`` (zeros by default), compressed as it
    is made: a 10000 x 10000 image is 100 KB and costs no 100 MB array. Without ``idat``,
    only the header: Pillow opens it, decoding fails."""
    row = bytes(width) if row is None else row
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    pieces = [b"\x89PNG\r\n\x1a\n", header]
    if idat:
        packer = zlib.compressobj(9)
        line = b"\0" + row  # filter type 0 for every row
        body = b"".join(packer.compress(line) for _ in range(height)) + packer.flush()
        pieces.append(png_chunk(b"IDAT", body))
    pieces.append(png_chunk(b"IEND", b""))
    return b"".join(pieces)


def png_field_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the integer fields of a PNG's chunks: lengths, IHDR's width,
    height, depth, colour type..., CRCs (big-endian)."""
    spans, at = [], 8
    while at + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, at)
        spans.append((at, 4))
        if data[at + 4 : at + 8] == b"IHDR":
            spans += [(at + 8, 4), (at + 12, 4), *((at + 16 + i, 1) for i in range(5))]
        at += 12 + length
        spans.append((at - 4, 4))
    return spans


def fix_png_crcs(data: bytes) -> bytes:
    """Make every chunk's CRC agree with its bytes, as far as the chunks can be walked: a
    fuzzed PNG then reaches the decoder instead of stopping at the first CRC."""
    out, at = bytearray(data), 8
    while at + 12 <= len(out):
        (length,) = struct.unpack_from(">I", out, at)
        end = at + 8 + length
        if end + 4 > len(out):
            break
        struct.pack_into(">I", out, end, zlib.crc32(out[at + 4 : end]))
        at = end + 4
    return bytes(out)


# --------------------------------------------------------------------------- other images


def jpeg_field_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of each marker segment's length and of the frame header's precision,
    height, width and component count (big-endian)."""
    spans, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        (length,) = struct.unpack_from(">H", data, at + 2)
        spans.append((at + 2, 2))
        if 0xC0 <= marker <= 0xC3:
            spans += [(at + 4, 1), (at + 5, 2), (at + 7, 2), (at + 9, 1)]
        if marker == 0xDA:  # the scan: entropy-coded data follows
            break
        at += 2 + length
    return spans


def tiff_field_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the first directory's offset and count and of each entry's type,
    count and value (little-endian, as Pillow writes)."""
    (first,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, first)
    spans = [(4, 4), (first, 2)]
    for i in range(count):
        entry = first + 2 + 12 * i
        spans += [(entry + 2, 2), (entry + 4, 4), (entry + 8, 4)]
    return spans


BMP_FIELDS = [(2, 4), (10, 4), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2), (30, 4), (34, 4)]
"""The BMP file and info headers' sizes, offset, width, height, planes, depth, compression."""


# --------------------------------------------------------------------------- mutations

INTERESTING = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF)


@dataclass(frozen=True)
class Mutation:
    """Edits applied in turn to a valid file: ``("flip", at, bit)``, ``("cut", length)``,
    ``("put", at, bytes)``, ``("field", at, width, value)`` (little- or big-endian)."""

    edits: tuple[tuple[Any, ...], ...]

    def apply(self, data: bytes) -> bytes:
        out = bytearray(data)
        for edit in self.edits:
            kind, *args = edit
            if kind == "flip":
                at, bit = args
                if at < len(out):
                    out[at] ^= 1 << bit
            elif kind == "cut":
                del out[args[0] :]
            elif kind == "put":
                at, piece = args
                out[at : at + len(piece)] = piece
            elif kind == "field":
                at, width, value, order = args
                if at + width <= len(out):
                    out[at : at + width] = (value % (1 << 8 * width)).to_bytes(width, order)
        return bytes(out)


def mutations(
    seed: bytes,
    fields: Sequence[tuple[int, int]] = (),
    *,
    byteorder: str = "little",
    max_edits: int = 3,
) -> st.SearchStrategy[Mutation]:
    """Mutations of ``seed``: bit flips anywhere, truncations, random bytes written anywhere,
    and the integer ``fields`` (offset, width) set to forged values (0, all ones, the limits of
    signed and unsigned widths, off by one from the original, a random value)."""
    n = len(seed)
    flip = st.tuples(st.just("flip"), st.integers(0, n - 1), st.integers(0, 7))
    cut = st.tuples(st.just("cut"), st.integers(0, n - 1))
    put = st.tuples(st.just("put"), st.integers(0, n - 1), st.binary(min_size=1, max_size=8))
    options = [flip, cut, put]
    if fields:

        def forged(span: tuple[int, int]) -> st.SearchStrategy[tuple[Any, ...]]:
            at, width = span
            original = int.from_bytes(seed[at : at + width], byteorder)  # type: ignore[arg-type]
            top = (1 << 8 * width) - 1
            values = st.sampled_from(
                sorted({v & top for v in (*INTERESTING, top, top >> 1, original + 1)})
                + [(original - 1) & top]
            ) | st.integers(0, top)
            return st.tuples(
                st.just("field"), st.just(at), st.just(width), values, st.just(byteorder)
            )

        options.append(st.one_of([forged(span) for span in fields]))
    edit = st.one_of(*options)
    return st.lists(edit, min_size=1, max_size=max_edits).map(lambda e: Mutation(tuple(e)))


def fuzz_settings(examples: int) -> settings:
    """Settings of a fuzz test: ``examples`` derandomized examples (the same inputs on every
    run, so the normal suite is reproducible and bounded in time), or, with
    ``$NNSCRATCH_FUZZ_EXAMPLES`` set, that many random ones (a longer search)."""
    longer = os.environ.get("NNSCRATCH_FUZZ_EXAMPLES")
    return settings(
        max_examples=int(longer) if longer else examples,
        derandomize=not longer,
        deadline=None,
        database=None if not longer else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def check_reply(
    reply: dict[str, Any], path: str | os.PathLike[str], expected: dict[str, Any] | None = None
) -> None:
    """A fuzzed input either parses (into ``expected``, when given) or is refused with the
    documented exception whose message names the file; a warning, if any, is an
    ``ImageWarning`` naming it too. Anything else, a crash, a wrong answer or a raw warning,
    fails the test."""
    assert reply["outcome"] in ("ok", "refused"), reply["error"]
    if reply["outcome"] == "ok" and expected is not None:
        assert reply["result"] == expected, "a damaged file was read as something else"
    if reply["outcome"] == "refused":
        assert f": {os.fspath(path)}: " in reply["error"], reply["error"]
    for warning in reply["warnings"]:
        assert warning.startswith(f"ImageWarning: {os.fspath(path)}: "), warning


# --------------------------------------------------------------------------- the worker

MEMORY_CEILING = 1 << 30  # bytes of address space the worker may use


def _parse_model(path: str) -> dict[str, Any]:
    import hashlib

    from nnscratch.model import MLP

    model = MLP.load(path)
    digest = hashlib.sha256()
    for name in sorted(model.params):
        digest.update(name.encode() + model.params[name].tobytes())
    digest.update(json.dumps(model.metadata, sort_keys=True).encode())
    return {"digest": digest.hexdigest(), "sizes": list(model.sizes)}


def _parse_idx(path: str) -> dict[str, Any]:
    import hashlib

    from fake_mnist import idx_bytes

    from nnscratch.idx import read_idx

    return {"digest": hashlib.sha256(idx_bytes(read_idx(path))).hexdigest()}


def _parse_image(path: str) -> dict[str, Any]:
    import numpy as np

    from nnscratch.images import load_digit

    x = load_digit(path)
    return {
        "shape": list(x.shape),
        "dtype": str(x.dtype),
        "finite": bool(np.isfinite(x).all()),
        "range": [float(x.min()), float(x.max())],
    }


def _documented() -> dict[str, tuple[Callable[[str], dict[str, Any]], type[BaseException]]]:
    """Parser name -> (the function, the exception it documents for a bad file)."""
    from nnscratch.idx import IDXFormatError
    from nnscratch.modelfile import ModelFileError

    return {
        "model": (_parse_model, ModelFileError),
        "idx": (_parse_idx, IDXFormatError),
        "image": (_parse_image, ValueError),
    }


def serve() -> None:
    """The worker's loop: one JSON request per line on stdin, one JSON reply per line, with
    the warnings the parser issued."""
    import warnings

    parsers = _documented()
    for line in sys.stdin:
        request = json.loads(line)
        parse, documented = parsers[request["parser"]]
        reply: dict[str, Any]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                reply = {"outcome": "ok", "result": parse(request["path"])}
            except documented as error:
                reply = {"outcome": "refused", "error": f"{type(error).__name__}: {error}"}
            except BaseException as error:  # noqa: BLE001 (anything else is what we look for)
                lines = traceback.format_exception(error)
                reply = {"outcome": "crash", "error": "".join(lines)[-4000:]}
        reply["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
        reply["peak_rss"] = peak_rss()
        print(json.dumps(reply), flush=True)


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes: Linux's VmHWM (``getrusage``'s
    max RSS would include the parent's before the ``exec``), else ``getrusage``'s."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def limit_memory() -> None:
    """Cap this process's address space at :data:`MEMORY_CEILING` (for ``preexec_fn``)."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CEILING, MEMORY_CEILING))


class Worker:
    """A process parsing files under :data:`MEMORY_CEILING`; restarted if it dies."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.peak_rss = 0
        self.counts: dict[str, int] = {}

    def _start(self) -> subprocess.Popen[str]:
        here = Path(__file__).resolve().parent
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(here), *sys.path])}
        return subprocess.Popen(
            [sys.executable, "-c", "import hostile; hostile.serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=limit_memory,
        )

    def parse(self, parser: str, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Parse ``path`` with ``parser`` ("model", "idx", "image"): the worker's reply."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"parser": parser, "path": os.fspath(path)}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            status = self.process.wait()
            self.process = None
            reply = {"outcome": "crash", "error": f"the worker died (status {status})"}
        else:
            reply = json.loads(line)
            self.peak_rss = max(self.peak_rss, reply["peak_rss"])
        self.counts[reply["outcome"]] = self.counts.get(reply["outcome"], 0) + 1
        return reply

    def close(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)
            self.process = None
