"""Where things live: the repository (``solutions/``, ``exercises/``) and the course directory.

The repository holds the nbgrader *source* notebooks in
``solutions/<assignment>/<notebook>.ipynb`` and the generated student release in
``exercises/<assignment>/<notebook>.ipynb``. The *course directory* (``.course/`` at
the repository root unless told otherwise) holds everything grading produces:
the gradebook (``gradebook.db``), ``submitted/``, ``autograded/``, ``feedback/``
and ``release/`` (nbgrader's private copy of the release, made while grading).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AutograderError",
    "Repo",
    "Course",
    "find_repo",
    "open_course",
    "normalize_db_url",
    "sqlite_url",
    "name_problem",
]

#: Default course directory name, relative to the repository root (git-ignored).
DEFAULT_COURSE_DIR = ".course"
#: Busy timeout (seconds) passed to SQLite so parallel graders wait instead of failing.
SQLITE_TIMEOUT_S = 60


class AutograderError(RuntimeError):
    """A problem the user can fix; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Repo:
    """A course repository: ``solutions/`` (nbgrader sources) and ``exercises/`` (release).

    Parameters
    ----------
    root : pathlib.Path
        Absolute path of the repository root.
    """

    root: Path

    @property
    def solutions(self) -> Path:
        """Folder of the nbgrader source notebooks, one sub-folder per assignment."""
        return self.root / "solutions"

    @property
    def exercises(self) -> Path:
        """Folder of the generated student notebooks (``python -m autograder release``)."""
        return self.root / "exercises"

    def assignments(self) -> list[str]:
        """Names of the assignments: sub-folders of ``solutions/`` holding a notebook.

        Returns
        -------
        list of str
            Sorted assignment names.
        """
        if not self.solutions.is_dir():
            return []
        names = []
        for child in sorted(self.solutions.iterdir()):
            if child.is_dir() and not child.name.startswith((".", "_")) and any(child.glob("*.ipynb")):
                names.append(child.name)
        return names

    def check_assignment(self, assignment: str) -> str:
        """Return ``assignment`` if ``solutions/<assignment>/`` exists, else raise.

        Raises
        ------
        AutograderError
            If the assignment is unknown; the message lists the known ones.
        """
        known = self.assignments()
        if assignment not in known:
            listing = ", ".join(known) if known else "none"
            raise AutograderError(
                f"assignment={assignment!r} is not in {self.rel(self.solutions)}/ "
                f"(known assignments: {listing}); check the spelling or pass --repo"
            )
        return assignment

    def source_notebooks(self, assignment: str) -> list[Path]:
        """The source notebooks of one assignment, sorted by name."""
        self.check_assignment(assignment)
        return sorted((self.solutions / assignment).glob("*.ipynb"))

    def notebook_names(self, assignment: str) -> list[str]:
        """Notebook names (file stems) of one assignment."""
        return [p.stem for p in self.source_notebooks(assignment)]

    def rel(self, path: os.PathLike | str) -> str:
        """``path`` relative to the repository root when it is inside it (for messages)."""
        path = Path(path).absolute()
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _looks_like_repo(path: Path) -> bool:
    return (path / "solutions").is_dir() and (
        (path / "pyproject.toml").is_file() or (path / "exercises").is_dir()
    )


def find_repo(repo: "Repo | os.PathLike | str | None" = None) -> Repo:
    """Locate the course repository.

    Parameters
    ----------
    repo : Repo or path-like, optional
        Explicit repository root (the CLI's ``--repo``), or a :class:`Repo` (returned as
        it is). When omitted, the current
        directory and its parents are searched for a folder holding ``solutions/``
        (and ``pyproject.toml`` or ``exercises/``); failing that, the checkout this
        package was installed from is used.

    Returns
    -------
    Repo

    Raises
    ------
    AutograderError
        If ``repo`` has no ``solutions/`` folder, or no repository can be found.
    """
    if isinstance(repo, Repo):
        return repo
    if repo is not None:
        root = Path(repo).expanduser().resolve()
        if not (root / "solutions").is_dir():
            raise AutograderError(
                f"repo={str(repo)!r} has no solutions/ folder: pass the root of the course "
                "repository (the folder holding solutions/ and exercises/)"
            )
        return Repo(root)
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _looks_like_repo(candidate):
            return Repo(candidate)
    package_root = Path(__file__).resolve().parent.parent
    if (package_root / "solutions").is_dir():
        return Repo(package_root)
    raise AutograderError(
        f"could not find the course repository from {here}: run the command inside the "
        "repository or pass --repo DIR"
    )


