"""Print the book's single-page HTML build to one PDF, with the headless Chromium.

``make pdf`` builds every chapter onto one HTML page (``jupyter-book build --builder
singlehtml``, from the execution cache of ``make book``) and runs this script on it. The
script serves that folder on 127.0.0.1 and opens it in Debian's Chromium through Playwright
(no browser is downloaded; a request to any other host is refused, as the page needs none).
It waits until MathJax has typeset every formula and every image has loaded, then prepares
the page for paper: a title page and a table of contents (the parts and chapters of
``_toc.yml``, linked), each chapter on a new page with its title as a top-level heading
(the single page nests the chapters under the introduction), no navigation bars or
buttons; and prints it to A4 with page numbers and the PDF outline of the headings.

It stops with an error, naming them, if a formula is left untypeset or in error, an image
fails to load, or a chapter of the table of contents is not on the page.

Usage: ``python tools/print_pdf.py SINGLEHTML_DIR OUTPUT.pdf`` (``make pdf``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
HOST = "127.0.0.1"
TIMEOUT_MS = 300_000  # MathJax typesets some 1,200 formulas on one page

# Waits for MathJax and the images; returns what did not render.
WAIT_FOR_PAGE = """
async () => {
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  await Promise.all([
    window.MathJax?.startup?.promise,
    ...images.map((img) => img.complete ? null : new Promise((resolve) => {
      img.addEventListener("load", resolve);
      img.addEventListener("error", resolve);
    })),
  ]);
  await document.fonts.ready;
  const formulas = [...document.querySelectorAll(".math")];
  return {
    mathjax: Boolean(window.MathJax?.startup?.document),
    formulas: formulas.length,
    unrendered: formulas.filter((el) => !el.querySelector("mjx-container"))
                        .map((el) => el.textContent.trim().slice(0, 80)),
    errors: [...document.querySelectorAll("mjx-merror")]
              .map((el) => el.getAttribute("data-mjx-error") || el.textContent),
    brokenImages: images.filter((img) => !(img.complete && img.naturalWidth > 0))
                        .map((img) => img.currentSrc || img.src),
  };
}
"""

# Turns the web page into a book: the theme's printed table of contents on a page of its
# own, then one chapter per page, each titled by a top-level heading.
PREPARE_BOOK = """
({root, chapters}) => {
  // Links to this very page by its file name (the citations) become links within it.
  for (const a of document.querySelectorAll("a[href]")) {
    const target = new URL(a.href, document.baseURI);
    if (target.origin === location.origin && target.pathname === `/${root}.html` && target.hash) {
      a.setAttribute("href", target.hash);
    }
  }
  const rename = (old, tag, className) => {
    const renamed = document.createElement(tag);
    for (const attribute of old.attributes) renamed.setAttribute(attribute.name, attribute.value);
    if (className) renamed.classList.add(className);
    renamed.append(...old.childNodes);
    old.replaceWith(renamed);
  };
  // The title and "Contents" of the printed contents are no chapters of the outline.
  const front = document.querySelector("#jb-print-docs-body");
  if (!front) return {missing: ["the theme's printed table of contents"]};
  for (const heading of front.querySelectorAll("h1, h2")) {
    rename(heading, "p", `pdf-${heading.tagName.toLowerCase()}`);
  }
  // The single page nests each chapter where the table of contents stands in the
  // introduction: its heading becomes an <h1> and its sections move up as many levels.
  const found = [];
  for (const anchor of document.querySelectorAll('span[id^="document-"]')) {
    const section = anchor.nextElementSibling;
    if (!section || section.tagName !== "SECTION") continue;
    const shift = Number(section.querySelector("h1, h2, h3, h4, h5, h6").tagName[1]) - 1;
    for (const old of section.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
      rename(old, `h${Math.max(1, Number(old.tagName[1]) - shift)}`);
    }
    section.classList.add("pdf-chapter");
    found.push(anchor.id.slice("document-".length));
  }
  const listed = [...front.querySelectorAll('a[href^="#document-"]')]
                   .map((a) => a.getAttribute("href").slice("#document-".length));
  const missing = chapters.filter((file) => !found.includes(file))
                    .map((file) => `${file} (not on the page)`);
  missing.push(...chapters.filter((file) => !listed.includes(file))
                    .map((file) => `${file} (not in the contents)`));
  if (found.join() !== chapters.join()) missing.push(`order: ${found.join(", ")}`);
  return {missing, chapters: found.length};
}
"""

# Paper needs no navigation, buttons or collapsed code, and each chapter opens a page.
PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm; }
.bd-header, .bd-header-article, .header-article, .bd-sidebar-primary, .bd-sidebar-secondary,
.bd-footer, .bd-footer-article, .bd-footer-content, .prev-next-area, .headerlink,
.search-button-field, .theme-switch-button, .sidebar-toggle, #pst-back-to-top,
.skip-link, details.hide, .toggle-button { display: none !important; }
/* The theme hides the first <h1> of the article, for a page's own title is printed above
   it; the chapters' titles stay (the introduction's is the one above the contents). */
.bd-main .bd-content .bd-article .pdf-chapter h1 { display: block !important; }
html, body, .bd-container, .bd-container__inner, .bd-main, .bd-content, .bd-article-container,
.bd-article { display: block !important; max-width: none !important; width: auto !important;
  margin: 0 !important; padding: 0 !important; overflow: visible !important; }
#jb-print-docs-body { break-after: page; }
#jb-print-docs-body .pdf-h1 { font-size: 2.2em; font-weight: bold; margin: 12% 0 1em; }
#jb-print-docs-body li { margin: 0; }
#jb-print-docs-body .caption { margin: 0.8em 0 0.2em; font-weight: bold; }
#jb-print-docs-body .pdf-h2 { font-size: 1.5em; font-weight: bold; }
.pdf-chapter { break-before: page; }
figure, img, .cell_output, mjx-container[display="true"] { break-inside: avoid; }
h1, h2, h3, h4 { break-after: avoid; }
pre { white-space: pre-wrap !important; overflow: visible !important; font-size: 0.8em; }
"""

