"""Tests of :mod:`autograder.instructor.restore`: a submission rebuilt on the source's skeleton.

The source is tests/fixtures/toyrepo/solutions/toy/toy.ipynb. Its release is built
here by hand the way nbgrader's ``generate_assignment`` writes it (solution regions
replaced by the stub, hidden tests removed, ``checksum`` and ``cell_type`` added to
the nbgrader metadata), so the tests of :func:`restore` run no nbgrader; restoring only
looks at grade ids, cell types, sources and the grading metadata. The tests of
:func:`sanitize` run nbgrader's sanitize preprocessors in process; the last one grades
through nbgrader's autograde and compares.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest

from autograder import fill_solutions
from autograder.instructor.restore import release_checksums, restore, sanitize
from autograder.notebook import nbgrader_meta

REPO = Path(__file__).resolve().parents[1]
SOURCE_PATH = REPO / "tests" / "fixtures" / "toyrepo" / "solutions" / "toy" / "toy.ipynb"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
SOURCE_ORDER = ["imports", "double", "test_double", "peak_step", "test_peak_step", "half_life", "test_half_life"]


def make_release(source):
    """What nbgrader releases for ``source`` (see the module docstring)."""
    rel = copy.deepcopy(source)
    for cell in rel.cells:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        meta["cell_type"] = cell.cell_type
        meta["checksum"] = "0" * 32
        cell.metadata["deletable"] = False
        if meta.get("solution"):
            if "### BEGIN SOLUTION" in cell.source:
                cell.source = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION",
                                     lambda m: m.group(1) + STUB.replace("\n", "\n" + m.group(1)),
                                     cell.source, flags=re.S)
            else:
                cell.source = STUB
        else:
            cell.metadata["editable"] = False
            cell.source = re.sub(r"\n?### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", cell.source, flags=re.S)
    return rel


@pytest.fixture(scope="module")
def source():
    return nbformat.read(SOURCE_PATH, as_version=4)


@pytest.fixture(scope="module")
def release(source):
    return make_release(source)


@pytest.fixture
def perfect(source, release):
    return fill_solutions(source, release)


def gid(cell):
    return nbgrader_meta(cell).get("grade_id")


def index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if gid(c) == grade_id)


def cell(nb, grade_id):
    return nb.cells[index(nb, grade_id)]


def graded_order(nb):
    return [gid(c) for c in nb.cells if gid(c)]


def assert_tests_from_source(out, source):
    """Every test and locked cell of ``out`` is the source's, with hidden tests, in source order."""
    assert graded_order(out) == [gid(c) for c in source.cells if gid(c) and gid(c) in graded_order(out)]
    for src in source.cells:
        if gid(src) and not nbgrader_meta(src).get("solution"):
            got = cell(out, gid(src))
            assert got.cell_type == src.cell_type
            assert got.source == src.source
            assert nbgrader_meta(got) == nbgrader_meta(src)


# --------------------------------------------------------------------------- the untouched cases


def test_perfect_submission_keeps_answers_and_gets_the_hidden_tests_back(perfect, source):
    out, notes = restore(perfect, source)
    assert notes == []
    assert graded_order(out) == SOURCE_ORDER
    assert_tests_from_source(out, source)
    assert "### BEGIN HIDDEN TESTS" in cell(out, "test_double").source
    assert cell(out, "double").source == cell(perfect, "double").source
    assert "BEGIN SOLUTION" not in cell(out, "double").source
    nbformat.validate(out)


def test_instruction_cells_without_grade_id_appear_once(perfect, source):
    out, _ = restore(perfect, source)
    assert [c.source for c in out.cells] == [
        cell(perfect, gid(c)).source if nbgrader_meta(c).get("solution") else c.source for c in source.cells]


def test_plain_source_code_cell_runs_once():
    from test_autograder_notebook import synthetic_source

    src = synthetic_source()
    out, _ = restore(copy.deepcopy(src), src)
    assert [c.source for c in out.cells].count("print(np.pi)") == 1


