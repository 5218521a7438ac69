"""Mutation testing of the assignments: plausible wrong answers, graded by the real grader.

A *mutant* is one plausible wrong implementation of one answer cell (an nbgrader solution
cell), written from a mistake students make: an off-by-one step, a missing 1/2, the wrong
convention, a forgotten argument. ``tests/mutants/<assignment>.py`` lists them::

    MUTANTS = [
        Mutant("step_lr", "step counter starts at 1", says="step counter start at 1",
               edits=[("np.floor(t / step_size)", "np.floor((t + 1) / step_size)")]),
        ...
    ]

A mutant changes the *perfect submission* (every solution filled in, as
:func:`autograder.perfect_submission` builds it) either by ``edits`` (each ``(old, new)``
replaces the one occurrence of ``old`` in the solution cell) or by ``code`` (the whole cell).
``says`` is what the feedback must tell the student: words (case-insensitive) that must occur in
the message of a graded cell the mutant fails, so that a student reading the feedback page can
recognise the mistake (not a bare ``AssertionError``).

Grading
-------
Each mutant is graded by the real grader (:func:`autograder.grade_submissions`: the sandboxed
worker runs the student's cells, the checker the tests). To keep the number of gradings small,
one submission carries one mutant in each of several answer cells at once, and failures are
attributed with the notebook's *dependencies*: a graded cell depends on the answer cells whose
names it reads, directly or through other cells (found with :mod:`ast` from the source with its
hidden tests, scope-aware, per binding, function bodies resolved at call time; see
:func:`dependencies`).

- Phase 1: round ``k`` carries the ``k``-th mutant of every answer cell. A failing graded cell
  that depends on exactly one mutated cell of its round kills that cell's mutant. A failing
  graded cell that depends on no mutated cell is an error of the test itself (the untouched
  answers must pass).
- Phase 2: the mutants not yet killed are graded again in rounds whose mutated cells share no
  dependent graded cell, so every failure is attributed; what still passes every cell survived.

This is sound as long as answer cells talk only through names (not through files or global
random state): the mutants must not draw from global generators or write files.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import nbformat

import autograder

ROOT = Path(__file__).resolve().parents[1]
MUTANTS_DIR = Path(__file__).resolve().parent / "mutants"
MIN_MUTANTS_PER_CELL = 5


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One plausible wrong answer to one answer cell.

    Parameters
    ----------
    cell : str
        grade_id of the solution cell it replaces.
    name : str
        The mistake, as a teaching assistant would name it ("step counter starts at 1").
    says : str
        Words the message of a failing graded cell must contain (case-insensitive, spaces
        normalised; the error's ``ename: evalue``, not its traceback, which may quote the
        test's source): what tells the student which mistake it is.
    edits : sequence of (old, new)
        Each ``old`` occurs exactly once in the solution cell (markers removed) and becomes ``new``.
    code : str, optional
        The whole cell, instead of ``edits``.
    """

    cell: str
    name: str
    says: str
    edits: tuple = ()
    code: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "edits", tuple(tuple(e) for e in self.edits))

    def apply(self, solution: str) -> str:
        """The answer cell's source with this mistake in it."""
        if (self.code is None) == (not self.edits):
            raise ValueError(f"mutant {self.name!r}: give either edits or code, not both or neither")
        if self.code is not None:
            return self.code.strip("\n") + "\n"
        source = solution
        for old, new in self.edits:
            count = source.count(old)
            if count != 1:
                raise ValueError(
                    f"mutant {self.name!r} of {self.cell}: {old!r} occurs {count} times in the solution "
                    "(it must occur exactly once): update the mutant to today's solution"
                )
            source = source.replace(old, new)
        return source


# --------------------------------------------------------------------------- the notebook


def source_notebook(assignment: str) -> Path:
    (source,) = autograder.find_repo(ROOT).source_notebooks(assignment)
    return source


MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"}


def graded_source(assignment: str) -> nbformat.NotebookNode:
    """The source notebook as the grader runs it: solutions and hidden tests, marker lines removed.
    Dependencies are read from this (the hidden tests may call other answer cells' functions)."""
    nb = nbformat.read(os.fspath(source_notebook(assignment)), as_version=4)
    for cell in nb.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines() if line.strip() not in MARKERS)
    return nb


