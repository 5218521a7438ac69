"""The students' self-check: the grader's engine with the visible tests, cell by cell.

``python -m autograder validate exercises/schedules/schedules.ipynb`` runs the
notebook as the grader will run it and reports for every graded test cell: pass
or fail, the points at stake, and the test's message. Only visible tests run: the
hidden tests are added when the instructor grades, so passing here means "on the
right track", not full marks.

As the grader runs it:

- **Same engine.** :func:`autograder.engine.run.run_notebook`: the student's cells
  in a worker process, the tests in a separate checker process that calls the
  student's functions through a pipe (so monkeypatching numpy or ``builtins``, or
  exiting, crashing, looping forever in the student's code, does to the self-check
  exactly what it does to grading), with the grader's default limits (per cell:
  ``timeout``; memory, processes, output) unless given.
- **Same test cells.** The instructor's test cells are restored the way grading
  restores them (:func:`autograder.instructor.restore.restructure`) from the
  pristine *release* of the notebook when the self-check can find it: a copy
  shipped with the self-check (an assignment's download,
  ``autograder/releases/<notebook>.ipynb``, written by
  :mod:`autograder.student.bundle`), else ``exercises/<assignment>/<notebook>.ipynb``
  of the course repository the notebook lies in (a ``workspace/`` copy). So a test
  cell the student edited, emptied or deleted runs as released, as it will when
  graded, and the report says which cells were restored. When no release is found
  (a notebook moved out of the course's folders, or the release file itself is
  the one being checked), the student's copy is its own source and the report
  says that its test cells run as they are in the copy. The release holds no
  hidden tests; hidden-test regions in a copy used as its own source are dropped.
- **Same files.** The run happens in a temporary copy of the notebook's folder
  (the files the grader receives with a submission: everything but other
  notebooks and hidden or cache folders), so data files next to the notebook are
  there and the student's own files are never touched.
- **Same guard.** The modules the assignment forbids
  (``metadata.autograder.forbidden_modules`` of the release) are refused in every
  sandbox mode (:mod:`autograder.engine.guard`), so a notebook that imports the
  reference implementation fails here as it will fail grading.
- **Sandbox.** Bubblewrap when it is installed and works (``sandbox="auto"``);
  otherwise the run has no file or network isolation and the report says so in one
  line: the self-check runs only the student's own code on the student's own
  machine, so isolation protects nothing there; the verdicts are the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..layout import AutograderError
from ..notebook import STUB_ERROR, cell_kind, grade_id, hide_hidden_tests, points, vet_notebook

__all__ = ["CellCheck", "SelfCheck", "validate_notebook", "format_report", "find_release", "NO_SANDBOX"]

NOT_WRITTEN = "you have not written this part yet (a cell it needs still raises NotImplementedError)"
#: The last line when every visible test passes. The check above already ran the saved file top
#: to bottom in fresh processes, as the grader will, so there is no kernel left to restart: what
#: matters is that the file handed in is the one just checked.
ALL_PASS = ("All visible tests pass, with your saved notebook run top to bottom from a fresh start (as in a "
            "fresh kernel) as the grader will run it. Hand in this file; if you change it, save it and run "
            "this check again.")
#: The report's line when the run had no sandbox (``{why}``: bubblewrap missing or not working).
NO_SANDBOX = ("Ran without file or network isolation ({why}): fine for a self-check, which runs only your own "
              "code on your own machine; the verdicts are the grader's all the same (your code in its own "
              "process, the course's reference modules refused).")
#: Largest folder the self-check copies (files next to the notebook, as a submission would bring them).
MAX_COPY_FILES = 5000
MAX_COPY_MB = 512
_SKIP_PARTS = ("__pycache__", "__MACOSX")


@dataclass(frozen=True)
class CellCheck:
    """The outcome of one graded test cell."""

    grade_id: str
    points: float
    passed: bool
    message: str


class SelfCheck(list):
    """What :func:`validate_notebook` returns: a list of :class:`CellCheck`, one per graded test cell.

    Attributes
    ----------
    release : Path or None
        The release notebook the test cells came from; ``None`` when the student's copy was its own source.
    restored : list of str
        What was restored from the release (edited or deleted test cells...), in words.
    notes : list of str
        What the engine noted (time limits, crashes, memory).
    cell_errors : list of str
        The errors of the cells that are not tests (an answer cell raising, a refused
        import), ``"<cell>: <error>"``: what a failing test often comes from.
    mode : str or None
        The sandbox used: ``"bwrap"`` or ``"none"``.
    why_no_sandbox : str
        When ``mode`` is ``"none"``: why (bubblewrap missing, not working, or not asked for).
    """

    def __init__(self, checks=(), *, release=None, restored=(), notes=(), cell_errors=(), mode=None,
                 why_no_sandbox="", own_release=False):
        super().__init__(checks)
        self.cell_errors = list(cell_errors)
        self.release = release
        self.restored = list(restored)
        self.notes = list(notes)
        self.mode = mode
        self.why_no_sandbox = why_no_sandbox
        self.own_release = own_release


def _error_of(outputs) -> str | None:
    for out in outputs:
        if out.get("output_type") == "error":
            name, value = out.get("ename", "Error"), str(out.get("evalue", "")).strip()
            if name == STUB_ERROR:
                return NOT_WRITTEN
            if name == "StudentProcessStopped":
                return f"your code {value}" if value.startswith(("ran past", "broke", "lost")) else value
            if name == "NotRun":
                last = (out.get("traceback") or [""])[-1]
                return last.split("NotRun: ", 1)[-1] if value == "not run" else value
            return f"{name}: {value}" if value else name
    return None


def _test_ids(nb) -> set:
    return {grade_id(c) for c in nb.cells if cell_kind(c) == "test" and grade_id(c)}


def find_release(path: os.PathLike | str, student=None) -> Path | None:
    """The pristine release of the notebook at ``path``, or ``None``.

    Looked for, in order: next to the self-check (``autograder/releases/<name>.ipynb``
    in an assignment's download); in the course repository that holds the notebook
    (the first folder above it with ``exercises/``):
    ``exercises/<notebook's folder>/<name>.ipynb``, else the only
    ``exercises/*/<name>.ipynb``. A notebook whose file was renamed is matched with
    the release that shares the most graded test cells (``grade_id``) with it.

    Parameters
    ----------
    path : path-like
        The student's notebook.
    student : nbformat.NotebookNode, optional
        Its content (read from ``path`` when omitted), to match a renamed file.

    Returns
    -------
    Path or None
    """
    import nbformat

    path = Path(path).resolve()
    shipped = Path(__file__).resolve().parent.parent / "releases"
    folders = [shipped] if shipped.is_dir() else []
    for parent in path.parents:
        if (parent / "exercises").is_dir():
            folders.append(parent / "exercises")
            break
    for folder in folders:
        for candidate in (folder / path.name, folder / path.parent.name / path.name):
            if candidate.is_file():
                return candidate
        anywhere = sorted(folder.glob(f"*/{path.name}"))
        if len(anywhere) == 1:
            return anywhere[0]
    if student is None:
        student = nbformat.read(path, as_version=4)
    mine = _test_ids(student)
    best, overlap = None, 0
    for folder in folders:
        for candidate in sorted(folder.glob("*.ipynb")) + sorted(folder.glob("*/*.ipynb")):
            try:
                shared = len(mine & _test_ids(nbformat.read(candidate, as_version=4)))
            except Exception:  # noqa: BLE001 - not a notebook we can read: not the release
                continue
            if shared > overlap:
                best, overlap = candidate, shared
    return best


def _copy_folder(src: Path, dest: Path) -> None:
    """Copy what a submission of ``src`` would bring: every file but notebooks, hidden and cache folders."""
    files, size = [], 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_PARTS)
        for name in sorted(filenames):
            item = Path(dirpath, name)
            if name.startswith(".") or item.suffix == ".ipynb" or not item.is_file():
                continue
            files.append(item)
            size += item.stat().st_size
            if len(files) > MAX_COPY_FILES or size > MAX_COPY_MB * 1024**2:
                raise AutograderError(
                    f"the folder of your notebook, {src}, holds more than {MAX_COPY_FILES} files or "
                    f"{MAX_COPY_MB} MB: the self-check runs in a copy of it, as the grader receives a "
                    "submission; move the notebook (and the data files it reads) into a folder of its own"
                )
    for item in files:
        target = dest / item.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item, target)


