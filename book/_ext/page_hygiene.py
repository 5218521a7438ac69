"""Small fixes to the generated pages that the browser test (tests/test_browser.py) holds us to.

* Two inline configuration scripts (sphinx-thebe's and sphinx-togglebutton's) reach
  each page twice with the Jupyter Book 1.x stack, and the second copy of thebe's
  throws "Identifier 'THEBE_JS_URL' has already been declared" in the browser
  console. After the build, a repeated identical inline ``<script>`` line is
  dropped from every page.
* docutils 0.21 writes a page's bibliography as ``<div role="list" class="citation-list">``
  whose entries carry ``role="doc-biblioentry"``, a role that DPub-ARIA 1.1 deprecated; a
  list whose children are not list items is axe-core's "aria-required-children" violation
  (impact critical), on every page that cites a work. Each entry becomes ``role="listitem"``
  (its ``id``, class and content are kept, so citations and backlinks still resolve).
* Every page loads ``book/_static/lrlab.js``, which gives a scrolling box (code, a cell's
  output, a wide table) its keyboard tab stop again when a folded solution or a hidden cell
  opens: the theme sets the tab stops while the solutions are still folded (axe-core's
  "scrollable-region-focusable", impact serious).
"""

from __future__ import annotations

import re
from pathlib import Path

_INLINE = re.compile(r"^\s*<script>.*</script>\s*$")


def dedupe_inline_scripts(html: str) -> str:
    """Drop every repeat of an identical one-line inline ``<script>`` element.

    >>> page = "<script>const A = 1</script>\\n<p>x</p>\\n<script>const A = 1</script>\\n"
    >>> dedupe_inline_scripts(page)
    '<script>const A = 1</script>\\n<p>x</p>\\n'
    """
    seen, out = set(), []
    for line in html.splitlines(keepends=True):
        if _INLINE.match(line):
            key = line.strip()
            if key in seen:
                continue
            seen.add(key)
        out.append(line)
    return "".join(out)


_BIBLIOENTRY = re.compile(r'(<div class="citation"[^>]*?) role="doc-biblioentry"')


def citation_entries_as_list_items(html: str) -> str:
    """Give each bibliography entry (``div.citation``) the ``listitem`` role its ``role="list"`` needs.

    >>> citation_entries_as_list_items('<div role="list" class="citation-list">\\n'
    ...                                '<div class="citation" id="id7" role="doc-biblioentry">')
    '<div role="list" class="citation-list">\\n<div class="citation" id="id7" role="listitem">'
    """
    return _BIBLIOENTRY.sub(r'\1 role="listitem"', html)


def _clean_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = citation_entries_as_list_items(dedupe_inline_scripts(text))
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def setup(app):
    app.add_js_file("lrlab.js")  # from html_static_path (book/_static)
    app.connect("build-finished", _clean_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
