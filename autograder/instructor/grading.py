"""Grade a folder of submissions with nbgrader: the orchestration of a batch.

One *submission* is one student's folder for one assignment. Grading it means:
vet every expected notebook (empty, invalid JSON, missing...), copy the readable
ones into ``<course>/submitted/<student>/<assignment>/``, run it as a task
(:func:`autograder.instructor.task.grade_one`) on an executor
(:mod:`autograder.instructor.executors`: threads of this process, or the workers
of a Dask cluster), and, here in the coordinating process only, record each
task's result once and run nbgrader's ``autograde`` (force, create students) with
the outputs put in (:class:`autograder.instructor.preprocessors.InjectResult`), so
that only this process writes the gradebook. A submission that cannot be run still
gets a gradebook entry with every grade set to 0 and a note saying why, and the
batch goes on. Notes live in the gradebook database, table ``autograder_notes``;
the late, review and integrity marks in ``autograder_flags`` (nbgrader's own
tables are not changed); see :mod:`autograder.instructor.gradebook`, which also
exports the grades and writes feedback.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from ..engine.run import Limits
from ..engine.sandbox import SandboxConfig, resolve_mode
from ..layout import AutograderError, Course, Repo, find_repo, name_problem, open_course
from ._nbgrader import explain_failure, gradebook_lock, make_api, quiet
from .executors import Outcome, Task, executor_for
from .gradebook import (  # noqa: F401 - re-exported: the gradebook side of grading
    CSV_COLUMNS, EXPORT_FORMATS, GradeResult, _max_score, _save_notes, _scores, _zero_grades, export_grades,
    format_table, generate_feedback,
)
from .inbox import Submission, discover, extract_zip, stage_submission, write_submission
from .task import needs_gpu, task_key

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


#: What nbgrader leaves out when it copies a folder (``CourseDirectory.ignore``'s default).
_NBGRADER_IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")


def _ignored(rel: str, also: tuple = ()) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in rel.split("/") for pattern in _NBGRADER_IGNORE + also)


def _submission_payload(course: Course, sub: Submission) -> dict:
    """The staged submission as :func:`~autograder.instructor.task.grade_one` takes it."""
    folder = course.root / "submitted" / sub.student_id / sub.assignment
    notebooks, files = {}, {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or _ignored(rel):
            continue
        if path.parent == folder and path.suffix == ".ipynb":
            notebooks[path.stem] = path.read_bytes().decode("utf-8", errors="replace")
        elif path.suffix != ".ipynb":
            files[rel] = path.read_bytes()
    return {"student_id": sub.student_id, "assignment": sub.assignment, "notebooks": notebooks, "files": files}


def _release_payload(repo: Repo, assignment: str) -> dict:
    """The instructor's side of a task: the source notebooks and the other files nbgrader copies over."""
    from .task import grader_version

    folder = repo.solutions / assignment
    sources = {name: (folder / f"{name}.ipynb").read_text(encoding="utf-8") for name in repo.notebook_names(assignment)}
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not _ignored(rel, ("*.ipynb",)):
            files[rel] = path.read_bytes()
    return {"assignment": assignment, "sources": sources, "files": files, "version": grader_version()}


def _store_result(course: Course, sub: Submission, result: dict) -> None:
    """Write a task's result where :class:`InjectResult` reads it (and clear an earlier run's)."""
    from .preprocessors import result_path

    runs = course.root / "runs" / sub.student_id / sub.assignment
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True, exist_ok=True)
    for name, entry in result.get("notebooks", {}).items():
        result_path(course.root, sub.student_id, sub.assignment, name).write_text(json.dumps(entry), encoding="utf-8")


def _autograde(api, sub: Submission) -> dict:
    """nbgrader's autograde of one submission whose result is stored: it writes the grades."""
    try:
        return api.autograde(sub.assignment, sub.student_id, force=True, create=True)
    except Exception as exc:  # noqa: BLE001 - reported as a failed submission
        import traceback

        return {"success": False, "error": traceback.format_exc(), "log": f"{type(exc).__name__}: {exc}"}


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
        if path.name.endswith(".result.json"):  # the task's result (InjectResult's input), not a report
            continue
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        notes.extend(f"{sub.shown(path.stem + '.ipynb')}: {n}" for n in report.get("notes", []))
    return notes


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


#: What the sandbox's stand-in for a forbidden module says (autograder/engine/sandbox.py, _STUB).
_REFERENCE_SAYS = re.compile(r"(lrlab(?:\.\w+)+) is the course's reference implementation")


