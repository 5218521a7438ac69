"""The restore step: a submission's answers on the instructor's skeleton, as nbgrader's sanitize preprocessor.

What the student controls is their answers; the structure is the instructor's.
:func:`restore` walks the *source* notebook in order and emits:

- every test cell, locked cell and instruction cell **from the source** (so a test
  cell that was edited, deleted, moved, duplicated, turned into markdown, or had
  its metadata changed - points raised, ``grade_id`` renamed - is graded as the
  instructor wrote it, in its place);
- every answer cell's text **from the submission** (matched by ``grade_id``; the
  first copy wins, later copies are kept as ordinary cells) in the source's cell,
  with the source's cell type and metadata;
- every cell the student added, after the cell it followed in the submission,
  stripped of nbgrader metadata (an added cell cannot claim points).

The roles the checker needs (:func:`autograder.notebook.cell_roles`) are also read
from the source, never from the submission's metadata.

Where it runs: :class:`RestoreCells` is the first of nbgrader's sanitize
preprocessors (``Autograde.sanitize_preprocessors``, see
:func:`sanitize_preprocessors`), in place of nbgrader's ``OverwriteCells``: it reads
the trusted source ``solutions/<assignment>/<notebook>.ipynb``, rebuilds the
submitted notebook once, and stamps each graded cell with the checksum nbgrader's
``generate_assignment`` recorded for it (what ``OverwriteCells`` did, so that an
untouched answer still reads "No response."). :func:`sanitize` applies the very
same preprocessors, in the same order, outside nbgrader: a grading task that runs
a submission away from the gradebook sees the cells that nbgrader's autograde sees,
in the same order. The submission's note gets the restore notes from
:func:`autograder.instructor.inbox.stage_submission`, which calls :func:`sanitize`
on the file it stages.
"""

from __future__ import annotations

import copy
import os
import threading

from ..notebook import cell_kind, grade_id, grading_meta, visible_test_source

__all__ = ["restore", "restructure", "release_checksums", "RestoreCells", "sanitize_preprocessors", "sanitize"]


def restore(student, source) -> tuple:
    """Return ``(notebook, notes)``: the submission's answers on the source's skeleton.

    Parameters
    ----------
    student, source : nbformat.NotebookNode
        The submitted notebook and the instructor's source notebook. Neither is modified.

    Returns
    -------
    notebook : nbformat.NotebookNode
        The source's notebook metadata (kernel included) and cells, the answers in
        place; fresh cell ids ``cell-0000``...; code cells without outputs.
    notes : list of str
        What was restored or is missing, in words for the instructor's summary.
    """
    import nbformat

    src_kinds = {grade_id(c): cell_kind(c) for c in source.cells if grade_id(c)}
    plain_source = {(c.get("cell_type"), c.get("source")) for c in source.cells if not grade_id(c)}
    order_seen: list[str] = []
    answers: dict[str, object] = {}
    added: dict[str | None, list] = {}
    anchor = None
    restored: list[str] = []
    seen_src: set = set()
    for cell in student.cells:
        gid = grade_id(cell)
        kind = src_kinds.get(gid) if gid else None
        if kind is None and not gid and (cell.get("cell_type"), cell.get("source")) in plain_source:
            continue  # an instruction cell of the source, as released: it comes from the source
        if kind is not None and gid not in seen_src:
            seen_src.add(gid)
            if kind in ("test", "locked"):
                order_seen.append(gid)
            if kind == "solution":
                answers[gid] = cell
            elif kind == "test":
                s_cell = next(c for c in source.cells if grade_id(c) == gid)
                if (visible_test_source(cell.get("source", "")) != visible_test_source(s_cell.get("source", ""))
                        or cell.get("cell_type") != s_cell.get("cell_type")
                        or grading_meta(cell) != grading_meta(s_cell)):
                    restored.append(gid)
            anchor = gid
            continue
        if kind == "test" or (kind is not None and gid in seen_src and kind != "solution"):
            restored.append(gid)  # a duplicate of a test or locked cell: dropped
            continue
        plain = copy.deepcopy(cell)
        if isinstance(plain.get("metadata"), dict):
            plain["metadata"].pop("nbgrader", None)
        added.setdefault(anchor, []).append(plain)

    out = copy.deepcopy(source)
    out.cells = []
    missing_solutions, missing_tests = [], []
    first_solution_done = False
    for cell in source.cells:
        gid, kind = grade_id(cell), cell_kind(cell)
        if kind == "solution" and not first_solution_done:
            out.cells.extend(added.pop(None, []))
            first_solution_done = True
        if kind == "solution":
            mine = answers.get(gid)
            if mine is None:
                missing_solutions.append(gid)
            else:
                new = copy.deepcopy(cell)  # the instructor's cell type and metadata, the student's text
                new["source"] = mine.get("source", "")
                out.cells.append(new)
        else:
            if kind == "test" and gid not in seen_src:
                missing_tests.append(gid)
            out.cells.append(copy.deepcopy(cell))
        if gid:
            out.cells.extend(added.pop(gid, []))
    for rest in added.values():
        out.cells.extend(rest)
    for i, cell in enumerate(out.cells):
        cell["id"] = f"cell-{i:04d}"
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    out = nbformat.from_dict(out)
    notes = []
    if missing_solutions:
        notes.append(
            f"answer cell(s) {', '.join(missing_solutions)} missing (deleted, or their metadata changed): the "
            "tests that need them score 0; start again from the released notebook to keep them"
        )
    in_source_order = [grade_id(c) for c in source.cells if grade_id(c) in set(order_seen)]
    moved = [g for g, h in zip(order_seen, in_source_order) if g != h]
    changed = sorted(set(restored) | set(missing_tests) | set(moved))
    if changed:
        notes.append(
            f"test/locked cell(s) {', '.join(changed)} differ from the instructor's version (edited, moved, "
            "deleted, duplicated or retagged in the notebook, or changed in solutions/ since the release): "
            "graded with the instructor's version in its place"
        )
    return out, notes


