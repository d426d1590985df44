"""The chapters as ``.ipynb`` files: converted by a reader, and downloaded from the site.

A reader who follows the README converts a chapter next to its source (``jupytext --to
ipynb book/data.md`` writes ``book/data.ipynb``): git must ignore that file and the build
must leave it out, or Sphinx finds two sources for the page ``book/data`` and the build,
warnings being errors, fails. The test runs the README's command in a copy of the book, sets
up Sphinx as ``jupyter-book build`` does (the configuration Jupyter Book derives from
``_config.yml``, its extensions, the table of contents) and runs Sphinx's own discovery of
the source files, the step that fails, without reading or executing any chapter.

Each page of a chapter offers its notebook for download (``_sources/<page>.ipynb``): it
must be the executed notebook, with the outputs the page shows, and it must run on its own,
from a folder of a reader's choosing. That needs the built book (``make book``): the tests
skip without it, or fail when ``NNSCRATCH_REQUIRE=site``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_book.config import get_final_config
from nbclient import NotebookClient
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace, patch_docutils

ROOT = Path(__file__).resolve().parents[1]
CONVERTED = "book/data"
# The downloaded notebook executed in full: a chapter that reads the real MNIST, quick to run.
RUN_ALONE = "book/data"


def _notebook_pages(site: Path) -> list[str]:
    """The pages of the built book whose source is a MyST notebook (declares a kernelspec)."""
    sources = site / "_sources"
    return sorted(
        path.relative_to(sources).with_suffix("").as_posix()
        for path in sources.rglob("*.md")
        if "\nkernelspec:" in path.read_text(encoding="utf-8")
    )


def test_git_ignores_a_converted_chapter() -> None:
    run = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", f"{CONVERTED}.ipynb"], cwd=ROOT
    )
    assert run.returncode == 0, f"git would offer {CONVERTED}.ipynb for a commit (.gitignore)"


def test_the_build_leaves_out_a_converted_chapter(tmp_path: Path) -> None:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("book", "tools"):  # the chapters, and the build's local extension
        ignore = shutil.ignore_patterns("*.ipynb", "__pycache__")
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "jupytext", "--to", "ipynb", f"{CONVERTED}.md"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / f"{CONVERTED}.ipynb").is_file()

    config, _ = get_final_config(
        user_yaml=tmp_path / "_config.yml",
        cli_config={"latex_individualpages": False},
        sourcedir=tmp_path,
    )
    warnings = io.StringIO()
    with patch_docutils(None), docutils_namespace():
        app = Sphinx(
            srcdir=tmp_path,
            confdir=None,
            outdir=tmp_path / "_build" / "html",
            doctreedir=tmp_path / "_build" / ".doctrees",
            buildername="html",
            confoverrides=config,
            status=None,
            warning=warnings,
            freshenv=True,
        )
        app.env.find_files(app.config, app.builder)
    assert "multiple files found" not in warnings.getvalue(), warnings.getvalue()
    assert app.project.doc2path(CONVERTED, absolute=False) == f"{CONVERTED}.md"
    toc = yaml.safe_load((tmp_path / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] in app.project.docnames, "no page found: is the copy complete?"


@pytest.mark.site
def test_every_downloadable_notebook_is_executed(built_site: Path) -> None:
    pages = _notebook_pages(built_site)
    assert pages, f"no notebook pages under {built_site / '_sources'}"
    problems = []
    for page in pages:
        download = built_site / "_sources" / f"{page}.ipynb"
        if not download.is_file():
            problems.append(f"{page}: no {download.name} to download")
            continue
        code = [c for c in nbformat.read(download, as_version=4).cells if c.cell_type == "code"]
        if not any(cell.get("outputs") for cell in code):
            problems.append(f"{page}: none of its {len(code)} code cells has an output")
    assert not problems, "\n".join(problems)


@pytest.mark.site
@pytest.mark.slow
@pytest.mark.usefixtures("mnist")
def test_a_downloaded_notebook_runs_on_its_own(built_site: Path, tmp_path: Path) -> None:
    """The download, saved in a folder of its own, runs from top to bottom on a new kernel."""
    download = built_site / "_sources" / f"{RUN_ALONE}.ipynb"
    assert download.is_file(), f"{download} is missing from the built site"
    saved = tmp_path / download.name
    shutil.copy(download, saved)
    notebook = nbformat.read(saved, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert any(cell.outputs for cell in code), f"{RUN_ALONE}: no output after running it"
