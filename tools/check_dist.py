"""Check the sdist and the wheel in a folder: the package and its license, nothing else.

The wheel must hold exactly the package's files as git tracks them under ``nnscratch/``
(``py.typed`` among them: the package is typed), and its ``.dist-info`` the license, the
repository's ``LICENSE`` byte for byte, declared in the metadata with its SPDX expression.
The sdist must hold the same package files, ``LICENSE``, ``README.md`` and
``pyproject.toml``, and none of the repository's other folders: the tests run the
chapters, the built site and the benchmarks, so they stay in the repository (see
``MANIFEST.in``). Prints each problem found and exits with status 1 if there is any.

Usage: ``python tools/check_dist.py DIST_DIR`` (``make dist`` runs it on ``dist/``).
"""

from __future__ import annotations

import argparse
import email.parser
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "nnscratch"
LICENSE_EXPRESSION = "MIT"
# Files of the sdist besides the package: what setuptools adds, and what builds the wheel.
SDIST_FILES = {"LICENSE", "MANIFEST.in", "PKG-INFO", "README.md", "pyproject.toml", "setup.cfg"}
# Folders of the repository that must not be in the sdist.
NOT_IN_SDIST = ("tests/", "book/", "benchmarks/", "tools/", "binder/", ".github/", ".ci/")


def package_files(root: Path = ROOT) -> set[str]:
    """The package's files as git tracks them, relative to the repository's root."""
    listing = subprocess.run(
        ["git", "ls-files", "--", PACKAGE],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if not listing:
        raise RuntimeError(f"git ls-files found no file under {root / PACKAGE}")
    return set(listing)


def _only(folder: Path, pattern: str) -> Path:
    """The one file in ``folder`` matching ``pattern``."""
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one {pattern} in {folder}, found {[p.name for p in found] or 'none'}"
        )
    return found[0]


def check_wheel(wheel: Path, expected: set[str], license_text: bytes) -> list[str]:
    """The problems with ``wheel``: files missing or extra, the license, the metadata."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = {name.split("/")[0] for name in names if ".dist-info/" in name}
        if len(dist_info) != 1:
            return [f"{wheel.name}: expected one .dist-info folder, found {sorted(dist_info)}"]
        (info,) = dist_info
        problems = [f"{wheel.name}: missing {name}" for name in sorted(expected - names)] + [
            f"{wheel.name}: unexpected {name}"
            for name in sorted(names - expected)
            if not name.startswith(f"{info}/")
        ]
        license_name = f"{info}/licenses/LICENSE"
        if license_name not in names:
            problems.append(f"{wheel.name}: no {license_name}")
        elif archive.read(license_name) != license_text:
            problems.append(f"{wheel.name}: {license_name} differs from the repository's LICENSE")
        metadata = email.parser.BytesParser().parsebytes(archive.read(f"{info}/METADATA"))
    problems += check_metadata(wheel.name, metadata)
    return problems


def check_metadata(name: str, metadata) -> list[str]:
    """The problems with the license fields of a distribution's core metadata."""
    problems = []
    if metadata.get("License-Expression") != LICENSE_EXPRESSION:
        problems.append(
            f"{name}: License-Expression {metadata.get('License-Expression')!r},"
            f" expected {LICENSE_EXPRESSION!r}"
        )
    if "LICENSE" not in metadata.get_all("License-File", []):
        problems.append(f"{name}: no License-File: LICENSE in the metadata")
    return problems


def check_sdist(sdist: Path, expected: set[str], license_text: bytes) -> list[str]:
    """The problems with ``sdist``: the package files, the license, what must stay out."""
    with tarfile.open(sdist) as archive:
        members = {member.name: member for member in archive.getmembers() if member.isfile()}
        tops = {name.split("/")[0] for name in members}
        if len(tops) != 1:
            return [f"{sdist.name}: expected one top folder, found {sorted(tops)}"]
        (top,) = tops
        files = {name.removeprefix(f"{top}/") for name in members}
        problems = [f"{sdist.name}: missing {name}" for name in sorted(expected - files)]
        for name in sorted(files - expected):
            folder = name.split("/")[0]
            if name in SDIST_FILES or folder == f"{PACKAGE}.egg-info":
                continue
            if name.startswith(f"{PACKAGE}/"):
                problems.append(f"{sdist.name}: {name} is not a file git tracks")
            else:
                problems.append(f"{sdist.name}: unexpected {name}")
        problems += [
            f"{sdist.name}: holds {folder}"
            for folder in NOT_IN_SDIST
            if any(name.startswith(folder) for name in files)
        ]
        if "LICENSE" not in files:
            problems.append(f"{sdist.name}: no LICENSE")
        elif archive.extractfile(members[f"{top}/LICENSE"]).read() != license_text:
            problems.append(f"{sdist.name}: LICENSE differs from the repository's")
        metadata = email.parser.BytesParser().parsebytes(
            archive.extractfile(members[f"{top}/PKG-INFO"]).read()
        )
    problems += check_metadata(sdist.name, metadata)
    return problems


def check_dist(dist: Path, root: Path = ROOT) -> list[str]:
    """Every problem with the one wheel and the one sdist in ``dist``."""
    expected = package_files(root)
    if f"{PACKAGE}/py.typed" not in expected:
        return [f"{PACKAGE}/py.typed is not in git: the package would not be marked as typed"]
    license_text = (root / "LICENSE").read_bytes()
    wheel, sdist = _only(dist, f"{PACKAGE}-*.whl"), _only(dist, f"{PACKAGE}-*.tar.gz")
    return check_wheel(wheel, expected, license_text) + check_sdist(sdist, expected, license_text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=Path, help="the folder holding the sdist and the wheel")
    args = parser.parse_args(argv)
    problems = check_dist(args.dist)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{args.dist}: the wheel and the sdist hold the package and its license, no more")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
