"""Grading runs on the toy assignment (tests/fixtures/toyrepo): fast, known scores.

The toy notebook has three solution cells (``double``, ``peak_step``,
``half_life``) checked by test cells worth 1, 2 and 1 points (max 4), each with a
hidden test. So the untouched release scores 0, the half-done submission (first
solution cell only) scores 1, the perfect one 4. Each test grades its own small
folder in its own course directory; every notebook is graded once per test.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import autograder

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"
MAX = 4.0


def run_cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A released copy of the toy repository and its notebooks."""
    root = tmp_path_factory.mktemp("toy") / "repo"
    shutil.copytree(TOY, root)
    autograder.release(repo=root)
    source = root / "solutions" / "toy" / "toy.ipynb"
    release = root / "exercises" / "toy" / "toy.ipynb"
    return {
        "root": root,
        "source": source,
        "release": nbformat.read(release, as_version=4),
        "perfect": autograder.perfect_submission(source, release),
        "half": autograder.half_done_submission(source, release),
    }


def rows_by_student(text: str) -> dict[str, dict]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames[:4] == ["student_id", "assignment", "score", "max_score"]
    return {row["student_id"]: row for row in reader}


def with_cell(nb, grade_id, source):
    nb = nbformat.from_dict(nb)  # a copy
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


def test_grade_folder_then_export_and_feedback_through_the_cli(toy, tmp_path):
    subs, course = tmp_path / "submissions", tmp_path / "course"
    # The malformed one sorts first: the batch must go on past it.
    autograder.write_submission(subs, "a_malformed", "toy", "toy", '{\n "cells": [\n  {"cell_type": oops\n')
    autograder.write_submission(subs, "b_blank", "toy", "toy", toy["release"])
    autograder.write_submission(subs, "c_half", "toy", "toy", toy["half"])
    autograder.write_submission(subs, "d_perfect", "toy", "toy", toy["perfect"])

    proc = run_cli("grade", subs, "--repo", toy["root"], "--course-dir", course)
    assert proc.returncode == 0, proc.stderr
    assert "grading" in proc.stderr and "4/4" in proc.stderr  # the progress bar's last tick
    table = proc.stdout.splitlines()
    assert table[0].split() == ["student", "assignment", "score", "max_score", "status", "note"]
    assert [line.split()[0] for line in table[2:6]] == ["a_malformed", "b_blank", "c_half", "d_perfect"]
    assert "is not valid JSON (line 3)" in proc.stdout

    out = tmp_path / "grades.csv"
    proc = run_cli("export", "-o", out, "--repo", toy["root"], "--course-dir", course)
    assert proc.returncode == 0, proc.stderr
    rows = rows_by_student(out.read_text())
    assert sorted(rows) == ["a_malformed", "b_blank", "c_half", "d_perfect"]
    assert {r["assignment"] for r in rows.values()} == {"toy"}
    assert {float(r["max_score"]) for r in rows.values()} == {MAX}

    perfect, blank, half, bad = (rows[k] for k in ("d_perfect", "b_blank", "c_half", "a_malformed"))
    assert float(perfect["score"]) == float(perfect["max_score"]) == MAX
    assert float(blank["score"]) == 0.0 and blank["status"] == "graded"
    assert 0.0 < float(half["score"]) < MAX
    assert float(half["score"]) == 1.0  # the first solution cell is worth 1 point
    assert float(bad["score"]) == 0.0 and bad["status"] == "failed"
    assert "a_malformed/toy/toy.ipynb is not valid JSON (line 3)" in bad["note"]
    assert "re-export it from Jupyter" in bad["note"]
    for good in (perfect, blank, half):
        assert good["status"] == "graded" and good["note"] == ""

    proc = run_cli("feedback", "--student", "d_perfect", "--repo", toy["root"], "--course-dir", course)
    assert proc.returncode == 0, proc.stderr
    html = course / "feedback" / "d_perfect" / "toy" / "toy.html"
    assert html.is_file() and "feedback/d_perfect/toy/toy.html" in proc.stdout
    text = html.read_text()
    assert "Score: 4.0 / 4.0" in text and ">double<" in text


