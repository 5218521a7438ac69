"""The autograder's command line, release/check, and the pieces that need no kernel.

Grading runs live in ``test_autograder_grading.py`` (toy assignment) and
``test_assignments.py`` (the real assignments). Here: ``--help``, argument errors,
``release`` determinism, ``check`` on the repository and on broken copies of it,
the submission builders, notebook vetting and safe zip extraction.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import autograder
from autograder.layout import AutograderError

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo"
SUBCOMMANDS = ["release", "check", "grade", "export", "feedback"]
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def run_cli(*args, cwd=REPO, timeout=300):
    """Run ``python -m autograder ARGS`` and return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def cell_text(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


@pytest.fixture()
def toy_repo(tmp_path) -> Path:
    """A private copy of the toy repository with its exercises released."""
    root = tmp_path / "toyrepo"
    shutil.copytree(TOY, root)
    autograder.release(repo=root)
    return root


def copy_repo(dest: Path) -> Path:
    """Copy the parts of the real repository that release/check read."""
    dest.mkdir()
    shutil.copytree(REPO / "solutions", dest / "solutions", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (dest / "exercises").mkdir()
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


# --------------------------------------------------------------------------- help and usage


@pytest.mark.parametrize("command", [None, *SUBCOMMANDS])
def test_help_exits_zero_and_shows_an_example(command):
    args = ["--help"] if command is None else [command, "--help"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "Example" in proc.stdout or "example" in proc.stdout, proc.stdout
    assert "python -m autograder" in proc.stdout
    if command is not None:
        assert f"python -m autograder {command}" in proc.stdout


def test_no_subcommand_prints_usage_and_fails():
    proc = run_cli()
    assert proc.returncode == 2
    assert "release" in proc.stderr and "grade" in proc.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["grade", "subs", "--jobs", "0"], "--jobs must be >= 1"),
        (["grade", "subs", "--timeout", "-3"], "--timeout must be a positive number"),
    ],
)
def test_bad_options_are_usage_errors(args, needle):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr


def test_grade_missing_folder_says_what_to_do(tmp_path):
    proc = run_cli("grade", tmp_path / "nowhere", "--repo", TOY, "--course-dir", tmp_path / "course")
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr and "nowhere" in proc.stderr


