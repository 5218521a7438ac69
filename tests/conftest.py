"""Shared test setup.

Tests that need a system package (a browser, a database server) call
:func:`require_system`: locally they skip with a message saying what to install;
with ``LRLAB_STRICT_SYSTEM=1`` (set by ``.ci/run``) the skip becomes a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def require_system(binary: str, install_hint: str) -> str:
    """Return the path of ``binary`` or skip (fail under ``LRLAB_STRICT_SYSTEM=1``) with ``install_hint``."""
    path = shutil.which(binary)
    if path:
        return path
    message = f"{binary} is not installed; install it with: {install_hint}"
    if os.environ.get("LRLAB_STRICT_SYSTEM") == "1":
        pytest.fail(message + " (LRLAB_STRICT_SYSTEM=1 makes this a failure)")
    pytest.skip(message)


def wait_until_serving(url: str, headers: dict, proc, log: Path, what: str, timeout_s: float = 120) -> None:
    """Wait until the Jupyter server ``proc`` answers ``GET {url}/api/status``; fail with its log if it
    exits or does not answer within ``timeout_s`` seconds."""
    import requests

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(f"{url}/api/status", headers=headers, timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, f"{what} exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} did not start within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


# --- keeping expensive shared fixtures on one xdist worker ---

#: Test modules whose tests must run on the same pytest-xdist worker, by group: they share a
#: session fixture that is expensive to build (the book, built once) or a resource that must not be
#: used twice at once. The modules also carry ``pytest.mark.xdist_group(<group>)``, but with
#: pytest 9 that mark no longer reaches pytest-xdist 3.8's scheduler (xdist renames
#: ``item._nodeid``, which pytest 9 no longer reads), so ``make test`` groups them here instead.
XDIST_GROUPS = {
    "test_book.py": "book",
    "test_browser.py": "book",
    "test_book_pdf.py": "book",
    "test_book_links.py": "book",
    "test_autograder_hostile.py": "hostile",
    "test_autograder_postgres.py": "postgres",
    "test_documented_commands.py": "commands",
    "test_autograder_dask.py": "dask",
}


def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadgroup``: every test is its own unit, except the modules of XDIST_GROUPS."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return XDIST_GROUPS.get(module, nodeid)

    return GroupScheduling(config, log)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Torch on one thread for the whole session: the tensors in these tests are small, and with
    pytest-xdist on 2 cores two threads per worker make them 5-30x slower. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


def one_page_book(folder: Path, page: str, repository_url: str = "") -> Path:
    """A book in ``folder`` with the course's ``_config.yml`` and extensions and one page, ``book/probe.md``
    (text ``page``); ``repository_url`` sets ``repository.url``. Returns ``folder``."""
    import yaml

    (folder / "book").mkdir(parents=True)
    for name in ("_ext", "_static"):
        shutil.copytree(REPO / "book" / name, folder / "book" / name)
    (folder / "book" / "references.bib").write_text("")
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    if repository_url:
        config["repository"]["url"] = repository_url
    (folder / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "_toc.yml").write_text("format: jb-book\nroot: book/probe\n")
    (folder / "book" / "probe.md").write_text(page)
    return folder


def build_book(folder: Path) -> subprocess.CompletedProcess:
    """``jupyter-book build folder`` (the venv's), its output captured."""
    return subprocess.run([_jupyter_book(), "build", str(folder)], capture_output=True, text=True, timeout=300)


# --- the book, built once per test session (tests that use it share one xdist group) ---

BUILD_TIMEOUT_S = 1200


def toc_files(toc: dict) -> list[str]:
    """Every page of a jb-book table of contents: the root, then chapters and their sections, in order."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def _jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists():
        pytest.fail(f"jupyter-book is not installed next to {sys.executable}; run `make setup` first")
    return str(exe)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the book once into a temporary folder; fail with the tail of the log if the build fails.

    ``LRLAB_BOOK_OUTPUT=<folder>`` builds into that folder instead and keeps it, so that its
    execution cache (``<folder>/_build/.jupyter_cache``) is reused by the next run: the book is
    still built, with only the chapters whose code changed executed again. For working on the
    book's tests; ``make test`` and CI leave it unset.
    """
    fixed = os.environ.get("LRLAB_BOOK_OUTPUT")
    out = Path(fixed).resolve() if fixed else tmp_path_factory.mktemp("book")
    out.mkdir(parents=True, exist_ok=True)
    cmd = [_jupyter_book(), "build", str(REPO), "--path-output", str(out),
           "--warningiserror", "--nitpick", "--keep-going"]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        log = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        pytest.fail(f"the book build did not finish within {BUILD_TIMEOUT_S} s.\nLast lines of the log:\n"
                    + "\n".join(log.splitlines()[-80:]))
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (out / "build.log").write_text(log)
    if proc.returncode != 0:
        warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
        pytest.fail(
            f"`{' '.join(cmd)}` failed with exit code {proc.returncode} after {elapsed:.0f} s.\n"
            f"Warnings and errors ({len(warnings)}):\n" + "\n".join(warnings[:50])
            + "\n\nLast 120 lines of the build log:\n" + "\n".join(log.splitlines()[-120:])
            + f"\n\nFull log: {out / 'build.log'}. Reproduce with `make book`."
        )
    print(f"book built in {elapsed:.0f} s")
    return out / "_build" / "html"


# --- the book printed to one PDF (tools/book_pdf.py, as `make pdf` runs it) ---

PDF_TIMEOUT_S = 900


def _book_pdf_tool():
    """tools/book_pdf.py as a module (its constants; the PDF itself is printed by running it)."""
    import importlib.util

    name = "lrlab_tools_book_pdf"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "book_pdf.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def book_pdf(built_book) -> Path:
    """Print the built book to one PDF with ``tools/book_pdf.py`` (a subprocess, as ``make pdf`` runs it).

    The PDF is written to ``<build>/_build/pdf/`` and copied into the built site (``built_book``), where the
    landing page's "read offline" link finds it; returns the copy in the site. Needs Debian's chromium
    (skips without it, fails under ``LRLAB_STRICT_SYSTEM=1``).
    """
    require_system("chromium", "apt-get install chromium (Debian's package; .ci/run does this)")
    name = _book_pdf_tool().PDF_NAME
    output = built_book.parent / "pdf" / name
    cmd = [sys.executable, str(REPO / "tools" / "book_pdf.py"), "--html", str(built_book), "--output", str(output)]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=PDF_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {PDF_TIMEOUT_S} s:\n{out[-3000:]}")
    output.parent.mkdir(parents=True, exist_ok=True)
    (output.parent / "book_pdf.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                    f"{proc.stderr[-3000:]}\nReproduce with `make book && make pdf`.")
    print(f"book PDF printed in {time.monotonic() - start:.0f} s")
    return built_book / name
