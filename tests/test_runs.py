"""Tests for nnscratch.runs: training a fresh model by a recipe, distorted batches included."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.augment import Distortions
from nnscratch.recipes import AUGMENTED, Recipe
from nnscratch.runs import distorting_step, train_recipe


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
    x = ns.prepare.preprocess(images)
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
    accuracy = np.mean(model.predict(ns.prepare.preprocess(mnist.x_test)) == mnist.y_test)
    assert accuracy >= 0.985, f"test accuracy {accuracy:.4f} after {history.epochs} epochs"


def test_the_augmented_recipe_distorts_and_is_recorded_in_the_model():
    assert AUGMENTED.distortions == Distortions(
        rotate=10, scale=0.1, shear=10, translate=1, elastic=(16, 4)
    )
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 64)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    recipe = replace(AUGMENTED, hidden=(8,), epochs=2, batch_size=16, validation_size=16)
    plain_recipe = recipe.without_distortions()
    assert plain_recipe.distortions is None and plain_recipe.lr == recipe.lr
    model, _ = train_recipe(images, labels, recipe, seed=1, progress=False)
    again, _ = train_recipe(images, labels, recipe, seed=1, progress=False)
    plain, _ = train_recipe(images, labels, plain_recipe, seed=1, progress=False)
    assert model.metadata["recipe"] == recipe.settings()
    assert Recipe.from_settings(model.metadata["recipe"]) == recipe
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
    logits = logits.copy()
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


@pytest.mark.slow
def test_the_augmented_recipe_reaches_98_9_percent_on_mnist(mnist):
    model, history = train_recipe(mnist.x_train, mnist.y_train, AUGMENTED, seed=0, progress=False)
    accuracy = np.mean(model.predict(ns.prepare.preprocess(mnist.x_test)) == mnist.y_test)
    assert accuracy >= 0.989, f"test accuracy {accuracy:.4f} after {history.epochs} epochs"


def test_split_seed_fixes_the_validation_images_across_seeds():
    rng = np.random.default_rng(1)
    x, labels = rng.random((60, 784)).astype(np.float32), rng.integers(0, 10, 60)
    recipe = Recipe(hidden=(8,), epochs=1, batch_size=16, validation_size=20, warmup_epochs=0)

    def validated_on(split: int, model: ns.MLP, history: ns.train.History) -> bool:
        """Whether the last validation loss is the final model's on the images of ``split``."""
        _, _, x_val, y_val = ns.prepare.train_validation_split(
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
