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

    import lrlab.chapters.optimizers_dilemma as ex

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


# --- issue #12: build plumbing hidden, chapter numbers and titles that agree ---

_CODE_CELL = re.compile(r"^```\{code-cell\} ipython3\n((?::[^\n]*\n)*)\n?(.*?)^```$", re.S | re.M)
_PLUMBING_CALLS = {"glue", "keep", "set_num_threads"}
_PLUMBING_TEXT = ("glue(", "keep(", "set_num_threads", "myst_nb")


def _code_cells(page: str) -> list[tuple[list[str], str]]:
    """(tags, code) of every ``{code-cell}`` of a chapter's MyST source."""
    cells = []
    for options, code in _CODE_CELL.findall((REPO / f"{page}.md").read_text(encoding="utf-8")):
        tags = re.search(r"^:tags:\s*\[(.*)\]", options, re.M)
        cells.append(([t.strip() for t in tags.group(1).split(",")] if tags else [], code))
    return cells


def _is_plumbing(stmt) -> bool:
    """Build plumbing: the glue import, the ``keep`` helper, ``glue``/``keep``/``set_num_threads`` calls, loops of them."""
    import ast

    def called(node):
        func = node.func if isinstance(node, ast.Call) else None
        return getattr(func, "id", None) or getattr(func, "attr", None)

    if isinstance(stmt, ast.ImportFrom):
        return stmt.module == "myst_nb" or (stmt.module == "lrlab.chapters" and [a.name for a in stmt.names] == ["keep"])
    if isinstance(stmt, ast.Expr):
        return called(stmt.value) in _PLUMBING_CALLS
    if isinstance(stmt, ast.For):  # for name, tag in ...: row = ...; keep(f"..._{tag}", row.x)
        return (not stmt.orelse and any(_is_plumbing(s) for s in stmt.body)
                and all(_is_plumbing(s) or isinstance(s, ast.Assign) for s in stmt.body))
    return False


def test_removed_code_cells_hold_only_build_plumbing():
    """What the chapters hide from readers is the build's plumbing, never experiment code."""
    import ast

    for page in CHAPTERS:
        removed = [code for tags, code in _code_cells(page) if "remove-cell" in tags or "remove-input" in tags]
        assert removed, f"{page}: no removed cell holds the glue plumbing"
        for code in removed:
            for stmt in ast.parse(code).body:
                assert _is_plumbing(stmt), (
                    f"{page}: a removed cell hides code that is not build plumbing: {ast.unparse(stmt)[:120]!r}"
                )


def test_chapters_define_no_functions_or_classes():
    """The book never defines library code: functions and classes live in lrlab (``keep`` in lrlab.chapters)."""
    import ast

    for page in CHAPTERS:
        for _, code in _code_cells(page):
            for node in ast.walk(ast.parse(code)):
                assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), (
                    f"{page}: a code cell defines {node.name!r}; move it into lrlab (a concept module, or "
                    f"lrlab/chapters/{page.split('/')[-1]}.py for the chapter's parameters and experiments)")


def test_every_chapter_has_its_parameter_module_and_claims_test():
    for page in CHAPTERS:
        name = page.split("/")[-1]
        assert (REPO / "lrlab" / "chapters" / f"{name}.py").is_file(), f"lrlab/chapters/{name}.py missing"
        assert (REPO / "tests" / f"test_{name}_claims.py").is_file(), f"tests/test_{name}_claims.py missing"
        assert f"import lrlab.chapters.{name} as" in (REPO / f"{page}.md").read_text(encoding="utf-8"), (
            f"{page}.md does not import its own lrlab.chapters.{name}")


