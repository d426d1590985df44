"""Tests for nnscratch.export: a model's weights encoded for the browser, in a script file."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import export


@pytest.fixture
def model_file(tmp_path):
    """A small trained-looking model (random weights, non-zero biases) saved to a file."""
    model = ns.MLP([784, 16, 10], seed=0, dtype=np.float32)
    rng = np.random.default_rng(1)
    for name in ("b1", "b2"):
        model.params[name][...] = rng.standard_normal(model.params[name].shape)
    path = tmp_path / "model.npz"
    model.save(path)
    return path


def samples(n=5):
    rng = np.random.default_rng(2)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n)


# ------------------------------------------------------------------ arrays


def test_float16_decodes_to_the_half_precision_values():
    x = np.random.default_rng(0).standard_normal((7, 5)) * [1e-6, 1e-3, 1, 10, 1e4]
    decoded = export.decode_array(export.encode_array(x, "float16"))
    assert decoded.dtype == np.float64 and decoded.shape == (7, 5)
    np.testing.assert_array_equal(decoded, x.astype(np.float16).astype(np.float64))


def test_float32_and_uint8_are_exact():
    x = np.random.default_rng(0).standard_normal(9).astype(np.float32)
    np.testing.assert_array_equal(export.decode_array(export.encode_array(x, "float32")), x)
    images = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    np.testing.assert_array_equal(export.decode_array(export.encode_array(images, "uint8")), images)


def test_int8_scales_each_column_and_errs_by_at_most_half_a_step():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((50, 4)) * [1e-3, 1, 100, 0]  # the last column is all zeros
    entry = export.encode_array(W, "int8")
    decoded = export.decode_array(entry)
    scale = np.asarray(entry["scale"])
    np.testing.assert_allclose(scale[:3], np.abs(W[:, :3]).max(axis=0) / 127, rtol=1e-15)
    assert np.all(np.abs(decoded - W) <= scale / 2 * (1 + 1e-12))
    np.testing.assert_array_equal(decoded[:, 3], 0)
    # The largest weight of each column is stored exactly (q = +-127), and -W as -q.
    np.testing.assert_allclose(np.abs(decoded[:, :3]).max(axis=0), np.abs(W[:, :3]).max(axis=0))
    np.testing.assert_array_equal(export.decode_array(export.encode_array(-W, "int8")), -decoded)


def test_entries_are_plain_json_with_little_endian_base64():
    entry = export.encode_array(np.array([1.0, -2.0]), "float16")
    assert json.loads(json.dumps(entry)) == entry
    assert entry == {"encoding": "float16", "shape": [2], "data": "ADwAwA=="}  # 0x3c00, 0xc000


@pytest.mark.parametrize(
    ("array", "encoding", "message"),
    [
        (np.ones(3), "bfloat16", "encoding must be one of"),
        (np.array([1.0, np.nan]), "float16", "found 1 NaN or infinite"),
        (np.array([1e5]), "float16", "beyond the range of float16"),
        (np.ones(3), "int8", "matrix"),
        (np.array([0, 256]), "uint8", r"integers in \[0, 255\]"),
        (np.array([0.5]), "uint8", r"integers in \[0, 255\]"),
    ],
)
def test_encode_refuses_what_it_cannot_encode(array, encoding, message):
    with pytest.raises(ValueError, match=message):
        export.encode_array(array, encoding)


def test_decode_refuses_data_that_does_not_match_the_entry():
    entry = export.encode_array(np.ones((3, 2)), "int8")
    with pytest.raises(ValueError, match=r"holds 6 values, shape \(4, 2\) needs 8"):
        export.decode_array(entry | {"shape": [4, 2]})
    with pytest.raises(ValueError, match="one scale per column"):
        export.decode_array(entry | {"scale": [1.0]})
    with pytest.raises(ValueError, match="encoding must be one of"):
        export.decode_array(entry | {"encoding": "int4"})


# ------------------------------------------------------------------ models


@pytest.mark.parametrize("encoding", export.ENCODINGS)
def test_quantise_gives_the_decoded_weights_and_exact_biases(model_file, encoding):
    model = ns.MLP.load(model_file)
    page = export.quantise(model, encoding)
    assert page.dtype == np.float64 and page.sizes == model.sizes
    for name, value in model.params.items():
        if name.startswith("b"):
            np.testing.assert_array_equal(page.params[name], value)
        else:
            expected = export.decode_array(export.encode_array(value, encoding))
            np.testing.assert_array_equal(page.params[name], expected)
            assert not np.array_equal(page.params[name], value)  # it was rounded


def test_float16_keeps_the_probabilities_close(model_file):
    model = ns.MLP.load(model_file)
    x = np.random.default_rng(3).random((64, 784))
    p = export.quantise(model, "float16").predict_proba(x)
    np.testing.assert_allclose(p, model.predict_proba(x.astype(np.float32)), atol=1e-2)


def test_quantise_refuses_an_unknown_encoding(model_file):
    with pytest.raises(ValueError, match="encoding must be one of"):
        export.quantise(ns.MLP.load(model_file), "float32")


# ------------------------------------------------------------------ files


@pytest.mark.parametrize("encoding", export.ENCODINGS)
def test_export_round_trip(model_file, tmp_path, encoding):
    images, labels = samples()
    path = tmp_path / "pad" / "weights.js"
    export.export_model(
        model_file, path, encoding=encoding, sample_images=images, sample_labels=labels
    )
    page, content = export.load_export(path)
    assert content["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert content["model_file"] == "model.npz"
    assert content["sizes"] == [784, 16, 10] and content["encoding"] == encoding
    assert content["params"]["W1"]["shape"] == [784, 16]
    reference = export.quantise(ns.MLP.load(model_file), encoding)
    for name, value in reference.params.items():
        np.testing.assert_array_equal(page.params[name], value)
    np.testing.assert_array_equal(content["samples"]["images"], images)
    np.testing.assert_array_equal(content["samples"]["labels"], labels)
    assert [p.name for p in path.parent.iterdir()] == ["weights.js"]  # no temporary file left


def test_the_script_sets_one_global_in_javascript(model_file, tmp_path):
    """Run by Node.js with a stand-in for ``window``: the global holds the file's object."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    path = tmp_path / "weights.js"
    export.export_model(model_file, path, encoding="float16")
    program = (
        "const fs = require('fs'); global.window = {};"
        f"eval(fs.readFileSync({json.dumps(str(path))}, 'utf8'));"
        f"process.stdout.write(JSON.stringify(Object.keys(window)) + '\\n');"
        f"process.stdout.write(JSON.stringify(window.{export.GLOBAL_NAME}));"
    )
    out = subprocess.run([node, "-e", program], capture_output=True, text=True, check=True)
    keys, content = out.stdout.split("\n", 1)
    assert json.loads(keys) == [export.GLOBAL_NAME]
    _, expected = export.load_export(path)
    assert json.loads(content) == expected


