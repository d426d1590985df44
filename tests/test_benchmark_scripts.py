"""The scripts in benchmarks/ run: each is loaded as a module and run with the shortest settings."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pytorch_compare_says_when_pytorch_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    load("pytorch_compare").main([])
    assert "PyTorch is not installed" in capsys.readouterr().out


def test_pytorch_compare_times_nnscratch_epochs_after_a_warm_up():
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    seconds = load("pytorch_compare").nnscratch_epochs(x, y, batch_size=32, epochs=2)
    assert len(seconds) == 2 and all(s > 0 for s in seconds)


def test_pytorch_compare_times_pytorch_epochs_after_a_warm_up():
    pytest.importorskip("torch", reason="PyTorch is optional: the comparison needs it")
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    seconds = load("pytorch_compare").torch_epochs(x, y, batch_size=32, epochs=2)
    assert len(seconds) == 2 and all(s > 0 for s in seconds)


def test_hostile_inputs_prints_the_peak_memory_of_each(capsys):
    load("hostile_inputs").main(["--only", "encrypted", "--only", "huge-png"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["input", "after", "imports", "peak", "RSS", "what", "came", "out"]
    assert "ModelFileError: FILE: entry 'W1.npy' is encrypted" in lines[2]
    assert "ValueError: FILE: the image is too large: 10000 x 10000" in lines[3]


@pytest.mark.slow  # a square 2048^3 product per epoch and the prediction of 10,000 images
def test_epoch_prints_the_tables_and_the_ceiling_against_the_targets(capsys):
    argv = ["--batch-sizes", "128", "--dtypes", "float32", "--epochs", "1", "--fraction", "0.005"]
    load("epoch").main(argv)
    out = capsys.readouterr().out
    assert "BLAS" in out and "forward extras" in out
    assert "sgd, batch 128, float32" in out and "<= 1.33" in out
    assert "adam, batch 256, float32" in out and "<= 1.40" in out
    assert "predict 10,000, float32" in out and "<= 1.20" in out
