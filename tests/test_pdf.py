"""The PDF of the whole book (``make pdf``), read back with poppler's tools.

It must hold every chapter of ``_toc.yml``, each starting a page of its own with its title,
in the order of the table of contents, which the first page lists; the math must be
typeset (no ``$`` delimiters or TeX commands left in the text, except inside the code the
book prints), and the figures must be in it as images.

Needs ``make pdf`` first (and poppler-utils): without the PDF the tests skip, or fail when
``NNSCRATCH_REQUIRE=pdf`` is set, as `.ci/run` does in its step after ``make pdf``.
"""

from __future__ import annotations

import html.parser
import re
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.pdf

ROOT = Path(__file__).resolve().parents[1]
SINGLEHTML = ROOT / "_build" / "singlehtml"
# A TeX command or a $ that survived into the text, as a whitespace-delimited token.
RAW_MATH = re.compile(r"\S*(\$|\\[A-Za-z]{2,})\S*")


def _chapters() -> list[str]:
    """The files of _toc.yml after the root, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    parts = toc.get("parts", [{"chapters": toc.get("chapters", [])}])
    return [entry["file"] for part in parts for entry in part["chapters"]]


def _title(chapter: str) -> str:
    """The chapter's title: the first level-one heading of its source."""
    text = (ROOT / f"{chapter}.md").read_text(encoding="utf-8")
    match = re.search(r"^# (.+)$", text, flags=re.MULTILINE)
    assert match, f"{chapter}.md has no '# ' title"
    return match[1].strip()


def _run(*command: str | Path) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _pages(pdf: Path) -> list[list[str]]:
    """The non-empty lines of each page of the PDF, as pdftotext reads them."""
    text = _run("pdftotext", "-layout", pdf, "-")
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    return [[line.strip() for line in page.splitlines() if line.strip()] for page in pages]


class _CodeText(html.parser.HTMLParser):
    """Collects the text of the ``<pre>`` and ``<code>`` elements of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        self.depth += tag in ("pre", "code")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "code") and self.depth:
            self.depth -= 1
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def _code_text() -> str:
    """All the code the printed page shows, whitespace collapsed to single spaces."""
    pages = sorted(SINGLEHTML.rglob("*.html"))
    parser = _CodeText()
    for page in pages:
        parser.feed(page.read_text(encoding="utf-8"))
    return " ".join("".join(parser.parts).split())


def test_every_chapter_starts_a_page_in_order(book_pdf: Path) -> None:
    pages = _pages(book_pdf)
    count = int(re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", book_pdf), re.MULTILINE)[1])
    assert count == len(pages), f"pdfinfo counts {count} pages, pdftotext reads {len(pages)}"
    chapters = _chapters()
    starts = []
    for chapter in chapters:
        title = _title(chapter)
        found = [number for number, lines in enumerate(pages, 1) if lines[:1] == [title]]
        assert found, f"no page starts with the title of {chapter}, {title!r}"
        starts.append(found[0])
    assert starts == sorted(starts), (
        f"chapters out of order: {list(zip(chapters, starts, strict=True))}"
    )
    assert len(set(starts)) == len(starts)
    assert count > starts[-1], f"the last chapter starts on the last page of {count}"


def test_the_first_page_lists_the_chapters(book_pdf: Path) -> None:
    first = " ".join(_pages(book_pdf)[0])
    assert "Contents" in first
    positions = [first.find(_title(chapter)) for chapter in _chapters()]
    missing = [c for c, p in zip(_chapters(), positions, strict=True) if p < 0]
    assert not missing, f"the table of contents lacks {missing}"
    assert positions == sorted(positions), "the table of contents is out of order"


def test_no_math_is_left_as_tex(book_pdf: Path) -> None:
    code = _code_text()
    text = _run("pdftotext", book_pdf, "-")
    raw = [
        token
        for token in (match[0].strip(".,;:()[]") for match in RAW_MATH.finditer(text))
        if token and token not in code
    ]
    assert not raw, f"{len(raw)} pieces of TeX outside the code: {raw[:20]}"


def test_the_figures_are_in_it(book_pdf: Path) -> None:
    listing = _run("pdfimages", "-list", book_pdf).splitlines()[2:]
    images = [row.split() for row in listing if row.split()[2] == "image"]
    figures = sorted((SINGLEHTML / "_images").glob("*.png"))
    assert figures, f"no figure in {SINGLEHTML / '_images'}: is the singlehtml build there?"
    assert len(images) >= len(figures), (
        f"{len(images)} images in the PDF for the {len(figures)} figures of the book"
    )
