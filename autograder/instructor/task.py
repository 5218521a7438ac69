"""Grade one submission away from the gradebook: the task an executor runs.

:func:`grade_one` is pure and self-contained: it needs this repository's code and
nothing else (no course directory, no gradebook, no network), so it runs in a
thread of the grading process (``--executor local``) or on any machine of a Dask
cluster (``--executor dask://HOST:PORT``, see :mod:`autograder.instructor.executors`).
Everything it needs comes in its arguments:

- ``submission``: the staged submission (what
  :func:`autograder.instructor.inbox.stage_submission` copied into
  ``<course>/submitted/<student>/<assignment>/``): ``{"student_id", "assignment",
  "notebooks": {name: notebook JSON text}, "files": {relative path: bytes}}``;
- ``release``: the instructor's side, ``{"assignment", "sources": {name: source
  notebook JSON text, hidden tests included}, "files": {relative path: bytes} (the
  other files of ``solutions/<assignment>/``, which nbgrader copies over the
  student's), "version": grader code version}``;
- ``limits``: ``autograder.engine.run.Limits(...).to_dict()``.

Each notebook goes through the steps nbgrader's autograde applies before running
(:func:`autograder.instructor.restore.sanitize`) and is run by
:func:`autograder.engine.run.run_notebook` in a private temporary folder holding
the submission's files. The result carries the outputs of every code cell and
the run notes; the coordinating process puts them into nbgrader's autograde
(:class:`autograder.instructor.preprocessors.InjectResult`), which writes the
grades. A task may run twice (a Dask worker lost mid-task): the result is keyed
by :func:`task_key`, a hash of everything that can change it, and the
coordinator records each key once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path, PurePosixPath

__all__ = ["grade_one", "task_key", "grader_version", "source_hash", "cell_signature", "needs_gpu"]

_PACKAGE = Path(__file__).resolve().parent.parent
#: The restore step's preprocessor classes are made on first use: once, under this lock, when several
#: threads (the local executor, a Dask worker with several threads) start grading at once.
_FIRST_USE = threading.Lock()


def grader_version() -> str:
    """A hash of the grader's own code (every ``.py`` file of the ``autograder`` package, as on disk now).

    Part of every task key: a result computed by other grader code is never taken
    for this one's; a Dask executor also checks that its workers report the same.
    """
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(_PACKAGE).as_posix().encode()
        data = path.read_bytes()
        h.update(len(rel).to_bytes(8, "big") + rel + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:20]


def _digest(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def task_key(submission: dict, release: dict, limits: dict) -> str:
    """The key of a grading task: sha256 of the canonical (submission, release, limits).

    The same arguments give the same key on every machine; any change of a
    notebook, a file, the release, the limits or the grader's code gives another.
    """
    canonical = {
        "submission": {
            "student_id": submission["student_id"],
            "assignment": submission["assignment"],
            "notebooks": {name: _digest(text) for name, text in submission.get("notebooks", {}).items()},
            "files": {path: _digest(data) for path, data in submission.get("files", {}).items()},
        },
        "release": {
            "assignment": release["assignment"],
            "sources": {name: _digest(text) for name, text in release.get("sources", {}).items()},
            "files": {path: _digest(data) for path, data in release.get("files", {}).items()},
            "version": release.get("version", ""),
        },
        "limits": limits,
    }
    return _digest(json.dumps(canonical, sort_keys=True, separators=(",", ":")))


def source_hash(source: str) -> str:
    """sha1 of a cell's source, as results and :class:`InjectResult` compare them."""
    return hashlib.sha1(source.encode("utf-8", errors="surrogatepass")).hexdigest()


def cell_signature(nb) -> list:
    """``[[index, grade_id, sha1 of source], ...]`` of every cell of ``nb``: what was run, in order."""
    from ..notebook import grade_id

    return [[i, grade_id(cell), source_hash(cell.get("source", ""))] for i, cell in enumerate(nb.cells)]


def needs_gpu(release: dict) -> bool:
    """Whether a source notebook of the release asks for a GPU (:func:`autograder.notebook.needs_gpu`)."""
    from ..notebook import needs_gpu as source_needs_gpu

    for text in release.get("sources", {}).values():
        try:
            source = json.loads(text)
        except ValueError:
            continue
        if isinstance(source, dict) and source_needs_gpu(source):
            return True
    return False


