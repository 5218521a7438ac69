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
    report = format_report("toy.ipynb", checks)
    assert "All visible tests pass" in report
    # no release next to it: its own test cells run, and the report says so
    assert checks.release is None and "No release of this notebook found" in report, report


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


# --------------------------------------------------------------------------- validate = grade (issue #15)
#
# The self-check runs the grader's engine with the visible tests, so on the same notebook it must give,
# test cell by test cell, the grader's verdict: on the hostile catalogue of tests/test_autograder_hostile.py
# (loops, exits, crashes, memory, tampering with the test cells or the interpreter, the reference import),
# adapted to the toy assignment (whose source forbids a real reference module, lrlab.pac_bayes, here).

FORBIDDEN = "lrlab.pac_bayes"
CASE_TIMEOUT = 5  # per cell: the toy's honest cells take milliseconds; loops stop here
HONEST_DOUBLE = 'def double(x):\n    """Return 2 * x."""\n    return 2 * x\n'


def _gid_cell(nb, gid):
    return next(c for c in nb.cells if (c.metadata.get("nbgrader") or {}).get("grade_id") == gid)


def _gid_index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if (c.metadata.get("nbgrader") or {}).get("grade_id") == gid)


def _double(source):
    def change(nb):
        _gid_cell(nb, "double").source = source
    return change


def _double_doing(extra):
    """double() that runs ``extra`` first (then would be correct)."""
    return _double("def double(x):\n    " + extra.replace("\n", "\n    ") + "\n    return 2 * x\n")


def _after_double(code):
    def change(nb):
        _gid_cell(nb, "double").source = HONEST_DOUBLE + code + "\n"
    return change


def _added(code, metadata=None):
    def change(nb):
        cell = nbformat.v4.new_code_cell(code)
        if metadata:
            cell.metadata["nbgrader"] = metadata
        nb.cells.insert(_gid_index(nb, "double") + 1, cell)
    return change


def _test_double(edit):
    def change(nb):
        edit(nb, _gid_cell(nb, "test_double"), _gid_index(nb, "test_double"))
    return change


def _both(*changes):
    def change(nb):
        for c in changes:
            c(nb)
    return change


def _duplicate(nb, cell, i):
    import copy

    twin = copy.deepcopy(cell)
    twin.source = "pass"
    twin["id"] = "test-double-twin"
    nb.cells.insert(i, twin)
    cell.source = "pass"


def _retag(nb, cell, i):
    cell.metadata["nbgrader"].update(grade=False, solution=True, locked=False)
    cell.source = "pass"


def _rename(nb, cell, i):
    cell.metadata["nbgrader"]["grade_id"] = "test_double_mine"
    cell.source = "pass"


def _to_markdown(nb, cell, i):
    nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)


