"""The students' side: a local JupyterLab workspace with nbgrader's assignment list, and per-assignment downloads.

``make lab`` calls :func:`prepare_workspace` and opens JupyterLab in ``workspace/``
(ignored by git). The workspace gets an ``nbgrader_config.py`` that points
nbgrader's student extensions at a local *exchange* (``workspace/.exchange``) in
which every released assignment of ``exercises/`` is offered: the **Assignments**
tab lists them, **Fetch** copies one into ``workspace/<assignment>/`` (your
working copy; ``exercises/`` stays untouched), the **Validate** button runs the
visible tests, and **Submit** leaves a time-stamped copy in the exchange's
``inbound/`` folder (hand in the notebook itself the way your course says).

:func:`make_bundle` writes ``<assignment>.zip``: the student notebook plus what it
needs outside the repository (the ``lrlab`` helpers it imports, without the
modules that solve the assignment; the self-check; the pinned requirements; a
README with the steps).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .layout import AutograderError, Repo, find_repo

__all__ = ["COURSE_ID", "Workspace", "prepare_workspace", "make_bundle", "forbidden_of", "student_requirements"]

#: The course id the local exchange files assignments under.
COURSE_ID = "lrlab"

_CONFIG = '''\
# Written by `python -m autograder workspace` (make lab): nbgrader's student extensions
# (Assignments tab, Validate button) use a local exchange. Rewritten at every `make lab`.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course!r}
c.Exchange.root = {exchange!r}
c.Exchange.path_includes_course = False
c.Exchange.assignment_dir = {root!r}
c.Exchange.cache = {cache!r}
'''


@dataclass(frozen=True)
class Workspace:
    """A prepared student workspace.

    Attributes
    ----------
    root : Path
        Where JupyterLab opens and where fetched assignments go.
    exchange : Path
        nbgrader's exchange root (``<root>/.exchange``).
    assignments : tuple of str
        The assignments offered in the exchange's ``outbound/`` folder.
    """

    root: Path
    exchange: Path
    assignments: tuple[str, ...]


def prepare_workspace(repo: Repo | os.PathLike | str | None = None, root: os.PathLike | str | None = None) -> Workspace:
    """Create (or refresh) the student workspace and its local nbgrader exchange.

    Every assignment of ``exercises/`` is copied to ``<exchange>/<course>/outbound/``,
    replacing an older copy there, so the Assignments tab always offers the current
    release. Nothing the student fetched or wrote is touched.

    Parameters
    ----------
    repo : Repo or path-like, optional
        The repository (default: found from the current directory).
    root : path-like, optional
        The workspace (default: ``<repo>/workspace``).

    Returns
    -------
    Workspace

    Raises
    ------
    AutograderError
        If ``exercises/`` holds no released assignment (run ``python -m autograder release``).
    """
    repo = find_repo(repo)
    exercises = repo.root / "exercises"
    names = sorted(p.name for p in exercises.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if exercises.is_dir() else []
    if not names:
        raise AutograderError(
            f"no released assignment in {exercises}: run `python -m autograder release` first "
            "(it writes exercises/ from solutions/)"
        )
    root = Path(root) if root is not None else repo.root / "workspace"
    root = root.resolve()
    exchange = root / ".exchange"
    course = exchange / COURSE_ID
    for folder in (exchange, course, course / "outbound", course / "inbound", course / "feedback"):
        folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        dest = course / "outbound" / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(exercises / name, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (root / "nbgrader_config.py").write_text(
        _CONFIG.format(course=COURSE_ID, exchange=str(exchange), root=str(root), cache=str(root / ".nbgrader-cache")), encoding="utf-8"
    )
    return Workspace(root=root, exchange=exchange, assignments=tuple(names))


def forbidden_of(notebook: os.PathLike | str) -> list[str]:
    """The lrlab modules a graded run of this notebook refuses (``metadata.autograder.forbidden_modules``)."""
    nb = nbformat.read(os.fspath(notebook), as_version=4)
    return list(nb.metadata.get("autograder", {}).get("forbidden_modules", []))


_README = """\
{title}
{underline}

This folder holds everything the assignment `{name}` of the course on learning-rate
schedules needs outside the course repository.

  {notebooks}   the notebook you complete
  lrlab/            the course's helpers it imports (device choice, plotting, data, ...);
                    the modules that solve this assignment are left out on purpose
  autograder/       the self-check (below)
  requirements.txt  the course's pinned Python packages that it needs

Steps (Python 3.11; the first takes a few minutes, once):

  python3.11 -m venv .venv
  .venv/bin/python -m pip install -r requirements.txt      # Windows: .venv\\Scripts\\python
  .venv/bin/jupyter lab {first}

Write your code where a cell says `raise NotImplementedError()`, run the visible
tests under each part, then check the whole notebook as the grader will run it:

  .venv/bin/python -m autograder validate {first}

