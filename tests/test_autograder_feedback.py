"""Feedback pages (``python -m autograder feedback``) that a student can read offline.

Every check runs on real feedback: a toy assignment with math, a table, an
instructor's helper cell and a test with a long message is released, a half-done
submission is graded, and ``generate_feedback`` writes its page. The page must
render math with no network (MathJax from the pinned package, inlined and
compressed: nbgrader's ``release_feedback`` sends only the HTML file), name each
test in the summary, wrap long lines, style tables, fold the instructor's helper
code and mark the failed tests. The browser checks need Debian's ``chromium``; without it they skip
locally and fail under ``LRLAB_STRICT_SYSTEM=1``. The tests that grade are marked
``slow``; the page is made once per session.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html.parser
import http.server
import re
import shutil
import threading
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

import autograder

from conftest import REPO, require_system

TOY = REPO / "tests" / "fixtures" / "toyrepo"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]

HELPER = '''def check_raises(error, func, *args):
    """Assert that ``func(*args)`` raises ``error``."""
    try:
        func(*args)
    except error:
        return
    raise AssertionError(f"{func.__name__}{args} should raise {error.__name__}")'''
LONG_MESSAGE = "peak_step(10) should be 5; " + " ".join(f"word{i}" for i in range(120))
MATH = r"""The rate of a cosine schedule is $\eta_t = \eta_0 \cos\left(\frac{\pi t}{2T}\right)$, and

$$\sum_{t=0}^{T-1} \eta_t \approx \frac{2 T \eta_0}{\pi}.$$"""
TABLE = """| step | rate |
|------|------|
| 0    | 0.1  |
| 10   | 0.05 |"""


def _rich_toy(root: Path) -> None:
    """Copy the toy repository to ``root`` and give its notebook math, a table, a helper cell, docstrings."""
    shutil.copytree(TOY, root)
    path = root / "solutions" / "toy" / "toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid == "imports":
            helper = nbformat.v4.new_code_cell(HELPER)
            helper.metadata["nbgrader"] = {**meta, "grade_id": "test_helpers"}
            cells += [cell, helper, nbformat.v4.new_markdown_cell(MATH + "\n\n" + TABLE)]
            continue
        if gid == "test_double":  # a docstring names the test
            cell.source = '"""double: twice its argument, for positive and negative numbers."""\n' + cell.source
        if gid == "test_peak_step":  # ... and its message is one long line
            visible = "assert peak_step(10) == 5"
            cell.source = ('"""peak_step: the middle step, and ValueError for no steps."""\n'
                           + cell.source.replace(visible, f"{visible}, {LONG_MESSAGE!r}"))
        cells.append(cell)  # test_half_life keeps no docstring: the summary names it by its id alone
    nb.cells = cells
    nbformat.write(nb, path)


@pytest.fixture(scope="session")
def feedback(tmp_path_factory, worker_id):
    """The feedback page of a half-done submission (test_double passes, the two others fail).

    Made once per test session, also under pytest-xdist (a file lock in the shared
    temporary folder lets the first worker grade and the others reuse its page).
    """
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    base = shared / "feedback-toy"
    with FileLock(str(base) + ".lock"):
        page = base / "course" / "feedback" / "half" / "toy" / "toy.html"
        if not page.is_file():
            shutil.rmtree(base, ignore_errors=True)
            root = base / "repo"
            _rich_toy(root)
            autograder.release(repo=root)
            source = root / "solutions" / "toy" / "toy.ipynb"
            release = nbformat.read(root / "exercises" / "toy" / "toy.ipynb", as_version=4)
            half = autograder.half_done_submission(source, release)
            for cell in half.cells:  # a wrong peak_step fails its test with the long message
                if cell.metadata.get("nbgrader", {}).get("grade_id") == "peak_step":
                    cell.source = "def peak_step(total_steps):\n    return total_steps\n"
            subs = base / "subs"
            autograder.write_submission(subs, "half", "toy", "toy", half)
            (result,) = autograder.grade_submissions(subs, repo=root, course_dir=base / "course", progress=False)
            assert (result.status, result.score) == ("graded", 1.0), result.note
            files, problems = autograder.generate_feedback(repo=root, course_dir=base / "course")
            assert problems == [] and files == [page]
    return page


class _Parser(html.parser.HTMLParser):
    """Every start tag of a page as ``(tag, attrs)``, and every in-page link as ``(target, text)``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.links, self._a = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self._a = [attrs["href"][1:], ""]

    def handle_data(self, data):
        if self._a is not None:
            self._a[1] += data

    def handle_endtag(self, tag):
        if tag == "a" and self._a is not None:
            self.links.append((self._a[0], " ".join(self._a[1].split())))
            self._a = None


def _parse(text: str) -> _Parser:
    p = _Parser()
    p.feed(text)
    return p



def _styles(text: str) -> str:
    return "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", text, re.S))