def test_untouched_release_keeps_the_stubs(release, source):
    out, notes = restore(release, source)
    assert notes == []
    assert cell(out, "half_life").source == STUB


def test_cells_get_fresh_ids_and_no_outputs(perfect, source):
    sub = copy.deepcopy(perfect)
    cell(sub, "double").outputs = [nbformat.v4.new_output("stream", text="old output")]
    cell(sub, "double").execution_count = 7
    out, _ = restore(sub, source)
    assert [c.id for c in out.cells] == [f"cell-{i:04d}" for i in range(len(out.cells))]
    for c in out.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None


def test_the_submission_is_not_modified(perfect, source):
    before = copy.deepcopy(perfect)
    restore(perfect, source)
    assert perfect == before


# --------------------------------------------------------------------------- tampered test cells


def restored_note(notes):
    found = [n for n in notes if n.startswith("test/locked cell(s)")]
    assert len(found) == 1, notes
    return found[0]


def test_edited_test_cell_comes_back_from_the_source(perfect, source):
    sub = copy.deepcopy(perfect)
    cell(sub, "test_double").source = "assert True"
    out, notes = restore(sub, source)
    assert_tests_from_source(out, source)
    assert "test_double" in restored_note(notes)
    assert "assert True" not in [c.source for c in out.cells]


def test_whitespace_changes_to_a_test_cell_are_not_reported(perfect, source):
    sub = copy.deepcopy(perfect)
    cell(sub, "test_double").source += "\n\n   \n"
    _, notes = restore(sub, source)
    assert notes == []


def test_deleted_test_cell_comes_back_in_its_place(perfect, source):
    sub = copy.deepcopy(perfect)
    del sub.cells[index(sub, "test_peak_step")]
    out, notes = restore(sub, source)
    assert graded_order(out) == SOURCE_ORDER
    assert_tests_from_source(out, source)
    assert "test_peak_step" in restored_note(notes)


def test_moved_test_cell_goes_back_to_its_place(perfect, source):
    sub = copy.deepcopy(perfect)
    moved = sub.cells.pop(index(sub, "test_double"))
    sub.cells.append(moved)
    out, _ = restore(sub, source)
    assert graded_order(out) == SOURCE_ORDER
    assert_tests_from_source(out, source)


def test_moved_test_cell_is_reported(perfect, source):
    sub = copy.deepcopy(perfect)
    sub.cells.append(sub.cells.pop(index(sub, "test_double")))
    _, notes = restore(sub, source)
    assert "test_double" in restored_note(notes)


def test_duplicated_test_cell_is_dropped(perfect, source):
    sub = copy.deepcopy(perfect)
    dup = copy.deepcopy(cell(sub, "test_half_life"))
    dup.source = "assert True"
    sub.cells.insert(index(sub, "half_life"), dup)  # an edited copy before the answer, the original after it
    out, notes = restore(sub, source)
    assert graded_order(out) == SOURCE_ORDER
    assert_tests_from_source(out, source)
    assert "test_half_life" in restored_note(notes)
    assert not any(c.source == "assert True" for c in out.cells)


@pytest.mark.parametrize("change", [
    {"points": 100},
    {"grade": False},
    {"locked": False, "solution": True},
])
def test_retagged_test_cell_is_graded_as_the_instructor_wrote_it(perfect, source, change):
    sub = copy.deepcopy(perfect)
    nbgrader_meta(cell(sub, "test_peak_step")).update(change)
    out, notes = restore(sub, source)
    assert_tests_from_source(out, source)
    assert nbgrader_meta(cell(out, "test_peak_step"))["points"] == 2
    assert "test_peak_step" in restored_note(notes)


def test_renamed_test_cell_cannot_claim_points(perfect, source):
    sub = copy.deepcopy(perfect)
    renamed = cell(sub, "test_double")
    nbgrader_meta(renamed).update(grade_id="my_test", points=50)
    renamed.source = "assert True  # mine"
    out, notes = restore(sub, source)
    assert graded_order(out) == SOURCE_ORDER
    assert_tests_from_source(out, source)
    mine = next(c for c in out.cells if c.source == "assert True  # mine")
    assert "nbgrader" not in mine.metadata
    assert "test_double" in restored_note(notes)


