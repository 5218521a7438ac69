"""`python -m autograder validate`: the students' self-check of one notebook (visible tests only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import AutograderError, half_done_submission, perfect_submission, release_notebook
from autograder.student.validate import NOT_WRITTEN, format_report, validate_notebook

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"
TOY_SOURCE = TOY / "solutions" / "toy" / "toy.ipynb"


def _write(nb, folder: Path, name="toy.ipynb") -> Path:
    path = folder / name
    nbformat.write(nb, path)
    return path


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "validate", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def test_perfect_toy_notebook_passes_every_visible_test(tmp_path):
    nb = perfect_submission(TOY_SOURCE, release_notebook(TOY_SOURCE, repo=TOY))
    checks = validate_notebook(_write(nb, tmp_path))
    assert [c.grade_id for c in checks] == ["test_double", "test_peak_step", "test_half_life"]
    assert all(c.passed for c in checks), checks
    assert "All visible tests pass" in format_report("toy.ipynb", checks)


def test_half_done_toy_notebook_names_what_is_missing(tmp_path):
    nb = half_done_submission(TOY_SOURCE, release_notebook(TOY_SOURCE, repo=TOY))
    proc = _cli(_write(nb, tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "PASS  test_double" in proc.stdout
    assert "FAIL  test_peak_step" in proc.stdout and NOT_WRITTEN in proc.stdout
    assert "1 of 3 test cells pass their visible tests (1 of 4 points at stake)" in proc.stdout


def test_a_wrong_answer_shows_the_tests_message(tmp_path):
    nb = perfect_submission(TOY_SOURCE, release_notebook(TOY_SOURCE, repo=TOY))
    for cell in nb.cells:
        if (cell.metadata.get("nbgrader") or {}).get("grade_id") == "double":
            cell.source = "def double(x):\n    return x + 1\n"
    checks = {c.grade_id: c for c in validate_notebook(_write(nb, tmp_path))}
    assert not checks["test_double"].passed
    assert checks["test_double"].message == "AssertionError: double(2) should be 4"
    assert checks["test_peak_step"].passed


@pytest.mark.slow
def test_untouched_release_of_a_real_assignment_fails_every_cell_with_a_plain_message(tmp_path):
    release = REPO / "exercises" / "schedules" / "schedules.ipynb"
    proc = _cli(release)
    assert proc.returncode == 1
    assert "0 of" in proc.stdout and "(0 of" in proc.stdout
    assert proc.stdout.count(NOT_WRITTEN) == proc.stdout.count("  FAIL  ") == 10
    assert "PASS" not in proc.stdout


def test_missing_and_malformed_files_get_a_clear_error(tmp_path):
    proc = _cli(tmp_path / "nope.ipynb")
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [')
    with pytest.raises(AutograderError, match="is not valid JSON"):
        validate_notebook(bad)


def test_validate_help_has_an_example():
    proc = _cli("--help")
    assert proc.returncode == 0 and "python -m autograder validate exercises/" in proc.stdout
