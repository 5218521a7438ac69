"""Run one notebook through the checker/worker pair: the engine grading and the self-check share.

:func:`run_notebook` takes a notebook whose cells are already in the instructor's
order (after :mod:`autograder.instructor.restore` when grading; the student's own
file for the self-check), the *source* the cell roles are read from, and the
limits; it starts :mod:`autograder.engine.checker` (the instructor's cells, trusted),
which starts :mod:`autograder.engine.worker` (the student's cells, sandboxed by
:mod:`autograder.engine.sandbox`, forbidden modules stubbed in every mode), and
returns the outputs of every code cell (an ``error`` output fails a test cell, as
nbgrader expects), the notes (time limits, crashes, memory) and timings.

The checker and the worker are forks of the calling process's pair of templates
(:mod:`autograder.engine.zygote`: numpy, scipy and torch imported once, shared by
all threads, started on the first call); with ``AUTOGRADER_ZYGOTE=0``, or when a
template cannot be (re)started, each run starts fresh interpreters instead
(``python -m autograder.engine.checker JOB RESULT``, then ``python worker.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..notebook import cell_roles, expected_names, forbidden_modules, grade_id
from . import zygote

__all__ = ["Limits", "RunResult", "run_notebook", "make_job"]

_PACKAGE_PARENT = os.fspath(Path(__file__).resolve().parent.parent.parent)


@dataclass(frozen=True)
class Limits:
    """What one notebook may use.

    Attributes
    ----------
    timeout : float
        Seconds per cell.
    submission_timeout : float
        Seconds for the whole notebook.
    sandbox : {"auto", "bwrap", "none"}
        Where the student's code runs (see :mod:`autograder.engine.sandbox`).
    memory_mb, max_processes, max_file_mb : int
        Limits of the student's process.
    max_output_bytes, max_output_lines : int
        What one cell's output keeps.
    """

    timeout: float = 60.0
    submission_timeout: float = 900.0
    sandbox: str = "auto"
    memory_mb: int = 4096
    max_processes: int = 256
    max_file_mb: int = 256
    max_output_bytes: int = 100_000
    max_output_lines: int = 500

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunResult:
    """What :func:`run_notebook` returns.

    ``outputs`` maps the index of every code cell to its nbformat outputs (dicts);
    a cell the run did not reach gets a ``NotRun`` error. ``notes`` says what went
    wrong beyond a failed test; ``mode`` is the sandbox used; ``overtime`` whether
    the submission time limit stopped the run; ``seconds`` per cell index.
    """

    outputs: dict = field(default_factory=dict)
    roles: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    mode: str | None = None
    overtime: bool = False
    seconds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def make_job(nb, source, workdir: os.PathLike | str, limits: Limits) -> dict:
    """The checker's job (``JOB.json``) for ``nb``: cells with roles, expected names, limits."""
    roles = cell_roles(nb, source)
    return {
        "cells": [
            {"index": i, "role": role, "source": cell.get("source", ""), "name": grade_id(cell) or f"cell {i}"}
            for i, (cell, role) in enumerate(zip(nb.cells, roles))
        ],
        "expected": expected_names(source),
        "timeout": float(limits.timeout),
        "workdir": os.fspath(workdir),
        "sandbox": {"mode": limits.sandbox, "memory_mb": limits.memory_mb,
                    "max_processes": limits.max_processes, "max_file_mb": limits.max_file_mb,
                    "forbidden": forbidden_modules(source)},
        "max_output_bytes": limits.max_output_bytes,
        "max_output_lines": limits.max_output_lines,
    }


def _fresh_checker(job_file: str, result_file: str, log) -> subprocess.Popen:
    """Today's path without templates: a new interpreter runs the checker (which starts a fresh worker)."""
    env = dict(os.environ)
    env.pop(zygote.WORKER_SOCKET_ENV, None)
    env["PYTHONPATH"] = _PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.Popen(
        [sys.executable, "-m", "autograder.engine.checker", job_file, result_file],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
    )


