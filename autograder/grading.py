"""Grade a folder of submissions with nbgrader, export the grades, write feedback.

One *submission* is one student's folder for one assignment. Grading it means:
vet every expected notebook (empty, invalid JSON, missing...), copy the readable
ones into ``<course>/submitted/<student>/<assignment>/``, and run nbgrader's
``autograde`` (force, create students). A submission that cannot be run still
gets a gradebook entry with every grade set to 0 and a note saying why, and the
batch goes on. Notes live in the gradebook database, table ``autograder_notes``;
the late, review and integrity marks in ``autograder_flags`` (nbgrader's own
tables are not changed).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ._nbgrader import explain_failure, gradebook_lock, make_api, quiet, skip_slow_optional_imports
from .layout import AutograderError, Course, Repo, find_repo, name_problem, open_course
from .restructure import restructure
from .sandbox import SandboxConfig, resolve_mode
from .submissions import Submission, discover, extract_zip, vet_notebook, write_submission

__all__ = [
    "GradeResult",
    "grade_submissions",
    "grade_notebook",
    "export_grades",
    "generate_feedback",
    "format_table",
    "DEFAULT_TIMEOUT",
    "DEFAULT_SUBMISSION_TIMEOUT",
    "CSV_COLUMNS",
    "EXPORT_FORMATS",
]

#: Default per-cell execution limit in seconds.
DEFAULT_TIMEOUT = 60
#: Default limit for one notebook as a whole, in seconds.
DEFAULT_SUBMISSION_TIMEOUT = 900
#: Columns of the exported CSV, in order.
CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "late", "review", "integrity", "note")
#: The export's shapes: one row per (student, assignment), one row per student, Canvas's gradebook import.
EXPORT_FORMATS = ("rows", "wide", "canvas")


@dataclass
class GradeResult:
    """The outcome for one (student, assignment).

    Attributes
    ----------
    student_id, assignment : str
    score : float
        Points earned (0 when the submission could not be graded).
    max_score : float or None
        Points available (``None`` for an assignment the repository does not have).
    status : str
        ``"graded"`` (nbgrader ran it; the score may be 0), ``"failed"`` (nothing
        could be run: every notebook unreadable, kernel death...; score 0),
        ``"skipped"`` (unknown assignment or unusable student id), or, in exports,
        ``"missing"`` (no submission from this student).
    note : str
        What went wrong and what to do; empty when nothing did.
    seconds : float
        Wall time spent grading it.
    late : bool
        The learning-management system marked the submission late (Canvas).
    review : str
        Why an instructor should look at it before the grade counts (several
        copies were handed in: which one was graded), or ``""``.
    integrity : str
        The course's reference modules the submission tried to import, and in
        which cells (``"lrlab.nqm in cell 'double'"``), or ``""``.
    lms_id : str
        The student's id in the learning-management system (Canvas's user id), or ``""``.
    """

    student_id: str
    assignment: str
    score: float
    max_score: float | None
    status: str
    note: str = ""
    seconds: float = 0.0
    late: bool = False
    review: str = ""
    integrity: str = ""
    lms_id: str = ""

    def row(self) -> dict:
        """The CSV row (see :data:`CSV_COLUMNS`)."""
        return {
            "student_id": self.student_id,
            "assignment": self.assignment,
            "score": _fmt(self.score),
            "max_score": "" if self.max_score is None else _fmt(self.max_score),
            "status": self.status,
            "late": "late" if self.late else "",
            "review": self.review,
            "integrity": self.integrity,
            "note": self.note,
        }

    def flags(self) -> str:
        """The late, review and integrity marks in one phrase (the ``flags`` column of :func:`format_table`)."""
        return "; ".join(x for x in (
            "late" if self.late else "",
            f"review: {self.review}" if self.review else "",
            f"integrity: {self.integrity}" if self.integrity else "",
        ) if x)

    def info(self) -> dict:
        """What the gradebook keeps of it besides the grades (see :func:`_save_notes`)."""
        return {"status": self.status, "note": self.note, "late": self.late, "review": self.review,
                "integrity": self.integrity, "lms_id": self.lms_id}


def _fmt(x: float) -> str:
    return repr(round(float(x), 6))


# --------------------------------------------------------------------------- helpers


def _gradebook(course: Course):
    from nbgrader.api import Gradebook

    return Gradebook(course.db_url)


_NOTES_TABLE = "autograder_notes"
#: The late/review/integrity marks: a table of their own, so that gradebooks made before it need no migration.
_FLAGS_TABLE = "autograder_flags"
_FLAGS = ("late", "review", "integrity", "lms_id")


def _notes_table():
    from sqlalchemy import Column, MetaData, String, Table, Text

    meta = MetaData()
    table = Table(
        _NOTES_TABLE, meta,
        Column("student_id", String(255), primary_key=True),
        Column("assignment", String(255), primary_key=True),
        Column("status", String(32), nullable=False),
        Column("note", Text, nullable=False),
    )
    return meta, table


def _flags_table(meta):
    from sqlalchemy import Boolean, Column, String, Table, Text

    return Table(
        _FLAGS_TABLE, meta,
        Column("student_id", String(255), primary_key=True),
        Column("assignment", String(255), primary_key=True),
        Column("late", Boolean, nullable=False, default=False),
        Column("review", Text, nullable=False, default=""),
        Column("integrity", Text, nullable=False, default=""),
        Column("lms_id", String(255), nullable=False, default=""),
    )


def _notes_engine(course: Course):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(course.db_url, poolclass=NullPool)


def _load_notes(course: Course) -> dict:
    """``{"student/assignment": {"status", "note", "late", "review", "integrity", "lms_id"}}`` from the gradebook.

    The notes (tables ``autograder_notes`` and ``autograder_flags``) live in the
    gradebook database itself, so that graders sharing a PostgreSQL gradebook see
    each other's notes.
    """
    from sqlalchemy import inspect, select

    engine = _notes_engine(course)
    try:
        if not inspect(engine).has_table(_NOTES_TABLE):
            return {}
        meta, table = _notes_table()
        flags = _flags_table(meta)
        with engine.connect() as conn:
            rows = conn.execute(select(table)).all()
            marks = conn.execute(select(flags)).all() if inspect(engine).has_table(_FLAGS_TABLE) else []
        notes = {f"{r.student_id}/{r.assignment}": {"status": r.status, "note": r.note} for r in rows}
        for r in marks:
            key = f"{r.student_id}/{r.assignment}"
            if key in notes:
                notes[key].update({name: getattr(r, name) for name in _FLAGS})
        return notes
    finally:
        engine.dispose()


def _save_notes(course: Course, updates: dict) -> None:
    """Upsert ``updates`` (as returned by :func:`_load_notes`) into the gradebook."""
    from sqlalchemy import delete

    meta, table = _notes_table()
    flags = _flags_table(meta)
    engine = _notes_engine(course)
    try:
        meta.create_all(engine, checkfirst=True)
        with engine.begin() as conn:
            for key, info in updates.items():
                student, _, assignment = key.partition("/")
                conn.execute(delete(table).where(table.c.student_id == student, table.c.assignment == assignment))
                conn.execute(table.insert().values(student_id=student, assignment=assignment,
                                                   status=info["status"], note=info["note"]))
                conn.execute(delete(flags).where(flags.c.student_id == student, flags.c.assignment == assignment))
                conn.execute(flags.insert().values(
                    student_id=student, assignment=assignment, late=bool(info.get("late", False)),
                    **{name: str(info.get(name) or "") for name in _FLAGS if name != "late"}))
    finally:
        engine.dispose()


def _rmtree(path: Path) -> None:
    """Remove a folder nbgrader made read-only (files 444)."""
    def onerror(func, p, _exc):
        os.chmod(p, 0o700 if os.path.isdir(p) else 0o600)
        func(p)

    if path.exists():
        shutil.rmtree(path, onerror=onerror)


def _prepare_assignments(course: Course, assignments: list[str], verbose: bool) -> None:
    """Record the sources (with hidden tests) in the gradebook: generate_assignment."""
    with gradebook_lock(course):
        _generate_assignments(course, assignments, verbose)


def _generate_assignments(course: Course, assignments: list[str], verbose: bool) -> None:
    api = make_api(course)
    for name in assignments:
        result = api.generate_assignment(name, force=True, create=True)
        if verbose and result.get("log"):
            print(result["log"], file=sys.stderr, end="")
        if not result["success"]:
            reason = explain_failure(result)
            hint = "fix the source notebook"
            if "submissions associated" in reason:
                hint = (
                    f"the graded cells of solutions/{name}/ changed after submissions were graded in "
                    f"{course.root}; grade into a fresh --course-dir (or delete its gradebook to start over)"
                )
            raise AutograderError(f"could not load assignment {name!r} into the gradebook: {reason}; {hint}")


def _rebuild(path: Path, source_path: Path):
    """The submission's answers on the source's skeleton (see :mod:`autograder.restructure`)."""
    import nbformat

    student = nbformat.read(os.fspath(path), as_version=4)
    source = nbformat.read(os.fspath(source_path), as_version=4)
    return restructure(student, source)


def _stage(course: Course, sub: Submission) -> tuple[int, list[str]]:
    """Copy the readable files of ``sub`` into submitted/; return (notebooks copied, notes)."""
    repo = course.repo
    dest = course.path("submitted", sub.student_id, sub.assignment)
    _rmtree(dest)
    dest.mkdir(parents=True)
    expected = repo.notebook_names(sub.assignment)
    present = {p.stem: p for p in sorted(sub.folder.glob("*.ipynb")) if p.is_file()}
    extras = sorted(set(present) - set(expected))

    def visible(pattern: str) -> list[Path]:
        return [p for p in sorted(sub.folder.rglob(pattern))
                if p.is_file() and not any(part.startswith(".") or part in ("__MACOSX", "__pycache__")
                                           for part in p.relative_to(sub.folder).parts)]

    def found_at(path: Path) -> str:
        return sub.shown(path.relative_to(sub.folder).as_posix())

    paths: dict[str, Path | None] = {}
    notes, copied = [], 0
    for name in expected:
        path = present.get(name)
        if path is None:
            deeper = visible(name + ".ipynb")
            if deeper:
                path = deeper[0]
                notes.append(f"{sub.shown(name + '.ipynb')} was found at {found_at(path)}: graded from there")
        paths[name] = path
    missing = [name for name, path in paths.items() if path is None]
    # One notebook missing and one other notebook there (renamed: schedules-final.ipynb, a Canvas
    # resubmission): that is the student's notebook.
    others = [present[e] for e in extras] or [p for p in visible("*.ipynb") if p.stem not in expected]
    if len(missing) == 1 and len(others) == 1:
        paths[missing[0]] = others[0]
        notes.append(f"{found_at(others[0])} was graded as {missing[0]}.ipynb: it is the only notebook there "
                     f"and {missing[0]}.ipynb is missing; name it {missing[0]}.ipynb next time")
        missing = []
    for name in expected:
        shown = sub.shown(name + ".ipynb")
        path = paths[name]
        if path is None:
            instead = [p for p in visible("*") if p.suffix != ".ipynb"]
            if extras:
                hint = f" (found {', '.join(e + '.ipynb' for e in extras)}: rename it to {name}.ipynb)"
            elif instead and not any(paths.values()):
                listed = ", ".join(found_at(p) for p in instead[:5]) + (", ..." if len(instead) > 5 else "")
                hint = f" (found {listed} instead: submit the notebook itself, {name}.ipynb)"
            else:
                hint = ": submit the notebook under its original name"
            notes.append(f"{shown} is missing{hint}; graded as 0")
            continue
        shown = found_at(path)
        problem = vet_notebook(path, shown)
        if problem:
            notes.append(problem)
            continue
        try:
            rebuilt, changes = _rebuild(path, repo.solutions / sub.assignment / (name + ".ipynb"))
        except Exception as exc:  # noqa: BLE001 - vetting passed, but the cells are unusable
            notes.append(f"{shown}: its cells could not be read ({type(exc).__name__}: {exc}); graded as 0")
            continue
        notes.extend(f"{shown}: {change}" for change in changes)
        import nbformat

        nbformat.write(rebuilt, os.fspath(dest / (name + ".ipynb")))
        copied += 1
    for extra in sorted(sub.folder.rglob("*")):
        rel = extra.relative_to(sub.folder)
        if extra.is_file() and extra.suffix != ".ipynb" and not any(
            part.startswith(".") or part in ("__pycache__", "__MACOSX") for part in rel.parts
        ):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(extra, dest / rel)
    return copied, notes


def _autograde_job(job: dict) -> dict:
    """Run nbgrader autograde for one submission (in this process or a worker)."""
    start = time.perf_counter()
    try:
        quiet(job["verbose"])
        course = Course(repo=Repo(Path(job["repo"])), root=Path(job["course"]), db_url=job["db_url"])
        api = make_api(course, timeout=job["timeout"], execute=job["execute"])
        result = api.autograde(job["assignment"], job["student_id"], force=True, create=True)
    except Exception as exc:  # noqa: BLE001 - reported as a failed submission
        import traceback

        result = {"success": False, "error": traceback.format_exc(), "log": f"{type(exc).__name__}: {exc}"}
    result["key"] = job["key"]
    result["seconds"] = time.perf_counter() - start
    return result


def _failure_note(result: dict, display: str) -> str:
    """The note of a submission nbgrader itself could not process (its cells were not graded)."""
    return (
        f"{display}: nbgrader could not grade it ({explain_failure(result)}); graded as 0. "
        "Rerun with --verbose to see nbgrader's log"
    )


def _run_notes(course: Course, sub: Submission) -> list[str]:
    """What the checker reported (time limits, crashes, memory) for each notebook of ``sub``."""
    notes = []
    folder = course.root / "runs" / sub.student_id / sub.assignment
    for path in sorted(folder.glob("*.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        notes.extend(f"{sub.shown(path.stem + '.ipynb')}: {n}" for n in report.get("notes", []))
    return notes


def _zero_grades(course: Course, assignment: str, student_id: str) -> None:
    """Make sure the submission exists in the gradebook with every automatic grade 0."""
    from nbgrader.api import MissingEntry

    with _gradebook(course) as gb:
        gb.update_or_create_student(student_id)
        try:
            sub = gb.find_submission(assignment, student_id)
        except MissingEntry:
            sub = gb.add_submission(assignment, student_id)
        for notebook in sub.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _scores(course: Course, assignment: str, student_id: str) -> tuple[float, float]:
    with _gradebook(course) as gb:
        sub = gb.find_submission(assignment, student_id)
        return float(sub.score), float(sub.max_score)


def _max_score(course: Course, assignment: str) -> float | None:
    from nbgrader.api import MissingEntry

    with _gradebook(course) as gb:
        try:
            return float(gb.find_assignment(assignment).max_score)
        except MissingEntry:
            return None


def _display_root(path: Path) -> str:
    """How notes name the submissions folder (or zip) the instructor passed.

    As typed when it lies under the current folder (``submissions/``); otherwise
    (an absolute path, or one that climbs with ``..``) by its own name, so that a
    note never holds ``../`` or the instructor's home folder.
    """
    text = os.path.normpath(os.fspath(path))
    if os.path.isabs(text) or text == os.curdir or text.split(os.sep)[0] == os.pardir:
        return Path(os.path.abspath(text)).name or text
    return text


def _marks(sub: Submission) -> dict:
    """The marks a submission carries from discovery into its result."""
    return {"late": sub.late, "review": sub.review, "lms_id": sub.lms_id}


#: What the sandbox's stand-in for a forbidden module says (autograder/sandbox.py, _STUB).
_REFERENCE_SAYS = re.compile(r"(lrlab(?:\.\w+)+) is the course's reference implementation")


def _integrity(course: Course, sub: Submission) -> str:
    """The reference modules a graded submission reached for, and where: ``"lrlab.nqm in cell 'double'"``.

    Two signs, both recorded: a graded cell whose output shows the ImportError of
    the sandbox's stand-in (see :mod:`autograder.sandbox`), and a solution cell that
    imports one of the source notebook's ``metadata.autograder.forbidden_modules``
    or names it or its file in a string (``"lrlab/nqm.py"``, for loading it by
    path); found without running anything, so also under ``--sandbox none``.
    """
    import nbformat

    from .execute import forbidden_modules

    hits: dict[str, list[str]] = {}

    def hit(module: str, cell: str) -> None:
        cells = hits.setdefault(module, [])
        if cell not in cells:
            cells.append(cell)

    graded = course.root / "autograded" / sub.student_id / sub.assignment
    for path in sorted(graded.glob("*.ipynb")):
        try:
            nb = nbformat.read(os.fspath(path), as_version=4)
            source = nbformat.read(os.fspath(course.repo.solutions / sub.assignment / path.name), as_version=4)
        except Exception:  # noqa: BLE001 - nothing to scan
            continue
        forbidden = forbidden_modules(source)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if not gid or cell.get("cell_type") != "code":
                continue
            for output in cell.get("outputs", []):
                text = " ".join([str(output.get("evalue", "")), str(output.get("text", "")),
                                 *map(str, output.get("traceback", []))])
                for module in _REFERENCE_SAYS.findall(text):
                    hit(module, gid)
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                imported, texts = _imported(cell.source)
                for name in forbidden:
                    if any(module == name or module.startswith(name + ".") for module in imported) or any(
                        _names_module(text, name) for text in texts
                    ):
                        hit(name, gid)
    return "; ".join(
        f"{module} in cell{'s' if len(cells) > 1 else ''} {', '.join(repr(c) for c in cells)}"
        for module, cells in sorted(hits.items())
    )


def _names_module(text: str, module: str) -> bool:
    """Whether a string names ``module`` (``lrlab.nqm``) or its file (``nqm.py``, ``nqm*.pyc``)."""
    short = re.escape(module.rsplit(".", 1)[-1])
    return module in text or module.replace(".", "/") in text or bool(
        re.search(rf"(?:^|[/\\])" + short + r"[\w*.-]*\.pyc?$", text))


def _imported(source: str) -> tuple[set[str], list[str]]:
    """(modules a code cell imports, its string constants).

    ``import a.b``, ``from a.b import c``, ``from a import b`` (``a.b``),
    ``importlib.import_module("a.b")`` and ``__import__("a.b")`` count as imports.
    """
    import ast

    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set(re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, flags=re.M)), []
    found = set()
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(
            node.args[0].value, str
        ) and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"):
            found.add(node.args[0].value)
    return found, texts


# --------------------------------------------------------------------------- grade


@contextlib.contextmanager
def _submissions_folder(path: Path):
    if path.is_dir():
        yield path
        return
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="autograder-zip-") as tmp:
            yield extract_zip(path, tmp)
        return
    if path.is_file():
        raise AutograderError(
            f"submissions={os.fspath(path)!r} is a file but not a zip archive: pass a folder laid out "
            "<student_id>/<assignment>/<notebook>.ipynb or a .zip of one"
        )
    raise AutograderError(f"submissions={os.fspath(path)!r} does not exist: check the path")


def grade_submissions(
    submissions: os.PathLike | str,
    *,
    repo: Repo | os.PathLike | str | None = None,
    course_dir: os.PathLike | str | None = None,
    db: str | None = None,
    assignment: str | None = None,
    jobs: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    submission_timeout: float = DEFAULT_SUBMISSION_TIMEOUT,
    sandbox: str = "auto",
    memory_mb: int = 4096,
    max_processes: int = 256,
    verbose: bool = False,
    progress: bool = True,
) -> list[GradeResult]:
    """Autograde every submission in a folder (or ``.zip``) with nbgrader.

    Parameters
    ----------
    submissions : path-like
        A folder laid out ``<student_id>/<assignment>/<notebook>.ipynb``, or a
        ``.zip`` of one (unpacked safely into a temporary folder).
    repo : Repo or path-like, optional
        The repository with ``solutions/`` (see :func:`autograder.layout.find_repo`).
    course_dir : path-like, optional
        The course directory; default ``<repo>/.course``.
    db : str, optional
        Gradebook URL; default ``sqlite:///<course_dir>/gradebook.db``.
    assignment : str, optional
        Grade only this assignment.
    jobs : int
        Submissions graded at once (worker processes).
    timeout : float
        Per-cell execution limit in seconds.
    submission_timeout : float
        Limit for one notebook as a whole, in seconds.
    sandbox : {"auto", "bwrap", "none"}
        Where the student's code runs (see :mod:`autograder.sandbox`); ``auto`` uses
        bubblewrap when installed and warns when it is not.
    memory_mb, max_processes : int
        Limits of the student's process (address space in MiB; processes and threads).
    verbose : bool
        Show nbgrader's log.
    progress : bool
        Show a progress bar (one tick per submission) on stderr.

    Returns
    -------
    list of GradeResult
        One per submission found, sorted by student then assignment.

    Raises
    ------
    AutograderError
        If the tool itself cannot run: bad arguments, no submissions found, an
        assignment that nbgrader cannot load. Bad submissions never raise.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise AutograderError(f"jobs must be a positive integer, got jobs={jobs!r}")
    for label, value in (("timeout", timeout), ("submission_timeout", submission_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise AutograderError(f"{label} must be a positive number of seconds, got {label}={value!r}")
    try:
        config = SandboxConfig(mode=sandbox, memory_mb=memory_mb, max_processes=max_processes)
        mode = resolve_mode(config)
    except (ValueError, RuntimeError) as exc:
        raise AutograderError(str(exc)) from None
    if mode == "none" and sandbox == "auto" and progress:
        print(
            "warning: bubblewrap is not installed, so student code runs without file and network isolation "
            "(limits and the separate test process still apply); install it (Debian: apt-get install "
            "bubblewrap) or pass --sandbox none to silence this",
            file=sys.stderr,
        )
    execute = {"submission_timeout": float(submission_timeout), "sandbox": sandbox,
               "memory_mb": memory_mb, "max_processes": max_processes}
    path = Path(submissions)
    given = os.fspath(submissions)
    if not path.exists():
        raise AutograderError(f"submissions={given!r} does not exist: check the path")
    display = _display_root(path)
    course = open_course(repo, course_dir, db)
    repo = course.repo
    inbox = (course.root / "submitted").resolve()
    if path.resolve() == inbox or inbox in path.resolve().parents:
        raise AutograderError(
            f"submissions={given!r} is inside {inbox}, the folder grading rewrites: copy the "
            "submissions elsewhere first, or grade into another --course-dir"
        )
    quiet(verbose)
    known = repo.assignments()
    if assignment is not None:
        repo.check_assignment(assignment)

    with _submissions_folder(path) as folder:
        found = discover(folder, display, known, assignment=assignment,
                         notebooks={name: repo.notebook_names(name) for name in known})
        if assignment is not None:
            found = [s for s in found if s.assignment == assignment]
        if not found:
            what = f" for assignment {assignment!r}" if assignment else ""
            raise AutograderError(
                f"found no submissions{what} in {given}: expected folders laid out "
                "<student_id>/<assignment>/<notebook>.ipynb (assignments: " + (", ".join(known) or "none") + ")"
            )
        results: dict[str, GradeResult] = {}
        runnable: list[tuple[Submission, list[str]]] = []
        staged = []
        for sub in found:
            key = f"{sub.student_id}/{sub.assignment}"
            before = "".join(problem + "; " for problem in sub.problems)
            if sub.assignment not in known:
                results[key] = GradeResult(
                    sub.student_id, sub.assignment, 0.0, None, "skipped",
                    before + f"{sub.display}: there is no assignment {sub.assignment!r} in solutions/ "
                    f"(known: {', '.join(known) or 'none'}); rename the folder and regrade", **_marks(sub),
                )
            elif (why := name_problem(sub.student_id)) is not None:
                results[key] = GradeResult(
                    sub.student_id, sub.assignment, 0.0, None, "skipped",
                    before + f"{sub.display}: the student id {sub.student_id!r} {why}; rename the folder "
                    "and regrade", **_marks(sub),
                )
            else:
                staged.append(sub)
        course.root.mkdir(parents=True, exist_ok=True)
        if staged:
            _prepare_assignments(course, sorted({s.assignment for s in staged}), verbose)
        for sub in staged:
            key = f"{sub.student_id}/{sub.assignment}"
            copied, notes = _stage(course, sub)
            if sub.problems and not copied and not any(sub.folder.iterdir()):
                notes = []  # nothing could be unpacked: the problems say why
            notes = sub.problems + notes
            if copied:
                runnable.append((sub, notes))
            else:
                _zero_grades(course, sub.assignment, sub.student_id)
                results[key] = GradeResult(
                    sub.student_id, sub.assignment, 0.0, _max_score(course, sub.assignment), "failed",
                    "; ".join(notes) or f"{sub.display}: no notebook to grade; graded as 0", **_marks(sub),
                )

    jobs_list = [
        {
            "key": f"{sub.student_id}/{sub.assignment}",
            "student_id": sub.student_id,
            "assignment": sub.assignment,
            "repo": os.fspath(repo.root),
            "course": os.fspath(course.root),
            "db_url": course.db_url,
            "timeout": timeout,
            "execute": execute,
            "verbose": verbose,
        }
        for sub, _ in runnable
    ]
    by_key = {f"{sub.student_id}/{sub.assignment}": (sub, notes) for sub, notes in runnable}

    from tqdm import tqdm

    bar = tqdm(
        total=len(found), desc="grading", unit="submission", file=sys.stderr,
        disable=not progress, dynamic_ncols=True,
    )
    for _ in results:  # the skipped and unreadable ones are done already
        bar.update(1)
    if results:
        _save_notes(course, {k: r.info() for k, r in results.items()})

    def finish(outcome: dict) -> None:
        sub, notes = by_key[outcome["key"]]
        if verbose and outcome.get("log"):
            bar.write(f"--- nbgrader log for {outcome['key']} ---\n{outcome['log']}", file=sys.stderr)
        integrity = ""
        if outcome.get("success"):
            score, max_score = _scores(course, sub.assignment, sub.student_id)
            notes = notes + _run_notes(course, sub)
            status = "graded"
            integrity = _integrity(course, sub)
        else:
            _zero_grades(course, sub.assignment, sub.student_id)
            score, max_score = 0.0, _max_score(course, sub.assignment)
            notes = notes + [_failure_note(outcome, sub.display)]
            status = "failed"
        result = results[outcome["key"]] = GradeResult(
            sub.student_id, sub.assignment, score, max_score, status, "; ".join(notes),
            seconds=outcome.get("seconds", 0.0), integrity=integrity, **_marks(sub),
        )
        _save_notes(course, {outcome["key"]: result.info()})
        bar.update(1)

    try:
        if jobs == 1 or len(jobs_list) <= 1:
            for job in jobs_list:
                finish(_autograde_job(job))
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=min(jobs, len(jobs_list)), mp_context=context, initializer=skip_slow_optional_imports
            ) as pool:
                futures = {pool.submit(_autograde_job, job): job for job in jobs_list}
                for future in as_completed(futures):
                    try:
                        outcome = future.result()
                    except Exception as exc:  # noqa: BLE001 - a worker process died
                        outcome = {
                            "key": futures[future]["key"], "success": False,
                            "log": f"the grading worker process died ({type(exc).__name__}: {exc})",
                        }
                    finish(outcome)
    finally:
        bar.close()
        _save_notes(course, {k: r.info() for k, r in results.items()})
    return [results[k] for k in sorted(results)]


def grade_notebook(
    notebook,
    assignment: str,
    *,
    student_id: str = "student",
    notebook_name: str | None = None,
    repo: Repo | os.PathLike | str | None = None,
    course_dir: os.PathLike | str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    verbose: bool = False,
    **limits,
) -> GradeResult:
    """Grade one notebook as ``student_id``'s submission for ``assignment``.

    Parameters
    ----------
    notebook : path-like, dict, NotebookNode, str or bytes
        The submission: a path (a ``str`` naming an existing file counts as one), a
        notebook, or raw file content (``str``/``bytes``, to try malformed files).
    assignment : str
        An assignment of the repository.
    student_id : str
        Who it is graded for.
    notebook_name : str, optional
        File name (without ``.ipynb``) to submit it under; default the assignment's
        notebook (required when the assignment has several).
    repo : Repo or path-like, optional
        The repository.
    course_dir : path-like, optional
        Course directory to grade in; a temporary one (deleted afterwards) when
        omitted.
    timeout : float
        Per-cell execution limit in seconds.
    verbose : bool
        Show nbgrader's log.
    **limits
        ``submission_timeout``, ``sandbox``, ``memory_mb``, ``max_processes``: as
        for :func:`grade_submissions`.

    Returns
    -------
    GradeResult

    Examples
    --------
    >>> from autograder import grade_notebook, perfect_submission   # doctest: +SKIP
    >>> nb = perfect_submission("solutions/schedules/schedules.ipynb")  # doctest: +SKIP
    >>> r = grade_notebook(nb, "schedules")                            # doctest: +SKIP
    >>> r.score == r.max_score                                         # doctest: +SKIP
    True
    """
    repo = repo if isinstance(repo, Repo) else find_repo(repo)
    names = repo.notebook_names(assignment)
    if notebook_name is None:
        if len(names) != 1:
            raise AutograderError(
                f"assignment {assignment!r} has {len(names)} notebooks ({', '.join(names)}): "
                "pass notebook_name to say which one this is"
            )
        notebook_name = names[0]
    elif notebook_name not in names:
        raise AutograderError(
            f"notebook_name={notebook_name!r} is not a notebook of {assignment!r} ({', '.join(names)})"
        )
    if isinstance(notebook, os.PathLike) or (
        isinstance(notebook, str) and "\n" not in notebook and os.path.isfile(notebook)
    ):
        notebook = Path(notebook).read_bytes()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="autograder-one-")))
        folder = tmp / "submissions"
        write_submission(folder, student_id, assignment, notebook_name, notebook)
        results = grade_submissions(
            folder, repo=repo, course_dir=course_dir if course_dir is not None else tmp / "course",
            assignment=assignment, timeout=timeout, verbose=verbose, progress=False, **limits,
        )
    return results[0]


