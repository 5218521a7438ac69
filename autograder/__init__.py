"""The instructors' autograder: release, check and grade the nbgrader assignments.

Command line (``python -m autograder --help``)::

    python -m autograder release [ASSIGNMENT...]   # solutions/ -> exercises/
    python -m autograder check                     # exercises/ up to date, no leaks
    python -m autograder grade SUBMISSIONS [--assignment A] [--jobs N] [--timeout S]
                         [--submission-timeout S] [--sandbox auto|bwrap|none]
                         [--memory-mb MIB] [--max-processes N]
    python -m autograder export [-o grades.csv]
    python -m autograder feedback [--assignment A] [--student S]

Python API (what the tests and benchmarks use):

- :func:`release`, :func:`check` -- generate / verify ``exercises/``;
- :func:`grade_submissions` (a folder or ``.zip``), :func:`grade_notebook` (one
  notebook, in a throw-away course directory by default) -> :class:`GradeResult`;
- :func:`export_grades`, :func:`generate_feedback`;
- :func:`perfect_submission`, :func:`half_done_submission`, :func:`fill_solutions`,
  :func:`write_submission` -- build student submissions from a source notebook;
- :func:`find_repo`, :func:`open_course` -- locate ``solutions/`` and the course directory.

Built on nbgrader 0.9.6's Python API (``NbGraderAPI``, ``CourseDirectory``,
``Gradebook``); see :mod:`autograder._nbgrader` for the plumbing. Execution is our
own: :mod:`autograder.restructure` rebuilds each submission on the source's
skeleton, :mod:`autograder.execute` (in place of nbgrader's ``Execute``) starts
:mod:`autograder.checker`, which runs the tests and talks through
:mod:`autograder.rpc` to :mod:`autograder.worker`, the student's code in the
sandbox of :mod:`autograder.sandbox`.
"""

from .grading import (
    CSV_COLUMNS,
    DEFAULT_TIMEOUT,
    GradeResult,
    export_grades,
    format_table,
    generate_feedback,
    grade_notebook,
    grade_submissions,
)
from .layout import AutograderError, Course, Repo, find_repo, open_course
from .release import check, release, secret_lines
from .submissions import (
    extract_zip,
    fill_solutions,
    half_done_submission,
    perfect_submission,
    release_notebook,
    solution_cell_ids,
    vet_notebook,
    write_submission,
)

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
