"""Every command the docs print runs, as printed, in a fresh copy of the repository.

Rule (issue #12, item 1): every documented command of every subcommand is run end to end
by a test, as a subprocess, exactly as the README and the guides print it. The commands
are read from

* the fenced ``bash``/``console``/``shell``/``sh`` blocks of ``README.md`` and every
  ``book/*.md`` page, and their inline code spans that start with a command
  (``make lab``, ``python -m autograder bundle schedules``, ``nbgrader collect ...``);
* the examples in the epilog of ``python -m autograder --help`` and of every
  subcommand's ``--help`` (:func:`autograder.cli.build_parser`);
* the ``README.txt`` of an assignment's download (:func:`autograder.student.bundle.bundle_readme`),
  whose commands run in the unpacked download.

Each runs with ``bash -c "<the line as printed>"`` in a copy of the working tree (tracked
and untracked files, not ignored ones; the course's ``.venv`` linked in and first on
``PATH``, as the guides say: "run every command with the course's environment") with its
own ``HOME`` (so ``~/lrlab-course`` is a folder of the test). Before a command, the
commands printed above it on the same page run first (once each), and the test creates
only what the page says the reader already has: a ``submissions/`` folder and
``submissions.zip`` of a finished notebook, the student's finished notebook where
``validate`` is pointed at, nbgrader's exchange configuration, a student's submission
in the exchange before ``nbgrader collect``, a built book before ``make serve`` and
``make pdf`` (a small stand-in: every page of ``_toc.yml`` with its title and an image,
so that ``make pdf`` prints them all with Chromium; tests/test_book_pdf.py prints the real
book). Every command must exit 0 and leave what it promises (a full score for a finished
notebook, a CSV, feedback pages, zips, PASS lines, a PDF with a page for every page of the
book). Servers (``make lab``, ``make serve``, ``jupyter lab``) are started, must answer on
HTTP, and are stopped.

A command that cannot run here is in :data:`EXEMPT` with the reason and what runs it
instead; :func:`test_every_documented_command_is_run_or_exempted` fails when a
documented command is neither (a new one cannot slip through) or an exemption is stale.
Synopses with placeholders (``python -m autograder grade SUBMISSIONS``) are not commands.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import _book_pdf_tool, require_system, toc_files

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("commands")]

#: The assignment whose download (README.txt) and submissions the commands use.
ASSIGNMENT = "schedules"
SHELL_LANGS = {"bash", "console", "shell", "sh"}
#: A code span in prose is a command when its first word is one of these (or a path such as
#: .venv/bin/python) and it has more than one word.
COMMAND_WORDS = {"make", "python", "python3", "python3.11", "pip", "jupyter", "nbgrader", "createdb", "mkdir",
                 "cp", "cd", "git", "bash", "zip", "unzip", "psql", "jupyter-book"}
#: Code spans that name a tool or a step in prose, not a command to run as it stands.
NAMES = {
    "python -m autograder", ".venv/bin/python -m autograder",
    "nbgrader autograde",  # README: "plain `nbgrader autograde`", the benchmark's method (c)
    "nbgrader collect",  # the guide: "`nbgrader collect` copies ...", its command is printed in full below
    "zip -r",  # the guide's messages: "or `zip -r` the folder"
}

#: Documented commands that are not run here: command -> (why, what runs it instead).
EXEMPT = {
    "make test": ("it runs the whole suite, this module included", ".ci/run"),
    "make book": ("it executes every chapter (many minutes); the book has its own tests",
                  "tests/conftest.py"),  # built_book: jupyter-book build with the Makefile's flags
    ".venv/bin/python -m pip install -r requirements.txt": (
        "it downloads packages, and nothing may be downloaded while the tests run; the commands after it run "
        "with the course's .venv, which has every pinned package", "tests/test_student.py"),
    ".venv/bin/python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": (
        "it downloads torch's CPU wheel (no downloads while the tests run); the pin is checked against "
        "requirements.txt", "tests/test_student.py"),
    "pip install --no-deps -e .": ("it installs into the environment the tests run in (make setup does it)",
                                   "Makefile"),
    "jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:formgrader": (
        "it changes the shared environment's configuration; make lab turns the same plugin off for its "
        "own server", "tests/test_student.py"),
    "jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:create-assignment": (
        "it changes the shared environment's configuration; make lab turns the same plugin off for its "
        "own server", "tests/test_student.py"),
    "jupyter server extension disable --sys-prefix nbgrader.server_extensions.formgrader": (
        "it changes the shared environment's configuration; make lab turns the same extension off for its "
        "own server", "tests/test_student.py"),
    "createdb lrlab": ("it needs a PostgreSQL server; the PostgreSQL tests create their own database",
                       "tests/test_autograder_postgres.py"),
    "python -m autograder grade ~/lrlab-course/submitted --assignment schedules --course-dir /shared/lrlab-grading "
    "--db postgresql://grader@db.example.org/lrlab": (
        "it needs the PostgreSQL server the URL names; the PostgreSQL tests grade into a local one",
        "tests/test_autograder_postgres.py"),
    "python -m autograder export --course-dir /shared/lrlab-grading --db postgresql://grader@db.example.org/lrlab "
    "-o grades.csv": (
        "it needs the PostgreSQL server the URL names; the PostgreSQL tests export from a local one",
        "tests/test_autograder_postgres.py"),
    ".venv/bin/python -m pytest tests/test_assignments.py -q": ("it is a module of this test suite",
                                                                 "tests/test_assignments.py"),
    # Benchmarks measure for minutes to an hour and check nothing a test does not: run by hand, the
    # results are in README.md and benchmarks/notebook_timings.md. No test or CI step runs them.
    "make bench": ("it runs every benchmark (about an hour)", "benchmarks/run.py"),
    ".venv/bin/python benchmarks/bench_autograde.py --assignment pac_bayes --n 40 --jobs 2": (
        "it grades 200 notebooks five ways (10-40 min)", "benchmarks/bench_autograde.py"),
    ".venv/bin/python benchmarks/bench_autograde.py --n 4": (
        "even the quick look grades 20 notebooks five ways (minutes)", "benchmarks/bench_autograde.py"),
    ".venv/bin/python benchmarks/bench_notebooks.py": (
        "it runs every solution notebook (minutes); the same script runs below for one notebook",
        "benchmarks/bench_notebooks.py"),
}

#: Long-running servers: started, asked over HTTP, stopped.
SERVER = re.compile(r"^(make (lab|serve)\b|(\.venv/bin/)?jupyter lab\b|(\.venv/bin/)?python -m autograder lab\b)")


# --------------------------------------------------------------------------- reading the docs


@dataclass
class Documented:
    """One command as a page prints it."""

    command: str  # the line, as printed (comments included: bash ignores them)
    key: str  # the command without its comment, spaces collapsed: the test id and EXEMPT key
    where: list[str] = field(default_factory=list)  # "README.md:42", ...
    doc: str = ""  # the first page that prints it
    index: int = 0  # its place on that page
    context: str = "repo"  # "repo" (the repository copy) or "bundle" (the unpacked download)


def _key(line: str) -> str:
    return " ".join(re.sub(r"(^|\s)#(\s.*)?$", "", line).split())


def _is_synopsis(key: str) -> bool:
    """A usage line with placeholders (SUBMISSIONS, PATH.ipynb, [ASSIGNMENT ...], <assignment>, ...)."""
    return bool(re.search(r"\.\.\.|\u2026|\[|<|>", key)) or any(
        re.fullmatch(r"[A-Z][A-Z_]+(\.ipynb)?", word) for word in key.split()
    )


def _is_command_span(span: str) -> bool:
    words = span.split()
    if len(words) < 2 or span in NAMES:
        return False
    first = words[0]
    return first in COMMAND_WORDS or first.startswith((".venv/bin/", "./"))


def _markdown_commands(path: Path) -> list[tuple[int, str]]:
    """(line number, command) of a Markdown page, in page order."""
    lines = path.read_text(encoding="utf-8").split("\n")
    start = 0
    if lines and lines[0].strip() == "---":
        start = next(i for i in range(1, len(lines)) if lines[i].strip() == "---") + 1
    found, fence, lang, pending = [], None, "", None
    for i in range(start, len(lines)):
        number, line = i + 1, lines[i]
        stripped = line.strip()
        if fence is None:
            m = re.match(r"(`{3,}|~{3,})\s*(\S*)", stripped)
            if m:
                fence, lang = m.group(1), m.group(2).lower()
                continue
            for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", line):
                span = span.strip()
                if _is_command_span(span):
                    found.append((number, span))
            continue
        if stripped.startswith(fence) and set(stripped) == {fence[0]}:
            fence = None
            continue
        if lang not in SHELL_LANGS:
            continue
        if lang == "console":
            if not stripped.startswith("$ "):
                continue
            stripped = stripped[2:]
        if pending is not None:
            stripped = pending[1] + " " + stripped
            number = pending[0]
            pending = None
        if stripped.endswith("\\"):
            pending = (number, stripped[:-1].rstrip())
            continue
        if stripped and not stripped.startswith("#"):
            found.append((number, stripped))
    return found


def _epilog_commands() -> list[tuple[str, str]]:
    """(where, command) of the examples in every --help epilog."""
    from autograder.cli import build_parser

    parser = build_parser()
    parsers = [("python -m autograder --help", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += [(f"python -m autograder {name} --help", p) for name, p in action.choices.items()]
    found = []
    for where, p in parsers:
        for line in (p.epilog or "").splitlines():
            text = line.strip()
            if text.startswith(("python ", "make ")):
                found.append((where, text))
    return found


def _bundle_readme() -> str:
    from autograder.student.bundle import bundle_readme, student_requirements

    notebooks = sorted(p.name for p in (REPO / "exercises" / ASSIGNMENT).glob("*.ipynb"))
    return bundle_readme(ASSIGNMENT, notebooks, student_requirements(ASSIGNMENT, REPO))


def _readme_txt_commands() -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(_bundle_readme().splitlines(), 1)
            if line.startswith("  ") and line.strip().startswith(("python3.11 ", ".venv/bin/"))]


def documented() -> list[Documented]:
    """Every documented command once (by key), with every place that prints it."""
    pages: list[tuple[str, list[tuple[str, str]]]] = []
    for path in [REPO / "README.md", *sorted((REPO / "book").glob("*.md"))]:
        rel = path.relative_to(REPO).as_posix()
        pages.append((rel, [(f"{rel}:{n}", c) for n, c in _markdown_commands(path)]))
    pages.append(("--help", _epilog_commands()))
    readme_txt = [(f"{ASSIGNMENT}.zip:README.txt:{n}", c) for n, c in _readme_txt_commands()]
    pages.append(("README.txt", readme_txt))
    bundle_keys = {_key(c) for _, c in readme_txt}
    found: dict[str, Documented] = {}
    for doc, commands in pages:
        for index, (where, command) in enumerate(commands):
            key = _key(command)
            if not key:
                continue
            if key not in found:
                found[key] = Documented(command=command, key=key, doc=doc, index=index,
                                        context="bundle" if key in bundle_keys else "repo")
            found[key].where.append(where)
    return list(found.values())


def _page_sequence(doc: str) -> list[Documented]:
    """The commands of one page, in page order (each as first printed anywhere)."""
    every = documented()
    by_key = {d.key: d for d in every}
    if doc == "--help":
        keys = [_key(c) for _, c in _epilog_commands()]
    elif doc == "README.txt":
        keys = [_key(c) for _, c in _readme_txt_commands()]
    else:
        keys = [_key(c) for _, c in _markdown_commands(REPO / doc)]
    seen, out = set(), []
    for key in keys:
        if key and key not in seen:
            seen.add(key)
            out.append(by_key[key])
    return out


COMMANDS = documented()
RUNNABLE = [d for d in COMMANDS if d.key not in EXEMPT and not _is_synopsis(d.key)]


# --------------------------------------------------------------------------- the world they run in


@dataclass
class Result:
    command: str
    cwd: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self) -> str:
        return (f"$ {self.command}   (in {self.cwd}, exit {self.returncode}, {self.seconds:.1f} s)\n"
                f"--- stdout (last 3000 characters)\n{self.stdout[-3000:]}\n"
                f"--- stderr (last 3000 characters)\n{self.stderr[-3000:]}")


def _perfect(assignment: str):
    import autograder

    (source,) = autograder.find_repo(REPO).source_notebooks(assignment)
    return autograder.perfect_submission(source, REPO / "exercises" / assignment / source.name)


class World:
    """A copy of the repository, a HOME, the unpacked download, and what has run there."""

    def __init__(self, root: Path):
        import nbformat

        from autograder.student.bundle import make_bundle

        self.root = root
        self.repo = root / "repo"
        self.home = root / "home"
        self.home.mkdir()
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
        for rel in filter(None, listed):
            src = REPO / rel
            if src.is_file():
                dst = self.repo / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        (self.repo / ".venv").symlink_to(VENV)
        # The copy shares the course's .venv, set up already (make test sets it up before the tests):
        # make's targets in the copy must not redo `make setup`, whose `pip install -e .` would point
        # the shared environment's lrlab at this temporary copy.
        stamp = VENV / ".installed"
        if not stamp.exists():
            pytest.fail(f"{stamp} is missing: run `make setup` first")
        for name in ("requirements.txt", "pyproject.toml"):
            before = stamp.stat().st_mtime - 1
            os.utime(self.repo / name, (before, before))
        git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
        subprocess.run(git + ["init", "-q"], cwd=self.repo, check=True)
        subprocess.run(git + ["add", "-A", "."], cwd=self.repo, check=True)
        subprocess.run(git + ["commit", "-qm", "the working tree"], cwd=self.repo, check=True)

        # what an instructor has collected: one finished notebook, as a folder and as a zip
        self.finished = _perfect(ASSIGNMENT)
        folder = self.repo / "submissions" / "alice" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(self.finished, folder / f"{ASSIGNMENT}.ipynb")
        with zipfile.ZipFile(self.repo / "submissions.zip", "w") as zf:
            zf.write(folder / f"{ASSIGNMENT}.ipynb", f"alice/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")

        # the download, unpacked: once with the course's packages in .venv, once bare (for `python3.11 -m venv`)
        archive = make_bundle(ASSIGNMENT, repo=self.repo, dest=root / "download")
        for target in ("bundle", "bundle-bare"):
            zipfile.ZipFile(archive).extractall(root / target)
        self.bundle = root / "bundle" / ASSIGNMENT
        self.bundle_bare = root / "bundle-bare" / ASSIGNMENT
        (self.bundle / ".venv").symlink_to(VENV)

        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("JUPYTER", "PYTHON", "PYTEST", "VIRTUAL_ENV")) and k != "HOME"}
        self.env.update(HOME=str(self.home), PATH=f"{self.repo / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
                        VIRTUAL_ENV=str(self.repo / ".venv"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                        PYTHONUNBUFFERED="1", BROWSER="true", PYENV_ROOT=os.environ.get(
                            "PYENV_ROOT", str(Path.home() / ".pyenv")))
        self.results: dict[str, Result] = {}
        self.exchange = self.home / "exchange"
        fonts = Path.home() / ".cache" / "matplotlib"
        if fonts.is_dir():  # matplotlib's font list, so that the first plot in this HOME does not rebuild it
            shutil.copytree(fonts, self.home / ".cache" / "matplotlib")
        if os.geteuid() == 0:  # CI's container: Jupyter refuses root unless told (a reader is not root)
            (self.home / ".jupyter").mkdir()
            (self.home / ".jupyter" / "jupyter_server_config.json").write_text('{"ServerApp": {"allow_root": true}}')

    def cwd_of(self, item: Documented) -> Path:
        if item.context == "bundle":
            return self.bundle_bare if item.key.startswith("python3.11 -m venv") else self.bundle
        return self.repo

    def run(self, item: Documented, timeout: float = 600) -> Result:
        if item.key in self.results:
            return self.results[item.key]
        cwd = self.cwd_of(item)
        restore = _before(self, item, cwd)
        start = time.monotonic()
        try:
            done = subprocess.run(["bash", "-c", item.command], cwd=cwd, env=self.env, capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            result = Result(item.command, cwd, done.returncode, done.stdout, done.stderr, time.monotonic() - start)
        except subprocess.TimeoutExpired as err:
            result = Result(item.command, cwd, -1, str(err.stdout or ""), f"timed out after {timeout} s",
                            time.monotonic() - start)
        finally:
            for path, data in restore:
                path.write_bytes(data)
        self.results[item.key] = result
        return result

    def prepare(self, item: Documented) -> list[str]:
        """Run what the page prints before ``item`` (once each); the problems of those that failed."""
        problems = []
        for earlier in _page_sequence(item.doc):
            if earlier.key == item.key:
                break
            if earlier.key in EXEMPT or _is_synopsis(earlier.key) or SERVER.match(earlier.key):
                continue
            result = self.run(earlier)
            if result.returncode != 0:
                problems.append(f"`{earlier.key}` (printed before it) failed with exit {result.returncode}")
        return problems


# --------------------------------------------------------------------------- inputs the pages assume


def _nbgrader_config(folder: Path, exchange: Path) -> None:
    """The exchange settings the guide's set-up puts in a system-wide nbgrader_config.py (here: per folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.course_id = 'lrlab'\nc.Exchange.root = {str(exchange)!r}\n")


