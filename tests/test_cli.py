"""Tests for the command line, end to end on a tiny synthetic data set (no download, seconds)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from dataclasses import asdict, replace
from importlib.metadata import entry_points

import numpy as np
import pytest
from PIL import Image

import nnscratch as ns
from nnscratch import cli, data, images, recipes, train

FAST = ["--epochs", "2", "--hidden", "16", "--batch-size", "32", "--validation-size", "40"]


def tiny_dataset(name: str) -> data.Dataset:
    """Ten classes, each a bright bar at its own place on a noisy background."""
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 4 + 2 * label : 6 + 2 * label, 6:22] = 255
        return x, y

    (x_train, y_train), (x_test, y_test) = split(240), split(60)
    return data.Dataset(name, x_train, y_train, x_test, y_test)


@pytest.fixture
def tiny_data(monkeypatch):
    """Loading any data set gives a tiny one; the name and data_dir of each call are recorded."""
    calls = []

    def load(name, data_dir=None, **kwargs):
        calls.append((name, data_dir))
        return tiny_dataset(name)

    monkeypatch.setattr(data, "load", load)
    return calls


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by ``nnscratch train`` on the tiny data set, and what it printed."""
    path = tmp_path_factory.mktemp("cli") / "model.npz"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data, "load", lambda name, data_dir=None, **kwargs: tiny_dataset(name))
        status, out, err = run_main(["train", *FAST, "--no-progress", "--out", str(path)])
    assert status == 0, err
    return path, out


