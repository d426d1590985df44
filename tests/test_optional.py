"""Tests of nnscratch._optional: optional dependencies imported on use, or a message saying
how to install them."""

import sys

import pytest

from nnscratch._optional import import_optional


def test_an_installed_module_is_returned():
    assert import_optional("json", package="json", needed_for="tests") is sys.modules["json"]


def test_a_missing_module_names_the_package_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` fail
    message = r'progress bars needs tqdm: pip install "nnscratch\[full\]", or pass progress=False'
    with pytest.raises(ImportError, match=f"^{message}$") as caught:
        import_optional(
            "tqdm", package="tqdm", needed_for="progress bars", otherwise="or pass progress=False"
        )
    assert isinstance(caught.value.__cause__, ImportError)
