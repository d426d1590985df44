"""Model files to test with, and ways to damage them: shared by test_modelfile.py,
test_archive.py, test_mlpfile.py and test_model.py (the tampering at the byte level is
hostile.py's)."""

from __future__ import annotations

import json
import pathlib
import zipfile

import hostile
import numpy as np
import pytest

from nnscratch.model import MLP
from nnscratch.modelfile import ModelFileError, load, save


def make_model(dtype=np.float32, sizes=(12, 7, 5, 3), dropout=0.25, activation="relu") -> MLP:
    """A small model with metadata of every kind a model file stores."""
    model = MLP(sizes, seed=0, dtype=dtype, dropout=dropout, activation=activation)
    model.metadata = {
        "recipe": {"hidden": (7, 5), "lr": 1e-3},
        "metrics": {"accuracy": np.float32(0.75), "confusion": np.eye(2, dtype=np.int64)},
        "preprocessing": {"scale": 1 / 255, "shape": [12]},
    }
    return model


def arrays_and_header() -> tuple[dict[str, np.ndarray], dict]:
    rng = np.random.default_rng(0)
    arrays = {"W1": rng.normal(size=(12, 7)).astype(np.float32), "b1": np.zeros(7, np.float32)}
    header = {
        "shape": (12, 7),
        "metrics": {"accuracy": np.float32(0.75), "confusion": np.eye(2, dtype=np.int64)},
    }
    return arrays, header


def good_file(tmp_path: pathlib.Path) -> tuple[pathlib.Path, dict, dict]:
    """A valid file, its arrays and its decoded header, to tamper with."""
    path = tmp_path / "good.npz"
    save(path, *arrays_and_header())
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


def rewrite_entry(path: pathlib.Path, entry: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    entries[entry] = data
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)


def crafted(tmp_path: pathlib.Path, data: bytes) -> pathlib.Path:
    path = tmp_path / "crafted.npz"
    path.write_bytes(data)
    return path


def refused(path: pathlib.Path, message: str, **kwargs) -> str:
    """Load ``path``, expecting a ModelFileError that names it and matches ``message``."""
    with pytest.raises(ModelFileError, match=message) as caught:
        load(path, **kwargs)
    assert str(caught.value).startswith(f"{path}: ")
    return str(caught.value)


def forged_2_kb_file(good) -> bytes:
    """W1's .npy header and its zip64 sizes forged to declare 29 GiB, in a 2 KB file."""
    path, _, _ = good
    shape = (3_891_000_000, 2)
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    data = hostile.edit_npy_header(path.read_bytes(), "W1.npy", text)
    size = 128 + shape[0] * shape[1] * 4
    return hostile.forge_zip64_sizes(data, "W1.npy", size, size)
