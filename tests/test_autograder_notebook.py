"""Unit tests of :mod:`autograder.notebook`: nbgrader's cell format, in one place.

Cell metadata, marker regions (checked against nbgrader's own ``ClearSolutions`` and
``ClearHiddenTests`` on every source notebook of the course), the checker's cell
roles and expected names, forbidden modules and vetting. No notebook is run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest

from autograder import notebook as fmt
from autograder.instructor.restore import restore
from autograder.notebook import (
    CODE_STUB, HIDDEN_PLACEHOLDER, MARKERS, STUB_LINES, TEXT_STUB, answer_source, cell_kind, cell_label, cell_roles,
    cell_source, expected_names, forbidden_modules, forbidden_uses, grade_id, grading_kind, grading_meta,
    hide_hidden_tests, is_graded, is_solution, line_regions, marker_of, nbgrader_meta, needs_gpu, points, solution_ids,
    split_secret_lines, vet_notebook, visible_test_source,
)

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "fixtures" / "toyrepo" / "solutions" / "toy" / "toy.ipynb"
SOURCES = sorted((REPO / "solutions").glob("*/*.ipynb"))


def code(src="", **meta):
    return nbformat.v4.new_code_cell(src, metadata={"nbgrader": meta} if meta else {})


def markdown(src="", **meta):
    return nbformat.v4.new_markdown_cell(src, metadata={"nbgrader": meta} if meta else {})


@pytest.fixture(scope="module")
def toy():
    return nbformat.read(TOY, as_version=4)


def gid(cell):
    return grade_id(cell)


def index(nb, name):
    return next(i for i, c in enumerate(nb.cells) if gid(c) == name)


# --------------------------------------------------------------------------- cell metadata


def test_nbgrader_meta_of_malformed_cells():
    assert nbgrader_meta({}) == {}
    assert nbgrader_meta({"metadata": []}) == {}
    assert nbgrader_meta({"metadata": {"nbgrader": "x"}}) == {}
    assert nbgrader_meta({"metadata": {"nbgrader": {"grade": True}}}) == {"grade": True}
    assert nbgrader_meta(3) == {}


@pytest.mark.parametrize("value, expected", [("double", "double"), ("", None), (["double"], None), (7, None),
                                             (None, None)])
def test_grade_id_is_a_non_empty_string_or_none(value, expected):
    assert grade_id(code(grade_id=value)) == expected


@pytest.mark.parametrize("meta, kind", [
    ({"solution": True, "grade": True}, "solution"),
    ({"grade": True, "locked": True}, "test"),
    ({"locked": True}, "locked"),
    ({}, "plain"),
    ({"grade": False, "solution": False, "locked": False}, "plain"),
])
def test_cell_kind_priority(meta, kind):
    assert cell_kind(code("x", **meta)) == kind


def test_graded_solution_and_points():
    test = code("assert f(1) == 2", grade=True, locked=True, points=2, grade_id="t")
    answer = code("f = ...", solution=True, grade_id="f")
    assert is_graded(test) and not is_solution(test)
    assert is_solution(answer) and not is_graded(answer)
    assert points(test) == 2.0 and isinstance(points(test), float)
    assert points(answer) == 0.0
    assert points(code(grade=True, points="lots")) == 0.0  # malformed: no points, no crash
    assert grading_meta(test) == (True, None, True, 2, "t")


@pytest.mark.parametrize("cell, kind", [
    (code("assert True", grade=True, locked=True, points=1, grade_id="t"), "test"),
    (code("x = 1", grade=True, solution=True, points=1, grade_id="c"), "coding"),
    (markdown("my answer", grade=True, solution=True, points=1, grade_id="w"), "written"),
    (markdown("do this", task=True, points=1, grade_id="k"), "task"),
    (code("x = 1", solution=True, grade_id="a"), "answer"),
    (code("import math", locked=True, grade_id="h"), "helper"),
    (markdown("read me", locked=True, grade_id="m"), None),
    (code("x = 1"), None),
])
def test_grading_kind_names_how_grading_treats_a_cell(cell, kind):
    assert grading_kind(cell) == kind


def test_solution_ids_in_notebook_order(toy):
    assert solution_ids(toy) == ["double", "peak_step", "half_life"]
    assert solution_ids(json.loads(TOY.read_text(encoding="utf-8"))) == ["double", "peak_step", "half_life"]


def test_cell_source_joins_raw_json_lines():
    assert cell_source({"source": ["a\n", "b"]}) == "a\nb"
    assert cell_source({"source": "a\nb"}) == "a\nb"
    assert cell_source({}) == ""


# --------------------------------------------------------------------------- marker regions


def test_markers_and_stubs():
    assert MARKERS == ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    assert set(CODE_STUB.split("\n")) | {TEXT_STUB} == STUB_LINES


@pytest.mark.parametrize("line, marker", [
    ("### BEGIN SOLUTION", "BEGIN SOLUTION"),
    ("        ### END SOLUTION", "END SOLUTION"),
    ("# BEGIN HIDDEN TESTS (edge cases)", "BEGIN HIDDEN TESTS"),
    ("### END HIDDEN TESTS", "END HIDDEN TESTS"),
    ("# the solution begins here", None),
    ("", None),
])
def test_marker_of_finds_markers_anywhere_on_the_line(line, marker):
    assert marker_of(line) == marker


def test_line_regions():
    src = "a\n### BEGIN SOLUTION\nb\n### END SOLUTION\nc\n### BEGIN HIDDEN TESTS\nd\n### END HIDDEN TESTS\ne"
    assert line_regions(src) == [
        ("visible", "a"), ("marker", "### BEGIN SOLUTION"), ("solution", "b"), ("marker", "### END SOLUTION"),
        ("visible", "c"), ("marker", "### BEGIN HIDDEN TESTS"), ("hidden", "d"), ("marker", "### END HIDDEN TESTS"),
        ("visible", "e"),
    ]
    assert line_regions("x\n### BEGIN HIDDEN TESTS\ny\nz")[-2:] == [("hidden", "y"), ("hidden", "z")]
    assert line_regions("") == [("visible", "")]


def test_answer_source_keeps_the_solution_and_drops_markers_and_hidden_tests():
    src = ("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
           "### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS\ny = f(3)")
    assert answer_source(src) == "def f(x):\n    return 2 * x\ny = f(3)"
    assert answer_source("plain = 1") == "plain = 1"


def test_visible_test_source_ignores_hidden_tests_and_whitespace():
    src = "assert f(1) == 2   \n\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n### END HIDDEN TESTS\n"
    assert visible_test_source(src) == "assert f(1) == 2"
    assert visible_test_source("assert f(1) == 2\n\n  \n") == visible_test_source(src)
    assert visible_test_source("assert True") != visible_test_source(src)


def test_hide_hidden_tests():
    src = ("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n### END HIDDEN TESTS\n"
           "for x in xs:\n    # BEGIN HIDDEN TESTS\n    assert f(x) > 0\n    # END HIDDEN TESTS\nprint('done')")
    assert hide_hidden_tests(src) == ("assert f(1) == 2\n" + HIDDEN_PLACEHOLDER + "\nfor x in xs:\n    "
                                      + HIDDEN_PLACEHOLDER + "\nprint('done')")
    assert hide_hidden_tests("a\n### BEGIN HIDDEN TESTS\nsecret\nmore") == "a\n" + HIDDEN_PLACEHOLDER
    assert hide_hidden_tests("assert f(1) == 2\n") == "assert f(1) == 2\n"


def test_split_secret_lines():
    region = "def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION"
    assert split_secret_lines(region, solution=True) == (["    return 42"], ["def f():"])
    whole = "answer = 42\nprint(answer)"
    assert split_secret_lines(whole, solution=True) == (["answer = 42", "print(answer)"], [])
    assert split_secret_lines(whole, solution=False) == ([], ["answer = 42", "print(answer)"])
    test = "assert f() == 42\n### BEGIN HIDDEN TESTS\nassert f() > 0\n### END HIDDEN TESTS"
    assert split_secret_lines(test, solution=False) == (["assert f() > 0"], ["assert f() == 42"])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_regions_agree_with_nbgrader_on_every_source(path):
    """What nbgrader's release removes is what this module calls hidden or solution, cell by cell."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    source = nbformat.read(path, as_version=4)
    released = copy.deepcopy(source)
    released, _ = ClearSolutions().preprocess(released, {})
    released, _ = ClearHiddenTests().preprocess(released, {})
    hidden = solutions = 0
    for mine, theirs in zip(source.cells, released.cells):
        regions = [r for r, _ in line_regions(mine.source)]
        hidden += "hidden" in regions
        solutions += "solution" in regions
        if is_solution(mine):
            kept = [line for r, line in line_regions(mine.source) if r == "visible"]
            if "solution" in regions:  # nbgrader puts the stub in place of the region
                assert [line for line in theirs.source.split("\n") if line.strip() not in STUB_LINES] == kept
            else:
                assert theirs.source in (CODE_STUB, TEXT_STUB)
        else:
            assert visible_test_source(mine.source) == visible_test_source(theirs.source)
            shown = [line for line in hide_hidden_tests(mine.source).split("\n") if line.strip() != HIDDEN_PLACEHOLDER]
            assert shown == theirs.source.split("\n")
    assert hidden and solutions, "the check covers both kinds of region"


