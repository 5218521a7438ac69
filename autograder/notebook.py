"""nbgrader's notebook format, in one place: cell metadata, marker regions, cell roles, vetting.

An nbgrader *source* notebook (``solutions/<assignment>/<notebook>.ipynb``) marks its
cells with ``metadata.nbgrader`` (``solution``, ``grade``, ``locked``, ``points``,
``grade_id``) and its answers and hidden tests with marker lines
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``, ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS``). This course adds one notebook-level key,
``metadata.autograder.forbidden_modules``: the reference modules whose import a
graded run refuses. Everything in the autograder that reads these goes through
this module: the engine (cell roles, expected names, forbidden modules), the
instructor's restore step and feedback (hidden regions), the student's self-check.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

__all__ = [
    "HIDDEN_PLACEHOLDER", "nbgrader_meta", "cell_kind", "grade_id", "cell_roles", "expected_names",
    "forbidden_modules", "hide_hidden_tests", "vet_notebook",
]

HIDDEN_PLACEHOLDER = "# (hidden tests: not shown)"
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def nbgrader_meta(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict (empty when absent or malformed)."""
    meta = cell.get("metadata", {})
    meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return meta if isinstance(meta, dict) else {}


def _kind(cell) -> str:
    m = nbgrader_meta(cell)
    if m.get("solution"):
        return "solution"
    if m.get("grade"):
        return "test"
    if m.get("locked"):
        return "locked"
    return "plain"


def _gid(cell):
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def _visible(source: str) -> str:
    """A test cell's source without its hidden-test regions, whitespace-normalised."""
    kept, hidden = [], False
    for line in source.splitlines():
        text = line.strip()
        if text.startswith("### BEGIN HIDDEN TESTS"):
            hidden = True
        elif text.startswith("### END HIDDEN TESTS"):
            hidden = False
        elif not hidden and text:
            kept.append(line.rstrip())
    return "\n".join(kept)


def _grading_meta(cell) -> tuple:
    m = nbgrader_meta(cell)
    return tuple(m.get(k) for k in ("grade", "solution", "locked", "points", "grade_id"))


def cell_roles(notebook, source) -> list[str]:
    """Role of each cell of a restructured ``notebook`` for :mod:`autograder.engine.checker`.

    ``"skip"`` (not code), ``"student"``, ``"shared"``, ``"checker"`` or ``"test"``;
    decided by ``grade_id`` against the source, never by the submission's metadata.
    """
    kinds = {_gid(c): _kind(c) for c in source.cells if _gid(c)}
    names = set(expected_names(source))
    roles = []
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            roles.append("skip")
            continue
        gid = _gid(cell)
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
    return any(c.get("cell_type") == "code" and not _gid(c) and c.get("source") == cell.get("source")
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


def _parse(source: str):
    try:
        return ast.parse(source)
    except SyntaxError:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            return ast.parse(TransformerManager().transform_cell(source))
        except Exception:  # noqa: BLE001
            return ast.parse("")


def expected_names(source) -> list[str]:
    """Names the source's solution cells define and no instructor cell defines, sorted."""
    mine, theirs = set(), set()
    for cell in source.cells:
        if cell.get("cell_type") != "code":
            continue
        bound = _bound_names(_parse(cell.get("source", "")))
        (mine if _kind(cell) == "solution" else theirs).update(bound)
    return sorted(mine - theirs)


def _uses(source: str, names: set) -> bool:
    tree = _parse(source)
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree))


def hide_hidden_tests(source: str) -> str:
    """``source`` with every hidden-test region replaced by :data:`HIDDEN_PLACEHOLDER`."""
    out = _HIDDEN.sub(HIDDEN_PLACEHOLDER + "\n", source)
    # An unterminated region hides everything after its BEGIN line.
    start = re.search(r"^[ \t]*### BEGIN HIDDEN TESTS", out, re.M)
    if start:
        out = out[: start.start()] + HIDDEN_PLACEHOLDER + "\n"
    return out


def forbidden_modules(source) -> list:
    """The reference modules a source notebook forbids (``metadata.autograder.forbidden_modules``)."""
    meta = source.get("metadata", {}).get("autograder", {})
    names = meta.get("forbidden_modules", []) if isinstance(meta, dict) else []
    return [str(n) for n in names] if isinstance(names, list) else []


cell_kind = _kind
grade_id = _gid


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
