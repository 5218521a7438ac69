"""Generate the student release (``exercises/``) from the sources and check it.

``release`` runs nbgrader's ``generate_assignment`` with a throw-away gradebook, so
it never touches the course directory, and writes ``exercises/<assignment>/``.
The output depends only on ``solutions/`` (nbgrader strips outputs, execution
counts, solution regions and hidden tests), so re-running it gives byte-identical
files and ``git diff`` stays clean.

``check`` regenerates into a temporary folder, compares byte for byte, and scans
``exercises/`` for anything that must not be there: the solution/hidden-test
markers, and the non-trivial lines found inside those regions of the sources.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._nbgrader import explain_failure, make_api, quiet
from ..layout import AutograderError, Course, Repo, find_repo, sqlite_url
from ..notebook import MARKERS, STUB_LINES, cell_source, grade_id, is_solution, marker_of, split_secret_lines

__all__ = ["release", "check", "secret_lines", "MARKERS"]
#: A secret line shorter than this (non-blank characters) is too generic to flag.
MIN_SECRET_CHARS = 8

_TRIVIAL = re.compile(
    r"^(?:else:|try:|finally:|pass|return|break|continue|\)+|\]+|\}+|[\)\]\}]+[,:]?|"
    r"except(?: \w+)?:|return (?:None|True|False|self)|\"\"\"|''')$"
)


def _resolve(repo) -> Repo:
    return repo if isinstance(repo, Repo) else find_repo(repo)


def _generate(repo: Repo, assignments: list[str], dest: Path, verbose: bool) -> None:
    """Run ``generate_assignment`` for ``assignments`` into ``dest/<assignment>/``."""
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
        course = Course(repo=repo, root=Path(tmp), db_url=sqlite_url(Path(tmp) / "gradebook.db"))
        api = make_api(course, release_dir=dest)
        for name in assignments:
            result = api.generate_assignment(name, force=True, create=True)
            if verbose and result.get("log"):
                print(result["log"], end="")
            if not result["success"]:
                raise AutograderError(
                    f"nbgrader could not generate the release of {repo.rel(repo.solutions / name)}/: "
                    f"{explain_failure(result)}. Fix the source notebook (every BEGIN/END SOLUTION "
                    "region must sit in a cell marked as a solution, every hidden-test region in a "
                    "graded test cell) and run `python -m autograder release` again"
                )


def release(
    assignments: list[str] | None = None,
    *,
    repo: Repo | os.PathLike | str | None = None,
    dest: os.PathLike | str | None = None,
    verbose: bool = False,
) -> list[Path]:
    """Regenerate the student notebooks from ``solutions/``.

    Parameters
    ----------
    assignments : list of str, optional
        Assignments to release; all of them when omitted (and then folders of
        ``exercises/`` with no source any more are removed).
    repo : Repo or path-like, optional
        The repository (see :func:`autograder.layout.find_repo`).
    dest : path-like, optional
        Output folder; default the repository's ``exercises/``.
    verbose : bool
        Print nbgrader's log.

    Returns
    -------
    list of pathlib.Path
        The files written, sorted.

    Raises
    ------
    AutograderError
        If an assignment is unknown or nbgrader rejects a source notebook.
    """
    quiet(verbose)
    repo = _resolve(repo)
    everything = not assignments
    names = repo.assignments() if everything else [repo.check_assignment(a) for a in assignments]
    if not names:
        raise AutograderError(
            f"no assignments in {repo.rel(repo.solutions)}/: add solutions/<assignment>/<notebook>.ipynb first"
        )
    dest = Path(dest).absolute() if dest is not None else repo.exercises
    dest.mkdir(parents=True, exist_ok=True)
    _generate(repo, names, dest, verbose)
    if everything:
        for child in sorted(dest.iterdir()):
            if child.is_dir() and child.name not in names and not child.name.startswith("."):
                shutil.rmtree(child)
    written = []
    for name in names:
        written.extend(p for p in sorted((dest / name).rglob("*")) if p.is_file())
    return written


# --------------------------------------------------------------------------- check


def _norm(line: str) -> str:
    return " ".join(line.split())


def _nontrivial(line: str) -> bool:
    text = _norm(line)
    if not text or text in STUB_LINES or marker_of(text):
        return False
    if len(text.replace(" ", "")) < MIN_SECRET_CHARS:
        return False
    return not _TRIVIAL.match(text)


def secret_lines(source_notebook: os.PathLike | str | dict) -> dict[str, str]:
    """Non-trivial lines of a source notebook that must never reach students.

    Parameters
    ----------
    source_notebook : path-like or dict
        An nbgrader source notebook (path, or the parsed JSON / ``NotebookNode``).

    Returns
    -------
    dict
        Normalized line (whitespace collapsed) -> the ``grade_id`` (or cell number)
        of the cell it comes from. Lines that also appear outside the secret
        regions of the source (say, a function signature repeated in a visible
        test) are left out, as are nbgrader's stub lines and lines shorter than
        ``MIN_SECRET_CHARS`` non-blank characters.
    """
    nb = source_notebook
    if not isinstance(nb, dict):
        nb = json.loads(Path(nb).read_text(encoding="utf-8"))
    secrets: dict[str, str] = {}
    visible: set[str] = set()
    for index, cell in enumerate(nb.get("cells", [])):
        secret, shown = split_secret_lines(cell_source(cell), is_solution(cell))
        where = grade_id(cell) or f"cell {index}"
        visible.update(_norm(line) for line in shown)
        for line in secret:
            if _nontrivial(line):
                secrets.setdefault(_norm(line), where)
    return {line: where for line, where in secrets.items() if line not in visible}


@dataclass
class _Leak:
    file: str
    where: str
    what: str


def _exercise_lines(path: Path) -> list[tuple[str, str]]:
    """(location, line) pairs of a file in ``exercises/`` (cells for notebooks)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []
    if path.suffix != ".ipynb":
        return [(f"line {i + 1}", line) for i, line in enumerate(text.split("\n"))]
    try:
        nb = json.loads(text)
    except json.JSONDecodeError:
        return [(f"line {i + 1}", line) for i, line in enumerate(text.split("\n"))]
    out = []
    for index, cell in enumerate(nb.get("cells", [])):
        for line in cell_source(cell).split("\n"):
            out.append((f"cell {index}", line))
        for output in cell.get("outputs", []) or []:
            data = output.get("text") or output.get("data", {}).get("text/plain", "")
            data = "".join(data) if isinstance(data, list) else str(data)
            for line in data.split("\n"):
                out.append((f"cell {index} output", line))
    return out


