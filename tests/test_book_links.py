"""Every link inside the built site resolves (issue #16, item 2).

``make test`` has no network, so external links are checked by the nightly workflow
(``.github/workflows/linkcheck.yml``, Sphinx's linkcheck builder). Here every page of
``_build/html`` is parsed and each internal reference is followed: ``href`` of ``<a>`` and
``<link>``, ``src`` of ``<img>``, ``<script>``, ``<source>`` and ``<iframe>``. A reference
resolves when its file exists in the site (a folder means its ``index.html``), and, when it
has a ``#fragment``, the target page has an element with that ``id`` (or an ``<a name>``).
The built site includes the PDF the landing page links to (``book_pdf`` prints it first).

The checker is first run on a small site with one broken link and one broken anchor, so a
check that finds nothing in the book is known to be able to find something.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = [pytest.mark.xdist_group("book")]

#: Tag -> attributes that hold a reference to another file.
REFERENCES = {"a": ("href",), "link": ("href",), "img": ("src",), "script": ("src",), "source": ("src",),
              "iframe": ("src",)}
#: Schemes that leave the site (checked nightly, or not links at all).
EXTERNAL = ("http", "https", "mailto", "tel", "data", "javascript", "ftp")


@functools.lru_cache(maxsize=None)
def _ids(page: Path) -> frozenset[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(encoding="utf-8", errors="replace"), "html.parser")
    return frozenset([e["id"] for e in soup.find_all(id=True)] + [a["name"] for a in soup.find_all("a", attrs={"name": True})])


def broken_references(site: Path) -> tuple[list[str], int]:
    """(every internal reference of ``site`` that does not resolve, as 'page: ref (why)'; how many were checked)."""
    from bs4 import BeautifulSoup

    site = site.resolve()
    broken, checked = [], 0
    for page in sorted(site.rglob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8", errors="replace"), "html.parser")
        base = soup.find("base", href=True)
        if base is not None:
            raise AssertionError(f"{page.relative_to(site)} sets <base href>: resolve links against it first")
        for tag, attrs in REFERENCES.items():
            for element in soup.find_all(tag):
                for attr in attrs:
                    ref = element.get(attr)
                    if not ref or ref.startswith("{{"):  # a template in a <script type=text/template>
                        continue
                    parts = urlsplit(ref)
                    if parts.scheme in EXTERNAL or parts.netloc:
                        continue
                    checked += 1
                    where = f"{page.relative_to(site)}: <{tag} {attr}={ref!r}>"
                    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
                    if site not in target.parents and target != site:
                        broken.append(f"{where} points outside the site")
                        continue
                    if target.is_dir():
                        target = target / "index.html"
                    if not target.is_file():
                        broken.append(f"{where}: no file {target.relative_to(site)}")
                        continue
                    fragment = unquote(parts.fragment)
                    if fragment and target.suffix == ".html" and fragment not in _ids(target):
                        broken.append(f"{where}: {target.relative_to(site)} has no element with id {fragment!r}")
    return broken, checked


def test_the_checker_finds_a_broken_link_and_a_broken_anchor(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="book/a.html#there">ok</a> <a href="book/a.html#nowhere">bad anchor</a> '
        '<a href="book/missing.html">bad page</a> <img src="_static/x.png"> <a href="https://example.org/">out</a>')
    (tmp_path / "book" / "a.html").write_text('<h1 id="there">A</h1><a href="#there">self</a><a href="../">up</a>')
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.png").write_bytes(b"\x89PNG")
    broken, checked = broken_references(tmp_path)
    assert checked == 6, checked
    assert len(broken) == 2, broken
    assert "id 'nowhere'" in broken[0] and "no file book/missing.html" in broken[1], broken


def test_every_internal_link_and_anchor_of_the_built_book_resolves(built_book, book_pdf):
    broken, checked = broken_references(built_book)
    assert checked > 1000, f"only {checked} internal references found in {built_book}: was the site built?"
    assert not broken, f"{len(broken)} of {checked} internal references do not resolve:\n" + "\n".join(broken[:40])


def test_the_landing_page_links_the_pdf_of_the_book(built_book, book_pdf):
    """The landing page's "read offline" link is the PDF that ``make pdf`` wrote into the site."""
    from bs4 import BeautifulSoup

    index = built_book / "book" / "intro.html"
    soup = BeautifulSoup(index.read_text(encoding="utf-8"), "html.parser")
    pdfs = [a["href"] for a in soup.find_all("a", href=True) if urlsplit(a["href"]).path.endswith(".pdf")]
    assert pdfs, "the landing page (book/intro.html) has no link to the PDF of the book"
    assert all((index.parent / urlsplit(h).path).resolve() == Path(book_pdf).resolve() for h in pdfs), (pdfs, book_pdf)
