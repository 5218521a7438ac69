"""Every real assignment in solutions/ grades as designed.

For each assignment: the perfect submission (every solution cell filled from the
source) scores full marks with no cell hitting the time limit; the untouched
release scores exactly 0 and is graded normally (no crash, no note); the half-done
submission (first half of the solution cells) earns partial credit. Each test
grades one submission in its own course directory, so every notebook is graded
once and the tests spread over the xdist workers.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

import autograder

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = autograder.find_repo(REPO).assignments()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ASSIGNMENTS, reason="no assignments in solutions/ yet"),
]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """The release of every assignment, freshly generated (independent of exercises/)."""
    dest = tmp_path_factory.mktemp("release")
    autograder.release(repo=REPO, dest=dest)
    return dest


def build(kind: str, assignment: str, released: Path, folder: Path) -> None:
    """Write the ``kind`` submission of every notebook of ``assignment`` under ``folder/kind/``."""
    for source in autograder.find_repo(REPO).source_notebooks(assignment):
        release = released / assignment / source.name
        if kind == "perfect":
            nb = autograder.perfect_submission(source, release)
        elif kind == "half":
            nb = autograder.half_done_submission(source, release)
        else:
            nb = nbformat.read(release, as_version=4)
        autograder.write_submission(folder, kind, assignment, source.stem, nb)


def failing_cells(course: Path, student: str, assignment: str) -> dict[str, str]:
    """grade_id (or cell number) -> 'ErrorName: message' for every cell that raised."""
    failures = {}
    for path in sorted((course / "autograded" / student / assignment).glob("*.ipynb")):
        nb = nbformat.read(os.fspath(path), as_version=4)
        for index, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
                    failures[f"{path.name}:{gid}"] = f"{out['ename']}: {out['evalue']}"[:300]
    return failures


def grade(kind: str, assignment: str, released: Path, tmp_path: Path):
    subs, course = tmp_path / "subs", tmp_path / "course"
    build(kind, assignment, released, subs)
    (result,) = autograder.grade_submissions(
        subs, repo=REPO, course_dir=course, assignment=assignment, progress=False
    )
    return result, failing_cells(course, kind, assignment)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_perfect_submission_scores_full_marks(assignment, released, tmp_path):
    result, failures = grade("perfect", assignment, released, tmp_path)
    assert result.status == "graded", result.note
    assert result.max_score > 0
    assert result.score == result.max_score, f"lost points; failing cells: {failures}; note: {result.note}"
    assert "ran past" not in result.note, result.note
    assert failures == {}, failures


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_scores_zero_without_crashing(assignment, released, tmp_path):
    result, failures = grade("blank", assignment, released, tmp_path)
    assert result.status == "graded", result.note
    assert result.note == ""
    assert result.max_score > 0
    assert result.score == 0.0, f"a blank notebook earned points; failing cells: {sorted(failures)}"
    # every test cell fails, and with the stub's NotImplementedError or a consequence of it
    assert failures, "no cell failed in the untouched release"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_half_done_submission_earns_partial_credit(assignment, released, tmp_path):
    result, failures = grade("half", assignment, released, tmp_path)
    assert result.status == "graded", result.note
    assert 0.0 < result.score < result.max_score, f"score {result.score}/{result.max_score}; failing: {failures}"