def _before(world: World, item: Documented, cwd: Path) -> list[tuple[Path, bytes]]:
    """Create the inputs the page says the reader has; returns files to restore afterwards."""
    import nbformat

    restore = []
    key = item.key
    words = shlex.split(key) if "'" not in key and '"' not in key else key.split()
    if "validate" in words:
        notebook = cwd / words[words.index("validate") + 1]
        if notebook.exists():
            restore.append((notebook, notebook.read_bytes()))
        notebook.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(world.finished, notebook)  # the student's finished work, where the command looks
    if "canvas-submissions.zip" in key and not (cwd / "canvas-submissions.zip").exists():
        with zipfile.ZipFile(cwd / "canvas-submissions.zip", "w") as zf:  # Canvas's flat download
            zf.writestr(f"alice_1001_5001_{ASSIGNMENT}.ipynb", nbformat.writes(world.finished))
    if "~/lrlab-course" in key or "~/lrlab-grading" in key:
        world.exchange.mkdir(exist_ok=True)
        world.exchange.chmod(0o777)
        for name in ("lrlab-course", "lrlab-grading"):
            _nbgrader_config(world.home / name, world.exchange)
    if re.search(r"\bnbgrader collect\b", key):
        _student_submits(world)
    if key.startswith(("make serve", "make pdf")):
        _stand_in_book(cwd)
    return restore


