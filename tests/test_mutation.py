"""Mutation test of every assignment: each plausible wrong answer loses points, and says why.

``tests/mutants/<assignment>.py`` lists at least five plausible wrong implementations of every
answer cell (see ``tests/mutation.py``). Each is swapped into the perfect submission and graded
by the real grader (sandboxed worker, separate checker); the test fails if one of them keeps
full marks, or if no failing cell's message contains the words that name its mistake.

The harness is tested first on what it could get wrong: the names a cell reads and binds, the
dependencies of graded cells, the grouping of mutants into submissions, and, by grading, that
an equivalent rewrite is reported as a survivor and a mutant whose message lacks its words as
silent (so the real tests below can fail).
"""

from __future__ import annotations

import nbformat
import pytest

import autograder
from mutation import (
    MIN_MUTANTS_PER_CELL,
    ROOT,
    Mutant,
    answer_cells,
    cell_names,
    dependencies,
    format_report,
    free_and_bound,
    load_mutants,
    plan_rounds,
    run,
    table_problems,
)

ASSIGNMENTS = autograder.find_repo(ROOT).assignments()


# --------------------------------------------------------------------------- the harness


def test_free_names_respect_scopes():
    source = (
        "import numpy as np\n"
        "def f(x, k=K):\n"
        "    y = x + g(x)\n"
        "    return [y * i for i in range(n)]\n"
        "z = f(1)\n"
        "w = lambda t: t + z + h\n"
        "total = sum(v for v in values)\n"
    )
    free, bound = free_and_bound(source)
    assert free == {"K", "g", "range", "n", "h", "sum", "values"}
    assert bound == {"np", "f", "z", "w", "total"}
    names = cell_names(source)
    assert names.now == {"K", "sum", "values"}
    assert names.late == {"np": set(), "f": {"g", "range", "n"}, "w": {"z", "h"}, "z": set(), "total": set()}
    names = cell_names("def f():\n    try:\n        g()\n    except ValueError as err:\n        print(err)\n")
    assert names.late == {"f": {"g", "ValueError", "print"}}


def test_a_name_bound_before_it_is_read_is_not_free():
    free, _ = free_and_bound("got = schedule(3)\nassert got == expected\n")
    assert free == {"schedule", "expected"}
    free, _ = free_and_bound("print(got)\ngot = 1\n")
    assert "got" in free
    free, _ = free_and_bound("x = x + 1\n")
    assert free == {"x"}


def test_loop_and_with_targets_are_bound_inside_their_block():
    source = (
        "for got, lr in cases:\n"
        "    want = ref(lr)\n"
        "    assert got == want, msg\n"
        "with ctx() as fh:\n"
        "    fh.write(got)\n"
        "try:\n"
        "    f()\n"
        "except ValueError as exc:\n"
        "    print(exc, later)\n"
    )
    free, bound = free_and_bound(source)
    assert free == {"cases", "ref", "msg", "ctx", "f", "ValueError", "print", "later"}
    assert {"got", "lr", "want", "fh", "exc"} <= bound


def _cell(source, **meta):
    cell = nbformat.v4.new_code_cell(source)
    if meta:
        cell.metadata["nbgrader"] = meta
    return cell


def _toy():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("import numpy as np\nSCALE = 2.0\n", grade_id="setup", grade=False, solution=False),
        _cell("def a(x):\n    return SCALE * x\n", grade_id="a", grade=False, solution=True),
        _cell("def b(x):\n    return a(x) + 1\n", grade_id="b", grade=False, solution=True),
        _cell("def c(x):\n    return x\n", grade_id="c", grade=False, solution=True),
        _cell("table = [c(i) for i in range(3)]\n"),
        _cell("assert a(1) == 2\n", grade_id="test_a", grade=True, solution=False, points=1),
        _cell("assert b(1) == 3\n", grade_id="test_b", grade=True, solution=False, points=1),
        _cell("assert table == [0, 1, 2]\n", grade_id="test_c", grade=True, solution=False, points=1),
        _cell("np.testing.assert_allclose(SCALE, 2.0)\n", grade_id="test_none", grade=True, solution=False, points=1),
    ]
    return nb


def test_dependencies_are_read_from_the_source_with_its_hidden_tests():
    """A hidden test may call another cell's function: the release, without hidden tests, would miss it."""
    from mutation import graded_source

    deps = dependencies(graded_source("critical_damping"))
    assert "damping_regime" in deps["test_co_schedule"], deps["test_co_schedule"]