def test_test_cell_turned_into_markdown_is_code_again(perfect, source):
    sub = copy.deepcopy(perfect)
    i = index(sub, "test_double")
    old = sub.cells[i]
    md = nbformat.v4.new_markdown_cell(old.source, metadata=copy.deepcopy(old.metadata))
    sub.cells[i] = md
    out, notes = restore(sub, source)
    assert cell(out, "test_double").cell_type == "code"
    assert_tests_from_source(out, source)
    assert "test_double" in restored_note(notes)


def test_a_cell_claiming_a_locked_cells_id_does_not_replace_it(perfect, source):
    sub = copy.deepcopy(perfect)
    evil = copy.deepcopy(cell(sub, "imports"))
    evil.source = "import os\nos.system('touch /tmp/pwned')"
    sub.cells.insert(0, evil)
    out, notes = restore(sub, source)
    assert cell(out, "imports").source == "import math"
    assert not any("os.system" in c.source for c in out.cells)
    assert "imports" in restored_note(notes)


# --------------------------------------------------------------------------- answers and added cells


def test_added_cells_keep_their_place_after_their_anchor_and_lose_nbgrader_metadata(perfect, source):
    sub = copy.deepcopy(perfect)
    helper = nbformat.v4.new_code_cell("def helper():\n    return 1")
    claim = nbformat.v4.new_code_cell(
        "print('bonus')",
        metadata={"nbgrader": {"grade": True, "grade_id": "bonus", "points": 99, "solution": False,
                               "locked": True, "schema_version": 3}})
    note = nbformat.v4.new_markdown_cell("my notes")
    sub.cells.insert(index(sub, "double") + 1, helper)      # between double and test_double
    sub.cells.insert(index(sub, "test_peak_step") + 1, claim)  # after test_peak_step
    sub.cells.append(note)                                   # after the last cell
    out, notes = restore(sub, source)
    assert notes == []
    assert graded_order(out) == SOURCE_ORDER
    sources = [c.source for c in out.cells]
    assert sources.index(helper.source) == index(out, "double") + 1
    assert sources.index(claim.source) == index(out, "test_peak_step") + 1
    assert sources[-1] == "my notes"
    for added in (helper.source, claim.source, "my notes"):
        assert "nbgrader" not in out.cells[sources.index(added)].metadata


def test_added_cell_before_the_first_answer_stays_before_it(perfect, source):
    sub = copy.deepcopy(perfect)
    sub.cells.insert(0, nbformat.v4.new_code_cell("import numpy as np"))
    out, _ = restore(sub, source)
    sources = [c.source for c in out.cells]
    assert sources.index("import numpy as np") < index(out, "double")


def test_answer_cells_follow_the_source_order_even_when_moved(perfect, source):
    sub = copy.deepcopy(perfect)
    sub.cells.insert(1, sub.cells.pop(index(sub, "half_life")))
    out, _ = restore(sub, source)
    assert graded_order(out) == SOURCE_ORDER
    assert cell(out, "half_life").source == cell(perfect, "half_life").source


def test_duplicated_answer_cell_first_copy_wins_later_copy_is_kept_plain(perfect, source):
    sub = copy.deepcopy(perfect)
    first = copy.deepcopy(cell(sub, "half_life"))
    first.source = "half_life = 1.0  # first"
    sub.cells.insert(index(sub, "half_life"), first)
    out, notes = restore(sub, source)
    assert cell(out, "half_life").source == "half_life = 1.0  # first"
    later = [c for c in out.cells if c.source == cell(perfect, "half_life").source]
    assert len(later) == 1 and "nbgrader" not in later[0].metadata
    assert graded_order(out) == SOURCE_ORDER


def test_missing_answer_cell_is_noted(perfect, source):
    sub = copy.deepcopy(perfect)
    del sub.cells[index(sub, "peak_step")]
    out, notes = restore(sub, source)
    missing = [n for n in notes if n.startswith("answer cell(s)")]
    assert len(missing) == 1 and "peak_step" in missing[0] and "missing" in missing[0]
    assert "test_peak_step" in graded_order(out)
    assert "peak_step" not in graded_order(out)