def perfect(assignment: str, release=None) -> nbformat.NotebookNode:
    """The perfect submission (solutions filled into the release, as a student would hand in)."""
    return autograder.perfect_submission(source_notebook(assignment), release)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def answer_cells(nb) -> list[str]:
    """grade_ids of the code cells a student writes (nbgrader solution cells), in notebook order."""
    return [_meta(c)["grade_id"] for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]


def graded_cells(nb) -> dict[str, float]:
    """grade_id -> points of the graded test cells."""
    return {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for c in nb.cells
            if c.cell_type == "code" and _meta(c).get("grade") and not _meta(c).get("solution")}


def load_mutants(assignment: str) -> list[Mutant]:
    """``MUTANTS`` of ``tests/mutants/<assignment>.py`` (an empty list when there is no such file)."""
    path = MUTANTS_DIR / f"{assignment}.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"mutants_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.MUTANTS)


# --------------------------------------------------------------------------- dependencies


def _python(source: str) -> str:
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


class _Free(ast.NodeVisitor):
    """Names a block reads before binding them, scope-aware (functions, lambdas, comprehensions)."""

    def __init__(self):
        self.loads: set[str] = set()
        self.stores: set[str] = set()
        self.late: set[str] = set()  # read when a function defined here is called, not now

    def visit_Name(self, node):
        (self.loads if isinstance(node.ctx, ast.Load) else self.stores).add(node.id)

    def _scope(self, args, body_nodes, *, late: bool = True):
        inner = _Free()
        for node in body_nodes:
            inner.visit(node)
        bound = set(inner.stores)
        if args is not None:
            for a in args.posonlyargs + args.args + args.kwonlyargs:
                bound.add(a.arg)
            for a in (args.vararg, args.kwarg):
                if a is not None:
                    bound.add(a.arg)
            for d in args.defaults + [d for d in args.kw_defaults if d is not None]:
                self.visit(d)
        if late:
            self.late |= (inner.loads | inner.late) - bound
        else:
            self.loads |= inner.loads - bound
            self.late |= inner.late - bound

    def visit_FunctionDef(self, node):
        for d in node.decorator_list:
            self.visit(d)
        self._scope(node.args, node.body)
        self.stores.add(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        for n in node.bases + node.decorator_list + [k.value for k in node.keywords]:
            self.visit(n)
        self._scope(None, node.body, late=False)
        self.stores.add(node.name)

    def visit_Lambda(self, node):
        self._scope(node.args, [node.body])

    def _comp(self, node, elts):
        inner = _Free()
        for gen in node.generators:
            inner.visit(gen)
        for e in elts:
            inner.visit(e)
        self.loads |= inner.loads - inner.stores
        self.late |= inner.late - inner.stores

    def visit_ListComp(self, node):
        self._comp(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node):
        self._comp(node, [node.key, node.value])

    def visit_ExceptHandler(self, node):
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self.stores.add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_Global(self, node):
        pass


@dataclasses.dataclass
class CellNames:
    """What a code cell reads and binds, for the dependencies between cells."""

    now: set[str]  # read while the cell runs, bound by an earlier cell
    late: dict[str, set[str]]  # name bound here -> names its function bodies read when called
    loose: set[str]  # read by function bodies bound to no name (a lambda passed along)
    bound: set[str]  # bound at top level

    @property
    def every_late(self) -> set[str]:
        return set(self.loose).union(*self.late.values())


def _visit(node) -> _Free:
    v = _Free()
    v.visit(node)
    return v


def _block(stmts, bound: set[str], names: CellNames, owners: set[str] | None = None) -> None:
    """Statements in order: a name read after the block bound it (a loop target, an earlier line of a
    loop's body) is not free. A name bound inside an ``if``/``try`` branch counts as bound afterwards,
    which is right for the notebooks' test cells (they bind before they read). What a function body
    reads goes to the names its statement binds (``owners`` for a nested block: every name bound in it)."""

    def late(reads: set[str], stores: set[str]) -> None:
        targets = stores if owners is None else owners
        for name in targets:
            names.late.setdefault(name, set()).update(reads)
        if not targets:
            names.loose |= reads

    def expr(node) -> None:
        v = _visit(node)
        names.now |= v.loads - bound
        late(v.late, set())

    for stmt in stmts:
        nested = isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try))
        inner = owners if owners is not None else (_visit(stmt).stores if nested else None)
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            expr(stmt.iter)
            bound |= _visit(stmt.target).stores
            _block(stmt.body, bound, names, inner)
            _block(stmt.orelse, bound, names, inner)
        elif isinstance(stmt, (ast.While, ast.If)):
            expr(stmt.test)
            _block(stmt.body, bound, names, inner)
            _block(stmt.orelse, bound, names, inner)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                expr(item.context_expr)
                if item.optional_vars is not None:
                    bound |= _visit(item.optional_vars).stores
            _block(stmt.body, bound, names, inner)
        elif isinstance(stmt, ast.Try):
            _block(stmt.body, bound, names, inner)
            for handler in stmt.handlers:
                if handler.type is not None:
                    expr(handler.type)
                if handler.name:
                    bound.add(handler.name)
                _block(handler.body, bound, names, inner)
            _block(stmt.orelse, bound, names, inner)
            _block(stmt.finalbody, bound, names, inner)
        else:
            v = _visit(stmt)
            names.now |= v.loads - bound
            late(v.late, v.stores)
            bound |= v.stores