# --------------------------------------------------------------------------- roles and expected names


def test_cell_roles_of_the_toy_notebook(toy):
    from autograder import fill_solutions
    from test_autograder_restore import make_release

    out, _ = restore(fill_solutions(toy, make_release(toy)), toy)
    roles = cell_roles(out, toy)
    assert len(roles) == len(out.cells)
    by_gid = {gid(c): r for c, r in zip(out.cells, roles) if gid(c)}
    assert by_gid == {"imports": "shared", "double": "student", "test_double": "test", "peak_step": "student",
                      "test_peak_step": "test", "half_life": "student", "test_half_life": "test"}
    assert all(r == "skip" for c, r in zip(out.cells, roles) if c.cell_type != "code")


def test_added_cells_are_student_cells_whatever_they_claim(toy):
    nb = copy.deepcopy(toy)
    nb.cells.insert(index(nb, "double") + 1, code("x = double(2)", grade=True, grade_id="mine", points=5))
    out, _ = restore(nb, toy)
    roles = cell_roles(out, toy)
    i = [c.source for c in out.cells].index("x = double(2)")
    assert roles[i] == "student"


def test_roles_come_from_the_source_not_the_submissions_metadata(toy):
    """cell_roles on a notebook that was not restored: a submission's claims are ignored."""
    nb = copy.deepcopy(toy)
    nbgrader_meta(nb.cells[index(nb, "double")]).update(grade=True, solution=False)       # claims to be a test
    nbgrader_meta(nb.cells[index(nb, "test_double")]).update(grade=False, solution=True)  # claims to be an answer
    roles = cell_roles(nb, toy)
    assert roles[index(nb, "double")] == "student"
    assert roles[index(nb, "test_double")] == "test"