def test_answer_cell_with_a_renamed_id_counts_as_missing(perfect, source):
    sub = copy.deepcopy(perfect)
    nbgrader_meta(cell(sub, "double"))["grade_id"] = "my_double"
    out, notes = restore(sub, source)
    assert any(n.startswith("answer cell(s) double missing") for n in notes)
    kept = [c for c in out.cells if "def double" in c.source]
    assert len(kept) == 1 and "nbgrader" not in kept[0].metadata


def test_answer_cell_turned_into_markdown_is_code_again(perfect, source):
    """The cell type is the instructor's: an answer the student made markdown is run as code."""
    sub = copy.deepcopy(perfect)
    i = index(sub, "half_life")
    sub.cells[i] = nbformat.v4.new_markdown_cell("half_life = 10", metadata=copy.deepcopy(sub.cells[i].metadata))
    out, _ = restore(sub, source)
    got = cell(out, "half_life")
    assert got.cell_type == "code" and got.source == "half_life = 10"
    assert got.outputs == [] and got.execution_count is None
    nbformat.validate(out)


def test_malformed_grade_ids_count_as_added_cells(perfect, source):
    sub = copy.deepcopy(perfect)
    sub.cells.append(nbformat.v4.new_code_cell("y = 1", metadata={"nbgrader": {"grade_id": ["test_double"],
                                                                               "grade": True, "points": 9}}))
    out, notes = restore(sub, source)
    assert notes == []
    assert out.cells[-1].source == "y = 1" and "nbgrader" not in out.cells[-1].metadata


# --------------------------------------------------------------------------- sanitize: nbgrader's sanitize steps


def test_sanitize_is_restore_with_the_release_checksums(perfect, source):
    out, notes = sanitize(perfect, source)
    restored, restore_notes = restore(perfect, source)
    assert notes == restore_notes == []
    assert [(c.cell_type, c.source) for c in out.cells] == [(c.cell_type, c.source) for c in restored.cells]
    sums = release_checksums(source)
    assert set(sums) == {gid(c) for c in source.cells if gid(c)}
    for c in out.cells:
        if gid(c):
            assert nbgrader_meta(c)["checksum"] == sums[gid(c)]


def test_an_untouched_answer_matches_its_release_checksum(release, source):
    """What nbgrader's SaveAutoGrades reads as "No response.": an answer left as released, and only that."""
    from nbgrader.utils import compute_checksum

    untouched = cell(sanitize(release, source)[0], "half_life")
    assert compute_checksum(untouched) == nbgrader_meta(untouched)["checksum"]
    answered = cell(sanitize(fill_solutions(source, release), source)[0], "half_life")
    assert compute_checksum(answered) != nbgrader_meta(answered)["checksum"]


def test_sanitize_notes_are_the_restore_notes(perfect, source):
    sub = copy.deepcopy(perfect)
    cell(sub, "test_double").source = "assert True"
    del sub.cells[index(sub, "peak_step")]
    notes = sanitize(sub, source)[1]
    assert notes == restore(sub, source)[1] and len(notes) == 2


def test_sanitize_keeps_the_first_copy_of_a_duplicated_answer(perfect, source):
    """The restore runs before nbgrader's DeduplicateIds, which would keep the last copy."""
    sub = copy.deepcopy(perfect)
    first = copy.deepcopy(cell(sub, "half_life"))
    first.source = "half_life = 1.0  # first"
    sub.cells.insert(index(sub, "half_life"), first)
    out, _ = sanitize(sub, source)
    assert cell(out, "half_life").source == "half_life = 1.0  # first"
    assert graded_order(out) == SOURCE_ORDER


def test_sanitize_changes_neither_input(perfect, source):
    sub, src = copy.deepcopy(perfect), copy.deepcopy(source)
    sanitize(sub, src)
    assert sub == perfect and src == source


