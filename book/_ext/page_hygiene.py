"""Small fixes to the generated pages that the browser test (tests/test_browser.py) holds us to.

* Two inline configuration scripts (sphinx-thebe's and sphinx-togglebutton's) reach
  each page twice with the Jupyter Book 1.x stack, and the second copy of thebe's
  throws "Identifier 'THEBE_JS_URL' has already been declared" in the browser
  console. After the build, a repeated identical inline ``<script>`` line is
  dropped from every page.
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


def _clean_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = dedupe_inline_scripts(text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _clean_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