def test_no_samples_means_no_samples_entry(model_file, tmp_path):
    path = tmp_path / "weights.js"
    export.export_model(model_file, path, encoding="int8")
    assert "samples" not in export.load_export(path)[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"encoding": "float32"}, "encoding must be one of"),
        ({"encoding": "float16", "sample_images": samples()[0]}, "go together"),
        (
            {"encoding": "float16", "sample_images": samples()[0], "sample_labels": [1, 2]},
            "must hold 5 labels",
        ),
        (
            {
                "encoding": "float16",
                "sample_images": np.zeros((2, 28, 27), np.uint8),
                "sample_labels": [1, 2],
            },
            r"h \* w = 784",
        ),
        (
            {
                "encoding": "float16",
                "sample_images": np.zeros((2, 28, 28)),
                "sample_labels": [1, 2],
            },
            "uint8 images",
        ),
    ],
)
def test_a_failed_export_leaves_the_old_file(model_file, tmp_path, kwargs, message):
    path = tmp_path / "weights.js"
    path.write_text("the old file", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        export.export_model(model_file, path, **kwargs)
    assert path.read_text(encoding="utf-8") == "the old file"
    assert {p.name for p in tmp_path.iterdir()} == {"model.npz", "weights.js"}


def test_export_refuses_a_name_without_js(model_file, tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.js"):
        export.export_model(model_file, tmp_path / "weights.json", encoding="float16")


def test_export_refuses_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ns.modelfile.ModelFileError):
        export.export_model(bad, tmp_path / "weights.js", encoding="float16")


def test_load_export_names_the_file_it_refuses(model_file, tmp_path):
    path = tmp_path / "weights.js"
    path.write_text("window.somethingElse = {};\n", encoding="utf-8")
    with pytest.raises(ValueError, match="weights.js: not a model script"):
        export.load_export(path)

    export.export_model(model_file, path, encoding="float16")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"format_version": 1', '"format_version": 2'), encoding="utf-8")
    with pytest.raises(ValueError, match="weights.js: expected format .* version 1, found"):
        export.load_export(path)

    path.write_text(text[:-10] + ";\n", encoding="utf-8")
    with pytest.raises(ValueError, match="weights.js: the model's JSON is damaged"):
        export.load_export(path)

    content = json.loads(text[text.index("{") : -2])
    content["params"]["W2"]["data"] = content["params"]["W2"]["data"][:-8]
    prefix = text[: text.index("{")]
    path.write_text(prefix + json.dumps(content) + ";\n", encoding="utf-8")
    with pytest.raises(ValueError, match="weights.js: cannot decode the model"):
        export.load_export(path)