def test_grade_folder_without_submissions_says_the_layout(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    proc = run_cli("grade", tmp_path / "subs", "--repo", TOY, "--course-dir", tmp_path / "course")
    assert proc.returncode == 1
    assert "<student_id>/<assignment>/<notebook>.ipynb" in proc.stderr


def test_grade_plain_file_is_rejected(tmp_path):
    bogus = tmp_path / "subs.txt"
    bogus.write_text("not a zip")
    proc = run_cli("grade", bogus, "--repo", TOY, "--course-dir", tmp_path / "course")
    assert proc.returncode == 1
    assert "not a zip archive" in proc.stderr


def test_export_without_gradebook_says_to_grade_first(tmp_path):
    proc = run_cli("export", "--repo", TOY, "--course-dir", tmp_path / "course")
    assert proc.returncode == 1
    assert "no gradebook" in proc.stderr and "autograder grade" in proc.stderr


def test_feedback_with_nothing_graded_says_to_grade_first(tmp_path):
    proc = run_cli("feedback", "--repo", TOY, "--course-dir", tmp_path / "course")
    assert proc.returncode == 1
    assert "nothing autograded" in proc.stderr


def test_unknown_assignment_is_named(tmp_path):
    with pytest.raises(AutograderError, match=r"assignment='nosuch'.*known assignments: toy"):
        autograder.release(["nosuch"], repo=TOY, dest=tmp_path / "out")


def test_repo_without_solutions_is_named(tmp_path):
    with pytest.raises(AutograderError, match=r"repo=.*has no solutions/ folder"):
        autograder.find_repo(tmp_path)


def test_bad_db_url_is_named(tmp_path):
    with pytest.raises(AutograderError, match=r"db='gradebook.db' is not a database URL"):
        autograder.open_course(TOY, tmp_path, db="gradebook.db")


def test_sqlite_gradebook_gets_a_busy_timeout(tmp_path):
    course = autograder.open_course(TOY, tmp_path)
    assert course.db_url == f"sqlite:///{tmp_path / 'gradebook.db'}?timeout=60"
    assert autograder.open_course(TOY, tmp_path, db="sqlite:////x/g.db").db_url == "sqlite:////x/g.db?timeout=60"


# --------------------------------------------------------------------------- release


def test_release_is_deterministic_and_clean(tmp_path):
    root = tmp_path / "toyrepo"
    shutil.copytree(TOY, root)
    proc = run_cli("release", "--repo", root)
    assert proc.returncode == 0, proc.stderr
    target = root / "exercises" / "toy" / "toy.ipynb"
    assert "wrote" in proc.stdout and "toy.ipynb" in proc.stdout
    first = target.read_bytes()
    autograder.release(repo=root)
    assert target.read_bytes() == first, "a second release changed the bytes"
    nb = json.loads(first)
    for cell in nb["cells"]:
        assert not any(m in cell_text(cell) for m in MARKERS)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    source = json.loads((root / "solutions" / "toy" / "toy.ipynb").read_text())
    assert [c["id"] for c in nb["cells"]] == [c["id"] for c in source["cells"]]
    stubs = [c for c in nb["cells"] if "raise NotImplementedError()" in cell_text(c)]
    assert len(stubs) == len(autograder.solution_cell_ids(source)) == 3


def test_release_all_removes_stale_exercise_folders(toy_repo):
    stale = toy_repo / "exercises" / "retired"
    stale.mkdir()
    (stale / "retired.ipynb").write_text("{}")
    autograder.release(repo=toy_repo)
    assert not stale.exists()
    assert (toy_repo / "exercises" / "toy" / "toy.ipynb").is_file()


def test_release_reports_a_broken_source(tmp_path):
    root = tmp_path / "toyrepo"
    shutil.copytree(TOY, root)
    path = root / "solutions" / "toy" / "toy.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][3]["source"] = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"  # no END
    path.write_text(json.dumps(nb))
    with pytest.raises(AutograderError, match=r"could not generate the release of solutions/toy/: .*end solution"):
        autograder.release(repo=root)


# --------------------------------------------------------------------------- check


@pytest.mark.slow
def test_check_passes_on_the_repository():
    if not autograder.find_repo(REPO).assignments():
        pytest.skip("no assignments in solutions/ yet")
    proc = run_cli("check")
    assert proc.returncode == 0, proc.stderr
    assert "exercises/ is up to date" in proc.stdout


@pytest.fixture()
def released_copy(tmp_path) -> Path:
    """A copy of the repository's solutions/ with freshly released exercises/ (check passes)."""
    root = copy_repo(tmp_path / "repo")
    if not autograder.find_repo(root).assignments():
        shutil.rmtree(root / "solutions")
        shutil.copytree(TOY / "solutions", root / "solutions")
    autograder.release(repo=root)
    assert autograder.check(repo=root) == []
    return root


def first_exercise(root: Path) -> tuple[str, Path]:
    repo = autograder.find_repo(root)
    name = repo.assignments()[0]
    source = repo.source_notebooks(name)[0]
    return name, source


@pytest.mark.slow
def test_check_fails_when_an_exercise_is_edited(released_copy):
    name, source = first_exercise(released_copy)
    path = released_copy / "exercises" / name / source.name
    nb = json.loads(path.read_text())
    index = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")
    nb["cells"][index]["source"] = cell_text(nb["cells"][index]) + "\nA sentence typed into the release by hand."
    path.write_text(json.dumps(nb, indent=1))
    proc = run_cli("check", "--repo", released_copy)
    assert proc.returncode == 1
    assert f"exercises/{name}/{source.name} is out of date" in proc.stderr
    assert f"cell {index} differs" in proc.stderr
    assert "python -m autograder release" in proc.stderr


@pytest.mark.slow
def test_check_fails_when_a_solution_line_is_pasted_into_an_exercise(released_copy):
    name, source = first_exercise(released_copy)
    secrets = autograder.secret_lines(source)
    assert secrets, "the source notebook should have solution lines"
    line = max(secrets, key=len)
    path = released_copy / "exercises" / name / source.name
    nb = json.loads(path.read_text())
    index = next(
        i for i, c in enumerate(nb["cells"]) if "raise NotImplementedError()" in cell_text(c)
    )
    nb["cells"][index]["source"] = cell_text(nb["cells"][index]) + "\n    " + line
    path.write_text(json.dumps(nb, indent=1))
    proc = run_cli("check", "--repo", released_copy)
    assert proc.returncode == 1
    assert "hidden solution/test code" in proc.stderr
    assert line in proc.stderr
    assert f"(cell {index})" in proc.stderr
    assert "python -m autograder release" in proc.stderr


@pytest.mark.slow
def test_check_flags_markers_missing_and_stale_exercises(released_copy):
    name, source = first_exercise(released_copy)
    path = released_copy / "exercises" / name / source.name
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] = "### BEGIN HIDDEN TESTS\n" + cell_text(nb["cells"][0])
    path.write_text(json.dumps(nb, indent=1))
    (released_copy / "exercises" / "retired").mkdir()
    problems = autograder.check(repo=released_copy)
    assert any("the marker 'BEGIN HIDDEN TESTS'" in p for p in problems), problems
    assert any("exercises/retired/ has no source" in p for p in problems), problems
    path.unlink()
    problems = autograder.check(repo=released_copy)
    assert any(f"exercises/{name}/{source.name} is missing" in p for p in problems), problems


def test_check_flags_committed_outputs(toy_repo):
    path = toy_repo / "exercises" / "toy" / "toy.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    nb["cells"][1]["execution_count"] = 1
    path.write_text(json.dumps(nb, indent=1))
    problems = autograder.check(repo=toy_repo)
    assert any("cell 1 carries outputs" in p for p in problems), problems


