"""Shared machinery of the wrong-answer tests (tests/test_wrong_answers*.py).

The *perfect submission* of an assignment is its source notebook in ``solutions/``
with the nbgrader marker lines removed (solutions kept, hidden tests run). A wrong
submission swaps single solution cells for plausible mistakes. Notebooks run with
nbclient and ``allow_errors=True``, so every cell runs, as under nbgrader's
autograder, and each graded cell passes or fails on its own.

A mistakes table maps a name to ``(solution grade_id, wrong code, graded cells it
must fail)``; the mistakes of one assignment must break disjoint sets of cells, so
one execution checks all of them.
"""

from __future__ import annotations

import pathlib

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"}

Mistakes = dict[str, tuple[str, str, set[str]]]


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def perfect_submission(assignment: str) -> nbformat.NotebookNode:
    """The source notebook with the nbgrader marker lines removed: solutions and hidden tests kept."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines() if line.strip() not in MARKERS)
    return nb


def with_wrong_cells(nb: nbformat.NotebookNode, replacements: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose solution cells named in ``replacements`` (by grade_id) hold other code."""
    nb = nbformat.from_dict(nb)
    found = set()
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution") and meta.get("grade_id") in replacements:
            cell.source = replacements[meta["grade_id"]]
            found.add(meta["grade_id"])
    missing = set(replacements) - found
    assert not missing, f"no solution cell with grade_id in {sorted(missing)}"
    return nb


def graded_cells(nb: nbformat.NotebookNode) -> set[str]:
    return {_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")}


def failing_graded_cells(nb: nbformat.NotebookNode, workdir: pathlib.Path) -> dict[str, str]:
    """Execute every cell (errors do not stop the run); return ``{grade_id: error}`` for failing graded cells."""
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    failing = {}
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if not meta.get("grade") or meta.get("solution"):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                failing[meta["grade_id"]] = f"{out['ename']}: {out['evalue']}"[:400]
    return failing


def check_disjoint(assignment: str, mistakes: Mistakes) -> None:
    """Each mistake edits its own solution cell and owns its failures; some graded cells stay untouched."""
    cells = [cell for cell, _, _ in mistakes.values()]
    assert len(set(cells)) == len(cells), f"{assignment}: two mistakes edit the same solution cell"
    seen: set[str] = set()
    for name, (_, _, fails) in mistakes.items():
        assert fails, f"{assignment}: mistake {name!r} must fail at least one graded cell"
        assert not fails & seen, f"{assignment}: mistake {name!r} shares failing cells with another"
        seen |= fails
    assert seen < graded_cells(perfect_submission(assignment)), (
        f"{assignment}: the mistakes must leave some graded cells passing, and name only existing cells"
    )


def images_without_alt_text(nb: nbformat.NotebookNode) -> list[str]:
    """grade_ids (or cell numbers) of executed cells that display an image without alt text of 20+ characters."""
    missing = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            for mime in ("image/png", "image/jpeg", "image/svg+xml"):
                if mime in out.get("data", {}):
                    alt = str(out.get("metadata", {}).get(mime, {}).get("alt", "")).strip()
                    if len(alt) < 20:
                        missing.append(_nbgrader(cell).get("grade_id", f"cell {index}"))
    return missing


def check_perfect(assignment: str, workdir: pathlib.Path) -> None:
    nb = perfect_submission(assignment)
    failing = failing_graded_cells(nb, workdir)
    assert failing == {}, f"{assignment}: the solution fails graded cells: {failing}"
    missing = images_without_alt_text(nb)
    assert not missing, (
        f"{assignment}: cells {missing} display a figure without alt text; end them with "
        "lrlab.plotting.show(fig, alt='what the figure shows') instead of plt.show()"
    )


def check_wrong(assignment: str, mistakes: Mistakes, workdir: pathlib.Path) -> None:
    """All the mistakes at once: exactly the cells they own fail, each for its own mistake."""
    nb = with_wrong_cells(perfect_submission(assignment), {cell: code for cell, code, _ in mistakes.values()})
    failing = failing_graded_cells(nb, workdir)
    expected = set().union(*(fails for _, _, fails in mistakes.values()))
    for name, (_, _, fails) in mistakes.items():
        missed = fails - set(failing)
        assert not missed, f"{assignment}: the mistake {name!r} should fail {sorted(missed)}, but they passed"
    extra = {cell: err for cell, err in failing.items() if cell not in expected}
    assert not extra, f"{assignment}: cells no mistake touches failed: {extra}"


def wrong_answer_tests(mistakes_by_assignment: dict[str, Mistakes]):
    """The three tests of a wrong-answers module, for its ``{assignment: mistakes}`` table.

    Each module binds them to test names, so pytest collects them there::

        (test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
         test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests(MISTAKES)

    The first checks the table (no execution); the other two execute notebooks (marked slow).
    """
    import pytest

    names = sorted(mistakes_by_assignment)

    @pytest.mark.parametrize("assignment", names)
    def disjoint(assignment):
        """The design needs each mistake to own its failures; check that before executing anything."""
        check_disjoint(assignment, mistakes_by_assignment[assignment])

    @pytest.mark.slow
    @pytest.mark.parametrize("assignment", names)
    def perfect(assignment, tmp_path):
        """The source notebook, solutions and hidden tests kept, passes every graded cell (and shows alt text)."""
        check_perfect(assignment, tmp_path)

    @pytest.mark.slow
    @pytest.mark.parametrize("assignment", names)
    def wrong(assignment, tmp_path):
        """All the mistakes at once: exactly the cells they own fail."""
        check_wrong(assignment, mistakes_by_assignment[assignment], tmp_path)

    return disjoint, perfect, wrong
