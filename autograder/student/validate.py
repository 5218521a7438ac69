"""The students' self-check: run a notebook's visible tests and say, cell by cell, what passed.

``python -m autograder validate exercises/schedules/schedules.ipynb`` executes the
notebook top to bottom (as a grader would, in a fresh kernel), keeps going past
errors, and reports for every graded test cell: pass or fail, the points at
stake, and the test's message. Only the tests in the student's copy run: the
hidden tests are added when the instructor grades, so passing here means "on the
right track", not full marks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..layout import AutograderError
from ..notebook import vet_notebook

__all__ = ["CellCheck", "validate_notebook", "format_report"]

NOT_WRITTEN = "you have not written this part yet (a cell it needs still raises NotImplementedError)"
#: The last line when every visible test passes. The check above already ran the saved file top
#: to bottom in a fresh kernel, as the grader will, so there is no kernel left to restart: what
#: matters is that the file handed in is the one just checked.
ALL_PASS = ("All visible tests pass, with your saved notebook run top to bottom in a fresh kernel as the "
            "grader will run it. Hand in this file; if you change it, save it and run this check again.")


@dataclass(frozen=True)
class CellCheck:
    """The outcome of one graded test cell."""

    grade_id: str
    points: float
    passed: bool
    message: str


def _error_of(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name, value = out.get("ename", "Error"), str(out.get("evalue", "")).strip()
            if name == "NotImplementedError":
                return NOT_WRITTEN
            if name == "KeyboardInterrupt":
                return "the cell ran past the time limit and was interrupted: is there an endless loop?"
            return f"{name}: {value}" if value else name
    return None


def validate_notebook(path: os.PathLike | str, timeout: float = 120.0) -> list[CellCheck]:
    """Execute ``path`` in a fresh kernel and check each graded test cell.

    Parameters
    ----------
    path : path-like
        A student notebook (``.ipynb``).
    timeout : float
        Per-cell time limit in seconds; a cell past it is interrupted and fails.

    Returns
    -------
    list of CellCheck
        One entry per graded test cell, in notebook order.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        raise AutograderError(f"{path} does not exist: give the path of your .ipynb file, "
                              "e.g. exercises/schedules/schedules.ipynb")
    problem = vet_notebook(path)
    if problem:
        raise AutograderError(problem.replace("; graded as 0", ""))
    nb = nbformat.read(path, as_version=4)
    graded = [c for c in nb.cells if c.cell_type == "code" and (c.metadata.get("nbgrader") or {}).get("grade")]
    if not graded:
        raise AutograderError(f"{path} has no graded test cells: is it one of the course's assignment notebooks?")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    checks = []
    for cell in graded:
        meta = cell.metadata["nbgrader"]
        error = _error_of(cell)
        checks.append(CellCheck(str(meta.get("grade_id", "?")), float(meta.get("points", 0)), error is None, error or ""))
    return checks


def format_report(path, checks: list[CellCheck]) -> str:
    """A plain-words report: one line per test cell, then a total."""
    width = max(len(c.grade_id) for c in checks)
    lines = [f"Self-check of {path} (visible tests only; hidden tests run when your instructor grades)", ""]
    for c in checks:
        status = "PASS" if c.passed else "FAIL"
        pts = f"{c.points:g} pt" + ("" if c.points == 1 else "s")
        line = f"  {status}  {c.grade_id:<{width}}  {pts:>7}"
        lines.append(line + (f"  {c.message}" if c.message else ""))
    passed = [c for c in checks if c.passed]
    total = sum(c.points for c in checks)
    got = sum(c.points for c in passed)
    lines += ["", f"{len(passed)} of {len(checks)} test cells pass their visible tests "
                  f"({got:g} of {total:g} points at stake)."]
    if len(passed) == len(checks):
        lines.append(ALL_PASS)
    else:
        lines.append("Fix the FAIL lines from the top: a later cell often fails because an earlier one does.")
    return "\n".join(lines)
