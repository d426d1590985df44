"""Sphinx extension: the single-page HTML build writes every node the HTML build writes.

Sphinx looks up how to write an extension's node under the builder's name and falls back to
its format ("html") only when no extension registered anything under that name. Once one
does (sphinx-exercise registers its nodes for "singlehtml"), the nodes of the others
(myst-nb's hidden cell inputs, among them) have no writer in the single-page build, which
then fails. This copies the "html" handlers that "singlehtml" lacks when that build starts.
`make pdf` prints that build (tools/print_pdf.py); _config.yml loads this extension.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _copy_html_handlers(app: Sphinx) -> None:
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    single = handlers.setdefault("singlehtml", {})
    for node, visit_depart in handlers.get("html", {}).items():
        single.setdefault(node, visit_depart)


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("builder-inited", _copy_html_handlers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