WRONG = _double("def double(x):\n    return x + 1\n")
REFERENCE_CASES = {
    "reference_import_top": _double(f"from {FORBIDDEN} import gaussian_kl\n" + HONEST_DOUBLE),
    "reference_import_in_function": _double(
        f"def double(x):\n    from {FORBIDDEN} import gaussian_kl\n    return 2 * x\n"),
    "reference_from_package": _double("from lrlab import pac_bayes\n" + HONEST_DOUBLE),
    "reference_import_module": _double_doing(f"import importlib\nimportlib.import_module({FORBIDDEN!r})"),
}
HOSTILE_CASES = {
    "honest": None,
    "base_wrong": WRONG,
    "base_raises": _double("def double(x):\n    raise RuntimeError('not done')\n"),
    "base_missing": _double("pass"),
    "loop_ignoring_sigint": _double_doing(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
    "sys_exit_in_function": _double_doing("import sys\nsys.exit(0)"),
    "raise_systemexit_in_function": _double_doing("raise SystemExit(3)"),
    "os_exit_in_function": _double_doing("import os\nos._exit(1)"),
    "segfault_in_function": _double_doing("import ctypes\nctypes.string_at(0)"),
    "killed_in_function": _double_doing("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
    "memory_bomb_in_function": _double_doing("hog = []\nwhile True:\n    hog.append(bytearray(10**8))"),
    "loop_at_top_level": _after_double("while True:\n    pass"),
    "os_exit_at_top_level": _after_double("import os\nos._exit(0)"),
    "sys_exit_at_top_level": _after_double("import sys\nsys.exit()"),
    "huge_output": _added("import sys\nfor i in range(100_000):\n    print(i)\nsys.stdout.write('x' * 5_000_000)"),
    "test_emptied": _both(WRONG, _test_double(lambda nb, c, i: setattr(c, "source", "pass"))),
    "test_deleted": _both(WRONG, _test_double(lambda nb, c, i: nb.cells.pop(i))),
    "test_duplicated": _both(WRONG, _test_double(_duplicate)),
    "test_retagged": _both(WRONG, _test_double(_retag)),
    "test_to_markdown": _both(WRONG, _test_double(_to_markdown)),
    "test_renamed": _both(WRONG, _test_double(_rename)),
    "test_moved_honest": _test_double(lambda nb, c, i: nb.cells.append(nb.cells.pop(i))),
    "points_raised": lambda nb: _gid_cell(nb, "test_peak_step").metadata["nbgrader"].update(points=100),
    "fake_graded_cell": _added("pass", metadata={"grade": True, "grade_id": "bonus", "points": 50, "locked": False,
                                                 "solution": False, "schema_version": 3}),
    "monkeypatch_builtins": _both(WRONG, _added(
        "import builtins, math\nmath.isclose = lambda *a, **k: True\n"
        "builtins.isinstance = lambda *a: True\nbuiltins.AssertionError = type('Never', (Exception,), {})\n")),
    "monkeypatch_numpy": _both(WRONG, _added(
        "import numpy, numpy.testing\nnumpy.isclose = lambda *a, **k: True\nnumpy.allclose = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n")),
    "hooks_rewrite_cells": _both(WRONG, _added(
        "import sys\nip = get_ipython()\n"
        "try:\n    ip.input_transformers_post.append(lambda lines: ['pass\\n'])\nexcept Exception:\n    pass\n"
        "sys.settrace(lambda *a: None)\nsys.addaudithook(lambda event, args: None)\n")),
    **REFERENCE_CASES,
}


@pytest.fixture(scope="module")
def toy_course(tmp_path_factory):
    """A copy of the toy repository whose source forbids lrlab.pac_bayes, released into its exercises/."""
    import shutil

    import autograder

    root = tmp_path_factory.mktemp("validate-vs-grade") / "toyrepo"
    shutil.copytree(TOY, root)
    source_path = root / "solutions" / "toy" / "toy.ipynb"
    source = nbformat.read(source_path, as_version=4)
    source.metadata["autograder"] = {"forbidden_modules": [FORBIDDEN]}
    nbformat.write(source, source_path)
    autograder.release(["toy"], repo=root)
    release = root / "exercises" / "toy" / "toy.ipynb"
    assert release.is_file()
    return {"root": root, "source": source_path, "release": release,
            "perfect": perfect_submission(source_path, release)}


def _submission(toy, change):
    import copy

    nb = copy.deepcopy(toy["perfect"])
    if change is not None:
        change(nb)
    return nb


def _per_cell_grades(course: Path, students) -> dict:
    """{student: {grade_id: (passed, max_score)}} from the gradebook the grader wrote."""
    from nbgrader.api import Gradebook

    from autograder.layout import sqlite_url

    out = {}
    with Gradebook(sqlite_url(course / "gradebook.db")) as gb:
        for sid in students:
            try:
                notebook = gb.find_submission_notebook("toy", "toy", sid)
            except Exception:  # noqa: BLE001 - not graded at all: no cells
                out[sid] = {}
                continue
            out[sid] = {g.name: (g.score == g.max_score, g.max_score) for g in notebook.grades}
    return out


def _compare(toy, tmp_path, cases: dict, sandbox: str) -> list[str]:
    """Grade ``cases`` in one batch and self-check each one; every per-cell disagreement, in words."""
    import autograder

    subs = tmp_path / f"subs-{sandbox}"
    for sid, change in cases.items():
        autograder.write_submission(subs, sid, "toy", "toy", _submission(toy, change))
    results = autograder.grade_submissions(subs, repo=toy["root"], course_dir=tmp_path / f"course-{sandbox}", jobs=2,
                                           timeout=CASE_TIMEOUT, memory_mb=1024, sandbox=sandbox, progress=False)
    assert all(r.status == "graded" for r in results), [(r.student_id, r.status, r.note) for r in results]
    graded = _per_cell_grades(tmp_path / f"course-{sandbox}", cases)
    problems = []
    for sid, change in cases.items():
        # where a student works: a copy of the release in the course's workspace/
        path = toy["root"] / "workspace" / f"{sandbox}-{sid}" / "toy" / "toy.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(_submission(toy, change), path)
        checks = validate_notebook(path, timeout=CASE_TIMEOUT, sandbox=sandbox, memory_mb=1024)
        assert checks.release == toy["release"], f"{sid}: the self-check did not use the release"
        mine = {c.grade_id: (c.passed, c.points) for c in checks}
        if mine != graded[sid]:
            problems.append(f"{sid}: validate says {mine}, grade says {graded[sid]}\n{format_report(path, checks)}")
    return problems


@pytest.mark.slow
def test_validate_and_grade_agree_cell_by_cell_on_the_hostile_cases(toy_course, tmp_path):
    problems = _compare(toy_course, tmp_path, HOSTILE_CASES, "auto")
    assert not problems, "\n\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_forbidden_import_fails_the_self_check_as_it_fails_grading(toy_course, tmp_path, sandbox):
    if sandbox == "bwrap":
        from conftest import require_system

        require_system("bwrap", "apt-get install bubblewrap")
    cases = {"honest": None, "base_missing": HOSTILE_CASES["base_missing"], **REFERENCE_CASES}
    problems = _compare(toy_course, tmp_path, cases, sandbox)
    assert not problems, "\n\n".join(problems)
    # and it says why, in the grader's words (the stub bwrap binds over the module's file)
    path = toy_course["root"] / "workspace" / f"{sandbox}-reference_import_top" / "toy" / "toy.ipynb"
    checks = validate_notebook(path, timeout=CASE_TIMEOUT, sandbox=sandbox)
    assert not {c.grade_id: c for c in checks}["test_double"].passed
    report = format_report(path, checks)
    assert f"double: ImportError: {FORBIDDEN} is the course's reference implementation" in report, report
    assert (checks.mode == "none") == ("without file or network isolation" in report), report


@pytest.mark.slow
def test_hidden_tests_are_the_only_difference(toy_course, tmp_path):
    """A peak_step that passes the visible test and fails a hidden one: PASS here, 0 when graded; and the
    comparison above can fail."""
    lax = _double("def double(x):\n    return 2 * x\n")

    def no_check(nb):
        lax(nb)
        _gid_cell(nb, "peak_step").source = "def peak_step(total_steps):\n    return total_steps // 2\n"

    problems = _compare(toy_course, tmp_path, {"lax": no_check}, "auto")
    assert len(problems) == 1 and "'test_peak_step': (True, 2.0)" in problems[0] and "'test_peak_step': (False, 2.0)" \
        in problems[0], problems


def test_edited_test_cells_are_restored_from_the_release_as_the_grader_restores_them(toy_course):
    nb = _submission(toy_course, _both(WRONG, _test_double(lambda nb, c, i: setattr(c, "source", "pass"))))
    path = toy_course["root"] / "workspace" / "edited" / "toy" / "toy.ipynb"
    path.parent.mkdir(parents=True)
    (path.parent / "data.txt").write_text("21\n")
    _gid_cell(nb, "half_life").source = "half_life = float(open('data.txt').read()) / 2.1"
    nbformat.write(nb, path)
    checks = validate_notebook(path, timeout=CASE_TIMEOUT)
    by_id = {c.grade_id: c for c in checks}
    assert not by_id["test_double"].passed and by_id["test_double"].message == "AssertionError: double(2) should be 4"
    assert by_id["test_half_life"].passed, "the files next to the notebook are there, as in a submission"
    report = format_report(path, checks)
    assert f"Test cells as released ({toy_course['release']})" in report and "test_double differ" in report, report
    assert _gid_cell(nbformat.read(path, as_version=4), "test_double").source == "pass", "the student's file is untouched"
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.txt", "toy.ipynb"], "nothing written next to it"


def test_bad_limits_and_sandbox_get_a_clear_error(tmp_path):
    path = _write(perfect_submission(TOY_SOURCE, release_notebook(TOY_SOURCE, repo=TOY)), tmp_path)
    with pytest.raises(AutograderError, match="sandbox must be one of auto, bwrap, none"):
        validate_notebook(path, sandbox="docker")
    with pytest.raises(AutograderError, match="timeout must be a positive number"):
        validate_notebook(path, timeout=0)
    with pytest.raises(AutograderError, match="memory_mb must be at least 1024"):
        validate_notebook(path, memory_mb=10)
