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

import copy

from ..notebook import _gid, _grading_meta, _kind, _visible

__all__ = ["restructure"]


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
