"""The book as one PDF (issue #16, item 4): ``make pdf`` = ``tools/book_pdf.py``.

The ``book_pdf`` fixture prints the built book (the session's ``built_book``) with the
script, as a subprocess, into the built site; the PDF is then opened with pypdf and held
against the built HTML it was printed from:

* every page of ``_toc.yml`` starts on a page of its own whose text begins with its title
  (the page's ``h1`` on the site, chapter number included), in table-of-contents order;
* the contents page lists every title with the page it starts on, and links there;
* the bookmarks name every page (under its part's caption) and every ``h2`` section of it,
  each pointing at a page of that page's range;
* every page's range holds at least as many images as the page shows raster images on
  the site, every figure caption's number ("Fig. 2.1") and every equation number ("(2.1)")
  of the site appears in that range;
* no navigation chrome of the site ("Skip to main content", the search button's
  "Ctrl+K", "Back to top", the hidden-code "Show code cell source" toggles, the footer),
  while it is on every built page; the content of every hidden code cell and every folded
  exercise solution is printed (opened); no link points at the localhost server that
  served the pages while they were printed;
* the landing page links to the copy in the site.

The quick tests at the end run the script's error paths (no built book, no Chromium).
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from conftest import REPO, _book_pdf_tool, toc_files

pytestmark = [pytest.mark.xdist_group("book")]
TOOL = REPO / "tools" / "book_pdf.py"
RASTER = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def squash(text: str) -> str:
    """Text compared without its whitespace (PDF text breaks lines where the page did), ligatures unfolded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _pages() -> list[str]:
    return toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))


# --------------------------------------------------------------------------- the site, as built


def _text(element, drop_math: bool = False) -> str:
    """An element's text without its permalink ("#"), and without TeX when asked."""
    import copy

    clone = copy.copy(element)
    for node in clone.select(".headerlink" + (", .math" if drop_math else "")):
        node.decompose()
    return clone.get_text(" ")


def _runs(element) -> list[str]:
    """The element's text between its maths (TeX on the site, typeset glyphs in the PDF), squashed."""
    import copy

    clone = copy.copy(element)
    for node in clone.select(".headerlink"):
        node.decompose()
    for node in clone.select(".math"):
        node.replace_with("\x00")
    return [squash(run) for run in clone.get_text(" ").split("\x00") if squash(run)]


def _first_run(element, length: int = 15) -> str | None:
    """The first stretch of text of ``element`` between its maths, at least ``length`` characters (squashed)."""
    return next((run[:40] for run in _runs(element) if len(run) >= length), None)


def _solution(solution) -> dict:
    """What the PDF must show of a folded exercise solution: its title and its text."""
    import copy

    body = copy.copy(solution)
    for node in body.select(".admonition-title"):
        node.decompose()
    return {"id": solution.get("id"), "title": _first_run(solution.select_one(".admonition-title"), 8),
            "text": _first_run(body)}