def synthetic_source():
    def graded(src, gid, **flags):
        meta = {"grade": False, "solution": False, "locked": False, "grade_id": gid, "schema_version": 3}
        meta.update(flags)
        return nbformat.v4.new_code_cell(src, metadata={"nbgrader": meta})

    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np\nSCALE = 2"),
        graded("def f(x):\n    return SCALE * x\nrate: float = 0.1\ncount = 0\ncount += 1\nimport os.path\n"
               "import json as js\nfrom math import pi as PI\nclass Model:\n    pass\na, (b, c) = 1, (2, 3)\n"
               "for i in range(3):\n    pass\nSCALE = 3\n", "f", solution=True),
        graded("print(f(3))", "demo", locked=True),
        graded("expected = f(1)\nassert expected == 2", "test_f", grade=True, locked=True, points=1),
        graded("%matplotlib inline\nsummary = f(2)\nexpected = 0", "g", solution=True),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("print(np.pi)"),
    ])


def test_expected_names_are_what_only_the_answers_define():
    assert expected_names(synthetic_source()) == ["Model", "PI", "a", "b", "c", "count", "f", "js", "os", "rate",
                                                  "summary"]


def test_cell_roles_of_a_synthetic_source():
    src = synthetic_source()
    assert cell_roles(src, src) == ["shared", "student", "checker", "test", "student", "skip", "shared"]


def test_a_code_cell_without_id_counts_as_the_instructors_only_word_for_word():
    src = synthetic_source()
    nb = copy.deepcopy(src)
    nb.cells[0].source = "import numpy as np\nSCALE = 2\nimport os"
    assert cell_roles(nb, src)[0] == "student"