def cell_names(source: str) -> CellNames:
    """What the cell reads now, what the functions it binds read when called, and what it binds."""
    names = CellNames(set(), {}, set(), set())
    _block(ast.parse(_python(source)).body, names.bound, names)
    return names


def free_and_bound(source: str) -> tuple[set[str], set[str]]:
    """(every name the cell reads, now or when its functions run, except late reads of its own names;
    names it binds at top level)."""
    names = cell_names(source)
    return names.now | (names.every_late - names.bound), names.bound


def dependencies(nb) -> dict[str, set[str]]:
    """grade_id of each graded test cell -> the answer cells it depends on (through names).

    Per binding: a name a cell binds carries the answer cells of what the cell read while it ran
    (from earlier cells) and of what that name's function body reads when called (from any cell:
    Python looks global names up at call time; a name the same cell binds means that cell's
    binding). A cell depends on everything it reads, now or through the functions it defines.
    Repeated until nothing changes; answer cells depend on themselves."""
    answers = set(answer_cells(nb))
    graded = graded_cells(nb)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    names = {i: cell_names(c.source) for i, c in code}
    binders: dict[str, list[int]] = defaultdict(list)
    for i, _ in code:
        for name in names[i].bound:
            binders[name].append(i)
    own = {i: ({_meta(c)["grade_id"]} if _meta(c).get("grade_id") in answers else set()) for i, c in code}
    binding: dict[tuple[int, str], set[str]] = {(i, n): set(own[i]) for i, _ in code for n in names[i].bound}
    cell: dict[int, set[str]] = {i: set(own[i]) for i, _ in code}

    def resolve(i: int, reads: set[str], *, now: bool) -> set[str]:
        found: set[str] = set()
        for name in reads:
            if not now and name in names[i].bound:
                found |= binding[(i, name)]
                continue
            for j in binders.get(name, ()):
                if j < i or not now:
                    found |= binding[(j, name)]
        return found

    changed = True
    while changed:
        changed = False
        for i, _ in code:
            info = names[i]
            at_run = resolve(i, info.now, now=True)
            total = len(cell[i])
            cell[i] |= at_run | resolve(i, info.every_late, now=False)
            changed |= len(cell[i]) != total
            for name in info.bound:
                key = (i, name)
                total = len(binding[key])
                binding[key] |= at_run | resolve(i, info.late.get(name, set()), now=False)
                changed |= len(binding[key]) != total
    return {_meta(c)["grade_id"]: set(cell[i]) for i, c in code if _meta(c).get("grade_id") in graded}


# --------------------------------------------------------------------------- rounds


