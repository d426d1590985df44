"""Tests of nnscratch._files: atomic writes leave the old file or the whole new one, never a
part, and no temporary file behind."""

import os

import pytest

from nnscratch._files import atomic_path, atomic_write, temporary_path


def test_temporary_paths_are_hidden_fresh_and_beside_the_target(tmp_path):
    first, second = temporary_path(tmp_path / "model.npz"), temporary_path(tmp_path / "model.npz")
    assert first != second and first.parent == tmp_path
    assert first.name.startswith(".model.npz.") and first.suffix == ".part"


def test_atomic_write_replaces_the_file_when_the_block_succeeds(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"old")
    with atomic_write(path) as file:
        file.write(b"new")
        assert path.read_bytes() == b"old"  # nothing is seen before the end
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["out"]


def test_a_failure_leaves_the_old_file_and_nothing_else(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(path) as file:
        file.write(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out"]


def test_atomic_path_for_a_writer_that_opens_the_file_itself(tmp_path):
    path = tmp_path / "download.gz"
    with atomic_path(path) as temporary:
        temporary.write_bytes(b"complete")
    assert path.read_bytes() == b"complete"
    with pytest.raises(ValueError, match="wrong bytes"), atomic_path(path) as temporary:
        temporary.write_bytes(b"damaged")
        raise ValueError("wrong bytes")
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "never.gz"):
        pass  # the block must write the file: a missing one is an error, not an empty file
    assert path.read_bytes() == b"complete" and os.listdir(tmp_path) == ["download.gz"]