def test_test_label_is_the_first_docstring_line():
    assert cell_label('"""double: twice its argument.\n\nMore."""\nassert double(2) == 4') == \
        "double: twice its argument."
    assert cell_label("assert True") == ""
    assert cell_label('"""Checks it."""\n%timeit f()') == "Checks it."  # not Python: first line read as text
    long = cell_label('"""' + "x" * 300 + '"""')
    assert len(long) == 120 and long.endswith("\u2026")


# --------------------------------------------------------------------------- forbidden modules


def test_forbidden_modules_from_the_notebook_metadata():
    nb = nbformat.v4.new_notebook(metadata={"autograder": {"forbidden_modules": ["lrlab.nqm", "lrlab.pac_bayes"]}})
    assert forbidden_modules(nb) == ["lrlab.nqm", "lrlab.pac_bayes"]
    assert forbidden_modules(nbformat.v4.new_notebook()) == []
    assert forbidden_modules(nbformat.v4.new_notebook(metadata={"autograder": "x"})) == []
    assert forbidden_modules(nbformat.v4.new_notebook(metadata={"autograder": {"forbidden_modules": "lrlab"}})) == []


@pytest.mark.parametrize("meta, gpu", [({"gpu": True}, True), ({"gpu": "yes"}, False), ({}, False), ("x", False)])
def test_needs_gpu_only_when_the_metadata_says_true(meta, gpu):
    assert needs_gpu(nbformat.v4.new_notebook(metadata={"autograder": meta})) is gpu
    assert needs_gpu({"metadata": {"autograder": meta}}) is gpu  # raw JSON too


def test_every_course_source_forbids_real_modules():
    import importlib.util

    for path in SOURCES:
        for module in forbidden_modules(nbformat.read(path, as_version=4)):
            assert importlib.util.find_spec(module) is not None, f"{path.name} forbids {module}, which does not exist"


@pytest.mark.parametrize("source, flagged", [
    ("from lrlab.nqm import *", True),
    ("import lrlab.nqm as ref", True),
    ("from lrlab import nqm", True),
    ("import importlib\nref = importlib.import_module('lrlab.nqm')", True),
    ("ref = __import__('lrlab.nqm')", True),
    ("import lrlab.nqm.sub", True),
    ("path = folder + '/nqm.py'", True),
    ("spec = 'lrlab/nqm'", True),
    ("glob.glob(folder + '/__pycache__/nqm*.pyc')", True),
    ("%matplotlib inline\nfrom lrlab.nqm import loss", True),
    ("from lrlab.nqm import (\n  loss", True),  # does not parse: read line by line
    ("from lrlab.plotting import plot\nimport numpy", False),
    ("import lrlab.nqmx", False),
    ("# the reference lrlab.nqm is off limits\nx = 1", False),   # a comment is no import
    ("print('nqm is fun')", False),
])
def test_forbidden_uses_finds_imports_of_a_forbidden_module(source, flagged):
    assert forbidden_uses(source, ["lrlab.nqm"]) == (["lrlab.nqm"] if flagged else [])


def test_forbidden_uses_keeps_the_order_of_the_list():
    src = "import lrlab.pac_bayes\nfrom lrlab import nqm"
    assert forbidden_uses(src, ["lrlab.pac_bayes", "lrlab.nqm", "lrlab.stats"]) == ["lrlab.pac_bayes", "lrlab.nqm"]


# --------------------------------------------------------------------------- vetting


def test_vet_notebook(tmp_path):
    assert vet_notebook(TOY) is None
    missing = vet_notebook(tmp_path / "gone.ipynb", "subs/a/toy/toy.ipynb")
    assert missing.startswith("subs/a/toy/toy.ipynb could not be read") and missing.endswith("graded as 0")
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [1], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', encoding="utf-8")
    assert "is not a readable notebook" in vet_notebook(bad)


def test_the_module_needs_only_the_standard_library():
    """The students' download ships notebook.py with the self-check: no third-party import at module level."""
    import ast
    import sys

    tree = ast.parse(Path(fmt.__file__).read_text(encoding="utf-8"))
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert top <= set(sys.stdlib_module_names) | {"__future__"}, top