#: The name this step had before it became a preprocessor.
restructure = restore


def release_checksums(source) -> dict[str, str]:
    """``{grade_id: checksum}`` of the source's graded, answer and locked cells, as nbgrader records them.

    ``generate_assignment`` stores in the gradebook the checksum of each such cell
    of the release *before* it removes the hidden tests (answers replaced by the
    stub, hidden tests kept): nbgrader's own ``ClearSolutions`` and
    ``compute_checksum``, run here on a copy of ``source``. An answer cell whose
    checksum still matches is one the student left as released ("No response.").
    """
    from nbgrader.preprocessors import ClearSolutions
    from nbgrader.utils import compute_checksum, is_grade, is_locked, is_solution

    released, _ = ClearSolutions().preprocess(copy.deepcopy(source), {})
    return {grade_id(c): compute_checksum(c) for c in released.cells
            if grade_id(c) and (is_grade(c) or is_solution(c) or is_locked(c))}


_MADE: dict = {}
_MAKING = threading.Lock()


def _restore_cells():
    """The :class:`RestoreCells` class, made once, on first use (importing nbgrader takes seconds).

    Safe from several threads at once (a local executor's or a Dask worker's): every
    caller gets the same class.
    """
    made = _MADE.get("RestoreCells")
    if made is None:
        with _MAKING:
            made = _MADE.get("RestoreCells")
            if made is None:
                made = _MADE["RestoreCells"] = _make_restore_cells()
    return made


def _make_restore_cells():
    from nbgrader.preprocessors.base import NbGraderPreprocessor
    from traitlets import Any, Unicode

    class RestoreCells(NbGraderPreprocessor):
        """nbgrader's sanitize step: the submission rebuilt on its source (:func:`restore`), checksums stamped.

        Takes the place of nbgrader's ``OverwriteCells``. The source is
        :attr:`source` when set (what :func:`sanitize` does), else
        ``<source_root>/<assignment>/<notebook>.ipynb`` for the notebook nbgrader is
        converting (``resources["nbgrader"]``). The restore notes go to
        ``resources["autograder"]["restore_notes"]``.
        """

        source_root = Unicode("", help="The solutions/ folder (trusted sources).").tag(config=True)
        source = Any(None, allow_none=True, help="The source notebook itself (instead of source_root).")

        def _source(self, resources):
            import nbformat

            if self.source is not None:
                return self.source
            info = resources.get("nbgrader", {})
            path = os.path.join(self.source_root, info["assignment"], info["notebook"] + ".ipynb")
            return nbformat.read(path, as_version=4)

        def preprocess(self, nb, resources):
            source = self._source(resources)
            out, notes = restore(nb, source)
            checksums = release_checksums(source)
            for cell in out.cells:
                gid = grade_id(cell)
                if gid in checksums and "nbgrader" in cell.metadata:
                    cell.metadata.nbgrader["checksum"] = checksums[gid]
            resources.setdefault("autograder", {})["restore_notes"] = notes
            return out, resources

    RestoreCells.__qualname__ = "RestoreCells"  # pickled by reference, found through __getattr__
    return RestoreCells


def __getattr__(name):
    if name == "RestoreCells":
        return _restore_cells()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sanitize_preprocessors() -> list:
    """nbgrader's ``Autograde.sanitize_preprocessors`` for this course, in order.

    :class:`RestoreCells` first: it rebuilds the notebook from the submission as
    handed in, so the first copy of a duplicated answer wins and a duplicated test
    cell is dropped (nbgrader's ``DeduplicateIds`` before it would keep the last
    copy and turn the others into student cells); it also takes the source's
    notebook metadata, kernel included (nbgrader's ``OverwriteKernelspec``). Then
    nbgrader's ``ClearOutput``, ``DeduplicateIds`` and ``CheckCellMetadata`` check
    the result (after a restore, the first two change nothing).
    """
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds

    return [_restore_cells(), ClearOutput, DeduplicateIds, CheckCellMetadata]


def sanitize(student, source) -> tuple:
    """What nbgrader's autograde does to a submitted notebook before running it: ``(notebook, notes)``.

    The preprocessors of :func:`sanitize_preprocessors`, in order, with nbconvert's
    check after each one that the notebook is still valid; so a grading task
    that runs the notebook outside nbgrader runs the cells nbgrader grades.

    Parameters
    ----------
    student, source : nbformat.NotebookNode
        The submitted notebook (as read from the file) and its source. Neither is modified.

    Returns
    -------
    notebook : nbformat.NotebookNode
    notes : list of str
        The restore notes (see :func:`restore`).

    Raises
    ------
    Exception
        What a preprocessor or the validation raises on a notebook whose cells
        cannot be used; nbgrader would fail on it the same way.
    """
    import nbformat

    nb = copy.deepcopy(student)
    resources: dict = {}
    for cls in sanitize_preprocessors():
        pre = cls(source=source) if cls is _restore_cells() else cls()
        nb, resources = pre(nb, resources)
        nbformat.validate(nb, relax_add_props=True)
    return nb, resources["autograder"]["restore_notes"]
