"""Student submissions: build them (for tests and benchmarks), find them, vet them.

Builders
    :func:`perfect_submission` fills every solution cell of the release notebook
    with the source cell (marker lines and hidden-test regions removed);
    :func:`half_done_submission` fills only the first half of the solution cells.

Input
    A submissions folder is laid out ``<student_id>/<assignment>/<notebook>.ipynb``;
    :func:`extract_zip` unpacks a ``.zip`` of that safely, :func:`discover` lists the
    (student, assignment) pairs, and :func:`vet_notebook` says what is wrong with a
    file that nbgrader could not read (empty, invalid JSON, not a notebook).
"""

from __future__ import annotations

import copy
import json
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .layout import AutograderError, Repo, find_repo

__all__ = [
    "perfect_submission",
    "half_done_submission",
    "fill_solutions",
    "solution_cell_ids",
    "release_notebook",
    "write_submission",
    "extract_zip",
    "discover",
    "vet_notebook",
    "Submission",
]

#: Refuse archives that unpack to more than this many bytes (zip bombs).
MAX_ZIP_BYTES = 2 * 1024**3
#: Refuse archives with more entries than this.
MAX_ZIP_ENTRIES = 100_000
_JUNK = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "__pycache__", "Thumbs.db"}


# --------------------------------------------------------------------------- builders


def _read(nb):
    import nbformat

    if isinstance(nb, nbformat.NotebookNode):
        return copy.deepcopy(nb)
    if isinstance(nb, dict):
        return nbformat.from_dict(copy.deepcopy(nb))
    return nbformat.read(os.fspath(nb), as_version=4)


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


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
    nb = _read(notebook)
    return [_nbg(c)["grade_id"] for c in nb.cells if _nbg(c).get("solution") and _nbg(c).get("grade_id")]


def _strip_secrets(source: str) -> str:
    """Source cell text without the solution marker lines and hidden-test regions."""
    out, hidden = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif hidden or "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            continue
        else:
            out.append(line)
    return "\n".join(out)


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
    by_id = {_nbg(c).get("grade_id"): c for c in src.cells if _nbg(c).get("grade_id")}
    ids = [_nbg(c)["grade_id"] for c in rel.cells if _nbg(c).get("solution") and _nbg(c).get("grade_id")]
    if count is None:
        count = len(ids)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= len(ids):
        raise ValueError(f"count must be an integer in [0, {len(ids)}] (the solution cells), got count={count!r}")
    chosen = set(ids[:count])
    for cell in rel.cells:
        gid = _nbg(cell).get("grade_id")
        if gid in chosen:
            if gid not in by_id:
                raise ValueError(f"solution cell grade_id={gid!r} of the release is not in the source notebook")
            cell.source = _strip_secrets(by_id[gid].source)
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


def extract_zip(archive: os.PathLike | str, target: os.PathLike | str) -> Path:
    """Unpack ``archive`` into ``target``, refusing anything that could escape it.

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
        ``..``, is a symbolic link, or the archive is implausibly large.
    """
    archive, target = Path(archive), Path(target).resolve()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AutograderError(f"{archive} is not a readable zip archive ({exc}): re-create it with `zip -r`") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise AutograderError(f"refusing to unpack {archive}: {len(infos)} entries (limit {MAX_ZIP_ENTRIES})")
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise AutograderError(f"refusing to unpack {archive}: it expands to more than {MAX_ZIP_BYTES} bytes")
        for info in infos:
            name = info.filename.replace("\\", "/")
            mode = info.external_attr >> 16
            dest = (target / name).resolve()
            unsafe = (
                name.startswith("/")
                or (len(name) > 1 and name[1] == ":")
                or ".." in name.split("/")
                or (dest != target and target not in dest.parents)
            )
            if unsafe:
                raise AutograderError(
                    f"refusing to unpack {archive}: entry {info.filename!r} would land outside the "
                    "target folder; re-create the archive from the submissions folder itself"
                )
            if stat.S_ISLNK(mode):
                raise AutograderError(
                    f"refusing to unpack {archive}: entry {info.filename!r} is a symbolic link; "
                    "re-create the archive without links"
                )
        for info in infos:
            name = info.filename.replace("\\", "/")
            dest = target / name
            if name.endswith("/"):
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    return target


