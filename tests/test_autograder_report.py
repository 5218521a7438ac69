"""The per-question report (``python -m autograder report``) and the progress bars of feedback and export.

A small class of the toy assignment (tests/fixtures/toyrepo: test cells ``test_double``,
``test_peak_step``, ``test_half_life`` worth 1, 2 and 1 points) is graded for real, once
per module. Every submission is built to pass or fail each test cell in a known way, and
:data:`CLASS` writes down how: the expected means, full-mark shares, failure messages
and totals are computed from that table, never read back from the report. The tests
that grade are marked ``slow``; the message parsing and the bins are checked without
grading.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import struct
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import nbformat
import pytest

import autograder
from autograder.instructor.gradebook import PROGRESS_MIN_SUBMISSIONS
from autograder.instructor.report import (
    NOT_RUN,
    cell_failures,
    class_report,
    failure_message,
    format_report,
    histogram_bins,
)

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"
POINTS = {"test_double": 1.0, "test_peak_step": 2.0, "test_half_life": 1.0}

# What each test cell does with each kind of submission: None (full marks) or the message it fails with.
NOT_DONE = "NotImplementedError"  # the release's `raise NotImplementedError()`
NO_HALF_LIFE = "NameError: name 'half_life' is not defined"
WRONG_DOUBLE = "AssertionError: double(2) should be 4"  # the visible test's message
INT_HALF_LIFE = "AssertionError"  # `assert isinstance(half_life, float)`: no message
KINDS = {
    "perfect": {"test_double": None, "test_peak_step": None, "test_half_life": None},
    "half": {"test_double": None, "test_peak_step": NOT_DONE, "test_half_life": NO_HALF_LIFE},
    "blank": {"test_double": NOT_DONE, "test_peak_step": NOT_DONE, "test_half_life": NO_HALF_LIFE},
    "triple": {"test_double": WRONG_DOUBLE, "test_peak_step": None, "test_half_life": None},
    "int_half_life": {"test_double": None, "test_peak_step": None, "test_half_life": INT_HALF_LIFE},
}
#: The class: student -> kind of submission. "zz_broken" hands in invalid JSON: it cannot be run.
CLASS = {
    "ada": "perfect", "bob": "perfect", "cy": "half", "dee": "half", "eve": "blank",
    "fay": "triple", "gus": "triple", "hal": "triple", "ivy": "int_half_life",
}
BROKEN = "zz_broken"


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def with_cell(nb, grade_id, source):
    nb = nbformat.from_dict(nb)  # a copy
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The toy class of :data:`CLASS` (and one broken submission), graded into its own course directory."""
    base = tmp_path_factory.mktemp("report")
    root = base / "repo"
    shutil.copytree(TOY, root)
    autograder.release(repo=root)
    source = root / "solutions" / "toy" / "toy.ipynb"
    release = root / "exercises" / "toy" / "toy.ipynb"
    perfect = autograder.perfect_submission(source, release)
    notebooks = {
        "perfect": perfect,
        "half": autograder.half_done_submission(source, release),
        "blank": nbformat.read(release, as_version=4),
        "triple": with_cell(perfect, "double", "def double(x):\n    return 3 * x\n"),
        "int_half_life": with_cell(perfect, "half_life", "half_life = 10\n"),
    }
    subs, course = base / "subs", base / "course"
    for student, kind in CLASS.items():
        autograder.write_submission(subs, student, "toy", "toy", notebooks[kind])
    autograder.write_submission(subs, BROKEN, "toy", "toy", '{"cells": [oops')
    results = autograder.grade_submissions(subs, repo=root, course_dir=course, progress=False)
    status = {r.student_id: r.status for r in results}
    assert status == {**{s: "graded" for s in CLASS}, BROKEN: "failed"}, [r.note for r in results]
    return {"root": root, "course": course, "base": base}


def expected_cell(grade_id: str) -> dict:
    """Mean, full-mark share, graded count and most common failure of a cell, from :data:`CLASS`."""
    outcomes = [KINDS[kind][grade_id] for kind in CLASS.values()]
    scores = [POINTS[grade_id] if o is None else 0.0 for o in outcomes]
    (message, count), = Counter(o for o in outcomes if o is not None).most_common(1)
    return {"mean": sum(scores) / len(scores), "full_marks": outcomes.count(None) / len(outcomes),
            "graded": len(outcomes), "failure": message, "failure_count": count}