def test_a_helper_defined_before_an_answer_depends_on_it_when_it_calls_it():
    """Python looks a function's global names up when it is called: a test helper above the answer
    cell that calls the student's function still depends on that cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("def run(x):\n    return step(x) * 2\n", grade_id="helpers", grade=False, solution=False),
        _cell("def step(x):\n    return x + 1\n", grade_id="step", grade=False, solution=True),
        _cell("assert run(1) == 4\n", grade_id="test_run", grade=True, solution=False, points=1),
    ]
    assert dependencies(nb) == {"test_run": {"step"}}


def test_a_helper_cell_passes_on_only_what_each_of_its_functions_calls():
    """Reading one helper of a cell does not make a test depend on what the cell's other helpers call."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("def close(a, b):\n    return abs(a - b) < 1e-9\n\ndef run(x):\n    return step(x) * 2\n",
              grade_id="helpers", grade=False, solution=False),
        _cell("def step(x):\n    return x + 1\n", grade_id="step", grade=False, solution=True),
        _cell("def other(x):\n    return x\n", grade_id="other", grade=False, solution=True),
        _cell("assert close(other(1), 1)\n", grade_id="test_other", grade=True, solution=False, points=1),
        _cell("for lr in (1, 2):\n    assert close(run(lr), 2 * lr + 2)\n", grade_id="test_run", grade=True,
              solution=False, points=1),
    ]
    assert dependencies(nb) == {"test_other": {"other"}, "test_run": {"step"}}


def test_dependencies_follow_names_through_answers_and_plain_cells():
    nb = _toy()
    assert answer_cells(nb) == ["a", "b", "c"]
    assert dependencies(nb) == {"test_a": {"a"}, "test_b": {"a", "b"}, "test_c": {"c"}, "test_none": set()}


def test_rounds_carry_one_mutant_per_cell_and_strict_rounds_share_no_test():
    deps = dependencies(_toy())
    mutants = [Mutant(cell, f"{cell}{k}", "words", code="x = 1") for cell in "abc" for k in range(3)]
    free = plan_rounds(mutants, deps, strict=False)
    assert len(free) == 3 and all(sorted(m.cell for m in r) == ["a", "b", "c"] for r in free)
    strict = plan_rounds(mutants, deps, strict=True)
    assert sorted(m.name for r in strict for m in r) == sorted(m.name for m in mutants)
    for r in strict:
        cells = {m.cell for m in r}
        assert len(cells) == len(r)
        assert not {"a", "b"} <= cells, "a and b share test_b: never in one strict round"
    assert len(strict) == 6


def test_an_edit_must_apply_exactly_once():
    m = Mutant("a", "off by one", "one", edits=[("x", "x + 1")])
    assert m.apply("return x") == "return x + 1"
    with pytest.raises(ValueError, match="occurs 2 times"):
        m.apply("return x * x")
    with pytest.raises(ValueError, match="occurs 0 times"):
        m.apply("return y")
    with pytest.raises(ValueError, match="either edits or code"):
        Mutant("a", "both", "word", edits=[("x", "y")], code="y").apply("x")


def test_table_checks_catch_a_thin_or_broken_table():
    mutants = [
        Mutant("constant_lr", "no change", "peak_lr", edits=[("float(peak_lr)", "float(peak_lr)")]),
        Mutant("constant_lr", "renamed away", "peak_lr", code="def constant(step, peak_lr):\n    return peak_lr\n"),
        Mutant("nope", "unknown cell", "peak_lr", code="x = 1"),
    ]
    problems = "\n".join(table_problems("schedules", mutants))
    assert "'no change' does not change constant_lr" in problems
    assert "no longer defines ['constant_lr']" in problems
    assert "no answer cell 'nope'" in problems
    assert f"answer cell 'step_lr' has 0 mutants (at least {MIN_MUTANTS_PER_CELL})" in problems


@pytest.mark.slow
def test_the_harness_reports_survivors_and_missing_hints(tmp_path):
    """An equivalent rewrite must survive and a killed mutant whose message lacks its words must be
    reported silent: otherwise the per-assignment test below could not fail."""
    mutants = [
        Mutant("constant_lr", "equivalent rewrite", "anything", edits=[("float(peak_lr)", "peak_lr * 1.0")]),
        Mutant("step_lr", "counter starts at 1", "a phrase no test prints",
               edits=[("np.floor(t / step_size)", "np.floor((t + 1) / step_size)")]),
    ]
    report = run("schedules", tmp_path, mutants=mutants)
    assert report.problems == [], report.problems
    assert [o.mutant.name for o in report.survivors] == ["equivalent rewrite"]
    assert [o.mutant.name for o in report.silent] == ["counter starts at 1"]
    assert report.submissions == 2  # both graded in one submission, then the survivor again alone


# --------------------------------------------------------------------------- the assignments


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_answer_cell_has_enough_plausible_mutants(assignment):
    problems = table_problems(assignment)
    assert not problems, f"tests/mutants/{assignment}.py:\n  " + "\n  ".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_mutant_loses_points_with_a_message_naming_the_mistake(assignment, tmp_path, record_property):
    mutants = load_mutants(assignment)
    assert mutants, f"tests/mutants/{assignment}.py has no mutants"
    report = run(assignment, tmp_path, mutants=mutants)
    text = format_report(report)
    record_property("mutation", text.splitlines()[0])
    logs = ROOT / "_build" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"mutation-{assignment}.txt").write_text(text + "\n", encoding="utf-8")
    assert not (report.survivors or report.silent or report.problems), text