def test_shown_code_cells_hold_no_build_plumbing():
    for page in CHAPTERS:
        for tags, code in _code_cells(page):
            if "remove-cell" in tags or "remove-input" in tags:
                continue
            leaks = [line for line in code.splitlines() if any(text in line for text in _PLUMBING_TEXT)]
            assert not leaks, f"{page}: a code cell shown to readers holds build plumbing: {leaks[:3]}"


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_code_in_the_html_shows_the_experiments_and_no_build_plumbing(built_book, page):
    """Issue #12: readers see the experiment code (collapsed or not) and none of ``glue``, ``keep``, ``set_num_threads``."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((built_book / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    shown = "\n".join(pre.get_text() for cell in soup.select("div.cell_input") for pre in cell.find_all("pre"))
    leaks = [line.strip() for line in shown.splitlines() if any(text in line for text in _PLUMBING_TEXT)]
    assert not leaks, f"{page}: code on the page shows build plumbing: {leaks[:5]}"
    shown_lines = {line.strip() for line in shown.splitlines()}
    missing = [line.strip() for tags, code in _code_cells(page)
               if not {"remove-cell", "remove-input"} & set(tags)
               for line in code.splitlines() if line.strip() and line.strip() not in shown_lines]
    assert not missing, f"{page}: experiment code of the source is not on the page: {missing[:5]}"
    assert len(soup.select("div.cell_input")) >= 5, f"{page}: fewer than 5 code cells shown"


def _readme_chapters() -> dict[str, tuple[int, str]]:
    """assignment -> (chapter number, chapter title) from README's table of assignments."""
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d+)\. ([^|]+?) \|", (REPO / "README.md").read_text(encoding="utf-8"), re.M)
    return {name: (int(number), title) for name, number, title in rows}


def _notebook_chapter(folder: str, name: str) -> tuple[int, str]:
    import nbformat

    nb = nbformat.read(REPO / folder / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"\*Chapter (\d+), \"([^\"]+)\"", cell.source)
            if match:
                return int(match.group(1)), match.group(2)
    raise AssertionError(f"{folder}/{name}: no '*Chapter N, \"title\"' line in the notebook")