def format_table(results: list[GradeResult]) -> str:
    """A plain-text table: student, assignment, score, max_score, status, [flags,] note.

    The ``flags`` column (late, review: why, integrity: which module in which
    cell; see :meth:`GradeResult.flags`) is shown when some result has one.

    Columns line up in a terminal for any student id: wide (CJK) characters
    count two columns and combining accents none. Line breaks, tabs, terminal
    escape sequences and other control characters in a cell (a note quoting
    nbgrader's log, say) become single spaces, so each result stays one line.

    Parameters
    ----------
    results : list of GradeResult

    Returns
    -------
    str
        The header, a rule, then one line per result.
    """
    import re
    import unicodedata

    def clean(value) -> str:
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", str(value))
        text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
        return " ".join(text.split())

    def width(text: str) -> int:
        return sum(
            0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
            for ch in text
        )

    flagged = any(r.flags() for r in results)
    header = ("student", "assignment", "score", "max_score", "status", *(("flags",) if flagged else ()), "note")
    rows = [
        tuple(clean(x) for x in (
            r.student_id, r.assignment, f"{r.score:g}", "" if r.max_score is None else f"{r.max_score:g}",
            r.status, *((r.flags(),) if flagged else ()), r.note,
        ))
        for r in results
    ]
    widths = [max(width(x) for x in col) for col in zip(header, *rows)][:-1]
    lines = []
    for row in (header, *rows):
        cells = [x + " " * (w - width(x)) for x, w in zip(row[:-1], widths)]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  ----")
    return "\n".join(lines)


