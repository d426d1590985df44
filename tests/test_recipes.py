"""Tests for nnscratch.recipes: the recipe's checks, and training by it."""

from __future__ import annotations

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.optim import SGD, Adam, ConstantSchedule, CosineSchedule, StepSchedule
from nnscratch.recipes import OPTIMIZERS, SCHEDULES, Recipe, train_recipe


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"schedule": "linear"}, "schedule"),
        ({"dtype": "float16"}, "dtype"),
        ({"hidden": (512, 0)}, "hidden"),
        ({"lr": -1.0}, "lr"),
        ({"momentum": 1.0, "optimizer": "sgd"}, "momentum"),
        ({"dropout": 1.0}, "dropout"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
        ({"warmup_epochs": 30, "epochs": 20}, "warmup_epochs"),
        ({"validation_size": -1}, "validation_size"),
        ({"validation_size": 2.5}, "validation_size"),
    ],
)
def test_recipe_checks_its_fields(change, match):
    with pytest.raises(ValueError, match=match):
        Recipe(**change)


def test_train_recipe_on_small_images():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    images = np.zeros((300, 28, 28), dtype=np.uint8)
    images[np.arange(300), labels * 2 + 3, 5:20] = 255  # a horizontal bar whose row is the label
    recipe = Recipe(
        hidden=(32,),
        epochs=5,
        batch_size=32,
        lr=1e-2,
        validation_size=50,
        dropout=0.1,
        warmup_epochs=0.5,
    )
    model, history = train_recipe(images, labels, recipe, seed=3, progress=False)
    assert model.sizes == (784, 32, 10) and model.dtype == np.float32
    assert model.dropout == 0.1
    assert history.epochs == 5 and len(history.val_loss) == 5
    assert model.metadata["recipe"]["hidden"] == [32]
    assert model.metadata["recipe"]["epochs"] == 5
    assert model.metadata["preprocessing"] == {"scale": 1 / 255, "shape": [784]}
    assert model.metadata["history"] == history.summary()
    assert model.metadata["seed"] == 3
    x = ns.data.preprocess(images)
    assert np.mean(model.predict(x) == labels) > 0.9


def test_train_recipe_without_validation_on_float_rows():
    rng = np.random.default_rng(0)
    x, labels = rng.random((40, 784)), rng.integers(0, 10, 40)
    recipe = Recipe(hidden=(), epochs=2, validation_size=0, dtype="float64", schedule="step")
    model, history = train_recipe(x, labels, recipe, seed=0, progress=False)
    assert model.sizes == (784, 10) and model.dtype == np.float64
    assert history.val_loss == [] and history.best_epoch is None


@pytest.mark.slow
def test_the_default_recipe_reaches_98_5_percent_on_mnist(mnist):
    model, history = train_recipe(mnist.x_train, mnist.y_train, Recipe(), seed=0, progress=False)
    accuracy = np.mean(model.predict(ns.data.preprocess(mnist.x_test)) == mnist.y_test)
    assert accuracy >= 0.985, f"test accuracy {accuracy:.4f} after {history.epochs} epochs"


def test_every_choice_builds_what_it_names():
    built = {name: type(Recipe(optimizer=name).build_optimizer()) for name in OPTIMIZERS}
    assert built == {"adam": Adam, "sgd": SGD}
    schedules = {name: type(Recipe(schedule=name).build_schedule(10)) for name in SCHEDULES}
    assert schedules == {
        "cosine": CosineSchedule,
        "step": StepSchedule,
        "constant": ConstantSchedule,
    }