def _with_answers(release, nb):
    """The release, each answer cell followed by the student's answer: the engine's *source*.

    The engine fetches from the student's process the names the source's answer cells
    bind (:func:`autograder.notebook.expected_names`). The instructor's source binds
    them all; the release does too when its answer cells keep the ``def`` line, but an
    answer cell that was a solution from top to bottom is released as a bare stub
    (``raise NotImplementedError()``) that binds nothing. So the names are those of the
    release's cell and of the student's answer together; the roles, the cells and the
    forbidden modules stay the release's.
    """
    import ast
    import copy

    answers = {grade_id(c): c.get("source", "") for c in nb.cells if cell_kind(c) == "solution" and grade_id(c)}
    source = copy.deepcopy(release)
    for cell in source.cells:
        answer = answers.get(grade_id(cell)) if cell_kind(cell) == "solution" else None
        if not answer or cell.get("cell_type") != "code":
            continue
        both = cell.get("source", "") + "\n\n" + answer
        try:
            ast.parse(both)
        except SyntaxError:
            continue  # an answer that does not parse defines nothing in the worker either
        cell.source = both
    return source


def _bwrap_problem() -> str | None:
    """Why bubblewrap cannot make the worker's sandbox here, or ``None`` when it can."""
    from ..engine.sandbox import bwrap_path

    bwrap = bwrap_path()
    if bwrap is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--die-with-parent", "--ro-bind", "/", "/",
            "--proc", "/proc", "--dev", "/dev"]
    if os.geteuid() != 0:
        argv.insert(1, "--unshare-user")
    try:
        probe = subprocess.run([*argv, "--", sys.executable, "-c", "pass"], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap is installed but could not start ({exc})"
    if probe.returncode != 0:
        first = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[0]
        return f"bubblewrap is installed but cannot make a sandbox here: {first}"
    return None


def validate_notebook(path: os.PathLike | str, timeout: float = 120.0, *, sandbox: str = "auto",
                      **limits) -> SelfCheck:
    """Run ``path`` as the grader will, with the visible tests, and check each graded test cell.

    Parameters
    ----------
    path : path-like
        A student notebook (``.ipynb``).
    timeout : float
        Per-cell time limit in seconds; a cell past it is stopped and fails.
    sandbox : {"auto", "bwrap", "none"}
        Where the student's code runs: ``auto`` uses bubblewrap when it is installed and
        works here, else runs without isolation (the report says so). Forbidden modules
        are refused in every mode.
    **limits
        ``submission_timeout``, ``memory_mb``, ``max_processes``, ``max_file_mb``,
        ``max_output_bytes``, ``max_output_lines``: as for grading
        (:class:`autograder.engine.run.Limits`, whose defaults the grader uses).

    Returns
    -------
    SelfCheck
        A list with one :class:`CellCheck` per graded test cell, in notebook order,
        and what the run noted.

    Raises
    ------
    AutograderError
        If the file is missing or unreadable, has no graded test cells, a limit is
        not valid, or ``sandbox="bwrap"`` and bubblewrap cannot run here.
    """
    import nbformat

    from ..engine.run import Limits, run_notebook
    from ..engine.sandbox import SANDBOX_MODES, SandboxConfig
    from ..instructor.restore import restructure

    path = Path(path)
    if not path.is_file():
        raise AutograderError(f"{path} does not exist: give the path of your .ipynb file, "
                              "e.g. exercises/schedules/schedules.ipynb")
    problem = vet_notebook(path)
    if problem:
        raise AutograderError(problem.replace("; graded as 0", ""))
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise AutograderError(f"timeout must be a positive number of seconds, got timeout={timeout!r}")
    if sandbox not in SANDBOX_MODES:
        raise AutograderError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}, got sandbox={sandbox!r}")
    try:
        limits = Limits(timeout=float(timeout), sandbox=sandbox, **limits)
        SandboxConfig(mode=sandbox, memory_mb=limits.memory_mb, max_processes=limits.max_processes,
                      max_file_mb=limits.max_file_mb)
    except (TypeError, ValueError) as exc:
        raise AutograderError(f"a limit of the self-check is not valid: {exc}") from None
    student = nbformat.read(path, as_version=4)

    release_path = find_release(path, student)
    own = release_path is not None and release_path.resolve() == path.resolve()
    if release_path is not None and not own:
        release = nbformat.read(release_path, as_version=4)
        nb, restored = restructure(student, release)
        source = _with_answers(release, nb)
    else:
        source = student
        for cell in source.cells:
            if cell.get("cell_type") == "code" and cell_kind(cell) == "test":
                cell.source = hide_hidden_tests(cell.source)
        nb, restored = source, []
    graded = [i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and cell_kind(c) == "test"]
    if not graded:
        raise AutograderError(f"{path} has no graded test cells: is it one of the course's assignment notebooks?")

    why = ""
    mode = sandbox
    if sandbox == "none":
        why = "asked for with sandbox='none'"
    else:
        problem = _bwrap_problem()
        if problem and sandbox == "bwrap":
            raise AutograderError(f"sandbox='bwrap' but {problem}; or check with sandbox='auto'")
        if problem:
            mode, why = "none", problem
        else:
            mode = "bwrap"
    limits = Limits(**{**limits.to_dict(), "sandbox": mode})

    with tempfile.TemporaryDirectory(prefix="autograder-validate-", ignore_cleanup_errors=True) as tmp:
        workdir = Path(tmp) / (path.resolve().parent.name or "submission")
        workdir.mkdir()
        _copy_folder(path.resolve().parent, workdir)
        nbformat.write(nb, os.fspath(workdir / path.name))
        run = run_notebook(nb, source, workdir, limits, label=path.name)

    cell_errors, code = [], 0
    for i, (cell, role) in enumerate(zip(nb.cells, run.roles)):
        code += cell.get("cell_type") == "code"
        error = _error_of(run.outputs.get(i, [])) if role in ("student", "shared", "checker") else None
        if error and error != NOT_WRITTEN:
            cell_errors.append(f"{grade_id(cell) or f'code cell {code}'}: {error.splitlines()[0][:300]}")
    checks = []
    for i in graded:
        error = _error_of(run.outputs.get(i, []))
        checks.append(CellCheck(grade_id(nb.cells[i]) or "?", points(nb.cells[i]), error is None, error or ""))
    return SelfCheck(checks, release=None if own else release_path, restored=[str(n) for n in restored],
                     notes=run.notes, cell_errors=cell_errors, mode=run.mode or mode, why_no_sandbox=why, own_release=own)