# --------------------------------------------------------------------------- export


def export_grades(
    out=None,
    *,
    repo: Repo | os.PathLike | str | None = None,
    course_dir: os.PathLike | str | None = None,
    db: str | None = None,
    assignment: str | None = None,
    shape: str = "rows",
) -> list[dict]:
    """Write the gradebook as CSV, one row per (student, assignment), or one per student.

    Parameters
    ----------
    out : path-like or text file, optional
        Where to write; ``None`` writes nothing (just return the rows), ``"-"``
        writes to standard output.
    repo, course_dir, db
        As for :func:`grade_submissions`.
    assignment : str, optional
        Export only this assignment.
    shape : {"rows", "wide", "canvas"}
        ``rows``: one row per (student, assignment), columns :data:`CSV_COLUMNS`.
        ``wide``: one row per student, columns ``student_id``, one per assignment
        (the score; empty when never handed in or not gradable) and ``total``.
        ``canvas``: Canvas's gradebook import: columns ``Student, ID, SIS User ID,
        SIS Login ID, Section`` and one per assignment, a ``Points Possible`` row
        first; ``ID`` is the Canvas user id when the submissions came from a
        Canvas download, else empty and ``SIS Login ID`` is the student id.

    Returns
    -------
    list of dict
        The rows as written (see ``shape``), sorted by student (then assignment).
        Every student of the gradebook gets a row for every assignment of the
        gradebook: a submission that could not be graded has score 0 and a note;
        one never handed in has status ``missing``.

    Raises
    ------
    AutograderError
        If there is no gradebook yet, or ``assignment`` has no grades in it, or
        ``shape`` is not one of :data:`EXPORT_FORMATS`.
    """
    if shape not in EXPORT_FORMATS:
        raise AutograderError(f"shape must be one of {', '.join(EXPORT_FORMATS)}, got shape={shape!r}")
    course = open_course(repo, course_dir, db)
    if not course.gradebook_exists():
        raise AutograderError(
            f"no gradebook in {course.root}: grade something first with "
            "`python -m autograder grade SUBMISSIONS` (or pass the --course-dir/--db you graded into)"
        )
    quiet()
    from nbgrader.api import MissingEntry

    notes = _load_notes(course)
    rows: dict[tuple[str, str], GradeResult] = {}
    with _gradebook(course) as gb:
        names = sorted(a.name for a in gb.assignments)
        if assignment is not None and assignment not in names:
            raise AutograderError(
                f"assignment={assignment!r} has no grades in {course.root} (graded assignments: "
                f"{', '.join(names) or 'none'}): check the spelling or grade it first"
            )
        assignments = [a for a in gb.assignments if assignment is None or a.name == assignment]
        students = [s.id for s in gb.students]
        for a in assignments:
            max_score = float(a.max_score)
            for student in students:
                info = notes.get(f"{student}/{a.name}", {})
                try:
                    sub = gb.find_submission(a.name, student)
                except MissingEntry:
                    rows[(student, a.name)] = GradeResult(student, a.name, 0.0, max_score, "missing", "no submission")
                    continue
                rows[(student, a.name)] = GradeResult(
                    student, a.name, float(sub.score), max_score,
                    info.get("status", "graded"), info.get("note", ""), **_stored_marks(info),
                )
    for key, info in notes.items():
        student, _, name = key.partition("/")
        if (student, name) not in rows and (assignment is None or name == assignment):
            rows[(student, name)] = GradeResult(student, name, 0.0, None, info.get("status", "failed"),
                                                info.get("note", ""), **_stored_marks(info))
    results = [rows[k] for k in sorted(rows)]
    columns, numeric = CSV_COLUMNS, ("score", "max_score")
    if shape == "rows":
        table = [r.row() for r in results]
    else:
        names = sorted({r.assignment for r in results if r.max_score is not None})
        table, columns, numeric = _wide(results, names, canvas=shape == "canvas")
    if out is not None:
        if out == "-":
            _write_csv(sys.stdout, table, columns, numeric)
        elif hasattr(out, "write"):
            _write_csv(out, table, columns, numeric)
        else:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            with open(out, "w", newline="", encoding="utf-8") as fh:
                _write_csv(fh, table, columns, numeric)
    return table


