"""Ruff on the chapters' code cells: ``ruff check`` and ``ruff format --check``, or fix them.

Ruff reads notebooks but not MyST Markdown, so each chapter that is a notebook (a
``kernelspec`` in its front matter) is read with Jupytext and handed to Ruff on standard
input as the ``.ipynb`` it would convert to, under the name ``book/<chapter>.ipynb``: Ruff
then takes its settings from ``book/ruff.toml`` (the project's, with the chapters' line
length) and lints each cell as the notebook cell it is. Findings are reported at their line
in the ``.md`` file. With ``--fix``, the fixes and the formatting Ruff makes are written
back into the code cells of the ``.md`` file, which is otherwise left as it is.

Usage: ``python tools/lint_chapters.py [--fix] [CHAPTER.md ...]`` (default: every chapter
in ``book/``); ``make lint`` runs it. Exits with status 1 if anything is left to fix.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
RUFF = [sys.executable, "-m", "ruff"]
# The opening fence of a code cell in MyST Markdown, and of its closing one.
CODE_CELL = re.compile(r"^(`{3,}|~{3,})\{code-cell\}")


@dataclass(frozen=True)
class CodeCell:
    """Where a code cell's source sits in the chapter's lines (0-based, end exclusive)."""

    start: int
    end: int


def code_cells(lines: list[str]) -> list[CodeCell]:
    """The code cells of a MyST notebook, in order: the lines of each one's source.

    Skips a cell's options, written either as ``:key: value`` lines or as a ``---``
    delimited YAML block right after the opening fence, and the blank line that may follow.
    """
    cells, i = [], 0
    while i < len(lines):
        opening = CODE_CELL.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, i = opening[1], i + 1
        options = i
        if lines[i].rstrip() == "---":
            i += 1
            while lines[i].rstrip() != "---":
                i += 1
            i += 1
        else:
            while lines[i].startswith(":"):
                i += 1
        if i > options and not lines[i].strip():
            i += 1
        start = i
        while lines[i].rstrip() != fence:
            i += 1
        cells.append(CodeCell(start, i))
        i += 1
    return cells


def _ruff(arguments: list[str], source: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUFF, *arguments], input=source, capture_output=True, text=True, cwd=ROOT
    )


class Chapter:
    """A chapter read as a notebook, with the place of each code cell in its source."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.lines = self.text.splitlines(keepends=True)
        self.notebook = jupytext.reads(self.text, fmt="md:myst")
        self.cells = code_cells(self.lines)
        # Ruff numbers a notebook's cells from 1, Markdown cells included.
        self.code_indices = [
            index for index, cell in enumerate(self.notebook.cells) if cell.cell_type == "code"
        ]
        if len(self.cells) != len(self.code_indices):
            raise ValueError(
                f"{path}: Jupytext reads {len(self.code_indices)} code cells, the fences"
                f" say {len(self.cells)}"
            )
        for cell, index in zip(self.cells, self.code_indices, strict=True):
            source = "".join(self.lines[cell.start : cell.end]).rstrip("\n")
            if source != self.notebook.cells[index].source:
                raise ValueError(f"{path}:{cell.start + 1}: the cell differs from Jupytext's")
        self.name = path.relative_to(ROOT).with_suffix(".ipynb").as_posix()

    @property
    def is_notebook(self) -> bool:
        return "kernelspec" in self.notebook.metadata

    def ipynb(self) -> str:
        return jupytext.writes(self.notebook, fmt="ipynb")

    def line_of(self, cell_number: int, row: int) -> int:
        """The 1-based line in the .md of a row in Ruff's cell ``cell_number`` (1-based)."""
        return self.cells[self.code_indices.index(cell_number - 1)].start + row

    def findings(self) -> list[str]:
        """``ruff check`` findings, each as ``path:line:column: code message``."""
        run = _ruff(
            ["check", "--output-format", "json", "--stdin-filename", self.name, "-"], self.ipynb()
        )
        if run.returncode not in (0, 1):
            raise RuntimeError(f"ruff check failed on {self.path}:\n{run.stderr}")
        where = self.path.relative_to(ROOT)
        return [
            f"{where}:{self.line_of(item['cell'], item['location']['row'])}:"
            f"{item['location']['column']}: {item['code']} {item['message']}"
            for item in json.loads(run.stdout)
        ]

    def fixed_sources(self, fix: bool) -> list[str]:
        """Each code cell's source as ``ruff format`` (after ``ruff check --fix``) leaves it."""
        source = self.ipynb()
        if fix:
            run = _ruff(["check", "--fix-only", "--stdin-filename", self.name, "-"], source)
            if run.returncode != 0:
                raise RuntimeError(f"ruff check --fix failed on {self.path}:\n{run.stderr}")
            source = run.stdout
        run = _ruff(["format", "--stdin-filename", self.name, "-"], source)
        if run.returncode != 0:
            raise RuntimeError(f"ruff format failed on {self.path}:\n{run.stderr}")
        cells = json.loads(run.stdout)["cells"]
        return ["".join(cells[index]["source"]) for index in self.code_indices]

    def unformatted(self) -> list[str]:
        """A diff for every code cell ``ruff format`` would change."""
        where = self.path.relative_to(ROOT)
        diffs = []
        for cell, formatted in zip(self.cells, self.fixed_sources(fix=False), strict=True):
            current = "".join(self.lines[cell.start : cell.end])
            if formatted.rstrip("\n") + "\n" != current:
                diff = difflib.unified_diff(
                    current.splitlines(keepends=True),
                    (formatted.rstrip("\n") + "\n").splitlines(keepends=True),
                    f"{where}:{cell.start + 1}",
                    "formatted",
                )
                diffs.append("".join(diff))
        return diffs

    def fix(self) -> bool:
        """Write Ruff's fixes and formatting into the .md; whether anything changed."""
        lines = list(self.lines)
        fixed_sources = self.fixed_sources(fix=True)
        for cell, fixed in reversed(list(zip(self.cells, fixed_sources, strict=True))):
            lines[cell.start : cell.end] = (fixed.rstrip("\n") + "\n").splitlines(keepends=True)
        text = "".join(lines)
        if text != self.text:
            self.path.write_text(text, encoding="utf-8")
        return text != self.text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="default: book/*.md")
    parser.add_argument("--fix", action="store_true", help="write the fixes into the chapters")
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.chapters] or sorted(BOOK.glob("*.md"))
    chapters = [chapter for chapter in map(Chapter, paths) if chapter.is_notebook]
    if args.fix:
        for chapter in chapters:
            if chapter.fix():
                print(f"fixed {chapter.path.relative_to(ROOT)}")
        chapters = [Chapter(chapter.path) for chapter in chapters]
    findings = [finding for chapter in chapters for finding in chapter.findings()]
    diffs = [diff for chapter in chapters for diff in chapter.unformatted()]
    print(*findings, *diffs, sep="\n", end="\n" if findings or diffs else "")
    cells = sum(len(chapter.cells) for chapter in chapters)
    print(
        f"{len(chapters)} chapters, {cells} code cells: {len(findings)} findings,"
        f" {len(diffs)} cells to reformat"
    )
    return 1 if findings or diffs else 0


if __name__ == "__main__":
    sys.exit(main())