def _run_checker(job_file: str, result_file: str, log, submission_timeout: float):
    """Run the checker on ``job_file``: forked by the shared template, else fresh. ``(returncode, overtime)``.

    A checker whose template died under it (``Forked.lost``: it died with it) is run
    again, fresh, from the start.
    """
    deadline = time.monotonic() + submission_timeout
    proc = zygote.spawn_checker(job_file, result_file, log.fileno())
    if proc is None:
        proc = _fresh_checker(job_file, result_file, log)
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        if isinstance(proc, subprocess.Popen):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()  # its template kills its process group: no pid race
        proc.wait()
        return proc.returncode, True
    finally:
        if isinstance(proc, zygote.Forked):
            proc.close()
    if isinstance(proc, zygote.Forked) and proc.lost:
        zygote.log.warning("autograder: the checker zygote died during a run; running that notebook again "
                           "in a fresh checker")
        log.write(b"\n[autograder: the checker zygote died during this run; run again in a fresh checker]\n")
        log.flush()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(result_file)
        fresh = _fresh_checker(job_file, result_file, log)
        try:
            fresh.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(fresh.pid, signal.SIGKILL)
            fresh.wait()
            return fresh.returncode, True
        return fresh.returncode, False
    return proc.returncode, False


def run_notebook(nb, source, workdir: os.PathLike | str, limits: Limits = Limits(), *,
                 label: str = "the notebook") -> RunResult:
    """Run ``nb`` (cells in the source's order) with the checker/worker pair.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook to run; it is not modified.
    source : nbformat.NotebookNode
        Where the cell roles, the expected names and the forbidden modules are read
        from: the instructor's source when grading, the release for the self-check.
    workdir : path-like
        The submission's folder: the worker's working directory, the only place it writes.
    limits : Limits
    label : str
        How notes name the notebook (e.g. ``"schedules.ipynb"``).

    Returns
    -------
    RunResult
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    job = make_job(nb, source, workdir, limits)
    roles = [c["role"] for c in job["cells"]]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="autograder-job-") as tmp:
        job_file, result_file, log_file = (os.path.join(tmp, n) for n in ("job.json", "result.json", "log.txt"))
        with open(job_file, "w", encoding="utf-8") as fh:
            json.dump(job, fh)
        with open(log_file, "wb") as log:
            returncode, overtime = _run_checker(job_file, result_file, log, limits.submission_timeout)
        try:
            with open(result_file, encoding="utf-8") as fh:
                result = json.load(fh)
        except (OSError, ValueError):
            result = {"outputs": {}, "done": [], "notes": [], "mode": None}
        log_tail = Path(log_file).read_text(encoding="utf-8", errors="replace")[-2000:]
    notes.extend(result.get("notes", []))
    if overtime:
        notes.append(
            f"{label} ran past the {limits.submission_timeout:g} s limit for a whole submission and "
            "was stopped: the cells not reached score 0 (regrade with a larger --submission-timeout if "
            "the code is correct but slow)"
        )
    elif returncode not in (0, None) and not result.get("done"):
        notes.append(f"{label}: the checker failed ({log_tail.strip().splitlines()[-1:] or '?'}); "
                     "this is a bug in the autograder, please report it")
    got = result.get("outputs", {})
    outputs = {}
    for i, (cell, role) in enumerate(zip(nb.cells, roles)):
        if cell.get("cell_type") != "code":
            continue
        out = got.get(str(i))
        if out is None:
            why = ("the submission ran past its time limit before this cell" if overtime
                   else "the grader stopped before this cell")
            out = [{"output_type": "error", "ename": "NotRun", "evalue": why, "traceback": [f"NotRun: {why}"]}]
        outputs[i] = out
    return RunResult(outputs=outputs, roles=roles, notes=notes, mode=result.get("mode"), overtime=overtime,
                     seconds=result.get("seconds", {}))