def run_main(argv):
    """``cli.main(argv)`` in-process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def assert_one_error_line(err: str, pattern: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nnscratch: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err


def draw_digit(path, kind: str):
    """A dark-on-light picture of a "1" (a thick bar) or a "0" (a ring), as someone might draw."""
    r, c = np.mgrid[0:90, 0:70]
    if kind == "one":
        ink = (np.abs(c - 35) < 6) & (r > 10) & (r < 80)
    else:
        d = np.hypot((r - 45) / 35, (c - 35) / 25)
        ink = (d > 0.7) & (d < 1)
    Image.fromarray(np.where(ink, 20, 235).astype(np.uint8)).save(path)
    return path


def test_train_prints_and_saves(trained):
    path, out = trained
    assert "mnist: 240 training images (40 held out for validation), 60 test images" in out
    assert "recipe: hidden=(16,), epochs=2, batch_size=32" in out
    assert re.search(r"training time: \d+\.\d s", out)
    match = re.search(r"test accuracy: (\d+\.\d\d)%, test loss: (\d+\.\d{4}) \(60 images\)", out)
    assert match, out
    assert f"saved the model to {path}" in out
    model = ns.MLP.load(path)
    assert model.sizes == (784, 16, 10) and model.dtype == np.float32
    meta = model.metadata
    assert meta["dataset"] == "mnist" and meta["seed"] == 0
    assert meta["recipe"]["epochs"] == 2 and meta["recipe"]["hidden"] == [16]
    assert meta["training_seconds"] > 0
    assert meta["metrics"]["split"] == "test" and meta["metrics"]["n"] == 60
    assert f"{meta['metrics']['accuracy']:.2%}" == f"{match.group(1)}%"
    assert 0 <= meta["metrics"]["expected_calibration_error"] <= 1


def test_train_augment_saves_the_augmented_recipe_in_the_model(tiny_data, tmp_path):
    path = tmp_path / "m.npz"
    status, out, err = run_main(["train", "--augment", *FAST, "--no-progress", "--out", path])
    assert status == 0, err
    assert "augment={'rotate': 10" in out
    recipe = ns.MLP.load(path).metadata["recipe"]
    assert recipe["augment"] == json.loads(json.dumps(asdict(recipes.AUGMENTED.augment)))
    assert recipe["lr"] == recipes.AUGMENTED.lr and recipe["dropout"] == 0


def test_evaluate_text(trained, tiny_data):
    path, _ = trained
    status, out, err = run_main(["evaluate", path])
    assert status == 0, err
    assert tiny_data == [("mnist", None)]  # the data set the model was trained on
    assert f"model: {path} (784-16-10, float32)" in out
    assert re.search(r"precision +recall +f1-score +support", out)
    assert re.search(r"accuracy +\d\.\d{3} +60", out)
    assert "macro avg" in out and "weighted avg" in out
    assert "confusion matrix (rows: true class, columns: predicted class):" in out
    assert re.search(r"expected calibration error \(15 bins\): \d\.\d{4}", out)


def test_evaluate_json_agrees_with_the_model(trained, tiny_data):
    path, _ = trained
    status, out, _ = run_main(["evaluate", path, "--json", "--data-dir", "somewhere"])
    assert status == 0
    assert tiny_data == [("mnist", "somewhere")]
    report = json.loads(out)
    model, ds = ns.MLP.load(path), tiny_dataset("mnist")
    y_pred = model.predict(data.preprocess(ds.x_test))
    assert report["dataset"] == "mnist" and report["n"] == 60
    assert report["accuracy"] == ns.metrics.accuracy(ds.y_test, y_pred)
    assert report["accuracy"] == model.metadata["metrics"]["accuracy"]
    assert report["confusion_matrix"] == ns.metrics.confusion_matrix(ds.y_test, y_pred, 10).tolist()
    assert [c["support"] for c in report["classes"]] == np.bincount(
        ds.y_test, minlength=10
    ).tolist()
    assert set(report["macro_avg"]) == {"precision", "recall", "f1"}
    assert 0 <= report["expected_calibration_error"] <= 1 and report["loss"] > 0


def test_predict_reads_drawn_digits_and_reports_bad_files(trained, tmp_path):
    path, _ = trained
    one = draw_digit(tmp_path / "one.png", "one")
    zero = draw_digit(tmp_path / "zero.jpg", "zero")
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    status, out, err = run_main(["predict", path, one, notes, zero, tmp_path / "absent.png"])
    assert status == 1
    lines = out.splitlines()
    assert len(lines) == 2
    model = ns.MLP.load(path)
    for line, image in zip(lines, [one, zero], strict=True):
        proba = model.predict_proba(images.load_digit(image)[None])[0]
        assert line == f"{image}: {proba.argmax()} ({proba.max():.1%})"
    errors = err.splitlines()
    assert len(errors) == 2 and all(e.startswith("nnscratch: error: ") for e in errors)
    assert "notes.png: not an image file" in errors[0]
    assert "absent.png: No such file or directory" in errors[1]


def test_predict_all_good_exits_zero(trained, tmp_path):
    path, _ = trained
    status, out, err = run_main(["predict", path, draw_digit(tmp_path / "a.png", "one")])
    assert status == 0 and err == "" and len(out.splitlines()) == 1


def test_fashion_mnist_names_its_classes(tiny_data, tmp_path):
    path = tmp_path / "fashion.npz"
    status, _, _ = run_main(
        ["train", *FAST, "--dataset", "fashion-mnist", "--no-progress", "--out", path]
    )
    assert status == 0
    status, out, _ = run_main(["evaluate", path])
    assert status == 0 and "T-shirt/top" in out and "Ankle boot" in out
    assert tiny_data == [("fashion-mnist", None), ("fashion-mnist", None)]
    status, out, _ = run_main(["predict", path, draw_digit(tmp_path / "a.png", "one")])
    assert status == 0
    assert out.split(": ", 1)[1].rsplit(" (", 1)[0] in data.FASHION_MNIST_CLASSES


@pytest.fixture
def recorded_recipe(monkeypatch, tiny_data):
    """Replace the training by a stub that records how it was called."""
    calls = {}

    def fake_train_recipe(images, labels, recipe, *, seed, progress):
        calls.update(recipe=recipe, seed=seed, progress=progress)
        return ns.MLP([784, 10], seed=0, dtype=recipe.dtype), train.History()

    monkeypatch.setattr(recipes, "train_recipe", fake_train_recipe)
    return calls


def test_train_defaults_are_the_recipe(recorded_recipe, tmp_path):
    status, out, _ = run_main(["train", "--out", tmp_path / "m.npz"])
    assert status == 0
    assert recorded_recipe == {"recipe": recipes.Recipe(), "seed": 0, "progress": True}


@pytest.mark.parametrize(
    ("options", "changes"),
    [
        (["--hidden", "64", "32"], {"hidden": (64, 32)}),
        (["--hidden", "64", "--hidden", "32"], {"hidden": (64, 32)}),
        (["--hidden"], {"hidden": ()}),
        (
            ["--epochs", "3", "--batch-size", "64", "--optimizer", "sgd", "--lr", "0.05"],
            {"epochs": 3, "batch_size": 64, "optimizer": "sgd", "lr": 0.05},
        ),
        (
            ["--dropout", "0", "--label-smoothing", "0.05", "--weight-decay", "1e-4"],
            {"dropout": 0.0, "label_smoothing": 0.05, "weight_decay": 1e-4},
        ),
        (
            ["--schedule", "step", "--validation-size", "0", "--dtype", "float64"],
            {"schedule": "step", "validation_size": 0, "dtype": "float64"},
        ),
        (["--epochs", "1", "--warmup-epochs", "0"], {"epochs": 1, "warmup_epochs": 0.0}),
    ],
)
def test_train_options_override_the_recipe(recorded_recipe, tmp_path, options, changes):
    argv = ["train", *options, "--seed", "7", "--no-progress", "--out", tmp_path / "m.npz"]
    assert run_main(argv)[0] == 0
    assert recorded_recipe["recipe"] == recipes.Recipe(**changes)
    assert recorded_recipe["seed"] == 7 and recorded_recipe["progress"] is False


def test_train_augment_starts_from_the_augmented_recipe(recorded_recipe, tmp_path):
    argv = ["train", "--augment", "--epochs", "3", "--out", tmp_path / "m.npz"]
    assert run_main(argv)[0] == 0
    assert recorded_recipe["recipe"] == replace(recipes.AUGMENTED, epochs=3)


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["train", "--epochs", "0"], r"argument --epochs: must be an integer >= 1, got '0'"),
        (["train", "--batch-size", "many"], r"argument --batch-size: must be an integer"),
        (["train", "--lr", "-1"], r"argument --lr: must be a number > 0"),
        (["train", "--lr", "nan"], r"argument --lr: must be a number > 0"),
        (["train", "--dropout", "1"], r"argument --dropout: must be a number in \[0, 1\)"),
        (["train", "--label-smoothing", "x"], r"argument --label-smoothing: must be a number"),
        (["train", "--weight-decay", "-0.1"], r"argument --weight-decay: must be a number >= 0"),
        (["train", "--optimizer", "rmsprop"], r"argument --optimizer: invalid choice"),
        (["train", "--hidden", "0"], r"argument --hidden: must be an integer >= 1"),
        (["train", "--dataset", "cifar"], r"argument --dataset: invalid choice"),
        (["train", "--bogus"], r"unrecognized arguments: --bogus"),
        (["fly"], r"invalid choice: 'fly'"),
        ([], r"required: command"),
        (["predict", "model.npz"], r"required: IMAGE"),
    ],
)
def test_usage_errors(argv, pattern):
    status, out, err = run_main(argv)
    assert status == 2 and out == ""
    assert_one_error_line(err, pattern)


def test_train_checks_the_output_before_training(recorded_recipe, tmp_path):
    status, _, err = run_main(["train", "--out", tmp_path / "model.pkl"])
    assert status == 1
    assert_one_error_line(err, r"--out must name a \.npz file")
    status, _, err = run_main(["train", "--out", tmp_path / "missing" / "m.npz"])
    assert status == 1
    assert_one_error_line(err, r"--out: the folder .*missing' does not exist")
    assert recorded_recipe == {}


def test_recipe_errors_are_one_line(recorded_recipe, tmp_path):
    status, _, err = run_main(["train", "--epochs", "1", "--out", tmp_path / "m.npz"])
    assert status == 1  # the default warm-up of one epoch needs more than one epoch
    assert_one_error_line(err, r"warmup_epochs")


def test_data_not_found_is_one_line(monkeypatch, tmp_path):
    def missing(name, data_dir=None, **kwargs):
        raise data.DataNotFoundError(f"{name}: 4 file(s) not found: a, b.\nSearched:\n  /x\n")

    monkeypatch.setattr(data, "load", missing)
    status, _, err = run_main(["train", "--out", tmp_path / "m.npz"])
    assert status == 1
    assert_one_error_line(err, r"mnist: 4 file\(s\) not found: a, b\. Pass --data-dir DIR")


def test_divergence_is_one_line(monkeypatch, tiny_data, tmp_path):
    def diverge(*args, **kwargs):
        raise train.DivergenceError("training diverged at epoch 0", epoch=0, step=3, loss=np.nan)

    monkeypatch.setattr(recipes, "train_recipe", diverge)
    status, _, err = run_main(["train", "--lr", "100", "--out", tmp_path / "m.npz"])
    assert status == 1
    assert_one_error_line(err, "training diverged at epoch 0")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_bad_model_files(command, tmp_path, tiny_data):
    text = tmp_path / "model.npz"
    text.write_text("hello")
    extra = [draw_digit(tmp_path / "a.png", "one")] if command == "predict" else []
    status, out, err = run_main([command, text, *extra])
    assert status == 1 and out == ""
    assert_one_error_line(err, r"model\.npz: not an nnscratch model file \(not a zip archive\)")
    status, _, err = run_main([command, tmp_path / "absent.npz", *extra])
    assert status == 1
    assert_one_error_line(err, r"absent\.npz: No such file or directory")
    small = tmp_path / "small.npz"
    ns.MLP([5, 10], seed=0).save(small)
    status, _, err = run_main([command, small, *extra])
    assert status == 1
    assert_one_error_line(err, "5 inputs")


def test_version():
    status, out, _ = run_main(["--version"])
    assert status == 0 and out.strip() == f"nnscratch {ns.__version__}"


def test_help_exits_zero():
    status, out, _ = run_main(["train", "--help"])
    assert status == 0 and "--label-smoothing" in out
    assert f"(default: {recipes.Recipe().epochs})" in out


def test_console_script_is_declared():
    scripts = entry_points(group="console_scripts")
    assert scripts["nnscratch"].value == "nnscratch.cli:main"


def test_python_m_nnscratch(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "nnscratch", "--help"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0
    assert "train" in run.stdout and "evaluate" in run.stdout and "predict" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "nnscratch", "evaluate", str(tmp_path / "absent.npz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1 and run.stdout == ""
    assert_one_error_line(run.stderr, r"absent\.npz: No such file or directory")
