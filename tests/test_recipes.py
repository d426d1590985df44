"""Tests for nnscratch.recipes: the recipe's checks, and training by it."""

from __future__ import annotations

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.optim import SGD, Adam, AdamW, ConstantSchedule, CosineSchedule, StepSchedule
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
        ({"activation": "tanh"}, "activation"),
        ({"init": "glorot"}, "init"),
        ({"optimizer": "adamw", "weight_decay": -0.1}, "weight_decay"),
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
    assert built == {"adam": Adam, "adamw": AdamW, "sgd": SGD}
    schedules = {name: type(Recipe(schedule=name).build_schedule(10)) for name in SCHEDULES}
    assert schedules == {
        "cosine": CosineSchedule,
        "step": StepSchedule,
        "constant": ConstantSchedule,
    }


def test_split_seed_fixes_the_validation_images_across_seeds():
    rng = np.random.default_rng(1)
    x, labels = rng.random((60, 784)).astype(np.float32), rng.integers(0, 10, 60)
    recipe = Recipe(hidden=(8,), epochs=1, batch_size=16, validation_size=20, warmup_epochs=0)

    def validated_on(split: int, model: ns.MLP, history: ns.train.History) -> bool:
        """Whether the last validation loss is the final model's on the images of ``split``."""
        _, _, x_val, y_val = ns.data.train_validation_split(
            x, labels, validation_size=20, seed=split
        )
        loss = model.loss(x_val, y_val, label_smoothing=recipe.label_smoothing)
        return loss == history.val_loss[-1]

    for seed, split_seed, split in [(0, None, 0), (1, None, 1), (1, 0, 0), (0, 1, 1)]:
        model, history = train_recipe(
            x, labels, recipe, seed=seed, split_seed=split_seed, progress=False
        )
        assert validated_on(split, model, history)
        assert not validated_on(1 - split, model, history)
        assert model.metadata["seed"] == seed and model.metadata["split_seed"] == split
    with pytest.raises(ValueError, match="split_seed"):
        train_recipe(x, labels, recipe, split_seed=-1, progress=False)


def test_train_recipe_builds_the_network_the_recipe_names():
    rng = np.random.default_rng(2)
    x, labels = rng.random((40, 784)), rng.integers(0, 10, 40)
    recipe = Recipe(
        hidden=(16,),
        epochs=1,
        validation_size=0,
        activation="leaky_relu",
        init="uniform",
        optimizer="sgd",
        momentum=0.0,
        lr=1e-3,
        schedule="constant",
        warmup_epochs=0,
        dtype="float64",
    )
    model, _ = train_recipe(x, labels, recipe, seed=0, progress=False)
    assert model.activation == "leaky_relu" and model.dtype == np.float64
    assert 0.9 < np.abs(model.params["W1"]).max() <= 1  # uniform on [-1, 1), barely moved
    assert model.metadata["recipe"]["init"] == "uniform"
