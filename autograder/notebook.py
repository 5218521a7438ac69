"""nbgrader's notebook format, in one place: cell metadata, marker regions, cell roles, vetting.

An nbgrader *source* notebook (``solutions/<assignment>/<notebook>.ipynb``) marks its
cells with ``metadata.nbgrader`` (``solution``, ``grade``, ``locked``, ``points``,
``grade_id``) and its answers and hidden tests with marker lines
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``, ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS``); the release puts :data:`CODE_STUB` (or :data:`TEXT_STUB`)
where an answer was. This course adds notebook-level keys under ``metadata.autograder``:
``forbidden_modules`` (the reference modules whose import a graded run refuses) and
``gpu`` (grade it on a GPU). Everything in the autograder that reads these goes
through this module:

cell metadata
    :func:`nbgrader_meta`, :func:`grade_id`, :func:`cell_kind`, :func:`grading_kind`,
    :func:`is_graded`, :func:`is_solution`, :func:`points`, :func:`grading_meta`,
    :func:`solution_ids`, :func:`cell_source`;
marker regions
    :func:`marker_of`, :func:`line_regions`, :func:`answer_source`,
    :func:`visible_test_source`, :func:`hide_hidden_tests`, :func:`split_secret_lines`;
the engine's view
    :func:`cell_roles`, :func:`expected_names`, :func:`cell_label`;
the notebook's own keys
    :func:`forbidden_modules`, :func:`forbidden_uses`, :func:`needs_gpu`;
files
    :func:`vet_notebook`.

Markers are found as nbgrader finds them (``ClearSolutions``, ``ClearHiddenTests``):
a line *containing* ``BEGIN SOLUTION`` (and so on) is a marker line, wherever on the
line. The module imports only the standard library (nbformat and IPython lazily):
the students' download ships it with the self-check.
"""

from __future__ import annotations

import ast
import json
import os
import re
import threading
from pathlib import Path

__all__ = [
    "HIDDEN_PLACEHOLDER", "MARKERS", "SOLUTION_BEGIN", "SOLUTION_END", "HIDDEN_BEGIN", "HIDDEN_END",
    "CODE_STUB", "TEXT_STUB", "STUB_LINES", "STUB_ERROR",
    "nbgrader_meta", "grade_id", "cell_kind", "grading_kind", "is_graded", "is_solution", "points",
    "grading_meta", "solution_ids", "cell_source",
    "marker_of", "line_regions", "answer_source", "visible_test_source", "hide_hidden_tests", "split_secret_lines",
    "cell_roles", "expected_names", "cell_label",
    "forbidden_modules", "forbidden_uses", "needs_gpu",
    "vet_notebook",
]

#: nbgrader's marker strings (its default ``begin_solution_delimeter`` and so on).
SOLUTION_BEGIN = "BEGIN SOLUTION"
SOLUTION_END = "END SOLUTION"
HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"
#: Marker strings that never belong in a student notebook.
MARKERS = (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END)
#: What the release puts in place of a code answer (nbgrader's ``ClearSolutions.code_stub`` for Python) ...
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: ... and of a written (markdown) answer.
TEXT_STUB = "YOUR ANSWER HERE"
#: The stubs' lines: allowed in a release, never a secret.
STUB_LINES = frozenset(CODE_STUB.split("\n") + [TEXT_STUB])
#: The exception an unanswered code cell raises (the stub's).
STUB_ERROR = "NotImplementedError"
#: What feedback shows in place of a hidden-test region.
HIDDEN_PLACEHOLDER = "# (hidden tests: not shown)"
_LABEL_MAX = 120


# --------------------------------------------------------------------------- cell metadata


