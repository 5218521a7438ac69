"""Every assignment notebook opens the same way and says what each answer must return.

What a student sees first: a title, the chapter it comes from, an estimated time,
what they will build, a points table whose total is the sum of the graded cells'
points (each graded cell named in it), how grading works (visible vs hidden tests),
how to self-check, and (printed by the setup cell) the device it runs on. Every
solution region is a function whose numpy-style docstring has a ``Returns`` section.
Static checks of ``solutions/``; they cost no execution.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (REPO / "solutions").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
IDS = [p.parent.name for p in NOTEBOOKS]


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.fixture(params=NOTEBOOKS, ids=IDS)
def nb(request):
    notebook = nbformat.read(request.param, as_version=4)
    notebook.metadata["_name"] = request.param.parent.name
    return notebook


def test_intro_says_what_when_how_long_and_how_it_is_graded(nb):
    name = nb.metadata["_name"]
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and _meta(intro).get("locked"), f"{name}: the first cell must be a locked intro"
    text = intro.source
    assert text.lstrip().startswith("# "), f"{name}: the intro starts with the title"
    assert re.search(r"Chapter \d", text), f"{name}: the intro names the chapter it comes from"
    assert re.search(r"[Ee]stimated time: [^.]*\d", text), f"{name}: the intro gives an estimated time"
    assert "hidden" in text.lower() and "visible" in text.lower(), f"{name}: the intro explains visible vs hidden tests"
    assert re.search(rf"autograder validate \S*\b{name}\.ipynb", text), f"{name}: the intro shows the self-check command"


def test_points_table_lists_every_graded_cell_and_adds_up(nb):
    name = nb.metadata["_name"]
    graded = {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for c in nb.cells
              if _meta(c).get("grade") and not _meta(c).get("solution")}
    text = nb.cells[0].source
    header = next((line for line in text.splitlines() if re.match(r"\|.*\bpoints\s*\|", line)), None)
    assert header, f"{name}: the intro has no points table"
    rows = [line for line in text.splitlines() if line.startswith("|") and line is not header]
    listed = {}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        ids = re.findall(r"`(test_\w+)`", row)
        for gid in ids:
            listed[gid] = float(cells[-1].strip("*"))
    assert set(listed) == set(graded), (
        f"{name}: the points table names {sorted(listed)}, the graded cells are {sorted(graded)}"
    )
    for gid, points in graded.items():
        assert listed[gid] == points, f"{name}: the table gives {gid} {listed[gid]:g} points, the cell {points:g}"
    total = re.search(r"\*\*total\*\*.*\*\*(\d+(?:\.\d+)?)\*\*", text)
    assert total and float(total.group(1)) == sum(graded.values()), (
        f"{name}: the table's total should be {sum(graded.values()):g}"
    )


def test_setup_prints_the_device_before_any_answer(nb):
    name = nb.metadata["_name"]
    first_solution = next(i for i, c in enumerate(nb.cells) if _meta(c).get("solution"))
    setup = [c for c in nb.cells[:first_solution] if c.cell_type == "code" and "default_device()" in c.source
             and "print(" in c.source]
    assert setup, f"{name}: a locked cell before the first answer should print the device (default_device())"


def test_every_solution_region_says_what_it_returns(nb):
    name = nb.metadata["_name"]
    for cell in nb.cells:
        meta = _meta(cell)
        if not meta.get("solution") or cell.cell_type != "code":
            continue
        head = cell.source.split("### BEGIN SOLUTION")[0]
        assert re.search(r"^def \w+\(", head, re.M), f"{name}:{meta['grade_id']}: the answer cell should define a function"
        assert re.search(r"Returns\n\s*-------", head), (
            f"{name}:{meta['grade_id']}: the docstring (above BEGIN SOLUTION, so students see it) needs a "
            "'Returns' section saying what to return, with shapes and types"
        )
