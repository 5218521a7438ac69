"""Build the whole book, as `make book` does but into a temporary folder, and check what came out.

The build executes every chapter (a fresh jupyter-cache inside the temporary
folder, so it never reuses the cache of a local `make book`), and must finish
with zero warnings: `--warningiserror --nitpick --keep-going`.
"""

from __future__ import annotations

import re
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


# --- issue #5: notebook downloads, launch buttons, numbered equations, figure backgrounds ---

CHAPTERS = ["book/optimizers_dilemma", "book/coupled_forces", "book/mechanical_universe",
            "book/schedules_shape_solutions",
            "book/scaling_up", "book/transfer_learning", "book/generative_modeling", "book/private_learning"]
_LABELLED_EQ = re.compile(r"^\$\$ \(([A-Za-z0-9_-]+)\)\s*$", re.M)
_EQ_REF = re.compile(r"\{eq\}`([^`]+)`")


def _front_matter(page: str) -> dict:
    text = (REPO / f"{page}.md").read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    return yaml.safe_load(text[4:text.index("\n---", 4)]) or {}


def _notebook_pages() -> list[str]:
    return [page for page in toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))
            if "kernelspec" in _front_matter(page)]


def test_every_chapter_is_a_notebook_page():
    pages = _notebook_pages()
    missing = [page for page in CHAPTERS if page not in pages]
    assert not missing, f"chapters without a kernelspec (not executed as notebooks): {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("page", _notebook_pages())
