"""The sdist and the wheel a user installs: what they hold, and the metadata PyPI shows.

Builds both with ``python -m build`` (the sdist, then the wheel from the sdist, as
``make dist`` and a release do) and checks them with ``tools/check_dist.py``, which ``make
dist`` runs too; and shows that the check catches what it is for, on archives altered to
break it.
"""

from __future__ import annotations

import email.parser
import importlib.util
import io
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load_check_dist():
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / "tools" / "check_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dist = _load_check_dist()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """A folder with the sdist and the wheel built from this checkout."""
    folder = tmp_path_factory.mktemp("dist")
    run = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", folder, ROOT], capture_output=True, text=True
    )
    assert run.returncode == 0, f"python -m build failed:\n{run.stdout}\n{run.stderr}"
    return folder


def _wheel_metadata(dist: Path):
    wheel = next(dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.BytesParser().parsebytes(archive.read(name))


def test_the_license_is_mit_in_the_developers_name() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the nnscratch developers\n")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]


@pytest.mark.slow
def test_the_dists_hold_the_package_and_its_license(dist: Path) -> None:
    assert check_dist.check_dist(dist) == []


@pytest.mark.slow
def test_twine_accepts_the_dists(dist: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir())],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_the_metadata_says_where_the_project_lives(dist: Path) -> None:
    metadata = _wheel_metadata(dist)
    repository = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"][
        "url"
    ]
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL"))
    assert urls["Source"] == repository
    assert urls["Issues"] == f"{repository}/issues"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert not [c for c in metadata.get_all("Classifier") if c.startswith("License ::")], (
        "a License classifier beside the SPDX License-Expression is refused by PyPI"
    )
    assert metadata["Requires-Python"] == ">=3.11"
    assert "mnist" in metadata["Keywords"].split(",")


def _rewrite_wheel(source: Path, target: Path, drop: str, add: str) -> None:
    """Copy a wheel, less the files ending in ``drop``, plus an empty file ``add``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if not item.filename.endswith(drop):
                new.writestr(item, old.read(item))
        new.writestr(add, "")


def _rewrite_sdist(source: Path, target: Path, add: str) -> None:
    """Copy an sdist with one more file, ``add``, under its top folder."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        top = old.getnames()[0].split("/")[0]
        for member in old.getmembers():
            new.addfile(member, old.extractfile(member) if member.isfile() else None)
        new.addfile(tarfile.TarInfo(f"{top}/{add}"), io.BytesIO(b""))


@pytest.mark.slow
def test_the_check_finds_extra_and_missing_files(dist: Path, tmp_path: Path) -> None:
    wheel, sdist = next(dist.glob("*.whl")), next(dist.glob("*.tar.gz"))
    _rewrite_wheel(wheel, tmp_path / wheel.name, drop="licenses/LICENSE", add="tests/test_x.py")
    _rewrite_sdist(sdist, tmp_path / sdist.name, add="tests/test_x.py")
    problems = check_dist.check_dist(tmp_path)
    assert f"{wheel.name}: unexpected tests/test_x.py" in problems
    assert any(
        p.startswith(f"{wheel.name}: no ") and p.endswith("licenses/LICENSE") for p in problems
    )
    assert f"{sdist.name}: holds tests/" in problems
