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


# --------------------------------------------------------------------------- checks of the student's process

# A solution cell's source with one line swapped: (assignment, solution cell, old line, new line).
GLOBAL_SEED = "torch.manual_seed(int(seed))\n    gen = None  # draws from torch's global generator"
PROCESS_STATE_MUTANTS = {
    "noisy_quadratic": [("monte_carlo_loss", "gen = torch.Generator(device=device).manual_seed(int(seed))", GLOBAL_SEED)],
    "sde_annealing": [("sgd_second_moment_mc", "gen = torch.Generator(device=device).manual_seed(int(seed))", GLOBAL_SEED),
                      ("anneal", "gen = torch.Generator(device=device).manual_seed(int(seed))", GLOBAL_SEED)],
}
PROCESS_STATE_FAILURES = {
    "noisy_quadratic": {"test_mc_interface": "changed torch's global random state"},
    "sde_annealing": {"test_mc_interface": "changed torch's global random state",
                      "test_anneal_noise": "changed torch's global random state"},
}


def mutated_submission(assignment: str, released: Path, edits) -> nbformat.NotebookNode:
    """The perfect submission with lines of some solution cells replaced (each edit must apply)."""
    (source,) = autograder.find_repo(REPO).source_notebooks(assignment)
    nb = autograder.perfect_submission(source, released / assignment / source.name)
    for grade_id, old, new in edits:
        (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
        assert old in cell.source, f"{assignment}/{grade_id} no longer has the line {old!r}: update this mutant"
        cell.source = cell.source.replace(old, new)
    return nb


@pytest.mark.parametrize("assignment", sorted(PROCESS_STATE_MUTANTS))
def test_a_student_using_the_global_generator_loses_the_isolation_checks(assignment, released, tmp_path):
    """The hidden tests compare torch.get_rng_state() in the checker around a call that runs in the
    sandboxed worker: the grader must carry the worker's generator state back for them to see it."""
    nb = mutated_submission(assignment, released, PROCESS_STATE_MUTANTS[assignment])
    (name,) = autograder.find_repo(REPO).notebook_names(assignment)
    autograder.write_submission(tmp_path / "subs", "seeder", assignment, name, nb)
    (result,) = autograder.grade_submissions(tmp_path / "subs", repo=REPO, course_dir=tmp_path / "course",
                                             assignment=assignment, progress=False)
    failures = {key.split(":", 1)[1]: text for key, text in failing_cells(tmp_path / "course", "seeder", assignment).items()}
    expected = PROCESS_STATE_FAILURES[assignment]
    assert set(failures) == set(expected), f"failing cells {sorted(failures)}, expected {sorted(expected)}"
    for grade_id, words in expected.items():
        assert words in failures[grade_id], failures[grade_id]
    assert 0 < result.score < result.max_score


def test_a_function_that_does_not_raise_gets_the_check_raises_hint_in_its_feedback(released, tmp_path):
    """check_raises names the student's function with func.__name__: through the grader's handle too."""
    no_checks = '''
def gaussian_kl(mean_q, var_q, mean_p, var_p):
    mean_q, var_q, mean_p, var_p = (np.asarray(a, dtype=np.float64) for a in (mean_q, var_q, mean_p, var_p))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(0.5 * (var_q / var_p + (mean_q - mean_p) ** 2 / var_p - 1.0 - np.log(var_q / var_p))))
'''
    (source,) = autograder.find_repo(REPO).source_notebooks("pac_bayes")
    nb = autograder.perfect_submission(source, released / "pac_bayes" / source.name)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "gaussian_kl"]
    cell.source = no_checks
    autograder.write_submission(tmp_path / "subs", "lax", "pac_bayes", source.stem, nb)
    autograder.grade_submissions(tmp_path / "subs", repo=REPO, course_dir=tmp_path / "course",
                                 assignment="pac_bayes", progress=False)
    failures = failing_cells(tmp_path / "course", "lax", "pac_bayes")
    hint = "gaussian_kl(var_q=&lt;bad value&gt;) should raise a ValueError naming"
    assert list(failures) == ["pac_bayes.ipynb:test_kl"], failures
    assert "AttributeError" not in failures["pac_bayes.ipynb:test_kl"], failures
    files, problems = autograder.generate_feedback(repo=REPO, course_dir=tmp_path / "course")
    assert not problems, problems
    (page,) = files
    html = page.read_text(encoding="utf-8")
    assert hint in html or hint.replace("&lt;", "<").replace("&gt;", ">") in html, "the hint is not on the feedback page"