def _stored_marks(info: dict) -> dict:
    return {"late": bool(info.get("late", False)), "review": info.get("review") or "",
            "integrity": info.get("integrity") or "", "lms_id": info.get("lms_id") or ""}


#: The columns Canvas's gradebook import reads before the assignments (Grades > Import).
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def _wide(results: list[GradeResult], names: list[str], *, canvas: bool) -> tuple[list[dict], tuple, tuple]:
    """One row per student with a column per assignment: (rows, columns, numeric columns)."""
    students: dict[str, dict[str, GradeResult]] = {}
    for r in results:
        students.setdefault(r.student_id, {})[r.assignment] = r
    maxima = {name: next(r.max_score for r in results if r.assignment == name and r.max_score is not None)
              for name in names}

    def score(r: GradeResult | None) -> str:
        return "" if r is None or r.max_score is None or r.status in ("missing", "skipped") else _fmt(r.score)

    if canvas:
        columns = (*CANVAS_COLUMNS, *names)
        table = [{"Student": "Points Possible", **{name: _fmt(maxima[name]) for name in names}}]
        for student, got in sorted(students.items()):
            lms_id = next((r.lms_id for r in got.values() if r.lms_id), "")
            table.append({"Student": student, "ID": lms_id, "SIS Login ID": "" if lms_id else student,
                          **{name: score(got.get(name)) for name in names}})
        return table, columns, (*names, "ID")
    columns = ("student_id", *names, "total")
    table = []
    for student, got in sorted(students.items()):
        row = {"student_id": student, **{name: score(got.get(name)) for name in names}}
        row["total"] = _fmt(sum(float(row[name]) for name in names if row[name] != ""))
        table.append(row)
    return table, columns, (*names, "total")


