"""The gradebook: notes and marks beside nbgrader's grades, scores, export, feedback.

nbgrader's gradebook (SQLite by default, PostgreSQL for several machines) holds the
grades; this module adds two tables of its own, ``autograder_notes`` (status and
note of every submission) and ``autograder_flags`` (late, review, integrity, LMS id),
and reads them back for :func:`export_grades` (CSV: rows, wide, Canvas) and
:func:`format_table`; :func:`generate_feedback` writes the students' feedback pages
(see :mod:`autograder.instructor.feedback`). Only the coordinating process writes
here: grading tasks return results, the coordinator records them.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..layout import AutograderError, Course, Repo, open_course
from ._nbgrader import explain_failure, make_api, quiet

__all__ = [
    "GradeResult",
    "export_grades",
    "generate_feedback",
    "format_table",
    "CSV_COLUMNS",
    "EXPORT_FORMATS",
    "PROGRESS_MIN_SUBMISSIONS",
]

#: Columns of the exported CSV, in order.
CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "late", "review", "integrity", "note")
#: The export's shapes: one row per (student, assignment), one row per student, Canvas's gradebook import.
EXPORT_FORMATS = ("rows", "wide", "canvas")
#: Submissions from which reading the gradebook (export, report) shows a progress bar: below
#: that it takes well under a second (about 1 ms a submission with SQLite; more over the network
#: to a PostgreSQL gradebook), and a bar would only flash.
PROGRESS_MIN_SUBMISSIONS = 200


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
    progress: bool = True,
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
    progress : bool
        Show a progress bar with ETA on standard error (never on standard output,
        which may be the CSV), one tick per (student, assignment) read, when
        there are :data:`PROGRESS_MIN_SUBMISSIONS` or more.

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
        from tqdm import tqdm

        total = len(assignments) * len(students)
        bar = tqdm(total=total, desc="export", unit="submission", file=sys.stderr, dynamic_ncols=True,
                   disable=not progress or total < PROGRESS_MIN_SUBMISSIONS)
        for a in assignments:
            max_score = float(a.max_score)
            for student in students:
                bar.update(1)
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
        bar.close()
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
    progress: bool = True,
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
    progress : bool
        Show a progress bar with ETA on standard error, one tick per submission.

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
    from tqdm import tqdm

    files, problems = [], []
    bar = tqdm(pairs, desc="feedback", unit="submission", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    for sid, name in bar:
        result = write_feedback(api, name, sid)  # nbgrader's generate_feedback, with our page (feedback.py)
        if verbose and result.get("log"):
            bar.write(result["log"].rstrip("\n"), file=sys.stderr)
        if not result["success"]:
            problems.append(f"{sid}/{name}: feedback failed ({explain_failure(result)}); rerun with --verbose")
            continue
        files.extend(sorted((course.root / "feedback" / sid / name).glob("*.html")))
    bar.close()
    return files, problems
