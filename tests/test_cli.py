"""Tests for the command line, end to end on a tiny synthetic data set (no download, seconds).

The tests that need a process of their own (signals, pipes, what a redirected stderr receives)
run ``DRIVER``, which stands the tiny data set in for the real one and calls ``cli.main``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import tomllib
import warnings
from dataclasses import fields, replace
from importlib.metadata import entry_points
from pathlib import Path

import hostile
import numpy as np
import pytest
from fake_mnist import closed_port_url
from PIL import Image

import nnscratch as ns
from nnscratch import cli, data, images, options, prepare, recipes, runs, train

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
    return path, out, err


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run_main(argv, *, stderr: io.StringIO | None = None):
    """``cli.main(argv)`` in-process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), stderr or io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from test_cli import tiny_dataset
from nnscratch import cli, data

data.load = lambda name, data_dir=None, **kwargs: tiny_dataset(name)
if sys.argv[2] == "slow-save":  # np.savez writes a part, then takes its time
    def slow_savez(file, **arrays):
        file.write(b"x" * 100_000)
        file.flush()
        print("writing", file=sys.stderr, flush=True)
        import time
        time.sleep(60)
    np.savez = slow_savez
sys.exit(cli.main(sys.argv[3:]))
"""


def driver(argv, *, mode: str = "plain", **kwargs) -> subprocess.Popen:
    """``nnscratch ARGV`` on the tiny data set, in a process of its own."""
    command = [sys.executable, "-c", textwrap.dedent(DRIVER), str(Path(__file__).parent), mode]
    return subprocess.Popen([*command, *map(str, argv)], text=True, **kwargs)


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
    path, out, err = trained
    assert "mnist: 240 training images (40 held out for validation), 60 test images" in out
    assert "recipe: hidden=[16], epochs=2, batch_size=32" in out
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


def test_without_progress_bars_each_epoch_gets_a_line(trained):
    _, _, err = trained
    lines = err.splitlines()
    assert len(lines) == 2 and "\r" not in err
    for epoch, line in enumerate(lines, start=1):
        pattern = rf"epoch {epoch}/2: loss \d\.\d{{4}}, accuracy \d+\.\d\d%; validation loss "
        assert re.match(pattern + r"\d\.\d{4}, accuracy \d+\.\d\d%; \d+\.\d s$", line), line


def test_train_augment_starts_from_the_augmented_recipe(tiny_data, tmp_path):
    path = tmp_path / "m.npz"
    argv = ["train", "--augment", *FAST, "--rotate", "5", "--no-progress", "--out", path]
    status, out, err = run_main(argv)
    assert status == 0, err
    expected = replace(
        recipes.AUGMENTED, epochs=2, hidden=(16,), batch_size=32, validation_size=40, rotate=5.0
    )
    assert ns.MLP.load(path).metadata["recipe"] == expected.settings()
    assert "rotate=5.0, scale=0.1, shear=10.0, translate=1.0, elastic_alpha=16.0" in out


def test_evaluate_text(trained, tiny_data):
    path, _, _ = trained
    status, out, err = run_main(["evaluate", path])
    assert status == 0, err
    assert tiny_data == [("mnist", None)]  # the data set the model was trained on
    assert f"model: {path} (784-16-10, float32)" in out
    assert re.search(r"precision +recall +f1-score +specificity +support +TP +FP +FN +TN", out)
    assert re.search(r"accuracy +\d\.\d{3} +60", out)
    assert "macro avg" in out and "weighted avg" in out
    assert "confusion matrix (rows: true class, columns: predicted class):" in out
    assert re.search(r"expected calibration error \(15 bins\): \d\.\d{4}", out)


def test_evaluate_prints_each_classs_counts_and_specificity(trained, tiny_data):
    """Issue 15: the original program reported TP, FP, FN and TN per class; evaluate did not."""
    path, _, _ = trained
    out = run_main(["evaluate", path])[1]
    model, ds = ns.MLP.load(path), tiny_dataset("mnist")
    y_pred = model.predict(prepare.preprocess(ds.x_test))
    tp, fp, fn, tn = ns.metrics.one_vs_rest_counts(ds.y_test, y_pred, 10)
    specificity = ns.metrics.specificity(ds.y_test, y_pred, 10)
    report = out.split("confusion matrix")[0]
    rows = {line.split()[0]: line.split() for line in report.splitlines() if line.strip()}
    for label in range(10):
        row = rows[str(label)]
        assert row[4] == f"{specificity[label]:.3f}"
        assert row[6:] == [str(tp[label]), str(fp[label]), str(fn[label]), str(tn[label])]


def test_evaluate_json_agrees_with_the_model(trained, tiny_data, tmp_path):
    path, _, _ = trained
    status, out, err = run_main(["evaluate", path, "--json", "--data-dir", tmp_path])
    assert status == 0 and err == ""
    assert tiny_data == [("mnist", str(tmp_path))]
    report = json.loads(out)
    model, ds = ns.MLP.load(path), tiny_dataset("mnist")
    y_pred = model.predict(prepare.preprocess(ds.x_test))
    assert report["dataset"] == "mnist" and report["n"] == 60
    assert report["accuracy"] == ns.metrics.accuracy(ds.y_test, y_pred)
    assert report["accuracy"] == model.metadata["metrics"]["accuracy"]
    assert report["confusion_matrix"] == ns.metrics.confusion_matrix(ds.y_test, y_pred, 10).tolist()
    assert [c["support"] for c in report["classes"]] == np.bincount(
        ds.y_test, minlength=10
    ).tolist()
    counts = ns.metrics.one_vs_rest_counts(ds.y_test, y_pred, 10)
    for key, values in zip(("tp", "fp", "fn", "tn"), counts, strict=True):
        assert [c[key] for c in report["classes"]] == values.tolist(), key
    assert set(report["macro_avg"]) == {"precision", "recall", "f1"}
    assert 0 <= report["expected_calibration_error"] <= 1 and report["loss"] > 0


def test_predict_reads_drawn_digits_and_reports_bad_files(trained, tmp_path):
    path, _, _ = trained
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
        guessed = "dark ink on light (guessed; --ink overrides)"
        assert line == f"{image}: {proba.argmax()} ({proba.max():.1%}), {guessed}"
    errors = err.splitlines()
    assert len(errors) == 2 and all(e.startswith("nnscratch: error: ") for e in errors)
    assert "notes.png: not an image file" in errors[0]
    assert "absent.png: No such file or directory" in errors[1]


def test_predict_all_good_exits_zero(trained, tmp_path):
    path, _, _ = trained
    status, out, err = run_main(["predict", path, draw_digit(tmp_path / "a.png", "one")])
    assert status == 0 and err == "" and len(out.splitlines()) == 1


def test_predict_json(trained, tmp_path):
    """Issue 15: predict had no --json."""
    path, _, _ = trained
    one = draw_digit(tmp_path / "one.png", "one")
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    status, out, err = run_main(["predict", path, one, notes, "--json"])
    assert status == 1 and len(err.splitlines()) == 1
    report = json.loads(out)
    proba = ns.MLP.load(path).predict_proba(images.load_digit(one)[None])[0]
    assert report["model"] == str(path)
    [prediction] = report["predictions"]
    assert prediction["image"] == str(one) and prediction["label"] == int(proba.argmax())
    assert prediction["class"] == str(proba.argmax())
    assert prediction["probability"] == float(proba.max())
    assert prediction["probabilities"] == proba.astype(float).tolist()
    assert prediction["ink"] == "dark" and prediction["ink_guessed"] is True
    [error] = report["errors"]
    assert error["image"] == str(notes) and "not an image file" in error["error"]


def light_on_dark(path, kind: str):
    """A picture drawn as MNIST's digits are: light ink on a dark background."""
    image = np.asarray(Image.open(draw_digit(path, kind)))
    Image.fromarray(255 - image).save(path)
    return path


