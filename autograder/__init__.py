"""The instructors' autograder: release, check and grade the nbgrader assignments.

Command line (``python -m autograder --help``)::

    python -m autograder release [ASSIGNMENT...]   # solutions/ -> exercises/
    python -m autograder check                     # exercises/ up to date, no leaks
    python -m autograder grade SUBMISSIONS [--assignment A] [--jobs N] [--timeout S]
                         [--submission-timeout S] [--sandbox auto|bwrap|none]
                         [--memory-mb MIB] [--max-processes N]
                         [--executor local|dask://HOST:PORT]
    python -m autograder export [-o grades.csv]
    python -m autograder feedback [--assignment A] [--student S]
    python -m autograder report [--assignment A] [--figure FILE.png]

Python API (what the tests and benchmarks use):

- :func:`release`, :func:`check` -- generate / verify ``exercises/``;
- :func:`grade_submissions` (a folder or ``.zip``), :func:`grade_notebook` (one
  notebook, in a throw-away course directory by default) -> :class:`GradeResult`;
- :func:`export_grades`, :func:`generate_feedback`;
- :func:`perfect_submission`, :func:`half_done_submission`, :func:`fill_solutions`,
  :func:`write_submission` -- build student submissions from a source notebook;
- :func:`find_repo`, :func:`open_course` -- locate ``solutions/`` and the course directory.

Layout, by the notebook format, the engine and who uses it:

- :mod:`autograder.notebook`: the one place that knows nbgrader's cell format
  (metadata, marker regions, cell roles, expected names, forbidden modules, vetting);
- :mod:`autograder.engine`: :func:`~autograder.engine.run_notebook`, the trusted
  checker, the sandboxed worker, the call protocol between them and the sandbox,
  used by grading and by the students' self-check alike;
- :mod:`autograder.instructor`: release, inbox, restore, the grading task and its
  executors (local threads or Dask), grading (orchestration), gradebook (notes,
  scores, export, feedback), the class report, on nbgrader 0.9.6's Python API
  (``NbGraderAPI``, ``CourseDirectory``, ``Gradebook``; plumbing in
  :mod:`autograder.instructor._nbgrader`);
- :mod:`autograder.student`: the lab, the per-assignment downloads, the self-check.
"""

from .instructor.gradebook import CSV_COLUMNS, GradeResult, export_grades, format_table, generate_feedback
from .instructor.grading import DEFAULT_TIMEOUT, grade_notebook, grade_submissions
from .layout import AutograderError, Course, Repo, find_repo, open_course
from .instructor.release import check, release, secret_lines
from .instructor.inbox import (
    extract_zip,
    fill_solutions,
    half_done_submission,
    perfect_submission,
    release_notebook,
    solution_cell_ids,
    write_submission,
)
from .notebook import vet_notebook

__all__ = [
    "AutograderError",
    "CSV_COLUMNS",
    "Course",
    "DEFAULT_TIMEOUT",
    "GradeResult",
    "Repo",
    "check",
    "export_grades",
    "extract_zip",
    "fill_solutions",
    "find_repo",
    "format_table",
    "generate_feedback",
    "grade_notebook",
    "grade_submissions",
    "half_done_submission",
    "open_course",
    "perfect_submission",
    "release",
    "release_notebook",
    "secret_lines",
    "solution_cell_ids",
    "vet_notebook",
    "write_submission",
]
