"""Tests for nnscratch.recipes: the recipe's checks, and training by it."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.augment import Distortions
from nnscratch.optim import SGD, Adam, ConstantSchedule, CosineSchedule, StepSchedule
from nnscratch.recipes import (
    AUGMENTED,
    OPTIMIZERS,
    SCHEDULES,
    Recipe,
    distorting_step,
    train_recipe,
)


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


def test_recipe_refuses_an_augment_that_is_not_distortions():
    with pytest.raises(TypeError, match=r"augment must be None or .*Distortions, got \{'rotate'"):
        Recipe(augment={"rotate": 10})


def test_the_augmented_recipe_distorts_and_is_recorded_in_the_model():
    assert AUGMENTED.augment is not None and AUGMENTED.augment.elastic is not None
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 64)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    recipe = replace(AUGMENTED, hidden=(8,), epochs=2, batch_size=16, validation_size=16)
    model, _ = train_recipe(images, labels, recipe, seed=1, progress=False)
    again, _ = train_recipe(images, labels, recipe, seed=1, progress=False)
    plain, _ = train_recipe(images, labels, replace(recipe, augment=None), seed=1, progress=False)
    assert model.metadata["recipe"]["augment"] == asdict(AUGMENTED.augment)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, again.params[name])  # same seed, same bits
        assert not np.array_equal(value, plain.params[name])


def test_distorting_step_steps_on_a_distorted_copy_and_leaves_the_batch():
    model = ns.MLP([16, 4, 3], seed=0, dtype=np.float32)
    x = np.random.default_rng(0).random((5, 16), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1])
    kept = x.copy()
    distortions = Distortions(translate=2)
    loss, grads, logits = distorting_step(model, distortions, (4, 4), seed=7)(x, y)
    np.testing.assert_array_equal(x, kept)
    distorted = distortions(
        x.reshape(5, 4, 4), np.random.default_rng(np.random.SeedSequence(7).spawn(3)[2])
    )
    expected = model.train_step(distorted.reshape(5, 16), y)
    assert loss == expected[0]
    np.testing.assert_array_equal(logits, expected[2])
    assert not np.array_equal(logits, model.train_step(x, y)[2])


def test_augmenting_images_that_are_not_square_is_refused():
    x, labels = np.zeros((20, 30)), np.zeros(20, dtype=int)
    with pytest.raises(ValueError, match="square images, but the images have 30 features"):
        train_recipe(x, labels, replace(AUGMENTED, validation_size=0), progress=False)


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


@pytest.mark.slow
def test_the_augmented_recipe_reaches_98_9_percent_on_mnist(mnist):
    model, history = train_recipe(mnist.x_train, mnist.y_train, AUGMENTED, seed=0, progress=False)
    accuracy = np.mean(model.predict(ns.data.preprocess(mnist.x_test)) == mnist.y_test)
    assert accuracy >= 0.989, f"test accuracy {accuracy:.4f} after {history.epochs} epochs"


def test_every_choice_builds_what_it_names():
    built = {name: type(Recipe(optimizer=name).build_optimizer()) for name in OPTIMIZERS}
    assert built == {"adam": Adam, "sgd": SGD}
    schedules = {name: type(Recipe(schedule=name).build_schedule(10)) for name in SCHEDULES}
    assert schedules == {
        "cosine": CosineSchedule,
        "step": StepSchedule,
        "constant": ConstantSchedule,
    }