def _scan_leaks(repo: Repo) -> list[_Leak]:
    """Markers anywhere in ``exercises/``; secret lines of ``solutions/<a>/`` in ``exercises/<a>/``."""
    leaks = []
    if not repo.exercises.is_dir():
        return leaks
    by_assignment: dict[str, dict[str, tuple[str, str]]] = {}
    for name in repo.assignments():
        secrets = by_assignment.setdefault(name, {})
        for src in repo.source_notebooks(name):
            for line, where in secret_lines(src).items():
                secrets.setdefault(line, (repo.rel(src), where))
    for path in sorted(p for p in repo.exercises.rglob("*") if p.is_file()):
        secrets = by_assignment.get(path.relative_to(repo.exercises).parts[0], {})
        for location, line in _exercise_lines(path):
            marker = marker_of(line)
            if marker:
                leaks.append(_Leak(repo.rel(path), location, f"the marker {marker!r} ({line.strip()!r})"))
                continue
            hit = secrets.get(_norm(line))
            if hit:
                src, where = hit
                leaks.append(_Leak(
                    repo.rel(path), location,
                    f"a line of hidden solution/test code from {src} ({where}): {line.strip()!r}",
                ))
    return leaks


def _describe_difference(expected: Path, actual: Path) -> str:
    try:
        a = json.loads(expected.read_text(encoding="utf-8"))
        b = json.loads(actual.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "its content differs"
    ca, cb = a.get("cells", []), b.get("cells", [])
    if len(ca) != len(cb):
        return f"it has {len(cb)} cells where the release has {len(ca)}"
    for index, (x, y) in enumerate(zip(ca, cb)):
        if x != y:
            what = [k for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
            if "outputs" in what or "execution_count" in what:
                return f"cell {index} carries outputs (committed notebooks must not)"
            return f"cell {index} differs ({', '.join(what)})"
    if a.get("metadata") != b.get("metadata"):
        return "its notebook metadata differs"
    return "its formatting differs (whitespace or key order)"


def _compare(repo: Repo, fresh: Path) -> list[str]:
    problems = []
    names = repo.assignments()
    for name in names:
        want_dir, have_dir = fresh / name, repo.exercises / name
        if not have_dir.is_dir():
            problems.append(f"{repo.rel(have_dir)}/ is missing")
            continue
        want = {p.relative_to(want_dir) for p in want_dir.rglob("*") if p.is_file()}
        have = {
            p.relative_to(have_dir)
            for p in have_dir.rglob("*")
            if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts
        }
        for rel in sorted(want - have):
            problems.append(f"{repo.rel(have_dir / rel)} is missing")
        for rel in sorted(have - want):
            problems.append(f"{repo.rel(have_dir / rel)} is not generated from solutions/{name}/ (stale or hand-made)")
        for rel in sorted(want & have):
            a, b = want_dir / rel, have_dir / rel
            if a.read_bytes() != b.read_bytes():
                problems.append(
                    f"{repo.rel(b)} is out of date with {repo.rel(repo.solutions / name / rel)}: "
                    f"{_describe_difference(a, b)}"
                )
    if repo.exercises.is_dir():
        for child in sorted(repo.exercises.iterdir()):
            if child.is_dir() and child.name not in names and not child.name.startswith("."):
                problems.append(f"{repo.rel(child)}/ has no source in solutions/ (stale)")
    return problems


def check(
    *, repo: Repo | os.PathLike | str | None = None, verbose: bool = False
) -> list[str]:
    """Problems with ``exercises/``: out of date, or leaking solutions/hidden tests.

    Parameters
    ----------
    repo : Repo or path-like, optional
        The repository (see :func:`autograder.layout.find_repo`).
    verbose : bool
        Print nbgrader's log.

    Returns
    -------
    list of str
        One message per problem; empty when ``exercises/`` is up to date and clean.
    """
    quiet(verbose)
    repo = _resolve(repo)
    names = repo.assignments()
    problems: list[str] = []
    if not names:
        problems.append(f"no assignments in {repo.rel(repo.solutions)}/")
        return problems
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as tmp:
        fresh = Path(tmp) / "exercises"
        _generate(repo, names, fresh, verbose)
        problems.extend(_compare(repo, fresh))
    for leak in _scan_leaks(repo):
        problems.append(f"{leak.file} ({leak.where}) contains {leak.what}")
    return problems