def test_sanitize_refuses_cells_that_nbgrader_cannot_use(perfect, source):
    """Valid enough to read, not valid after the restore: nbgrader's autograde would fail on it too."""
    sub = copy.deepcopy(perfect)
    sub.cells.append(nbformat.from_dict({"cell_type": "code", "id": "mine", "source": "x = 1", "outputs": [],
                                         "execution_count": None, "metadata": {"tags": "not a list"}}))
    with pytest.raises(nbformat.ValidationError, match="tags|array"):
        sanitize(sub, source)


def test_the_course_config_restores_once_in_place_of_overwrite_cells(tmp_path):
    from autograder.instructor._nbgrader import make_config
    from autograder.layout import open_course

    course = open_course(REPO / "tests" / "fixtures" / "toyrepo", tmp_path / "course")
    config = make_config(course)
    names = [p.__name__ for p in config.Autograde.sanitize_preprocessors]
    assert names == ["RestoreCells", "ClearOutput", "DeduplicateIds", "CheckCellMetadata"]
    assert config.RestoreCells.source_root == str(course.repo.solutions)


def test_restore_loads_nbgrader_only_when_asked():
    """The students' self-check ships restore.py without nbgrader: importing it and restoring need none."""
    import subprocess
    import sys

    code = ("import sys, nbformat\nfrom autograder.instructor import restore as r\n"
            f"src = nbformat.read({str(SOURCE_PATH)!r}, as_version=4)\nr.restore(src, src)\n"
            "assert 'nbgrader' not in sys.modules, 'restore imported nbgrader'\n"
            "assert r.RestoreCells.__name__ == 'RestoreCells' and 'nbgrader' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_sanitize_from_many_threads_at_first_use():
    """Threads of one grading process (local executor, Dask worker) may all start with sanitize."""
    import subprocess
    import sys

    code = ("import nbformat\nfrom concurrent.futures import ThreadPoolExecutor\n"
            "from autograder.instructor.restore import sanitize\n"
            f"src = nbformat.read({str(SOURCE_PATH)!r}, as_version=4)\n"
            "with ThreadPoolExecutor(8) as pool:\n"
            "    done = list(pool.map(lambda _: sanitize(src, src)[0], range(8)))\n"
            "assert all(nb == done[0] for nb in done)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.slow
def test_nbgrader_grades_the_cells_sanitize_makes(perfect, source, tmp_path):
    """One tampered submission through ``grade``: submitted as handed in, restored once, noted, same cells."""
    import autograder
    from nbgrader.api import Gradebook

    sub = copy.deepcopy(perfect)
    cell(sub, "test_double").source = "assert True"
    sub.cells.append(sub.cells.pop(index(sub, "test_peak_step")))
    sub.cells.insert(index(sub, "double") + 1, nbformat.v4.new_code_cell("helper = double(1)"))
    path = autograder.write_submission(tmp_path / "subs", "alice", "toy", "toy", sub)
    course = tmp_path / "course"
    [result] = autograder.grade_submissions(tmp_path / "subs", repo=REPO / "tests" / "fixtures" / "toyrepo",
                                            course_dir=course, progress=False)
    assert result.status == "graded" and result.score == result.max_score, result.note
    changed = "test/locked cell(s) test_double, test_half_life, test_peak_step differ"  # a move shifts two
    assert f"subs/alice/toy/toy.ipynb: {changed}" in result.note
    assert (course / "submitted" / "alice" / "toy" / "toy.ipynb").read_bytes() == path.read_bytes()
    graded = nbformat.read(course / "autograded" / "alice" / "toy" / "toy.ipynb", as_version=4)
    expected, _ = sanitize(nbformat.read(path, as_version=4), source)
    assert [(c.cell_type, c.source) for c in graded.cells] == [(c.cell_type, c.source) for c in expected.cells]
    assert [nbgrader_meta(c).get("checksum") for c in graded.cells] == [
        nbgrader_meta(c).get("checksum") for c in expected.cells]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        recorded = {c.name: c.checksum for c in gb.find_notebook("toy", "toy").source_cells}
    assert recorded == release_checksums(source)