def _integrity(course: Course, sub: Submission) -> str:
    """The reference modules a graded submission reached for, and where: ``"lrlab.nqm in cell 'double'"``.

    Two signs, both recorded: a graded cell whose output shows the ImportError of
    the sandbox's stand-in (see :mod:`autograder.engine.sandbox`), and a solution cell that
    imports one of the source notebook's ``metadata.autograder.forbidden_modules``
    or names it or its file in a string (``"lrlab/nqm.py"``, for loading it by
    path); found without running anything, so also under ``--sandbox none``.
    """
    import nbformat

    from ..notebook import forbidden_modules, forbidden_uses, grade_id, is_solution

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
            gid = grade_id(cell)
            if not gid or cell.get("cell_type") != "code":
                continue
            for output in cell.get("outputs", []):
                text = " ".join([str(output.get("evalue", "")), str(output.get("text", "")),
                                 *map(str, output.get("traceback", []))])
                for module in _REFERENCE_SAYS.findall(text):
                    hit(module, gid)
            if is_solution(cell):
                for name in forbidden_uses(cell.source, forbidden):
                    hit(name, gid)
    return "; ".join(
        f"{module} in cell{'s' if len(cells) > 1 else ''} {', '.join(repr(c) for c in cells)}"
        for module, cells in sorted(hits.items())
    )


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
    executor: str = "local",
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
        Submissions graded at once by the local executor (threads, each waiting
        on its notebook's checker and worker processes). Ignored by a Dask
        executor: there its workers' slots decide.
    timeout : float
        Per-cell execution limit in seconds.
    submission_timeout : float
        Limit for one notebook as a whole, in seconds.
    sandbox : {"auto", "bwrap", "none"}
        Where the student's code runs (see :mod:`autograder.engine.sandbox`); ``auto`` uses
        bubblewrap when installed and warns when it is not.
    memory_mb, max_processes : int
        Limits of the student's process (address space in MiB; processes and threads).
    verbose : bool
        Show nbgrader's log.
    progress : bool
        Show a progress bar (one tick per submission) on stderr.
    executor : str
        Where the submissions run: ``"local"`` (this machine, ``jobs`` at once) or
        ``"dask://HOST:PORT"`` (the workers of the Dask scheduler at that address;
        see :mod:`autograder.instructor.executors`). Either way the gradebook is
        written by this process only, each submission once.

    Returns
    -------
    list of GradeResult
        One per submission found, sorted by student then assignment.

    Raises
    ------
    AutograderError
        If the tool itself cannot run: bad arguments, no submissions found, an
        assignment that nbgrader cannot load, a Dask scheduler that does not
        answer. Bad submissions never raise.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise AutograderError(f"jobs must be a positive integer, got jobs={jobs!r}")
    runner = executor_for(executor, jobs)
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
    limits = Limits(timeout=float(timeout), submission_timeout=float(submission_timeout), sandbox=sandbox,
                    memory_mb=memory_mb, max_processes=max_processes).to_dict()
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
    with runner:  # a Dask scheduler that does not answer is an error before anything is written
        return _grade_batch(course, path, display, given, known, assignment, runner, limits, verbose, progress)


def _grade_batch(course: Course, path: Path, display: str, given: str, known: list, assignment: str | None,
                 runner, limits: dict, verbose: bool, progress: bool) -> list[GradeResult]:
    """Discover, vet and stage the submissions, grade them on ``runner``, record each result once."""
    repo = course.repo
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
            copied, notes = stage_submission(course, sub)
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

    releases = {name: _release_payload(repo, name) for name in sorted({sub.assignment for sub, _ in runnable})}
    tasks, by_key = [], {}
    for sub, notes in runnable:
        payload, release = _submission_payload(course, sub), releases[sub.assignment]
        key = task_key(payload, release, limits)
        tasks.append(Task(key, payload, release, limits, gpu=needs_gpu(release)))
        by_key[key] = (sub, notes)

    from tqdm import tqdm

    bar = tqdm(
        total=len(found), desc="grading", unit="submission", file=sys.stderr,
        disable=not progress, dynamic_ncols=True,
    )
    for _ in results:  # the skipped and unreadable ones are done already
        bar.update(1)
    if results:
        _save_notes(course, {k: r.info() for k, r in results.items()})
    api = make_api(course) if tasks else None
    recorded: set[str] = set()

    def finish(outcome: Outcome) -> None:
        if outcome.key in recorded or outcome.key not in by_key:
            return  # a task that ran twice (a Dask worker lost mid-task): recorded already
        recorded.add(outcome.key)
        sub, notes = by_key[outcome.key]
        key = f"{sub.student_id}/{sub.assignment}"
        start = time.perf_counter()
        ran = 0.0
        if outcome.result is not None:
            ran = float(outcome.result.get("seconds", 0.0))
            _store_result(course, sub, outcome.result)
            graded = _autograde(api, sub)
            if verbose and graded.get("log"):
                bar.write(f"--- nbgrader log for {key} ---\n{graded['log']}", file=sys.stderr)
            failure = None if graded.get("success") else _failure_note(graded, sub.display)
        else:
            failure = f"{sub.display}: could not be graded ({outcome.error}); graded as 0. Grade it again"
        integrity = ""
        if failure is None:
            score, max_score = _scores(course, sub.assignment, sub.student_id)
            notes = notes + _run_notes(course, sub)
            status = "graded"
            integrity = _integrity(course, sub)
        else:
            _zero_grades(course, sub.assignment, sub.student_id)
            score, max_score = 0.0, _max_score(course, sub.assignment)
            notes = notes + [failure]
            status = "failed"
        result = results[key] = GradeResult(
            sub.student_id, sub.assignment, score, max_score, status, "; ".join(notes),
            seconds=ran + time.perf_counter() - start, integrity=integrity, **_marks(sub),
        )
        _save_notes(course, {key: result.info()})
        bar.update(1)

    try:
        for outcome in runner.run(tasks):
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
