"""Plumbing around nbgrader 0.9.6's Python API (``NbGraderAPI``, ``CourseDirectory``).

Everything nbgrader-specific lives here: the traitlets ``Config`` for a course, a
quiet mode (nbgrader, SQLAlchemy and the kernels are chatty), and two small fixes
for running from a virtualenv that is not activated.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import warnings
from pathlib import Path

from ..layout import Course

__all__ = ["make_config", "make_api", "gradebook_lock", "quiet", "explain_failure", "skip_slow_optional_imports"]

_QUIET = {"on": False}


def _fix_environment() -> None:
    """Make nbgrader work from an un-activated virtualenv, quickly.

    nbgrader creates a new gradebook by running the ``alembic`` command found on
    ``PATH``; we put this interpreter's ``bin/`` first on ``PATH`` (the kernels get
    the same environment), and answer the question (the newest migration) in
    process, which is faster than a subprocess.
    """
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")
    # ipykernel's debugger prints a warning about frozen modules on Python 3.11.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    import nbgrader.api as nbapi

    if getattr(nbapi.get_alembic_version, "_autograder", False):
        return
    original = nbapi.get_alembic_version

    def get_alembic_version() -> str:
        try:
            from alembic.config import Config as AlembicConfig
            from alembic.script import ScriptDirectory

            ini = Path(nbapi.__file__).with_name("alembic.ini")
            cfg = AlembicConfig(str(ini))
            cfg.set_main_option("script_location", str(ini.with_name("alembic")))
            heads = ScriptDirectory.from_config(cfg).get_heads()
            if len(heads) == 1:
                return heads[0]
        except Exception:  # pragma: no cover - fall back to nbgrader's own way
            pass
        return original()

    get_alembic_version._autograder = True
    nbapi.get_alembic_version = get_alembic_version


def skip_slow_optional_imports() -> None:
    """Keep jsonschema from importing its optional ``rfc3987_syntax`` checker.

    nbformat's validator imports jsonschema, whose format module imports
    ``rfc3987_syntax`` when installed; that compiles a grammar at import time
    (2-3 s per process). Notebooks never need IRI format checks, so the command
    line and its worker processes block it (``import`` then raises ImportError,
    which jsonschema expects). Library users importing :mod:`autograder` are not
    affected. Does nothing once jsonschema's format module is loaded.
    """
    if "jsonschema._format" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


def quiet(verbose: bool = False) -> None:
    """Silence nbgrader/traitlets/SQLAlchemy/kernel log noise unless ``verbose``.

    Parameters
    ----------
    verbose : bool
        When true, leave every logger and warning as it is.
    """
    _fix_environment()
    _QUIET["on"] = not verbose
    if verbose:
        return
    try:
        from sqlalchemy.exc import SAWarning

        warnings.filterwarnings("ignore", category=SAWarning)
    except ImportError:  # pragma: no cover
        pass
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("traitlets", "nbgrader", "tornado.application", "alembic", "NbGraderAPI"):
        logging.getLogger(name).setLevel(logging.ERROR)


def make_config(
    course: Course,
    *,
    release_dir: os.PathLike | str | None = None,
):
    """The traitlets ``Config`` for nbgrader on one course.

    The trick: ``CourseDirectory.root`` is the course directory, while
    ``source_directory`` and ``release_directory`` are *absolute* paths
    (``os.path.join`` drops the root before an absolute part), so nbgrader reads
    sources straight from the repository's ``solutions/``.

    Parameters
    ----------
    course : Course
        The course directory and gradebook.
    release_dir : path-like, optional
        Where ``generate_assignment`` writes; default ``<course>/release``.

    Returns
    -------
    traitlets.config.Config
    """
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(course.root)
    c.CourseDirectory.source_directory = str(course.repo.solutions)
    c.CourseDirectory.release_directory = str(
        Path(release_dir).absolute() if release_dir is not None else course.root / "release"
    )
    c.CourseDirectory.db_url = course.db_url
    # nbgrader's default course_id is "", for which it never makes a row in the `course` table,
    # yet it stamps "" on every assignment: SQLite does not check that foreign key, PostgreSQL
    # does (ForeignKeyViolation). Use the id nbgrader.api.Gradebook defaults to (grading.py's
    # own Gradebook() calls make that row).
    c.CourseDirectory.course_id = "default_course"
    # The exchange (nbgrader's file drop between students and instructors) is unused:
    # NbGraderAPI lists it on start-up and logs CRITICAL when it is missing.
    c.ExchangeFactory.list = "autograder.instructor._nbgrader.NoExchangeList"
    c.NbGraderAPI.log_level = "ERROR" if _QUIET["on"] else "INFO"
    # Student code runs in the sandboxed worker, tests in the trusted checker, not in one kernel with
    # nbgrader's Execute: a grading task (autograder.instructor.task.grade_one, on this machine or a Dask
    # worker) runs the notebook; autograde only puts its outputs in (preprocessors.InjectResult) and
    # saves the grades, in the coordinating process.
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties, CheckCellMetadata, GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades,
    )

    from .preprocessors import HideHiddenTests, InjectResult
    from .restore import sanitize_preprocessors

    # The submission is rebuilt on its source once, by our RestoreCells in place of nbgrader's
    # OverwriteCells (autograder.instructor.restore); the student's file is submitted as handed in.
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
    c.RestoreCells.source_root = str(course.repo.solutions)
    c.Autograde.autograde_preprocessors = [
        InjectResult, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata,
    ]
    from .feedback import FeedbackCells, configure as configure_feedback

    # Feedback pages: our template on nbgrader's (math offline, named tests, helper code folded).
    c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, FeedbackCells, CSSHTMLHeaderPreprocessor]
    configure_feedback(c)
    c.InjectResult.course_root = str(course.root)
    if _QUIET["on"]:
        # The kernel's own log (e.g. "running over TCP without encryption") goes to
        # our stderr; keep it to errors.
        c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
    return c


@functools.lru_cache(maxsize=None)
def _no_exchange_list():
    from nbgrader.exchange.abc import ExchangeError
    from nbgrader.exchange.default import ExchangeList

    class NoExchangeList(ExchangeList):
        """An exchange lister that reports "no exchange" without touching the disk."""

        def start(self):
            raise ExchangeError("the autograder does not use nbgrader's exchange")

    return NoExchangeList


def __getattr__(name):
    if name == "NoExchangeList":
        return _no_exchange_list()
    raise AttributeError(name)


#: Key of the PostgreSQL advisory lock held while a grader sets up the shared gradebook.
GRADEBOOK_LOCK_KEY = 0x6C726C6162  # "lrlab" in ASCII


@contextlib.contextmanager
def gradebook_lock(course: Course):
    """Hold the gradebook's setup lock: one grader at a time creates tables and loads assignments.

    Graders sharing a PostgreSQL gradebook (``--db postgresql://...``) that start
    at once would otherwise both create nbgrader's tables in an empty database
    (``UniqueViolation ... pg_type_typname_nsp_index``) or both rewrite the same
    assignment. The lock is a PostgreSQL session advisory lock on its own
    connection, released on exit or when the process dies. SQLite and other
    databases get no lock (SQLite serializes writers itself).

    Parameters
    ----------
    course : Course
        The course whose gradebook is set up.
    """
    if not course.db_url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(course.db_url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": GRADEBOOK_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": GRADEBOOK_LOCK_KEY})
    finally:
        engine.dispose()


def make_api(course: Course, **kwargs):
    """An ``NbGraderAPI`` for ``course`` (keyword arguments go to :func:`make_config`)."""
    _fix_environment()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course.root.mkdir(parents=True, exist_ok=True)
    config = make_config(course, **kwargs)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


_EXC_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit)):\s?(.*)$")
_GENERIC = ("Please see the", "There was an error processing assignment")


def explain_failure(result: dict) -> str:
    """The most telling error line in a failed nbgrader result (``success`` false).

    nbgrader ends every failure with a generic ``NbGraderException`` ("Please see the
    above traceback"); the real cause is the last other exception line in the log.

    Parameters
    ----------
    result : dict
        What an ``NbGraderAPI`` method returned (keys ``success``, ``log``, ``error``).

    Returns
    -------
    str
        ``"ExceptionName: message"`` or a short fallback.
    """
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    found = []
    for line in text.splitlines():
        m = _EXC_LINE.match(line)
        if m and not m.group(1).endswith("NbGraderException"):
            found.append(f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip()}".rstrip(": "))
    if found:
        return found[-1]
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("[ERROR]") and not any(g in line for g in _GENERIC):
            return line[len("[ERROR]"):].strip()
    return "nbgrader failed without saying why (rerun with --verbose to see its log)"
