"""nbgrader preprocessors: run a submission in the sandbox; keep hidden tests out of feedback.

:class:`SandboxExecute` takes the place of nbgrader's ``Execute`` in
``Autograde.autograde_preprocessors``: instead of one Jupyter kernel running the
student's code and the tests together, it starts :mod:`autograder.checker` (tests,
trusted) which starts :mod:`autograder.worker` (student code, sandboxed), with a
per-cell and a per-submission time limit. It writes the outputs into the notebook
(an ``error`` output fails a test cell, as nbgrader expects) and its notes to
``<course>/runs/<student>/<assignment>/<notebook>.json`` for the summary.

:class:`HideHiddenTests` runs before feedback is rendered: the source of every
``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region is replaced by one
comment line, so feedback never shows hidden test code.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from .restructure import cell_roles, expected_names

__all__ = ["SandboxExecute", "HideHiddenTests", "hide_hidden_tests", "forbidden_modules", "HIDDEN_PLACEHOLDER"]

HIDDEN_PLACEHOLDER = "# (hidden tests: not shown)"
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
_PACKAGE_PARENT = os.fspath(Path(__file__).resolve().parent.parent)


def hide_hidden_tests(source: str) -> str:
    """``source`` with every hidden-test region replaced by :data:`HIDDEN_PLACEHOLDER`."""
    out = _HIDDEN.sub(HIDDEN_PLACEHOLDER + "\n", source)
    # An unterminated region hides everything after its BEGIN line.
    start = re.search(r"^[ \t]*### BEGIN HIDDEN TESTS", out, re.M)
    if start:
        out = out[: start.start()] + HIDDEN_PLACEHOLDER + "\n"
    return out


def forbidden_modules(source) -> list:
    """The reference modules a source notebook forbids (``metadata.autograder.forbidden_modules``)."""
    meta = source.get("metadata", {}).get("autograder", {})
    names = meta.get("forbidden_modules", []) if isinstance(meta, dict) else []
    return [str(n) for n in names] if isinstance(names, list) else []


class HideHiddenTests(NbGraderPreprocessor):
    """Blank out hidden-test regions (feedback only; grading is already done)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code" and "BEGIN HIDDEN TESTS" in cell.get("source", ""):
            cell.source = hide_hidden_tests(cell.source)
        return cell, resources


class SandboxExecute(NbGraderPreprocessor):
    """Execute a submission with the checker/worker pair (see :mod:`autograder.checker`)."""

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

        info = resources.get("nbgrader", {})
        student, assignment, notebook = info["student"], info["assignment"], info["notebook"]
        course = Path(self.course_root)
        source = nbformat.read(os.path.join(self.source_root, assignment, notebook + ".ipynb"), as_version=4)
        roles = cell_roles(nb, source)
        workdir = course / "autograded" / student / assignment
        workdir.mkdir(parents=True, exist_ok=True)
        runs = course / "runs" / student / assignment
        runs.mkdir(parents=True, exist_ok=True)
        job = {
            "cells": [
                {"index": i, "role": role, "source": cell.get("source", ""),
                 "name": cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i}"}
                for i, (cell, role) in enumerate(zip(nb.cells, roles))
            ],
            "expected": expected_names(source),
            "timeout": self.timeout,
            "workdir": os.fspath(workdir),
            "sandbox": {"mode": self.sandbox, "memory_mb": self.memory_mb,
                        "max_processes": self.max_processes, "max_file_mb": self.max_file_mb,
                        "forbidden": forbidden_modules(source)},
            "max_output_bytes": self.max_output_bytes,
            "max_output_lines": self.max_output_lines,
        }
        notes: list[str] = []
        with tempfile.TemporaryDirectory(prefix="autograder-job-") as tmp:
            job_file, result_file, log_file = (os.path.join(tmp, n) for n in ("job.json", "result.json", "log.txt"))
            with open(job_file, "w", encoding="utf-8") as fh:
                json.dump(job, fh)
            env = dict(os.environ)
            env["PYTHONPATH"] = _PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            with open(log_file, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "autograder.checker", job_file, result_file],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
                )
                try:
                    proc.wait(timeout=self.submission_timeout)
                    overtime = False
                except subprocess.TimeoutExpired:
                    overtime = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            try:
                with open(result_file, encoding="utf-8") as fh:
                    result = json.load(fh)
            except (OSError, ValueError):
                result = {"outputs": {}, "done": [], "notes": [], "mode": None}
            log_tail = Path(log_file).read_text(encoding="utf-8", errors="replace")[-2000:]
        notes.extend(result.get("notes", []))
        if overtime:
            notes.append(
                f"{notebook}.ipynb ran past the {self.submission_timeout:g} s limit for a whole submission and "
                "was stopped: the cells not reached score 0 (regrade with a larger --submission-timeout if "
                "the code is correct but slow)"
            )
        elif proc.returncode not in (0, None) and not result.get("done"):
            notes.append(f"{notebook}.ipynb: the checker failed ({log_tail.strip().splitlines()[-1:] or '?'}); "
                         "this is a bug in the autograder, please report it")
        outputs = result.get("outputs", {})
        for i, (cell, role) in enumerate(zip(nb.cells, roles)):
            if cell.get("cell_type") != "code":
                continue
            got = outputs.get(str(i))
            if got is None:
                why = ("the submission ran past its time limit before this cell" if overtime
                       else "the grader stopped before this cell")
                got = [{"output_type": "error", "ename": "NotRun", "evalue": why, "traceback": [f"NotRun: {why}"]}]
            cell.outputs = [nbformat.from_dict(o) for o in got]
            cell.execution_count = i + 1 if role != "skip" else None
        report = {"notes": notes, "mode": result.get("mode"), "overtime": overtime,
                  "seconds": result.get("seconds", {})}
        (runs / f"{notebook}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        return nb, resources
