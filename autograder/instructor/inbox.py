"""Student submissions: build them (for tests and benchmarks), find them, vet them.

Builders
    :func:`perfect_submission` fills every solution cell of the release notebook
    with the source cell (marker lines and hidden-test regions removed);
    :func:`half_done_submission` fills only the first half of the solution cells.

Input
    A submissions folder is laid out ``<student_id>/<assignment>/<notebook>.ipynb``;
    :func:`extract_zip` unpacks a ``.zip`` of that safely (no zip-slip, no zip
    bombs), :func:`discover` lists the (student, assignment) pairs, unpacking
    per-student zips as learning-management systems export them (one level deep,
    with the same safety checks; see its table for the accepted layouts), and
    :func:`vet_notebook` says what is wrong with a file that nbgrader could not
    read (empty, invalid JSON, not a notebook).

Staging
    :func:`stage_submission` copies a submission's vetted notebooks, as handed in,
    into ``<course>/submitted/`` for nbgrader's autograde, whose first sanitize step
    rebuilds them on their sources (:mod:`autograder.instructor.restore`); its notes
    say what that step will restore (:func:`restore_notes`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import stat
import tempfile
import time
import unicodedata
import weakref
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..layout import AutograderError, Course, Repo, find_repo
from ..notebook import answer_source, grade_id, is_solution, solution_ids, vet_notebook

__all__ = [
    "stage_submission",
    "restore_notes",
    "perfect_submission",
    "half_done_submission",
    "fill_solutions",
    "solution_cell_ids",
    "release_notebook",
    "write_submission",
    "extract_zip",
    "discover",
    "Submission",
]

#: Refuse a submissions archive that unpacks to more than this many bytes (zip bombs);
#: also the budget of all the students' inner zips of one batch together.
MAX_ZIP_BYTES = 2 * 1024**3
#: Refuse a submissions archive with more entries than this.
MAX_ZIP_ENTRIES = 100_000
#: Refuse one student's zip (inside the submissions) past this many bytes unpacked ...
MAX_INNER_ZIP_BYTES = 256 * 1024**2
#: ... or this many entries.
MAX_INNER_ZIP_ENTRIES = 10_000
#: Refuse an entry that expands more than this many times its compressed size ...
MAX_ZIP_RATIO = 100
#: ... once it expands past this many bytes (small files may compress very well).
ZIP_RATIO_FLOOR = 10 * 1024**2
#: Moodle names a student's folder ``<Full Name>_<participant>_assignsubmission_file_``.
_MOODLE_SUFFIX = re.compile(r"_assignsubmission_[A-Za-z]+_?$")
#: Canvas's "Download Submissions" names every file
#: ``<sortable name, lower case, no spaces>_[late_]<user id>_<attachment id>_<file name as uploaded>``.
_CANVAS = re.compile(r"^(?P<name>[^_]+?)(?P<late>[_-]late)?_(?P<user>\d+)_(?P<file>\d+)_(?P<original>.+)$",
                     re.IGNORECASE)
#: Canvas appends ``-1``, ``-2``... to the stem of a file uploaded again under the same name.
_RESUBMITTED = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)$")
_JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "__pycache__", "Thumbs.db"}


# --------------------------------------------------------------------------- builders


def _read(nb):
    import nbformat

    if isinstance(nb, nbformat.NotebookNode):
        return copy.deepcopy(nb)
    if isinstance(nb, dict):
        return nbformat.from_dict(copy.deepcopy(nb))
    return nbformat.read(os.fspath(nb), as_version=4)


def solution_cell_ids(notebook) -> list[str]:
    """``grade_id`` of every solution cell, in notebook order.

    Parameters
    ----------
    notebook : path-like, dict or NotebookNode
        An nbgrader source or release notebook.

    Returns
    -------
    list of str
    """
    return solution_ids(_read(notebook))


def release_notebook(source: os.PathLike | str, repo: Repo | os.PathLike | str | None = None):
    """Generate, in a temporary folder, the release version of one source notebook.

    Parameters
    ----------
    source : path-like
        ``solutions/<assignment>/<notebook>.ipynb`` of a repository.
    repo : Repo or path-like, optional
        The repository; default: the one holding ``source``.

    Returns
    -------
    nbformat.NotebookNode
        What ``python -m autograder release`` writes for it (freshly generated, so
        it does not depend on ``exercises/`` being up to date).
    """
    import nbformat

    from .release import release

    source = Path(source).absolute()
    if repo is None:
        repo = find_repo(source.parent.parent.parent)
    elif not isinstance(repo, Repo):
        repo = find_repo(repo)
    assignment = source.parent.name
    with tempfile.TemporaryDirectory(prefix="autograder-nb-") as tmp:
        release([assignment], repo=repo, dest=tmp)
        return nbformat.read(os.path.join(tmp, assignment, source.name), as_version=4)


def fill_solutions(source, release, count: int | None = None):
    """The release notebook with (some of) its solution cells filled in from the source.

    Parameters
    ----------
    source : path-like, dict or NotebookNode
        The nbgrader source notebook (with solutions).
    release : path-like, dict or NotebookNode
        The matching release notebook (what students get).
    count : int, optional
        Fill only the first ``count`` solution cells (notebook order); all when omitted.

    Returns
    -------
    nbformat.NotebookNode
        A copy of ``release`` whose chosen solution cells hold the source text with
        the ``### BEGIN SOLUTION``/``### END SOLUTION`` lines and any hidden-test
        region removed. Every other cell is the release cell, untouched.

    Raises
    ------
    ValueError
        If ``count`` is negative or larger than the number of solution cells, or a
        solution cell of the release has no counterpart in the source.
    """
    src, rel = _read(source), _read(release)
    by_id = {grade_id(c): c for c in src.cells if grade_id(c)}
    ids = solution_ids(rel)
    if count is None:
        count = len(ids)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= len(ids):
        raise ValueError(f"count must be an integer in [0, {len(ids)}] (the solution cells), got count={count!r}")
    chosen = set(ids[:count])
    for cell in rel.cells:
        gid = grade_id(cell)
        if gid in chosen and is_solution(cell):
            if gid not in by_id:
                raise ValueError(f"solution cell grade_id={gid!r} of the release is not in the source notebook")
            cell.source = answer_source(by_id[gid].source)
    return rel


def perfect_submission(source, release=None):
    """What a student who solved everything hands in.

    Parameters
    ----------
    source : path-like, dict or NotebookNode
        The nbgrader source notebook.
    release : path-like, dict or NotebookNode, optional
        The release notebook; generated from ``source`` when omitted (then
        ``source`` must be a path inside a repository's ``solutions/``).

    Returns
    -------
    nbformat.NotebookNode
    """
    if release is None:
        release = release_notebook(source)
    return fill_solutions(source, release)


def half_done_submission(source, release=None):
    """A student who solved the first half (rounded down) of the solution cells.

    Parameters
    ----------
    source, release
        As for :func:`perfect_submission`.

    Returns
    -------
    nbformat.NotebookNode

    Raises
    ------
    ValueError
        If the notebook has fewer than two solution cells (no half to speak of).
    """
    if release is None:
        release = release_notebook(source)
    n = len(solution_cell_ids(release))
    if n < 2:
        raise ValueError(f"a half-done submission needs at least 2 solution cells, the notebook has {n}")
    return fill_solutions(source, release, count=n // 2)


def write_submission(folder, student_id: str, assignment: str, notebook_name: str, notebook) -> Path:
    """Write ``notebook`` to ``folder/<student_id>/<assignment>/<notebook_name>.ipynb``.

    Parameters
    ----------
    folder : path-like
        The submissions folder.
    student_id, assignment, notebook_name : str
        Where the file goes (``notebook_name`` without ``.ipynb``).
    notebook : NotebookNode, dict, str or bytes
        A notebook, or raw file content (to write malformed files in tests).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    name = notebook_name if notebook_name.endswith(".ipynb") else notebook_name + ".ipynb"
    path = Path(folder) / student_id / assignment / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, bytes):
        path.write_bytes(notebook)
    elif isinstance(notebook, str):
        path.write_text(notebook, encoding="utf-8")
    else:
        import nbformat

        nbformat.write(_read(notebook), os.fspath(path))
    return path