def plan_rounds(mutants: list[Mutant], deps: dict[str, set[str]], *, strict: bool) -> list[list[Mutant]]:
    """Mutants grouped into submissions, at most one per answer cell in each.

    ``strict``: no two mutated cells of a round share a dependent graded cell, so that every
    failure has exactly one suspect.
    """
    queues: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        queues[m.cell].append(m)

    def clash(a: str, b: str) -> bool:
        return any(a in d and b in d for d in deps.values())

    rounds = []
    while any(queues.values()):
        chosen: list[Mutant] = []
        for cell in sorted(queues, key=lambda c: -len(queues[c])):
            if not queues[cell]:
                continue
            if strict and any(clash(cell, m.cell) for m in chosen):
                continue
            chosen.append(queues[cell].pop(0))
        rounds.append(chosen)
    return rounds


@dataclasses.dataclass
class Outcome:
    """What grading did to one mutant."""

    mutant: Mutant
    killed_by: dict[str, str]  # graded cell -> its error text (only failures attributed to this mutant)

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)

    @property
    def says_it(self) -> bool:
        want = _norm(self.mutant.says)
        return any(want in _norm(text.split(TRACEBACK, 1)[0]) for text in self.killed_by.values())


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclasses.dataclass
class Report:
    assignment: str
    outcomes: list[Outcome]
    submissions: int
    seconds: float
    problems: list[str]

    @property
    def killed(self) -> int:
        return sum(o.killed for o in self.outcomes)

    @property
    def survivors(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.killed]

    @property
    def silent(self) -> list[Outcome]:
        """Killed, but no message names the mistake."""
        return [o for o in self.outcomes if o.killed and not o.says_it]


#: Separates an error's message (``ename: evalue``, what ``says`` must be found in) from its traceback.
TRACEBACK = "\n--- traceback ---\n"


def _error_texts(path: Path) -> dict[str, str]:
    nb = nbformat.read(os.fspath(path), as_version=4)
    errors = {}
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and gid:
                errors[gid] = f"{out.get('ename')}: {out.get('evalue')}{TRACEBACK}" + "\n".join(out.get("traceback", []))
    return errors


def build_submission(base: nbformat.NotebookNode, solutions: dict[str, str], chosen: list[Mutant]):
    nb = nbformat.from_dict(base)
    sources = {m.cell: m.apply(solutions[m.cell]) for m in chosen}
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if gid in sources and _meta(cell).get("solution"):
            cell.source = sources[gid]
    return nb


def run(assignment: str, workdir: Path | None = None, *, jobs: int = 1, mutants: list[Mutant] | None = None,
        progress: bool = False) -> Report:
    """Grade every mutant of ``assignment`` with the real grader; see the module's docstring."""
    started = time.monotonic()
    mutants = load_mutants(assignment) if mutants is None else mutants
    with tempfile.TemporaryDirectory(prefix=f"mutation-{assignment}-") as tmp:
        workdir = Path(workdir) if workdir is not None else Path(tmp)
        release = autograder.release_notebook(source_notebook(assignment))
        base = perfect(assignment, release)
        solutions = {_meta(c)["grade_id"]: c.source for c in base.cells if _meta(c).get("solution")}
        deps = dependencies(graded_source(assignment))
        graded = set(graded_cells(base))
        (name,) = autograder.find_repo(ROOT).notebook_names(assignment)
        outcomes: dict[str, Outcome] = {}
        problems: list[str] = []
        submissions = 0
        course = workdir / "course"
        for phase in (1, 2):
            todo = [m for m in mutants if m.name not in outcomes or not outcomes[m.name].killed]
            if not todo:
                break
            rounds = plan_rounds(todo, deps, strict=phase == 2)
            subs = workdir / f"phase{phase}"
            for k, chosen in enumerate(rounds, 1):
                autograder.write_submission(subs, f"p{phase}r{k:03d}", assignment, name,
                                            build_submission(base, solutions, chosen))
            results = autograder.grade_submissions(subs, repo=ROOT, course_dir=course, assignment=assignment,
                                                   jobs=jobs, progress=progress)
            submissions += len(rounds)
            by_student = {r.student_id: r for r in results}
            for k, chosen in enumerate(rounds, 1):
                student = f"p{phase}r{k:03d}"
                result = by_student.get(student)
                if result is None or result.status != "graded":
                    problems.append(f"{student} was not graded: {getattr(result, 'note', 'missing')}")
                    continue
                errors = _error_texts(course / "autograded" / student / assignment / f"{name}.ipynb")
                mutated = {m.cell: m for m in chosen}
                for m in chosen:
                    outcomes.setdefault(m.name, Outcome(m, {}))
                for test, text in errors.items():
                    if test not in graded:
                        continue
                    suspects = deps.get(test, set()) & set(mutated)
                    if not suspects:
                        problems.append(
                            f"{test} failed in {student} although it depends on no mutated cell "
                            f"(mutated: {sorted(mutated)}): {text[:300]}"
                        )
                    elif len(suspects) == 1:
                        (cell,) = suspects
                        outcomes[mutated[cell].name].killed_by[test] = text
        return Report(assignment, [outcomes[m.name] for m in mutants], submissions,
                      time.monotonic() - started, problems)


