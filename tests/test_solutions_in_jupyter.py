"""Each solution notebook, run in a plain Jupyter kernel, passes every graded cell and labels its figures.

The grader runs a submission in two processes (``tests/test_assignments.py``); a student runs it
in one Jupyter kernel. Here the source notebook in ``solutions/``, with the nbgrader marker lines
removed (solutions kept, hidden tests run), is executed with nbclient and ``allow_errors=True``, as
in a kernel: every graded cell must pass there too, and every figure a cell displays must carry
alt text of 20 characters or more (``lrlab.plotting.show(fig, alt=...)``), which only shows at run
time. That the hidden tests catch wrong answers is ``tests/test_mutation.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from mutation import graded_source

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def failing_graded_cells(nb: nbformat.NotebookNode, workdir: Path) -> dict[str, str]:
    """Execute every cell (errors do not stop the run); ``{grade_id: error}`` of the failing graded cells."""
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    failing = {}
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("grade") and not meta.get("solution"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    failing[meta["grade_id"]] = f"{out['ename']}: {out['evalue']}"[:400]
    return failing


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


def test_the_alt_text_check_sees_a_figure_without_alt_text():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plot()", id="c1")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="},
                                           metadata={"image/png": {"width": 400}})]
    labelled = nbformat.v4.new_code_cell("plot()", id="c2")
    labelled.metadata["nbgrader"] = {"grade_id": "figure"}
    labelled.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="},
                                               metadata={"image/png": {"alt": "Rate against step, cosine decay"}})]
    nb.cells = [cell, labelled]
    assert images_without_alt_text(nb) == ["cell 0"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_passes_every_graded_cell_in_a_kernel_and_labels_its_figures(assignment, tmp_path):
    nb = graded_source(assignment)  # solutions and hidden tests, marker lines removed
    failing = failing_graded_cells(nb, tmp_path)
    assert failing == {}, f"{assignment}: the solution fails graded cells in a Jupyter kernel: {failing}"
    missing = images_without_alt_text(nb)
    assert not missing, (
        f"{assignment}: cells {missing} display a figure without alt text; end them with "
        "lrlab.plotting.show(fig, alt='what the figure shows') instead of plt.show()"
    )