def expected_totals() -> dict:
    return {s: sum(p for gid, p in POINTS.items() if KINDS[kind][gid] is None) for s, kind in CLASS.items()}


# --- the report of a graded class ---------------------------------------------------------------


@pytest.mark.slow
def test_per_cell_means_full_marks_and_most_common_failure(graded):
    report = class_report(repo=graded["root"], course_dir=graded["course"])  # the only graded assignment
    assert report.assignment == "toy" and report.max_score == sum(POINTS.values())
    assert [c.grade_id for c in report.cells] == list(POINTS)  # notebook order
    for cell in report.cells:
        want = expected_cell(cell.grade_id)
        assert cell.points == POINTS[cell.grade_id]
        assert cell.graded == want["graded"]
        assert math.isclose(cell.mean, want["mean"]), cell
        assert math.isclose(cell.full_marks, want["full_marks"]), cell
        assert (cell.failure, cell.failure_count) == (want["failure"], want["failure_count"]), cell
        assert cell.common_failure == f"{want['failure']} ({want['failure_count']} of {want['graded']})"


@pytest.mark.slow
def test_totals_leave_out_the_submission_that_could_not_run(graded):
    report = class_report("toy", repo=graded["root"], course_dir=graded["course"])
    assert report.totals == expected_totals()
    assert report.left_out == [BROKEN]
    assert report.size == len(CLASS)
    assert math.isclose(report.mean_total, sum(expected_totals().values()) / len(CLASS))


@pytest.mark.slow
def test_the_histogram_is_a_png_of_sensible_size(graded, tmp_path):
    default = class_report("toy", repo=graded["root"], course_dir=graded["course"]).figure
    assert default == graded["course"] / "reports" / "toy-totals.png"
    chosen = tmp_path / "figs" / "totals.png"
    assert class_report("toy", chosen, repo=graded["root"], course_dir=graded["course"]).figure == chosen
    for path in (default, chosen):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
        width, height = struct.unpack(">II", data[16:24])
        assert 400 <= width <= 2000 and 300 <= height <= 1500, (width, height)
        assert 5_000 < len(data) < 1_000_000
        import matplotlib.image

        pixels = matplotlib.image.imread(path)
        assert pixels.shape[:2] == (height, width)
        assert pixels[..., :3].std() > 0.05  # not a blank canvas
        assert b"Histogram of the totals of 9 submissions of toy" in data  # the alternative text
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(autograder.AutograderError, match=r"could not write the figure to .*a_file/t.png .*"
                                                         r"pass --figure FILE.png in a folder you can write to"):
        class_report("toy", tmp_path / "a_file" / "t.png", repo=graded["root"], course_dir=graded["course"])


@pytest.mark.slow
def test_the_cli_prints_the_table(graded, tmp_path):
    figure = tmp_path / "t.png"
    proc = run_cli("report", "--assignment", "toy", "--repo", graded["root"], "--course-dir", graded["course"],
                   "--figure", figure)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["grade_id", "points", "mean", "full", "marks", "most", "common", "failure"]
    rows = {line.split()[0]: line for line in lines[2:2 + len(POINTS)]}
    assert list(rows) == list(POINTS)
    for gid, line in rows.items():
        want = expected_cell(gid)
        points, mean, share = line.split()[1:4]
        assert float(points) == POINTS[gid]
        assert mean == f"{want['mean']:.2f}" and share == f"{100 * want['full_marks']:.0f}%"
        assert line.endswith(f"{want['failure']} ({want['failure_count']} of {want['graded']})")
    mean_total = sum(expected_totals().values()) / len(CLASS)
    assert f"toy: {len(CLASS)} submissions, mean total {mean_total:.2f} of 4." in proc.stdout
    assert f"Left out: 1 submission(s) that could not be run (score 0): {BROKEN}" in proc.stdout
    assert str(figure) in proc.stdout and figure.is_file()


# --- errors ------------------------------------------------------------------------------------------


def test_nothing_graded_says_to_grade_first(tmp_path):
    with pytest.raises(autograder.AutograderError, match=r"no gradebook in .*: grade something first with `python -m autograder grade"):
        class_report(repo=TOY, course_dir=tmp_path / "empty")
    proc = run_cli("report", "--repo", TOY, "--course-dir", tmp_path / "empty")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "error: no gradebook" in proc.stderr and "python -m autograder grade SUBMISSIONS" in proc.stderr


