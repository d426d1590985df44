"""Tests for nnscratch.mlpfile: what a model file of an MLP must hold, checked when
MLP.save writes one and when MLP.load reads one."""

import json
import os
import pathlib

import numpy as np
import pytest
from model_files import make_model

import nnscratch as ns
from nnscratch import modelfile
from nnscratch.model import MLP


@pytest.fixture
def saved(tmp_path) -> tuple[pathlib.Path, dict, dict]:
    """A model file written by MLP.save, its arrays and its decoded header, to tamper with."""
    path = tmp_path / "good.npz"
    make_model().save(path)
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(arrays.pop("metadata").tobytes())
    return path, arrays, header


def rewritten(path: pathlib.Path, arrays: dict, header: dict) -> pathlib.Path:
    """A model file with ``arrays`` and ``header`` (the format's keys included) at ``path``."""
    entries = arrays | {"metadata": np.frombuffer(json.dumps(header).encode(), np.uint8)}
    np.savez(path, **entries)
    return path


def test_the_header_describes_the_network(saved):
    _, arrays, header = saved
    assert sorted(arrays) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert header["format"] == "nnscratch-mlp" and header["format_version"] == 1
    assert header["sizes"] == [12, 7, 5, 3] and header["dtype"] == "float32"
    assert header["dropout"] == 0.25 and header["activation"] == "relu"
    assert header["metadata"]["preprocessing"] == {"scale": 1 / 255, "shape": [12]}


def test_save_refuses_parameters_that_left_the_network(tmp_path):
    model = make_model()
    model.params["W2"] = np.zeros((7, 4), np.float32)  # no longer the layers' array either
    with pytest.raises(ValueError, match=r"cannot save .* 'W2' must be float32 of shape \(7, 5\)"):
        model.save(tmp_path / "m.npz")
    model = make_model()
    model.params["W1"][0, 0] = np.inf
    with pytest.raises(ValueError, match="W1"):
        model.save(tmp_path / "m.npz")
    model = make_model()
    model.metadata = {"callback": object()}
    with pytest.raises(ValueError, match="JSON"):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sizes": None}, "sizes must be a list"),
        ({"sizes": [12]}, "sizes must list at least an input and an output"),
        ({"sizes": [12, 0, 5, 3]}, "layer widths must be positive integers"),
        ({"sizes": [12, 7.5, 5, 3]}, "layer widths must be positive integers"),
        ({"dtype": "object"}, "dtype must be one of 'float32', 'float64'"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
        ({"dropout": True}, "dropout must be a real number"),
        ({"metadata": [1]}, "metadata must be a JSON object"),
        ({"activation": "tanh"}, "activation must be one of 'relu', 'leaky_relu', got 'tanh'"),
        ({"activation": None}, "activation must be one of"),
    ],
)
def test_load_checks_the_header(saved, tmp_path, change, message):
    _, arrays, header = saved
    with pytest.raises(modelfile.ModelFileError, match=message):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header | change))


@pytest.mark.parametrize("key", ["sizes", "dtype", "dropout", "metadata"])
def test_load_needs_every_key(saved, tmp_path, key):
    _, arrays, header = saved
    del header[key]
    with pytest.raises(modelfile.ModelFileError, match=f"m.npz: the metadata lacks.*{key}"):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))


def test_a_file_from_before_the_activation_was_recorded_is_relu(saved, tmp_path):
    path, arrays, header = saved
    model = MLP.load(path)
    assert header["activation"] == "relu"
    del header["activation"]
    loaded = MLP.load(rewritten(tmp_path / "m.npz", arrays, header))
    assert loaded.activation == "relu"
    x = np.random.default_rng(0).normal(size=(3, model.sizes[0]))
    np.testing.assert_array_equal(loaded.logits(x), model.logits(x))


def test_missing_array(saved, tmp_path):
    _, arrays, header = saved
    del arrays["b2"]
    with pytest.raises(modelfile.ModelFileError, match=r"missing: \['b2'\], unexpected: none"):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))


def test_extra_array(saved, tmp_path):
    _, arrays, header = saved
    arrays["W4"] = np.zeros((3, 2), np.float32)
    with pytest.raises(modelfile.ModelFileError, match=r"missing: none, unexpected: \['W4'\]"):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))


def test_sizes_that_do_not_match_the_arrays(saved, tmp_path):
    _, arrays, header = saved
    header["sizes"] = [12, 7, 5, 4]
    with pytest.raises(modelfile.ModelFileError, match=r"'W3' must be float32 of shape \(5, 4\)"):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("W1", np.zeros((7, 12), np.float32), r"shape \(12, 7\), found float32 of shape \(7, 12\)"),
        ("b1", np.zeros((1, 7), np.float32), r"shape \(7,\), found float32 of shape \(1, 7\)"),
        ("W2", np.zeros((7, 5), np.float64), "must be float32 of shape .* found float64"),
        ("b3", np.zeros(3, np.int32), "found int32"),
        ("W1", np.full((12, 7), np.nan, np.float32), "'W1' holds NaN or infinite"),
    ],
)
def test_load_refuses_arrays_that_do_not_make_the_network(saved, tmp_path, name, value, message):
    _, arrays, header = saved
    arrays[name] = value
    with pytest.raises(modelfile.ModelFileError, match=message):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"dataset": ["mnist"]}, r"metadata\['dataset'\] must be str, got list"),
        ({"dataset": {"name": "mnist"}}, r"metadata\['dataset'\] must be str, got dict"),
        ({"seed": 1.5}, r"metadata\['seed'\] must be int, got float"),
        ({"seed": True}, r"metadata\['seed'\] must be int, got bool"),
        ({"training_seconds": "fast"}, r"'training_seconds'\] must be int or float, got str"),
        ({"recipe": [1]}, r"metadata\['recipe'\] must be dict, got list"),
    ],
)
def test_load_checks_the_known_metadata(saved, tmp_path, metadata, message):
    """Issue 11: a model file whose metadata ``dataset`` was a list or a dict loaded, and the
    command line then failed with ``TypeError: unhashable type`` (``cli._trained_on``). The
    metadata nnscratch writes is typed and checked at load."""
    _, arrays, header = saved
    header["metadata"] |= metadata
    with pytest.raises(modelfile.ModelFileError, match=message):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))


def test_load_accepts_the_metadata_the_package_writes(tmp_path):
    model = make_model()
    known = {"dataset": "mnist", "seed": 3, "training_seconds": 1.5, "history": {"epochs": 2}}
    model.metadata |= known
    model.save(tmp_path / "m.npz")
    assert MLP.load(tmp_path / "m.npz").metadata.items() >= known.items()


def test_load_bounds_the_architecture(saved, tmp_path):
    """The network a header declares is bounded, in layers and in bytes, before any array is
    read: a clear message, not a MemoryError."""
    _, arrays, header = saved
    header["sizes"] = [12] * (ns.mlpfile.MAX_FILE_LAYERS + 2)
    with pytest.raises(modelfile.ModelFileError, match=r"513 widths; .* at most 511 layers"):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))
    header["sizes"] = [784, 100_000_000, 10]
    with pytest.raises(
        modelfile.ModelFileError,
        match=r"m\.npz: sizes \[784, 100000000, 10\] make a network of 79,500,000,010 "
        r"parameters \(296\.2 GiB in float32\), more than the 1 GiB a model file may hold",
    ):
        MLP.load(rewritten(tmp_path / "m.npz", arrays, header))