def _write_csv(fh: io.TextIOBase, rows: list[dict], columns: tuple = CSV_COLUMNS,
               numeric: tuple = ("score", "max_score")) -> None:
    """Write ``rows`` (columns :data:`CSV_COLUMNS`, or ``columns``) as CSV, safe to open in a spreadsheet.

    Lines end in CRLF and fields holding commas, quotes or line breaks (``\\n``
    or a lone ``\\r``) are quoted, as RFC 4180 says, so every row stays one
    record for any CSV reader (``csv.DictReader`` gives the values back).

    A text field that a spreadsheet would run as a formula, one starting with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, gets a leading ``'``
    (OWASP's advice against CSV injection): a student id ``=HYPERLINK(...)`` is
    exported as ``'=HYPERLINK(...)``. Numbers (``score``, ``max_score``) are
    written as they are.

    Parameters
    ----------
    fh : text file
        Opened with ``newline=""``.
    rows : list of dict
    columns : tuple of str
        The header, in order.
    numeric : tuple of str
        The columns written as they are when they hold a number.
    """
    def neutral(column: str, value) -> str:
        text = "" if value is None else str(value)
        if column in numeric:
            try:
                float(text)
                return text
            except ValueError:
                pass
        return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text

    # CRLF, not "\n": Python's csv quotes only the characters of the line terminator, so with
    # "\n" a lone "\r" in a note would go out unquoted and split the record for most readers.
    writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\r\n")
    writer.writerow({column: neutral("", column) for column in columns})
    for row in rows:
        writer.writerow({column: neutral(column, row.get(column)) for column in columns})


