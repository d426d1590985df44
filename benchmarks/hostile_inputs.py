"""The peak memory of reading hostile inputs: each of the files issue 11 found, and a few
large but valid images, read in a process of its own.

For each input the table gives what came out (a result, or the first words of the error),
the peak resident memory of the process (Linux's VmHWM, or ``getrusage``'s max RSS) and its
memory after the imports, before the input was read: the difference is what the input cost.
The inputs are crafted by ``tests/hostile.py`` (imported from the tests folder) in a
temporary folder, each in a process of its own too (so the reading one starts small):
model files with a corrupt deflate stream, the encryption flag, an unknown compression
method, JSON nested 200,000 deep, a ``dataset`` that is a list, a zip64 size forged to
declare 29 GiB in 2 KB; gzip bombs of 1 GiB (in a data folder, and as an IDX file); a 16-bit
PNG, a float TIFF; a 10000 x 10000 PNG; the largest images read, 8000 x 5000 RGBA and 16-bit
PNGs, and an 8000 x 6000 JPEG.

Run: ``python benchmarks/hostile_inputs.py`` (about a minute; ``--only NAME`` for one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the crafting helpers: hostile.py, fake_mnist.py

import hostile  # noqa: E402
import numpy as np  # noqa: E402
from fake_mnist import FILES, FakeDataSet, fake_arrays, idx_bytes  # noqa: E402

from nnscratch.model import MLP  # noqa: E402


def _model_file(folder: Path) -> bytes:
    model = MLP([784, 32, 10], seed=0, dtype=np.float32)
    model.metadata = {"dataset": "mnist"}
    model.save(folder / "seed.npz")
    return (folder / "seed.npz").read_bytes()


def _deflate_corrupted(folder: Path) -> Path:
    data = bytearray(hostile.deflated(_model_file(folder)))
    data[hostile.data_offset(bytes(data), "W1.npy")] = 0xFF
    return _write(folder / "deflate.npz", bytes(data))


def _encrypted(folder: Path) -> Path:
    data = hostile.edit_central(_model_file(folder), "W1.npy", flags=1)
    return _write(folder / "encrypted.npz", data)


def _unknown_method(folder: Path) -> Path:
    data = hostile.edit_central(_model_file(folder), "W1.npy", method=99)
    return _write(folder / "method.npz", hostile.edit_local(data, "W1.npy", method=99))


def _header(folder: Path, change: Callable[[str], str]) -> Path:
    import zipfile

    seed = folder / "seed.npz"
    seed.write_bytes(_model_file(folder))
    with np.load(seed) as npz:
        arrays = {name: npz[name] for name in npz.files}
    text = change(arrays.pop("metadata").tobytes().decode())
    path = folder / "header.npz"
    np.savez(path, **arrays, metadata=np.frombuffer(text.encode(), np.uint8))
    assert zipfile.is_zipfile(path)
    return path


def _deep_json(folder: Path) -> Path:
    return _header(folder, lambda text: text[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}")


def _dataset_list(folder: Path) -> Path:
    return _header(folder, lambda text: text.replace('"dataset": "mnist"', '"dataset": ["a"]'))


def _zip64_forged(folder: Path) -> Path:
    model = MLP([4, 3], seed=0, dtype=np.float32)
    model.save(folder / "small.npz")
    shape = (3_891_000_000, 2)
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    data = hostile.edit_npy_header((folder / "small.npz").read_bytes(), "W1.npy", text)
    size = 128 + shape[0] * shape[1] * 4
    return _write(folder / "zip64.npz", hostile.forge_zip64_sizes(data, "W1.npy", size, size))


def _bomb_in_data_folder(folder: Path) -> Path:
    mnist = folder / "mnist"
    FakeDataSet(fake_arrays(seed=0)).write(mnist, FILES[1:])
    head = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    _write(mnist / f"{FILES[0]}.gz", hostile.gzip_bomb(head, 1 << 30))
    return mnist


def _bomb_idx(folder: Path) -> Path:
    head = idx_bytes(np.zeros(10, np.uint8))
    return _write(folder / "bomb.gz", hostile.gzip_bomb(head, 1 << 30))


def _digit(side: int) -> np.ndarray:
    """A dark ring on white, ``side`` pixels square, uint8."""
    r, c = np.mgrid[0:side, 0:side] / side
    d = np.hypot((r - 0.5) / 0.35, (c - 0.5) / 0.22)
    return np.where((d > 0.7) & (d < 1.0), 0, 255).astype(np.uint8)


def _png16(folder: Path) -> Path:
    from PIL import Image

    path = folder / "sixteen.png"
    Image.fromarray(_digit(300).astype(np.uint16) * 257).save(path)
    return path


def _float_tiff(folder: Path) -> Path:
    from PIL import Image

    path = folder / "float.tif"
    Image.fromarray(_digit(300).astype(np.float32) / 255).save(path)
    return path


def _huge_png(folder: Path) -> Path:
    return _write(folder / "huge.png", hostile.png(10_000, 10_000))


def _largest_rgba_png(folder: Path) -> Path:
    from PIL import Image

    path = folder / "largest.png"
    image = Image.fromarray(_digit(5000)).resize((8000, 5000)).convert("RGBA")
    image.save(path, compress_level=1)
    return path


def _largest_png16(folder: Path) -> Path:
    from PIL import Image

    path = folder / "largest16.png"
    levels = np.asarray(Image.fromarray(_digit(5000)).resize((8000, 5000)))
    Image.fromarray(levels.astype(np.uint16) * 257).save(path, compress_level=1)
    return path


def _large_jpeg(folder: Path) -> Path:
    from PIL import Image

    path = folder / "large.jpg"
    Image.fromarray(_digit(6000)).resize((8000, 6000)).save(path, quality=80)
    return path


# name -> (what it is, how to make it, the parser: "model", "data", "idx" or "image")
INPUTS: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "deflate": ("model file, deflate stream corrupted", _deflate_corrupted, "model"),
    "encrypted": ("model file, encryption flag set", _encrypted, "model"),
    "method": ("model file, compression method 99", _unknown_method, "model"),
    "deep-json": ("model file, JSON nested 200,000 deep", _deep_json, "model"),
    "dataset-list": ("model file, metadata dataset a list", _dataset_list, "model"),
    "zip64": ("model file, 2 KB declaring 29 GiB (zip64)", _zip64_forged, "model"),
    "bomb-data": ("data folder, gzip bomb 1 GiB", _bomb_in_data_folder, "data"),
    "bomb-idx": ("IDX file, gzip bomb 1 GiB", _bomb_idx, "idx"),
    "png16": ("16-bit PNG, 300 x 300", _png16, "image"),
    "tiff": ("float TIFF, 300 x 300", _float_tiff, "image"),
    "huge-png": ("PNG 10000 x 10000 (100 KB)", _huge_png, "image"),
    "rgba-png": ("RGBA PNG 8000 x 5000 (the most pixels read)", _largest_rgba_png, "image"),
    "png16-large": ("16-bit PNG 8000 x 5000", _largest_png16, "image"),
    "jpeg": ("JPEG 8000 x 6000", _large_jpeg, "image"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def read_one(parser: str, path: str) -> dict[str, object]:
    """Read ``path`` with ``parser`` in this process: what came out (the path shown as
    FILE) and the memory."""
    from nnscratch import data, idx, images

    before = hostile.peak_rss()
    try:
        if parser == "model":
            outcome = f"loaded {MLP.load(path)!r}"
        elif parser == "data":
            outcome = f"loaded {data.load_mnist(path, download=False)!r}"
        elif parser == "idx":
            outcome = f"read {idx.read_idx(path).shape}"
        else:
            outcome = f"read, {images.load_digit(path).shape}"
    except (ValueError, OSError) as error:
        outcome = f"{type(error).__name__}: {str(error).replace(path, 'FILE')}"
    return {"outcome": outcome, "before": before, "peak": hostile.peak_rss()}


def measure(names: list[str], folder: Path) -> list[tuple[str, str, int, int]]:
    """(input, outcome, resident bytes after the imports, peak resident bytes) per input, each
    made in a process and read in another."""
    rows = []
    for name in names:
        what, _, parser = INPUTS[name]
        made = subprocess.run(  # made elsewhere: this process stays small
            [sys.executable, __file__, "--make", name, str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        done = subprocess.run(
            [sys.executable, __file__, "--read", parser, made.stdout.strip()],
            capture_output=True,
            text=True,
            check=True,
        )
        reply = json.loads(done.stdout)
        rows.append((what, str(reply["outcome"]), int(reply["before"]), int(reply["peak"])))
    return rows


def format_table(rows: list[tuple[str, str, int, int]]) -> str:
    mib = 1 << 20
    lines = [
        f"{'input':<42} {'after imports':>13} {'peak RSS':>9}  what came out",
        f"{'':<42} {'(MiB)':>13} {'(MiB)':>9}",
    ]
    for what, outcome, before, peak in rows:
        shown = outcome if len(outcome) <= 90 else outcome[:87] + "..."
        lines.append(f"{what:<42} {before / mib:>13.0f} {peak / mib:>9.0f}  {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(INPUTS), action="append", help="one input")
    parser.add_argument("--make", nargs=2, metavar=("NAME", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--read", nargs=2, metavar=("PARSER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:
        name, folder = args.make
        print(INPUTS[name][1](Path(folder)))
        return
    if args.read:
        print(json.dumps(read_one(*args.read)))
        return
    with tempfile.TemporaryDirectory() as folder:
        print(format_table(measure(args.only or list(INPUTS), Path(folder))))


if __name__ == "__main__":
    main()
