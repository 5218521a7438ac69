"""The scheduler's group table (tests/conftest.py::XDIST_GROUPS) matches the modules' xdist_group marks."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import XDIST_GROUPS

TESTS = Path(__file__).resolve().parent


def test_every_marked_module_is_grouped_under_its_mark():
    marked = {}
    for path in sorted(TESTS.glob("test_*.py")):
        found = re.findall(r"^pytestmark\b.*xdist_group\(\"(\w+)\"\)", path.read_text(encoding="utf-8"), re.M)
        if found:
            marked[path.name] = found[0]
    assert marked, "no module carries an xdist_group mark: did the pattern break?"
    assert marked == XDIST_GROUPS, (
        f"tests/conftest.py::XDIST_GROUPS {XDIST_GROUPS} disagrees with the modules' marks {marked}"
    )