@dataclass
class Submission:
    """One student's work on one assignment, as found in a submissions folder.

    Attributes
    ----------
    student_id, assignment : str
        From the folder names.
    folder : pathlib.Path
        ``<submissions>/<student_id>/<assignment>``.
    display : str
        How messages refer to ``folder`` (relative to what the user passed).
    """

    student_id: str
    assignment: str
    folder: Path
    display: str
    problems: list[str] = field(default_factory=list)


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(
        p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in _JUNK
    )


def _unwrap(root: Path, known: set[str]) -> Path:
    """Descend through wrapper folders (``submissions/`` inside a zip, say)."""
    for _ in range(3):
        dirs = _visible_dirs(root)
        files = [p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
        if len(dirs) != 1 or files:
            return root
        inner = dirs[0]
        level2 = {s.name for s in _visible_dirs(inner)}
        level3 = {d.name for s in _visible_dirs(inner) for d in _visible_dirs(s)}
        if level2 & known or not level3 & known:
            return root
        root = inner
    return root


def discover(folder: os.PathLike | str, display: str, known_assignments: list[str]) -> list[Submission]:
    """List the (student, assignment) folders of a submissions folder.

    Parameters
    ----------
    folder : path-like
        Laid out ``<student_id>/<assignment>/<notebook>.ipynb``. A single wrapper
        folder around that (as zip tools make) is looked through.
    display : str
        The name to use for ``folder`` in messages.
    known_assignments : list of str
        Assignment names of the repository (to recognise the layout).

    Returns
    -------
    list of Submission
        Sorted by student, then assignment. Hidden folders and OS junk
        (``__MACOSX``, ``.ipynb_checkpoints``) are skipped.
    """
    folder = Path(folder)
    root = _unwrap(folder, set(known_assignments))
    prefix = display if root == folder else os.path.join(display, os.fspath(root.relative_to(folder)))
    found = []
    for student in _visible_dirs(root):
        for assignment in _visible_dirs(student):
            found.append(Submission(
                student_id=student.name,
                assignment=assignment.name,
                folder=assignment,
                display=os.path.join(prefix, student.name, assignment.name),
            ))
    return found


def vet_notebook(path: os.PathLike | str, display: str | None = None) -> str | None:
    """Say what stops nbgrader from reading a submitted notebook, or ``None`` if fine.

    Parameters
    ----------
    path : path-like
        The submitted ``.ipynb`` file.
    display : str, optional
        How to name the file in the message (default: ``path``).

    Returns
    -------
    str or None
        A message naming the file, the problem and what to do, e.g.
        ``"subs/alice/toy/toy.ipynb is not valid JSON (line 3): re-export it from
        Jupyter (File > Download); graded as 0"``.
    """
    path = Path(path)
    display = display or os.fspath(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return f"{display} could not be read ({exc.strerror}); graded as 0"
    if not raw.strip():
        return f"{display} is empty ({len(raw)} bytes): the upload failed or the notebook was never saved; graded as 0"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{display} is not UTF-8 text (a binary file?): re-export it from Jupyter (File > Download); graded as 0"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            f"{display} is not valid JSON (line {exc.lineno}): re-export it from Jupyter "
            "(File > Download); graded as 0"
        )
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        return f"{display} is JSON but not a Jupyter notebook (no 'cells'/'nbformat'): submit the .ipynb file; graded as 0"
    if data.get("nbformat") != 4:
        return f"{display} uses notebook format {data.get('nbformat')!r}, not 4: open and save it in a current Jupyter; graded as 0"
    import nbformat

    try:
        nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds of errors
        return f"{display} is not a readable notebook ({type(exc).__name__}: {exc}); graded as 0"
    return None