def test_notebook_page_offers_its_executed_ipynb_for_download(built_book, page):
    import nbformat
    from bs4 import BeautifulSoup

    html_file = built_book / f"{page}.html"
    soup = BeautifulSoup(html_file.read_text(encoding="utf-8"), "html.parser")
    menu = soup.select_one(".dropdown-download-buttons")
    assert menu is not None, f"{page}: the page has no download menu (html.use_download_button)"
    links = [a["href"] for a in menu.find_all("a", href=True) if a["href"].endswith(".ipynb")]
    assert links, (f"{page}: the download menu offers no .ipynb, only "
                   f"{[a['href'] for a in menu.find_all('a', href=True)]} (book/_ext/notebook_downloads.py)")
    target = (html_file.parent / links[0]).resolve()
    assert target.is_relative_to(built_book.resolve()), f"{page}: {links[0]} points outside the built site"
    assert target.is_file(), f"{page}: the download link {links[0]} points to a file the build did not write"
    nb = nbformat.read(target, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{page}: the downloaded notebook has no code cells"
    unrun = [i for i, cell in enumerate(code) if cell.execution_count is None]
    assert not unrun, f"{page}: code cells {unrun} of the downloaded notebook were not executed"
    assert any(cell.outputs for cell in code), f"{page}: the downloaded notebook has no outputs"
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert not errors, f"{page}: the downloaded notebook holds errors: {errors[:1]}"


@pytest.mark.slow
def test_no_launch_button_while_the_repository_url_is_empty(built_book):
    from bs4 import BeautifulSoup

    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert not config["repository"]["url"], "this test is about the book without a public repository"
    assert config["launch_buttons"]["binderhub_url"], "the Binder launch button is not configured"
    offending = []
    for page in built_book.rglob("*.html"):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        if soup.select(".dropdown-launch-buttons, .btn-launch-thebe"):
            offending.append(f"{page.relative_to(built_book)}: launch-button menu")
        for a in soup.find_all("a", href=True):
            if "mybinder.org" in a["href"] or "/hub/user-redirect" in a["href"]:
                offending.append(f"{page.relative_to(built_book)}: {a['href']}")
    assert not offending, "pages link to a launch service without a repository:\n" + "\n".join(offending[:10])


def test_every_equation_reference_names_a_labelled_equation():
    labels, refs = {}, []
    for page in CHAPTERS:
        text = (REPO / f"{page}.md").read_text(encoding="utf-8")
        for label in _LABELLED_EQ.findall(text):
            assert label not in labels, f"equation label {label} is defined in {labels[label]} and {page}"
            labels[label] = page
        refs += [(page, ref) for ref in _EQ_REF.findall(text)]
    for page in CHAPTERS:
        assert page in labels.values(), f"{page} has no labelled (numbered) equation"
    unknown = [f"{page}: {ref}" for page, ref in refs if ref not in labels]
    assert not unknown, f"{{eq}} references to no labelled equation: {unknown}"
    unused = sorted(set(labels) - {ref for _, ref in refs})
    assert not unused, f"labelled equations that the prose never refers to: {unused}"


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_labelled_equations_show_numbers_that_their_references_repeat(built_book, page):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((built_book / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    labels = _LABELLED_EQ.findall((REPO / f"{page}.md").read_text(encoding="utf-8"))
    numbers = {}
    for label in labels:
        block = soup.find(id=f"equation-{label}")
        assert block is not None, f"{page}: equation {label} has no anchor in the HTML"
        eqno = block.find(class_="eqno")
        assert eqno is not None, f"{page}: equation {label} shows no number"
        for anchor in eqno.find_all("a", class_="headerlink"):  # the "#" permalink next to the number
            anchor.extract()
        number = re.sub(r"\s+", "", eqno.get_text())
        assert re.fullmatch(r"\(\d+(\.\d+)*\)", number), f"{page}: equation {label} is numbered {number!r}"
        numbers[label] = number
    assert len(set(numbers.values())) == len(numbers), f"{page}: two equations share a number: {numbers}"
    refs = _EQ_REF.findall((REPO / f"{page}.md").read_text(encoding="utf-8"))
    for ref in refs:
        links = [a for a in soup.find_all("a", href=True)
                 if a["href"].endswith(f"#equation-{ref}") and "headerlink" not in (a.get("class") or [])]
        assert links, f"{page}: the reference to {ref} is not a link to the equation"
        shown = {re.sub(r"\s+", "", a.get_text()) for a in links}
        if ref in numbers:
            assert shown == {numbers[ref]}, f"{page}: references to {ref} show {shown}, the equation {numbers[ref]}"
        else:
            assert all(re.fullmatch(r"\(\d+(\.\d+)*\)", s) for s in shown), f"{page}: reference to {ref} shows {shown}"


def test_book_figures_are_saved_on_an_opaque_white_background(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from lrlab.plotting import use_style

    with matplotlib.rc_context():
        matplotlib.rcParams.update({"figure.facecolor": (1, 1, 1, 0), "savefig.facecolor": "none"})  # inline backend
        use_style()
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        fig.savefig(tmp_path / "fig.png")
        plt.close(fig)
    image = Image.open(tmp_path / "fig.png").convert("RGBA")
    corners = [image.getpixel((x, y)) for x in (0, image.width - 1) for y in (0, image.height - 1)]
    assert all(pixel == (255, 255, 255, 255) for pixel in corners), (
        f"figure corners are {corners}: use_style() must give figures an opaque white background "
        "(figure.facecolor / savefig.facecolor white, savefig.transparent False) so they stay readable in dark mode"
    )


@pytest.mark.slow
@pytest.mark.parametrize("page", toc_files(yaml.safe_load((REPO / "_toc.yml").read_text())))
def test_every_figure_has_a_caption_and_every_image_alt_text(built_book, page):
    """Readers of every page (screen readers included) get a caption per figure and alt text per image."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((built_book / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    main = soup.find("main") or soup
    for figure in main.find_all("figure"):
        assert figure.find("figcaption") is not None, f"{page}: figure {figure.get('id')!r} has no caption"
    for img in main.find_all("img"):
        if "logo" in " ".join(img.get("class", [])):
            continue
        assert len(img.get("alt", "").strip()) > 20, f"{page}: image {img.get('src')!r} has no real alt text"


@pytest.mark.slow
def test_assignments_page_offers_a_working_zip_per_assignment(built_book):
    """'The fourth column of the table above is a zip with everything one assignment needs.'"""
    import zipfile

    from bs4 import BeautifulSoup

    import autograder

    soup = BeautifulSoup((built_book / "book" / "assignments.html").read_text(encoding="utf-8"), "html.parser")
    links = {a["href"].rsplit("/", 1)[-1]: a["href"] for a in soup.find_all("a", href=True) if a["href"].endswith(".zip")}
    for name in autograder.find_repo(REPO).assignments():
        assert f"{name}.zip" in links, f"the assignments page has no zip for {name}"
        archive = (built_book / "book" / links[f"{name}.zip"]).resolve()
        assert archive.is_file(), f"{links[f'{name}.zip']} is linked but was not copied into the site"
        members = zipfile.ZipFile(archive).namelist()
        assert f"{name}/{name}.ipynb" in members and f"{name}/README.txt" in members, members[:10]