@pytest.mark.parametrize(
    ("drawing", "options", "ink", "guessed"),
    [
        (draw_digit, [], "dark", True),
        (light_on_dark, [], "light", True),
        (draw_digit, ["--ink", "dark"], "dark", False),
        (light_on_dark, ["--ink", "light"], "light", False),
        (light_on_dark, ["--ink", "auto"], "light", True),
    ],
)
def test_predict_says_which_ink_it_assumed(trained, tmp_path, drawing, options, ink, guessed):
    """Issue 11: the output never said which polarity was assumed, nor could it be chosen."""
    path, _, _ = trained
    picture = drawing(tmp_path / "one.png", "one")
    status, out, err = run_main(["predict", path, picture, *options])
    assert status == 0 and err == ""
    proba = ns.MLP.load(path).predict_proba(images.load_digit(picture, ink=ink)[None])[0]
    background = {"dark": "light", "light": "dark"}[ink]
    how = " (guessed; --ink overrides)" if guessed else ""
    assert (
        out == f"{picture}: {proba.argmax()} ({proba.max():.1%}), {ink} ink on {background}{how}\n"
    )


def test_ink_overrides_the_guess(trained, tmp_path):
    """Read as light ink, a dark-on-light picture has no ink (the guess, dark, reads it)."""
    path, _, _ = trained
    picture = draw_digit(tmp_path / "one.png", "one")
    status, out, err = run_main(["predict", path, picture, "--ink", "light", "--json"])
    assert status == 1 and json.loads(out)["predictions"] == []
    assert_one_error_line(err, rf"{re.escape(str(picture))}: the image is blank")


def predicted(out: str) -> tuple[str, str]:
    """The class and the ink of the one line ``predict`` printed."""
    match = re.fullmatch(r".*: (\S+) \(\d+\.\d%\), (\w+ ink on \w+).*\n", out)
    assert match, out
    return match[1], match[2]