def _safe_path(root: Path, rel: str) -> Path | None:
    """``root / rel`` when ``rel`` is a plain relative path (no ``..``, not absolute), else None."""
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in ("..", "") for p in parts):
        return None
    return root.joinpath(*parts)


def _write_files(root: Path, files: dict, notes: list, what: str) -> None:
    for rel, data in sorted(files.items()):
        path = _safe_path(root, rel)
        if path is None:
            notes.append(f"{what} file {rel!r} has a path outside the submission's folder: left out")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            notes.append(f"{what} file {rel!r} clashes with a folder of the same name: left out")
            continue
        path.write_bytes(data)


def grade_one(submission: dict, release: dict, limits: dict) -> dict:
    """Run every notebook of one staged submission; return the outputs and notes.

    Parameters
    ----------
    submission : dict
        ``{"student_id", "assignment", "notebooks": {name: JSON text}, "files": {path: bytes}}``.
    release : dict
        ``{"assignment", "sources": {name: JSON text}, "files": {path: bytes}, "version": str}``.
    limits : dict
        ``Limits(...).to_dict()`` (:class:`autograder.engine.run.Limits`).

    Returns
    -------
    dict
        ``{"key", "student_id", "assignment", "notebooks": {name: {"cells", "roles",
        "outputs", "notes", "restore_notes", "mode", "overtime", "seconds"}}, "seconds"}``:
        ``cells`` is :func:`cell_signature` of the notebook that was run, ``outputs``
        maps the index (a string) of every code cell to its nbformat outputs,
        ``notes`` are the run's notes (time limits, crashes, memory; a notebook that
        could not be read or restored gets a note and ``outputs`` None),
        ``restore_notes`` what the restore step changed (the coordinator has them
        already from staging). Student failures never raise; an exception is a bug.
    """
    import nbformat

    from ..engine.run import Limits, run_notebook
    from .restore import sanitize, sanitize_preprocessors

    with _FIRST_USE:
        sanitize_preprocessors()
    started = time.perf_counter()
    key = task_key(submission, release, limits)
    run_limits = Limits(**limits)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="autograder-task-") as tmp:
        workdir = Path(tmp) / "submission"
        workdir.mkdir()
        setup_notes: list[str] = []
        # As nbgrader's autograde: the submitted folder, then the source's other files over it.
        _write_files(workdir, submission.get("files", {}), setup_notes, "submitted")
        _write_files(workdir, release.get("files", {}), setup_notes, "release")
        prepared = {}
        for name in sorted(submission.get("notebooks", {})):
            label = f"{name}.ipynb"
            entry = {"cells": [], "roles": [], "outputs": None, "notes": [], "restore_notes": [],
                     "mode": None, "overtime": False, "seconds": {}}
            results[name] = entry
            source_text = release.get("sources", {}).get(name)
            if source_text is None:
                entry["notes"].append(f"{label} is not a notebook of assignment {release['assignment']!r}: not run")
                continue
            try:
                source = nbformat.reads(source_text, as_version=4)
                student = nbformat.reads(submission["notebooks"][name], as_version=4)
                nb, restore_notes = sanitize(student, source)
            except Exception as exc:  # noqa: BLE001 - an unusable notebook is a note, not a crash
                why = (str(exc).strip().splitlines() or [""])[0]
                entry["notes"].append(f"{label}: its cells could not be read ({type(exc).__name__}: {why}); "
                                      "graded as 0")
                continue
            entry["restore_notes"] = list(restore_notes)
            nbformat.write(nb, os.fspath(workdir / label))
            prepared[name] = (nb, source)
        if setup_notes and results:
            results[sorted(results)[0]]["notes"][:0] = setup_notes
        for name, (nb, source) in prepared.items():  # sorted, as nbgrader runs them
            entry = results[name]
            run = run_notebook(nb, source, workdir, run_limits, label=f"{name}.ipynb")
            entry.update(
                cells=cell_signature(nb), roles=list(run.roles),
                outputs={str(i): outs for i, outs in run.outputs.items()},
                mode=run.mode, overtime=run.overtime, seconds=run.seconds,
            )
            entry["notes"].extend(run.notes)
    return {
        "key": key, "student_id": submission["student_id"], "assignment": submission["assignment"],
        "notebooks": results, "seconds": time.perf_counter() - started,
    }
