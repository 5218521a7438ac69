"""nbgrader preprocessors: put a grading task's outputs in; keep hidden tests out of feedback.

:class:`InjectResult` takes the place of nbgrader's ``Execute`` in
``Autograde.autograde_preprocessors``: the submission was already run, away from
nbgrader and the gradebook, by :func:`autograder.instructor.task.grade_one`
(:mod:`autograder.engine.checker` runs the tests, trusted, and starts
:mod:`autograder.engine.worker` for the student's code, sandboxed, with a per-cell
and a per-submission time limit). It copies the outputs into the notebook (an
``error`` output fails a test cell, as nbgrader expects) and writes the run notes
to ``<course>/runs/<student>/<assignment>/<notebook>.json`` for the summary; so
nbgrader's ``SaveAutoGrades``, in the coordinating process only, writes the grades.

:class:`HideHiddenTests` runs before feedback is rendered: the source of every
``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region is replaced by one
comment line, so feedback never shows hidden test code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Unicode

from ..notebook import HIDDEN_PLACEHOLDER, forbidden_modules, hide_hidden_tests

__all__ = ["InjectResult", "result_path", "HideHiddenTests", "hide_hidden_tests", "forbidden_modules",
           "HIDDEN_PLACEHOLDER"]


class HideHiddenTests(NbGraderPreprocessor):
    """Blank out hidden-test regions (feedback only; grading is already done)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code" and "BEGIN HIDDEN TESTS" in cell.get("source", ""):
            cell.source = hide_hidden_tests(cell.source)
        return cell, resources


class InjectResult(NbGraderPreprocessor):
    """Put a grading task's outputs into the notebook nbgrader is autograding.

    The notebook was run by :func:`autograder.instructor.task.grade_one` (in this
    process's thread pool or on a Dask worker); the coordinating process stored its
    result for each notebook in ``<course>/runs/<student>/<assignment>/<notebook>.result.json``
    (:func:`result_path`). This preprocessor checks that nbgrader's notebook has the
    cells that were run (index, ``grade_id``, source hash, after the same sanitize
    steps), fills in the outputs and execution counts, and writes the run notes to
    ``<notebook>.json`` next to it for the summary. A missing result or cells that
    differ raise: nbgrader then fails the submission, which scores 0 with a note
    (never a test passing for want of an output).
    """

    course_root = Unicode("", help="The course directory.").tag(config=True)

    def preprocess(self, nb, resources):
        import nbformat

        from .task import cell_signature

        info = resources.get("nbgrader", {})
        student, assignment, notebook = info["student"], info["assignment"], info["notebook"]
        path = result_path(self.course_root, student, assignment, notebook)
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{notebook}.ipynb has no grading result ({type(exc).__name__} on {path}): "
                               "this is a bug in the autograder, please report it") from None
        if result.get("outputs") is None:
            why = "; ".join(result.get("notes", [])) or "it was not run"
            raise RuntimeError(f"{notebook}.ipynb was not run: {why}")
        if cell_signature(nb) != [list(c) for c in result.get("cells", [])]:
            raise RuntimeError(f"{notebook}.ipynb: the cells nbgrader grades differ from the cells that were run "
                               "(restore steps out of step); this is a bug in the autograder, please report it")
        outputs, roles = result["outputs"], result.get("roles", [])
        for i, cell in enumerate(nb.cells):
            if cell.get("cell_type") != "code":
                continue
            cell.outputs = [nbformat.from_dict(o) for o in outputs.get(str(i), [])]
            role = roles[i] if i < len(roles) else None
            cell.execution_count = i + 1 if role != "skip" else None
        report = {key: result.get(key) for key in ("notes", "mode", "overtime", "seconds")}
        path.with_name(f"{notebook}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        return nb, resources


def result_path(course_root: os.PathLike | str, student: str, assignment: str, notebook: str) -> Path:
    """Where the coordinator stores a task's result for one notebook (read by :class:`InjectResult`)."""
    return Path(course_root) / "runs" / student / assignment / f"{notebook}.result.json"
