"""Every chapter runs as a notebook, top to bottom, the way a reader runs it.

Each chapter listed in ``_toc.yml`` that is a MyST notebook (a ``kernelspec`` in its front
matter) is read with Jupytext and executed with nbclient on the ``python3`` kernel, with
``book/`` as the working directory, as the book build does. The per-cell timeout is the
build's (``execute.timeout`` in ``_config.yml``). A page in the table of contents that is
not a notebook must be one of :data:`PLAIN_PAGES`, so that no chapter escapes execution.

The chapters read the real MNIST from ``$NNSCRATCH_DATA_DIR`` (the ``mnist`` fixture skips
without it, and fails instead when ``CI`` is set): tests never reach the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupytext
import pytest
import yaml
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
KERNEL = "python3"
# Pages of the table of contents with no code to run.
PLAIN_PAGES = frozenset({"book/intro", "book/api", "book/bibliography"})


def _toc_files(entries: list[dict[str, Any]]) -> Iterator[str]:
    """The ``file`` entries of a table of contents, depth first, in reading order."""
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        for key in ("parts", "chapters", "sections"):
            yield from _toc_files(entry.get(key, []))


def _chapters() -> list[str]:
    """Every file listed in ``_toc.yml`` (without suffix), root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"], *_toc_files([toc])]


def _is_notebook(chapter: str) -> bool:
    """Whether the chapter's Markdown source is a notebook (declares a kernelspec)."""
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    return "kernelspec" in notebook.metadata


def _cell_timeout() -> int:
    """The book build's per-cell timeout, in seconds."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return int(config["execute"]["timeout"])


NOTEBOOKS = [chapter for chapter in _chapters() if chapter not in PLAIN_PAGES]


def test_every_chapter_is_a_notebook_or_a_plain_page() -> None:
    """A chapter without a kernelspec would be built without running: none may slip through."""
    missing = [chapter for chapter in _chapters() if not (ROOT / f"{chapter}.md").is_file()]
    assert not missing, f"listed in _toc.yml but not found: {missing}"
    not_notebooks = [chapter for chapter in NOTEBOOKS if not _is_notebook(chapter)]
    assert not not_notebooks, (
        f"these chapters have no kernelspec in their front matter, so they would never run: "
        f"{not_notebooks} (plain pages without code are {sorted(PLAIN_PAGES)})"
    )


@pytest.mark.usefixtures("mnist")
@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=[Path(c).name for c in NOTEBOOKS])
def test_chapter_runs_as_a_notebook(chapter: str) -> None:
    """The chapter, converted by Jupytext, runs without an error on a fresh kernel."""
    source = ROOT / f"{chapter}.md"
    if not source.is_file():
        pytest.fail(f"{chapter} is listed in _toc.yml but {source} does not exist")
    notebook = jupytext.read(source)
    assert notebook.metadata.get("kernelspec", {}).get("name") == KERNEL, (
        f"{chapter}: expected kernelspec name {KERNEL!r} in the front matter, found "
        f"{notebook.metadata.get('kernelspec')!r}"
    )
    client = NotebookClient(
        notebook,
        timeout=_cell_timeout(),
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(BOOK)}},
    )
    client.execute()