# --------------------------------------------------------------------------- the table's own checks


def table_problems(assignment: str, mutants: list[Mutant] | None = None, cells: list[str] | None = None) -> list[str]:
    """What is wrong with an assignment's mutant table (of ``cells`` only, if given), without grading anything."""
    mutants = load_mutants(assignment) if mutants is None else mutants
    base = perfect(assignment)
    solutions = {_meta(c)["grade_id"]: c.source for c in base.cells if _meta(c).get("solution")}
    problems = []
    names = [m.name for m in mutants]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two mutants are named {dup!r}")
    counts = defaultdict(int)
    for m in mutants:
        if m.cell not in solutions:
            problems.append(f"{m.name!r}: no answer cell {m.cell!r} (answer cells: {sorted(solutions)})")
            continue
        counts[m.cell] += 1
        if len(_norm(m.says)) < 4:
            problems.append(f"{m.name!r}: says={m.says!r} is too short to name a mistake")
        try:
            source = m.apply(solutions[m.cell])
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if " ".join(source.split()) == " ".join(solutions[m.cell].split()):
            problems.append(f"{m.name!r} does not change {m.cell}")
            continue
        try:
            _, bound = free_and_bound(source)
        except SyntaxError as exc:
            problems.append(f"{m.name!r} is not valid Python: {exc}")
            continue
        _, wanted = free_and_bound(solutions[m.cell])
        if not wanted <= bound:
            problems.append(f"{m.name!r} no longer defines {sorted(wanted - bound)} (a mutant is a wrong answer, "
                            "not a missing one)")
    for cell in solutions if cells is None else cells:
        if counts[cell] < MIN_MUTANTS_PER_CELL:
            problems.append(f"answer cell {cell!r} has {counts[cell]} mutants (at least {MIN_MUTANTS_PER_CELL})")
    return problems


def format_report(report: Report) -> str:
    lines = [f"{report.assignment}: {report.killed}/{len(report.outcomes)} mutants killed "
             f"in {report.submissions} graded submissions ({report.seconds:.0f} s)"]
    for o in report.survivors:
        lines.append(f"  SURVIVED {o.mutant.cell}: {o.mutant.name}")
    for o in report.silent:
        first = next(iter(o.killed_by.values())).splitlines()[0][:200]
        lines.append(f"  NO HINT  {o.mutant.cell}: {o.mutant.name}: feedback lacks {o.mutant.says!r}; it says {first!r}")
    for p in report.problems:
        lines.append(f"  PROBLEM  {p}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Grade an assignment's mutants with the real grader.")
    parser.add_argument("assignments", nargs="*", help="default: every assignment with a mutants file")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cell", help="only the mutants of this answer cell")
    args = parser.parse_args(argv)
    names = args.assignments or sorted(p.stem for p in MUTANTS_DIR.glob("*.py") if not p.stem.startswith("_"))
    bad = 0
    for assignment in names:
        mutants = [m for m in load_mutants(assignment) if args.cell in (None, m.cell)]
        problems = table_problems(assignment, mutants, None if args.cell is None else [args.cell])
        for p in problems:
            print(f"{assignment}: TABLE {p}")
        report = run(assignment, jobs=args.jobs, mutants=mutants, progress=True)
        print(format_report(report), flush=True)
        bad += bool(report.survivors or report.silent or report.problems or problems)
    return 1 if bad else 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
