"""The book's local Sphinx extensions (book/_ext): offline MathJax and page hygiene."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))

import offline_mathjax  # noqa: E402
import page_hygiene  # noqa: E402


def test_repeated_inline_scripts_are_dropped_but_distinct_ones_kept():
    page = "<script>const A = 1</script>\n<script src='x.js'></script>\n<script>const A = 1</script>\n<script>B()</script>\n"
    assert page_hygiene.dedupe_inline_scripts(page) == "<script>const A = 1</script>\n<script src='x.js'></script>\n<script>B()</script>\n"


def test_every_mathjax_file_the_book_serves_is_installed():
    src = offline_mathjax.mathjax_source()
    for rel in offline_mathjax.NEEDED:
        assert (src / rel).exists(), f"MathJax's {rel} is missing from {src}"