def nbgrader_meta(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict (empty when absent or malformed)."""
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's ``grade_id``, or ``None`` when absent or not a non-empty string."""
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def cell_kind(cell) -> str:
    """``"solution"``, ``"test"`` (graded), ``"locked"`` or ``"plain"``, from the metadata, in that priority."""
    m = nbgrader_meta(cell)
    if m.get("solution"):
        return "solution"
    if m.get("grade"):
        return "test"
    if m.get("locked"):
        return "locked"
    return "plain"


def is_graded(cell) -> bool:
    """Whether the cell carries points (``metadata.nbgrader.grade``): a test, or a manually graded answer."""
    return bool(nbgrader_meta(cell).get("grade"))


def is_solution(cell) -> bool:
    """Whether the cell is an answer cell (``metadata.nbgrader.solution``)."""
    return bool(nbgrader_meta(cell).get("solution"))


def points(cell) -> float:
    """The points a graded cell is worth (``metadata.nbgrader.points``; 0 when absent or not a number)."""
    try:
        return float(nbgrader_meta(cell).get("points") or 0)
    except (TypeError, ValueError):
        return 0.0


def grading_meta(cell) -> tuple:
    """``(grade, solution, locked, points, grade_id)`` as the metadata says: what a tampered cell changes."""
    m = nbgrader_meta(cell)
    return tuple(m.get(k) for k in ("grade", "solution", "locked", "points", "grade_id"))


def grading_kind(cell) -> str | None:
    """How grading treats a cell, in the words of the feedback page.

    Returns
    -------
    str or None
        ``"test"`` (an autograded test: graded code that is not an answer),
        ``"coding"`` (a graded code answer), ``"written"`` (a graded markdown
        answer), ``"task"``, ``"answer"`` (an ungraded answer cell), ``"helper"``
        (read-only instructor code), or ``None`` (a cell without nbgrader metadata,
        or read-only markdown).
    """
    meta = nbgrader_meta(cell)
    if not meta:
        return None
    code = cell.get("cell_type") == "code"
    if meta.get("grade") and not meta.get("solution") and code:
        return "test"
    if meta.get("grade") and code:
        return "coding"
    if meta.get("grade") and cell.get("cell_type") == "markdown":
        return "written"
    if meta.get("task"):
        return "task"
    if meta.get("solution"):
        return "answer"
    if code and meta.get("locked"):
        return "helper"
    return None


def solution_ids(notebook) -> list[str]:
    """``grade_id`` of every answer cell of ``notebook`` (a dict or ``NotebookNode``), in notebook order."""
    return [gid for c in notebook.get("cells", []) if is_solution(c) and (gid := grade_id(c))]


def cell_source(cell) -> str:
    """The cell's source as one string (raw ``.ipynb`` JSON may store it as a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


# --------------------------------------------------------------------------- marker regions


def marker_of(line: str) -> str | None:
    """The marker (one of :data:`MARKERS`) that ``line`` holds, or ``None``.

    As nbgrader decides: the marker string anywhere in the line, so
    ``"    ### BEGIN SOLUTION"`` and ``"# BEGIN HIDDEN TESTS (edge cases)"`` are markers.
    """
    return next((m for m in MARKERS if m in line), None)


def line_regions(source: str) -> list[tuple[str, str]]:
    """Each line of ``source`` (split on ``"\\n"``) with the region it lies in.

    Returns
    -------
    list of (region, line)
        ``region`` is ``"marker"`` (a marker line itself), ``"solution"`` (between
        ``BEGIN SOLUTION`` and ``END SOLUTION``), ``"hidden"`` (between
        ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS``) or ``"visible"``. An
        unterminated region runs to the end of the cell; any END marker closes it.

    Examples
    --------
    >>> line_regions("a\\n### BEGIN SOLUTION\\nb\\n### END SOLUTION")
    [('visible', 'a'), ('marker', '### BEGIN SOLUTION'), ('solution', 'b'), ('marker', '### END SOLUTION')]
    """
    out, region = [], "visible"
    for line in source.split("\n"):
        marker = marker_of(line)
        if marker is None:
            out.append((region, line))
            continue
        out.append(("marker", line))
        region = {SOLUTION_BEGIN: "solution", HIDDEN_BEGIN: "hidden"}.get(marker, "visible")
    return out


def answer_source(source: str) -> str:
    """What a student who solved a cell writes: the solution kept, its marker lines and hidden tests gone.

    Examples
    --------
    >>> answer_source("def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION")
    'def f():\\n    return 1'
    """
    return "\n".join(line for region, line in line_regions(source) if region in ("visible", "solution"))


def visible_test_source(source: str) -> str:
    """A test cell's source as students see it, to compare two copies.

    The hidden-test regions and marker lines are left out, as are blank lines and
    trailing whitespace, so that a student's copy of a test cell equals the
    instructor's unless its code was changed.
    """
    return "\n".join(line.rstrip() for region, line in line_regions(source) if region == "visible" and line.strip())


def hide_hidden_tests(source: str) -> str:
    """``source`` with each hidden-test region, marker lines included, replaced by :data:`HIDDEN_PLACEHOLDER`.

    The placeholder keeps the ``BEGIN`` line's indentation. An unterminated region
    hides everything after its ``BEGIN`` line. A cell without hidden tests comes back unchanged.
    """
    if HIDDEN_BEGIN not in source:
        return source
    out, before = [], False
    for region, line in line_regions(source):
        hidden = region == "hidden" or (region == "marker" and marker_of(line) in (HIDDEN_BEGIN, HIDDEN_END))
        if hidden and not before:
            out.append(line[: len(line) - len(line.lstrip())] + HIDDEN_PLACEHOLDER)
        elif not hidden:
            out.append(line)
        before = hidden
    return "\n".join(out)


def split_secret_lines(source: str, solution: bool) -> tuple[list[str], list[str]]:
    """Split a source cell into ``(secret lines, visible lines)``, marker lines in neither.

    Secret: the lines inside solution and hidden-test regions, and every line of an
    answer cell (``solution`` true) that has no solution region (nbgrader replaces
    such a cell by the stub entirely).
    """
    regions = line_regions(source)
    whole = solution and not any(marker_of(line) == SOLUTION_BEGIN for _, line in regions)
    secret, visible = [], []
    for region, line in regions:
        if region != "marker":
            (secret if whole or region != "visible" else visible).append(line)
    return secret, visible


# --------------------------------------------------------------------------- the engine's view


def cell_roles(notebook, source) -> list[str]:
    """Role of each cell of a restored ``notebook`` for :mod:`autograder.engine.checker`.

    ``"skip"`` (not code), ``"student"``, ``"shared"``, ``"checker"`` or ``"test"``;
    decided by ``grade_id`` against the source, never by the submission's metadata.
    """
    kinds = {grade_id(c): cell_kind(c) for c in source.cells if grade_id(c)}
    names = set(expected_names(source))
    roles = []
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            roles.append("skip")
            continue
        gid = grade_id(cell)
        kind = kinds.get(gid) if gid else None
        if kind == "test":
            roles.append("test")
        elif kind == "solution" or kind is None and not _is_source_cell(cell, source):
            roles.append("student")
        elif _uses(cell.get("source", ""), names):
            roles.append("checker")
        else:
            roles.append("shared")
    return roles


def _is_source_cell(cell, source) -> bool:
    """A code cell without grade_id that the source also has, word for word."""
    return any(c.get("cell_type") == "code" and not grade_id(c) and c.get("source") == cell.get("source")
               for c in source.cells)


def _bound_names(tree) -> set:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
    return names


#: Held by every ``ast.parse`` of the autograder: CPython 3.11's ``ast.parse`` is not safe in two threads
#: at once (its conversion to Python objects keeps one recursion counter per interpreter and raises
#: "SystemError: AST constructor recursion depth mismatch"), and grading runs notebooks in threads.
PARSE_LOCK = threading.RLock()


def parse(source: str):
    """``ast.parse(source)``, one thread at a time (see :data:`PARSE_LOCK`)."""
    with PARSE_LOCK:
        return ast.parse(source)


def _parse(source: str):
    try:
        return parse(source)
    except SyntaxError:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            return parse(TransformerManager().transform_cell(source))
        except Exception:  # noqa: BLE001
            return parse("")


def expected_names(source) -> list[str]:
    """Names the source's solution cells define and no instructor cell defines, sorted."""
    mine, theirs = set(), set()
    for cell in source.cells:
        if cell.get("cell_type") != "code":
            continue
        bound = _bound_names(_parse(cell.get("source", "")))
        (mine if cell_kind(cell) == "solution" else theirs).update(bound)
    return sorted(mine - theirs)


def _uses(source: str, names: set) -> bool:
    tree = _parse(source)
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree))