#: A real 2x2 PNG: the stand-in book's figure.
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000174944415478da63"
                     "fef5ebd7eabbcaccabef2a33303000003bdf064be7ee942a0000000049454e44ae426082")


def _stand_in_book(repo: Path) -> None:
    """What ``make book`` leaves in ``_build/html``, small but real (tests/test_book.py builds the real one):
    the index, and every page of ``_toc.yml`` with a title (``h1``), a paragraph and a numbered figure."""
    html = repo / "_build" / "html"
    pages = toc_files(yaml.safe_load((repo / "_toc.yml").read_text()))
    if all((html / f"{page}.html").exists() for page in pages) and (html / "index.html").exists():
        return
    (html / "_images").mkdir(parents=True, exist_ok=True)
    (html / "_images" / "figure.png").write_bytes(_PNG)
    (html / "index.html").write_text(f'<html><head><title>The built book</title><meta http-equiv="Refresh" '
                                     f'content="0; url={pages[0]}.html"></head><body>The built book</body></html>')
    for n, page in enumerate(pages, 1):
        depth = "../" * page.count("/")
        (html / f"{page}.html").parent.mkdir(parents=True, exist_ok=True)
        (html / f"{page}.html").write_text(
            f'<!doctype html><html><head><meta charset="utf-8"><title>Page {n}</title></head><body><main>'
            f'<article class="bd-article"><section id="page-{n}"><h1>{n}. Page {n} of the book</h1>'
            f'<p>The stand-in text of {page}.</p><figure id="fig-{n}"><img src="{depth}_images/figure.png" '
            f'alt="a figure" style="width: 200px"><figcaption><span class="caption-number">Fig. {n}.1 </span>'
            f'A figure.</figcaption></figure></section></article></main></body></html>')


