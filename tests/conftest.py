"""Shared fixtures: the real MNIST, loaded once per test session."""

import os

import pytest

import nnscratch as ns


@pytest.fixture(scope="session")
def mnist() -> ns.data.Dataset:
    """The real MNIST from $NNSCRATCH_DATA_DIR: skipped if unset, but a failure when CI is set."""
    if not os.environ.get(ns.data.DATA_DIR_VARIABLE):
        message = f"the real MNIST needs {ns.data.DATA_DIR_VARIABLE} (e.g. ../shared/datasets)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so real-data tests must run: {message}")
        pytest.skip(message)
    return ns.data.load_mnist(download=False)