def test_grade_zip_with_a_wrapper_folder(toy, tmp_path):
    subs = tmp_path / "folder"
    autograder.write_submission(subs / "submissions", "alice", "toy", "toy", toy["perfect"])
    autograder.write_submission(subs / "submissions", "bob", "toy", "toy", toy["release"])
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(subs.rglob("*")):
            zf.write(path, path.relative_to(subs).as_posix())
        zf.writestr("__MACOSX/submissions/._alice", "junk")
    db = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    proc = run_cli("grade", archive, "--assignment", "toy", "--repo", toy["root"],
                   "--course-dir", tmp_path / "course", "--db", db, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "elsewhere.db").is_file() and not (tmp_path / "course" / "gradebook.db").exists()
    proc = run_cli("export", "--repo", toy["root"], "--course-dir", tmp_path / "course", "--db", db)
    assert proc.returncode == 0, proc.stderr
    rows = rows_by_student(proc.stdout)
    assert sorted(rows) == ["alice", "bob"]
    assert float(rows["alice"]["score"]) == MAX and float(rows["bob"]["score"]) == 0.0


def test_bad_submissions_score_zero_with_a_note_and_the_batch_goes_on(toy, tmp_path):
    subs = tmp_path / "subs"
    write = autograder.write_submission
    write(subs, "crash", "toy", "toy", with_cell(toy["perfect"], "double", "import os\nos._exit(1)"))
    write(subs, "sleepy", "toy", "toy", with_cell(toy["perfect"], "peak_step", "import time\ntime.sleep(120)"))
    stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    write(subs, "stubborn", "toy", "toy", with_cell(toy["perfect"], "peak_step", stubborn))
    write(subs, "empty", "toy", "toy", b"")
    write(subs, "renamed", "toy", "toy (1)", toy["perfect"])
    deleter = nbformat.from_dict(toy["perfect"])
    deleter.cells = [c for c in deleter.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_half_life"]
    write(subs, "deleter", "toy", "toy", deleter)
    write(subs, "lost", "nosuch", "other", toy["perfect"])

    results = autograder.grade_submissions(
        subs, repo=toy["root"], course_dir=tmp_path / "course", jobs=2, timeout=3, progress=False
    )
    got = {r.student_id: r for r in results}
    assert sorted(got) == ["crash", "deleter", "empty", "lost", "renamed", "sleepy", "stubborn"]

    # os._exit in the answer cell of `double`: only test_double (1 point) is lost
    assert got["crash"].status == "graded" and got["crash"].score == MAX - 1 and got["crash"].max_score == MAX
    assert "cell 'double': the student's process exited with status 1" in got["crash"].note

    assert got["sleepy"].status == "graded"
    assert got["sleepy"].score == MAX - 2  # peak_step's 2 points lost, the rest still graded
    assert "cell 'peak_step': ran past the 3 s per-cell time limit" in got["sleepy"].note

    # a loop that ignores SIGINT is stopped like any other: the process group is killed
    assert got["stubborn"].status == "graded" and got["stubborn"].score == MAX - 2
    assert "cell 'peak_step': ran past the 3 s per-cell time limit" in got["stubborn"].note

    assert got["empty"].status == "failed" and got["empty"].score == 0.0
    assert "subs/empty/toy/toy.ipynb is empty (0 bytes)" in got["empty"].note

    # the only notebook there, under another name: graded, and the note says so (issue #12)
    assert got["renamed"].status == "graded" and got["renamed"].score == MAX
    assert got["renamed"].note.endswith("subs/renamed/toy/toy (1).ipynb was graded as toy.ipynb: it is the only "
                                        "notebook there and toy.ipynb is missing; name it toy.ipynb next time")

    # a deleted test cell is put back from the source: honest work keeps its points
    assert got["deleter"].status == "graded" and got["deleter"].score == MAX
    assert "test/locked cell(s) test_half_life differ from the instructor's version" in got["deleter"].note

    assert got["lost"].status == "skipped" and got["lost"].max_score is None
    assert "there is no assignment 'nosuch'" in got["lost"].note

    rows = {r["student_id"]: r for r in autograder.export_grades(course_dir=tmp_path / "course", repo=toy["root"])}
    assert sorted(rows) == sorted(got)
    for student, result in got.items():
        assert float(rows[student]["score"]) == result.score
        assert rows[student]["note"] == result.note


def test_regrading_gives_the_same_grades(toy, tmp_path):
    subs, course = tmp_path / "subs", tmp_path / "course"
    autograder.write_submission(subs, "perfect", "toy", "toy", toy["perfect"])
    autograder.write_submission(subs, "half", "toy", "toy", toy["half"])
    first = autograder.grade_submissions(subs, repo=toy["root"], course_dir=course, progress=False)
    export_first = autograder.export_grades(repo=toy["root"], course_dir=course)
    second = autograder.grade_submissions(subs, repo=toy["root"], course_dir=course, jobs=2, progress=False)
    export_second = autograder.export_grades(repo=toy["root"], course_dir=course)
    assert [(r.student_id, r.score, r.status) for r in first] == [("half", 1.0, "graded"), ("perfect", MAX, "graded")]
    assert [(r.student_id, r.score, r.status) for r in second] == [(r.student_id, r.score, r.status) for r in first]
    assert export_second == export_first

    # A regrade after the student broke the file replaces the old score by 0.
    autograder.write_submission(subs, "perfect", "toy", "toy", "{")
    third = autograder.grade_submissions(subs, repo=toy["root"], course_dir=course, assignment="toy", progress=False)
    assert [(r.student_id, r.score, r.status) for r in third] == [("half", 1.0, "graded"), ("perfect", 0.0, "failed")]


def test_grade_notebook_api(toy):
    result = autograder.grade_notebook(toy["perfect"], "toy", repo=toy["root"])
    assert (result.status, result.score, result.max_score, result.note) == ("graded", MAX, MAX, "")
    broken = autograder.grade_notebook(b'{"cells": ', "toy", repo=toy["root"], student_id="zed")
    assert (broken.student_id, broken.status, broken.score, broken.max_score) == ("zed", "failed", 0.0, MAX)
    assert "student/toy/toy.ipynb" not in broken.note and "zed/toy/toy.ipynb is not valid JSON" in broken.note


def test_a_notebook_one_folder_too_deep_is_found_and_noted(toy, tmp_path):
    subs = tmp_path / "subs"
    autograder.write_submission(subs / "alice" / "toy", "sub", "x", "toy", toy["perfect"])  # alice/toy/sub/x/toy.ipynb
    (result,) = autograder.grade_submissions(subs, repo=toy["root"], course_dir=tmp_path / "course", progress=False)
    assert (result.student_id, result.score, result.status) == ("alice", MAX, "graded"), result.note
    assert "was found at" in result.note and "sub/x/toy.ipynb" in result.note, result.note


# --------------------------------------------------------------------------- academic integrity (issue #12)


def _forbid_nqm(tmp_path, toy):
    """A copy of the toy repository whose notebook forbids lrlab.nqm (metadata.autograder.forbidden_modules)."""
    root = tmp_path / "repo"
    shutil.copytree(toy["root"] / "solutions", root / "solutions")
    source = root / "solutions" / "toy" / "toy.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.metadata["autograder"] = {"forbidden_modules": ["lrlab.nqm"]}
    nbformat.write(nb, source)
    autograder.release(repo=root)
    return root


def test_an_import_of_the_reference_module_is_flagged_in_the_table_and_the_csv(toy, tmp_path):
    from conftest import require_system

    require_system("bwrap", "the sandbox needs Debian's bubblewrap: apt-get install bubblewrap")
    root = _forbid_nqm(tmp_path, toy)
    subs, course = tmp_path / "subs", tmp_path / "course"
    at_top = "from lrlab.nqm import *\n\ndef double(x):\n    return 2 * x"
    inside = "def peak_step(total_steps):\n    import lrlab.nqm\n    return total_steps // 2"
    autograder.write_submission(subs, "honest", "toy", "toy", toy["perfect"])
    autograder.write_submission(subs, "top", "toy", "toy", with_cell(toy["perfect"], "double", at_top))
    autograder.write_submission(subs, "inside", "toy", "toy", with_cell(toy["perfect"], "peak_step", inside))
    proc = run_cli("grade", subs, "--repo", root, "--course-dir", course, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:6] == ["student", "assignment", "score", "max_score", "status", "flags"]
    line = {row.split()[0]: row for row in lines[2:5]}
    # The cell that imported it lost its points (the sandbox's stand-in raised ImportError), and it is flagged.
    assert "integrity: lrlab.nqm in cell 'double'" in line["top"]
    assert "integrity: lrlab.nqm in cells 'peak_step', 'test_peak_step'" in line["inside"]
    assert "integrity" not in line["honest"]
    assert "2 with an integrity flag" in proc.stdout

    rows = {r["student_id"]: r for r in autograder.export_grades(repo=root, course_dir=course)}
    assert rows["top"]["integrity"] == "lrlab.nqm in cell 'double'" and float(rows["top"]["score"]) == MAX - 1
    assert rows["inside"]["integrity"] == "lrlab.nqm in cells 'peak_step', 'test_peak_step'"
    assert float(rows["inside"]["score"]) == MAX - 2
    assert rows["honest"]["integrity"] == "" and float(rows["honest"]["score"]) == MAX

    # Without the sandbox the engine's import guard (autograder/engine/guard.py) still stands in for the module:
    # the same scores and flags.
    results = autograder.grade_submissions(subs, repo=root, course_dir=tmp_path / "course-none", sandbox="none",
                                           progress=False)
    got = {r.student_id: r for r in results}
    assert got["top"].score == MAX - 1 and got["top"].integrity == "lrlab.nqm in cell 'double'"
    assert got["inside"].score == MAX - 2
    assert got["inside"].integrity == "lrlab.nqm in cells 'peak_step', 'test_peak_step'"
    assert got["honest"].score == MAX and got["honest"].integrity == ""


class _Twice:
    """The local executor, each outcome delivered twice (a task re-run after a lost Dask worker), optionally
    with the results changed first by ``tamper``."""

    def __init__(self, jobs, tamper=None):
        from autograder.instructor.executors import LocalExecutor

        self.inner, self.tamper = LocalExecutor(jobs), tamper

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run(self, tasks):
        for outcome in self.inner.run(tasks):
            if self.tamper is not None and outcome.result is not None:
                self.tamper(outcome.result)
            yield outcome
            yield outcome


def test_each_result_is_recorded_once_and_the_gradebook_only_by_the_coordinator(toy, tmp_path, monkeypatch):
    from autograder.instructor import grading

    subs = tmp_path / "subs"
    autograder.write_submission(subs, "half", "toy", "toy", toy["half"])
    autograder.write_submission(subs, "perfect", "toy", "toy", toy["perfect"])
    monkeypatch.setattr(grading, "executor_for", lambda spec, jobs: _Twice(jobs))
    twice = autograder.grade_submissions(subs, repo=toy["root"], course_dir=tmp_path / "twice", jobs=2,
                                         progress=False)
    assert [(r.student_id, r.score, r.status, r.note) for r in twice] == [
        ("half", 1.0, "graded", ""), ("perfect", MAX, "graded", "")]
    rows = autograder.export_grades(repo=toy["root"], course_dir=tmp_path / "twice")
    assert sorted(r["student_id"] for r in rows) == ["half", "perfect"]
    # The task's result is kept next to the run notes, one file per notebook.
    stored = tmp_path / "twice" / "runs" / "perfect" / "toy" / "toy.result.json"
    assert stored.is_file() and (stored.parent / "toy.json").is_file()


def test_a_result_for_other_cells_fails_the_submission_as_a_bug_never_as_passed_tests(toy, tmp_path, monkeypatch):
    from autograder.instructor import grading

    def shift(result):  # outputs computed for another notebook: the cells differ
        for entry in result["notebooks"].values():
            entry["cells"][-1][2] = "0" * 40

    subs = tmp_path / "subs"
    autograder.write_submission(subs, "perfect", "toy", "toy", toy["perfect"])
    monkeypatch.setattr(grading, "executor_for", lambda spec, jobs: _Twice(jobs, tamper=shift))
    (result,) = autograder.grade_submissions(subs, repo=toy["root"], course_dir=tmp_path / "course", progress=False)
    assert (result.score, result.status) == (0.0, "failed")
    assert "differ from the cells that were run" in result.note and "this is a bug" in result.note

    def unrun(result):  # a notebook the task could not run: no outputs
        for entry in result["notebooks"].values():
            entry["outputs"] = None
            entry["notes"] = ["toy.ipynb: its cells could not be read (ValueError: bad); graded as 0"]

    monkeypatch.setattr(grading, "executor_for", lambda spec, jobs: _Twice(jobs, tamper=unrun))
    (result,) = autograder.grade_submissions(subs, repo=toy["root"], course_dir=tmp_path / "course", progress=False)
    assert (result.score, result.status) == (0.0, "failed")
    assert "toy.ipynb was not run" in result.note and "its cells could not be read" in result.note