@pytest.fixture(scope="module")
def browser():
    chromium = require_system("chromium", "apt-get install chromium (Debian's package; .ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _open(browser, page: Path | str, width=900):
    """The page (a file, offline; or a URL) in a browser tab, MathJax done; every request and console error."""
    url = page.as_uri() if isinstance(page, Path) else page
    ctx = browser.new_context(offline=isinstance(page, Path), viewport={"width": width, "height": 900})
    tab = ctx.new_page()
    requests, errors = [], []
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(url, wait_until="load")
    if tab.evaluate("() => !!window.MathJax"):
        tab.wait_for_function("() => window.MathJax.startup && window.MathJax.startup.promise", timeout=30_000)
        tab.evaluate("() => window.MathJax.startup.promise")
    return ctx, tab, requests, errors


# --- math, offline ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_page_loads_no_script_or_style_from_the_network(feedback):
    text = feedback.read_text()
    tags = _parse(text).tags
    remote = [(tag, a.get("src") or a.get("href")) for tag, a in tags
              if (tag == "script" and a.get("src")) or (tag == "link" and a.get("href"))]
    assert remote == [], f"the page loads {remote}: a student offline gets no math or styles"
    assert "cdnjs.cloudflare.com" not in text and "MathJax.Hub" not in text  # nbgrader's MathJax 2, from a CDN
    packed = re.search(r'<script id="lrlab-mathjax" type="application/gzip;base64">\s*([A-Za-z0-9+/=]+)\s*</script>',
                       text)
    assert packed, "MathJax is not in the page"
    code = gzip.decompress(base64.b64decode(packed.group(1))).decode()
    assert "3.2.2" in code  # MathJax of the pinned django-static-mathjax, whole


class _JupyterLikeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with the Content-Security-Policy of jupyter_server's /files/ (a sandboxed page)."""

    def end_headers(self):
        self.send_header("Content-Security-Policy", "frame-ancestors 'self'; sandbox allow-scripts")
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """A localhost server for ``tmp_path / "served"``, sending Jupyter's CSP."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_JupyterLikeHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
def test_math_renders_in_a_browser_with_no_network_also_from_the_file_alone(feedback, browser, tmp_path, served):
    # nbgrader's release_feedback hands a student the HTML file alone, renamed: it must still work,
    # from disk and in Jupyter (which serves files with a sandboxing Content-Security-Policy).
    alone = tmp_path / "fetched" / "0123abcd.html"
    alone.parent.mkdir()
    shutil.copy(feedback, alone)
    root, site = served
    shutil.copy(feedback, root / "toy.html")
    for page in (feedback, alone, f"{site}/toy.html"):
        ctx, tab, requests, errors = _open(browser, page)
        try:
            url = page.as_uri() if isinstance(page, Path) else page
            assert requests == [url], f"the page asked for more than itself: {requests}"
            assert errors == [], errors
            # the inline formula and the display formula of the markdown cell, typeset without error
            typeset = tab.evaluate("() => document.querySelectorAll('.rendered_html mjx-container').length")
            assert typeset == 2, f"{typeset} formulas typeset, expected 2"
            assert tab.evaluate("() => document.querySelectorAll('mjx-merror').length") == 0
            assert tab.evaluate("() => document.querySelectorAll('mjx-container[display=\"true\"]').length") == 1
            raw = tab.evaluate("() => document.querySelector('.rendered_html p').innerText")
            assert "\\eta" not in raw and "$" not in raw, raw
        finally:
            ctx.close()


def test_a_notebook_without_math_gets_no_mathjax():
    from autograder.instructor.feedback import FeedbackCells

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Plain words, 5 dollars.")])
    _, resources = FeedbackCells().preprocess(nb, {})
    assert resources["lrlab_feedback"]["mathjax"] == ""
    nb.cells.append(nbformat.v4.new_markdown_cell(r"A rate \\(\\eta\\)."))
    _, resources = FeedbackCells().preprocess(nb, {})
    assert b"MathJax" in gzip.decompress(base64.b64decode(resources["lrlab_feedback"]["mathjax"]))


# --- the summary -----------------------------------------------------------------------------


def _summary(text: str) -> str:
    summary = re.search(r'<div id="toc">.*?(?=<div[^>]* id="notebook")', text, re.S)
    assert summary, "no summary before the notebook"
    return summary.group(0)


@pytest.mark.slow
def test_the_summary_names_each_test_and_links_to_it(feedback):
    text = feedback.read_text()
    summary = _summary(text)
    assert "Test cell" not in summary
    links = _parse(summary).links
    by_target = {}
    for target, words in links:
        by_target.setdefault(target, []).append(words)
    for gid in ("test_double", "test_peak_step", "test_half_life"):
        assert any(gid in words for words in by_target.get(gid, [])), f"no link to {gid} that names it: {links}"
    # each row also says what the test checks (its docstring's first line), its points and the outcome in words
    rows = re.findall(r"<tr class=\"lrlab-(\w+)\">(.*?)</tr>", summary, re.S)
    assert [status for status, _ in rows] == ["passed", "failed", "failed"]
    assert "double: twice its argument" in rows[0][1] and "1 / 1" in rows[0][1] and "passed" in rows[0][1]
    assert "peak_step: the middle step" in rows[1][1] and "0 / 2" in rows[1][1] and "failed" in rows[1][1]
    # ... and it points at the first failed test
    assert ("test_peak_step", "test_peak_step") in links and "first" in summary
    # every link lands on an element of the page
    ids = {a.get("id") for _, a in _parse(text).tags} | {a.get("name") for _, a in _parse(text).tags}
    assert {target for target, _ in links} <= ids


@pytest.mark.slow
def test_failed_tests_are_marked_in_colour_and_in_words(feedback):
    text = feedback.read_text()
    test_panel = r'<div class="panel (panel-\w+) nbgrader_cell" id="(\w+)"'
    panels = {gid: colour for colour, gid in re.findall(test_panel, text)}
    assert panels == {"test_double": "panel-success", "test_peak_step": "panel-danger",
                      "test_half_life": "panel-danger"}
    peak = text[text.index('id="test_peak_step"'):]
    assert "Failed" in peak[:peak.index("</div>")]
    double = text[text.index('id="test_double"'):]
    assert "Passed" in double[:double.index("</div>")]
    assert re.search(r'class="cell [^"]*code_cell[^"]* lrlab-failed"', text)


# --- layout: wrapping, tables, folded helper code --------------------------------------------


@pytest.mark.slow
def test_long_assertion_lines_wrap(feedback, browser):
    css = _styles(feedback.read_text())
    assert re.search(r"output_error pre[^{]*\{[^}]*white-space:\s*pre-wrap", css, re.S) or \
        re.search(r"pre[^{]*\{[^}]*white-space:\s*pre-wrap[^}]*overflow-wrap:\s*anywhere", css, re.S)
    ctx, tab, _, _ = _open(browser, feedback, width=700)
    try:
        error = tab.evaluate("""() => {
            const pre = [...document.querySelectorAll('.output_error pre')]
                .find(p => p.innerText.includes('word119'));
            return pre && [pre.scrollWidth, pre.clientWidth, pre.getBoundingClientRect().height];
        }""")
        assert error, "the long assertion message is not in the page"
        scroll, client, height = error
        assert scroll <= client + 1, f"the assertion message scrolls sideways ({scroll} px in {client} px)"
        assert height > 60, "the long line did not wrap onto several lines"
        wide = tab.evaluate(
            "() => [...document.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth + 1).length")
        assert wide == 0, f"{wide} code or output blocks scroll sideways"
        assert tab.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        ctx.close()


@pytest.mark.slow
def test_tables_are_styled(feedback, browser):
    text = feedback.read_text()
    assert re.search(r"<table class=\"lrlab-summary\">.*?<th scope=\"col\">", _summary(text), re.S)
    ctx, tab, _, _ = _open(browser, feedback)
    try:
        for table in (".rendered_html table", "table.lrlab-summary"):
            style = tab.evaluate(f"""() => {{
                const td = document.querySelector('{table} td'), th = document.querySelector('{table} th');
                const s = getComputedStyle(td), h = getComputedStyle(th);
                return [s.borderTopStyle, parseFloat(s.borderTopWidth), parseFloat(s.paddingLeft),
                        h.backgroundColor];
            }}""")
            border, width, padding, header = style
            assert border != "none" and width >= 1, f"{table}: cells have no borders ({style})"
            assert padding >= 4, f"{table}: cells have no padding ({style})"
            assert header not in ("rgba(0, 0, 0, 0)", "transparent"), f"{table}: the header row is not set off"
    finally:
        ctx.close()


@pytest.mark.slow
def test_helper_code_is_folded_and_the_tests_are_not(feedback, browser):
    text = feedback.read_text()
    folded = re.findall(r"<details class=\"lrlab-helper\"[^>]*>(.*?)</details>", text, re.S)
    assert any("check_raises" in block for block in folded), "the helper cell is not folded"
    assert all(" open" not in tag for tag in re.findall(r"<details[^>]*>", text))
    for gid in ("test_double", "test_peak_step", "double", "peak_step"):
        assert not any(f"<code>{gid}</code>" in block for block in folded), f"{gid} is folded"
    ctx, tab, _, _ = _open(browser, feedback)
    try:
        seen = tab.evaluate("""() => {
            const vis = el => !!el && el.checkVisibility();
            const helper = [...document.querySelectorAll('pre')]
                .find(p => p.innerText.includes('def check_raises'));
            return {helper: vis(helper), summary: vis(document.querySelector('details.lrlab-helper summary')),
                    failed: vis(document.getElementById('test_peak_step'))};
        }""")
        assert seen == {"helper": False, "summary": True, "failed": True}, seen
        tab.click("details#test_helpers summary")
        assert tab.evaluate("() => [...document.querySelectorAll('pre')].find("
                            "p => p.innerText.includes('def check_raises')).checkVisibility()")
    finally:
        ctx.close()


# --- the students' self-check ----------------------------------------------------------------


def test_validate_does_not_advise_restarting_the_kernel_it_already_restarted():
    from autograder.student.validate import CellCheck, format_report

    report = format_report("toy.ipynb", [CellCheck("test_double", 1.0, True, "")])
    assert "restart" not in report.lower(), report
    assert "All visible tests pass" in report and "fresh kernel" in report
    assert "save" in report.lower()  # the check ran the saved file: changes made since are not checked