def _plain(text: str) -> str:
    """One space between words and straight quotes (Sphinx's smartquotes curl them in the HTML)."""
    return " ".join(text.split()).replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def _sidebar(built_book: Path, where: str) -> dict[str, str]:
    """page (as in _toc.yml) -> its label in the sidebar's table of contents, as shown on page ``where``."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((built_book / f"{where}.html").read_text(encoding="utf-8"), "html.parser")
    nav = soup.select_one("nav.bd-docs-nav")
    assert nav is not None, f"{where}: no sidebar navigation on the page"
    labels = {}
    for a in nav.select("li.toctree-l1 > a"):
        href = a["href"].split("#")[0]
        page = f"book/{href.rsplit('/', 1)[-1].removesuffix('.html')}" if href else where
        labels[page] = _plain(a.get_text())
    return labels


def _heading(built_book: Path, page: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((built_book / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    h1 = soup.select_one("article h1")  # not the print-only copy (#jb-print-docs-body) above it
    for anchor in h1.find_all("a", class_="headerlink"):
        anchor.extract()
    return _plain(h1.get_text())


@pytest.mark.slow
def test_sidebar_chapter_numbers_match_the_readme_assignments_and_notebooks(built_book):
    """Issue #12: the sidebar's "N. title" is the "Chapter N" of README, the assignments page and the notebooks.

    The page's own heading carries the same number and title; README and the notebooks may
    shorten a title to its start ("The optimizer's dilemma"), except chapter 4's, which is
    the same in full everywhere.
    """
    readme = _readme_chapters()
    assert len(readme) >= 12, f"README's assignment table was not found: {readme}"
    rows = re.findall(r"^\| \d+ \| `([a-z_]+)` \|.*?\| (\d+), \{doc\}`([a-z_]+)` \|",
                      (REPO / "book" / "assignments.md").read_text(encoding="utf-8"), re.M)
    page_of = {name: f"book/{page}" for name, _, page in rows}
    number_on_assignments_page = {name: int(number) for name, number, _ in rows}
    assert set(page_of) == set(readme), (
        f"README and the assignments page list different assignments: {sorted(set(page_of) ^ set(readme))}")
    for where in ("book/intro", "book/optimizers_dilemma", "book/private_learning", "book/assignments"):
        sidebar = _sidebar(built_book, where)
        numbered = [page for page, label in sidebar.items() if re.match(r"\d+\. ", label)]
        assert numbered == CHAPTERS, (
            f"{where}: the sidebar numbers {numbered}, not the eight chapters in order; labels: {sidebar}")
        for i, page in enumerate(CHAPTERS, start=1):
            assert sidebar[page].startswith(f"{i}. "), f"{where}: {page} is labelled {sidebar[page]!r}, not chapter {i}"
    from bs4 import BeautifulSoup

    chapter_cell = {}  # assignment -> "N, <title of the linked chapter page>" as the assignments page shows it
    for tr in BeautifulSoup((built_book / "book" / "assignments.html").read_text(encoding="utf-8"),
                            "html.parser").select("article table tr"):
        cells = tr.find_all("td")
        names = [c.get_text(strip=True) for c in cells if re.fullmatch(r"[a-z_]+", c.get_text(strip=True))]
        chapter = [c for c in cells if re.match(r"\d+,", c.get_text(strip=True)) and c.find("a")]
        if names and chapter:
            chapter_cell[names[0]] = _plain(chapter[0].get_text())
    sidebar = _sidebar(built_book, "book/intro")
    for name, (number, title) in sorted(readme.items()):
        page = page_of[name]
        label = sidebar[page]
        assert chapter_cell.get(name) == label.replace(". ", ", ", 1), (
            f"{name}: the assignments page says chapter {chapter_cell.get(name)!r}, the sidebar {label!r}")
        assert label == _heading(built_book, page), f"{page}: sidebar {label!r}, heading {_heading(built_book, page)!r}"
        assert label.startswith(f"{number}. "), f"{name}: README says chapter {number}, the sidebar {label!r}"
        assert number_on_assignments_page[name] == number, (
            f"{name}: chapter {number} in README, {number_on_assignments_page[name]} on the assignments page")
        page_title = label.split(". ", 1)[1]
        assert page_title.startswith(_plain(title)), f"README: chapter {number} is {title!r}, its page {page_title!r}"
        for folder in ("solutions", "exercises"):
            nb_number, nb_title = _notebook_chapter(folder, name)
            assert nb_number == number, f"{folder}/{name}: 'Chapter {nb_number}'; README and the sidebar: {number}"
            assert page_title.startswith(_plain(nb_title)), (
                f"{folder}/{name}: chapter title {nb_title!r} is not the page's {page_title!r} (or its start)")
            if number == 4:
                assert _plain(nb_title) == page_title, f"{folder}/{name} calls chapter 4 {nb_title!r}, its page {page_title!r}"
        if number == 4:  # issue #12: chapter 4 has one title, in full, everywhere
            assert _plain(title) == page_title, f"README calls chapter 4 {title!r}, its page {page_title!r}"


@pytest.mark.slow
def test_applications_and_hands_on_pages_are_not_numbered(built_book):
    sidebar = _sidebar(built_book, "book/intro")
    for page in ("book/intro", "book/applications", "book/assignments", "book/instructors"):
        assert page in sidebar, f"{page} is not in the sidebar: {sidebar}"
        assert not re.match(r"\d", sidebar[page]), f"{page} is not a chapter but is numbered: {sidebar[page]!r}"


# --- issue #16: every chapter ends with 4-8 exercises, solutions folded, computed and tested ---

_DIRECTIVE = re.compile(r"^```\{(exercise|solution|solution-start|solution-end)\}[ \t]*(.*?)\n((?::[^\n]*\n)*)", re.M)
_ASSIGNMENT_ROWS = re.compile(r"^\| `([a-z_]+)` \| (\d+)\. ", re.M)


def _exercises_section(page: str) -> str:
    text = (REPO / f"{page}.md").read_text(encoding="utf-8")
    match = re.search(r"^## Exercises\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"{page}: no '## Exercises' section"
    return match.group(1)


def _exercises(page: str) -> tuple[list[str], dict[str, list[str]], str]:
    """(exercise labels in order, label -> options of its solution, the section's text after the last solution)."""
    section = _exercises_section(page)
    labels, solutions, open_gate, end = [], {}, None, 0
    for match in _DIRECTIVE.finditer(section):
        kind, argument, options = match.group(1), match.group(2).strip(), match.group(3)
        if kind == "exercise":
            label = re.search(r"^:label:\s*(\S+)", options, re.M)
            assert label, f"{page}: the exercise {argument!r} has no :label:"
            labels.append(label.group(1))
        elif kind in ("solution", "solution-start"):
            assert open_gate is None, f"{page}: a solution starts inside the solution of {open_gate}"
            solutions.setdefault(argument, []).append(options)
            open_gate = argument if kind == "solution-start" else None
        else:
            assert open_gate is not None, f"{page}: a solution-end without a solution-start"
            open_gate = None
        end = match.end()
    assert open_gate is None, f"{page}: the solution of {open_gate} is never closed ({{solution-end}})"
    return labels, solutions, section[end:]


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_chapter_ends_with_four_to_eight_exercises_with_folded_solutions(page):
    labels, solutions, _ = _exercises(page)
    assert 4 <= len(labels) <= 8, f"{page}: {len(labels)} exercises; each chapter has 4 to 8"
    stem = "ex-" + page.split("/")[-1].replace("_", "-") + "-"
    assert all(label.startswith(stem) for label in labels), f"{page}: labels must start with {stem!r}: {labels}"
    assert len(set(labels)) == len(labels), f"{page}: duplicate exercise labels {labels}"
    assert set(solutions) == set(labels), (
        f"{page}: exercises without a solution {sorted(set(labels) - set(solutions))}, "
        f"solutions of no exercise {sorted(set(solutions) - set(labels))}")
    for label, options in solutions.items():
        assert len(options) == 1, f"{page}: {label} has {len(options)} solutions"
        assert re.search(r"^:class:\s*dropdown\s*$", options[0], re.M), f"{page}: the solution of {label} is not folded"


def test_exercise_labels_are_unique_across_the_book():
    seen: dict[str, str] = {}
    for page in CHAPTERS:
        for label in _exercises(page)[0]:
            assert label not in seen, f"{label} is used by {seen[label]} and {page}"
            seen[label] = page


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_exercise_is_checked_by_the_chapters_claims_test(page):
    """Each solution's result is asserted by a test that names the exercise's label (a docstring quoting it)."""
    labels, _, _ = _exercises(page)
    claims = (REPO / "tests" / f"test_{page.split('/')[-1]}_claims.py").read_text(encoding="utf-8")
    untested = [label for label in labels if label not in claims]
    assert not untested, f"{page}: no claims test names {untested}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_exercises_end_with_a_pointer_to_the_chapters_graded_assignments(page):
    """After the last solution: the graded assignment(s) of the chapter (README's table), linked to the assignments page."""
    _, _, tail = _exercises(page)
    number = CHAPTERS.index(page) + 1
    mine = [name for name, chapter in _ASSIGNMENT_ROWS.findall((REPO / "README.md").read_text()) if int(chapter) == number]
    assert mine, f"README's table lists no assignment for chapter {number}"
    assert "{doc}`assignments`" in tail, f"{page}: the exercises do not end with a link to the assignments page"
    missing = [name for name in mine if f"`{name}`" not in tail]
    assert not missing, f"{page}: the pointer after the exercises does not name {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_built_exercises_have_folded_solutions_that_point_back(built_book, page):
    """In the HTML: one exercise admonition per exercise, each solution folded (sphinx-togglebutton's dropdown)
    and linking to its exercise."""
    from bs4 import BeautifulSoup

    labels, _, _ = _exercises(page)
    soup = BeautifulSoup((built_book / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    exercises = soup.select("div.exercise.admonition")
    solutions = soup.select("div.solution.admonition")
    assert [e.get("id") for e in exercises] == labels, f"{page}: exercises on the page {[e.get('id') for e in exercises]}"
    assert len(solutions) == len(labels), f"{page}: {len(solutions)} solutions for {len(labels)} exercises"
    for solution in solutions:
        assert "dropdown" in solution["class"], f"{page}: a solution is not folded: {solution.get('id')}"
        targets = {a["href"].split("#")[-1] for a in solution.select("p.admonition-title a[href]")}
        assert targets & set(labels), f"{page}: the solution {solution.get('id')} does not link to its exercise"
