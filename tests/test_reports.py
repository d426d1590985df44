"""Tests for nnscratch.reports: a model's scores on the test set, and what the commands report.
The reports as ``nnscratch train`` and ``evaluate`` print them are tested in tests/test_cli.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from nnscratch import data, metrics, recipes, reports
from nnscratch.model import MLP
from nnscratch.train import History


def small_dataset() -> data.Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(30, 28, 28)).astype(np.uint8)
    y = (np.arange(30) % 10).astype(np.uint8)
    files = {"t10k-images-idx3-ubyte": Path("/data/mnist/t10k-images-idx3-ubyte")}
    return data.Dataset("mnist", x, y, x, y, files=files)


def test_the_test_set_scores_and_the_evaluation_report_agree():
    model, dataset = MLP([784, 8, 10], seed=0), small_dataset()
    x, y = reports.prepared_test_set(model, dataset), dataset.y_test
    assert x.shape == (30, 784) and x.dtype == model.dtype
    proba = model.predict_proba(x)
    scores = reports.score_test_set(model, x, y, proba)
    y_pred = proba.argmax(axis=1)
    assert scores == {
        "split": "test",
        "n": 30,
        "accuracy": metrics.accuracy(y, y_pred),
        "loss": model.loss(x, y),
        "expected_calibration_error": metrics.expected_calibration_error(
            y, proba, n_bins=reports.CALIBRATION_BINS
        ),
    }
    cm = metrics.confusion_matrix(y, y_pred, num_classes=10)
    report = reports.evaluation_report("m.npz", dataset, y, y_pred, cm, scores)
    json.dumps(report, allow_nan=False)
    assert report["model"] == "m.npz" and report["data_folders"] == ["/data/mnist"]
    assert report["accuracy"] == scores["accuracy"] and report["confusion_matrix"] == cm.tolist()
    assert [c["support"] for c in report["classes"]] == [3] * 10
    assert [c["name"] for c in report["classes"]] == list(dataset.classes)
    assert set(report["weighted_avg"]) == {"precision", "recall", "f1"}


def test_the_test_set_must_fit_the_model():
    with pytest.raises(ValueError, match="maps 784 inputs to 3 classes, but mnist has 784"):
        reports.prepared_test_set(MLP([784, 3], seed=0), small_dataset())


def test_the_train_report_says_what_was_trained_and_how():
    recipe, history = recipes.Recipe(validation_size=10), History(train_loss=[0.5])
    report = reports.train_report("m.npz", small_dataset(), 3, recipe, history, 1.5, {"n": 30})
    assert report["seed"] == 3 and report["recipe"] == recipe.settings()
    assert report["training_images"] == 20 and report["validation_images"] == 10
    assert report["training_seconds"] == 1.5 and report["test"] == {"n": 30}
    read = small_dataset()
    assert reports.read_from(read) == " (read from /data/mnist)"
    in_memory = data.Dataset("mnist", read.x_train, read.y_train, read.x_test, read.y_test)
    assert reports.read_from(in_memory) == ""


def test_epoch_lines(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    history = History(train_loss=[0.5], train_accuracy=[0.9], seconds=[1.25])
    reports.EpochLines(3)(0, history)
    history.val_loss, history.val_accuracy = [0.25], [0.95]
    reports.EpochLines(3)(0, history)
    assert err.getvalue().splitlines() == [
        "epoch 1/3: loss 0.5000, accuracy 90.00%; 1.2 s",
        "epoch 1/3: loss 0.5000, accuracy 90.00%; validation loss 0.2500, accuracy 95.00%; 1.2 s",
    ]


def test_the_measured_defaults_are_told_only_if_they_are_the_defaults(monkeypatch):
    assert "benchmarks/default_recipe.py" in reports.measured_default_text()
    record = recipes.measured_default()
    record["recipe"]["epochs"] += 1
    monkeypatch.setattr(recipes, "measured_default", lambda: record)
    assert "changed since" in reports.measured_default_text()

    def missing():
        raise FileNotFoundError("default_recipe.json")

    monkeypatch.setattr(recipes, "measured_default", missing)
    assert "missing from this install" in reports.measured_default_text()
