"""nbgrader preprocessors: run a submission in the sandbox; keep hidden tests out of feedback.

:class:`SandboxExecute` takes the place of nbgrader's ``Execute`` in
``Autograde.autograde_preprocessors``: instead of one Jupyter kernel running the
student's code and the tests together, it starts :mod:`autograder.engine.checker` (tests,
trusted) which starts :mod:`autograder.engine.worker` (student code, sandboxed), with a
per-cell and a per-submission time limit (:func:`autograder.engine.run_notebook`). It writes the outputs into the notebook
(an ``error`` output fails a test cell, as nbgrader expects) and its notes to
``<course>/runs/<student>/<assignment>/<notebook>.json`` for the summary.

:class:`HideHiddenTests` runs before feedback is rendered: the source of every
``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region is replaced by one
comment line, so feedback never shows hidden test code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from ..notebook import HIDDEN_PLACEHOLDER, forbidden_modules, hide_hidden_tests

__all__ = ["SandboxExecute", "HideHiddenTests", "hide_hidden_tests", "forbidden_modules", "HIDDEN_PLACEHOLDER"]



class HideHiddenTests(NbGraderPreprocessor):
    """Blank out hidden-test regions (feedback only; grading is already done)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code" and "BEGIN HIDDEN TESTS" in cell.get("source", ""):
            cell.source = hide_hidden_tests(cell.source)
        return cell, resources


class SandboxExecute(NbGraderPreprocessor):
    """Execute a submission with the checker/worker pair (see :mod:`autograder.engine.checker`)."""

    timeout = Float(60.0, help="Per-cell time limit in seconds.").tag(config=True)
    submission_timeout = Float(900.0, help="Time limit for a whole notebook, in seconds.").tag(config=True)
    sandbox = Unicode("auto", help="auto, bwrap or none").tag(config=True)
    memory_mb = Integer(4096).tag(config=True)
    max_processes = Integer(256).tag(config=True)
    max_file_mb = Integer(256).tag(config=True)
    max_output_bytes = Integer(100_000).tag(config=True)
    max_output_lines = Integer(500).tag(config=True)
    source_root = Unicode("", help="The solutions/ folder (trusted sources).").tag(config=True)
    course_root = Unicode("", help="The course directory.").tag(config=True)

    def preprocess(self, nb, resources):
        import nbformat

        from ..engine.run import Limits, run_notebook

        info = resources.get("nbgrader", {})
        student, assignment, notebook = info["student"], info["assignment"], info["notebook"]
        course = Path(self.course_root)
        source = nbformat.read(os.path.join(self.source_root, assignment, notebook + ".ipynb"), as_version=4)
        workdir = course / "autograded" / student / assignment
        runs = course / "runs" / student / assignment
        runs.mkdir(parents=True, exist_ok=True)
        limits = Limits(timeout=self.timeout, submission_timeout=self.submission_timeout, sandbox=self.sandbox,
                        memory_mb=self.memory_mb, max_processes=self.max_processes, max_file_mb=self.max_file_mb,
                        max_output_bytes=self.max_output_bytes, max_output_lines=self.max_output_lines)
        run = run_notebook(nb, source, workdir, limits, label=f"{notebook}.ipynb")
        for i, (cell, role) in enumerate(zip(nb.cells, run.roles)):
            if cell.get("cell_type") != "code":
                continue
            cell.outputs = [nbformat.from_dict(o) for o in run.outputs[i]]
            cell.execution_count = i + 1 if role != "skip" else None
        report = {"notes": run.notes, "mode": run.mode, "overtime": run.overtime, "seconds": run.seconds}
        (runs / f"{notebook}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        return nb, resources
