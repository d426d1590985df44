"""Tests for nnscratch.recipes: the recipe's checks, its settings, the measured default.

Training by a recipe is tested in tests/test_runs.py.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from nnscratch.augment import Distortions
from nnscratch.optim import SGD, Adam, AdamW
from nnscratch.recipes import (
    OPTIMIZERS,
    SCHEDULES,
    Recipe,
    measured_default,
    toml_table,
)
from nnscratch.schedules import ConstantSchedule, CosineSchedule, StepSchedule


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


def test_a_recipe_distorts_nothing_unless_it_says_so():
    assert Recipe().distortions is None
    assert Recipe(elastic_sigma=2.0).distortions is None  # a smoothness without a strength
    assert Recipe(shear=5).distortions == Distortions(shear=5.0)
    assert Recipe(elastic_alpha=16).distortions == Distortions(elastic=(16.0, 4.0))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"rotate": 200}, r"^rotate must be a finite number of degrees in \[0, 180\], got 200$"),
        ({"scale": 1}, r"^scale must be a finite number in \[0, 1\), got 1$"),
        ({"elastic_sigma": 0}, r"^elastic_sigma must be a finite number of pixels in \(0, inf\)"),
        ({"translate": "1"}, r"^translate must be a number of pixels in \[0, inf\), got '1'$"),
    ],
)
def test_the_distortions_are_checked_as_settings(change, match):
    with pytest.raises(ValueError, match=match):
        Recipe(**change)


def test_every_choice_builds_what_it_names():
    built = {name: type(Recipe(optimizer=name).build_optimizer()) for name in OPTIMIZERS}
    assert built == {"adam": Adam, "adamw": AdamW, "sgd": SGD}
    schedules = {name: type(Recipe(schedule=name).build_schedule(10)) for name in SCHEDULES}
    assert schedules == {
        "cosine": CosineSchedule,
        "step": StepSchedule,
        "constant": ConstantSchedule,
    }


# --------------------------------------------------------------------------- settings


def test_every_field_says_what_it_is():
    for spec in fields(Recipe):
        assert spec.metadata["help"] and callable(spec.metadata["check"]), spec.name
        for choice in spec.metadata["choices"]:
            assert Recipe.from_settings({spec.name: choice}).settings()[spec.name] == choice


def test_from_settings_changes_the_defaults_and_checks_under_the_given_names():
    recipe = Recipe.from_settings({"epochs": 3, "hidden": [64, 32], "lr": 1})
    assert recipe == Recipe(epochs=3, hidden=(64, 32), lr=1.0)
    assert isinstance(recipe.lr, float) and recipe.hidden == (64, 32)

    def name(setting: str) -> str:
        return "--" + setting.replace("_", "-")

    with pytest.raises(ValueError, match=r"^--batch-size must be an integer >= 1, got 0$"):
        Recipe.from_settings({"batch_size": 0}, name=name)
    with pytest.raises(ValueError, match=r"^--warmup-epochs must be less than --epochs \(2\)"):
        Recipe.from_settings({"epochs": 2, "warmup_epochs": 2.0}, name=name)
    with pytest.raises(ValueError, match=r"^--epoch is not a setting of a recipe; the settings"):
        Recipe.from_settings({"epoch": 2}, name=name)


def test_a_default_warm_up_too_long_for_the_run_keeps_its_share():
    """Issue 15: one epoch of training failed on the default warm-up of one epoch."""
    recipe = Recipe.from_settings({"epochs": 1})
    assert recipe.warmup_epochs == 1 / 15 and recipe.epochs == 1
    assert Recipe.from_settings({"epochs": 2}).warmup_epochs == 1.0  # it fits: kept
    with pytest.raises(ValueError, match="warmup_epochs must be less than epochs"):
        Recipe.from_settings({"epochs": 1, "warmup_epochs": 1.0})  # asked for: refused


def test_settings_are_plain_and_round_trip():
    recipe = Recipe(hidden=(64, 32), optimizer="sgd", momentum=0.8, dtype="float64")
    settings = recipe.settings()
    assert settings["hidden"] == [64, 32]
    assert json.loads(json.dumps(settings)) == settings
    assert Recipe.from_settings(settings) == recipe


SETTINGS = st.fixed_dictionaries(
    {
        "hidden": st.lists(st.integers(1, 10**6), max_size=4),
        "epochs": st.integers(1, 10**6),
        "lr": st.floats(min_value=5e-324, allow_infinity=False),
        "momentum": st.floats(0, 1, exclude_max=True),
        "weight_decay": st.floats(0, allow_infinity=False),
        "optimizer": st.sampled_from(OPTIMIZERS),
        "flag": st.booleans(),
    }
)


@given(SETTINGS)
@settings(max_examples=200, deadline=None)
def test_toml_table_reads_back_exactly(values):
    """Every bit of every float survives: a recipe trained from the file is the same recipe."""
    text = toml_table(values, comments=["a comment", ""])
    assert text.startswith("# a comment\n#\n")
    assert tomllib.loads(text) == values


def test_toml_table_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="bare"):
        toml_table({"a key": 1})
    with pytest.raises(ValueError, match="finite"):
        toml_table({"lr": float("nan")})
    with pytest.raises(ValueError, match="cannot write dict"):
        toml_table({"table": {}})


def test_memory_estimate_counts_what_training_cannot_do_without():
    recipe = Recipe()
    n_params = 784 * 512 + 512 + 512 * 10 + 10
    floats = 4 * n_params + 2 * 55_000 * 784 + 4 * 256 * 512
    assert recipe.memory_estimate(55_000) == 4 * floats  # float32
    assert Recipe(dtype="float64").memory_estimate(55_000) == 8 * floats
    sgd = Recipe(optimizer="sgd").memory_estimate(55_000)
    assert sgd == recipe.memory_estimate(55_000) - 4 * n_params  # no second moment
    huge = Recipe(hidden=(100_000_000,)).memory_estimate(55_000)
    assert huge > 4 * 4 * 784 * 100_000_000  # more than a terabyte: refused by the command line


def test_the_measurement_of_the_defaults_is_of_the_defaults():
    """``train --help`` quotes what benchmarks/default_recipe.py recorded: if the defaults
    change, the figures must be measured again (run it with --record)."""
    record = measured_default()
    # settings added since (each at a default that keeps the old behaviour) need no new runs
    assert Recipe.from_settings(record["recipe"]) == Recipe()
    assert [run["seed"] for run in record["runs"]] == [0, 1, 2]
    for run in record["runs"]:
        assert 0 < run["training_seconds"] < run["command_seconds"]
        assert 0.985 <= run["test_accuracy"] <= 1  # what the recipe promises
    assert record["machine"]["cores"] >= 1 and record["machine"]["blas"]
