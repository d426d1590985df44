"""A chapter opens in JupyterLab as a notebook, with its MyST Markdown rendered: here, and
in the environment Binder builds.

Starts a JupyterLab headless on 127.0.0.1 with a random token, with the settings override
that ``binder/postBuild`` installs for ``make lab`` and Binder, and asks it what a reader's
JupyterLab would ask: ``book/data.md`` through the contents API (Jupytext must serve it as a
notebook with code cells), the viewer a double click on a ``.md`` file opens (the Jupytext
notebook), and whether the Jupytext and MyST extensions are enabled and compatible with
this JupyterLab.

The first test uses this environment's JupyterLab (the ``[lab]`` extra, part of
``[test]``). The second builds Binder's environment from nothing, the way repo2docker does
for mybinder.org, which cannot be tried from here: a fresh virtual environment, then, from
the repository's root, ``pip install -r binder/requirements.txt`` (it installs the
repository itself, ``-e .``) and ``binder/postBuild``; then it runs the same checks against
that environment's JupyterLab and executes a chapter in it, as a reader who presses the
launch button would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CHAPTER = "book/data.md"
OVERRIDES = BINDER / "jupyterlab-overrides.json"
EXTENSIONS = ("jupyterlab-myst", "jupyterlab-jupytext")


def check_jupyterlab(get) -> None:
    """What a reader needs from a running JupyterLab to read and run the chapters."""
    model = get(f"api/contents/{CHAPTER}?type=notebook&content=1")
    assert model["type"] == "notebook", f"{CHAPTER}: expected a notebook, found {model['type']}"
    cells = model["content"]["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code, f"{CHAPTER} came back as a notebook without code cells ({len(cells)} cells)"
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"

    plugin = get("lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = plugin["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("markdown") == "Jupytext Notebook", (
        f"a .md file opens with {viewers.get('markdown', 'the text editor')!r}, expected the"
        f" Jupytext notebook (the override in {OVERRIDES.name})"
    )

    found = {extension["name"]: extension for extension in get("lab/api/extensions")}
    for name in EXTENSIONS:
        assert name in found, f"{name} is not installed: found {sorted(found)}"
        assert found[name]["enabled"], f"{name} is installed but disabled"
        assert found[name]["status"] == "ok", (
            f"{name} {found[name]['installed_version']}: status {found[name]['status']!r},"
            " expected 'ok' (is it built for this JupyterLab version?)"
        )


def install_overrides(prefix_settings: Path) -> None:
    """Put the override where binder/postBuild puts it, under a settings folder."""
    (prefix_settings / "overrides.d").mkdir(parents=True)
    shutil.copy(OVERRIDES, prefix_settings / "overrides.d" / "nnscratch.json")


def test_jupyterlab_opens_a_chapter_as_a_notebook(jupyterlab, tmp_path: Path) -> None:
    settings = tmp_path / "app-settings"
    install_overrides(settings)
    bin_dir = Path(sys.executable).parent
    with jupyterlab(bin_dir, f"--LabApp.app_settings_dir={settings}") as get:
        check_jupyterlab(get)


def test_binder_asks_for_a_python_the_package_supports() -> None:
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"binder/runtime.txt: expected python-X.Y, found {runtime!r}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    supported = SpecifierSet(project["requires-python"])
    assert match[1] in supported, f"Binder's Python {match[1]} is not in {supported}"


@pytest.mark.slow
@pytest.mark.usefixtures("mnist")
def test_binder_environment_runs_a_chapter(jupyterlab, tmp_path: Path) -> None:
    """Build the environment from binder/ alone, as repo2docker does, and use it."""
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    bin_dir = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    for command in (
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"],
        [BINDER / "postBuild"],
    ):
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        assert run.returncode == 0, f"{command} failed:\n{run.stdout}\n{run.stderr}"

    with jupyterlab(bin_dir) as get:
        check_jupyterlab(get)

    # The chapter, executed by that environment's Jupytext and kernel from the book/ folder.
    executed = tmp_path / "executed.ipynb"
    command = [bin_dir / "jupytext", "--execute", "--to", "ipynb", "-o", executed, CHAPTER]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"{CHAPTER} failed in Binder's environment:\n{run.stderr}"
    code = [
        cell for cell in nbformat.read(executed, as_version=4).cells if cell.cell_type == "code"
    ]
    assert any(cell.outputs for cell in code), f"{CHAPTER}: no output in {len(code)} code cells"
