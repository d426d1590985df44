"""The built book as a reader's browser sees it.

Serves ``_build/html`` from 127.0.0.1 and opens every page in headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright; no browser is downloaded). Every request to
another host is aborted and recorded. On each page: the math is rendered by MathJax with no
errors and no undefined macros, every image loads, the fonts load, the page's download links
work, and the console stays free of errors. The search page must find :data:`SEARCH_TERM`.

Needs ``make book`` first: without ``_build/html`` (or Chromium) the tests skip, or fail when
``NNSCRATCH_REQUIRE=site`` is set, as `.ci/run` does in its step after the build.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.site, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST = "127.0.0.1"
SEARCH_TERM = "softmax"
TIMEOUT_MS = 60_000

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


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of one line per request."""


def _pages() -> list[str]:
    """Every HTML page of the build, as paths relative to ``_build/html``."""
    return sorted(
        path.relative_to(HTML).as_posix()
        for path in HTML.rglob("*.html")
        if path.relative_to(HTML).parts[0] != "_static"
    )


def _is_notebook(page: str) -> bool:
    """Whether the page was built from a MyST notebook (its source declares a kernelspec)."""
    source = HTML / "_sources" / Path(page).with_suffix(".md")
    return source.is_file() and "\nkernelspec:" in source.read_text(encoding="utf-8")


def _redirects(page: str) -> bool:
    """Whether the page only sends the reader elsewhere (the root index.html does)."""
    return 'http-equiv="refresh"' in (HTML / page).read_text(encoding="utf-8").lower()


@pytest.fixture(scope="module")
def server(built_site: Path) -> Iterator[str]:
    """Serve ``_build/html`` on 127.0.0.1 at an ephemeral port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[object]:
    """Debian's Chromium, headless, with background networking off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


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


def test_every_page_renders_offline(server: str, context, tally: Tally, capsys) -> None:
    """Math, images, fonts, downloads and console on every page, with nothing from outside."""
    pages = _pages()
    assert pages, f"no HTML pages under {HTML}"
    problems = {page: _check_page(context, server, page, tally) for page in pages}
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


def test_search_finds_the_term(server: str, context, tally: Tally) -> None:
    """The search page, run offline from the local search index, finds SEARCH_TERM."""
    tab = context.new_page()
    tab.goto(f"{server}search.html?q={SEARCH_TERM}", wait_until="load")
    tab.wait_for_function(
        "() => document.querySelector('#search-results')?.textContent.includes('Search finished')"
    )
    hits = tab.locator("#search-results ul.search li").all_inner_texts()
    assert hits, f"the search for {SEARCH_TERM!r} found nothing"
    assert not tally.blocked, f"requests to other hosts: {tally.blocked}"
