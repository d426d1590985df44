"""The built book as a reader's browser sees it.

Serves ``_build/html`` from 127.0.0.1 and opens every page in headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright; no browser is downloaded). Every request to
another host is aborted and recorded. On each page: the math is rendered by MathJax with no
errors and no undefined macros, every image loads, the fonts load, the page's download links
work, and the console stays free of errors. The search page must find :data:`SEARCH_TERM`.
Each chapter from the forward pass to performance shows at least :data:`MIN_FIGURES` figures
(more for the chapters named in :data:`MORE_FIGURES`).

Needs ``make book`` first: without ``_build/html`` (or Chromium) the tests skip, or fail when
``NNSCRATCH_REQUIRE=site`` is set, as `.ci/run` does in its step after the build.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import HOST, SITE, TIMEOUT_MS

pytestmark = [pytest.mark.site, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
HTML = SITE
SEARCH_TERM = "softmax"
# Figures (images that load, inside the page's article) per chapter, issue 13: at least
# MIN_FIGURES on every chapter from FIRST_FIGURED to LAST_FIGURED in the table of contents,
# and more on the two chapters whose derivations are drawn.
FIRST_FIGURED, LAST_FIGURED = "book/forward", "book/performance"
MIN_FIGURES = 2
MORE_FIGURES = {"book/jacobians": 3, "book/shortcut": 3}
COUNT_FIGURES = """
async (timeoutMs) => {
  const images = [...document.querySelectorAll("article.bd-article img")];
  for (const img of images) img.loading = "eager";
  await Promise.race([
    Promise.all(images.map((img) => img.complete ? null : new Promise((resolve) => {
      img.addEventListener("load", resolve);
      img.addEventListener("error", resolve);
    }))),
    new Promise((resolve) => setTimeout(resolve, timeoutMs)),
  ]);
  return images.filter((img) => img.complete && img.naturalWidth > 0).length;
}
"""

# Runs in the page once it has loaded: waits for MathJax and the images, then reports what
# a reader would see. `.math` is the class Sphinx gives every formula it hands to MathJax.
INSPECT_PAGE = """
async (timeoutMs) => {
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`page not ready after ${timeoutMs} ms`)), timeoutMs));
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  const ready = Promise.all([
    window.MathJax?.startup?.promise,
    ...images.map((img) => img.complete ? null : new Promise((resolve) => {
      img.addEventListener("load", resolve);
      img.addEventListener("error", resolve);
    })),
  ]).then(() => document.fonts.ready);
  await Promise.race([ready, timeout]);

  const undefinedMacros = [];
  for (const item of window.MathJax?.startup?.document?.math ?? []) {
    item.root.walkTree((node) => {
      if (node.isKind("mtext") && node.attributes.getExplicit("mathcolor") === "red") {
        undefinedMacros.push(`${node.childNodes.map((c) => c.getText?.() ?? "").join("")}`
                             + ` in ${String(item.math).slice(0, 80)}`);
      }
    });
  }
  const formulas = [...document.querySelectorAll(".math")];
  return {
    mathjax: Boolean(window.MathJax?.startup?.document),
    formulas: formulas.length,
    unrendered: formulas.filter((el) => !el.querySelector("mjx-container"))
                        .map((el) => el.textContent.trim().slice(0, 80)),
    containers: document.querySelectorAll("mjx-container").length,
    mathErrors: [...document.querySelectorAll("mjx-merror")]
                  .map((el) => el.getAttribute("data-mjx-error") || el.textContent),
    undefinedMacros,
    images: images.map((img) => ({src: img.currentSrc || img.src,
                                  ok: img.complete && img.naturalWidth > 0})),
    fontErrors: [...document.fonts].filter((f) => f.status === "error").map((f) => f.family),
    downloads: [...document.querySelectorAll('a[href*="_sources/"]')].map((a) => a.href),
  };
}
"""


@dataclass
class Tally:
    """What the browser checked, for the summary line."""

    pages: int = 0
    formulas: int = 0
    images: int = 0
    blocked: list[str] = field(default_factory=list)


def _pages() -> list[str]:
    """Every HTML page of the build, as paths relative to ``_build/html``."""
    return sorted(
        path.relative_to(HTML).as_posix()
        for path in HTML.rglob("*.html")
        if path.relative_to(HTML).parts[0] != "_static"
    )


def _toc_files(entries: list[dict]) -> list[str]:
    """The files of a table of contents' entries, in reading order (parts and sections)."""
    files = []
    for entry in entries:
        if "file" in entry:
            files.append(entry["file"])
        for key in ("parts", "chapters", "sections"):
            files += _toc_files(entry.get(key, []))
    return files