def sqlite_url(path: os.PathLike | str) -> str:
    """SQLAlchemy URL of an SQLite file with a busy timeout (safe for parallel grading).

    >>> sqlite_url("/tmp/c/gradebook.db")
    'sqlite:////tmp/c/gradebook.db?timeout=60'
    """
    return f"sqlite:///{Path(path).absolute()}?timeout={SQLITE_TIMEOUT_S}"


def _with_timeout(db_url: str) -> str:
    """Add the busy timeout to an SQLite URL that has none; other URLs pass through."""
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={SQLITE_TIMEOUT_S}"
    return db_url


def normalize_db_url(db: str) -> str:
    """The SQLAlchemy URL to open for a gradebook URL given by the user (``--db``).

    SQLite URLs get a busy timeout (see :data:`SQLITE_TIMEOUT_S`). PostgreSQL URLs
    without a driver (``postgresql://`` or ``postgres://``) get the one pinned in
    ``requirements.txt``, ``postgresql+psycopg2://`` (SQLAlchemy 2.1 would otherwise
    pick psycopg 3, which is not installed); a URL naming its driver
    (``postgresql+psycopg://``...) is kept. Every other URL passes through.

    Parameters
    ----------
    db : str
        A database URL.

    Returns
    -------
    str

    Raises
    ------
    AutograderError
        If ``db`` is not a URL SQLAlchemy understands, or the Python driver it
        needs is not installed (the message says what to install).

    Examples
    --------
    >>> normalize_db_url("sqlite:////tmp/c/gradebook.db")
    'sqlite:////tmp/c/gradebook.db?timeout=60'
    >>> normalize_db_url("postgresql://grader:secret@db.example.org:5432/ml101")
    'postgresql+psycopg2://grader:secret@db.example.org:5432/ml101'
    >>> normalize_db_url("postgres:///ml101?host=/var/run/postgresql")
    'postgresql+psycopg2:///ml101?host=/var/run/postgresql'
    """
    if "://" not in db:
        raise AutograderError(
            f"db={db!r} is not a database URL: use e.g. sqlite:////abs/path/gradebook.db "
            "or postgresql://user:password@host:5432/dbname"
        )
    given = db
    scheme, rest = db.split("://", 1)
    if scheme.startswith("sqlite"):
        return _with_timeout(db)
    if scheme in ("postgresql", "postgres"):
        db = f"postgresql+psycopg2://{rest}"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(db)
        dialect = url.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise AutograderError(
            f"db={_hide_password(given)!r} is not a database URL SQLAlchemy understands ({exc}): use e.g. "
            "sqlite:////abs/path/gradebook.db or postgresql://user:password@host:5432/dbname"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        hint = {"psycopg2": "psycopg2-binary (pinned in requirements.txt: run `make setup`)",
                "psycopg": "'psycopg[binary]', or write postgresql:// to use psycopg2"}.get(
            url.get_driver_name(), "the Python package that provides it")
        raise AutograderError(
            f"db={url.render_as_string(hide_password=True)!r} needs the Python driver "
            f"{url.get_driver_name()!r}, which is not installed ({exc}): install {hint}"
        ) from None
    return db


def _hide_password(db: str) -> str:
    """``db`` with the password of ``user:password@`` replaced by ``***`` (for messages)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", db)


@dataclass(frozen=True)
class Course:
    """A course directory plus the repository it grades against.

    Parameters
    ----------
    repo : Repo
        The repository with ``solutions/`` and ``exercises/``.
    root : pathlib.Path
        The course directory (gradebook, ``submitted/``, ``autograded/``, ``feedback/``).
    db_url : str
        SQLAlchemy URL of the gradebook.
    """

    repo: Repo
    root: Path
    db_url: str

    def gradebook_exists(self) -> bool:
        """Whether the gradebook exists (always ``True`` for non-SQLite databases)."""
        if not self.db_url.startswith("sqlite:///"):
            return True
        path = self.db_url[len("sqlite:///"):].split("?", 1)[0]
        return Path(path).is_file()

    def path(self, step: str, student_id: str, assignment: str) -> Path:
        """``<course>/<step>/<student_id>/<assignment>`` (nbgrader's directory layout)."""
        return self.root / step / student_id / assignment


def open_course(
    repo: Repo | os.PathLike | str | None = None,
    course_dir: os.PathLike | str | None = None,
    db: str | None = None,
) -> Course:
    """Resolve the repository, the course directory and the gradebook URL.

    Parameters
    ----------
    repo : Repo or path-like, optional
        The repository (see :func:`find_repo`).
    course_dir : path-like, optional
        The course directory; default ``<repo>/.course``. Created if missing.
    db : str, optional
        SQLAlchemy URL of the gradebook; default ``sqlite:///<course_dir>/gradebook.db``.
        SQLite URLs get a busy timeout so parallel grading does not fail with
        "database is locked"; ``postgresql://user:password@host:port/dbname`` lets
        several graders share one class (see :func:`normalize_db_url`).

    Returns
    -------
    Course
    """
    if not isinstance(repo, Repo):
        repo = find_repo(repo)
    root = Path(course_dir).expanduser() if course_dir is not None else repo.root / DEFAULT_COURSE_DIR
    root = root.absolute()
    if root.exists() and not root.is_dir():
        raise AutograderError(f"course_dir={str(course_dir)!r} exists and is not a folder: pass a folder path")
    if db is None:
        db_url = sqlite_url(root / "gradebook.db")
    else:
        db_url = normalize_db_url(db)
    return Course(repo=repo, root=root, db_url=db_url)


#: Longest usable student id, in characters (nbgrader's gradebook column is 128 wide).
MAX_ID_LENGTH = 128
#: Characters nbgrader reads as glob patterns (it globs ``submitted/<student_id>/...``).
_GLOB_CHARS = "*?[]"
#: Bidirectional-text controls: they make a name display as a different one.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


def name_problem(name: str, kind: str = "student id") -> str | None:
    """Say why ``name`` cannot be an nbgrader id and folder name, or ``None`` if it can.

    Any Unicode letters are fine (``zoë``, ``李雷``, ``José``), and so are spaces
    inside the name and punctuation such as ``,`` ``'`` ``=`` ``+`` ``@``: nbgrader
    0.9.6 stores ids as text in the gradebook and uses them as folder names, and
    the CSV export quotes and neutralises them. Refused are names that cannot be
    one folder or that nbgrader would misread.

    Parameters
    ----------
    name : str
        The candidate id (a student's folder name, say).
    kind : str
        ``"student id"`` or ``"assignment"``; nbgrader also forbids ``+`` in
        assignment names.

    Returns
    -------
    str or None
        The reason, phrased to follow the quoted name, e.g. ``"contains a path
        separator ('/' or '\\')"``; ``None`` when the name is usable.

    Examples
    --------
    >>> name_problem("zoë") is None and name_problem("李雷") is None
    True
    >>> name_problem("..")
    "starts with '.' (a hidden or parent folder, not a name)"
    """
    if not isinstance(name, str) or name == "":
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\')"
    if name.startswith("."):
        return "starts with '.' (a hidden or parent folder, not a name)"
    bad = sorted({ch for ch in name if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp")
                  or ch in _BIDI_CONTROLS})
    if bad:
        shown = ", ".join(f"U+{ord(ch):04X}" for ch in bad)
        return f"contains control or unassigned characters ({shown})"
    if name != name.strip():
        return "starts or ends with white space (nbgrader strips it, and the id would no longer match)"
    if any(ch in _GLOB_CHARS for ch in name):
        return "contains one of * ? [ ] (nbgrader reads them as a file pattern)"
    if len(name) > MAX_ID_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_ID_LENGTH})"
    if kind == "assignment" and "+" in name:
        return "contains '+' (nbgrader forbids it in assignment names)"
    return None


def valid_name(name: str, kind: str = "student id") -> bool:
    """Whether ``name`` is usable as an nbgrader student id (or, with ``kind="assignment"``, assignment name).

    See :func:`name_problem`, which says why not.
    """
    return name_problem(name, kind) is None