def test_a_16_bit_picture_reads_as_its_8_bit_copy(trained, tmp_path):
    """Issue 11: a 16-bit grey PNG was clipped to black and white (here all white: blank)."""
    path, _, _ = trained
    eight = draw_digit(tmp_path / "eight.png", "one")
    levels = np.asarray(Image.open(eight)).astype(np.uint16) * 257
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(levels).save(sixteen)
    assert Image.open(sixteen).mode.startswith("I;16")
    results = [run_main(["predict", path, picture]) for picture in (eight, sixteen)]
    assert [status for status, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert predicted(results[0][1]) == predicted(results[1][1])
    assert predicted(results[1][1])[1] == "dark ink on light"


def test_a_dark_frame_does_not_change_the_ink_or_the_class(trained, tmp_path):
    """Issue 11: a digit drawn dark on light inside a dark frame was read as light ink."""
    path, _, _ = trained
    plain = draw_digit(tmp_path / "plain.png", "one")
    gray = np.asarray(Image.open(plain)).copy()
    gray[:4], gray[-4:], gray[:, :4], gray[:, -4:] = 0, 0, 0, 0
    framed = tmp_path / "framed.png"
    Image.fromarray(gray).save(framed)
    (_, plain_out, _), (status, framed_out, err) = (
        run_main(["predict", path, picture]) for picture in (plain, framed)
    )
    assert status == 0, err
    assert predicted(framed_out) == predicted(plain_out)
    assert predicted(framed_out)[1] == "dark ink on light"


def test_a_huge_picture_is_one_line(trained, tmp_path):
    """Issue 11: a 10000 x 10000 PNG took 14 s and 4.8 GB and printed Pillow's raw warning."""
    path, _, _ = trained
    huge = tmp_path / "huge.png"
    huge.write_bytes(hostile.png(10_000, 10_000))
    status, out, err = run_main(["predict", path, huge])
    assert status == 1 and out == ""
    assert_one_error_line(err, rf"{re.escape(str(huge))}: the image is too large: 10000 x 10000")


def test_pillows_warnings_become_warning_lines(trained, tmp_path, monkeypatch):
    """A warning about a picture (images.read_gray reissues Pillow's, naming the file) is one
    line of ours on stderr, not Python's warning display."""
    path, _, _ = trained
    picture = draw_digit(tmp_path / "one.png", "one")
    read_gray = images.read_gray

    def warning_read(source):
        warnings.warn(
            f"{source}: Corrupt EXIF data.\nExpecting 12 bytes", UserWarning, stacklevel=2
        )
        return read_gray(source)

    monkeypatch.setattr(images, "read_gray", warning_read)
    status, out, err = run_main(["predict", path, picture])
    assert status == 0 and len(out.splitlines()) == 1
    assert err == f"nnscratch: warning: {picture}: Corrupt EXIF data. Expecting 12 bytes\n"


def test_train_json_is_one_object_and_nothing_else(tiny_data, tmp_path):
    """Issue 15: train had no --json."""
    path = tmp_path / "m.npz"
    status, out, err = run_main(["train", *FAST, "--json", "--out", path])
    assert status == 0
    report = json.loads(out)  # the whole of stdout is one JSON object
    model = ns.MLP.load(path)
    assert report["model"] == str(path) and report["dataset"] == "mnist" and report["seed"] == 0
    assert report["recipe"] == model.metadata["recipe"]
    assert report["training_images"] == 200 and report["validation_images"] == 40
    assert report["test"] == model.metadata["metrics"]
    assert report["history"] == model.metadata["history"]
    assert report["training_seconds"] == model.metadata["training_seconds"]
    assert len(err.splitlines()) == 2  # the epochs' lines go to stderr


def test_quiet_prints_nothing(tiny_data, tmp_path):
    status, out, err = run_main(["train", *FAST, "--quiet", "--out", tmp_path / "m.npz"])
    assert status == 0 and out == "" and err == ""
    assert (tmp_path / "m.npz").exists()


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
    match = re.fullmatch(r".*a\.png: (.+) \(\d+\.\d%\), dark ink on light.*\n", out)
    assert match and match.group(1) in data.FASHION_MNIST_CLASSES, out


# --------------------------------------------------------------------------- the options


@pytest.fixture
def recorded_recipe(monkeypatch, tiny_data):
    """Replace the training by a stub that records how it was called."""
    calls = {}

    def fake_train_recipe(images, labels, recipe, *, seed, progress, callbacks):
        calls.update(recipe=recipe, seed=seed, progress=progress, callbacks=list(callbacks))
        return ns.MLP([784, 10], seed=0, dtype=recipe.dtype), train.History()

    monkeypatch.setattr(runs, "train_recipe", fake_train_recipe)
    return calls


def test_train_defaults_are_the_recipe(recorded_recipe, tmp_path):
    status, _, err = run_main(["train", "--out", tmp_path / "m.npz"])
    assert status == 0, err
    assert recorded_recipe["recipe"] == recipes.Recipe() and recorded_recipe["seed"] == 0


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
        (["--optimizer", "sgd", "--momentum", "0.5"], {"optimizer": "sgd", "momentum": 0.5}),
        (["--epochs", "1", "--warmup-epochs", "0"], {"epochs": 1, "warmup_epochs": 0.0}),
        (["--epochs", "1"], {"epochs": 1, "warmup_epochs": 1 / 15}),
    ],
)
def test_train_options_override_the_recipe(recorded_recipe, tmp_path, options, changes):
    argv = ["train", *options, "--seed", "7", "--no-progress", "--out", tmp_path / "m.npz"]
    assert run_main(argv)[0] == 0
    assert recorded_recipe["recipe"] == recipes.Recipe(**changes)
    assert recorded_recipe["seed"] == 7 and recorded_recipe["progress"] is False


def test_one_epoch_works_with_the_warm_up_shrunk(tiny_data, tmp_path):
    """Issue 15: ``train --epochs 1``, the obvious short run, failed on the default warm-up of
    one epoch; it keeps its share of the default run instead, a fifteenth."""
    status, out, err = run_main(["train", *FAST, "--epochs", "1", "--out", tmp_path / "m.npz"])
    assert status == 0, err
    assert "warmup_epochs=0.0666" in out
    assert ns.MLP.load(tmp_path / "m.npz").metadata["recipe"]["warmup_epochs"] == 1 / 15