def _student_submits(world: World) -> None:
    """What a student does on the hub before the instructor collects: fetch, finish, submit (as alice)."""
    import nbformat

    student = world.root / "alice-home"
    _nbgrader_config(student, world.exchange)
    env = {**world.env, "USER": "alice", "LOGNAME": "alice", "HOME": str(student)}
    for args in (["fetch_assignment", ASSIGNMENT], None, ["submit", ASSIGNMENT]):
        if args is None:
            nbformat.write(world.finished, student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
            continue
        done = subprocess.run(["nbgrader", *args], cwd=student, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"the student's `nbgrader {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}"


# --------------------------------------------------------------------------- what each command must leave


def _check(world: World, item: Documented, result: Result) -> None:
    key, out = item.key, result.stdout + result.stderr
    words = key.split()
    tool = words[words.index("autograder") + 1] if "autograder" in words[:4] and len(words) > 3 else None
    if "--help" in words or "-h" in words:
        assert "usage:" in result.stdout, result
    elif tool == "grade":
        rows = re.findall(r"^(\S+)\s+(\S+)\s+([\d.]+)\s+([\d.]+)\s+(\w+)", result.stdout, re.M)
        assert rows, f"no table of grades:\n{result}"
        for student, assignment, score, maximum, status in rows:
            assert status == "graded" and float(score) == float(maximum), (
                f"{student}/{assignment}: a finished notebook scored {score}/{maximum} ({status}):\n{result}")
    elif tool == "export":
        target = words[words.index("-o") + 1] if "-o" in words else None
        text = (result.cwd / target).read_text() if target and target != "-" else result.stdout
        assert len(text.strip().splitlines()) >= 2, f"no rows in the export:\n{text}\n{result}"
    elif tool == "feedback":
        pages = re.findall(r"^feedback: (\S+)$", result.stdout, re.M)
        assert pages and all((result.cwd / p).is_file() for p in pages), result
    elif tool == "validate":
        assert "PASS" in result.stdout and "FAIL" not in result.stdout, result
    elif tool == "report":
        assert re.search(r"^grade_id\b", result.stdout, re.M), f"no table of graded cells:\n{result}"
        figure = re.search(r"^Histogram of totals: (\S+)$", result.stdout, re.M)
        assert figure, f"the report names no figure:\n{result}"
        path = Path(figure.group(1))
        path = path if path.is_absolute() else result.cwd / path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG:\n{result}"
    elif tool == "bundle":
        zips = re.findall(r"^wrote (\S+\.zip)$", result.stdout, re.M)
        assert zips, result
        for z in zips:
            assert zipfile.ZipFile(result.cwd / z).testzip() is None
    elif tool == "release":
        status = subprocess.run(["git", "status", "--porcelain", "exercises"], cwd=world.repo, capture_output=True,
                                text=True).stdout
        assert not status, f"release changed exercises/ of a clean copy:\n{status}"
    elif tool == "check":
        assert "up to date" in result.stdout, result
    elif "tests/mutation.py" in key:
        killed = re.search(r"^\S+: (\d+)/(\d+) mutants killed", result.stdout, re.M)
        assert killed and killed.group(1) == killed.group(2) != "0", f"not every mutant was killed:\n{result}"
    elif key.startswith("make pdf"):
        from pypdf import PdfReader

        name = _book_pdf_tool().PDF_NAME
        printed, copy = world.repo / "_build" / "pdf" / name, world.repo / "_build" / "html" / name
        assert printed.is_file() and copy.read_bytes() == printed.read_bytes(), (
            f"no {printed} and its copy {copy}:\n{result}")
        pages = toc_files(yaml.safe_load((world.repo / "_toc.yml").read_text()))
        reader = PdfReader(printed)
        text = "".join(page.extract_text() for page in reader.pages)
        missing = [n for n in range(1, len(pages) + 1) if f"{n}. Page {n} of the book" not in text]
        assert len(reader.pages) >= len(pages) + 2 and not missing, (
            f"{printed}: {len(reader.pages)} pages, the stand-in pages {missing} missing:\n{result}")
        assert re.search(rf"^Wrote _build/pdf/{re.escape(name)}: \d+ pages", result.stdout, re.M), result
    elif key == "make help":
        assert "make lab" in result.stdout, result
    elif key.startswith("python3.11 -m venv"):
        assert (result.cwd / ".venv" / "bin" / "python").exists(), result
    elif re.search(r"\bnbgrader collect\b", key):
        assert list((world.home / "lrlab-course" / "submitted").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")), out
    elif re.search(r"\bnbgrader release_assignment\b", key):
        assert list(world.exchange.glob(f"*/outbound/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")), out
    elif re.search(r"\bnbgrader release_feedback\b", key):
        assert list(world.exchange.glob(f"*/feedback/*.html")), out


# --------------------------------------------------------------------------- servers


def _serve(world: World, item: Documented) -> str:
    """Start a documented server, ask it over HTTP, stop it; returns what it answered."""
    import requests

    cwd = world.cwd_of(item)
    _before(world, item, cwd)
    log_path = world.root / f"server-{abs(hash(item.key))}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["bash", "-c", item.command], cwd=cwd, env=world.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, url = time.monotonic() + 240, None
        while url is None:
            text = log_path.read_text(errors="replace")
            for m in re.finditer(r"(http://(?:127\.0\.0\.1|localhost):\d+/)(?:\S*?[?&]token=(\w+))?", text):
                if m.group(2) or item.key.startswith("make serve"):  # Jupyter: the address with its token
                    url, token = m.group(1), m.group(2)
                    break
            if url:
                break
            assert proc.poll() is None, f"`{item.command}` exited with {proc.returncode}:\n{text[-3000:]}"
            assert time.monotonic() < deadline, f"`{item.command}` printed no address in 240 s:\n{text[-3000:]}"
            time.sleep(0.5)
        target = f"{url}api/status" if token else url
        headers = {"Authorization": f"token {token}"} if token else {}
        while True:
            try:
                answer = requests.get(target, headers=headers, timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, f"`{item.command}` does not answer at {target}"
                time.sleep(0.5)
        assert answer.status_code == 200, f"{target}: HTTP {answer.status_code}\n{answer.text[:500]}"
        if token:  # JupyterLab itself, not only the server
            page = requests.get(f"{url}lab", headers=headers, timeout=30)
            assert page.status_code == 200 and "jupyter-config-data" in page.text, page.text[:500]
        return answer.text
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("documented-commands"))


@pytest.mark.parametrize("item", RUNNABLE, ids=[d.key for d in RUNNABLE])
def test_documented_command_runs_as_printed(item: Documented, world: World):
    if item.key.startswith("make pdf"):
        require_system("chromium", "apt-get install chromium (Debian's package; .ci/run does this)")
    problems = world.prepare(item)
    where = ", ".join(item.where)
    if SERVER.match(item.key):
        answered = _serve(world, item)
        if item.key.startswith("make serve"):
            assert "The built book" in answered or "<html" in answered.lower(), answered[:300]
        return
    result = world.run(item)
    assert result.returncode == 0, (
        f"`{item.command}` (printed at {where}) failed with exit {result.returncode}"
        + (f"; before it: {'; '.join(problems)}" if problems else "") + f"\n{result}"
    )
    _check(world, item, result)


def test_every_documented_command_is_run_or_exempted():
    keys = {d.key for d in COMMANDS}
    assert len(COMMANDS) >= 30, f"found only {len(COMMANDS)} documented commands: did the reader break?"
    for must in ("make lab", "make serve", "python -m autograder bundle schedules",
                 ".venv/bin/python -m autograder validate workspace/schedules/schedules.ipynb",
                 "python -m autograder grade submissions.zip --assignment schedules --jobs 2 --timeout 120",
                 ".venv/bin/python -m autograder validate schedules.ipynb"):
        assert must in keys, f"`{must}` is printed by the docs but was not found: {sorted(keys)}"
    runnable = {d.key for d in RUNNABLE}
    synopses = {d.key for d in COMMANDS if _is_synopsis(d.key)}
    for d in COMMANDS:
        assert d.key in runnable or d.key in EXEMPT or d.key in synopses, f"{d.key} ({d.where}) is neither run nor exempted"
    stale = sorted(set(EXEMPT) - keys)
    assert not stale, f"EXEMPT names commands no page prints any more (remove them): {stale}"
    for key, (why, instead) in EXEMPT.items():
        assert why and (REPO / instead).exists(), f"EXEMPT[{key!r}]: say why, and name the test or CI step ({instead})"
    assert all(not _is_synopsis(k) for k in EXEMPT), "a synopsis needs no exemption"


def test_the_reader_finds_blocks_spans_epilogs_and_the_download(tmp_path):
    """The reader itself: fenced blocks (with continuation lines and console prompts), code spans, no code cells."""
    page = tmp_path / "page.md"
    page.write_text(
        "---\nfront: matter\n---\n"
        "Run `make lab` or `python -m autograder`, not `--jobs 2`.\n"
        "```bash\nmake help   # targets\n# a comment\npython -m autograder grade \\\n  submissions/ --jobs 2\n```\n"
        "```console\n$ make release\noutput line\n```\n"
        "```{code-cell} ipython3\nimport os\n```\n"
        "```text\nmake not-this\n```\n"
    )
    assert [c for _, c in _markdown_commands(page)] == [
        "make lab", "make help   # targets", "python -m autograder grade submissions/ --jobs 2", "make release"]
    assert _key("make help   # targets") == "make help"
    assert _is_synopsis("python -m autograder grade SUBMISSIONS") and _is_synopsis("python -m autograder release [A ...]")
    assert not _is_synopsis("python -m autograder export -o grades.csv")
    assert any(c == "python -m autograder lab --no-browser --port 8890" for _, c in _epilog_commands())
    assert any(c.startswith(".venv/bin/python -m autograder validate") for _, c in _readme_txt_commands())