@pytest.mark.slow
def test_unknown_or_ungraded_assignment_lists_the_graded_ones(graded):
    with pytest.raises(autograder.AutograderError, match=r"assignment='tyo' has no grades in .*"
                                                         r"\(graded assignments: toy\)"):
        class_report("tyo", repo=graded["root"], course_dir=graded["course"])


@pytest.fixture
def two_assignments(graded, tmp_path):
    """A copy of the graded course whose gradebook also holds an assignment with a submission, and one without."""
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    shutil.copytree(graded["course"], course)
    with warnings.catch_warnings(), Gradebook(autograder.open_course(graded["root"], course).db_url) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
        gb.add_assignment("other")
        gb.add_submission("other", "ada")
        gb.add_assignment("unsubmitted")
    return course


@pytest.mark.slow
def test_several_graded_assignments_need_one_named(graded, two_assignments):
    with pytest.raises(autograder.AutograderError,
                       match=r"2 assignments are graded in .* \(other, toy\): say which one with --assignment A"):
        class_report(repo=graded["root"], course_dir=two_assignments)
    with pytest.raises(autograder.AutograderError, match=r"assignment='unsubmitted' has no grades in .*"
                                                         r"\(graded assignments: other, toy\)"):
        class_report("unsubmitted", repo=graded["root"], course_dir=two_assignments)
    assert class_report("toy", repo=graded["root"], course_dir=two_assignments).totals == expected_totals()


@pytest.mark.slow
def test_a_gradebook_without_submissions_or_with_only_failed_ones(graded, tmp_path):
    from nbgrader.api import Gradebook

    from autograder.instructor.gradebook import _load_notes, _save_notes

    course = autograder.open_course(graded["root"], tmp_path / "course")
    shutil.copytree(graded["course"], course.root)
    notes = _load_notes(course)
    _save_notes(course, {key: {**info, "status": "failed"} for key, info in notes.items()})
    with pytest.raises(autograder.AutograderError, match=rf"none of the {len(CLASS) + 1} submission\(s\) of 'toy' "
                                                         r"could be run .*fix them and grade again"):
        class_report(repo=graded["root"], course_dir=course.root)
    with warnings.catch_warnings(), Gradebook(course.db_url) as gb:
        warnings.simplefilter("ignore")
        for student in [*CLASS, BROKEN]:
            gb.remove_submission("toy", student)
    with pytest.raises(autograder.AutograderError, match=r"nothing autograded in .*: run `python -m autograder grade"):
        class_report(repo=graded["root"], course_dir=course.root)


# --- messages and bins, without grading ---------------------------------------------------------------


def test_failure_message_is_the_first_line_of_ename_and_evalue():
    def err(ename, evalue):
        return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}

    assert failure_message(err("AssertionError", "warmup must reach peak_lr")) == \
        "AssertionError: warmup must reach peak_lr"
    assert failure_message(err("AssertionError", "\n  warmup  must\treach peak_lr  \nsecond line")) == \
        "AssertionError: warmup must reach peak_lr"
    assert failure_message(err("\x1b[0;31mValueError\x1b[0m", "\x1b[1mbad\x1b[0m")) == "ValueError: bad"
    assert failure_message(err("NotImplementedError", "")) == "NotImplementedError"
    assert failure_message(err("KeyError", None)) == "KeyError"


def test_cell_failures_reads_the_first_error_of_each_graded_cell():
    def cell(gid, *outputs, grade=True):
        c = nbformat.v4.new_code_cell("pass", outputs=list(outputs))
        c.metadata["nbgrader"] = {"grade": grade, "grade_id": gid, "points": 1}
        return c

    stream = nbformat.v4.new_output("stream", name="stdout", text="checking\n")
    first = nbformat.v4.new_output("error", ename="AssertionError", evalue="first", traceback=[])
    second = nbformat.v4.new_output("error", ename="TypeError", evalue="second", traceback=[])
    md = nbformat.v4.new_markdown_cell("text")
    md.metadata["nbgrader"] = {"grade": True, "grade_id": "written", "points": 1}
    plain = nbformat.v4.new_code_cell("1/0", outputs=[second])  # no grade id: not a graded cell
    nb = nbformat.v4.new_notebook(cells=[cell("a", stream, first, second), cell("b", stream), md, plain,
                                         cell("c")])
    assert cell_failures(nb) == {"a": "AssertionError: first"}


