"""Build the whole book, as `make book` does but into a temporary folder, and check what came out.

The build executes every chapter (a fresh jupyter-cache inside the temporary
folder, so it never reuses the cache of a local `make book`), and must finish
with zero warnings: `--warningiserror --nitpick --keep-going`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import toc_files

REPO = Path(__file__).resolve().parents[1]
CHAPTER1 = "book/optimizers_dilemma"

# every test here uses the session's one build of the book (tests/conftest.py)
pytestmark = pytest.mark.xdist_group("book")


@pytest.mark.slow
def test_every_toc_page_produced_html(built_book):
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = toc_files(toc)
    assert CHAPTER1 in pages
    missing = [page for page in pages if not (built_book / f"{page}.html").is_file()]
    assert not missing, f"no HTML produced for: {missing}"
    assert (built_book / "index.html").is_file()


@pytest.mark.slow
def test_chapter1_html_contains_the_computed_comparison_table(built_book):
    from bs4 import BeautifulSoup

    import lrlab.ch1 as ex

    html = (built_book / f"{CHAPTER1}.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    assert "Traceback" not in soup.get_text(), "a cell of chapter 1 printed a traceback"

    table, _, _ = ex.schedule_comparison(ex.chapter1_nqm())
    expected_rows = [(row.schedule, f"{row.final_loss:.5f}", f"{row.peak_lr:.3f}") for row in table.itertuples()]
    found = False
    for html_table in soup.find_all("table"):
        cells = [[td.get_text(strip=True) for td in tr.find_all(["td", "th"])] for tr in html_table.find_all("tr")]
        rows = [tuple(cells_row[i] for i in (0, 2, 1)) for cells_row in cells[1:] if len(cells_row) >= 3]
        if rows == expected_rows:
            found = True
            break
    assert found, ("the chapter's HTML has no table with the computed schedule comparison "
                   f"(expected rows schedule/final_loss/peak_lr: {expected_rows})")


@pytest.mark.slow
def test_chapter1_figures_have_captions_and_alt_text(built_book):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((built_book / f"{CHAPTER1}.html").read_text(encoding="utf-8"), "html.parser")
    for name in ("fig-stability", "fig-mc", "fig-dilemma", "fig-zoo", "fig-compare"):
        figure = soup.find(id=name)
        assert figure is not None, f"figure {name} is missing"
        assert figure.find("figcaption") is not None, f"figure {name} has no caption"
        img = figure.find("img")
        assert img is not None and len(img.get("alt", "")) > 40, f"figure {name} has no alt text"


@pytest.mark.slow
def test_no_page_loads_scripts_or_styles_from_the_network(built_book):
    """Math must render offline: MathJax (and everything else) is served from the build."""
    from bs4 import BeautifulSoup

    remote = []
    for page in built_book.rglob("*.html"):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for tag, attr in (("script", "src"), ("link", "href")):
            for el in soup.find_all(tag):
                url = el.get(attr) or ""
                if tag == "link" and "stylesheet" not in (el.get("rel") or []) and "preload" not in (el.get("rel") or []):
                    continue
                if url.startswith(("http://", "https://", "//")):
                    remote.append(f"{page.relative_to(built_book)}: <{tag} {attr}={url}>")
    assert not remote, "pages load files from the network:\n" + "\n".join(remote[:20])
    chapter = (built_book / f"{CHAPTER1}.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-mml-chtml.js" in chapter, "chapter 1 does not load the local MathJax"
    assert (built_book / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert any((built_book / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff")), (
        "MathJax's fonts were not copied next to it"
    )