def cell_label(source: str) -> str:
    """What a test cell checks: the first line of its docstring (at most 120 characters), or ``""``.

    Parameters
    ----------
    source : str
        The cell's code.

    Examples
    --------
    >>> cell_label('\"\"\"double: twice its argument.\\n\\nMore.\"\"\"\\nassert double(2) == 4')
    'double: twice its argument.'
    >>> cell_label("assert True")
    ''
    """
    doc = None
    try:
        doc = ast.get_docstring(parse(source))
    except (SyntaxError, ValueError):  # IPython magics and the like: look at the first line only
        m = re.match(r"\s*[rRuU]?(\"\"\"|'''|\"|')(.*?)(?:\1|$)", source, re.S)
        doc = m.group(2) if m else None
    if not doc:
        return ""
    line = doc.strip().splitlines()[0].strip()
    return line if len(line) <= _LABEL_MAX else line[: _LABEL_MAX - 1].rstrip() + "\u2026"


# --------------------------------------------------------------------------- forbidden modules


def _autograder_meta(notebook) -> dict:
    """The notebook's ``metadata.autograder`` dict (empty when absent or malformed)."""
    meta = notebook.get("metadata", {}) if isinstance(notebook, dict) else {}
    meta = meta.get("autograder", {}) if isinstance(meta, dict) else {}
    return meta if isinstance(meta, dict) else {}


