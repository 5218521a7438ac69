"""Rebuild a submitted notebook on the instructor's skeleton before grading.

What the student controls is their answers; the structure is the instructor's.
:func:`restructure` walks the *source* notebook in order and emits:

- every test cell, locked cell and instruction cell **from the source** (so a test
  cell that was edited, deleted, moved, duplicated, turned into markdown, or had
  its metadata changed - points raised, ``grade_id`` renamed - is graded as the
  instructor wrote it, in its place);
- every solution cell **from the submission** (matched by ``grade_id``; the first
  copy wins, later copies are kept as ordinary cells);
- every cell the student added, after the cell it followed in the submission,
  stripped of nbgrader metadata (an added cell cannot claim points).

The roles the checker needs (:func:`cell_roles`) are also read from the source,
never from the submission's metadata.
"""

from __future__ import annotations

import ast
import copy

__all__ = ["restructure", "cell_roles", "expected_names", "nbgrader_meta"]


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


def restructure(student, source) -> tuple:
    """Return ``(notebook, notes)``: the submission's answers on the source's skeleton.

    Parameters
    ----------
    student, source : nbformat.NotebookNode
        The submitted notebook and the instructor's source notebook.

    Returns
    -------
    notebook : nbformat.NotebookNode
    notes : list of str
        What was restored or is missing, in words for the instructor's summary.
    """
    import nbformat

    src_kinds = {_gid(c): _kind(c) for c in source.cells if _gid(c)}
    plain_source = {(c.get("cell_type"), c.get("source")) for c in source.cells if not _gid(c)}
    order_seen: list[str] = []
    answers: dict[str, object] = {}
    added: dict[str | None, list] = {}
    anchor = None
    restored: list[str] = []
    seen_src: set = set()
    for cell in student.cells:
        gid = _gid(cell)
        kind = src_kinds.get(gid) if gid else None
        if kind is None and not gid and (cell.get("cell_type"), cell.get("source")) in plain_source:
            continue  # an instruction cell of the source, as released: it comes from the source
        if kind is not None and gid not in seen_src:
            seen_src.add(gid)
            if kind in ("test", "locked"):
                order_seen.append(gid)
            if kind == "solution":
                answers[gid] = cell
            elif kind == "test":
                s_cell = next(c for c in source.cells if _gid(c) == gid)
                if (_visible(cell.get("source", "")) != _visible(s_cell.get("source", ""))
                        or cell.get("cell_type") != s_cell.get("cell_type")
                        or _grading_meta(cell) != _grading_meta(s_cell)):
                    restored.append(gid)
            anchor = gid
            continue
        if kind == "test" or (kind is not None and gid in seen_src and kind != "solution"):
            restored.append(gid)  # a duplicate of a test or locked cell: dropped
            continue
        plain = copy.deepcopy(cell)
        if isinstance(plain.get("metadata"), dict):
            plain["metadata"].pop("nbgrader", None)
        added.setdefault(anchor, []).append(plain)

    out = copy.deepcopy(source)
    out.cells = []
    missing_solutions, missing_tests = [], []
    first_solution_done = False
    for cell in source.cells:
        gid, kind = _gid(cell), _kind(cell)
        if kind == "solution" and not first_solution_done:
            out.cells.extend(added.pop(None, []))
            first_solution_done = True
        if kind == "solution":
            mine = answers.get(gid)
            if mine is None:
                missing_solutions.append(gid)
            else:
                new = copy.deepcopy(cell)
                new["source"] = mine.get("source", "")
                new["cell_type"] = mine.get("cell_type", "code")
                if new["cell_type"] != "code":
                    new.pop("outputs", None)
                    new.pop("execution_count", None)
                out.cells.append(new)
        else:
            if kind == "test" and gid not in seen_src:
                missing_tests.append(gid)
            out.cells.append(copy.deepcopy(cell))
        if gid:
            out.cells.extend(added.pop(gid, []))
    for rest in added.values():
        out.cells.extend(rest)
    for i, cell in enumerate(out.cells):
        cell["id"] = f"cell-{i:04d}"
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    out = nbformat.from_dict(out)
    notes = []
    if missing_solutions:
        notes.append(
            f"answer cell(s) {', '.join(missing_solutions)} missing (deleted, or their metadata changed): the "
            "tests that need them score 0; start again from the released notebook to keep them"
        )
    in_source_order = [_gid(c) for c in source.cells if _gid(c) in set(order_seen)]
    moved = [g for g, h in zip(order_seen, in_source_order) if g != h]
    changed = sorted(set(restored) | set(missing_tests) | set(moved))
    if changed:
        notes.append(
            f"test/locked cell(s) {', '.join(changed)} differ from the instructor's version (edited, moved, "
            "deleted, duplicated or retagged in the notebook, or changed in solutions/ since the release): "
            "graded with the instructor's version in its place"
        )
    return out, notes


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
    """Role of each cell of a restructured ``notebook`` for :mod:`autograder.checker`.

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
