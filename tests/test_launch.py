"""The launch path: a chapter opened on Binder is a runnable notebook (issue #16, item 5).

The chapters are MyST-markdown notebooks (``book/*.md``). The Binder button of a page
(sphinx-book-theme, on once ``repository.url`` is set in ``_config.yml``) opens
``lab/tree/book/<page>.md``; JupyterLab opens a ``.md`` file in its text editor unless
jupytext is installed and the default viewer of markdown files is "Jupytext Notebook".
Binder copies the repository into the user's home, so ``.jupyter/labconfig/
default_setting_overrides.json`` of the repository is the home's Jupyter configuration.

Checked here, offline: jupytext (pinned) reads every chapter as the notebook myst-nb
executes; the Binder environment (``binder/``) is the course's pins plus the package; the
button's link names the MyST page; and a real JupyterLab, configured as Binder's home is,
opens that page as a notebook in Chromium (without the override it opens the text editor:
checked by hand on 2026-12-03, the reason for the override).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, build_book, one_page_book, require_system, toc_files, wait_until_serving

PAGES = toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))
CHAPTER = "book/coupled_forces"


def _is_notebook(page: str) -> bool:
    return "kernelspec:" in (REPO / f"{page}.md").read_text(encoding="utf-8").split("\n---", 1)[0]


NOTEBOOK_PAGES = [p for p in PAGES if _is_notebook(p)]


def test_jupytext_is_pinned_and_the_overrides_open_markdown_as_a_notebook():
    import json

    pins = (REPO / "requirements.txt").read_text()
    assert re.search(r"^jupytext==\S+$", pins, re.M), "requirements.txt must pin jupytext (Binder installs it)"
    overrides = json.loads((REPO / ".jupyter" / "labconfig" / "default_setting_overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}, viewers


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_jupytext_reads_the_chapter_as_the_notebook_myst_nb_runs(page):
    """Same code cells, in order, and the course's kernel: what the reader runs is what the book ran."""
    import jupytext

    source = (REPO / f"{page}.md").read_text(encoding="utf-8")
    nb = jupytext.reads(source, fmt="md:myst")
    code = [c.source.strip() for c in nb.cells if c.cell_type == "code"]
    # the code cells as the MyST source writes them, options (":tags: ...") and the blank line after them dropped
    expected = [re.sub(r"\A(?::[^\n]*\n)*\n?", "", body).strip()
                for body in re.findall(r"^```\{code-cell\} ipython3\n(.*?)^```$", source, re.S | re.M)]
    assert len(code) == len(expected) >= 1, f"{page}: jupytext found {len(code)} code cells, the source has {len(expected)}"
    assert code == expected, f"{page}: jupytext reads different code than the page runs"
    assert nb.metadata["kernelspec"]["name"] == "python3", nb.metadata["kernelspec"]


def test_binder_environment_is_the_course_pins_with_the_cpu_torch_and_the_package():
    req = (REPO / "binder" / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements.txt" in req, "binder/requirements.txt must include the course's pins"
    assert (REPO / "binder" / "requirements.txt").parent.joinpath("../requirements.txt").resolve() == REPO / "requirements.txt"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in req, "PyPI's torch is a CUDA build of GBs"
    post = REPO / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable (repo2docker runs it)"
    assert re.search(r"pip install --no-deps .*-e \.$", post.read_text(), re.M), "postBuild must install lrlab (-e .)"


def test_binder_button_opens_the_myst_page_in_jupyterlab(tmp_path):
    """With repository.url set, a page's Binder link is ``.../v2/gh/<org>/<repo>/<branch>?urlpath=lab/tree/<page>.md``.

    A one-page book with the course's ``_config.yml`` (its launch buttons, its extensions) and a
    repository URL is built; the page is a MyST notebook like the chapters.
    """
    from bs4 import BeautifulSoup

    header = (REPO / f"{CHAPTER}.md").read_text(encoding="utf-8").split("\n---", 1)[0] + "\n---\n"
    book = one_page_book(tmp_path / "book_src", header + "\n# Probe\n\n```{code-cell} ipython3\n1 + 1\n```\n",
                         repository_url="https://github.com/example-org/lr-course")
    proc = build_book(book)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    soup = BeautifulSoup((book / "_build" / "html" / "book" / "probe.html").read_text(), "html.parser")
    links = [a["href"] for a in soup.find_all("a", href=True) if "mybinder.org" in a["href"]]
    assert links == ["https://mybinder.org/v2/gh/example-org/lr-course/main?urlpath=lab/tree/book/probe.md"], links


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_configured_as_binders_home_opens_a_chapter_as_a_notebook(tmp_path):
    """What a reader who pressed the Binder button sees: the chapter as a notebook, not as text."""
    import requests

    chromium = require_system("chromium", "apt-get install chromium (Debian's package; .ci/run does this)")
    home = tmp_path / "home"
    shutil.copytree(REPO / ".jupyter", home / ".jupyter")  # Binder: the repository is the home
    port, token = _free_port(), "launch-test-token"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")} | {"HOME": str(home)}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        wait_until_serving(url, headers, proc, tmp_path / "lab.log", "jupyter lab")
        settings = requests.get(f"{url}/lab/api/settings/@jupyterlab/docmanager-extension:plugin", headers=headers).json()
        default = settings["schema"]["properties"]["defaultViewers"]["default"]
        assert default.get("markdown") == "Jupytext Notebook", f"the home's overrides were not read: {default}"
        model = requests.get(f"{url}/api/contents/{CHAPTER}.md?type=notebook&content=1", headers=headers).json()
        assert model.get("type") == "notebook", f"jupytext's contents manager did not serve the chapter as a notebook: {model}"

        from playwright.sync_api import sync_playwright

        flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
        title = next(line[2:].strip() for line in (REPO / f"{CHAPTER}.md").read_text().splitlines()
                     if line.startswith("# "))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=flags)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(90_000)
            page.goto(f"{url}/lab/tree/{CHAPTER}.md?token={token}")
            page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for()
            editors = page.locator(".jp-FileEditor").count()
            heading = page.locator(".jp-NotebookPanel .jp-MarkdownCell h1").first
            heading.wait_for()
            first_markdown = heading.inner_text()
            shots = REPO / "_build" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "binder_chapter_as_notebook.png"))
            browser.close()
        assert editors == 0, "the chapter also opened in the text editor"
        assert title.split("$")[0].strip()[:20] in first_markdown, f"the notebook's title is not the chapter's: {first_markdown[:200]!r}"
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a kernel the notebook started can hold the shutdown up
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)
        log.close()