FOOTER = (
    '<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


class _BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder, and at ``/`` the page of the root document.

    The single-page builder writes the root document at its own path (``book/intro.html``)
    but links the images, the static files and the citations from it as if it were at the
    top of the folder: served at ``/``, they all resolve.
    """

    def __init__(self, *args, page: Path, **kwargs) -> None:
        self.page = page
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        if urlsplit(path).path in ("/", "/index.html"):
            return str(self.page)
        return super().translate_path(path)

    def log_message(self, format: str, *args: object) -> None:
        """No line per request."""


@contextmanager
def serve(folder: Path, page: Path) -> Iterator[str]:
    """Serve ``folder``, with ``page`` at its top, on 127.0.0.1 at a free port; yields the URL."""
    handler = functools.partial(_BookHandler, directory=str(folder), page=page)
    httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def book_outline(root: Path = ROOT) -> dict:
    """The root document and the chapters after it, in the order of ``_toc.yml``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    parts = toc.get("parts", [{"chapters": toc.get("chapters", [])}])
    chapters = [entry["file"] for part in parts for entry in part["chapters"]]
    return {"root": toc["root"], "chapters": chapters}


def print_pdf(html_dir: Path, output: Path) -> dict:
    """Print ``html_dir``'s single page to ``output``; returns what was checked."""
    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get install chromium")
    outline = book_outline()
    page_file = html_dir / f"{outline['root']}.html"
    if not page_file.is_file():
        raise FileNotFoundError(f"{page_file} is missing: build the singlehtml first")
    blocked: list[str] = []
    with serve(html_dir, page_file) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        def route(request_route) -> None:
            if urlsplit(request_route.request.url).hostname == HOST:
                request_route.continue_()
            else:
                blocked.append(request_route.request.url)
                request_route.abort()

        page.route("**/*", route)
        page.goto(base, wait_until="load")
        seen = page.evaluate(WAIT_FOR_PAGE)
        problems = [f"formula not typeset: {text}" for text in seen["unrendered"]]
        problems += [f"MathJax error: {error}" for error in seen["errors"]]
        problems += [f"image did not load: {src}" for src in seen["brokenImages"]]
        problems += [f"request to another host: {url}" for url in blocked]
        if not seen["mathjax"]:
            problems.append("MathJax did not start")
        made = page.evaluate(PREPARE_BOOK, outline)
        problems += [f"chapter not on the page: {file}" for file in made["missing"]]
        if problems:
            browser.close()
            raise RuntimeError(f"{len(problems)} problems:\n" + "\n".join(problems))
        page.add_style_tag(content=PRINT_CSS)
        page.emulate_media(media="print")
        output.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(
            path=str(output),
            format="A4",
            print_background=True,
            display_header_footer=True,
            header_template="<span></span>",
            footer_template=FOOTER,
            outline=True,
            tagged=True,
            prefer_css_page_size=True,
        )
        browser.close()
    return {"formulas": seen["formulas"], "chapters": made["chapters"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", type=Path, help="the singlehtml build (_build/singlehtml)")
    parser.add_argument("output", type=Path, help="the PDF to write")
    args = parser.parse_args(argv)
    checked = print_pdf(args.html_dir, args.output)
    size = args.output.stat().st_size / 1e6
    print(
        f"{args.output}: {size:.1f} MB, {checked['chapters']} chapters,"
        f" {checked['formulas']} formulas typeset"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