def format_report(path, checks: list[CellCheck]) -> str:
    """A plain-words report: how it ran, one line per test cell, then a total."""
    width = max(len(c.grade_id) for c in checks)
    lines = [f"Self-check of {path} (visible tests only; hidden tests run when your instructor grades)"]
    release = getattr(checks, "release", None)
    if release is not None:
        lines.append(f"Test cells as released ({release}), run the way the grader runs them.")
    elif getattr(checks, "own_release", False):
        lines.append("This file is the release itself: its test cells run as they are in it (the grader uses "
                     "the instructor's).")
    elif isinstance(checks, SelfCheck):
        lines.append("No release of this notebook found (next to the self-check or in the course's exercises/ "
                     "folder): its test cells run as they are in your copy; the grader uses the instructor's.")
    for change in getattr(checks, "restored", []):
        lines.append(f"As the grader will see it: {change}")
    if getattr(checks, "mode", None) == "none":
        lines.append(NO_SANDBOX.format(why=getattr(checks, "why_no_sandbox", "") or "no sandbox"))
    lines.append("")
    for c in checks:
        status = "PASS" if c.passed else "FAIL"
        pts = f"{c.points:g} pt" + ("" if c.points == 1 else "s")
        line = f"  {status}  {c.grade_id:<{width}}  {pts:>7}"
        lines.append(line + (f"  {c.message}" if c.message else ""))
    errors = getattr(checks, "cell_errors", [])
    if errors and not all(c.passed for c in checks):
        lines += ["", "Errors in cells that are not tests (a failing test often comes from one of these):"]
        lines += [f"  - {e}" for e in errors]
    notes = getattr(checks, "notes", [])
    if notes:
        lines += ["", "What happened on the way:"] + [f"  - {n}" for n in notes]
    passed = [c for c in checks if c.passed]
    total = sum(c.points for c in checks)
    got = sum(c.points for c in passed)
    lines += ["", f"{len(passed)} of {len(checks)} test cells pass their visible tests "
                  f"({got:g} of {total:g} points at stake)."]
    if len(passed) == len(checks):
        lines.append(ALL_PASS)
    else:
        lines.append("Fix the FAIL lines from the top: a later cell often fails because an earlier one does.")
    return "\n".join(lines)