@pytest.fixture(scope="module")
def site(book_pdf):
    """What each built page shows: title, sections, images, captions, equations, folded content, chrome."""
    from bs4 import BeautifulSoup

    html = book_pdf.parent
    pages = []
    for page in _pages():
        soup = BeautifulSoup((html / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
        article = soup.select_one("article.bd-article")
        assert article is not None, f"{page}.html: no <article class=bd-article>: did the theme change?"
        images = {img["src"] for img in article.find_all("img", src=True)
                  if img["src"].split("?")[0].lower().endswith(RASTER)}
        code = []
        for details in article.select("details.hide"):
            lines = [squash(line) for pre in details.find_all("pre") for line in pre.get_text().splitlines()]
            lines = [line for line in lines if len(line) >= 12]
            if lines:
                code.append(lines[0][:40])
        solutions = [_solution(solution) for solution in article.select("div.solution")]
        chrome = [
            *(e.get_text(" ") for e in soup.select("#pst-skip-link a")),
            *(e.get_text(" ") for e in soup.select("#pst-back-to-top")),
            *(e.get_text("") for e in soup.select(".search-button__kbd-shortcut")[:1]),
            *(e.get_text(" ") for e in soup.select("details.hide summary p")[:2]),
            *(e.get_text(" ") for e in soup.select(".bd-footer-content .copyright")),
        ]
        pages.append({
            "page": page,
            "title": _text(article.find("h1")),
            "sections": [_runs(h2) for h2 in article.find_all("h2")],
            "images": len(images),
            "figures": [_text(e) for e in article.select("figcaption .caption-number")],
            "captions": [_text(e) for e in article.select(".caption-number")],  # figures, tables, exercises
            "equations": [_text(e) for e in article.select(".eqno")],
            "code": code,
            "solutions": solutions,
            "chrome": [squash(c) for c in chrome if squash(c)],
        })
    return pages


# --------------------------------------------------------------------------- the PDF


@pytest.fixture(scope="module")
def pdf(book_pdf):
    from pypdf import PdfReader

    reader = PdfReader(book_pdf)
    texts = [_without_number(squash(page.extract_text()), n) for n, page in enumerate(reader.pages, 1)]
    return reader, texts


def _without_number(text: str, number: int) -> str:
    """A page's text without the page number printed at its foot (the last thing on the page), so that text
    running over to the next page reads on."""
    return text[: -len(str(number))] if number > 1 and text.endswith(str(number)) else text


@pytest.fixture(scope="module")
def starts(site, pdf):
    """The page (0-based) each toc page starts on, found from the text alone: the first page after the
    contents, and after the start of the page before it, whose text begins with the title (and then, for a page
    with sections, the list of its sections that the theme prints under the title: "Contents"; the Applications
    page has a section named after each of chapters 5-8)."""
    _, texts = pdf
    found, after = [], 2
    for entry in site:
        title = squash(entry["title"]) + ("Contents" if entry["sections"] else "")
        hit = next((i for i in range(after, len(texts)) if texts[i].startswith(title)), None)
        assert hit is not None, (f"no page of the PDF after page {after + 1} begins with the title of "
                                 f"{entry['page']}: {entry['title']!r}")
        found.append(hit)
        after = hit + 1
    return found


def _ranges(starts: list[int], total: int) -> list[range]:
    return [range(start, end) for start, end in zip(starts, [*starts[1:], total])]


def _outline(reader) -> list[tuple[int, str, int]]:
    """(depth, title, page index) of every bookmark, in order."""
    out = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                out.append((depth, str(item.title), reader.get_destination_page_number(item)))

    walk(reader.outline, 0)
    return out


def _link_targets(reader, page) -> list[int | str]:
    """Where each link of a page goes: a page index, or the URI."""
    out = []
    for ref in page.get("/Annots", []) or []:
        annot = ref.get_object()
        if annot.get("/Subtype") != "/Link":
            continue
        dest = annot.get("/Dest")
        if dest is not None:
            assert isinstance(dest, list), f"a link to a named destination {dest!r}: not resolved by the script"
            out.append(reader.get_page_number(dest[0].get_object()))
            continue
        action = annot.get("/A") or {}
        out.append(str(action.get("/URI")) if action.get("/S") == "/URI" else repr(dict(action)))
    return out


@pytest.mark.slow
def test_every_page_starts_with_its_title_in_toc_order(site, pdf, starts):
    reader, _ = pdf
    titles = [entry["title"] for entry in site]
    assert len(titles) == len(_pages()) >= 12, titles
    assert all(re.match(r"\d\. ", t) for t in titles[1:5] + titles[6:10]), f"chapters 1-8 are numbered: {titles}"
    assert starts == sorted(starts) and len(set(starts)) == len(starts), starts
    assert len(reader.pages) > starts[-1] + 1


@pytest.mark.slow
def test_contents_page_gives_the_page_each_title_starts_on(site, pdf, starts):
    reader, texts = pdf
    assert texts[1].startswith("Contents"), f"page 2 is not the contents: {texts[1][:200]}"
    contents = unicodedata.normalize("NFKC", reader.pages[1].extract_text())
    links = _link_targets(reader, reader.pages[1])
    for entry, start in zip(site, starts):
        title = r"\s*".join(map(re.escape, squash(entry["title"])))
        m = re.search(title + r"\s*(\d+)(?=\s|$)", contents)
        assert m, f"the contents do not list {entry['title']!r} with a page number:\n{contents}"
        listed = int(m.group(1))
        assert listed == start + 1, (f"the contents say {entry['title']!r} starts on page {listed}; its text "
                                     f"starts on page {start + 1}")
        assert start in links, f"the contents have no link to page {start + 1} ({entry['title']!r}): {links}"


@pytest.mark.slow
def test_bookmarks_name_every_page_and_its_sections(site, pdf, starts):
    reader, texts = pdf
    marks = _outline(reader)
    captions = {part["caption"] for part in yaml.safe_load((REPO / "_toc.yml").read_text())["parts"]
                if part.get("caption")}
    assert captions <= {title for _, title, _ in marks}, f"part captions missing from the bookmarks: {marks}"
    for k, (entry, start, pages) in enumerate(zip(site, starts, _ranges(starts, len(reader.pages)))):
        at = [i for i, (d, title, _) in enumerate(marks) if d <= 1 and squash(title) == squash(entry["title"])]
        assert at, f"no bookmark named {entry['title']!r}: {[t for _, t, _ in marks]}"
        depth, _, page = marks[at[0]]
        assert page == start, f"the bookmark {entry['title']!r} points at page {page + 1}, not {start + 1}"
        children = []
        for d, title, p in marks[at[0] + 1:]:
            if d <= depth:
                break
            if d == depth + 1:
                children.append((squash(title), p))
        assert len(children) == len(entry["sections"]), (
            f"{entry['page']}: {len(entry['sections'])} sections on the site, bookmarks {children}")
        for runs, (title, p) in zip(entry["sections"], children):
            assert all(run in title for run in runs), f"{entry['page']}: bookmark {title!r} for section {runs}"
            assert p in pages and all(run in texts[p] for run in runs[:1]), (
                f"{entry['page']}: the bookmark {title!r} points at page {p + 1}, which does not show it")


def _images(page) -> set[int]:
    """The image XObjects a page draws (ids), looking inside form XObjects."""
    found = set()

    def walk(resources, seen):
        xobjects = (resources or {}).get("/XObject")
        for ref in (xobjects.get_object() if xobjects else {}).values():
            if ref.idnum in seen:
                continue
            seen.add(ref.idnum)
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                found.add(ref.idnum)
            elif obj.get("/Subtype") == "/Form":
                walk(obj.get("/Resources"), seen)

    walk(page.get("/Resources"), set())
    return found


@pytest.mark.slow
def test_figures_captions_and_equation_numbers_are_printed(site, pdf, starts):
    reader, texts = pdf
    figures = sum(entry["images"] for entry in site)
    captions = [c for entry in site for c in entry["figures"]]
    equations = [e for entry in site for e in entry["equations"]]
    assert figures >= 8 and len(captions) >= 8 and equations, (
        f"the built book shows {figures} images, {len(captions)} figure captions, {len(equations)} numbered "
        "equations")
    assert all(re.fullmatch(r"Fig\.\s\d+\.\d+\s?", c) for c in captions), captions
    for entry, pages in zip(site, _ranges(starts, len(reader.pages))):
        drawn = set().union(*(_images(reader.pages[i]) for i in pages))
        assert len(drawn) >= entry["images"], (
            f"{entry['page']}: the site shows {entry['images']} images, its {len(pages)} PDF pages draw {len(drawn)}")
        text = "".join(texts[i] for i in pages)
        missing = [c for c in entry["captions"] + entry["equations"] if squash(c) not in text]
        assert not missing, f"{entry['page']}: numbered on the site, not in the PDF pages {pages}: {missing}"


@pytest.mark.slow
def test_no_navigation_chrome_and_no_link_to_the_print_server(site, pdf):
    reader, texts = pdf
    chapters = [entry for entry in site if entry["images"]]
    assert chapters and all(len(entry["chrome"]) >= 4 for entry in chapters), (
        f"the chrome to look for was not found on the built pages: {[(e['page'], e['chrome']) for e in site]}")
    everything = "".join(texts)
    chrome = sorted({c for entry in site for c in entry["chrome"]})
    printed = [c for c in chrome if c in everything]
    assert not printed, f"navigation chrome of the site printed in the PDF: {printed}"
    local = [(i + 1, t) for i, page in enumerate(reader.pages) for t in _link_targets(reader, page)
             if isinstance(t, str) and re.match(r"https?://(127\.0\.0\.1|localhost)\b", t)]
    assert not local, f"links to the server the pages were printed from: {local[:5]}"


@pytest.mark.slow
def test_hidden_code_cells_are_printed_open(site, pdf, starts):
    reader, texts = pdf
    hidden = sum(len(entry["code"]) for entry in site)
    assert hidden >= 3, f"the built book has only {hidden} hidden code cells: did the selector break?"
    for entry, pages in zip(site, _ranges(starts, len(reader.pages))):
        text = "".join(texts[i] for i in pages)
        missing = [c for c in entry["code"] if c not in text]
        assert not missing, f"{entry['page']}: hidden code cells not printed (folded?): {missing}"


@pytest.mark.slow
def test_exercise_solutions_are_printed_open(site, pdf, starts):
    """A folded solution (sphinx-togglebutton: visibility hidden) is not drawn: its text is not in the PDF."""
    reader, texts = pdf
    solutions = [s for entry in site for s in entry["solutions"]]
    if not solutions:
        pytest.skip("no chapter of the built book has an exercise solution yet")
    assert all(s["title"] and s["text"] for s in solutions), f"the selectors broke: {solutions}"
    for entry, pages in zip(site, _ranges(starts, len(reader.pages))):
        text = "".join(texts[i] for i in pages)
        missing = [s for s in entry["solutions"] if s["title"] not in text or s["text"] not in text]
        assert not missing, f"{entry['page']}: exercise solutions not printed open: {missing}"


@pytest.mark.slow
def test_landing_page_links_to_the_pdf_in_the_site(book_pdf):
    from bs4 import BeautifulSoup

    html = book_pdf.parent
    landing = html / f"{_pages()[0]}.html"
    soup = BeautifulSoup(landing.read_text(encoding="utf-8"), "html.parser")
    targets = [(landing.parent / a["href"]).resolve() for a in soup.find_all("a", href=True)
               if a["href"].endswith(".pdf")]
    assert book_pdf.resolve() in targets, f"{landing} links to {targets}, not to {book_pdf}"
    printed = html.parent / "pdf" / book_pdf.name
    assert printed.read_bytes() == book_pdf.read_bytes(), f"{book_pdf} is not a copy of {printed}"


# --------------------------------------------------------------------------- the script's messages (quick)


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_no_built_book_says_run_make_book(tmp_path):
    done = _run("--html", str(tmp_path / "_build" / "html"), cwd=tmp_path)
    assert done.returncode == 1, done
    assert done.stderr.strip() == "No built book in _build/html: run 'make book' first.", done.stderr


def test_missing_chromium_says_install_debians_chromium(tmp_path):
    html = tmp_path / "html"
    for page in _pages():
        (html / f"{page}.html").parent.mkdir(parents=True, exist_ok=True)
        (html / f"{page}.html").write_text("<h1>A page</h1>")
    (html / "index.html").write_text("<h1>index</h1>")
    done = _run("--html", str(html), "--chromium", str(tmp_path / "no-chromium"))
    assert done.returncode == 1, done
    assert "apt-get install chromium" in done.stderr and "Debian" in done.stderr, done.stderr


def test_a_page_missing_from_the_build_is_named(tmp_path):
    (tmp_path / "index.html").write_text("<h1>index</h1>")
    done = _run("--html", str(tmp_path))
    assert done.returncode == 1 and f"{_pages()[1]}.html" in done.stderr and "make book" in done.stderr, done


def test_no_chromium_anywhere_says_install_debians_chromium(tmp_path, monkeypatch):
    tool = _book_pdf_tool()
    monkeypatch.setattr(tool, "CHROMIUM", str(tmp_path / "usr-bin-chromium"))
    monkeypatch.setattr(tool.shutil, "which", lambda name: None)
    with pytest.raises(tool.BookPdfError, match=r"Chromium is not installed .*apt-get install chromium"):
        tool.find_chromium(None)


def test_help_explains_and_the_flags_are_the_browser_tests():
    done = _run("--help")
    assert done.returncode == 0 and "make pdf" in done.stdout and "--html" in done.stdout, done
    from test_browser import CHROMIUM_FLAGS

    assert _book_pdf_tool().CHROMIUM_FLAGS == CHROMIUM_FLAGS