def test_histogram_bins_centre_round_scores():
    assert histogram_bins(4) == [-0.5, 0.5, 1.5, 2.5, 3.5, 4.5]
    assert histogram_bins(4, [5.0]) == [-0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5]  # extra credit stays in view
    for top in (1, 7, 25, 26, 40, 100, 333, 1000):
        bins = histogram_bins(top)
        widths = {round(b - a, 9) for a, b in zip(bins, bins[1:])}
        assert len(widths) == 1, widths
        (step,) = widths
        assert bins[0] == -step / 2 and bins[-1] >= top  # 0 and the maximum are inside
        assert 1 <= len(bins) - 1 <= 26, (top, len(bins))
        if top > 25:
            assert 10 <= len(bins) - 1 <= 26


def test_format_report_marks_cells_without_failures_and_long_messages():
    from autograder.instructor.report import CellReport, ClassReport, MESSAGE_WIDTH

    long = "AssertionError: " + "x" * 200
    report = ClassReport(
        assignment="a", max_score=3.0, figure=Path("/nowhere/a.png"), totals={"s1": 3.0, "s2": 1.0},
        cells=[CellReport("q1", "nb", 1.0, 1.0, 1.0, 2), CellReport("q2", "nb", 2.0, 1.0, 0.5, 2, long, 1)],
        notebooks=["nb"],
    )
    lines = format_report(report).splitlines()
    assert lines[2].split()[-1] == "-"
    assert lines[3].endswith("... (1 of 2)") and len(lines[3].split("  ")[-1]) <= MESSAGE_WIDTH + len(" (1 of 2)")
    assert "a: 2 submissions, mean total 2.00 of 3." in lines
    assert lines[-1] == "Histogram of totals: /nowhere/a.png"
    assert NOT_RUN.startswith("(")


# --- progress bars ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_feedback_shows_a_progress_bar_on_stderr(graded, tmp_path, capsys):
    course = tmp_path / "course"
    shutil.copytree(graded["course"], course)
    files, problems = autograder.generate_feedback(assignment="toy", student="ada", repo=graded["root"],
                                                   course_dir=course)
    assert problems == [] and len(files) == 1
    out, err = capsys.readouterr()
    assert out == "" and "feedback" in err and "1/1" in err
    autograder.generate_feedback(student="bob", repo=graded["root"], course_dir=course, progress=False)
    assert capsys.readouterr().err == ""


@pytest.fixture
def large_class(graded, tmp_path):
    """A copy of the graded course with enough extra (empty) submissions for the export's progress bar."""
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    shutil.copytree(graded["course"], course)
    extra = [f"extra{i:04d}" for i in range(PROGRESS_MIN_SUBMISSIONS)]
    with warnings.catch_warnings(), Gradebook(autograder.open_course(graded["root"], course).db_url) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
        for student in extra:
            gb.add_student(student)
            gb.add_submission("toy", student)
    return course, extra


@pytest.mark.slow
def test_export_of_a_large_class_shows_progress_on_stderr_and_clean_csv_on_stdout(graded, large_class):
    course, extra = large_class
    rows = len(CLASS) + 1 + len(extra)
    proc = run_cli("export", "-o", "-", "--repo", graded["root"], "--course-dir", course)
    assert proc.returncode == 0, proc.stderr
    assert "export" in proc.stderr and f"{rows}/{rows}" in proc.stderr  # the bar's last tick
    assert proc.stdout.startswith("student_id,assignment,score,")
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(table) == rows and all(r["assignment"] == "toy" for r in table)
    assert {r["student_id"]: float(r["score"]) for r in table if r["student_id"] in CLASS} == expected_totals()
    assert "\r" not in proc.stdout.replace("\r\n", "")  # no bar redraws in the CSV

    quiet = run_cli("export", "-o", "-", "--no-progress", "--repo", graded["root"], "--course-dir", course)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == proc.stdout


@pytest.mark.slow
def test_export_of_a_small_class_shows_no_bar(graded):
    proc = run_cli("export", "--repo", graded["root"], "--course-dir", graded["course"])
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(list(csv.DictReader(io.StringIO(proc.stdout)))) == len(CLASS) + 1