It prints PASS or FAIL for every graded cell, the points at stake and the test's
message. Hidden tests (edge cases) are added when your instructor grades. The
notebook uses the GPU when torch sees one (`cuda`), else the CPU.
Hand in the .ipynb file as your course says.
"""

#: What a student's notebook, lrlab's helpers and the self-check import (distribution names).
STUDENT_PACKAGES = (
    "numpy", "scipy", "torch", "matplotlib", "scikit-learn", "pandas", "opacus", "tqdm",
    "jupyterlab", "ipykernel", "nbgrader", "nbclient", "nbformat",
)


def _canon(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def student_requirements(repo: Repo | os.PathLike | str | None = None) -> list[str]:
    """The lines of ``requirements.txt`` a student needs: :data:`STUDENT_PACKAGES` and everything they depend on.

    The dependency closure is read from the installed distributions' metadata (the
    course's ``.venv``), extras included (``jsonschema[format-nongpl]`` pulls its
    format checkers), environment markers evaluated here; the versions are those
    pinned in ``requirements.txt``. The book's and the tests' own tools (Sphinx,
    Jupyter Book, pytest, Playwright, psycopg2) are left out.

    Returns
    -------
    list of str
        Pinned lines, in the order of ``requirements.txt``.
    """
    import importlib.metadata as md

    from packaging.requirements import Requirement

    repo = repo if isinstance(repo, Repo) else find_repo(repo)
    seen: dict[str, set[str]] = {}
    stack = [(name, frozenset()) for name in STUDENT_PACKAGES]
    while stack:
        name, extras = stack.pop()
        key = _canon(name)
        if key in seen and extras <= seen[key]:
            continue
        seen.setdefault(key, set()).update(extras)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue  # not installed here: pip resolves it from the pinned line, if any
        for line in requires:
            req = Requirement(line)
            if req.marker is not None:
                envs = [{"extra": e} for e in ("", *sorted(extras))]
                if not any(req.marker.evaluate(env) for env in envs):
                    continue
            stack.append((req.name, frozenset(req.extras)))
    lines = []
    for line in (repo.root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text and not text.startswith("#") and _canon(text.split("==")[0].split("[")[0]) in seen:
            lines.append(text)
    return lines


#: lrlab files a bundle never needs (chapter experiment modules).
_SKIP_LRLAB = ("ch",)

_STUB = '''"""Not shipped with this exercise (see the ImportError below)."""
raise ImportError(
    "{module} is the course's reference implementation of what this assignment asks you to write, so "
    "it is not part of the assignment's download, and graded runs cannot import it either: write your own "
    "(numpy, torch and the other lrlab modules are available)."
)
'''
_INIT = '''"""lrlab helpers, as this assignment's download ships them (without lrlab.schedules, which it asks you to write)."""
__version__ = "bundle"
'''


def make_bundle(assignment: str, repo: Repo | os.PathLike | str | None = None, dest: os.PathLike | str | None = None) -> Path:
    """Write ``<dest>/<assignment>.zip``: the student notebook(s) and what they need outside the repo.

    The zip holds one folder, ``<assignment>/``, with the released notebook(s) of
    ``exercises/<assignment>/``, the ``lrlab`` package with the modules that the
    notebook's ``forbidden_modules`` names replaced by stubs that raise an ImportError
    saying why (the reference solution is not shipped with the exercise) and without
    the chapters' experiment modules, the
    ``autograder`` package (for ``python -m autograder validate``), the lines of the
    repository's pinned ``requirements.txt`` that a student needs
    (:func:`student_requirements`) and a ``README.txt`` with the steps.

    Parameters
    ----------
    assignment : str
        A released assignment (a folder of ``exercises/``).
    repo : Repo or path-like, optional
        The repository.
    dest : path-like, optional
        Folder for the zip (default: ``<repo>/_build/bundles``).

    Returns
    -------
    Path
        The zip file.

    Raises
    ------
    AutograderError
        If the assignment has not been released.
    """
    repo = find_repo(repo)
    folder = repo.root / "exercises" / assignment
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        known = sorted(p.name for p in (repo.root / "exercises").glob("*") if p.is_dir())
        raise AutograderError(
            f"no released assignment {assignment!r} in exercises/ (known: {', '.join(known) or 'none'}); "
            "run `python -m autograder release` first"
        )
    forbidden = set()
    for nb in notebooks:
        forbidden.update(forbidden_of(nb))
    dest = Path(dest) if dest is not None else repo.root / "_build" / "bundles"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{assignment}.zip"
    tmp = target.with_suffix(".zip.part")
    names = [nb.name for nb in notebooks]
    readme = _README.format(
        title=f"Assignment {assignment}", underline="=" * len(f"Assignment {assignment}"), name=assignment,
        notebooks=", ".join(names).ljust(16), first=names[0],
    )
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for nb in notebooks:
            zf.write(nb, f"{assignment}/{nb.name}")
        for package in ("lrlab", "autograder"):
            for path in sorted((repo.root / package).rglob("*.py")):
                rel = path.relative_to(repo.root)
                module = ".".join(rel.with_suffix("").parts)
                if package == "lrlab" and path.stem.startswith(_SKIP_LRLAB):
                    continue
                if module in forbidden:
                    zf.writestr(f"{assignment}/{rel.as_posix()}", _STUB.format(module=module))
                elif module == "lrlab.__init__" and "lrlab.schedules" in forbidden:
                    zf.writestr(f"{assignment}/{rel.as_posix()}", _INIT)
                else:
                    zf.write(path, f"{assignment}/{rel.as_posix()}")
        zf.writestr(
            f"{assignment}/requirements.txt",
            "# The course's pinned packages that this assignment needs (python -m autograder bundle).\n"
            + "\n".join(student_requirements(repo)) + "\n",
        )
        zf.writestr(f"{assignment}/README.txt", readme)
    tmp.replace(target)
    return target
