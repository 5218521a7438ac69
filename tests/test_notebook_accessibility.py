"""Assignment notebooks a screen-reader user can follow: headings in order, figures with alt text, no colour alone.

Static checks of every source notebook in ``solutions/`` and of its release in
``exercises/`` (the runtime check, that every figure the solution displays carries
alt text, is in ``tests/test_solutions_in_jupyter.py``, run for every assignment).
Colour-only encodings are ruled out where figures are drawn: notebooks draw several
curves through :func:`lrlab.plotting.styles` or the plot helpers, which vary the
line style with the colour (``tests/test_plotting.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (REPO / "solutions").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
RELEASED = sorted(p for p in (REPO / "exercises").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
IDS = [p.parent.name for p in NOTEBOOKS]


def headings(nb) -> list[tuple[int, str]]:
    """(level, text) of every Markdown heading, outside fenced code blocks, in notebook order."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            match = None if fenced else re.match(r"^(#{1,6})\s+(.*)", line)
            if match:
                found.append((len(match.group(1)), match.group(2).strip()))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS + RELEASED, ids=[f"solutions/{i}" for i in IDS] + [
    f"exercises/{p.parent.name}" for p in RELEASED])
def test_headings_start_at_one_title_and_never_skip_a_level(path):
    found = headings(nbformat.read(path, as_version=4))
    assert found, f"{path.name} has no headings"
    assert found[0][0] == 1, f"{path.name}: the first heading should be the title (#), got {found[0]}"
    titles = [text for level, text in found if level == 1]
    assert len(titles) == 1, f"{path.name}: one title (#) per notebook, found {titles}"
    for (before, _), (level, text) in zip(found, found[1:]):
        assert level <= before + 1, f"{path.name}: heading {text!r} jumps from level {before} to {level}"


def code_cells(path):
    """(grade_id or 'cell N', source) of every code cell of the notebook at ``path``."""
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}"), cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_figures_are_shown_with_alt_text(path):
    for name, cell in code_cells(path):
        assert "plt.show()" not in cell.source, (
            f"{path.name}:{name} uses plt.show(); use lrlab.plotting.show(fig, alt='...') so the figure has alt text"
        )
        if re.search(r"plt\.(subplots|figure)\(", cell.source):
            calls = re.findall(r"\bshow\(\s*\w+\s*,\s*alt\s*=", cell.source)
            assert calls, f"{path.name}:{name} draws a figure but never calls show(fig, alt=...)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_several_curves_are_not_told_apart_by_colour_alone(path):
    for name, cell in code_cells(path):
        lines = cell.source.splitlines()
        loops = [i for i, line in enumerate(lines) if line.lstrip().startswith("for ")]
        looped_plot = any(".plot(" in line for i in loops for line in lines[i + 1:i + 12])
        if looped_plot and "PALETTE" in cell.source:
            pytest.fail(f"{path.name}:{name} colours curves from PALETTE in a loop; use styles() (colour and line style)")