# --------------------------------------------------------------------------- input


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's path with ``/`` separators, its non-ASCII letters decoded right.

    Zip tools that do not set the UTF-8 flag (old Windows ones) store UTF-8 bytes
    that Python decodes as cp437 (``zoë`` reads ``zoÃ«``); undo that when the bytes
    are valid UTF-8, and normalise to NFC (macOS writes ``ë`` as ``e`` + U+0308).
    """
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


def _zip_plan(zf: zipfile.ZipFile, label: str, target: Path, *, max_bytes: int, max_entries: int,
              nested: bool) -> list[tuple[zipfile.ZipInfo, str]]:
    """Check every entry of an open archive before anything is written; return (entry, name) pairs.

    Raises
    ------
    AutograderError
        Naming ``label`` and the entry, for: too many entries, too many bytes,
        an entry compressed more than :data:`MAX_ZIP_RATIO` times (past
        :data:`ZIP_RATIO_FLOOR`), an absolute or ``..`` path, a symbolic link, or
        (``nested=False``) a zip inside the zip.
    """
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise AutograderError(
            f"refusing to unpack {label}: {len(infos)} entries (limit {max_entries}), which looks like a zip bomb"
        )
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise AutograderError(
            f"refusing to unpack {label}: it expands to {total} bytes (limit {max_bytes}), which looks like a zip bomb"
        )
    plan = []
    for info in infos:
        name = _entry_name(info)
        dest = (target / name).resolve()
        if (
            name.startswith("/")
            or (len(name) > 1 and name[1] == ":")
            or ".." in name.split("/")
            or (dest != target and target not in dest.parents)
        ):
            raise AutograderError(
                f"refusing to unpack {label}: entry {info.filename!r} would land outside the "
                "target folder (an absolute path or '..'); re-create the archive from the folder itself"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise AutograderError(
                f"refusing to unpack {label}: entry {info.filename!r} is a symbolic link; "
                "re-create the archive without links"
            )
        if info.file_size > ZIP_RATIO_FLOOR and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise AutograderError(
                f"refusing to unpack {label}: entry {info.filename!r} expands {info.file_size} bytes from "
                f"{info.compress_size} (more than {MAX_ZIP_RATIO} times), which looks like a zip bomb"
            )
        if not nested and not name.endswith("/") and name.lower().endswith(".zip"):
            raise AutograderError(
                f"refusing to unpack {label}: it holds another zip ({info.filename!r}) and archives are "
                "unpacked one level deep only; submit the notebooks themselves (or one zip of them)"
            )
        plan.append((info, name))
    return plan


def _unpack(zf: zipfile.ZipFile, plan, label: str, target: Path) -> int:
    """Write the checked entries under ``target``; return the bytes written."""
    written = 0
    for info, name in plan:
        dest = target / name
        if name.endswith("/"):
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zf.open(info) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error) as exc:
            raise AutograderError(
                f"{label} is damaged: entry {info.filename!r} cannot be read ({exc}); re-create the archive"
            ) from exc
        with contextlib.suppress(OverflowError, ValueError, OSError):
            # The entry's own time, so that the newer of two copies can be told apart (see _Finder.add).
            stamp = time.mktime(info.date_time + (0, 0, -1))
            os.utime(dest, (stamp, stamp))
    return written


def extract_zip(archive: os.PathLike | str, target: os.PathLike | str) -> Path:
    """Unpack ``archive`` into ``target``, refusing anything that could escape it or blow up.

    Zips inside it (a learning-management system's per-student zips) are left
    packed: :func:`discover` unpacks them, one level deep.

    Parameters
    ----------
    archive : path-like
        A ``.zip`` of a submissions folder.
    target : path-like
        An empty folder to unpack into.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    AutograderError
        If the file is not a zip archive, or an entry is absolute, climbs out with
        ``..``, is a symbolic link, or the archive looks like a zip bomb (more than
        :data:`MAX_ZIP_ENTRIES` entries, more than :data:`MAX_ZIP_BYTES` bytes, an
        entry compressed more than :data:`MAX_ZIP_RATIO` times). Nothing is
        written then.
    """
    archive, target = Path(archive), Path(target).resolve()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AutograderError(f"{archive} is not a readable zip archive ({exc}): re-create it with `zip -r`") from exc
    with zf:
        plan = _zip_plan(zf, os.fspath(archive), target, max_bytes=MAX_ZIP_BYTES, max_entries=MAX_ZIP_ENTRIES,
                         nested=True)
        _unpack(zf, plan, os.fspath(archive), target)
    return target


@dataclass
class Submission:
    """One student's work on one assignment, as found in a submissions folder.

    Attributes
    ----------
    student_id, assignment : str
        From the folder (or zip) names; the student id in Unicode NFC form.
    folder : pathlib.Path
        The folder holding the notebooks: ``<submissions>/<student_id>/<assignment>``,
        or a temporary copy when they came out of a zip or sat in the wrong folder;
        an empty folder when nothing could be unpacked (``problems`` says why).
    display : str
        How messages refer to ``folder`` (relative to what the user passed).
    problems : list of str
        What went wrong before grading (a refused zip, a notebook in the wrong
        folder, a duplicate), each a full sentence naming the file; belongs in the
        submission's note.
    late : bool
        The learning-management system marked it late (Canvas's ``_late_``).
    review : str
        Why an instructor should look at it (several copies were handed in), or ``""``.
    lms_id : str
        The student's id in the learning-management system (Canvas's user id), or ``""``.
    lms_order : tuple or None
        The LMS's order of submissions (Canvas's attachment id, resubmission number):
        of two copies, the higher is the newer.
    when : float or None
        Modification time of the copy (the newest file of a folder, or the zip it
        came from); of two copies without ``lms_order``, the later is graded.
    sources : dict
        ``{file name in folder: how to name it in messages}`` for files that were
        renamed on the way (Canvas's downloads); other files are named
        ``display/<file name>``.
    copies : int
        How many copies of this submission were handed in (the others are ignored).
    """

    student_id: str
    assignment: str
    folder: Path
    display: str
    problems: list[str] = field(default_factory=list)
    late: bool = False
    review: str = ""
    lms_id: str = ""
    lms_order: tuple | None = None
    when: float | None = None
    sources: dict = field(default_factory=dict)
    copies: int = 1
    #: Keeps the temporary folder of unpacked zips alive while submissions refer to it.
    _keep: object = field(default=None, repr=False, compare=False)

    def shown(self, name: str) -> str:
        """How messages name the file ``name`` (a path relative to :attr:`folder`)."""
        if name in self.sources:
            return self.sources[name]
        if self.sources:
            return f"{name} (of {self.display})"
        return os.path.join(self.display, name)


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name in _JUNK


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not _hidden(p))


def _visible_files(path: Path, suffix: str | None = None) -> list[Path]:
    return sorted(
        p for p in path.iterdir()
        if p.is_file() and not _hidden(p) and (suffix is None or p.suffix.lower() == suffix)
    )


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def _looks_like_student(path: Path, known: set[str]) -> bool:
    """A folder with an assignment folder, an ``<assignment>.zip`` or an ``<assignment>.ipynb`` in it."""
    if _MOODLE_SUFFIX.search(path.name):
        return True
    return any(_nfc(p.name) in known for p in _visible_dirs(path)) or any(
        _nfc(p.stem) in known for p in _visible_files(path) if p.suffix.lower() in (".zip", ".ipynb")
    )


def _unwrap(root: Path, known: set[str]) -> Path:
    """Descend through wrapper folders (``submissions/`` inside a zip, say)."""
    for _ in range(3):
        dirs = _visible_dirs(root)
        if len(dirs) != 1 or _visible_files(root):
            return root
        inner = dirs[0]
        if _nfc(inner.name) in known or _looks_like_student(inner, known):
            return root
        students = [d for d in _visible_dirs(inner) if _looks_like_student(d, known)]
        if not students and not _visible_files(inner, ".zip") and not _canvas_files(inner):
            return root
        root = inner
    return root


def _canvas_files(folder: Path) -> list[tuple[Path, re.Match]]:
    """The files of ``folder`` named as Canvas's "Download Submissions" names them."""
    return [(p, m) for p in _visible_files(folder) if (m := _CANVAS.match(_nfc(p.name)))]


def _newest_time(folder: Path) -> float:
    """Modification time of the newest file under ``folder`` (its own when it holds none)."""
    times = [p.stat().st_mtime for p in folder.rglob("*")
             if p.is_file() and not any(part.startswith(".") or part in _JUNK
                                         for part in p.relative_to(folder).parts)]
    return max(times, default=folder.stat().st_mtime)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def _student_id(name: str) -> str:
    """Student id of a folder or zip name: NFC, without Moodle's ``_assignsubmission_file_`` suffix."""
    return _MOODLE_SUFFIX.sub("", _nfc(name)) or _nfc(name)


class _Scratch:
    """A temporary folder removed (quietly) once nothing refers to this object any more."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="autograder-subs-"))
        weakref.finalize(self, shutil.rmtree, self.path, True)


class _Finder:
    """Collects the submissions of one submissions folder (see :func:`discover`)."""

    def __init__(self, known: list[str], prefer: str | None = None, notebooks: dict | None = None):
        self.known = set(known)
        self.only = known[0] if len(known) == 1 else None
        self.prefer = prefer
        #: notebook name -> assignment, for names that say which assignment a file is for
        self.notebooks = {name: a for a, names in (notebooks or {}).items() for name in names}
        self.found: dict[tuple[str, str], Submission] = {}
        self.budget = MAX_ZIP_BYTES
        self._scratch: _Scratch | None = None
        self._count = 0
        #: attributes given to every submission added meanwhile (the zip it came from, Canvas's flags)
        self._stamp: dict = {}

    @contextlib.contextmanager
    def stamp(self, **attributes):
        """Give the submissions added inside this block these attributes (unless they have their own)."""
        before = self._stamp
        self._stamp = {**before, **attributes}
        try:
            yield
        finally:
            self._stamp = before

    def scratch(self, *parts: str) -> Path:
        """A fresh folder in this discovery's temporary area."""
        if self._scratch is None:
            self._scratch = _Scratch()
        self._count += 1
        path = self._scratch.path.joinpath(str(self._count), *parts)
        path.mkdir(parents=True)
        return path

    def add(self, sub: Submission) -> None:
        for name, value in self._stamp.items():
            if getattr(sub, name) in (None, "", False):
                setattr(sub, name, value)
        key = (sub.student_id, sub.assignment)
        first = self.found.get(key)
        if first is None:
            self.found[key] = sub
            return
        # Two copies of one submission: grade the newest, name both, and mark it for review.
        full = [any(s.folder.iterdir()) for s in (first, sub)]
        if full[0] != full[1]:
            newer = full[1]
            why, short = "the one that could be unpacked", "graded the one that could be unpacked"
        elif first.lms_order is not None and sub.lms_order is not None and first.lms_order != sub.lms_order:
            newer = sub.lms_order > first.lms_order
            why, short = "the newer submission in the learning-management system", "graded the newest"
        else:
            times = [s.when if s.when is not None else _newest_time(s.folder) for s in (first, sub)]
            newer = times[1] > times[0]
            kept_time, other_time = (times[1], times[0]) if newer else times
            if kept_time == other_time:
                why, short = f"the first found (both saved {_when(kept_time)})", "graded the first found"
            else:
                why = f"the newer copy (saved {_when(kept_time)}; the other {_when(other_time)})"
                short = "graded the newest"
        kept, ignored = (sub, first) if newer else (first, sub)
        if newer:
            kept.problems[:0] = [p for p in first.problems if " is a second submission of " in p]
            kept.copies = first.copies
            self.found[key] = kept
        kept.copies += 1
        kept.review = f"{kept.copies} copies, {short}"
        kept.problems.append(
            f"{ignored.display} is a second submission of {sub.student_id}'s {sub.assignment!r}: ignored it and "
            f"graded {kept.display}, {why}; check that it is the right one"
        )

    def results(self) -> list[Submission]:
        subs = [self.found[k] for k in sorted(self.found)]
        for sub in subs:
            sub._keep = self._scratch
        return subs

    # -- archives ----------------------------------------------------------------

    def unzip(self, archive: Path, label: str, *parts: str) -> Path:
        """Unpack a student's zip into a fresh scratch folder; raise AutograderError if refused."""
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as exc:
            raise AutograderError(f"{label} is not a readable zip archive ({exc}); re-create it") from exc
        with zf:
            target = self.scratch(*parts).resolve()
            limit = min(MAX_INNER_ZIP_BYTES, self.budget)
            plan = _zip_plan(zf, label, target, max_bytes=limit, max_entries=MAX_INNER_ZIP_ENTRIES, nested=False)
            self.budget -= sum(info.file_size for info, _ in plan)
            _unpack(zf, plan, label, target)
        return target

    def refused(self, student_id: str, archive: Path, label: str, reason: str, assignment: str | None) -> None:
        """Record a zip that could not be unpacked as a submission with a problem (graded 0)."""
        names = []
        if assignment is None:
            with contextlib.suppress(Exception), zipfile.ZipFile(archive) as zf:
                names = sorted({part for info in zf.infolist() for part in _entry_name(info).split("/")
                                if part in self.known or part.removesuffix(".ipynb") in self.known})
            names = sorted({n.removesuffix(".ipynb") for n in names}) or ([self.only] if self.only else [])
        else:
            names = [assignment]
        for name in names or [_nfc(archive.stem)]:
            self.add(Submission(student_id, name, self.scratch("refused"), label, [f"{reason}; graded as 0"]))

    # -- a student's files -----------------------------------------------------------

    def student(self, student_id: str, base: Path, display: str, *, zips: bool, wrapped: int = 2) -> None:
        """Submissions in one student's folder (``display`` names ``base`` in messages)."""
        dirs, notebooks = _visible_dirs(base), _visible_files(base, ".ipynb")
        archives = _visible_files(base, ".zip") if zips else []
        if wrapped and len(dirs) == 1 and not notebooks and not archives and _nfc(dirs[0].name) not in self.known:
            inner = dirs[0]
            if any(_nfc(d.name) in self.known for d in _visible_dirs(inner)) or any(
                _nfc(p.stem) in self.known for p in _visible_files(inner, ".ipynb")
            ):
                # A wrapper folder (the student zipped a folder holding their assignment folders).
                self.student(student_id, inner, os.path.join(display, inner.name), zips=zips, wrapped=wrapped - 1)
                return
        for folder in dirs:
            self.add(Submission(student_id, _nfc(folder.name), folder, os.path.join(display, folder.name)))
        for nb in notebooks:
            name = _nfc(nb.stem)
            if name in self.known and (student_id, name) not in self.found:
                where = self.scratch(student_id, name)
                shutil.copyfile(nb, where / nb.name)
                shown = os.path.join(display, nb.name)
                self.add(Submission(student_id, name, where, display, [
                    f"{shown} is not in a {name}/ folder: graded as if it were "
                    f"{os.path.join(display, name, nb.name)}"]))
        for archive in archives:
            label = os.path.join(display, archive.name)
            name = _nfc(archive.stem)
            assignment = name if name in self.known else None
            with self.stamp(when=archive.stat().st_mtime):
                try:
                    target = self.unzip(archive, label, student_id, name)
                except AutograderError as exc:
                    self.refused(student_id, archive, label, str(exc), assignment)
                    continue
                if assignment is not None:
                    self.assignment_zip(student_id, assignment, target, label)
                else:
                    self.student(student_id, target, label, zips=False)

    def assignment_zip(self, student_id: str, assignment: str, target: Path, label: str) -> None:
        """``<student>/<assignment>.zip``: the notebooks at its top, or inside one folder."""
        folder, display = target, label
        for _ in range(2):
            dirs = _visible_dirs(folder)
            if _visible_files(folder, ".ipynb") or len(dirs) != 1:
                break
            folder, display = dirs[0], os.path.join(display, dirs[0].name)
        self.add(Submission(student_id, assignment, folder, display))

    # -- Canvas ------------------------------------------------------------------------

    def canvas(self, files: list[tuple[Path, re.Match]], prefix: str) -> None:
        """A flat Canvas download: ``<name>_[late_]<user id>_<attachment id>_<file>`` at the top.

        Each student's files become one submission: of the files uploaded under one
        name (``schedules.ipynb``, then ``schedules-1.ipynb``...), the newest (highest
        attachment id) is kept under its original name, and the older ones are noted.
        The student id is the name part; two students with the same name part get
        ``<name>_<user id>``.
        """
        users: dict[str, set[str]] = {}
        for _, m in files:
            users.setdefault(m["name"].lower(), set()).add(m["user"])
        groups: dict[tuple[str, str], list[tuple[Path, re.Match]]] = {}
        for path, m in files:
            groups.setdefault((m["name"].lower(), m["user"]), []).append((path, m))
        for (name, user), entries in sorted(groups.items()):
            student_id = name if len(users[name]) == 1 else f"{name}_{user}"
            newest: dict[str, tuple[tuple, Path, re.Match]] = {}
            older: list[tuple[str, Path]] = []
            for path, m in entries:
                stem, ext = os.path.splitext(m["original"])
                again = _RESUBMITTED.match(stem)
                base = again["stem"] if again else stem
                order = (int(m["file"]), int(again["n"]) if again else 0)
                filename = base + ext
                if filename in newest:
                    if newest[filename][0] > order:
                        older.append((filename, path))
                        continue
                    older.append((filename, newest[filename][1]))
                newest[filename] = (order, path, m)
            kept = sorted(newest.items())
            stems = [os.path.splitext(f)[0] for f, _ in kept]
            assignment = next((s for s in stems if s in self.known), None) or next(
                (self.notebooks[s] for s in stems if s in self.notebooks), None) or self.prefer or self.only
            late = any(bool(m["late"]) for _, (_, _, m) in kept)
            order = max(o for _, (o, _, _) in kept)
            shown = {f: os.path.join(prefix, path.name) for f, (_, path, _) in kept}
            display = next(iter(shown.values())) if len(shown) == 1 else os.path.join(
                prefix, f"{entries[0][1]['name']}_{user}_*")
            notes = [
                f"{os.path.join(prefix, path.name)} is an older upload of {filename} than "
                f"{shown[filename]}: graded the newest" for filename, path in sorted(older, key=lambda x: x[1].name)
            ]
            with self.stamp(late=late, lms_id=user, lms_order=order):
                if assignment is None:
                    # Several assignments and nothing says which one: grade what the files say.
                    assignment = stems[0] if stems else name
                zips = [(f, path) for f, (_, path, _) in kept if f.lower().endswith(".zip")]
                plain = [(f, path) for f, (_, path, _) in kept if not f.lower().endswith(".zip")]
                if plain or not zips:
                    where = self.scratch(student_id, assignment)
                    for filename, path in plain:
                        shutil.copyfile(path, where / filename)
                    self.add(Submission(student_id, assignment, where, display, list(notes), sources=shown))
                    notes = []
                for filename, path in zips:
                    label = shown[filename]
                    try:
                        target = self.unzip(path, label, student_id, "canvas")
                    except AutograderError as exc:
                        self.refused(student_id, path, label, str(exc), assignment)
                        continue
                    before = set(self.found)
                    self.student(student_id, target, label, zips=False)
                    if not set(self.found) - before and (student_id, assignment) not in self.found:
                        # A zip of notebooks without their folder: they are this assignment.
                        self.add(Submission(student_id, assignment, target, label))
                    if notes and (student_id, assignment) in self.found:
                        self.found[(student_id, assignment)].problems.extend(notes)
                        notes = []


def discover(folder: os.PathLike | str, display: str, known_assignments: list[str], *,
             assignment: str | None = None, notebooks: dict | None = None) -> list[Submission]:
    """List the (student, assignment) submissions of a submissions folder.

    The folder is laid out ``<student_id>/<assignment>/<notebook>.ipynb``. Also
    understood, so that an export from a learning-management system (Moodle,
    Canvas, a zip of zips) can be graded as downloaded:

    ==========================================  =======================================
    found                                       graded as
    ==========================================  =======================================
    ``<student_id>/<assignment>.zip``           ``<student_id>/<assignment>/``: the zip
                                                holds the notebooks, at its top or in
                                                one folder
    ``<student_id>.zip``                        ``<student_id>/``: the zip holds
                                                ``<assignment>/<notebook>.ipynb``
                                                (or ``<assignment>.ipynb``), at its top
                                                or in one folder
    ``<student_id>/<anything>.zip``             as ``<student_id>.zip``
    ``<student_id>/<assignment>.ipynb``         ``<student_id>/<assignment>/<assignment>.ipynb``,
                                                with a note (a notebook outside its folder)
    ``<student_id>/<other>.ipynb`` only         ``<student_id>/<assignment>/<other>.ipynb``
                                                with a note, when the repository has just
                                                one assignment (so that the grade note
                                                says which notebook is misnamed)
    ``<Name>_<n>_assignsubmission_file_/``      student id ``<Name>_<n>`` (Moodle's folders)
    ``<name>_[late_]<user>_<id>_<file>``        student id ``<name>`` (Canvas's flat
                                                download): ``<file>`` in the assignment
                                                its name, ``assignment`` or the only one
                                                says; of ``<file>``, ``<file>-1``... the
                                                highest ``<id>`` is kept; ``late_`` sets
                                                :attr:`Submission.late`
    one wrapper folder around all of it         looked through
    ==========================================  =======================================

    Inner zips are unpacked (into a temporary folder that lives as long as the
    returned submissions) one level deep and safely: a zip inside an inner zip,
    an entry that is absolute, climbs out with ``..`` or is a symbolic link, and
    zip bombs (more than :data:`MAX_INNER_ZIP_ENTRIES` entries, more than
    :data:`MAX_INNER_ZIP_BYTES` bytes, or the whole batch past
    :data:`MAX_ZIP_BYTES`, an entry compressed more than :data:`MAX_ZIP_RATIO`
    times) are refused: that student's submission comes back with a problem
    saying why and no notebook (so it is graded 0), and the others are not
    affected. Two copies of the same submission (a folder and a zip, say): the
    newest is graded (by LMS submission id, else by file time; one that could
    not be unpacked always loses), the other is named in a note, and the
    submission's :attr:`Submission.review` says so.

    Parameters
    ----------
    folder : path-like
        The submissions folder.
    display : str
        The name to use for ``folder`` in messages.
    known_assignments : list of str
        Assignment names of the repository (to recognise the layout).
    assignment : str, optional
        The assignment being graded, if one was chosen: what a Canvas file whose
        name says no assignment is taken for.
    notebooks : dict, optional
        ``{assignment: [notebook names]}``: a Canvas file named after a notebook
        belongs to that notebook's assignment.

    Returns
    -------
    list of Submission
        Sorted by student, then assignment; student ids in Unicode NFC form (so
        ``José`` from a macOS zip and from Linux are one student). Hidden folders
        and OS junk (``__MACOSX``, ``.ipynb_checkpoints``) are skipped, except a
        hidden folder holding an assignment folder (returned, so that its
        unusable student id is reported rather than silently dropped). Files at
        the top that are neither folders nor zips are ignored.
    """
    folder = Path(folder)
    known = set(known_assignments)
    root = _unwrap(folder, known)
    prefix = display if root == folder else os.path.join(display, os.fspath(root.relative_to(folder)))
    finder = _Finder(list(known_assignments), assignment, notebooks)
    canvas = _canvas_files(root)
    if canvas:
        finder.canvas(canvas, prefix)
    for entry in sorted(root.iterdir()):
        shown = os.path.join(prefix, entry.name)
        if entry.is_dir():
            if entry.name in _JUNK or (entry.name.startswith(".") and not any(
                _nfc(d.name) in known for d in entry.iterdir() if d.is_dir()
            )):
                continue
            student_id = _student_id(entry.name)
            before = len(finder.found)
            finder.student(student_id, entry, shown, zips=True)
            loose = _visible_files(entry, ".ipynb")
            if len(finder.found) == before and loose and finder.only:
                # Notebooks, none named after the assignment, and no folder: grade them as the
                # only assignment, so that the note names what was found (a renamed notebook).
                where = finder.scratch(student_id, finder.only)
                for nb in loose:
                    shutil.copyfile(nb, where / nb.name)
                finder.add(Submission(student_id, finder.only, where, shown, [
                    f"{shown} has no {finder.only}/ folder, only {', '.join(nb.name for nb in loose)}"]))
        elif entry.is_file() and entry.suffix.lower() == ".zip" and not _hidden(entry) and not any(
            entry == path for path, _ in canvas
        ):
            student_id = _student_id(entry.stem)
            with finder.stamp(when=entry.stat().st_mtime):
                try:
                    target = finder.unzip(entry, shown, student_id)
                except AutograderError as exc:
                    finder.refused(student_id, entry, shown, str(exc), None)
                    continue
                finder.student(student_id, target, shown, zips=False)
    return finder.results()


def _rmtree(path: Path) -> None:
    """Remove a folder nbgrader made read-only (files 444)."""
    def onerror(func, p, _exc):
        os.chmod(p, 0o700 if os.path.isdir(p) else 0o600)
        func(p)

    if path.exists():
        shutil.rmtree(path, onerror=onerror)


def restore_notes(path: Path, source_path: Path) -> list[str]:
    """What grading will restore in the notebook at ``path``: the notes of :func:`.restore.sanitize`.

    Raises whatever makes the notebook's cells unusable (nbgrader's autograde
    would fail on the same file the same way).
    """
    import nbformat

    from .restore import sanitize

    student = nbformat.read(os.fspath(path), as_version=4)
    source = nbformat.read(os.fspath(source_path), as_version=4)
    return sanitize(student, source)[1]


def stage_submission(course: Course, sub: Submission) -> tuple[int, list[str]]:
    """Copy the readable files of ``sub`` into submitted/; return (notebooks copied, notes).

    Each expected notebook is found (also under another name or deeper in the
    folder, with a note), vetted (:func:`autograder.notebook.vet_notebook`) and
    copied as handed in: nbgrader's autograde rebuilds it on its source
    (:class:`autograder.instructor.restore.RestoreCells`). The notes say what that
    rebuild will restore (a test cell edited, moved, deleted...), computed here by
    the same steps, and why a notebook that cannot be graded is missing from
    submitted/ (missing, unreadable, cells unusable: "graded as 0").
    """
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
            changes = restore_notes(path, repo.solutions / sub.assignment / (name + ".ipynb"))
        except Exception as exc:  # noqa: BLE001 - vetting passed, but the cells are unusable
            why = (str(exc).strip().splitlines() or [""])[0]
            notes.append(f"{shown}: its cells could not be read ({type(exc).__name__}: {why}); graded as 0")
            continue
        notes.extend(f"{shown}: {change}" for change in changes)
        shutil.copyfile(path, dest / (name + ".ipynb"))
        copied += 1
    for extra in sorted(sub.folder.rglob("*")):
        rel = extra.relative_to(sub.folder)
        if extra.is_file() and extra.suffix != ".ipynb" and not any(
            part.startswith(".") or part in ("__pycache__", "__MACOSX") for part in rel.parts
        ):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(extra, dest / rel)
    return copied, notes
