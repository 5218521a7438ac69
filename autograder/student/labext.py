"""A Jupyter server extension for the students' lab (``make lab``): the Assignments tab in course order.

nbgrader's assignment-list server extension sorts the assignments by name, and its
Assignments tab shows them in the order the server sends. ``python -m autograder lab``
enables this extension in the workspace's ``jupyter_server_config.json`` together with
``CourseOrder.assignments`` (:func:`autograder.student.lab.course_order`, ``schedules``
first); it re-sorts what nbgrader's list returns by that order. Nothing else changes:
an assignment the order does not name comes after the named ones, by name.
"""

from __future__ import annotations

__all__ = ["ordered"]


def _jupyter_server_extension_points():
    return [{"module": "autograder.student.labext"}]


def ordered(assignments: list, order: list[str]) -> list:
    """``assignments`` (nbgrader's list entries) sorted by course, then by ``order``, then by name."""
    rank = {name: i for i, name in enumerate(order)}

    def key(entry):
        name = entry.get("assignment_id", "") if isinstance(entry, dict) else ""
        course = entry.get("course_id", "") if isinstance(entry, dict) else ""
        return (course or "", rank.get(name, len(rank)), name)

    return sorted(assignments, key=key)


def _load_jupyter_server_extension(serverapp) -> None:
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList

    section = serverapp.config.get("CourseOrder") or {}
    order = [str(name) for name in section.get("assignments", [])]
    if getattr(AssignmentList.list_assignments, "_course_order", None) is not None:
        AssignmentList.list_assignments._course_order[:] = order
        return
    original = AssignmentList.list_assignments

    def list_assignments(self, course_id=None):
        result = original(self, course_id=course_id)
        if isinstance(result, dict) and result.get("success") and isinstance(result.get("value"), list):
            result["value"] = ordered(result["value"], list_assignments._course_order)
        return result

    list_assignments._course_order = order
    AssignmentList.list_assignments = list_assignments
    serverapp.log.info(f"autograder.student.labext: the Assignments tab lists {len(order)} assignments in course order")