def test_secret_lines_are_the_hidden_parts_only():
    secrets = autograder.secret_lines(TOY / "solutions" / "toy" / "toy.ipynb")
    assert "return 2 * x" in secrets  # inside BEGIN/END SOLUTION
    assert "assert peak_step(7) == 3" in secrets  # inside BEGIN/END HIDDEN TESTS
    assert "half_life = 10.0 # halves every ten steps" in secrets  # a solution cell without markers
    assert secrets["return 2 * x"] == "double"
    # visible code and the stub are not secrets
    assert "def double(x):" not in secrets
    assert 'assert double(2) == 4, "double(2) should be 4"' not in secrets
    assert "raise NotImplementedError()" not in secrets


# --------------------------------------------------------------------------- builders


def test_perfect_submission_fills_every_solution_cell(toy_repo):
    source = toy_repo / "solutions" / "toy" / "toy.ipynb"
    release = toy_repo / "exercises" / "toy" / "toy.ipynb"
    nb = autograder.perfect_submission(source, release)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    assert by_id["double"].source == 'def double(x):\n    """Return 2 * x."""\n    return 2 * x'
    assert by_id["half_life"].source == "half_life = 10.0  # halves every ten steps"
    for cell in nb.cells:
        assert not any(m in cell.source for m in MARKERS)
        assert "NotImplementedError" not in cell.source
    # test cells stay as released: the hidden tests are not handed to the student
    assert by_id["test_peak_step"].source == "assert peak_step(10) == 5"
    # generating the release on the fly gives the same notebook
    assert autograder.perfect_submission(source) == nb


def test_half_done_submission_fills_the_first_half(toy_repo):
    source = toy_repo / "solutions" / "toy" / "toy.ipynb"
    release = toy_repo / "exercises" / "toy" / "toy.ipynb"
    nb = autograder.half_done_submission(source, release)
    stubs = [
        c.metadata["nbgrader"]["grade_id"] for c in nb.cells
        if "raise NotImplementedError()" in c.source
    ]
    assert stubs == ["peak_step", "half_life"]  # 3 solution cells: the first 3 // 2 = 1 is filled
    with pytest.raises(ValueError, match=r"count must be an integer in \[0, 3\].*count=4"):
        autograder.fill_solutions(source, release, count=4)


def test_half_done_needs_two_solution_cells(toy_repo):
    release = nbformat.read(toy_repo / "exercises" / "toy" / "toy.ipynb", as_version=4)
    release.cells = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "double"]
    release.cells = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "peak_step"]
    with pytest.raises(ValueError, match="at least 2 solution cells, the notebook has 1"):
        autograder.half_done_submission(toy_repo / "solutions" / "toy" / "toy.ipynb", release)


# --------------------------------------------------------------------------- vetting and zip


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"", "is empty (0 bytes)"),
        (b'{\n "cells": [\n  {oops', "is not valid JSON (line 3): re-export it from Jupyter"),
        (b"[1, 2, 3]", "is JSON but not a Jupyter notebook"),
        (b'{"cells": [], "nbformat": 3, "metadata": {}}', "notebook format 3"),
        (b"\xff\xfe\x00garbage", "is not UTF-8 text"),
    ],
)
def test_vet_notebook_explains_the_problem(tmp_path, content, needle):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    message = autograder.vet_notebook(path, "subs/alice/toy/toy.ipynb")
    assert message is not None and needle in message
    assert message.startswith("subs/alice/toy/toy.ipynb ") and message.endswith("graded as 0")


def test_vet_notebook_accepts_a_release_notebook():
    assert autograder.vet_notebook(TOY / "solutions" / "toy" / "toy.ipynb") is None


@pytest.mark.parametrize("evil", ["../escape.ipynb", "/abs/escape.ipynb", "alice/../../escape.ipynb"])
def test_zip_entries_escaping_the_target_are_refused(tmp_path, evil):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice/toy/toy.ipynb", "{}")
        zf.writestr(evil, "{}")
    target = tmp_path / "out" / "inner"
    target.mkdir(parents=True)
    with pytest.raises(AutograderError, match="would land outside the target folder"):
        autograder.extract_zip(archive, target)
    assert not (tmp_path / "out" / "escape.ipynb").exists()
    assert not (tmp_path / "escape.ipynb").exists()
    assert list(target.iterdir()) == []  # nothing unpacked at all


def test_zip_symlinks_are_refused(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("alice/toy/toy.ipynb")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(AutograderError, match="is a symbolic link"):
        autograder.extract_zip(archive, tmp_path / "out")


def test_discover_looks_through_a_wrapper_folder(tmp_path):
    from autograder.instructor.inbox import discover

    for student in ("alice", "bob"):
        path = tmp_path / "wrapper" / student / "toy"
        path.mkdir(parents=True)
        (path / "toy.ipynb").write_text("{}")
    (tmp_path / "__MACOSX").mkdir()
    found = discover(tmp_path, "subs", ["toy"])
    assert [(s.student_id, s.assignment) for s in found] == [("alice", "toy"), ("bob", "toy")]
    assert found[0].display == "subs/wrapper/alice/toy"
