"""Tests for nnscratch.options: the command line's options, made from the recipe's fields,
layered and checked before any work. The options at work in ``nnscratch train`` are tested in
tests/test_cli.py."""

from __future__ import annotations

import argparse
import io
import tomllib
from dataclasses import dataclass, field

import pytest

from nnscratch import options, recipes


def namespace(**given) -> argparse.Namespace:
    """The arguments of ``nnscratch train`` with only ``given`` set, as the parser makes them."""
    parser = options.Parser(prog="test")
    options.add_recipe_options(parser, recipes.Recipe)
    args = parser.parse_args([])
    defaults = {"augment": False, "config": None, "seed": None, "dataset": None}
    defaults |= {"progress": None, "quiet": False}
    return argparse.Namespace(**(vars(args) | defaults | given))


def test_a_new_field_flows_through_options_toml_and_json(tmp_path):
    """The options are made from the fields: a bool field becomes --NAME/--no-NAME."""

    @dataclass(frozen=True)
    class WithFlag(recipes.Recipe):
        augment: bool = field(
            default=False,
            metadata={"help": "distort the images", "check": lambda v, n: v, "choices": ()},
        )

    parser = options.Parser(prog="test")
    options.add_recipe_options(parser, WithFlag)
    assert parser.parse_args(["--augment"]).augment is True
    assert parser.parse_args(["--no-augment"]).augment is False
    assert parser.parse_args([]).augment is None
    assert "distort the images (default: False)" in parser.format_help()
    recipe = WithFlag.from_settings({"augment": True})
    assert recipe.settings()["augment"] is True
    assert tomllib.loads(recipes.toml_table(recipe.settings()))["augment"] is True


def test_the_parser_raises_a_usage_error_naming_the_option():
    parser = options.Parser(prog="test")
    parser.add_argument("--epochs", type=options.PARSERS[int])
    with pytest.raises(options.UsageError, match=r"--epochs: must be an integer, got 'x' \(see"):
        parser.parse_args(["--epochs", "x"])
    assert options.flag("warmup_epochs") == "--warmup-epochs"


def test_a_run_layers_the_augmented_recipe_the_config_and_the_options(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("epochs = 3\nlr = 0.01\nseed = 4\n")
    run = options.Run(namespace(augment=True, config=str(config), lr=0.02))
    assert run.seed == 4 and run.dataset == "mnist"
    assert run.recipe.epochs == 3 and run.recipe.lr == 0.02
    assert run.recipe.rotate == recipes.AUGMENTED.rotate
    assert run.name("epochs") == f"{config}: epochs"
    assert run.name("lr") == "--lr" and run.name("rotate") == "--augment's rotate"
    with pytest.raises(options.UsageError, match=f"{config}: epochs must be an integer >= 1"):
        config.write_text("epochs = 0\n")
        options.Run(namespace(config=str(config)))


def test_a_run_refuses_what_the_data_set_or_the_machine_cannot_hold(monkeypatch):
    with pytest.raises(options.UsageError, match="--validation-size must be less than the 60000"):
        options.Run(namespace(validation_size=60_000)).check_fits()
    monkeypatch.setattr(options, "_physical_memory", lambda: 1 << 20)
    with pytest.raises(ValueError, match=r"--hidden 512: .* and this machine has 1 MiB"):
        options.Run(namespace()).check_fits()


def test_bytes_in_binary_units():
    assert options._bytes(1000) == "1000 bytes"
    assert options._bytes(1536) == "1.5 KiB"
    assert options._bytes(23.5 * 2**30) == "23.5 GiB"


def test_the_other_options_are_checked_up_front(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="--out must name a .npz file"):
        options.check_out("model.pkl")
    options.check_out(str(tmp_path / "m.npz"))
    options.check_data_dir(None)
    with pytest.raises(ValueError, match="--data-dir .*: no such folder"):
        options.check_data_dir(str(tmp_path / "absent"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--data-dir .*: not a folder"):
        options.check_data_dir(str(tmp_path / "file"))
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert options.progress_bars(namespace()) is False  # not a terminal
    assert options.progress_bars(namespace(progress=False, quiet=True)) is False