@pytest.mark.parametrize(
    ("stderr", "options", "bars"),
    [
        (io.StringIO(), [], False),  # redirected: a line per epoch
        (Terminal(), [], True),  # a terminal: progress bars
        (io.StringIO(), ["--progress"], True),
        (Terminal(), ["--no-progress"], False),
        (Terminal(), ["--quiet"], False),
    ],
)
def test_progress_bars_only_on_a_terminal(recorded_recipe, tmp_path, stderr, options, bars):
    """Issue 15: tqdm drew its bars into a redirected stderr too."""
    status, _, _ = run_main(["train", *options, "--out", tmp_path / "m.npz"], stderr=stderr)
    assert status == 0
    assert recorded_recipe["progress"] is bars
    epoch_lines = not bars and "--quiet" not in options
    assert len(recorded_recipe["callbacks"]) == epoch_lines


def test_redirected_stderr_gets_lines_not_frames(tmp_path):
    """Issue 15: tqdm wrote carriage-return frames into a redirected stderr (8.6 KB for 2
    epochs); now a redirected stderr gets one line per epoch and nothing else."""
    process = driver(
        ["train", *FAST, "--out", tmp_path / "m.npz"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "\r" not in err and len(err.splitlines()) == 2 and len(err) < 300
    assert err.startswith("epoch 1/2: loss ")


def test_without_tqdm_no_python_argument_is_suggested(recorded_recipe, tmp_path, monkeypatch):
    """Issue 15: without tqdm, the error told a command-line user to pass progress=False."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setattr(options.importlib.util, "find_spec", lambda name: None)
    status, _, err = run_main(["train", "--out", tmp_path / "m.npz"], stderr=Terminal())
    assert status == 0 and recorded_recipe["progress"] is False  # bars quietly left out
    status, _, err = run_main(["train", "--progress", "--out", tmp_path / "m.npz"])
    assert status == 2
    assert_one_error_line(err, r"--progress needs tqdm: pip install \"nnscratch\[full\]\"")
    assert "progress=" not in err


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["train", "--epochs", "0"], r"--epochs must be an integer >= 1, got 0"),
        (["train", "--batch-size", "many"], r"argument --batch-size: must be an integer"),
        (["train", "--lr", "-1"], r"--lr must be a finite number > 0, got -1\.0"),
        (["train", "--lr", "nan"], r"--lr must be a finite number > 0, got nan"),
        (["train", "--dropout", "1"], r"--dropout must lie in \[0, 1\), got 1\.0"),
        (["train", "--label-smoothing", "x"], r"argument --label-smoothing: must be a number"),
        (["train", "--weight-decay", "-0.1"], r"--weight-decay must be a finite number >= 0"),
        (["train", "--momentum", "1"], r"--momentum must lie in \[0, 1\)"),
        (["train", "--optimizer", "rmsprop"], r"argument --optimizer: invalid choice"),
        (["train", "--hidden", "0"], r"every width in --hidden must be an integer >= 1, got 0"),
        (["train", "--dataset", "cifar"], r"argument --dataset: invalid choice"),
        (
            ["train", "--epochs", "2", "--warmup-epochs", "2"],
            r"--warmup-epochs must be less than --epochs \(2\), got 2\.0",
        ),
        (["train", "--seed", "-1"], r"--seed must be an integer >= 0, got -1"),
        (["train", "--seed", "one"], r"argument --seed: must be an integer, got 'one'"),
        (
            ["train", "--validation-size", "60000"],
            r"--validation-size must be less than the 60000 training images of mnist, got 60000",
        ),
        (["train", "--bogus"], r"unrecognized arguments: --bogus"),
        (["fly"], r"invalid choice: 'fly'"),
        ([], r"required: command"),
        (["predict", "model.npz"], r"required: IMAGE"),
        (["predict", "model.npz", "a.png", "--ink", "black"], r"argument --ink: invalid choice"),
    ],
)
def test_usage_errors(argv, pattern, tiny_data):
    """Issue 11 and 15: each option is checked before the data loads, and named."""
    status, out, err = run_main(argv)
    assert status == 2 and out == ""
    assert_one_error_line(err, pattern)
    assert tiny_data == []


def test_options_are_the_recipes_fields():
    """A field added to Recipe (with its metadata) is an option, with its help and default."""
    help_text = subcommand_help("train")
    for spec in fields(recipes.Recipe):
        assert f"--{spec.name.replace('_', '-')}" in help_text, spec.name
        assert spec.metadata["help"].split(",")[0] in " ".join(help_text.split()), spec.name


def subcommand_help(command: str) -> str:
    status, out, _ = run_main([command, "--help"])
    assert status == 0
    return out


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda tmp: ["--out", tmp / "model.pkl"], r"--out must name a \.npz file"),
        (
            lambda tmp: ["--out", tmp / "missing" / "m.npz"],
            r"--out .*m\.npz: .*missing: no such folder",
        ),
        (lambda tmp: ["--out", tmp / "folder.npz"], r"--out .*folder\.npz: .* is a folder"),
        (lambda tmp: ["--data-dir", tmp / "absent"], r"--data-dir .*absent: no such folder"),
        (lambda tmp: ["--hidden", "100000000"], r"--hidden 100000000: training would need at"),
    ],
)
def test_train_checks_paths_and_memory_before_the_data(recorded_recipe, tmp_path, make, pattern):
    """Issue 11: an unusable --out was found only after the whole training run (and named a
    hidden temporary file); --hidden 100000000 ended in a MemoryError after the data loaded."""
    (tmp_path / "folder.npz").mkdir()
    status, _, err = run_main(["train", *make(tmp_path)])
    assert status == 1
    assert_one_error_line(err, pattern)
    assert recorded_recipe == {} and len(os.listdir(tmp_path)) == 1  # nothing loaded or left


@pytest.mark.skipif(not os.path.isdir("/sys"), reason="needs Linux's /sys")
def test_train_refuses_a_folder_it_cannot_write_in(recorded_recipe):
    """Issue 11: a read-only folder (here /sys, which refuses even root) is found up front."""
    status, _, err = run_main(["train", "--out", "/sys/model.npz"])
    assert status == 1
    assert_one_error_line(err, r"--out /sys/model\.npz: /sys: ")
    assert recorded_recipe == {}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_train_refuses_a_read_only_folder(recorded_recipe, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        status, _, err = run_main(["train", "--out", folder / "m.npz"])
    finally:
        folder.chmod(0o755)
    assert status == 1
    assert_one_error_line(err, r"Permission denied")
    assert recorded_recipe == {}


def test_the_memory_estimate_lets_the_default_through(recorded_recipe, tmp_path):
    assert run_main(["train", "--hidden", "4096", "4096", "--out", tmp_path / "m.npz"])[0] == 0


def test_a_memory_error_anywhere_is_one_line(monkeypatch, tiny_data, tmp_path):
    """Issue 11: a MemoryError ended in a traceback."""

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 29.2 GiB for an array with shape (784, 10000000)")

    monkeypatch.setattr(runs, "train_recipe", exhausted)
    status, _, err = run_main(["train", "--out", tmp_path / "m.npz"])
    assert status == 1
    assert_one_error_line(err, r"out of memory: Unable to allocate 29\.2 GiB")
    monkeypatch.setattr(ns.MLP, "load", exhausted)
    status, _, err = run_main(["evaluate", tmp_path / "m.npz"])
    assert status == 1
    assert_one_error_line(err, r"out of memory")


def test_data_not_found_is_one_line_with_the_whole_cause(folders, monkeypatch, tmp_path):
    """Issue 15: only the first line of the error was kept: that a download was tried and why
    it failed was dropped; and the advice named Python arguments."""
    mirror = closed_port_url()
    monkeypatch.setattr(data, "MNIST_MIRRORS", (mirror,))
    folders["data_dir"].mkdir()
    argv = ["train", "--data-dir", folders["data_dir"], "--quiet", "--out", tmp_path / "m.npz"]
    status, _, err = run_main(argv)
    assert status == 1
    assert_one_error_line(err, r"mnist: .*not found")
    for part in (str(folders["data_dir"]), mirror, "Connection refused", "--data-dir"):
        assert part in err, part
    assert "load_mnist" not in err and "download=" not in err and "data_dir=" not in err


def test_divergence_is_one_line_and_saves_nothing(tiny_data, tmp_path):
    """Issue 11: ``--optimizer sgd --lr 1000 --dtype float64`` exited 0 and saved a model at 10%
    accuracy with a loss in the thousands."""
    argv = ["train", *FAST, "--epochs", "20", "--optimizer", "sgd", "--lr", "1000"]
    status, _, err = run_main([*argv, "--dtype", "float64", "--quiet", "--out", tmp_path / "m.npz"])
    assert status == 1
    assert_one_error_line(err, r"training diverged: the loss is .* at epoch \d+, step \d+")
    assert os.listdir(tmp_path) == []


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


def corrupted_deflate(data: bytes) -> bytes:
    data = hostile.deflated(data)
    at = hostile.data_offset(data, "W1.npy")
    return data[:at] + b"\xff" + data[at + 1 :]  # a deflate block of type 3, which is none


def unknown_method(data: bytes) -> bytes:
    return hostile.edit_local(hostile.edit_central(data, "W1.npy", method=99), "W1.npy", method=99)


def deep_metadata(data: bytes) -> bytes:
    with np.load(io.BytesIO(data)) as npz:
        arrays = {name: npz[name] for name in npz.files}
    text = arrays.pop("metadata").tobytes().decode()
    deep = text[:-1] + ', "deep": ' + "[" * 200_000 + "]" * 200_000 + "}"
    out = io.BytesIO()
    np.savez(out, metadata=np.frombuffer(deep.encode(), dtype=np.uint8), **arrays)
    return out.getvalue()


def forged_zip64(data: bytes) -> bytes:
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (3891000000, 2), }"
    size = 128 + 3_891_000_000 * 2 * 4
    return hostile.forge_zip64_sizes(
        hostile.edit_npy_header(data, "W1.npy", text), "W1.npy", size, size
    )


CRAFTED_MODEL_FILES = {  # issue 11: each of these crashed evaluate and predict with a traceback
    "deflate stream corrupted near its start (zlib.error)": (
        corrupted_deflate,
        r"array 'W1' .*invalid block type",
    ),
    "encryption flag (RuntimeError)": (
        lambda data: hostile.edit_central(data, "b1.npy", flags=0x1),
        r"entry 'b1\.npy' is encrypted",
    ),
    "unknown compression method (NotImplementedError)": (
        unknown_method,
        r"'W1\.npy' uses compression method 99",
    ),
    "metadata nested 200,000 deep (RecursionError)": (deep_metadata, r"nested more than 32"),
    "zip64 size forged to 29 GiB (MemoryError)": (forged_zip64, r"'W1\.npy' declares \d+ bytes"),
}


@pytest.mark.parametrize("command", ["evaluate", "predict", "recipe"])
@pytest.mark.parametrize("case", CRAFTED_MODEL_FILES)
def test_crafted_model_files_are_one_line(trained, tmp_path, tiny_data, command, case):
    """Issue 11: crafted or damaged model files crashed ``evaluate`` and ``predict`` with a
    Python traceback; each is now one line naming the file and the part that is wrong."""
    craft, pattern = CRAFTED_MODEL_FILES[case]
    path = tmp_path / "crafted.npz"
    path.write_bytes(craft(trained[0].read_bytes()))
    extra = [draw_digit(tmp_path / "a.png", "one")] if command == "predict" else []
    status, out, err = run_main([command, path, *extra])
    assert status == 1 and out == ""
    assert_one_error_line(err, f"{re.escape(str(path))}: .*{pattern}")
    assert tiny_data == []


@pytest.mark.parametrize("dataset", [["mnist"], {"name": "mnist"}, 7])
@pytest.mark.parametrize("command", ["evaluate", "predict", "recipe"])
def test_a_model_file_naming_no_data_set_is_one_line(command, dataset, tmp_path, tiny_data):
    """Issue 11: metadata whose ``dataset`` is a list or a dict crashed with a TypeError."""
    model = ns.MLP([784, 10], seed=0)
    model.metadata.update(dataset=dataset, recipe=recipes.Recipe().settings(), seed=0)
    model.save(tmp_path / "m.npz")
    extra = [draw_digit(tmp_path / "a.png", "one")] if command == "predict" else []
    status, out, err = run_main([command, tmp_path / "m.npz", *extra])
    assert status == 1 and out == ""
    assert_one_error_line(err, r"m\.npz: .*dataset")  # said by the model file's gate or by us


# --------------------------------------------------------------------------- recipes as TOML


def test_recipe_prints_toml_that_trains_the_same_model_again(tiny_data, tmp_path):
    """Issue 15: train --config reads a recipe from a TOML file, and nnscratch recipe MODEL
    prints the one a model was trained with; training from it reproduces the model."""
    first = tmp_path / "first.npz"
    options = ["--hidden", "24", "12", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.8"]
    options += ["--weight-decay", "1e-4", "--schedule", "step", "--dataset", "fashion-mnist"]
    options += ["--epochs", "3", "--batch-size", "32", "--validation-size", "40", "--seed", "3"]
    status, _, err = run_main(["train", *options, "--quiet", "--out", first])
    assert status == 0, err
    status, toml, err = run_main(["recipe", first])
    assert status == 0 and err == ""
    settings = tomllib.loads(toml)
    assert settings["seed"] == 3 and settings["dataset"] == "fashion-mnist"
    assert settings["hidden"] == [24, 12] and settings["momentum"] == 0.8
    config = tmp_path / "run.toml"
    config.write_text(toml)
    again = tmp_path / "again.npz"
    status, _, err = run_main(["train", "--config", config, "--quiet", "--out", again])
    assert status == 0, err
    a, b = ns.MLP.load(first), ns.MLP.load(again)
    assert a.metadata["recipe"] == b.metadata["recipe"] and b.metadata["seed"] == 3
    assert b.metadata["dataset"] == "fashion-mnist"
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name  # bit for bit
    assert tiny_data == [("fashion-mnist", None)] * 2


def test_options_override_the_config_file(recorded_recipe, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('epochs = 4\nlr = 0.01\nseed = 5\nhidden = [32]\ndataset = "mnist"\n')
    status, _, err = run_main(
        ["train", "--config", config, "--lr", "0.02", "--out", tmp_path / "m.npz"]
    )
    assert status == 0, err
    assert recorded_recipe["recipe"] == recipes.Recipe(epochs=4, lr=0.02, hidden=(32,))
    assert recorded_recipe["seed"] == 5


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("epochs = 0\n", r"run\.toml: epochs must be an integer >= 1, got 0"),
        ("epochs = 2.0\n", r"run\.toml: epochs must be an integer >= 1, got 2\.0"),
        ('lr = "fast"\n', r"run\.toml: lr must be a real number, got 'fast'"),
        ("hidden = 512\n", r"run\.toml: hidden must be a list of layer widths, got 512"),
        (
            "epochs = 2\nwarmup_epochs = 3\n",
            r"run\.toml: warmup_epochs must be less than epochs \(2\), got 3\.0",
        ),
        ("seed = -2\n", r"run\.toml: seed must be an integer >= 0"),
        ('dataset = "cifar"\n', r"run\.toml: dataset must be one of 'mnist', 'fashion-mnist'"),
        ("epoch = 3\n", r"run\.toml: epoch is not a setting of a recipe; the settings are "),
        ("[recipe]\nepochs = 3\n", r"run\.toml: recipe is not a setting of a recipe"),
        ("epochs = \n", r"--config .*run\.toml: not a valid TOML file: "),
        (b"epochs = 3 # \xff\n", r"--config .*run\.toml: not a valid TOML file: "),
    ],
)
def test_bad_config_files(tiny_data, tmp_path, text, pattern):
    config = tmp_path / "run.toml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    status, out, err = run_main(["train", "--config", config, "--out", tmp_path / "m.npz"])
    assert status == 2 and out == ""
    assert_one_error_line(err, pattern)
    assert tiny_data == []


def test_a_missing_config_file(tiny_data, tmp_path):
    status, _, err = run_main(["train", "--config", tmp_path / "absent.toml"])
    assert status == 2
    assert_one_error_line(err, r"--config .*absent\.toml: No such file or directory")


def test_recipe_of_a_model_without_one(tmp_path):
    ns.MLP([784, 10], seed=0).save(tmp_path / "plain.npz")
    status, out, err = run_main(["recipe", tmp_path / "plain.npz"])
    assert status == 1 and out == ""
    assert_one_error_line(err, r"plain\.npz: the model file records no recipe")


def test_recipe_of_a_model_with_a_bad_one(tmp_path):
    model = ns.MLP([784, 10], seed=0)
    model.metadata.update(recipe={"epochs": "many"}, seed=0)
    model.save(tmp_path / "bad.npz")
    status, _, err = run_main(["recipe", tmp_path / "bad.npz"])
    assert status == 1
    assert_one_error_line(err, r"bad\.npz: recipe epochs must be an integer >= 1, got 'many'")


# --------------------------------------------------------------------------- --help


def test_version():
    status, out, _ = run_main(["--version"])
    assert status == 0 and out.strip() == f"nnscratch {ns.__version__}"


def test_help_exits_zero():
    out = subcommand_help("train")
    assert "--label-smoothing" in out
    assert f"(default: {recipes.Recipe().epochs})" in out


def test_train_help_says_how_long_the_defaults_take_and_how_well_they_do():
    """Issue 15: nothing said how long the default train takes; the figures come from the
    measurement benchmarks/default_recipe.py records."""
    record = recipes.measured_default()
    text = " ".join(subcommand_help("train").split())
    median, runs = record["median"], record["runs"]
    assert f"training took {median['training_seconds']:.0f} s" in text
    low, high = min(r["test_accuracy"] for r in runs), max(r["test_accuracy"] for r in runs)
    assert f"reached {low:.2%} to {high:.2%} test accuracy" in text
    assert f"measured on {record['date']} on a {record['machine']['cores']}-core" in text
    assert "benchmarks/default_recipe.py" in text


def test_console_script_is_declared():
    scripts = entry_points(group="console_scripts")
    assert scripts["nnscratch"].value == "nnscratch.cli:main"


def test_python_m_nnscratch(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "nnscratch", "--help"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0
    for command in ("train", "evaluate", "predict", "recipe"):
        assert command in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "nnscratch", "evaluate", str(tmp_path / "absent.npz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1 and run.stdout == ""
    assert_one_error_line(run.stderr, r"absent\.npz: No such file or directory")


# --------------------------------------------------------------------------- signals and pipes


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminating_signal_during_training_saves_nothing(tmp_path, signum):
    """Issue 11: SIGTERM and SIGHUP clean up as SIGINT does: one line, the status 128 + the
    signal's number, and no file (nor temporary file) left."""
    process = driver(
        ["train", *FAST, "--epochs", "100000", "--out", tmp_path / "m.npz"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line.startswith("epoch 1/100000: "), line + process.communicate(timeout=60)[1]
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert err.splitlines()[-1] == f"nnscratch: error: terminated by {name}"
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminating_signal_while_saving_leaves_no_temporary_file(tmp_path, signum):
    """Issue 11: a signal during the save left the hidden temporary file of the model."""
    process = driver(
        ["train", *FAST, "--quiet", "--out", tmp_path / "m.npz"],
        mode="slow-save",
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line == "writing\n", line + process.communicate(timeout=60)[1]
    assert len(os.listdir(tmp_path)) == 1  # the temporary file
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    assert err == f"nnscratch: error: terminated by {signal.Signals(signum).name}\n"
    assert os.listdir(tmp_path) == []


def test_predict_into_a_closed_pipe_exits_quietly(trained, tmp_path):
    """Issue 11: ``nnscratch predict ... | head -1`` printed "Broken pipe" and exited 1. The
    reader here has gone before the first line: the status is 141, as for a program ended by
    SIGPIPE (what `head` users and `set -o pipefail` expect), and stderr stays empty."""
    path, _, _ = trained
    pictures = [draw_digit(tmp_path / f"{i}.png", "one") for i in range(3)]
    read, write = os.pipe()
    os.close(read)  # the reader went away
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "nnscratch", "predict", str(path), *map(str, pictures)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    _, err = process.communicate(timeout=60)
    assert err == "" and process.returncode == 141


def test_an_interruption_is_one_line(monkeypatch, tiny_data, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "train_recipe", interrupted)
    status, _, err = run_main(["train", "--out", tmp_path / "m.npz"])
    assert status == 130
    assert_one_error_line(err, "interrupted")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    ["train", "--epochs", "1e3"],
    ["train", "--epochs", "-3"],
    ["train", "--epochs", ""],
    ["train", "--batch-size", "-5"],
    ["train", "--batch-size", "0x10"],
    ["train", "--lr", "inf"],
    ["train", "--lr", "1e400"],
    ["train", "--lr", "0"],
    ["train", "--lr", "-nan"],
    ["train", "--momentum", "-0.1"],
    ["train", "--dropout", "nan"],
    ["train", "--label-smoothing", "1"],
    ["train", "--weight-decay", "inf"],
    ["train", "--warmup-epochs", "nan"],
    ["train", "--warmup-epochs", "inf"],
    ["train", "--warmup-epochs", "-1"],
    ["train", "--hidden", "-1"],
    ["train", "--hidden", "1e3"],
    ["train", "--hidden", "512", "0"],
    ["train", "--hidden", "10000000000000000000000"],
    ["train", "--hidden", "100000", "100000", "100000"],
    ["train", "--batch-size", "100000000000000", "--hidden", "1000000"],
    ["train", "--seed", "1.5"],
    ["train", "--seed", "-0x1"],
    ["train", "--validation-size", "-1"],
    ["train", "--validation-size", "1e4"],
    ["train", "--validation-size", "10000000000000000000000"],
    ["train", "--dtype", "float16"],
    ["train", "--schedule", ""],
    ["train", "--dataset", ""],
    ["train", "--out", ""],
    ["train", "--out", "-"],
    ["train", "--out", "folder/"],
    ["train", "--out", "{tmp}"],
    ["train", "--out", "{tmp}/file.txt/m.npz"],
    ["train", "--data-dir", "{tmp}/file.txt"],
    ["train", "--data-dir", ""],
    ["train", "--config", "/"],
    ["train", "--config", "{tmp}/file.txt"],
    ["train", "--config", "{tmp}"],
    ["train", "--progress", "--no-progress", "--bogus"],
    ["evaluate", "{tmp}"],
    ["evaluate", "/dev/null"],
    ["evaluate", "{tmp}/file.txt"],
    ["evaluate", "{tmp}/m.npz", "--data-dir", "{tmp}/absent"],
    ["evaluate", "{tmp}/m.npz", "--dataset", "cifar"],
    ["predict", "{tmp}", "{tmp}/file.txt"],
    ["predict", "/dev/null", "{tmp}/file.txt"],
    ["recipe", "{tmp}"],
    ["recipe", "/dev/null"],
    ["recipe", "{tmp}/file.txt"],
    ["recipe"],
]


@pytest.mark.parametrize("argv", HOSTILE, ids=[" ".join(argv) for argv in HOSTILE])
def test_hostile_options_end_in_one_line_and_leave_nothing(argv, tiny_data, tmp_path):
    """Issue 11, the command line's share: each of these ends in one error line naming what is
    wrong, with no traceback, no data loaded and no file left behind."""
    (tmp_path / "file.txt").write_text("epochs = [")
    before = sorted(os.listdir(tmp_path))
    status, out, err = run_main([arg.format(tmp=tmp_path) for arg in argv])
    assert status in (1, 2) and out == ""
    assert_one_error_line(err, ".")
    assert tiny_data == [] and sorted(os.listdir(tmp_path)) == before
    assert not [p for p in os.listdir(".") if p.startswith(".") and p.endswith(".part")]


def test_predict_keeps_going_past_files_it_cannot_read(trained, tmp_path):
    path, _, _ = trained
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    bad = [tmp_path / "folder", tmp_path / "empty.png", tmp_path / "truncated.png", "/dev/null"]
    good = draw_digit(tmp_path / "one.png", "one")
    status, out, err = run_main(["predict", path, *bad, good])
    assert status == 1 and len(out.splitlines()) == 1 and out.startswith(f"{good}: ")
    lines = err.splitlines()
    assert len(lines) == len(bad) and "Traceback" not in err
    for line, image in zip(lines, bad, strict=True):
        assert line.startswith(f"nnscratch: error: {image}: "), line


def test_train_and_evaluate_say_which_folder_the_data_came_from(fake, folders, tmp_path):
    """Issue 15: nothing said which folder was used (--data-dir and $NNSCRATCH_DATA_DIR meant
    different levels); now both the text and the JSON say."""
    fake.write(folders["data_dir"])
    argv = ["train", *FAST, "--validation-size", "1", "--batch-size", "1", "--hidden", "4"]
    status, out, err = run_main(
        [*argv, "--data-dir", folders["data_dir"], "--out", tmp_path / "m.npz"]
    )
    assert status == 0, err
    assert out.startswith(f"mnist (read from {folders['data_dir']}): 3 training images")
    status, out, err = run_main(
        ["evaluate", tmp_path / "m.npz", "--data-dir", folders["data_dir"], "--json"]
    )
    assert status == 0, err
    assert json.loads(out)["data_folders"] == [str(folders["data_dir"])]


@pytest.mark.parametrize("how", ["--data-dir", "NNSCRATCH_DATA_DIR"])
@pytest.mark.parametrize("level", ["files", "parent"])
def test_data_dir_and_the_variable_take_either_level(fake, folders, monkeypatch, how, level):
    """Issue 15: --data-dir wanted the mnist/ folder itself, $NNSCRATCH_DATA_DIR its parent;
    both now take either, and the output says which folder was read."""
    files = folders["data_dir"] / "mnist"
    fake.write(files)
    given = files if level == "files" else folders["data_dir"]
    if how == "--data-dir":
        options = ["--data-dir", given]
    else:
        monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(given))
        options = []
    model = folders["data_dir"] / "m.npz"
    ns.MLP([784, 10], seed=0).save(model)
    status, out, err = run_main(["evaluate", model, *options])
    assert status == 0, err
    assert f"data: the mnist test set (read from {files})," in out