def figure_minimums() -> dict[str, int]:
    """The least number of figures each chapter must show, by its file in ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = _toc_files([toc])
    figured = files[files.index(FIRST_FIGURED) : files.index(LAST_FIGURED) + 1]
    return {page: MORE_FIGURES.get(page, MIN_FIGURES) for page in figured}


def _is_notebook(page: str) -> bool:
    """Whether the page was built from a MyST notebook (its source declares a kernelspec)."""
    source = HTML / "_sources" / Path(page).with_suffix(".md")
    return source.is_file() and "\nkernelspec:" in source.read_text(encoding="utf-8")


def _redirects(page: str) -> bool:
    """Whether the page only sends the reader elsewhere (the root index.html does)."""
    return 'http-equiv="refresh"' in (HTML / page).read_text(encoding="utf-8").lower()


@pytest.fixture
def tally() -> Tally:
    return Tally()


@pytest.fixture
def context(browser, tally: Tally) -> Iterator[object]:
    """A browser context whose requests may go to 127.0.0.1 only; others are recorded."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)

    def route(route) -> None:
        if urlsplit(route.request.url).hostname == HOST:
            route.continue_()
        else:
            tally.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    yield context
    context.close()


def _record_errors(tab, problems: list[str]) -> None:
    """Append the tab's console errors, uncaught exceptions and failed responses to problems."""

    def on_console(message) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    def on_response(response) -> None:
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("response", on_response)


def _check_page(context, base: str, page: str, tally: Tally) -> list[str]:
    """Open one page and return the problems a reader would see on it."""
    problems: list[str] = []
    tab = context.new_page()
    _record_errors(tab, problems)
    blocked_before = len(tally.blocked)
    try:
        tab.goto(base + page, wait_until="load")
        if _redirects(page):
            tab.wait_for_url(lambda url: url != base + page, wait_until="load")
        seen = tab.evaluate(INSPECT_PAGE, TIMEOUT_MS)
    except Exception as error:  # any failure to load is one more problem to list
        tab.close()
        return [f"could not inspect the page: {error}"]
    problems += [f"formula not rendered by MathJax: {text}" for text in seen["unrendered"]]
    problems += [f"MathJax error: {message}" for message in seen["mathErrors"]]
    problems += [f"undefined macro: {macro}" for macro in seen["undefinedMacros"]]
    problems += [f"image did not load: {img['src']}" for img in seen["images"] if not img["ok"]]
    problems += [f"font did not load: {family}" for family in seen["fontErrors"]]
    if _is_notebook(page) and not any(url.endswith(".ipynb") for url in seen["downloads"]):
        problems.append("no .ipynb download link on a notebook page")
    for url in seen["downloads"]:
        response = context.request.get(url)
        if not response.ok or not response.body():
            problems.append(f"download link broken (HTTP {response.status}): {url}")
    problems += [f"request to another host: {url}" for url in tally.blocked[blocked_before:]]
    tally.pages += 1
    tally.formulas += seen["containers"]
    tally.images += len(seen["images"])
    tab.close()
    return problems


def test_every_page_renders_offline(site_url: str, context, tally: Tally, capsys) -> None:
    """Math, images, fonts, downloads and console on every page, with nothing from outside."""
    pages = _pages()
    assert pages, f"no HTML pages under {HTML}"
    problems = {page: _check_page(context, site_url, page, tally) for page in pages}
    problems = {page: found for page, found in problems.items() if found}
    with capsys.disabled():
        print(
            f"\nsite check: {tally.pages} pages, {tally.formulas} formulas (mjx-container),"
            f" {tally.images} images, {len(tally.blocked)} requests to other hosts blocked"
        )
    report = "\n".join(
        f"{page}:\n  " + "\n  ".join(found) for page, found in sorted(problems.items())
    )
    assert not problems, f"{len(problems)} of {len(pages)} pages have problems:\n{report}"
    assert tally.formulas > 0, "no formula rendered anywhere: is MathJax loaded?"


def test_search_finds_the_term(site_url: str, context, tally: Tally) -> None:
    """The search page, run offline from the local search index, finds SEARCH_TERM."""
    tab = context.new_page()
    tab.goto(f"{site_url}search.html?q={SEARCH_TERM}", wait_until="load")
    tab.wait_for_function(
        "() => document.querySelector('#search-results')?.textContent.includes('Search finished')"
    )
    hits = tab.locator("#search-results ul.search li").all_inner_texts()
    assert hits, f"the search for {SEARCH_TERM!r} found nothing"
    assert not tally.blocked, f"requests to other hosts: {tally.blocked}"


def test_the_figure_minimums_cover_the_chapters() -> None:
    """The range of chapters held to a number of figures is the one issue 13 names."""
    minimums = figure_minimums()
    assert {"book/forward", "book/shortcut", "book/evaluation", "book/performance"} <= set(minimums)
    assert "book/data" not in minimums and "book/api" not in minimums
    assert minimums["book/jacobians"] == minimums["book/shortcut"] == 3


def test_chapters_show_their_figures(site_url: str, context) -> None:
    """Each chapter from forward to performance shows its least number of figures."""
    short = {}
    for page, least in figure_minimums().items():
        tab = context.new_page()
        tab.goto(f"{site_url}{page}.html", wait_until="load")
        shown = tab.evaluate(COUNT_FIGURES, TIMEOUT_MS)
        tab.close()
        if shown < least:
            short[page] = f"{shown} figures, expected at least {least}"
    assert not short, f"chapters with too few figures: {short}"