# --------------------------------------------------------------------------- feedback


def generate_feedback(
    *,
    assignment: str | None = None,
    student: str | None = None,
    repo: Repo | os.PathLike | str | None = None,
    course_dir: os.PathLike | str | None = None,
    db: str | None = None,
    verbose: bool = False,
) -> tuple[list[Path], list[str]]:
    """Write HTML feedback for autograded submissions (nbgrader ``generate_feedback``).

    Parameters
    ----------
    assignment, student : str, optional
        Restrict to one assignment and/or one student.
    repo, course_dir, db
        As for :func:`grade_submissions`.
    verbose : bool
        Show nbgrader's log.

    Returns
    -------
    files : list of pathlib.Path
        The HTML files, ``<course>/feedback/<student>/<assignment>/<notebook>.html``.
    problems : list of str
        One message per submission whose feedback could not be made.

    Raises
    ------
    AutograderError
        If nothing matching has been autograded.
    """
    course = open_course(repo, course_dir, db)
    autograded = course.root / "autograded"
    pairs = []
    if autograded.is_dir():
        for sdir in sorted(p for p in autograded.iterdir() if p.is_dir()):
            for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
                if (student is None or sdir.name == student) and (assignment is None or adir.name == assignment):
                    if any(adir.glob("*.ipynb")):
                        pairs.append((sdir.name, adir.name))
    if not pairs:
        who = " and ".join(x for x in (
            f"student={student!r}" if student else "", f"assignment={assignment!r}" if assignment else "") if x)
        raise AutograderError(
            f"nothing autograded{' for ' + who if who else ''} in {course.root}: run "
            "`python -m autograder grade SUBMISSIONS` first (submissions that failed to grade have no feedback)"
        )
    from .feedback import write_feedback

    quiet(verbose)
    api = make_api(course)
    files, problems = [], []
    for sid, name in pairs:
        result = write_feedback(api, name, sid)  # nbgrader's generate_feedback, with our page (feedback.py)
        if verbose and result.get("log"):
            print(result["log"], file=sys.stderr, end="")
        if not result["success"]:
            problems.append(f"{sid}/{name}: feedback failed ({explain_failure(result)}); rerun with --verbose")
            continue
        files.extend(sorted((course.root / "feedback" / sid / name).glob("*.html")))
    return files, problems
