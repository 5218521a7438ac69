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
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AutograderError",
    "Repo",
    "Course",
    "find_repo",
    "open_course",
    "sqlite_url",
]

#: Default course directory name, relative to the repository root (git-ignored).
DEFAULT_COURSE_DIR = ".course"
#: Busy timeout (seconds) passed to SQLite so parallel graders wait instead of failing.
SQLITE_TIMEOUT_S = 60

_ASSIGNMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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


def find_repo(repo: os.PathLike | str | None = None) -> Repo:
    """Locate the course repository.

    Parameters
    ----------
    repo : path-like, optional
        Explicit repository root (the CLI's ``--repo``). When omitted, the current
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

    @property
    def notes_file(self) -> Path:
        """JSON file with the status and note of every graded submission."""
        return self.root / "autograder_notes.json"

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
        "database is locked".

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
        if "://" not in db:
            raise AutograderError(
                f"db={db!r} is not a database URL: use e.g. sqlite:////abs/path/gradebook.db"
            )
        db_url = _with_timeout(db)
    return Course(repo=repo, root=root, db_url=db_url)


def valid_name(name: str) -> bool:
    """Whether ``name`` is usable as an nbgrader student or assignment id."""
    return bool(_ASSIGNMENT_RE.match(name)) and "+" not in name