def forbidden_modules(source) -> list:
    """The reference modules a source notebook forbids (``metadata.autograder.forbidden_modules``)."""
    names = _autograder_meta(source).get("forbidden_modules", [])
    return [str(n) for n in names] if isinstance(names, list) else []


def needs_gpu(source) -> bool:
    """Whether a source notebook asks to be graded on a GPU (``metadata.autograder.gpu`` is ``true``)."""
    return _autograder_meta(source).get("gpu") is True


def _imported(source: str) -> tuple[set[str], list[str]]:
    """(modules a code cell imports, its string constants).

    ``import a.b``, ``from a.b import c``, ``from a import b`` (``a.b``),
    ``importlib.import_module("a.b")`` and ``__import__("a.b")`` count as imports.
    IPython magics and shell escapes are left out; code that does not parse is
    read line by line for ``import``/``from`` statements.
    """
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = parse("\n".join(lines))
    except SyntaxError:
        return set(re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, flags=re.M)), []
    found = set()
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(
            node.args[0].value, str
        ) and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"):
            found.add(node.args[0].value)
    return found, texts


def _names_module(text: str, module: str) -> bool:
    """Whether a string names ``module`` (``lrlab.nqm``) or its file (``lrlab/nqm``, ``nqm.py``, ``nqm*.pyc``)."""
    short = re.escape(module.rsplit(".", 1)[-1])
    return module in text or module.replace(".", "/") in text or bool(
        re.search(r"(?:^|[/\\])" + short + r"[\w*.-]*\.pyc?$", text))


def forbidden_uses(source: str, forbidden) -> list[str]:
    """The modules of ``forbidden`` that the code ``source`` reaches for, without running it.

    A module counts when the code imports it or a submodule of it (``import``,
    ``from ... import``, ``importlib.import_module``, ``__import__``), or names it
    or its file in a string (``"lrlab.nqm"``, ``"lrlab/nqm.py"``: loading it by path).

    Parameters
    ----------
    source : str
        A code cell's source.
    forbidden : iterable of str
        Module names, as :func:`forbidden_modules` returns them.

    Returns
    -------
    list of str
        In the order of ``forbidden``.

    Examples
    --------
    >>> forbidden_uses("from lrlab.nqm import step", ["lrlab.nqm", "lrlab.pac_bayes"])
    ['lrlab.nqm']
    >>> forbidden_uses("spec = 'lrlab/pac_bayes.py'", ["lrlab.nqm", "lrlab.pac_bayes"])
    ['lrlab.pac_bayes']
    """
    imported, texts = _imported(source)
    return [name for name in forbidden
            if any(module == name or module.startswith(name + ".") for module in imported)
            or any(_names_module(text, name) for text in texts)]


# --------------------------------------------------------------------------- files


def vet_notebook(path: os.PathLike | str, display: str | None = None) -> str | None:
    """Say what stops nbgrader from reading a submitted notebook, or ``None`` if fine.

    Parameters
    ----------
    path : path-like
        The submitted ``.ipynb`` file.
    display : str, optional
        How to name the file in the message (default: ``path``).

    Returns
    -------
    str or None
        A message naming the file, the problem and what to do, e.g.
        ``"subs/alice/toy/toy.ipynb is not valid JSON (line 3): re-export it from
        Jupyter (File > Download); graded as 0"``.
    """
    path = Path(path)
    display = display or os.fspath(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return f"{display} could not be read ({exc.strerror}); graded as 0"
    if not raw.strip():
        return f"{display} is empty ({len(raw)} bytes): the upload failed or the notebook was never saved; graded as 0"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{display} is not UTF-8 text (a binary file?): re-export it from Jupyter (File > Download); graded as 0"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            f"{display} is not valid JSON (line {exc.lineno}): re-export it from Jupyter "
            "(File > Download); graded as 0"
        )
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        return f"{display} is JSON but not a Jupyter notebook (no 'cells'/'nbformat'): submit the .ipynb file; graded as 0"
    if data.get("nbformat") != 4:
        return f"{display} uses notebook format {data.get('nbformat')!r}, not 4: open and save it in a current Jupyter; graded as 0"
    import nbformat

    try:
        nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds of errors
        return f"{display} is not a readable notebook ({type(exc).__name__}: {exc}); graded as 0"
    return None
